//go:build !amd64

package cksum

func archImplementations() []implementation { return nil }

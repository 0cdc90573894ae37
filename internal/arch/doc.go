// Package arch holds no code: its test keeps the module's architecture
// honest. It fails when an engine package (mptcp/..., ofo, cksum, cflb)
// reads the clock, starts a goroutine or imports sync, math/rand (v1), net,
// os, syscall or golang.org/x/sys, and when an import runs against the
// layering of docs/architecture.md (leaves → wire → tcp → mptcp → dataplane
// → root API → cmd). Every package must be placed in a layer, so a new
// package makes the test fail until its place is decided.
package arch

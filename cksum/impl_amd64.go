package cksum

import "github.com/klauspost/cpuid/v2"

// simdMin is the length below which the portable loop beats the vector
// setup and the horizontal reduction (measured by BenchmarkSum).
const simdMin = 64

func archImplementations() []implementation {
	var ims []implementation
	if cpuid.CPU.Supports(cpuid.AVX2) {
		ims = append(ims, implementation{"avx2", sumAVX2Go, copySumAVX2Go})
	}
	if cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW) {
		ims = append(ims, implementation{"avx512", sumAVX512Go, copySumAVX512Go})
	}
	return ims
}

// The assembly routines return a value congruent modulo 0xFFFF to the sum
// of the little-endian words they cover (the exact sum of all 32-bit
// halves, since 2^32 ≡ 1 mod 0xFFFF), which is zero only for zero input.

//go:noescape
func sumAVX2(b []byte) uint64 // whole 32-byte blocks only

//go:noescape
func copySumAVX2(dst, src []byte) uint64 // whole 32-byte blocks only

//go:noescape
func sumAVX512(b []byte) uint64 // any length; the tail is a masked load

//go:noescape
func copySumAVX512(dst, src []byte) uint64 // any length; masked tail

func sumAVX2Go(b []byte) uint64 {
	if len(b) < simdMin {
		return sumGeneric(b)
	}
	n := len(b) &^ 31
	return add64(sumAVX2(b[:n]), sumGeneric(b[n:]))
}

func copySumAVX2Go(dst, src []byte) uint64 {
	if len(src) < simdMin {
		return copySumGeneric(dst, src)
	}
	n := len(src) &^ 31
	return add64(copySumAVX2(dst[:n], src[:n]), copySumGeneric(dst[n:], src[n:]))
}

func sumAVX512Go(b []byte) uint64 {
	if len(b) < simdMin {
		return sumGeneric(b)
	}
	return sumAVX512(b)
}

func copySumAVX512Go(dst, src []byte) uint64 {
	if len(src) < simdMin {
		return copySumGeneric(dst, src)
	}
	return copySumAVX512(dst[:len(src)], src)
}

package cksum

import "github.com/klauspost/cpuid/v2"

// simdMin is the length below which the portable loop beats the AVX2
// setup and horizontal reduction; AVX-512 loads short tails with a mask and
// wins at every length (measured with BenchmarkSum). vnniMin is where the
// VNNI loop overtakes the plain AVX-512 one.
const (
	simdMin = 64
	vnniMin = 256
)

// The fast paths below let Sum and CopyAndSum call the assembly directly,
// without the indirect call through the implementation table, when the
// active implementation is the one this CPU is best at.
var (
	directSumVNNI bool // active.sum is sumAVX512VNNIGo
	directCopy512 bool // active.copySum is copySumAVX512Go
)

func archSelected() {
	directSumVNNI = active.name == "avx512vnni"
	directCopy512 = active.name == "avx512" || active.name == "avx512vnni"
}

// archSum is small enough to be inlined into Sum.
func archSum(b []byte) (uint64, bool) {
	if directSumVNNI && len(b) <= vnniChunk {
		if len(b) < vnniMin {
			return sumAVX512(b), true
		}
		return sumAVX512VNNI(b) + vnniBias(len(b)), true
	}
	return 0, false
}

// archCopySum is small enough to be inlined into CopyAndSum; len(dst) == len(src).
func archCopySum(dst, src []byte) (uint64, bool) {
	if directCopy512 && len(src) <= maxChunk {
		return copySumAVX512(dst, src), true
	}
	return 0, false
}

func archImplementations() []implementation {
	var ims []implementation
	if cpuid.CPU.Supports(cpuid.AVX2) {
		ims = append(ims, implementation{"avx2", sumAVX2Go, copySumAVX2Go})
	}
	if cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW) {
		ims = append(ims, implementation{"avx512", sumAVX512Go, copySumAVX512Go})
	}
	if cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512VNNI) {
		// VNNI halves the work of summing, but a copy is bound by its
		// stores, and there the plain AVX-512 loop measured faster.
		ims = append(ims, implementation{"avx512vnni", sumAVX512VNNIGo, copySumAVX512Go})
	}
	return ims
}

// The assembly routines return a value congruent modulo 0xFFFF to the sum
// of the little-endian words they cover (the exact sum of all 32-bit
// halves, since 2^32 ≡ 1 mod 0xFFFF), which is zero only for zero input.

//go:noescape
func sumAVX512VNNI(b []byte) uint64 // at most vnniChunk bytes; see vnniBias

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

func sumAVX512Go(b []byte) uint64 { return sumAVX512(b) }

func copySumAVX512Go(dst, src []byte) uint64 { return copySumAVX512(dst[:len(src)], src) }

// vnniChunk bounds one VNNI call so its signed 32-bit lanes cannot overflow.
const vnniChunk = 1 << 20

// vnniBias restores what the VNNI loop subtracted: 32768 for each of the 32
// words of every 64-byte vector, the zero-filled last one included.
func vnniBias(n int) uint64 { return uint64((n+63)/64) << 20 }

func sumAVX512VNNIGo(b []byte) uint64 {
	if len(b) < vnniMin {
		return sumAVX512(b)
	}
	var s uint64
	for len(b) > vnniChunk {
		s = add64(s, sumAVX512VNNI(b[:vnniChunk])+vnniBias(vnniChunk))
		b = b[vnniChunk:]
	}
	return add64(s, sumAVX512VNNI(b)+vnniBias(len(b)))
}

#include "textflag.h"

// The vector loops split every 64-bit little-endian word w into its 32-bit
// halves and add both halves into 64-bit lanes:
//
//	for each 64-bit word w: acc += w & 0xffffffff; acc += w >> 32
//
// No lane can overflow for inputs up to maxChunk (1 GiB). The lanes are
// summed at the end; the caller folds.

// func sumAVX2(b []byte) uint64
TEXT ·sumAVX2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	MOVQ $0xffffffff, AX
	MOVQ AX, X15
	VPBROADCASTQ X15, Y15
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11

avx2loop128:
	CMPQ CX, $128
	JB   avx2loop32
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VPSRLQ  $32, Y0, Y4
	VPSRLQ  $32, Y1, Y5
	VPSRLQ  $32, Y2, Y6
	VPSRLQ  $32, Y3, Y7
	VPAND   Y15, Y0, Y0
	VPAND   Y15, Y1, Y1
	VPAND   Y15, Y2, Y2
	VPAND   Y15, Y3, Y3
	VPADDQ  Y0, Y8, Y8
	VPADDQ  Y1, Y9, Y9
	VPADDQ  Y2, Y10, Y10
	VPADDQ  Y3, Y11, Y11
	VPADDQ  Y4, Y8, Y8
	VPADDQ  Y5, Y9, Y9
	VPADDQ  Y6, Y10, Y10
	VPADDQ  Y7, Y11, Y11
	ADDQ    $128, SI
	SUBQ    $128, CX
	JMP     avx2loop128

avx2loop32:
	CMPQ CX, $32
	JB   avx2reduce
	VMOVDQU (SI), Y0
	VPSRLQ  $32, Y0, Y4
	VPAND   Y15, Y0, Y0
	VPADDQ  Y0, Y8, Y8
	VPADDQ  Y4, Y9, Y9
	ADDQ    $32, SI
	SUBQ    $32, CX
	JMP     avx2loop32

avx2reduce:
	VPADDQ       Y9, Y8, Y8
	VPADDQ       Y11, Y10, Y10
	VPADDQ       Y10, Y8, Y8
	VEXTRACTI128 $1, Y8, X1
	VPADDQ       X1, X8, X8
	VPEXTRQ      $1, X8, AX
	VMOVQ        X8, DX
	ADDQ         DX, AX
	VZEROUPPER
	MOVQ         AX, ret+24(FP)
	RET

// func copySumAVX2(dst, src []byte) uint64
TEXT ·copySumAVX2(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	MOVQ $0xffffffff, AX
	MOVQ AX, X15
	VPBROADCASTQ X15, Y15
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11

cavx2loop128:
	CMPQ CX, $128
	JB   cavx2loop32
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VMOVDQU Y0, (DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	VPSRLQ  $32, Y0, Y4
	VPSRLQ  $32, Y1, Y5
	VPSRLQ  $32, Y2, Y6
	VPSRLQ  $32, Y3, Y7
	VPAND   Y15, Y0, Y0
	VPAND   Y15, Y1, Y1
	VPAND   Y15, Y2, Y2
	VPAND   Y15, Y3, Y3
	VPADDQ  Y0, Y8, Y8
	VPADDQ  Y1, Y9, Y9
	VPADDQ  Y2, Y10, Y10
	VPADDQ  Y3, Y11, Y11
	VPADDQ  Y4, Y8, Y8
	VPADDQ  Y5, Y9, Y9
	VPADDQ  Y6, Y10, Y10
	VPADDQ  Y7, Y11, Y11
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $128, CX
	JMP     cavx2loop128

cavx2loop32:
	CMPQ CX, $32
	JB   cavx2reduce
	VMOVDQU (SI), Y0
	VMOVDQU Y0, (DI)
	VPSRLQ  $32, Y0, Y4
	VPAND   Y15, Y0, Y0
	VPADDQ  Y0, Y8, Y8
	VPADDQ  Y4, Y9, Y9
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $32, CX
	JMP     cavx2loop32

cavx2reduce:
	VPADDQ       Y9, Y8, Y8
	VPADDQ       Y11, Y10, Y10
	VPADDQ       Y10, Y8, Y8
	VEXTRACTI128 $1, Y8, X1
	VPADDQ       X1, X8, X8
	VPEXTRQ      $1, X8, AX
	VMOVQ        X8, DX
	ADDQ         DX, AX
	VZEROUPPER
	MOVQ         AX, ret+48(FP)
	RET

// func sumAVX512(b []byte) uint64
TEXT ·sumAVX512(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	MOVQ $0xffffffff, AX
	VPBROADCASTQ AX, Z31
	VPXORQ Z8, Z8, Z8
	VPXORQ Z9, Z9, Z9
	VPXORQ Z10, Z10, Z10
	VPXORQ Z11, Z11, Z11

avx512loop256:
	CMPQ CX, $256
	JB   avx512loop64
	VMOVDQU64 (SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VPSRLQ    $32, Z0, Z4
	VPSRLQ    $32, Z1, Z5
	VPSRLQ    $32, Z2, Z6
	VPSRLQ    $32, Z3, Z7
	VPANDQ    Z31, Z0, Z0
	VPANDQ    Z31, Z1, Z1
	VPANDQ    Z31, Z2, Z2
	VPANDQ    Z31, Z3, Z3
	VPADDQ    Z0, Z8, Z8
	VPADDQ    Z1, Z9, Z9
	VPADDQ    Z2, Z10, Z10
	VPADDQ    Z3, Z11, Z11
	VPADDQ    Z4, Z8, Z8
	VPADDQ    Z5, Z9, Z9
	VPADDQ    Z6, Z10, Z10
	VPADDQ    Z7, Z11, Z11
	ADDQ      $256, SI
	SUBQ      $256, CX
	JMP       avx512loop256

avx512loop64:
	CMPQ CX, $64
	JB   avx512tail
	VMOVDQU64 (SI), Z0
	VPSRLQ    $32, Z0, Z4
	VPANDQ    Z31, Z0, Z0
	VPADDQ    Z0, Z8, Z8
	VPADDQ    Z4, Z9, Z9
	ADDQ      $64, SI
	SUBQ      $64, CX
	JMP       avx512loop64

avx512tail:
	// The last 1..63 bytes: a masked load zero-fills the rest, which
	// pads an odd final byte exactly as RFC 1071 requires.
	TESTQ CX, CX
	JZ    avx512reduce
	MOVQ  $-1, AX
	SHLQ  CX, AX
	NOTQ  AX
	KMOVQ AX, K1
	VMOVDQU8.Z (SI), K1, Z0
	VPSRLQ    $32, Z0, Z4
	VPANDQ    Z31, Z0, Z0
	VPADDQ    Z0, Z8, Z8
	VPADDQ    Z4, Z9, Z9

avx512reduce:
	VPADDQ        Z9, Z8, Z8
	VPADDQ        Z11, Z10, Z10
	VPADDQ        Z10, Z8, Z8
	VEXTRACTI64X4 $1, Z8, Y1
	VPADDQ        Y1, Y8, Y8
	VEXTRACTI128  $1, Y8, X1
	VPADDQ        X1, X8, X8
	VPEXTRQ       $1, X8, AX
	VMOVQ         X8, DX
	ADDQ          DX, AX
	VZEROUPPER
	MOVQ          AX, ret+24(FP)
	RET

// func copySumAVX512(dst, src []byte) uint64
// dst is at least as long as src.
TEXT ·copySumAVX512(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	MOVQ $0xffffffff, AX
	VPBROADCASTQ AX, Z31
	VPXORQ Z8, Z8, Z8
	VPXORQ Z9, Z9, Z9
	VPXORQ Z10, Z10, Z10
	VPXORQ Z11, Z11, Z11
	XORQ BX, BX          // offset
	MOVQ CX, DX
	SUBQ $128, DX        // last offset at which 128 bytes remain
	JB   cavx512rest

cavx512loop128:
	// 128 bytes per round measured faster than 256 at packet sizes: the
	// stores bound the loop, and fewer bytes are left for the tail.
	VMOVDQU64 (SI)(BX*1), Z0
	VMOVDQU64 64(SI)(BX*1), Z1
	VMOVDQU64 Z0, (DI)(BX*1)
	VMOVDQU64 Z1, 64(DI)(BX*1)
	VPSRLQ    $32, Z0, Z4
	VPSRLQ    $32, Z1, Z5
	VPANDQ    Z31, Z0, Z0
	VPANDQ    Z31, Z1, Z1
	VPADDQ    Z0, Z8, Z8
	VPADDQ    Z4, Z9, Z9
	VPADDQ    Z1, Z10, Z10
	VPADDQ    Z5, Z11, Z11
	ADDQ      $128, BX
	CMPQ      BX, DX
	JLE       cavx512loop128

cavx512rest:
	SUBQ BX, CX          // 0..127 bytes left
	CMPQ CX, $64
	JB   cavx512tail
	VMOVDQU64 (SI)(BX*1), Z0
	VMOVDQU64 Z0, (DI)(BX*1)
	VPSRLQ    $32, Z0, Z4
	VPANDQ    Z31, Z0, Z0
	VPADDQ    Z0, Z8, Z8
	VPADDQ    Z4, Z9, Z9
	ADDQ      $64, BX
	SUBQ      $64, CX

cavx512tail:
	TESTQ CX, CX
	JZ    cavx512reduce
	MOVQ  $-1, AX
	SHLQ  CX, AX
	NOTQ  AX
	KMOVQ AX, K1
	VMOVDQU8.Z (SI)(BX*1), K1, Z0
	TESTQ      BX, BX
	JNZ        cavx512overlap
	VMOVDQU8   Z0, K1, (DI) // n < 64: the only store is a masked one
	JMP        cavx512tailsum

cavx512overlap:
	// Copy the tail as the last 64 bytes of the buffer, overlapping what
	// was already written: masked stores are slow on some CPUs, masked
	// loads are not.
	ADDQ      CX, BX
	VMOVDQU64 -64(SI)(BX*1), Z1
	VMOVDQU64 Z1, -64(DI)(BX*1)

cavx512tailsum:
	VPSRLQ    $32, Z0, Z4
	VPANDQ    Z31, Z0, Z0
	VPADDQ    Z0, Z8, Z8
	VPADDQ    Z4, Z9, Z9

cavx512reduce:
	VPADDQ        Z9, Z8, Z8
	VPADDQ        Z11, Z10, Z10
	VPADDQ        Z10, Z8, Z8
	VEXTRACTI64X4 $1, Z8, Y1
	VPADDQ        Y1, Y8, Y8
	VEXTRACTI128  $1, Y8, X1
	VPADDQ        X1, X8, X8
	VPEXTRQ       $1, X8, AX
	VMOVQ         X8, DX
	ADDQ          DX, AX
	VZEROUPPER
	MOVQ          AX, ret+48(FP)
	RET

// The VNNI variant treats the input as 16-bit little-endian words w and
// uses one multiply-add per 64 bytes: flipping the top bit makes every word
// the signed value w-32768, and VPDPWSSD adds pairs of them (times 1) into
// 32-bit lanes:
//
//	for each pair (w0, w1): acc32 += (w0-32768) + (w1-32768)
//
// A lane moves by at most 65536 per step; the caller passes at most
// vnniChunk bytes per call (at most 4,100 steps per accumulator), so even
// the sum of the four accumulators stays below 2^31 in magnitude. The caller adds back 32768 per word (2^20 per
// 64-byte vector, the zero-filled tail included), which makes the result
// the exact word sum.

// func sumAVX512VNNI(b []byte) uint64
TEXT ·sumAVX512VNNI(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	MOVL $0x80008000, AX
	VPBROADCASTD AX, Z30
	MOVL $0x00010001, AX
	VPBROADCASTD AX, Z31
	VPXORQ Z8, Z8, Z8
	VPXORQ Z9, Z9, Z9
	VPXORQ Z10, Z10, Z10
	VPXORQ Z11, Z11, Z11

vnniloop256:
	CMPQ CX, $256
	JB   vnniloop64
	VPXORD   (SI), Z30, Z0
	VPXORD   64(SI), Z30, Z1
	VPXORD   128(SI), Z30, Z2
	VPXORD   192(SI), Z30, Z3
	VPDPWSSD Z31, Z0, Z8
	VPDPWSSD Z31, Z1, Z9
	VPDPWSSD Z31, Z2, Z10
	VPDPWSSD Z31, Z3, Z11
	ADDQ     $256, SI
	SUBQ     $256, CX
	JMP      vnniloop256

vnniloop64:
	CMPQ CX, $64
	JB   vnnitail
	VPXORD   (SI), Z30, Z0
	VPDPWSSD Z31, Z0, Z8
	ADDQ     $64, SI
	SUBQ     $64, CX
	JMP      vnniloop64

vnnitail:
	TESTQ CX, CX
	JZ    vnnireduce
	MOVQ  $-1, AX
	SHLQ  CX, AX
	NOTQ  AX
	KMOVQ AX, K1
	VMOVDQU8.Z (SI), K1, Z0
	VPXORD     Z0, Z30, Z0
	VPDPWSSD   Z31, Z0, Z9

vnnireduce:
	// The four accumulators fit one signed 32-bit lane (vnniChunk keeps
	// each below 2^29); widen once, then add up the lanes.
	VPADDD        Z9, Z8, Z8
	VPADDD        Z11, Z10, Z10
	VPADDD        Z10, Z8, Z8
	VEXTRACTI64X4 $1, Z8, Y0
	VPMOVSXDQ     Y8, Z8
	VPMOVSXDQ     Y0, Z0
	VPADDQ        Z0, Z8, Z8
	VEXTRACTI64X4 $1, Z8, Y1
	VPADDQ        Y1, Y8, Y8
	VEXTRACTI128  $1, Y8, X1
	VPADDQ        X1, X8, X8
	VPEXTRQ       $1, X8, AX
	VMOVQ         X8, DX
	ADDQ          DX, AX
	VZEROUPPER
	MOVQ          AX, ret+24(FP)
	RET

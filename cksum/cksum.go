package cksum

import (
	"encoding/binary"
	"math/bits"
)

// Partial is an unfolded one's-complement sum. The zero value is the sum of
// no bytes. Partials add with end-around carry ([Combine], [Partial.Add16]…)
// and fold to the 16-bit Internet checksum with [Partial.Fold].
type Partial uint64

// maxChunk bounds the bytes one SIMD call sums, so that its 64-bit lane
// accumulators (which hold sums of 32-bit halves without end-around carry)
// can never overflow.
const maxChunk = 1 << 30

// add64 is one's-complement addition with end-around carry.
func add64(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	return s + c // cannot carry again: s ≤ 2^64-2 when c == 1
}

// swapLE converts a sum of little-endian words into the equivalent sum of
// big-endian words: rotating a 64-bit one's-complement sum by 8 bits
// multiplies it by 2^8 modulo 2^64-1, and therefore modulo 0xFFFF, which is
// exactly the byte swap of every 16-bit word (RFC 1071 §2(B)).
func swapLE(s uint64) uint64 { return bits.RotateLeft64(s, 8) }

// Sum returns initial plus the sum of b, where b starts at an even offset of
// the checksummed region.
func Sum(b []byte, initial Partial) Partial {
	return Partial(add64(uint64(initial), sumLE(b)))
}

// sumLE sums b as little-endian words with the active implementation and
// returns the big-endian-word equivalent.
func sumLE(b []byte) uint64 {
	if s, ok := archSum(b); ok {
		return swapLE(s)
	}
	var s uint64
	for len(b) > maxChunk {
		s = add64(s, active.sum(b[:maxChunk]))
		b = b[maxChunk:]
	}
	return swapLE(add64(s, active.sum(b)))
}

// CopyAndSum copies min(len(dst), len(src)) bytes from src to dst, as the
// built-in copy does, and returns the sum of the copied bytes, reading each
// byte once. The slices must not overlap.
func CopyAndSum(dst, src []byte) Partial {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	if s, ok := archCopySum(dst, src); ok {
		return Partial(swapLE(s))
	}
	var s uint64
	for len(src) > maxChunk {
		s = add64(s, active.copySum(dst[:maxChunk], src[:maxChunk]))
		dst, src = dst[maxChunk:], src[maxChunk:]
	}
	return Partial(swapLE(add64(s, active.copySum(dst, src))))
}

// Checksum returns the Internet checksum (the complemented fold) of b plus
// initial, ready to be written big-endian into a header.
func Checksum(b []byte, initial Partial) uint16 {
	return ^Sum(b, initial).Fold()
}

// Fold reduces p to the 16-bit one's-complement sum, in host order (write it
// with binary.BigEndian.PutUint16). It is not complemented.
func (p Partial) Fold() uint16 {
	s := uint64(p)
	s = (s >> 32) + (s & 0xffffffff) // ≤ 2^33-2
	s = (s >> 16) + (s & 0xffff)     // ≤ 0x2fffe
	s = (s >> 16) + (s & 0xffff)     // ≤ 0x10001
	s = (s >> 16) + (s & 0xffff)     // ≤ 0xffff
	return uint16(s)
}

// Checksum returns the complemented fold of p: the value a sender writes
// into a checksum field.
func (p Partial) Checksum() uint16 { return ^p.Fold() }

// Add16 adds a 16-bit value (as it appears big-endian on the wire).
func (p Partial) Add16(v uint16) Partial { return Partial(add64(uint64(p), uint64(v))) }

// Add32 adds a 32-bit value (as it appears big-endian on the wire).
func (p Partial) Add32(v uint32) Partial { return Partial(add64(uint64(p), uint64(v))) }

// Add64 adds a 64-bit value (as it appears big-endian on the wire).
func (p Partial) Add64(v uint64) Partial { return Partial(add64(uint64(p), v)) }

// Combine returns the sum of two parts when b starts at an even offset
// relative to the start of a.
func Combine(a, b Partial) Partial { return Partial(add64(uint64(a), uint64(b))) }

// CombineAt returns the sum of a and a part b that starts at byte offset
// off of the checksummed region. A part at an odd offset has its bytes in
// the opposite halves of the 16-bit words, so its sum is byte-swapped first.
func CombineAt(a, b Partial, off int) Partial {
	if off&1 != 0 {
		b = b.Swap()
	}
	return Combine(a, b)
}

// Swap returns the sum of the same bytes shifted by one byte position (the
// 16-bit byte swap, modulo 0xFFFF).
func (p Partial) Swap() Partial { return Partial(bits.RotateLeft64(uint64(p), 8)) }

// IPv4PseudoHeader returns the sum of the IPv4 pseudo-header (RFC 9293
// §3.1): source, destination, zero, protocol and the upper-layer length.
func IPv4PseudoHeader(src, dst [4]byte, proto uint8, length uint16) Partial {
	s := uint64(binary.BigEndian.Uint32(src[:])) + uint64(binary.BigEndian.Uint32(dst[:]))
	s += uint64(proto) + uint64(length)
	return Partial(s) // < 2^35: no carry
}

// IPv6PseudoHeader returns the sum of the IPv6 pseudo-header (RFC 8200
// §8.1): source, destination, 32-bit upper-layer length, next header.
func IPv6PseudoHeader(src, dst [16]byte, proto uint8, length uint32) Partial {
	var s uint64
	for i := 0; i < 16; i += 4 {
		s += uint64(binary.BigEndian.Uint32(src[i:]))
		s += uint64(binary.BigEndian.Uint32(dst[i:]))
	}
	s += uint64(length) + uint64(proto)
	return Partial(s) // < 2^37: no carry
}

// DSSPseudoHeader returns the sum of the MPTCP DSS checksum pseudo-header
// (RFC 8684 §3.3.1): the full 64-bit data sequence number (even when the
// option carried 32 bits), the 32-bit subflow sequence number relative to
// the subflow ISN, the 16-bit data-level length (including the +1 of a
// DATA_FIN) and a zero checksum field.
func DSSPseudoHeader(dsn uint64, ssn uint32, dataLen uint16) Partial {
	s := dsn>>32 + dsn&0xffffffff + uint64(ssn) + uint64(dataLen)
	return Partial(s) // < 2^35: no carry
}

// Update16 returns the checksum of a packet after one 16-bit word at an even
// offset changed from old to new, given its previous checksum (RFC 1624
// eqn. 3: HC' = ~(~HC + ~m + m')).
func Update16(check, old, new uint16) uint16 {
	s := Partial(^check).Add16(^old).Add16(new)
	return ^s.Fold()
}

// Update32 is [Update16] for a 32-bit field at an even offset, such as a
// rewritten sequence number or IPv4 address.
func Update32(check uint16, old, new uint32) uint16 {
	s := Partial(^check).Add32(^old).Add32(new)
	return ^s.Fold()
}

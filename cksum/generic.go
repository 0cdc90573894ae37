package cksum

import (
	"encoding/binary"
	"math/bits"
)

// sumReferenceLE is the plain RFC 1071 §4.1 loop over big-endian 16-bit
// words, kept as the oracle for the differential tests. It returns its
// result in the little-endian convention of the other implementations.
func sumReferenceLE(b []byte) uint64 {
	var s uint64
	for len(b) >= 2 {
		s += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return bits.RotateLeft64(s, -8) // maxChunk keeps s far below 2^64
}

func copySumReference(dst, src []byte) uint64 {
	copy(dst, src)
	return sumReferenceLE(dst)
}

// sumGeneric is the portable implementation: 64-bit little-endian loads
// added with one carry chain (bits.Add64 compiles to ADC/ADCS), 64 bytes per
// iteration.
func sumGeneric(b []byte) uint64 {
	var s, c uint64
	for len(b) >= 64 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[0:8]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:16]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:24]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:32]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[32:40]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[40:48]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[48:56]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[56:64]), c)
		b = b[64:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	s, c = bits.Add64(s, tailLE(b), c)
	return add64(s, c)
}

// tailLE loads up to 7 bytes as a little-endian word padded with zeros.
func tailLE(b []byte) uint64 {
	var w uint64
	if len(b) >= 4 {
		w = uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
		switch len(b) {
		case 3:
			w |= uint64(b[0])<<32 | uint64(b[1])<<40 | uint64(b[2])<<48
		case 2:
			w |= uint64(b[0])<<32 | uint64(b[1])<<40
		case 1:
			w |= uint64(b[0]) << 32
		}
		return w
	}
	switch len(b) {
	case 3:
		w = uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16
	case 2:
		w = uint64(b[0]) | uint64(b[1])<<8
	case 1:
		w = uint64(b[0])
	}
	return w
}

// copySumGeneric copies and sums in one pass over src.
func copySumGeneric(dst, src []byte) uint64 {
	var s, c uint64
	dst = dst[:len(src)]
	for len(src) >= 32 {
		w0 := binary.LittleEndian.Uint64(src[0:8])
		w1 := binary.LittleEndian.Uint64(src[8:16])
		w2 := binary.LittleEndian.Uint64(src[16:24])
		w3 := binary.LittleEndian.Uint64(src[24:32])
		binary.LittleEndian.PutUint64(dst[0:8], w0)
		binary.LittleEndian.PutUint64(dst[8:16], w1)
		binary.LittleEndian.PutUint64(dst[16:24], w2)
		binary.LittleEndian.PutUint64(dst[24:32], w3)
		s, c = bits.Add64(s, w0, c)
		s, c = bits.Add64(s, w1, c)
		s, c = bits.Add64(s, w2, c)
		s, c = bits.Add64(s, w3, c)
		src, dst = src[32:], dst[32:]
	}
	for len(src) >= 8 {
		w := binary.LittleEndian.Uint64(src)
		binary.LittleEndian.PutUint64(dst, w)
		s, c = bits.Add64(s, w, c)
		src, dst = src[8:], dst[8:]
	}
	copy(dst, src)
	s, c = bits.Add64(s, tailLE(src), c)
	return add64(s, c)
}

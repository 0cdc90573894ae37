package wire

import "github.com/mpxdp/mpxdp/cksum"

// TCP header flags (byte 13 of the header; RFC 9293 §3.1, RFC 3168).
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagURG = 0x20
	FlagECE = 0x40
	FlagCWR = 0x80
)

const (
	// TCPHeaderLen is the length of a TCP header without options.
	TCPHeaderLen = 20
	// MaxTCPOptionLen is the option space of a TCP header (data offset 15).
	MaxTCPOptionLen = 40
	// MaxTCPHeaderLen is the longest TCP header.
	MaxTCPHeaderLen = TCPHeaderLen + MaxTCPOptionLen
)

// TCP is a view of a TCP segment: header, options and payload.
type TCP struct{ b []byte }

// ParseTCP checks the data offset of the segment in b. b must be the whole
// upper-layer packet (IPv4.Payload or IPv6.Payload), so that Payload ends
// where the segment ends.
func ParseTCP(b []byte) (TCP, error) {
	if len(b) < TCPHeaderLen {
		return TCP{}, ErrTruncated
	}
	hl := int(b[12]>>4) * 4
	if hl < TCPHeaderLen {
		return TCP{}, ErrHeaderLength
	}
	if hl > len(b) {
		return TCP{}, ErrTruncated
	}
	return TCP{b: b}, nil
}

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return be16(t.b[0:]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return be16(t.b[2:]) }

// Seq returns the sequence number.
func (t TCP) Seq() uint32 { return be32(t.b[4:]) }

// Ack returns the acknowledgment number.
func (t TCP) Ack() uint32 { return be32(t.b[8:]) }

// HeaderLen returns the header length including options (data offset × 4).
func (t TCP) HeaderLen() int { return int(t.b[12]>>4) * 4 }

// Flags returns the eight classic flags (FlagFIN … FlagCWR).
func (t TCP) Flags() uint8 { return t.b[13] }

// Reserved returns the four bits between the data offset and the flags
// (the last one is AccECN's AE, formerly NS).
func (t TCP) Reserved() uint8 { return t.b[12] & 0x0f }

// Window returns the (unscaled) window field.
func (t TCP) Window() uint16 { return be16(t.b[14:]) }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return be16(t.b[16:]) }

// Urgent returns the urgent pointer.
func (t TCP) Urgent() uint16 { return be16(t.b[18:]) }

// Header returns the header including options.
func (t TCP) Header() []byte { return t.b[:t.HeaderLen()] }

// Options returns the option bytes (up to 40).
func (t TCP) Options() []byte { return t.b[TCPHeaderLen:t.HeaderLen()] }

// Payload returns the data after the header.
func (t TCP) Payload() []byte { return t.b[t.HeaderLen():] }

// Len returns the segment length (header and payload): the upper-layer
// length of the pseudo-header.
func (t TCP) Len() int { return len(t.b) }

// ChecksumOK reports whether the segment's checksum verifies, given the
// pseudo-header sum (cksum.IPv4PseudoHeader or IPv6PseudoHeader with
// length Len()) and the sum of the payload, computed by the caller while
// copying it (cksum.CopyAndSum) or with cksum.Sum. The header length is a
// multiple of 4, so the payload starts at an even offset and its partial
// combines without a swap.
func (t TCP) ChecksumOK(pseudo, payload cksum.Partial) bool {
	s := cksum.Sum(t.b[:t.HeaderLen()], pseudo)
	return cksum.Combine(s, payload).Fold() == 0xffff
}

// TCPHeader is what Encode writes: the fixed 20 bytes of a TCP header.
type TCPHeader struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window           uint16
	Urgent           uint16
}

// Encode writes the fixed header into b with a data offset covering
// optLen option bytes, which the caller writes (or has written) at
// b[TCPHeaderLen:] — normally with Plan.Encode. The checksum field is left
// zero for SetTCPChecksum. It returns the header length TCPHeaderLen+optLen.
// optLen must be a multiple of 4 no larger than MaxTCPOptionLen (a
// programming error otherwise: it panics).
func (h *TCPHeader) Encode(b []byte, optLen int) int {
	if optLen < 0 || optLen > MaxTCPOptionLen || optLen%4 != 0 {
		panic("wire: TCP option length not a multiple of 4 in 0..40")
	}
	_ = b[TCPHeaderLen-1]
	hl := TCPHeaderLen + optLen
	put16(b[0:], h.SrcPort)
	put16(b[2:], h.DstPort)
	put32(b[4:], h.Seq)
	put32(b[8:], h.Ack)
	b[12] = uint8(hl/4) << 4
	b[13] = h.Flags
	put16(b[14:], h.Window)
	put32(b[16:], 0) // checksum
	put16(b[18:], h.Urgent)
	return hl
}

// SetTCPChecksum finishes the checksum of an outgoing segment: hdr is the
// TCP header with its options (its checksum field is overwritten), pseudo
// the pseudo-header sum for the whole segment length, and payload the sum
// of the payload that follows the header (from cksum.CopyAndSum).
func SetTCPChecksum(hdr []byte, pseudo, payload cksum.Partial) {
	put16(hdr[16:], 0)
	s := cksum.Combine(cksum.Sum(hdr, pseudo), payload)
	put16(hdr[16:], s.Checksum())
}

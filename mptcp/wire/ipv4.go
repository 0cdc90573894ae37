package wire

import (
	"net/netip"

	"github.com/mpxdp/mpxdp/cksum"
)

// ProtocolTCP is the IP protocol number of TCP (and the IPv6 next header).
const ProtocolTCP = 6

// IPv4HeaderLen is the length of an IPv4 header without options, the only
// kind the encoder writes.
const IPv4HeaderLen = 20

// IPv4 is a view of an IPv4 packet, trimmed to its total length (link-layer
// padding is not part of it). Options are skipped: Payload starts after
// them. A packet parsed from a chain of buffers (ParseSegmentChain) is
// viewed up to the end of its first buffer.
type IPv4 struct{ b []byte }

// ParseIPv4 checks the version, the header length and the total length of
// the IPv4 packet in b. Fragments parse (IsFragment reports them);
// ParseSegment rejects them.
func ParseIPv4(b []byte) (IPv4, error) { return parseIPv4(b, len(b)) }

// parseIPv4 parses the packet whose first avail bytes are available, the
// first len(b) of them in b, which must hold the header.
func parseIPv4(b []byte, avail int) (IPv4, error) {
	if len(b) < IPv4HeaderLen {
		return IPv4{}, ErrTruncated
	}
	if b[0]>>4 != 4 {
		return IPv4{}, ErrVersion
	}
	hl := int(b[0]&0x0f) * 4
	tl := int(be16(b[2:]))
	if hl < IPv4HeaderLen || tl < hl {
		return IPv4{}, ErrHeaderLength
	}
	if tl > avail || hl > len(b) {
		return IPv4{}, ErrTruncated
	}
	return IPv4{b: b[:min(tl, len(b))]}, nil
}

// HeaderLen returns the header length including options.
func (p IPv4) HeaderLen() int { return int(p.b[0]&0x0f) * 4 }

// TOS returns the DSCP and ECN byte.
func (p IPv4) TOS() uint8 { return p.b[1] }

// TotalLen returns the total length field (the view's length unless the
// packet arrived in a chain of buffers).
func (p IPv4) TotalLen() int { return int(be16(p.b[2:])) }

// ID returns the identification field.
func (p IPv4) ID() uint16 { return be16(p.b[4:]) }

// DontFragment reports the DF flag.
func (p IPv4) DontFragment() bool { return p.b[6]&0x40 != 0 }

// MoreFragments reports the MF flag.
func (p IPv4) MoreFragments() bool { return p.b[6]&0x20 != 0 }

// FragmentOffset returns the fragment offset in bytes.
func (p IPv4) FragmentOffset() int { return int(be16(p.b[6:])&0x1fff) * 8 }

// IsFragment reports whether the packet is part of a fragmented datagram
// (MF set or a non-zero offset).
func (p IPv4) IsFragment() bool { return be16(p.b[6:])&0x3fff != 0 }

// TTL returns the time to live.
func (p IPv4) TTL() uint8 { return p.b[8] }

// Protocol returns the payload's protocol number.
func (p IPv4) Protocol() uint8 { return p.b[9] }

// Checksum returns the header checksum field.
func (p IPv4) Checksum() uint16 { return be16(p.b[10:]) }

// Src returns the source address.
func (p IPv4) Src() [4]byte { return [4]byte(p.b[12:16]) }

// Dst returns the destination address.
func (p IPv4) Dst() [4]byte { return [4]byte(p.b[16:20]) }

// SrcAddr returns the source address as a netip.Addr.
func (p IPv4) SrcAddr() netip.Addr { return netip.AddrFrom4(p.Src()) }

// DstAddr returns the destination address as a netip.Addr.
func (p IPv4) DstAddr() netip.Addr { return netip.AddrFrom4(p.Dst()) }

// Options returns the header options (empty for a 20-byte header).
func (p IPv4) Options() []byte { return p.b[IPv4HeaderLen:p.HeaderLen()] }

// Payload returns the bytes after the header, up to the total length or
// the end of the first buffer of a chain.
func (p IPv4) Payload() []byte { return p.b[p.HeaderLen():] }

// HeaderChecksumOK reports whether the header checksum verifies.
func (p IPv4) HeaderChecksumOK() bool {
	return cksum.Sum(p.b[:p.HeaderLen()], 0).Fold() == 0xffff
}

// IPv4Header is what EncodeIPv4 writes: a 20-byte header without options.
type IPv4Header struct {
	TOS          uint8
	ID           uint16
	DontFragment bool
	TTL          uint8
	Protocol     uint8
	Src, Dst     [4]byte
	// PayloadLen is the number of bytes after the header; the total
	// length is IPv4HeaderLen+PayloadLen and must fit in 16 bits.
	PayloadLen int
}

// Encode writes the header with its checksum into b (at least
// IPv4HeaderLen bytes) and returns IPv4HeaderLen. It panics if the total
// length exceeds 65535, a programming error.
func (h *IPv4Header) Encode(b []byte) int {
	_ = b[IPv4HeaderLen-1]
	tl := IPv4HeaderLen + h.PayloadLen
	if h.PayloadLen < 0 || tl > 0xffff {
		panic("wire: IPv4 total length out of range")
	}
	b[0] = 0x45
	b[1] = h.TOS
	put16(b[2:], uint16(tl))
	put16(b[4:], h.ID)
	var frag uint16
	if h.DontFragment {
		frag = 0x4000
	}
	put16(b[6:], frag)
	b[8] = h.TTL
	b[9] = h.Protocol
	put16(b[10:], 0)
	copy(b[12:16], h.Src[:])
	copy(b[16:20], h.Dst[:])
	SetIPv4Checksum(b[:IPv4HeaderLen])
	return IPv4HeaderLen
}

// SetIPv4Checksum computes and writes the checksum of the IPv4 header in
// hdr (the whole header, options included).
func SetIPv4Checksum(hdr []byte) {
	put16(hdr[10:], 0)
	put16(hdr[10:], cksum.Checksum(hdr, 0))
}

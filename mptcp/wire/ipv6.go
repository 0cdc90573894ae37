package wire

import "net/netip"

// IPv6HeaderLen is the length of the fixed IPv6 header.
const IPv6HeaderLen = 40

// MaxIPv6ExtensionHeaders bounds the extension-header chain ParseIPv6
// walks; a longer chain is rejected with ErrExtensionHeader.
const MaxIPv6ExtensionHeaders = 8

// IPv6 next-header values of extension headers (RFC 8200 §4).
const (
	ipv6HopByHop    = 0
	ipv6Routing     = 43
	ipv6Fragment    = 44
	ipv6ESP         = 50
	ipv6AH          = 51
	ipv6DestOptions = 60
	ipv6Mobility    = 135
	ipv6HIP         = 139
	ipv6Shim6       = 140
	ipv6Exp1        = 253
	ipv6Exp2        = 254
)

// IPv6 is a view of an IPv6 packet, trimmed to its payload length. The
// hop-by-hop, routing and destination-options extension headers are
// skipped (RFC 8200 §4: a node that is not the final destination of a
// routing header would forward; the stack is always the destination);
// a fragment header is rejected with ErrFragment and the others
// (AH, ESP, Mobility, HIP, Shim6, experimental) with ErrExtensionHeader.
type IPv6 struct {
	b     []byte
	upper uint16 // offset of the upper-layer header
	proto uint8  // upper-layer protocol
}

// ParseIPv6 checks the IPv6 packet in b and walks its extension headers.
func ParseIPv6(b []byte) (IPv6, error) { return parseIPv6(b, len(b)) }

// parseIPv6 parses the packet whose first avail bytes are available, the
// first len(b) of them in b, which must hold the extension headers.
func parseIPv6(b []byte, avail int) (IPv6, error) {
	if len(b) < IPv6HeaderLen {
		return IPv6{}, ErrTruncated
	}
	if b[0]>>4 != 6 {
		return IPv6{}, ErrVersion
	}
	end := IPv6HeaderLen + int(be16(b[4:]))
	if end > avail {
		return IPv6{}, ErrTruncated
	}
	b = b[:min(end, len(b))]
	nh, off := b[6], IPv6HeaderLen
	for i := 0; ; i++ {
		switch nh {
		case ipv6HopByHop, ipv6Routing, ipv6DestOptions:
			if i == MaxIPv6ExtensionHeaders {
				return IPv6{}, ErrExtensionHeader
			}
			if off+8 > len(b) {
				return IPv6{}, ErrTruncated
			}
			nh, off = b[off], off+(int(b[off+1])+1)*8
			if off > len(b) {
				return IPv6{}, ErrTruncated
			}
			continue
		case ipv6Fragment:
			return IPv6{}, ErrFragment
		case ipv6ESP, ipv6AH, ipv6Mobility, ipv6HIP, ipv6Shim6, ipv6Exp1, ipv6Exp2:
			return IPv6{}, ErrExtensionHeader
		}
		return IPv6{b: b, upper: uint16(off), proto: nh}, nil
	}
}

// TrafficClass returns the traffic class (DSCP and ECN).
func (p IPv6) TrafficClass() uint8 { return uint8(be16(p.b[0:]) >> 4) }

// FlowLabel returns the 20-bit flow label.
func (p IPv6) FlowLabel() uint32 { return be32(p.b[0:]) & 0xfffff }

// PayloadLen returns the payload length field (extension headers
// included).
func (p IPv6) PayloadLen() int { return int(be16(p.b[4:])) }

// NextHeader returns the next-header field of the fixed header.
func (p IPv6) NextHeader() uint8 { return p.b[6] }

// Protocol returns the upper-layer protocol after the skipped extension
// headers (59, "no next header", when there is none).
func (p IPv6) Protocol() uint8 { return p.proto }

// HopLimit returns the hop limit.
func (p IPv6) HopLimit() uint8 { return p.b[7] }

// Src returns the source address.
func (p IPv6) Src() [16]byte { return [16]byte(p.b[8:24]) }

// Dst returns the destination address.
func (p IPv6) Dst() [16]byte { return [16]byte(p.b[24:40]) }

// SrcAddr returns the source address as a netip.Addr.
func (p IPv6) SrcAddr() netip.Addr { return netip.AddrFrom16(p.Src()) }

// DstAddr returns the destination address as a netip.Addr.
func (p IPv6) DstAddr() netip.Addr { return netip.AddrFrom16(p.Dst()) }

// HeaderLen returns the length of the fixed header plus the skipped
// extension headers.
func (p IPv6) HeaderLen() int { return int(p.upper) }

// Payload returns the upper-layer packet (after the extension headers).
// Its length is the upper-layer length of the pseudo-header (RFC 8200
// §8.1), unless the packet arrived in a chain of buffers: then it ends
// with the first buffer.
func (p IPv6) Payload() []byte { return p.b[p.upper:] }

// IPv6Header is what Encode writes: a fixed header without extension
// headers.
type IPv6Header struct {
	TrafficClass uint8
	FlowLabel    uint32 // 20 bits
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     [16]byte
	// PayloadLen is the number of bytes after the header; it must fit in
	// 16 bits (no jumbograms).
	PayloadLen int
}

// Encode writes the header into b (at least IPv6HeaderLen bytes) and
// returns IPv6HeaderLen. It panics if PayloadLen exceeds 65535, a
// programming error.
func (h *IPv6Header) Encode(b []byte) int {
	_ = b[IPv6HeaderLen-1]
	if h.PayloadLen < 0 || h.PayloadLen > 0xffff {
		panic("wire: IPv6 payload length out of range")
	}
	put32(b[0:], 6<<28|uint32(h.TrafficClass)<<20|h.FlowLabel&0xfffff)
	put16(b[4:], uint16(h.PayloadLen))
	b[6] = h.NextHeader
	b[7] = h.HopLimit
	copy(b[8:24], h.Src[:])
	copy(b[24:40], h.Dst[:])
	return IPv6HeaderLen
}

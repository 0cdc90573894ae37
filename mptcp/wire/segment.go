package wire

import (
	"net/netip"

	"github.com/mpxdp/mpxdp/cksum"
)

// Segment is one received TCP segment parsed once: the IP view (IPv4 or
// IPv6, as Version says), the TCP view and the flat options. It aliases
// the packet buffer and must not outlive it.
type Segment struct {
	Version uint8 // 4 or 6
	IPv4    IPv4  // valid when Version == 4
	IPv6    IPv6  // valid when Version == 6
	TCP     TCP
	Options Options
}

// ParseSegment parses the IP packet b (starting at the IP header) into s:
// IPv4 or IPv6 (extension headers skipped as ParseIPv6 does), TCP, and the
// TCP and MPTCP options, whose damage is counted in c (which may be nil)
// rather than reported. It returns a sentinel error (no allocation) when
// the packet cannot be a usable TCP segment: truncated, a fragment, not
// TCP, or a bad header length. It never panics.
func ParseSegment(b []byte, s *Segment, c *Counters) error {
	if len(b) == 0 {
		return ErrTruncated
	}
	var upper []byte
	switch b[0] >> 4 {
	case 4:
		p, err := ParseIPv4(b)
		if err != nil {
			return err
		}
		if p.IsFragment() {
			return ErrFragment
		}
		if p.Protocol() != ProtocolTCP {
			return ErrNotTCP
		}
		s.Version, s.IPv4, s.IPv6 = 4, p, IPv6{}
		upper = p.Payload()
	case 6:
		p, err := ParseIPv6(b)
		if err != nil {
			return err
		}
		if p.Protocol() != ProtocolTCP {
			return ErrNotTCP
		}
		s.Version, s.IPv4, s.IPv6 = 6, IPv4{}, p
		upper = p.Payload()
	default:
		return ErrVersion
	}
	t, err := ParseTCP(upper)
	if err != nil {
		return err
	}
	s.TCP = t
	ParseOptions(t.Options(), t.Flags(), len(t.Payload()) > 0, &s.Options, c)
	return nil
}

// Payload returns the TCP payload.
func (s *Segment) Payload() []byte { return s.TCP.Payload() }

// SrcAddr returns the source IP address.
func (s *Segment) SrcAddr() netip.Addr {
	if s.Version == 6 {
		return s.IPv6.SrcAddr()
	}
	return s.IPv4.SrcAddr()
}

// DstAddr returns the destination IP address.
func (s *Segment) DstAddr() netip.Addr {
	if s.Version == 6 {
		return s.IPv6.DstAddr()
	}
	return s.IPv4.DstAddr()
}

// PseudoHeader returns the sum of the segment's pseudo-header (RFC 9293
// §3.1, RFC 8200 §8.1).
func (s *Segment) PseudoHeader() cksum.Partial {
	if s.Version == 6 {
		return cksum.IPv6PseudoHeader(s.IPv6.Src(), s.IPv6.Dst(), ProtocolTCP, uint32(s.TCP.Len()))
	}
	return cksum.IPv4PseudoHeader(s.IPv4.Src(), s.IPv4.Dst(), ProtocolTCP, uint16(s.TCP.Len()))
}

// ChecksumOK reports whether the TCP checksum verifies, given the sum of
// the payload the caller computed while copying it (cksum.CopyAndSum), or
// cksum.Sum(s.Payload(), 0).
func (s *Segment) ChecksumOK(payload cksum.Partial) bool {
	return s.TCP.ChecksumOK(s.PseudoHeader(), payload)
}

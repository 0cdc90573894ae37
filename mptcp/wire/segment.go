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

	// A segment received in a chain of buffers (ParseSegmentChain): the
	// payload continues after the first buffer in rest, of which the
	// first restLen bytes (in nrest buffers) belong to the segment.
	rest    [][]byte
	restLen int
	nrest   int
}

// ParseSegment parses the IP packet b (starting at the IP header) into s:
// IPv4 or IPv6 (extension headers skipped as ParseIPv6 does), TCP, and the
// TCP and MPTCP options, whose damage is counted in c (which may be nil)
// rather than reported. It returns a sentinel error (no allocation) when
// the packet cannot be a usable TCP segment: truncated, a fragment, not
// TCP, or a bad header length. It never panics.
func ParseSegment(b []byte, s *Segment, c *Counters) error {
	return parseSegment(b, nil, len(b), s, c)
}

// ParseSegmentChain is ParseSegment for a packet that arrived in a chain of
// buffers (AF_XDP multi-buffer): head, whose bytes must hold the IP and TCP
// headers with their options, followed by rest. Nothing is copied: the
// payload is viewed in place as pieces (NumPieces, Piece). Bytes after the
// IP length (link-layer padding) are not part of the segment.
func ParseSegmentChain(head []byte, rest [][]byte, s *Segment, c *Counters) error {
	avail := len(head)
	for _, r := range rest {
		avail += len(r)
	}
	return parseSegment(head, rest, avail, s, c)
}

func parseSegment(b []byte, rest [][]byte, avail int, s *Segment, c *Counters) error {
	s.rest, s.restLen, s.nrest = nil, 0, 0
	if len(b) == 0 {
		return ErrTruncated
	}
	var upper []byte
	var upperLen int // declared by the IP header
	switch b[0] >> 4 {
	case 4:
		p, err := parseIPv4(b, avail)
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
		upper, upperLen = p.Payload(), p.TotalLen()-p.HeaderLen()
	case 6:
		p, err := parseIPv6(b, avail)
		if err != nil {
			return err
		}
		if p.Protocol() != ProtocolTCP {
			return ErrNotTCP
		}
		s.Version, s.IPv4, s.IPv6 = 6, IPv4{}, p
		upper, upperLen = p.Payload(), IPv6HeaderLen+p.PayloadLen()-p.HeaderLen()
	default:
		return ErrVersion
	}
	t, err := ParseTCP(upper)
	if err != nil {
		return err
	}
	s.TCP = t
	if more := upperLen - len(upper); more > 0 {
		s.rest, s.restLen = rest, more
		for left := more; left > 0; s.nrest++ {
			left -= len(rest[s.nrest])
		}
	}
	ParseOptions(t.Options(), t.Flags(), s.PayloadLen() > 0, &s.Options, c)
	return nil
}

// Payload returns the TCP payload of a segment in one buffer, or its first
// piece if it arrived in a chain (Chained); PayloadLen, PayloadSum and
// Piece cover both.
func (s *Segment) Payload() []byte { return s.TCP.Payload() }

// Chained reports whether the payload continues beyond the first buffer.
func (s *Segment) Chained() bool { return s.restLen > 0 }

// PayloadLen returns the length of the TCP payload.
func (s *Segment) PayloadLen() int { return len(s.TCP.Payload()) + s.restLen }

// NumPieces returns how many buffers the payload spans (1 unless Chained).
func (s *Segment) NumPieces() int { return 1 + s.nrest }

// Piece returns the payload's bytes in buffer i (0 ≤ i < NumPieces).
func (s *Segment) Piece(i int) []byte {
	if i == 0 {
		return s.TCP.Payload()
	}
	p := s.rest[i-1]
	if i == s.nrest {
		left := s.restLen
		for _, r := range s.rest[:i-1] {
			left -= len(r)
		}
		p = p[:left]
	}
	return p
}

// PayloadSum returns the one's-complement sum of the whole payload.
func (s *Segment) PayloadSum() cksum.Partial {
	sum := cksum.Sum(s.TCP.Payload(), 0)
	pos := len(s.TCP.Payload())
	for i := 1; i <= s.nrest; i++ {
		p := s.Piece(i)
		sum = cksum.CombineAt(sum, cksum.Sum(p, 0), pos)
		pos += len(p)
	}
	return sum
}

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
		return cksum.IPv6PseudoHeader(s.IPv6.Src(), s.IPv6.Dst(), ProtocolTCP, uint32(s.TCP.Len()+s.restLen))
	}
	return cksum.IPv4PseudoHeader(s.IPv4.Src(), s.IPv4.Dst(), ProtocolTCP, uint16(s.TCP.Len()+s.restLen))
}

// ChecksumOK reports whether the TCP checksum verifies, given the sum of
// the payload the caller computed while copying it (cksum.CopyAndSum), or
// PayloadSum.
func (s *Segment) ChecksumOK(payload cksum.Partial) bool {
	return s.TCP.ChecksumOK(s.PseudoHeader(), payload)
}

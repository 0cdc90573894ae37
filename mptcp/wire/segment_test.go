package wire

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/mpxdp/mpxdp/cksum"
)

var (
	testSrc4 = [4]byte{10, 0, 1, 2}
	testDst4 = [4]byte{10, 0, 1, 1}
	testSrc6 = netip.MustParseAddr("fd00:1::2").As16()
	testDst6 = netip.MustParseAddr("fd00:1::1").As16()
)

// buildSegment writes an IPv4 or IPv6 packet carrying a TCP segment with
// the planned options of o and payload into b, the way the engine will
// (encoders into the caller's buffer, payload copied with CopyAndSum, the
// checksum finished from the partials), and returns the packet length and
// the plan.
func buildSegment(b []byte, v6 bool, h TCPHeader, o *Options, payload []byte) (int, Plan) {
	ipLen := IPv4HeaderLen
	if v6 {
		ipLen = IPv6HeaderLen
	}
	tcp := b[ipLen:]
	plan := PlanOptions(o, h.Flags, len(payload) > 0)
	plan.Encode(tcp[TCPHeaderLen:], o)
	hl := h.Encode(tcp, plan.Len)
	sum := cksum.CopyAndSum(tcp[hl:], payload)
	segLen := hl + len(payload)
	var pseudo cksum.Partial
	if v6 {
		ih := IPv6Header{NextHeader: ProtocolTCP, HopLimit: 64, Src: testSrc6, Dst: testDst6, PayloadLen: segLen}
		ih.Encode(b)
		pseudo = cksum.IPv6PseudoHeader(testSrc6, testDst6, ProtocolTCP, uint32(segLen))
	} else {
		ih := IPv4Header{ID: 1, DontFragment: true, TTL: 64, Protocol: ProtocolTCP, Src: testSrc4, Dst: testDst4, PayloadLen: segLen}
		ih.Encode(b)
		pseudo = cksum.IPv4PseudoHeader(testSrc4, testDst4, ProtocolTCP, uint16(segLen))
	}
	SetTCPChecksum(tcp[:hl], pseudo, sum)
	return ipLen + segLen, plan
}

func TestSegmentBuildAndParse(t *testing.T) {
	payload := make([]byte, 1001) // odd length
	for i := range payload {
		payload[i] = byte(i*7 + 3)
	}
	for _, v6 := range []bool{false, true} {
		for _, sv := range segmentVariants() {
			var data []byte
			if sv.data {
				data = payload
			}
			var buf [2048]byte
			h := TCPHeader{SrcPort: 40000, DstPort: 7000, Seq: 1000, Ack: 2000, Flags: sv.flags, Window: 512}
			n, plan := buildSegment(buf[:], v6, h, &sv.o, data)
			if plan.Dropped != 0 {
				t.Errorf("%s: dropped %v", sv.name, plan.Dropped)
			}
			var s Segment
			var c Counters
			if err := ParseSegment(buf[:n], &s, &c); err != nil {
				t.Fatalf("%s v6=%v: %v", sv.name, v6, err)
			}
			if c != (Counters{}) {
				t.Errorf("%s: counters %+v", sv.name, c)
			}
			if s.TCP.SrcPort() != 40000 || s.TCP.DstPort() != 7000 || s.TCP.Seq() != 1000 || s.TCP.Ack() != 2000 ||
				s.TCP.Flags() != sv.flags || s.TCP.Window() != 512 || len(s.Payload()) != len(data) {
				t.Errorf("%s: header fields do not round-trip", sv.name)
			}
			if !s.ChecksumOK(cksum.Sum(s.Payload(), 0)) {
				t.Errorf("%s v6=%v: TCP checksum does not verify", sv.name, v6)
			}
			if v6 != (s.Version == 6) || (!v6 && !s.IPv4.HeaderChecksumOK()) {
				t.Errorf("%s: IP version or header checksum", sv.name)
			}
			if !equalPlaced(&s.Options, &sv.o, plan) {
				t.Errorf("%s v6=%v: parsed %+v\nwant %+v", sv.name, v6, s.Options, sv.o)
			}
			// A flipped payload bit must fail the checksum.
			if len(data) > 0 {
				s.Payload()[10] ^= 0x40
				if s.ChecksumOK(cksum.Sum(s.Payload(), 0)) {
					t.Errorf("%s: corrupted payload verifies", sv.name)
				}
			}
		}
	}
}

func TestParseSegmentErrors(t *testing.T) {
	var good [128]byte
	h := TCPHeader{SrcPort: 1, DstPort: 2, Flags: FlagACK}
	var o Options
	n4, _ := buildSegment(good[:], false, h, &o, []byte("x"))
	var good6 [128]byte
	n6, _ := buildSegment(good6[:], true, h, &o, nil)

	mut := func(b []byte, n int, f func(p []byte)) []byte {
		p := append([]byte(nil), b[:n]...)
		f(p)
		return p
	}
	tests := []struct {
		name string
		pkt  []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"version 5", mut(good[:], n4, func(p []byte) { p[0] = 0x55 }), ErrVersion},
		{"ipv4 short", good[:19], ErrTruncated},
		{"ipv4 ihl 4", mut(good[:], n4, func(p []byte) { p[0] = 0x44 }), ErrHeaderLength},
		{"ipv4 total beyond buffer", mut(good[:], n4, func(p []byte) { put16(p[2:], uint16(n4+1)) }), ErrTruncated},
		{"ipv4 total below header", mut(good[:], n4, func(p []byte) { put16(p[2:], 19) }), ErrHeaderLength},
		{"ipv4 MF", mut(good[:], n4, func(p []byte) { p[6] |= 0x20 }), ErrFragment},
		{"ipv4 offset", mut(good[:], n4, func(p []byte) { p[7] = 1 }), ErrFragment},
		{"ipv4 udp", mut(good[:], n4, func(p []byte) { p[9] = 17 }), ErrNotTCP},
		{"tcp short", mut(good[:], n4, func(p []byte) { put16(p[2:], 20+19) }), ErrTruncated},
		{"tcp doff 4", mut(good[:], n4, func(p []byte) { p[20+12] = 0x40 }), ErrHeaderLength},
		{"tcp doff beyond", mut(good[:], n4, func(p []byte) { p[20+12] = 0xf0 }), ErrTruncated},
		{"ipv6 short", good6[:39], ErrTruncated},
		{"ipv6 payload beyond", mut(good6[:], n6, func(p []byte) { put16(p[4:], uint16(n6)) }), ErrTruncated},
		{"ipv6 fragment", mut(good6[:], n6, func(p []byte) { p[6] = 44 }), ErrFragment},
		{"ipv6 esp", mut(good6[:], n6, func(p []byte) { p[6] = 50 }), ErrExtensionHeader},
		{"ipv6 ah", mut(good6[:], n6, func(p []byte) { p[6] = 51 }), ErrExtensionHeader},
		{"ipv6 icmp", mut(good6[:], n6, func(p []byte) { p[6] = 58 }), ErrNotTCP},
	}
	for _, tt := range tests {
		var s Segment
		if err := ParseSegment(tt.pkt, &s, nil); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestIPv6ExtensionHeaders checks that hop-by-hop, routing and destination
// options headers are skipped, with the upper-layer length used in the
// pseudo-header.
func TestIPv6ExtensionHeaders(t *testing.T) {
	var seg [128]byte
	h := TCPHeader{SrcPort: 5, DstPort: 6, Flags: FlagACK}
	o := Options{Has: OptTimestamps, TSVal: 1, TSEcr: 2}
	n, _ := buildSegment(seg[:], true, h, &o, []byte("hello"))
	tcp := seg[IPv6HeaderLen:n]
	// Insert HBH (8 bytes), routing (16 bytes) and destination options (8
	// bytes) between the fixed header and TCP.
	ext := []byte{
		43, 0, 1, 4, 0, 0, 0, 0, // hop-by-hop: next routing, PadN
		60, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // routing, segments left 0
		ProtocolTCP, 0, 1, 4, 0, 0, 0, 0, // destination options
	}
	pkt := append(append(append([]byte(nil), seg[:IPv6HeaderLen]...), ext...), tcp...)
	pkt[6] = 0 // next header: hop-by-hop
	put16(pkt[4:], uint16(len(ext)+len(tcp)))
	var s Segment
	if err := ParseSegment(pkt, &s, nil); err != nil {
		t.Fatal(err)
	}
	if s.IPv6.HeaderLen() != IPv6HeaderLen+len(ext) || s.IPv6.Protocol() != ProtocolTCP || s.IPv6.NextHeader() != 0 {
		t.Errorf("header len %d protocol %d", s.IPv6.HeaderLen(), s.IPv6.Protocol())
	}
	if string(s.Payload()) != "hello" || !s.Options.Has.Has(OptTimestamps) {
		t.Errorf("payload %q options %v", s.Payload(), s.Options.Has)
	}
	if !s.ChecksumOK(cksum.Sum(s.Payload(), 0)) {
		t.Error("checksum with extension headers does not verify")
	}
	if s.SrcAddr() != netip.AddrFrom16(testSrc6) || s.DstAddr() != netip.AddrFrom16(testDst6) {
		t.Error("addresses")
	}
	// A truncated extension header and a chain that is too long.
	if _, err := ParseIPv6(pkt[:IPv6HeaderLen+4]); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated extension: %v", err)
	}
	long := append([]byte(nil), pkt[:IPv6HeaderLen]...)
	for range MaxIPv6ExtensionHeaders + 1 {
		long = append(long, 60, 0, 1, 4, 0, 0, 0, 0)
	}
	long[6] = 60
	put16(long[4:], uint16(len(long)-IPv6HeaderLen))
	if _, err := ParseIPv6(long); !errors.Is(err, ErrExtensionHeader) {
		t.Errorf("long chain: %v", err)
	}
}

// BenchmarkParseDataSegment parses a data segment with timestamps and a
// DSS (64-bit DATA_ACK, 64-bit mapping, checksum): the receive hot path.
func BenchmarkParseDataSegment(b *testing.B) {
	o := Options{Has: OptTimestamps | OptDSS, TSVal: 1, TSEcr: 2,
		DSS: DSS{Flags: DSSDataAck | DSSAck64 | DSSMap | DSSDSN64, DataAck: 1 << 40, DSN: 1 << 41, SubflowSeq: 1, DataLen: 1400, Checksum: 0xbeef, HasChecksum: true}}
	var buf [2048]byte
	n, _ := buildSegment(buf[:], false, TCPHeader{SrcPort: 1, DstPort: 2, Flags: FlagACK}, &o, make([]byte, 1400))
	pkt := buf[:n]
	var s Segment
	var c Counters
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseSegment(pkt, &s, &c); err != nil {
			b.Fatal(err)
		}
	}
}

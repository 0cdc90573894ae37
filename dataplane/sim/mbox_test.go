package sim

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/dataplane/mbox"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// encodeTCP writes an IPv4 or IPv6 TCP segment without options into buf
// with the wire encoders and returns its length. It does not allocate.
func encodeTCP(buf []byte, src, dst netip.AddrPort, flags uint8, seq, ack uint32, payload []byte) int {
	l4 := wire.IPv4HeaderLen
	if src.Addr().Is6() {
		l4 = wire.IPv6HeaderLen
	}
	h := wire.TCPHeader{SrcPort: src.Port(), DstPort: dst.Port(), Seq: seq, Ack: ack, Flags: flags, Window: 1000}
	hl := h.Encode(buf[l4:], 0)
	sum := cksum.CopyAndSum(buf[l4+hl:], payload)
	n := hl + len(payload)
	var pseudo cksum.Partial
	if src.Addr().Is6() {
		ih := wire.IPv6Header{NextHeader: wire.ProtocolTCP, HopLimit: 64, Src: src.Addr().As16(), Dst: dst.Addr().As16(), PayloadLen: n}
		ih.Encode(buf)
		pseudo = cksum.IPv6PseudoHeader(ih.Src, ih.Dst, wire.ProtocolTCP, uint32(n))
	} else {
		ih := wire.IPv4Header{TTL: 64, Protocol: wire.ProtocolTCP, Src: src.Addr().As4(), Dst: dst.Addr().As4(), PayloadLen: n}
		ih.Encode(buf)
		pseudo = cksum.IPv4PseudoHeader(ih.Src, ih.Dst, wire.ProtocolTCP, uint16(n))
	}
	wire.SetTCPChecksum(buf[l4:l4+hl], pseudo, sum)
	return l4 + n
}

func tcpPacket(src, dst netip.AddrPort, flags uint8, seq, ack uint32, payload []byte) []byte {
	b := make([]byte, 100+len(payload))
	return b[:encodeTCP(b, src, dst, flags, seq, ack, payload)]
}

// tcpHost sends queued packets and records what it receives (checked and
// copied when keep is set); with echo it answers every segment that
// carries a SYN or data with an ACK from the address and port it was sent
// to, as a TCP receiver would.
type tcpHost struct {
	out   [][]byte
	got   [][]byte
	gotAt []time.Duration
	keep  bool
	echo  bool
	n     int
	seg   wire.Segment
	reply []byte
	pend  int // replies owed
	bad   int // received packets that do not parse or verify
}

func (h *tcpHost) HandlePacket(now time.Duration, pkt []byte) {
	h.n++
	if wire.ParseSegment(pkt, &h.seg, nil) != nil || !h.seg.ChecksumOK(cksum.Sum(h.seg.Payload(), 0)) ||
		(h.seg.Version == 4 && !h.seg.IPv4.HeaderChecksumOK()) {
		h.bad++
		return
	}
	if h.keep {
		h.got = append(h.got, bytes.Clone(pkt))
		h.gotAt = append(h.gotAt, now)
	}
	t := h.seg.TCP
	end := t.Seq() + uint32(len(t.Payload()))
	if t.Flags()&wire.FlagSYN != 0 {
		end++
	}
	if h.echo && end != t.Seq() {
		if h.reply == nil {
			h.reply = make([]byte, 128)
		}
		src := netip.AddrPortFrom(h.seg.DstAddr(), t.DstPort())
		dst := netip.AddrPortFrom(h.seg.SrcAddr(), t.SrcPort())
		flags := uint8(wire.FlagACK)
		if t.Flags()&wire.FlagSYN != 0 {
			flags |= wire.FlagSYN
		}
		h.reply = h.reply[:encodeTCP(h.reply[:cap(h.reply)], src, dst, flags, 9000, end, nil)]
		h.pend++
	}
}

func (h *tcpHost) PollTransmit(_ time.Duration, buf []byte) int {
	if h.pend > 0 {
		h.pend--
		return copy(buf, h.reply)
	}
	if len(h.out) == 0 {
		return 0
	}
	n := copy(buf, h.out[0])
	h.out = h.out[1:]
	return n
}

func (*tcpHost) NextTimeout() (time.Duration, bool) { return 0, false }
func (*tcpHost) HandleTimeout(time.Duration)        {}

func (h *tcpHost) segment(t *testing.T, i int) *wire.Segment {
	t.Helper()
	var s wire.Segment
	if err := wire.ParseSegment(h.got[i], &s, nil); err != nil {
		t.Fatal(err)
	}
	return &s
}

// TestNATOnPath: a NAT on a path maps the client's packets to the outside
// address and the server's replies back, as one state for both links.
func TestNATOnPath(t *testing.T) {
	s := New(1)
	nat := &mbox.NAT{Outside: netip.MustParseAddr("192.0.2.1"), FirstPort: 30000}
	topo := s.ParallelPaths(Path{Forward: LinkConfig{Delay: time.Millisecond}, Middlebox: nat})
	a, b := &tcpHost{keep: true}, &tcpHost{keep: true, echo: true}
	topo.A.SetEndpoint(a)
	topo.B.SetEndpoint(b)
	c, srv := netip.AddrPortFrom(topo.AddrsA[0], 1234), netip.AddrPortFrom(topo.AddrsB[0], 80)
	a.out = append(a.out, tcpPacket(c, srv, wire.FlagSYN, 1, 0, nil), tcpPacket(c, srv, wire.FlagACK, 2, 9001, []byte("hello")))
	topo.A.Wake()
	s.Run(time.Second)
	if len(b.got) != 2 || len(a.got) != 2 || a.bad+b.bad != 0 {
		t.Fatalf("server got %d, client %d, bad %d", len(b.got), len(a.got), a.bad+b.bad)
	}
	if f := mbox.FlowOf(b.segment(t, 0)); f.Src != netip.MustParseAddrPort("192.0.2.1:30000") || f.Dst != srv {
		t.Errorf("the server saw %v", f)
	}
	if f := mbox.FlowOf(a.segment(t, 1)); f.Src != srv || f.Dst != c || a.segment(t, 1).TCP.Ack() != 7 {
		t.Errorf("the client got %v", f)
	}
	if topo.Forward[0].Stats.Middlebox != 2 || topo.Reverse[0].Stats.Middlebox != 2 || nat.Translated != 4 {
		t.Errorf("middlebox counts %d %d, translated %d", topo.Forward[0].Stats.Middlebox, topo.Reverse[0].Stats.Middlebox, nat.Translated)
	}
	if m, dir := topo.Reverse[0].Middlebox(); m != nat || dir != mbox.Reverse {
		t.Error("the reverse link does not report the NAT")
	}
}

// TestMiddleboxTimer: a coalescer on a path merges back-to-back segments
// at once and releases a lone one when its hold time expires, through a
// simulator timer event.
func TestMiddleboxTimer(t *testing.T) {
	s := New(1)
	co := &mbox.Coalesce{Hold: 2 * time.Millisecond}
	topo := s.ParallelPaths(Path{Forward: LinkConfig{Delay: 5 * time.Millisecond}, Middlebox: co})
	a, b := &tcpHost{}, &tcpHost{keep: true}
	topo.A.SetEndpoint(a)
	topo.B.SetEndpoint(b)
	c, srv := netip.AddrPortFrom(topo.AddrsA[0], 1234), netip.AddrPortFrom(topo.AddrsB[0], 80)
	a.out = append(a.out, tcpPacket(c, srv, wire.FlagACK, 1, 1, []byte("abc")), tcpPacket(c, srv, wire.FlagACK, 4, 1, []byte("def")))
	topo.A.Wake()
	s.At(10*time.Millisecond, func() {
		a.out = append(a.out, tcpPacket(c, srv, wire.FlagACK, 7, 1, []byte("ghi")))
		topo.A.Wake()
	})
	s.Run(time.Second)
	if len(b.got) != 2 || b.bad != 0 {
		t.Fatalf("%d packets arrived (%d bad)", len(b.got), b.bad)
	}
	if p := b.segment(t, 0).Payload(); string(p) != "abcdef" || b.gotAt[0] != 5*time.Millisecond {
		t.Errorf("first arrival %q at %v", p, b.gotAt[0])
	}
	if p := b.segment(t, 1).Payload(); string(p) != "ghi" || b.gotAt[1] != 17*time.Millisecond {
		t.Errorf("held segment %q arrived at %v, want 17ms", p, b.gotAt[1])
	}
}

// TestProactiveACKOnOneLink: a middlebox on the A→B link alone still
// answers A: what it emits backwards enters the reverse link.
func TestProactiveACKOnOneLink(t *testing.T) {
	s := New(1)
	topo := s.ParallelPaths(Symmetric(LinkConfig{Delay: 10 * time.Millisecond}))
	pep := &mbox.ProactiveACK{}
	topo.Forward[0].SetMiddlebox(pep, mbox.Forward)
	topo.Reverse[0].SetMiddlebox(pep, mbox.Reverse) // sees the receiver's window
	a, b := &tcpHost{keep: true}, &tcpHost{keep: true, echo: true}
	topo.A.SetEndpoint(a)
	topo.B.SetEndpoint(b)
	c, srv := netip.AddrPortFrom(topo.AddrsA[0], 1234), netip.AddrPortFrom(topo.AddrsB[0], 80)
	a.out = append(a.out, tcpPacket(c, srv, wire.FlagSYN, 1, 0, nil))
	topo.A.Wake()
	s.At(30*time.Millisecond, func() {
		a.out = append(a.out, tcpPacket(c, srv, wire.FlagACK, 2, 9001, []byte("data")))
		topo.A.Wake()
	})
	s.Run(time.Second)
	// SYN/ACK at 20 ms; the proactive ACK at 40 ms; B's own at 50 ms.
	if len(a.got) != 3 || pep.ACKs != 1 {
		t.Fatalf("client got %d packets, %d proactive ACKs", len(a.got), pep.ACKs)
	}
	if a.gotAt[1] != 40*time.Millisecond || a.segment(t, 1).TCP.Ack() != 6 || a.gotAt[2] != 50*time.Millisecond {
		t.Errorf("arrivals %v, first ACK %d", a.gotAt, a.segment(t, 1).TCP.Ack())
	}
	// On the forward link alone, with no reverse attachment, the ACK
	// still finds the reverse link through the link's peer.
	s2 := New(1)
	topo2 := s2.ParallelPaths(Symmetric(LinkConfig{}))
	drop := &mbox.Drop{Select: mbox.Selector{On: mbox.OnSYN}}
	topo2.Forward[0].SetMiddlebox(drop, mbox.Forward)
	a2 := &tcpHost{}
	topo2.A.SetEndpoint(a2)
	topo2.B.SetEndpoint(&tcpHost{})
	a2.out = append(a2.out, tcpPacket(netip.AddrPortFrom(topo2.AddrsA[0], 1), netip.AddrPortFrom(topo2.AddrsB[0], 2), wire.FlagSYN, 1, 0, nil))
	topo2.A.Wake()
	s2.Run(time.Second)
	if drop.Dropped != 1 || topo2.Forward[0].Stats.Sent != 0 || topo2.Forward[0].Stats.Middlebox != 1 {
		t.Errorf("drop: %d dropped, link %+v", drop.Dropped, topo2.Forward[0].Stats)
	}
}

// TestSplitOnPath: the link carries the pieces; the receiver gets the
// whole payload in order.
func TestSplitOnPath(t *testing.T) {
	s := New(1)
	topo := s.ParallelPaths(Path{Forward: LinkConfig{Rate: 1e6}, Middlebox: &mbox.Split{MaxPayload: 100}})
	a, b := &tcpHost{}, &tcpHost{keep: true}
	topo.A.SetEndpoint(a)
	topo.B.SetEndpoint(b)
	payload := bytes.Repeat([]byte("0123456789"), 45)
	a.out = append(a.out, tcpPacket(netip.AddrPortFrom(topo.AddrsA[0], 1), netip.AddrPortFrom(topo.AddrsB[0], 2), wire.FlagACK, 1, 1, payload))
	topo.A.Wake()
	s.Run(time.Second)
	var got []byte
	for i := range b.got {
		got = append(got, b.segment(t, i).Payload()...)
	}
	if len(b.got) != 5 || !bytes.Equal(got, payload) || topo.Forward[0].Stats.Sent != 5 || topo.Forward[0].Stats.Middlebox != 1 {
		t.Errorf("%d pieces, link %+v", len(b.got), topo.Forward[0].Stats)
	}
}

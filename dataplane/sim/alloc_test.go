package sim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/mbox"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// pinger opens a connection with a SYN and sends its next data segment
// when everything it sent is acknowledged: one segment in flight, so the
// load stays the same however the middleboxes cut it up. It allocates
// nothing.
type pinger struct {
	src, dst netip.AddrPort
	seq      uint32
	started  bool
	due      bool
	got      int
	payload  []byte
	seg      wire.Segment
}

func (p *pinger) HandlePacket(_ time.Duration, pkt []byte) {
	if wire.ParseSegment(pkt, &p.seg, nil) == nil && p.seg.TCP.Ack() == p.seq {
		p.due = true
		p.got++
	}
}
func (p *pinger) PollTransmit(_ time.Duration, buf []byte) int {
	switch {
	case !p.started:
		p.started, p.seq = true, 2
		return encodeTCP(buf, p.src, p.dst, wire.FlagSYN, 1, 0, nil)
	case p.due:
		p.due = false
		n := encodeTCP(buf, p.src, p.dst, wire.FlagACK|wire.FlagPSH, p.seq, 9001, p.payload)
		p.seq += uint32(len(p.payload))
		return n
	}
	return 0
}
func (*pinger) NextTimeout() (time.Duration, bool) { return 0, false }
func (*pinger) HandleTimeout(time.Duration)        {}

// steadyAllocs warms s up and returns the allocations per event; it
// fails the test if the measured steps found nothing to do.
func steadyAllocs(t *testing.T, s *Sim) float64 {
	for range 5000 {
		s.Step()
	}
	start, ran := s.Now(), 0
	a := testing.AllocsPerRun(2000, func() {
		if s.Step() {
			ran++
		}
	})
	if ran < 2000 || s.Now() == start {
		t.Fatalf("only %d of the measured steps ran an event", ran)
	}
	return a
}

// TestNoAllocationsWithMiddleboxes: TCP ping-pong through a chain of
// middleboxes on a path (a NAT, ISN rewriting, a coalescer whose timer
// fires on every segment, a splitter), through a dumbbell's routers, and
// across ECMP ports: steady state allocates nothing per event.
func TestNoAllocationsWithMiddleboxes(t *testing.T) {
	payload := make([]byte, 300)
	t.Run("path", func(t *testing.T) {
		s := New(1)
		nat := &mbox.NAT{Outside: netip.MustParseAddr("192.0.2.1")}
		co := &mbox.Coalesce{}
		chain := mbox.NewChain(nat, &mbox.RewriteISN{Seed: 3}, co, &mbox.Split{MaxPayload: 100})
		topo := s.ParallelPaths(Path{Forward: LinkConfig{Rate: 1e9, Delay: 10 * time.Microsecond}, Middlebox: chain})
		p := &pinger{src: netip.AddrPortFrom(topo.AddrsA[0], 1), dst: netip.AddrPortFrom(topo.AddrsB[0], 2), payload: payload}
		srv := &tcpHost{echo: true}
		topo.A.SetEndpoint(p)
		topo.B.SetEndpoint(srv)
		if a := steadyAllocs(t, s); a != 0 {
			t.Errorf("%v allocations per event", a)
		}
		if p.got < 100 || srv.bad != 0 || co.Released < 100 || co.Merges != 0 || nat.Translated < 100 {
			t.Errorf("pings %d, bad %d, coalescer released %d merged %d, NAT %d", p.got, srv.bad, co.Released, co.Merges, nat.Translated)
		}
	})
	t.Run("dumbbell", func(t *testing.T) {
		s := New(1)
		d := s.Dumbbell(DumbbellConfig{Left: []int{2, 1},
			Access:     Symmetric(LinkConfig{Rate: 1e9, Delay: 10 * time.Microsecond}),
			Bottleneck: Path{Forward: LinkConfig{Rate: 1e8, Delay: time.Millisecond, QueuePackets: 100}, Middlebox: &mbox.RewriteISN{Seed: 1}}})
		srv := &tcpHost{echo: true}
		d.Right[0].SetEndpoint(srv)
		dst := netip.AddrPortFrom(d.RightAddrs[0][0], 80)
		var ps []*pinger
		for i, h := range d.Left {
			// One endpoint per host, pinging from every address.
			p := &multiPinger{}
			for j, a := range d.LeftAddrs[i] {
				pp := &pinger{src: netip.AddrPortFrom(a, uint16(100+j)), dst: dst, payload: payload}
				p.ps = append(p.ps, pp)
				ps = append(ps, pp)
			}
			h.SetEndpoint(p)
		}
		if a := steadyAllocs(t, s); a != 0 {
			t.Errorf("%v allocations per event", a)
		}
		for _, p := range ps {
			if p.got < 100 {
				t.Errorf("%v: %d pings", p.src, p.got)
			}
		}
	})
	t.Run("ecmp", func(t *testing.T) {
		e := newECMPBed(1, 4, false)
		srv := &tcpHost{echo: true}
		e.b.SetEndpoint(srv)
		mp := &multiPinger{}
		for i := range 8 {
			mp.ps = append(mp.ps, &pinger{src: netip.AddrPortFrom(e.aAddr, uint16(1000+i)), dst: netip.AddrPortFrom(e.bAddr, 80), payload: payload})
		}
		e.a.SetEndpoint(mp)
		if a := steadyAllocs(t, e.s); a != 0 {
			t.Errorf("%v allocations per event", a)
		}
		used := 0
		for _, r := range e.recorders {
			if len(r.flows) > 0 {
				used++
			}
		}
		for _, p := range mp.ps {
			if p.got < 100 {
				t.Errorf("%v: %d pings", p.src, p.got)
			}
		}
		if used < 2 {
			t.Errorf("8 flows used %d of 4 ports", used)
		}
	})
}

// multiPinger runs several pingers on one host, one per source address
// or port, routing what arrives by destination port.
type multiPinger struct{ ps []*pinger }

func (m *multiPinger) HandlePacket(now time.Duration, pkt []byte) {
	var s wire.Segment
	if wire.ParseSegment(pkt, &s, nil) != nil {
		return
	}
	for _, p := range m.ps {
		if p.src.Port() == s.TCP.DstPort() && p.src.Addr() == s.DstAddr() {
			p.HandlePacket(now, pkt)
		}
	}
}

func (m *multiPinger) PollTransmit(now time.Duration, buf []byte) int {
	for _, p := range m.ps {
		if n := p.PollTransmit(now, buf); n > 0 {
			return n
		}
	}
	return 0
}
func (*multiPinger) NextTimeout() (time.Duration, bool) { return 0, false }
func (*multiPinger) HandleTimeout(time.Duration)        {}

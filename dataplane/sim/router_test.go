package sim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/mbox"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// TestRouterForwarding: longest-prefix match, TTL decrement with a valid
// IPv4 header checksum, no-route and TTL-expired drops, IPv6.
func TestRouterForwarding(t *testing.T) {
	s := New(1)
	r := s.AddRouter("r")
	h1, h2, h3 := s.AddHost("h1"), s.AddHost("h2"), s.AddHost("h3")
	i1 := h1.AddInterface(netip.MustParseAddr("10.0.0.1"))
	i2 := h2.AddInterface(netip.MustParseAddr("10.0.1.1"))
	i3 := h3.AddInterface(netip.MustParseAddr("fd00::3"))
	i1b := h1.AddInterface(netip.MustParseAddr("fd00::1"))
	_, _, _ = s.ConnectHost(r, i1, LinkConfig{}, LinkConfig{})
	p2, _, _ := s.ConnectHost(r, i2, LinkConfig{}, LinkConfig{})
	p3, _, _ := s.ConnectHost(r, i3, LinkConfig{}, LinkConfig{})
	_, _, _ = s.ConnectHost(r, i1b, LinkConfig{}, LinkConfig{})
	r.AddRoute(netip.MustParsePrefix("10.0.0.0/8"), p3) // shorter: loses to the /24 below
	r.AddRoute(netip.MustParsePrefix("10.0.1.0/24"), p2)
	for addr, want := range map[string]*Port{"10.0.1.77": p2, "10.9.9.9": p3, "10.0.1.1": p2, "192.0.2.1": nil} {
		var got *Port
		if ps := r.Lookup(netip.MustParseAddr(addr)); len(ps) > 0 {
			got = ps[0]
		}
		if got != want {
			t.Errorf("Lookup(%s) = %v, want %v", addr, got, want)
		}
	}
	a, b, c := &tcpHost{}, &tcpHost{keep: true}, &tcpHost{keep: true}
	h1.SetEndpoint(a)
	h2.SetEndpoint(b)
	h3.SetEndpoint(c)
	src := netip.AddrPortFrom(i1.Addr, 1)
	noTTL := tcpPacket(src, netip.AddrPortFrom(i2.Addr, 2), wire.FlagACK, 1, 1, []byte("x"))
	noTTL[8] = 1
	wire.SetIPv4Checksum(noTTL[:20])
	a.out = append(a.out,
		tcpPacket(src, netip.AddrPortFrom(i2.Addr, 2), wire.FlagACK, 1, 1, []byte("x")),
		tcpPacket(src, netip.MustParseAddrPort("192.0.2.1:2"), wire.FlagACK, 1, 1, nil),
		noTTL,
		tcpPacket(netip.AddrPortFrom(i1b.Addr, 1), netip.AddrPortFrom(i3.Addr, 2), wire.FlagACK, 1, 1, []byte("v6")))
	h1.Wake()
	s.Run(time.Second)
	if len(b.got) != 1 || b.bad != 0 || len(c.got) != 1 || c.bad != 0 {
		t.Fatalf("h2 got %d (bad %d), h3 %d (bad %d)", len(b.got), b.bad, len(c.got), c.bad)
	}
	if ttl := b.segment(t, 0).IPv4.TTL(); ttl != 63 {
		t.Errorf("TTL %d after one router, want 63", ttl)
	}
	if hl := c.segment(t, 0).IPv6.HopLimit(); hl != 63 {
		t.Errorf("hop limit %d, want 63", hl)
	}
	if r.Stats != (RouterStats{Forwarded: 2, NoRoute: 1, TTLExpired: 1}) {
		t.Errorf("router stats %+v", r.Stats)
	}
}

// ecmpBed is host a behind router r1, host b behind r2, and n parallel
// equal-cost links from r1 to r2, each with a recorder on it.
type ecmpBed struct {
	s         *Sim
	a, b      *Host
	aAddr     netip.Addr
	bAddr     netip.Addr
	r1        *Router
	recorders []*recorder
}

// recorder is a middlebox that remembers which flows crossed it.
type recorder struct {
	seg   wire.Segment
	flows map[mbox.Flow]int
}

func (r *recorder) Process(_ time.Duration, dir mbox.Direction, pkt []byte, emit mbox.Emit) {
	if wire.ParseSegment(pkt, &r.seg, nil) == nil {
		r.flows[mbox.FlowOf(&r.seg)]++
	}
	emit(dir, pkt)
}

func newECMPBed(seed uint64, n int, v6 bool) *ecmpBed {
	s := New(seed)
	e := &ecmpBed{s: s, r1: s.AddRouter("r1")}
	r2 := s.AddRouter("r2")
	e.a, e.b = s.AddHost("a"), s.AddHost("b")
	e.aAddr, e.bAddr = netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.1")
	net, back := netip.MustParsePrefix("10.2.0.0/16"), netip.MustParsePrefix("10.1.0.0/16")
	if v6 {
		e.aAddr, e.bAddr = netip.MustParseAddr("fd01::1"), netip.MustParseAddr("fd02::1")
		net, back = netip.MustParsePrefix("fd02::/64"), netip.MustParsePrefix("fd01::/64")
	}
	s.ConnectHost(e.r1, e.a.AddInterface(e.aAddr), LinkConfig{}, LinkConfig{})
	s.ConnectHost(r2, e.b.AddInterface(e.bAddr), LinkConfig{}, LinkConfig{})
	var ports, backPorts []*Port
	for range n {
		p1, p2, l, _ := s.ConnectRouters(e.r1, r2, LinkConfig{Delay: time.Millisecond}, LinkConfig{Delay: time.Millisecond})
		rec := &recorder{flows: map[mbox.Flow]int{}}
		l.SetMiddlebox(rec, mbox.Forward)
		ports, backPorts = append(ports, p1), append(backPorts, p2)
		e.recorders = append(e.recorders, rec)
	}
	e.r1.AddRoute(net, ports...)
	r2.AddRoute(back, backPorts...)
	return e
}

// TestECMP: flows spread over equal-cost ports; every packet of a flow
// takes the same port; the assignment repeats with the seed and changes
// with it.
func TestECMP(t *testing.T) {
	const flows, perFlow, n = 400, 3, 4
	run := func(seed uint64, v6 bool) []map[mbox.Flow]int {
		e := newECMPBed(seed, n, v6)
		a, b := &tcpHost{}, &tcpHost{}
		e.a.SetEndpoint(a)
		e.b.SetEndpoint(b)
		for k := range perFlow {
			for f := range flows {
				a.out = append(a.out, tcpPacket(netip.AddrPortFrom(e.aAddr, uint16(10000+f)), netip.AddrPortFrom(e.bAddr, 80), wire.FlagACK, uint32(k), 1, []byte("x")))
			}
		}
		e.a.Wake()
		e.s.Run(time.Second)
		if b.n != flows*perFlow {
			t.Fatalf("delivered %d of %d", b.n, flows*perFlow)
		}
		var out []map[mbox.Flow]int
		for _, r := range e.recorders {
			out = append(out, r.flows)
		}
		return out
	}
	for _, v6 := range []bool{false, true} {
		a := run(1, v6)
		seen := map[mbox.Flow]int{}
		for port, fl := range a {
			if len(fl) < flows/n/2 || len(fl) > flows/n*3/2 {
				t.Errorf("v6=%v: port %d carried %d of %d flows", v6, port, len(fl), flows)
			}
			for f, count := range fl {
				if count != perFlow {
					t.Errorf("flow %v: %d of its packets on port %d", f, count, port)
				}
				if p, dup := seen[f]; dup {
					t.Errorf("flow %v on ports %d and %d", f, p, port)
				}
				seen[f] = port
			}
		}
		again, other := run(1, v6), run(2, v6)
		moved := 0
		for port := range a {
			for f := range a[port] {
				if again[port][f] != perFlow {
					t.Fatalf("seed 1 twice: flow %v moved", f)
				}
				if other[port][f] == 0 {
					moved++
				}
			}
		}
		if moved < flows/2 {
			t.Errorf("v6=%v: another seed moved only %d of %d flows", v6, moved, flows)
		}
	}
}

// TestFlowHashInputs: the hash depends on each member of the 5-tuple and
// on nothing else of the packet.
func TestFlowHashInputs(t *testing.T) {
	base := tcpPacket(netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:80"), wire.FlagACK, 1, 1, []byte("payload"))
	h := FlowHash(base, 7)
	for name, p := range map[string][]byte{
		"src addr": tcpPacket(netip.MustParseAddrPort("10.0.0.3:1000"), netip.MustParseAddrPort("10.0.0.2:80"), wire.FlagACK, 1, 1, nil),
		"dst addr": tcpPacket(netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.4:80"), wire.FlagACK, 1, 1, nil),
		"src port": tcpPacket(netip.MustParseAddrPort("10.0.0.1:1001"), netip.MustParseAddrPort("10.0.0.2:80"), wire.FlagACK, 1, 1, nil),
		"dst port": tcpPacket(netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:81"), wire.FlagACK, 1, 1, nil),
	} {
		if FlowHash(p, 7) == h {
			t.Errorf("changing the %s does not change the hash", name)
		}
	}
	other := tcpPacket(netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:80"), wire.FlagSYN, 99, 0, nil)
	other[8] = 3 // TTL
	if FlowHash(other, 7) != h {
		t.Error("the hash depends on more than the 5-tuple")
	}
	if FlowHash(base, 8) == h {
		t.Error("the hash ignores the seed")
	}
	for _, p := range [][]byte{nil, {0x45}, make([]byte, 20), make([]byte, 39)} {
		_ = FlowHash(p, 1) // must not panic
	}
}

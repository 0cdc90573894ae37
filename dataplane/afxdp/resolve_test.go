package afxdp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/internal/testbed"
)

// ipHeader returns a minimal IPv4 or IPv6 header from src to dst: all the
// resolver reads.
func ipHeader(src, dst netip.Addr) []byte {
	if src.Is4() {
		h := make([]byte, 20)
		h[0] = 0x45
		copy(h[12:], src.AsSlice())
		copy(h[16:], dst.AsSlice())
		return h
	}
	h := make([]byte, 40)
	h[0] = 0x60
	copy(h[8:], src.AsSlice())
	copy(h[24:], dst.AsSlice())
	return h
}

// resolverBed is a resolver opened inside namespace A of a two-path bed,
// driving A's two veths.
type resolverBed struct {
	b    *testbed.Bed
	rs   *resolver
	sent map[neighKey][]pending
	gone []pending
	macB [2][6]byte
}

func newResolverBed(t *testing.T) *resolverBed {
	t.Helper()
	b := testbed.New(t, testbed.Config{Paths: 2})
	rb := &resolverBed{b: b, sent: map[neighKey][]pending{}}
	var nics []*nic
	b.Do(b.NSA, func() error {
		nl, err := openRtnl()
		if err != nil {
			return err
		}
		mon, err := openMonitor()
		if err != nil {
			return err
		}
		t.Cleanup(func() { nl.close(); mon.close() })
		for _, p := range b.Paths {
			li, err := nl.link(p.DevA)
			if err != nil {
				return err
			}
			nics = append(nics, &nic{name: p.DevA, index: li.index, mac: li.mac})
		}
		rb.rs = newResolver(nl, mon, nics)
		return nil
	})
	for i, p := range b.Paths {
		_, mac := b.Interface(b.NSB, p.DevB)
		rb.macB[i] = [6]byte(mac)
	}
	rb.rs.send = func(n *nic, nb *neighbour, p []pending) {
		rb.sent[nb.key] = append(rb.sent[nb.key], p...)
	}
	rb.rs.drop = func(p []pending) { rb.gone = append(rb.gone, p...) }
	return rb
}

// pollUntil polls the resolver until cond holds or 3 s pass.
func (rb *resolverBed) pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !testbed.WaitFor(3*time.Second, func() bool {
		if err := rb.rs.poll(time.Now()); err != nil {
			t.Fatal(err)
		}
		return cond()
	}) {
		t.Fatalf("%s: not within 3 s (stats %+v)", what, rb.rs.stats)
	}
}

// TestResolver resolves next hops from the kernel's tables in a bed: an
// on-link peer on each path (ARP run by the kernel on NTF_USE, packets
// waiting meanwhile), a gateway route sharing the neighbour, source-based
// policy routing, an administrator's MAC change arriving as a
// notification, an unresolvable neighbour failing, an unroutable
// destination, and no netlink traffic or allocation in steady state.
func TestResolver(t *testing.T) {
	rb := newResolverBed(t)
	rs, b := rb.rs, rb.b
	now := time.Now()
	a1, a2 := b.Paths[0].A4, b.Paths[1].A4
	b1, b2 := b.Paths[0].B4, b.Paths[1].B4

	// Path 1: no ARP entry yet, so the packet waits for the kernel.
	r := rs.lookup(ipHeader(a1, b1), now)
	if r == nil || r.fail || r.nic != rs.nics[0] || r.nb.key.addr != b1 {
		t.Fatalf("route %v -> %v: %+v", a1, b1, r)
	}
	if r.nb.valid {
		t.Fatal("a neighbour of a fresh namespace is already resolved")
	}
	if !rs.wait(r.nb, pending{addr: 1, n: 60}, now) {
		t.Fatal("wait refused")
	}
	rb.pollUntil(t, "ARP for "+b1.String(), func() bool { return len(rb.sent[r.nb.key]) == 1 })
	if r.nb.mac != rb.macB[0] || rs.stats.NeighRequests != 1 || rs.stats.Resolved != 1 {
		t.Errorf("neighbour %v: mac %x (want %x), stats %+v", b1, r.nb.mac, rb.macB[0], rs.stats)
	}

	// Path 2.
	r2 := rs.lookup(ipHeader(a2, b2), now)
	if r2.fail || r2.nic != rs.nics[1] {
		t.Fatalf("route %v -> %v: %+v", a2, b2, r2)
	}
	rs.wait(r2.nb, pending{addr: 2}, now)
	rb.pollUntil(t, "ARP for "+b2.String(), func() bool { return r2.nb.valid })
	if r2.nb.mac != rb.macB[1] {
		t.Errorf("neighbour %v: mac %x, want %x", b2, r2.nb.mac, rb.macB[1])
	}

	// A route through a gateway: the next hop is B's path-2 address, the
	// same neighbour. The route change empties the route cache.
	far := netip.MustParseAddr("192.168.50.7")
	b.Run(b.NSA, "ip", "route", "add", "192.168.50.0/24", "via", b2.String())
	rb.pollUntil(t, "route notification", func() bool { return len(rs.r4) == 0 })
	rg := rs.lookup(ipHeader(a2, far), now)
	if rg.fail || rg.nb != r2.nb || rg.nic != rs.nics[1] {
		t.Errorf("route via gateway: %+v, want the neighbour of %v", rg, b2)
	}

	// The bed routes by source in A (scripts/testbed.sh): 10.0.2.2 ->
	// 10.0.1.1 leaves by path 2, where the kernel resolves 10.0.1.1 on the
	// second veth (B answers ARP for any of its addresses).
	rx := rs.lookup(ipHeader(a2, b1), now)
	if rx.fail || rx.nic != rs.nics[1] || rx.nb.key != (neighKey{rs.nics[1].index, b1}) {
		t.Fatalf("cross route with the source rule: %+v", rx)
	}
	rs.wait(rx.nb, pending{addr: 3}, now)
	rb.pollUntil(t, "ARP for "+b1.String()+" on path 2", func() bool { return rx.nb.valid })
	if rx.nb.mac != rb.macB[1] {
		t.Errorf("%v on path 2: mac %x, want B's path-2 MAC %x (arp_ignore=0)", b1, rx.nb.mac, rb.macB[1])
	}
	// Without the rule, the main table sends it by path 1.
	b.Run(b.NSA, "ip", "rule", "del", "from", a2.String(), "table", "102")
	rb.pollUntil(t, "rule notification", func() bool { return len(rs.r4) == 0 })
	if rx := rs.lookup(ipHeader(a2, b1), now); rx.fail || rx.nic != rs.nics[0] {
		t.Errorf("cross route without the rule: %+v", rx)
	}

	// An administrator's change reaches the cache as a notification.
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}
	b.Run(b.NSA, "ip", "neigh", "replace", b1.String(), "lladdr", mac.String(), "dev", b.Paths[0].DevA, "nud", "reachable")
	rb.pollUntil(t, "MAC change", func() bool { return r.nb.mac == [6]byte(mac) })

	// An address nobody answers for: the kernel gives up (one probe here)
	// and the waiting packets are dropped.
	dev := b.Paths[0].DevA
	b.Sysctl(b.NSA, "net.ipv4.neigh."+dev+".mcast_solicit", "1")
	b.Sysctl(b.NSA, "net.ipv4.neigh."+dev+".retrans_time_ms", "200")
	ghost := netip.MustParseAddr("10.0.1.77")
	rgh := rs.lookup(ipHeader(a1, ghost), now)
	rs.wait(rgh.nb, pending{addr: 7}, now)
	rs.wait(rgh.nb, pending{addr: 8}, now)
	rb.pollUntil(t, "failure of "+ghost.String(), func() bool { return len(rb.gone) == 2 })
	if rs.stats.Failed != 1 || rgh.nb.valid {
		t.Errorf("after the failure: stats %+v, valid %v", rs.stats, rgh.nb.valid)
	}

	// No route at all: failed, and asked again only after retryEvery.
	lookups := rs.stats.RouteLookups
	nowhere := netip.MustParseAddr("172.16.0.1")
	for range 100 {
		if rn := rs.lookup(ipHeader(a1, nowhere), now); !rn.fail {
			t.Fatalf("route to %v: %+v", nowhere, rn)
		}
	}
	if rs.stats.RouteLookups != lookups+1 {
		t.Errorf("100 packets to an unroutable address made %d route lookups", rs.stats.RouteLookups-lookups)
	}
	rs.lookup(ipHeader(a1, nowhere), now.Add(retryEvery))
	if rs.stats.RouteLookups != lookups+2 {
		t.Errorf("no new lookup after retryEvery")
	}

	// Steady state: cached routes cost no netlink request and no allocation.
	h1, h2 := ipHeader(a1, b1), ipHeader(a2, b2)
	rs.lookup(h1, now) // their routes were emptied by the notifications above
	rs.lookup(h2, now)
	before := rs.stats
	allocs := testing.AllocsPerRun(1000, func() {
		rs.lookup(h1, now)
		rs.lookup(h2, now)
	})
	if allocs != 0 || rs.stats != before {
		t.Errorf("steady state: %v allocations per run, stats %+v -> %+v", allocs, before, rs.stats)
	}
}

// TestResolverIPv6 resolves an IPv6 neighbour with neighbour
// solicitation run by the kernel.
func TestResolverIPv6(t *testing.T) {
	rb := newResolverBed(t)
	rs, b := rb.rs, rb.b
	now := time.Now()
	r := rs.lookup(ipHeader(b.Paths[1].A6, b.Paths[1].B6), now)
	if r == nil || r.fail || r.nic != rs.nics[1] {
		t.Fatalf("route: %+v", r)
	}
	rs.wait(r.nb, pending{addr: 9}, now)
	rb.pollUntil(t, "NDP", func() bool { return len(rb.sent[r.nb.key]) == 1 })
	if r.nb.mac != rb.macB[1] {
		t.Errorf("mac %x, want %x", r.nb.mac, rb.macB[1])
	}
	src, n, ok := rs.source(b.Paths[0].B6)
	if !ok || n != rs.nics[0] || src != b.Paths[0].A6 {
		t.Errorf("source for %v: %v %v %v", b.Paths[0].B6, src, n, ok)
	}
}

// TestNetlinkParse feeds the parsers malformed messages: they stop or skip,
// never panic.
func TestNetlinkParse(t *testing.T) {
	msg := func(l uint32) []byte {
		b := make([]byte, 16)
		binary.NativeEndian.PutUint32(b, l)
		return b
	}
	for _, b := range [][]byte{msg(3), msg(1000), append(msg(20), 1, 2)} {
		if err := walkMessages(b, func(uint16, uint32, []byte) {}); err == nil {
			t.Errorf("walkMessages(%x): no error", b)
		}
	}
	walkAttrs([]byte{2, 0, 1, 0, 0xff, 0xff, 1, 0}, func(uint16, []byte) { t.Error("attribute from garbage") })
	if _, ok := parseNeigh([]byte{1, 2, 3}); ok {
		t.Error("short ndmsg parsed")
	}
}

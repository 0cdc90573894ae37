package tcp_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/tcp"
)

// TestISNGenerator: RFC 6528 — the ISN depends on the connection's
// addresses through a keyed hash, and advances with a 4 µs clock.
func TestISNGenerator(t *testing.T) {
	g := tcp.NewISNGenerator(rand.NewPCG(1, 2))
	a := netip.MustParseAddrPort("10.0.0.1:40000")
	b := netip.MustParseAddrPort("10.0.0.2:80")
	c := netip.MustParseAddrPort("10.0.0.2:81")
	isn0 := g.ISN(0, a, b)
	if got := g.ISN(4*time.Millisecond, a, b); got.Sub(isn0) != 1000 {
		t.Errorf("4 ms later the ISN moved by %d, want 1000 ticks of 4 µs", got.Sub(isn0))
	}
	if g.ISN(0, a, c) == isn0 {
		t.Error("a different port gave the same ISN")
	}
	if tcp.NewISNGenerator(rand.NewPCG(3, 4)).ISN(0, a, b) == isn0 {
		t.Error("a different secret gave the same ISN")
	}
	if g.ISN(0, a, b) != isn0 {
		t.Error("the same inputs gave a different ISN")
	}
}

// TestTimestampOffset: the timestamp offset comes from the same keyed hash
// (RFC 7323 §7.1): fixed for a 4-tuple, whatever the time, so that each
// incarnation's TSvals are newer than the last one's (PAWS at a peer in
// TIME-WAIT, RFC 7323 §5); different for another port or secret.
func TestTimestampOffset(t *testing.T) {
	g := tcp.NewISNGenerator(rand.NewPCG(1, 2))
	a := netip.MustParseAddrPort("10.0.0.1:40000")
	b := netip.MustParseAddrPort("10.0.0.2:80")
	c := netip.MustParseAddrPort("10.0.0.2:81")
	isn, off := g.Initial(0, a, b)
	if isn != g.ISN(0, a, b) {
		t.Error("Initial and ISN disagree")
	}
	if _, later := g.Initial(time.Minute, a, b); later != off {
		t.Errorf("offset %d a minute later, want %d", later, off)
	}
	if _, other := g.Initial(0, a, c); other == off {
		t.Error("a different port gave the same offset")
	}
	if _, other := tcp.NewISNGenerator(rand.NewPCG(3, 4)).Initial(0, a, b); other == off {
		t.Error("a different secret gave the same offset")
	}
}

// TestKeyedGeneratorAcrossProcesses: two generators with the same secret
// and bases that count from one origin (two processes started 5 s apart,
// each with now from its own start) give one sequence: the later process's
// ISN and timestamp (uint32(now/ms) + offset, as a connection stamps it)
// for a 4-tuple are newer than the earlier one's, by the time between.
func TestKeyedGeneratorAcrossProcesses(t *testing.T) {
	secret := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	a := netip.MustParseAddrPort("10.0.0.1:61000")
	b := netip.MustParseAddrPort("10.0.0.2:5201")
	first := tcp.NewISNGeneratorKeyed(secret, 1000*time.Second)
	second := tcp.NewISNGeneratorKeyed(secret, 1005*time.Second)
	isn1, off1 := first.Initial(2*time.Second, a, b)  // at 1002 s since boot
	isn2, off2 := second.Initial(1*time.Second, a, b) // at 1006 s since boot
	ts1, ts2 := uint32(2000)+off1, uint32(1000)+off2  // TSvals stamped then
	if d := int32(ts2 - ts1); d != 4000 {
		t.Errorf("the later process's TSval is %d ms after the earlier one's, want 4000", d)
	}
	if d := isn2.Sub(isn1); d != 1000000 {
		t.Errorf("the later process's ISN is %d ticks after, want 1,000,000 (4 s of 4 µs)", d)
	}
	// A random secret (the default) gives no such order.
	if _, off := tcp.NewISNGenerator(rand.NewPCG(5, 6)).Initial(time.Second, a, b); off == off2 {
		t.Error("a random secret gave the keyed offset")
	}
}

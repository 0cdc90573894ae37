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

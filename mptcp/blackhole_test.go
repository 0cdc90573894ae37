package mptcp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/mbox"
	"github.com/mpxdp/mpxdp/dataplane/sim"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/mptcptest"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// blackholeBed is one path whose middlebox drops the SYNs that sel
// selects, with default configurations.
func blackholeBed(t *testing.T, sel mbox.Selector, client mptcp.Config) (*mptcptest.Bed, *mbox.Drop) {
	t.Helper()
	drop := &mbox.Drop{Select: sel}
	p := sim.Symmetric(sim.LinkConfig{Rate: 20e6, Delay: 5 * time.Millisecond, QueuePackets: 100})
	p.Middlebox = drop
	bed, err := mptcptest.NewBed(11, []sim.Path{p}, client, mptcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return bed, drop
}

// dialAndTransfer opens a connection at the bed's current time, moves 64
// KiB each way, and returns it with the time the client took to be
// established.
func dialAndTransfer(t *testing.T, bed *mptcptest.Bed, seed uint64) (*mptcptest.Transfer, time.Duration) {
	t.Helper()
	start := bed.Sim.Now()
	tr := mptcptest.NewTransfer(bed, seed, 64<<10, 64<<10)
	if !bed.Sim.RunUntil(func() bool { return tr.Cc != nil && tr.Cc.Established() }, start+3*time.Minute) {
		t.Fatalf("not established 3 minutes after the Dial at %v", start)
	}
	took := bed.Sim.Now() - start
	if msg := tr.Run(start + 10*time.Minute); msg != "" {
		t.Fatal(msg)
	}
	return tr, took
}

// TestSYNBlackhole: a middlebox drops SYNs that carry MP_CAPABLE. As
// Linux does (INTEROP B.1), the third SYN retransmission goes without it
// and the connection is plain TCP; since that SYN was answered, Dial opens
// plain TCP connections for BlackholeTimeout, doubled for a second
// blackhole in a row, and MPTCP again once a SYN/ACK with MP_CAPABLE
// comes back.
func TestSYNBlackhole(t *testing.T) {
	const dropUntil = 2 * time.Hour // the middlebox goes away then
	bed, drop := blackholeBed(t, mbox.Selector{On: mbox.OnSYN, Options: wire.OptMPCapable, Until: dropUntil}, mptcp.Config{})
	st := &bed.Client.Stats
	check := func(phase string, tr *mptcptest.Transfer, took time.Duration, wantMPTCP bool, reason string, dropped uint64, active, blackholes, disabled uint64) {
		t.Helper()
		fb := tr.Cc.Fallback()
		got := "MPTCP"
		if fb != nil {
			got = fb.Reason
		}
		switch {
		case tr.Cc.MPTCP() != wantMPTCP:
			t.Errorf("%s: MPTCP %v (%s), want %v", phase, tr.Cc.MPTCP(), got, wantMPTCP)
		case !strings.Contains(got, reason):
			t.Errorf("%s: %q, want it to mention %q", phase, got, reason)
		}
		if drop.Dropped != dropped || st.MPCapableSYNTXDrop != active || st.Blackholes != blackholes || st.MPCapableSYNTXDisabled != disabled {
			t.Errorf("%s: %d SYNs dropped, MPCapableSYNTXDrop %d, Blackholes %d, MPCapableSYNTXDisabled %d; want %d, %d, %d, %d",
				phase, drop.Dropped, st.MPCapableSYNTXDrop, st.Blackholes, st.MPCapableSYNTXDisabled, dropped, active, blackholes, disabled)
		}
		t.Logf("%s at %v: %s, established after %v", phase, bed.Sim.Now().Round(time.Second), got, took.Round(time.Millisecond))
	}

	// SYNs with MP_CAPABLE at 0, 1 and 2 s are dropped; the one at 3 s
	// (linear SYN timeouts, as Linux) has none and is answered.
	tr, took := dialAndTransfer(t, bed, 1)
	if took < 3*time.Second || took > 3*time.Second+100*time.Millisecond {
		t.Errorf("established after %v, want 3 s and a round trip (SYNs at 0, 1, 2, 3 s)", took)
	}
	check("first Dial", tr, took, false, "blackhole", 3, 1, 1, 0)

	// In blackhole mode Dial does not try MPTCP: one round trip.
	bed.Sim.Run(bed.Sim.Now() + time.Minute)
	tr, took = dialAndTransfer(t, bed, 2)
	if took > time.Second {
		t.Errorf("established after %v in blackhole mode, want one round trip", took)
	}
	check("in blackhole mode", tr, took, false, "blackhole mode", 3, 1, 1, 1)

	// After the hour MPTCP is tried again, still dropped: a second
	// blackhole, whose period is two hours.
	bed.Sim.Run(bed.Sim.Now() + time.Hour)
	tr, took = dialAndTransfer(t, bed, 3)
	check("an hour later", tr, took, false, "blackhole", 6, 2, 2, 1)
	second := bed.Sim.Now() - took
	bed.Sim.Run(second + 90*time.Minute) // past the middlebox, inside the period
	tr, took = dialAndTransfer(t, bed, 4)
	check("90 minutes after the second", tr, took, false, "blackhole mode", 6, 2, 2, 2)

	// Two hours after the second blackhole: MPTCP, which now gets through.
	bed.Sim.Run(second + 2*time.Hour + time.Minute)
	tr, took = dialAndTransfer(t, bed, 5)
	check("after the doubled period", tr, took, true, "MPTCP", 6, 2, 2, 2)
	if took > time.Second {
		t.Errorf("established after %v, want one round trip", took)
	}
}

// TestSYNBlackholeReset: a SYN/ACK with MP_CAPABLE ends a series of
// blackholes, so that the next one lasts BlackholeTimeout again.
func TestSYNBlackholeReset(t *testing.T) {
	on := true
	sel := mbox.Selector{On: mbox.OnSYN, Options: wire.OptMPCapable, Where: func(time.Duration, mbox.Direction, *wire.Segment) bool { return on }}
	bed, _ := blackholeBed(t, sel, mptcp.Config{BlackholeTimeout: time.Minute})
	st := &bed.Client.Stats
	dialAndTransfer(t, bed, 1) // blackhole 1 of the series
	bed.Sim.Run(bed.Sim.Now() + 2*time.Minute)
	dialAndTransfer(t, bed, 2) // blackhole 2: two minutes
	bed.Sim.Run(bed.Sim.Now() + 3*time.Minute)
	on = false
	if tr, _ := dialAndTransfer(t, bed, 3); !tr.Cc.MPTCP() {
		t.Fatalf("no MPTCP with the middlebox gone: %v", tr.Cc.Fallback())
	}
	on = true
	dialAndTransfer(t, bed, 4) // blackhole 1 of a new series: one minute
	at := bed.Sim.Now()
	bed.Sim.Run(at + 90*time.Second)
	tr, _ := dialAndTransfer(t, bed, 5)
	if tr.Cc.MPTCP() || st.Blackholes != 4 || st.MPCapableSYNTXDisabled != 0 {
		t.Errorf("90 s after the new series' first blackhole: MPTCP tried %v, Blackholes %d, MPCapableSYNTXDisabled %d; want MP_CAPABLE tried again (a one-minute period), 4, 0",
			tr.Cc.Fallback() == nil || !strings.Contains(tr.Cc.Fallback().Reason, "blackhole mode"), st.Blackholes, st.MPCapableSYNTXDisabled)
	}
}

// TestSYNLossNotBlackhole: every SYN is lost for 10 s, those without
// MP_CAPABLE too (SYNs at 0, 1, 2, 3, 4, 5 and 7 s; the one at 11 s
// passes). The connection falls back after the third retransmission, but
// the path was not dropping MPTCP: no blackhole, and the next Dial uses
// MPTCP.
func TestSYNLossNotBlackhole(t *testing.T) {
	bed, drop := blackholeBed(t, mbox.Selector{On: mbox.OnSYN, Until: 10 * time.Second}, mptcp.Config{})
	tr, took := dialAndTransfer(t, bed, 1)
	st := bed.Client.Stats
	if fb := tr.Cc.Fallback(); fb == nil || !strings.Contains(fb.Reason, "unanswered") || took < 11*time.Second || drop.Dropped != 7 {
		t.Errorf("fallback %v after %v, %d SYNs dropped; want one for SYNs unanswered, at 11 s, after 7 drops", fb, took, drop.Dropped)
	}
	if st.MPCapableSYNTXDrop != 1 || st.Blackholes != 0 {
		t.Errorf("MPCapableSYNTXDrop %d, Blackholes %d; want 1, 0", st.MPCapableSYNTXDrop, st.Blackholes)
	}
	if tr, _ = dialAndTransfer(t, bed, 2); !tr.Cc.MPTCP() {
		t.Errorf("the next Dial: %v, want MPTCP", tr.Cc.Fallback())
	}
}

// TestSYNRetransBeforeFallbackNever: a negative SYNRetransBeforeFallback
// keeps MP_CAPABLE on every SYN, so a path that drops them never connects.
func TestSYNRetransBeforeFallbackNever(t *testing.T) {
	bed, drop := blackholeBed(t, mbox.Selector{On: mbox.OnSYN, Options: wire.OptMPCapable}, mptcp.Config{SYNRetransBeforeFallback: -1})
	tr := mptcptest.NewTransfer(bed, 1, 1, 1)
	if bed.Sim.RunUntil(func() bool { return tr.Cc != nil && tr.Cc.Established() }, 60*time.Second) {
		t.Fatal("established through a middlebox that drops every MP_CAPABLE SYN")
	}
	if drop.Dropped != 10 || bed.Client.Stats.MPCapableSYNTXDrop != 0 {
		t.Errorf("%d SYNs dropped in 60 s, MPCapableSYNTXDrop %d; want 10 (0, 1, 2, 3, 4, 5, 7, 11, 19, 35 s) with MP_CAPABLE, 0", drop.Dropped, bed.Client.Stats.MPCapableSYNTXDrop)
	}
}

// TestSYNACKBlackhole: the middlebox drops SYN/ACKs that carry
// MP_CAPABLE. The client's fourth SYN, without it, makes the server
// answer its request as plain TCP, which passes: connected at 3 s, where
// a server that kept answering with MP_CAPABLE (as Linux does) would let
// the client wait for the request to expire.
func TestSYNACKBlackhole(t *testing.T) {
	bed, drop := blackholeBed(t, mbox.Selector{On: mbox.OnSYNACK, Options: wire.OptMPCapable}, mptcp.Config{})
	tr, took := dialAndTransfer(t, bed, 1)
	if tr.Cc.MPTCP() || tr.Sc.MPTCP() || took > 3*time.Second+100*time.Millisecond {
		t.Errorf("MPTCP %v/%v, established after %v; want plain TCP at 3 s", tr.Cc.MPTCP(), tr.Sc.MPTCP(), took)
	}
	if n := bed.Server.Stats.SynRequestsDowngraded; n != 1 || drop.Dropped < 3 {
		t.Errorf("SynRequestsDowngraded %d, %d SYN/ACKs dropped; want 1, at least 3", n, drop.Dropped)
	}
	t.Logf("established after %v; client: %v; %d SYN/ACKs dropped", took, tr.Cc.Fallback(), drop.Dropped)
	if bed.Client.Stats.Blackholes != 1 {
		t.Errorf("Blackholes %d, want 1", bed.Client.Stats.Blackholes)
	}
}

// TestSYNACKBlackholeNewPort: no SYN/ACK reaches the client's first port.
// Those with MP_CAPABLE are dropped, and so is the plain one of the
// downgraded request, as if the listener were Linux's, which answers every
// SYN on a 4-tuple with its MPTCP request's SYN/ACK until the request
// expires. The SYN without MP_CAPABLE at 3 s goes unanswered, so the next
// one (4 s) leaves from a new port: a plain request, a plain SYN/ACK, and
// a blackhole recorded for the Dials after it.
func TestSYNACKBlackholeNewPort(t *testing.T) {
	var first uint16
	sel := mbox.Selector{On: mbox.OnSYNACK, Where: func(_ time.Duration, _ mbox.Direction, seg *wire.Segment) bool {
		if first == 0 {
			first = seg.TCP.DstPort()
		}
		return seg.TCP.DstPort() == first
	}}
	bed, drop := blackholeBed(t, sel, mptcp.Config{})
	tr, took := dialAndTransfer(t, bed, 1)
	st := &bed.Client.Stats
	if tr.Cc.MPTCP() || tr.Sc.MPTCP() || took < 4*time.Second || took > 4*time.Second+100*time.Millisecond {
		t.Errorf("MPTCP %v/%v, established after %v; want plain TCP at 4 s", tr.Cc.MPTCP(), tr.Sc.MPTCP(), took)
	}
	if p := tr.Cc.LocalAddr().Port(); p == first || first == 0 {
		t.Errorf("connected from port %d, the first SYN's port was %d; want another", p, first)
	}
	if st.SYNPortMoves != 1 || st.MPCapableSYNTXDrop != 1 || st.Blackholes != 1 || drop.Dropped < 4 {
		t.Errorf("SYNPortMoves %d, MPCapableSYNTXDrop %d, Blackholes %d, SYN/ACKs dropped %d; want 1, 1, 1, at least 4",
			st.SYNPortMoves, st.MPCapableSYNTXDrop, st.Blackholes, drop.Dropped)
	}
	if fb := tr.Cc.Fallback(); fb == nil || !strings.Contains(fb.Reason, "new port") {
		t.Errorf("Fallback %v; want the new port named", fb)
	}
	t.Logf("established after %v from port %d (first %d): %v", took, tr.Cc.LocalAddr().Port(), first, tr.Cc.Fallback())

	// Blackhole mode: the next Dial is plain TCP at once.
	tr2, took2 := dialAndTransfer(t, bed, 2)
	if tr2.Cc.MPTCP() || took2 > 100*time.Millisecond || st.SYNPortMoves != 1 {
		t.Errorf("second Dial: MPTCP %v after %v, SYNPortMoves %d; want plain TCP at once, 1", tr2.Cc.MPTCP(), took2, st.SYNPortMoves)
	}
}

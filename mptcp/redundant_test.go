package mptcp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/sim"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/mptcptest"
)

// TestRedundantScheduler (ALGORITHMS §3.3): with the redundant scheduler
// each subflow carries the whole stream, less what the peer had already
// acknowledged when the subflow had room for it; a subflow that was full
// for a while catches up instead of skipping what went elsewhere. When one
// path dies the other already holds every byte: the receiver sees no
// stall beyond the dead subflow's retransmission timeout, nothing needs
// reinjecting, and the dead subflow's unacknowledged bytes do not hold
// the writer back.
func TestRedundantScheduler(t *testing.T) {
	for _, tc := range []struct {
		name   string
		d1, d2 time.Duration
		cutAt  time.Duration // path 0 goes down; 0: never
	}{
		{"equal", 5 * time.Millisecond, 5 * time.Millisecond, 0},
		{"rtt 5/20 ms", 5 * time.Millisecond, 20 * time.Millisecond, 0},
		{"equal, path 0 cut", 5 * time.Millisecond, 5 * time.Millisecond, 1500 * time.Millisecond},
		{"rtt 5/20 ms, path 0 cut", 5 * time.Millisecond, 20 * time.Millisecond, 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mptcp.Config{PathManager: "manual", Scheduler: "redundant"}
			bed, err := mptcptest.NewBed(31, []sim.Path{path(20e6, tc.d1), path(20e6, tc.d2)}, cfg, cfg)
			if err != nil {
				t.Fatal(err)
			}
			a, b := bed.Topo.AddrsA, bed.Topo.AddrsB
			const size = 8 << 20
			tr := mptcptest.NewTransfer(bed, 31, size, 0)
			bed.Sim.At(50*time.Millisecond, func() {
				if _, err := tr.Cc.OpenSubflow(bed.Sim.Now(), netip.AddrPortFrom(a[1], 0), netip.AddrPortFrom(b[1], 5001), false); err != nil {
					t.Error(err)
				}
				bed.Topo.A.Wake()
			})
			// The longest time without in-order progress at the receiver
			// from 1 s on.
			var lastAt, stall time.Duration
			var lastN int
			var tick func()
			tick = func() {
				now := bed.Sim.Now()
				if len(tr.GotUp) > lastN {
					lastN, lastAt = len(tr.GotUp), now
				}
				stall = max(stall, now-lastAt)
				if lastN < size {
					bed.Sim.At(now+time.Millisecond, tick)
				}
			}
			bed.Sim.At(time.Second, func() { lastAt = bed.Sim.Now(); tick() })
			if tc.cutAt > 0 {
				bed.Sim.At(tc.cutAt, func() {
					bed.Topo.Forward[0].SetDown(true)
					bed.Topo.Reverse[0].SetDown(true)
				})
			}
			if msg := tr.Run(time.Minute); msg != "" {
				t.Fatal(msg)
			}
			sfs := tr.Cc.Subflows()
			if len(sfs) != 2 {
				t.Fatalf("%d subflows, want 2", len(sfs))
			}
			share := func(i int) float64 { return float64(sfs[i].Stats.BytesOut) / size }
			t.Logf("subflows carried %.2f and %.2f of the stream (retransmissions included); done at %v; longest stall %v; reinjected %d; stale subflows %d",
				share(0), share(1), tr.DoneAt, stall, tr.Cc.Stats.Reinjected, tr.Cc.Stats.StaleSubflows)
			if tc.cutAt == 0 {
				// The subflow with the longer RTT skips what the other
				// delivered first, a fifth of the stream at 5/20 ms.
				if share(0) < 0.9 || share(1) < 0.75 {
					t.Errorf("the subflows carried %.2f and %.2f of the stream, want each about all of it", share(0), share(1))
				}
				return
			}
			if share(1) < 0.9 {
				t.Errorf("the surviving subflow carried %.2f of the stream, want about all of it", share(1))
			}
			if stall > 600*time.Millisecond || tr.Cc.Stats.Reinjected != 0 || tr.Cc.Stats.StaleSubflows != 1 {
				t.Errorf("path 0 cut: the receiver stalled for %v (want < 600 ms), %d bytes reinjected (want 0: the other subflow has them), %d stale subflows (want 1)",
					stall, tr.Cc.Stats.Reinjected, tr.Cc.Stats.StaleSubflows)
			}
		})
	}
}

// TestRedundantOutageIdle: with the redundant scheduler, a path that goes
// dark for 1.2 s leaves its subflow holding bytes the peer already
// acknowledged through the other one. While the connection idles between
// the writer's bursts (everything DATA_ACKed, the writer not held back),
// the MPTCP-level timer finds those pinned bytes: that subflow is
// recovering, not dead, so it is not made stale early (checkStalePinning
// acts only when pinned bytes hold the writer back), and once the path is
// back it carries the stream again.
func TestRedundantOutageIdle(t *testing.T) {
	cfg := mptcp.Config{PathManager: "manual", Scheduler: "redundant"}
	bed, err := mptcptest.NewBed(37, []sim.Path{path(20e6, 5*time.Millisecond), path(20e6, 5*time.Millisecond)}, cfg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, b := bed.Topo.AddrsA, bed.Topo.AddrsB
	// Bursts of 256 KiB every 500 ms (about 0.1 s each at 20 Mbit/s).
	const size, bursts, every = 3 << 20, 12, 500 * time.Millisecond
	tr := mptcptest.NewTransfer(bed, 37, size, 0)
	tr.UpLimit = func(now time.Duration) int { return min(size, int(now/every+1)*size/bursts) }
	for i := range bursts {
		bed.Sim.At(time.Duration(i)*every+time.Millisecond, func() {
			bed.ClientHost.App(bed.Sim.Now())
			bed.Topo.A.Wake()
		})
	}
	bed.Sim.At(50*time.Millisecond, func() {
		if _, err := tr.Cc.OpenSubflow(bed.Sim.Now(), netip.AddrPortFrom(a[1], 0), netip.AddrPortFrom(b[1], 5001), false); err != nil {
			t.Error(err)
		}
	})
	const downAt, upAt = 700 * time.Millisecond, 1900 * time.Millisecond
	var outAtUp uint64 // subflow 0's bytes out when its path came back
	bed.Sim.At(downAt, func() {
		bed.Topo.Forward[0].SetDown(true)
		bed.Topo.Reverse[0].SetDown(true)
	})
	bed.Sim.At(upAt, func() {
		bed.Topo.Forward[0].SetDown(false)
		bed.Topo.Reverse[0].SetDown(false)
		if sfs := tr.Cc.Subflows(); len(sfs) == 2 {
			outAtUp = sfs[0].Stats.BytesOut
		}
	})
	if msg := tr.Run(time.Minute); msg != "" {
		t.Fatal(msg)
	}
	sfs := tr.Cc.Subflows()
	if len(sfs) != 2 {
		t.Fatalf("%d subflows, want 2", len(sfs))
	}
	// Written after the path came back: the bursts from 2.0 s on.
	later := size - int(upAt/every+1)*size/bursts
	share := float64(sfs[0].Stats.BytesOut-outAtUp) / float64(later)
	t.Logf("done at %v; stale subflows %d; subflow 0 sent %.2f of the %d bytes written after its path came back (it skips what the other delivered while it was in backoff); reinjected %d",
		tr.DoneAt, tr.Cc.Stats.StaleSubflows, share, later, tr.Cc.Stats.Reinjected)
	if tr.Cc.Stats.StaleSubflows != 0 {
		t.Errorf("%d stale subflows, want 0: the writer was never held back", tr.Cc.Stats.StaleSubflows)
	}
	if share < 0.75 {
		t.Errorf("subflow 0 sent %.2f of the stream written after its path came back, want most of it", share)
	}
}

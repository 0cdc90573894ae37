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

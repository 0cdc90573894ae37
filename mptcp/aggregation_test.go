package mptcp_test

import (
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/sim"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/mptcptest"
)

// TestAggregation reproduces the kernel's simult_flows cases in the
// simulator: two paths of 10 and 10 Mbit/s, and 15 and 5 Mbit/s with 1 and
// 25 ms of delay. The goodput measured from 10 to 70 seconds must reach
// 90% of the sum of the link rates (the headers and
// options of each 1500-byte packet cap it near 95%).
func TestAggregation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		r1, r2 float64
		d1, d2 time.Duration
	}{
		{"10+10", 10e6, 10e6, 10 * time.Millisecond, 10 * time.Millisecond},
		{"15+5 1ms/25ms", 15e6, 5e6, time.Millisecond, 25 * time.Millisecond},
	} {
		// In-order delivery lags by what waits in the receive buffer (up
		// to 4 MiB), so the window is long enough to make that small.
		const from, to = 10 * time.Second, 70 * time.Second
		for _, cc := range []string{"cubic", "lia"} {
			t.Run(tc.name+"/"+cc, func(t *testing.T) {
				paths := []sim.Path{
					sim.Symmetric(sim.LinkConfig{Rate: tc.r1, Delay: tc.d1, QueuePackets: 100}),
					sim.Symmetric(sim.LinkConfig{Rate: tc.r2, Delay: tc.d2, QueuePackets: 100}),
				}
				cfg := mptcp.Config{CC: cc}
				bed, err := mptcptest.NewBed(11, paths, cfg, cfg)
				if err != nil {
					t.Fatal(err)
				}
				tr := mptcptest.NewTransfer(bed, 11, 256<<20, 0)
				var at0, at1 int
				bed.Sim.At(from, func() { at0 = len(tr.GotUp) })
				bed.Sim.At(to, func() { at1 = len(tr.GotUp) })
				bed.Sim.Run(to)
				goodput := float64(at1-at0) * 8 / (to - from).Seconds()
				share := goodput / (tc.r1 + tc.r2)
				t.Logf("goodput %.2f Mbit/s = %.1f%% of %.0f Mbit/s; subflows %d, reinjected %d",
					goodput/1e6, 100*share, (tc.r1+tc.r2)/1e6, len(tr.Cc.Subflows()), tr.Cc.Stats.Reinjected)
				if share < 0.90 || share > 1.0 {
					t.Errorf("aggregate goodput %.1f%% of the paths' sum, want ≥ 90%% (and no more than 100%%)", 100*share)
				}
			})
		}
	}
}

package cc

import (
	"math"
	"testing"
	"time"
)

// TestBALIAGainByHand: cwnd 10 and 20 segments, RTT 10 ms and 40 ms, so
// x = 1 and 0.5 segments/ms, Σx = 1.5, x_max = 1, α = 1 and 2. Per MSS
// acknowledged:
//
//	path 2: (0.5 + 1)(2 + 1)/(10·20·1.5²) = 4.5/450 = 0.01
//	        = x/(τ·(Σx)²)·(1+α)/2·(4+α)/5 = 0.5/(40·2.25)·1.5·1.2
//	path 1: (1 + 1)(4 + 1)/(10·10·1.5²)   = 10/225  = 0.0444…
func TestBALIAGainByHand(t *testing.T) {
	_, cs := newCoupled(t, "balia", path{10, 10 * time.Millisecond}, path{20, 40 * time.Millisecond})
	paper := func(x, tau, sumX, alpha float64) float64 {
		return x / (tau * sumX * sumX) * (1 + alpha) / 2 * (4 + alpha) / 5
	}
	for i, want := range []float64{10.0 / 225, 0.01} {
		got := gainOf(cs[i])
		if math.Abs(got-want) > 1e-15 {
			t.Errorf("path %d: gain %v per MSS, want %v", i+1, got, want)
		}
		x, tau, alpha := []float64{1, 0.5}[i], []float64{10, 40}[i], []float64{1, 2}[i]
		if p := paper(x, tau, 1.5, alpha); math.Abs(got-p) > 1e-15 {
			t.Errorf("path %d: gain %v, the paper's form gives %v", i+1, got, p)
		}
	}
	// Path 2 grows by one MSS per 100 MSS acknowledged.
	c, n := cs[1], 0
	for c.Window() == 20*mss {
		c.OnAck(0, Ack{Bytes: mss, RTT: 40 * time.Millisecond})
		n++
	}
	if n != 100 {
		t.Errorf("path 2 grew after %d MSS acknowledged, want 100", n)
	}
}

// TestBALIADecrease: w −= (w/2)·min(α_r, 1.5) on FlightSize, with the real
// α_r = x_max/x_r.
func TestBALIADecrease(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name     string
		paths    []path
		lossOn   int
		inFlight int // segments
		want     int // segments
	}{
		// α = 1 on the fastest path: Reno's halving.
		{"fastest", []path{{10, 10 * ms}, {20, 40 * ms}}, 0, 10, 5},
		// α = 2 → min(2, 1.5): a quarter of the window is kept.
		{"half rate", []path{{10, 10 * ms}, {20, 40 * ms}}, 1, 20, 5},
		// x = 1 and 0.8: α = 1.25 → 1 − 0.625 = 0.375 is kept. mptcp.org's
		// integer α (1) would halve, to 16.
		{"α 1.25", []path{{10, 10 * ms}, {32, 40 * ms}}, 1, 32, 12},
		// The floor of two segments.
		{"floor", []path{{10, 10 * ms}, {20, 40 * ms}}, 1, 4, 2},
	}
	for _, tc := range cases {
		_, cs := newCoupled(t, "balia", tc.paths...)
		c := cs[tc.lossOn]
		c.OnCongestion(0, tc.inFlight*mss)
		if c.Window() != tc.want*mss || c.SSThresh() != tc.want*mss {
			t.Errorf("%s: cwnd %d ssthresh %d after the loss, want %d segments",
				tc.name, c.Window(), c.SSThresh(), tc.want)
		}
		_, cs = newCoupled(t, "balia", tc.paths...)
		c = cs[tc.lossOn]
		c.OnRTO(0, tc.inFlight*mss)
		if c.Window() != mss || c.SSThresh() != tc.want*mss {
			t.Errorf("%s RTO: cwnd %d ssthresh %d, want one segment and %d", tc.name, c.Window(), c.SSThresh(), tc.want)
		}
	}
}

// TestLIAOLIAHalve: LIA and OLIA keep Reno's loss response whatever the
// rates.
func TestLIAOLIAHalve(t *testing.T) {
	for _, name := range []string{"lia", "olia"} {
		_, cs := newCoupled(t, name, path{10, 10 * time.Millisecond}, path{20, 40 * time.Millisecond})
		cs[1].OnCongestion(0, 21*mss)
		if cs[1].Window() != 21*mss/2 || cs[1].SSThresh() != 21*mss/2 {
			t.Errorf("%s: window %d after a loss with 21 MSS in flight, want %d", name, cs[1].Window(), 21*mss/2)
		}
	}
}

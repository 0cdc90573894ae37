package cc

import (
	"math"
	"testing"
	"time"
)

// setLoss gives c the inter-loss distance ℓ (bytes since the last loss,
// none before).
func setLoss(c *Coupled, l int64) { c.sinceLoss, c.lastInterval = l, 0 }

// TestOLIASets checks B (best ℓ/rtt²), M (largest window) and α_r.
//
//	A: 20 segments, 10 ms, ℓ = 100 kB  → ℓ/rtt² = 1000 (per ms²), in M
//	B: 10 segments, 10 ms, ℓ = 200 kB  → 2000, the best path, not in M
//	C: 10 segments, 20 ms, ℓ = 200 kB  → 500
//
// |R| = 3, B\M = {B}, M = {A}: α_A = −1/3, α_B = +1/3, α_C = 0.
func TestOLIASets(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name  string
		paths []path
		loss  []int64
		want  []float64
	}{
		{"best not largest", []path{{20, 10 * ms}, {10, 10 * ms}, {10, 20 * ms}},
			[]int64{100e3, 200e3, 200e3}, []float64{-1.0 / 3, 1.0 / 3, 0}},
		// C ties with B exactly (800e3/20² = 200e3/10²): |B\M| = 2.
		{"tie in B", []path{{20, 10 * ms}, {10, 10 * ms}, {10, 20 * ms}},
			[]int64{100e3, 200e3, 800e3}, []float64{-1.0 / 3, 1.0 / 6, 1.0 / 6}},
		// The best path has the largest window: B\M = ∅, all α = 0.
		{"best is largest", []path{{20, 10 * ms}, {10, 10 * ms}, {10, 20 * ms}},
			[]int64{300e3, 200e3, 200e3}, []float64{0, 0, 0}},
		// Two paths share the largest window: |M| = 2.
		{"two largest", []path{{20, 10 * ms}, {20, 20 * ms}, {10, 10 * ms}, {10, 40 * ms}},
			[]int64{100e3, 100e3, 200e3, 100e3}, []float64{-1.0 / 8, -1.0 / 8, 1.0 / 4, 0}},
	}
	for _, tc := range cases {
		g, cs := newCoupled(t, "olia", tc.paths...)
		for i, c := range cs {
			setLoss(c, tc.loss[i])
		}
		for i, c := range cs {
			if got, _ := g.oliaAlpha(c); math.Abs(got-tc.want[i]) > 1e-15 {
				t.Errorf("%s: α_%d = %v, want %v", tc.name, i, got, tc.want[i])
			}
		}
	}
}

// TestOLIALossInterval: ℓ = max(bytes since the last loss, bytes between
// the last two losses); a loss without progress keeps the old interval.
func TestOLIALossInterval(t *testing.T) {
	g := NewOLIA()
	c := g.NewController(0, mss).(*Coupled)
	ackBytes(c, 100*mss, 0)
	c.OnCongestion(0, 50*mss)
	if c.lastInterval != 100*mss || c.sinceLoss != 0 || c.oliaLoss() != 100*mss {
		t.Fatalf("after a loss: interval %d, since %d", c.lastInterval, c.sinceLoss)
	}
	c.OnRTO(0, 10*mss) // no progress since the loss
	if c.lastInterval != 100*mss {
		t.Errorf("a loss without progress replaced the interval: %d", c.lastInterval)
	}
	ackBytes(c, 30*mss, 0)
	if c.oliaLoss() != 100*mss {
		t.Errorf("ℓ = %d, want the previous interval 100 MSS", c.oliaLoss())
	}
	ackBytes(c, 90*mss, 0)
	if c.oliaLoss() != 120*mss {
		t.Errorf("ℓ = %d, want the current interval 120 MSS", c.oliaLoss())
	}
}

// TestOLIAGainByHand: in the first configuration of TestOLIASets (rates
// W/τ: 2000, 1000 and 500 MSS/s; Σ = 3500), per MSS acknowledged:
//
//	A: (20/0.01²)/3500² − (1/3)/20 = −0.00034   (in M: shrinks)
//	B: (10/0.01²)/3500² + (1/3)/10 = 0.0415     (best: grows, at 0.4× Reno's 1/10)
//	C: (10/0.02²)/3500²            = 0.00204
func TestOLIAGainByHand(t *testing.T) {
	ms := time.Millisecond
	_, cs := newCoupled(t, "olia", path{20, 10 * ms}, path{10, 10 * ms}, path{10, 20 * ms})
	for i, l := range []int64{100e3, 1e12, 200e3} { // B's ℓ stays the best while A is acked
		setLoss(cs[i], l)
	}
	want := []float64{
		(20/0.0001)/(3500*3500) - (1.0/3)/20,
		(10/0.0001)/(3500*3500) + (1.0/3)/10,
		(10 / 0.0004) / (3500 * 3500),
	}
	for i, c := range cs {
		if got := gainOf(c); math.Abs(got-want[i]) > 1e-12 {
			t.Errorf("subflow %d: gain %.9f per MSS, want %.9f", i, got, want[i])
		}
	}
	if want[0] >= 0 {
		t.Fatalf("hand computation: A's gain %v should be negative", want[0])
	}
	// A shrinks by one MSS after 1/|gain| MSS acknowledged (≈ 2940).
	a, n := cs[0], 0
	for a.Window() == 20*mss && n < 10000 {
		a.OnAck(0, Ack{Bytes: mss, RTT: 10 * ms})
		n++
	}
	if a.Window() != 19*mss || math.Abs(float64(n)-1/-want[0]) > 2 {
		t.Errorf("A: window %d after %d MSS acknowledged, want 19 MSS after ≈ %.0f", a.Window(), n, 1/-want[0])
	}
}

// TestCoupledApplyCredit: the credit moves the window by whole segments
// both ways, and a negative increase (OLIA) stops at two segments.
func TestCoupledApplyCredit(t *testing.T) {
	c := NewOLIA().NewController(0, mss).(*Coupled)
	for _, tc := range []struct {
		cwnd, credit       float64 // segments
		wantCwnd, wantLeft float64
	}{
		{10, 2.5, 12, 0.5},
		{10, 0.99, 10, 0.99},
		{10, -0.99, 10, -0.99},
		{4, -1.5, 3, -0.5},
		{3, -5, 2, 0},
		{2, -1, 2, 0},
	} {
		c.cwnd, c.credit = int(tc.cwnd*mss), tc.credit*mss
		c.applyCredit()
		if c.cwnd != int(tc.wantCwnd*mss) || math.Abs(c.credit-tc.wantLeft*mss) > 1e-6 {
			t.Errorf("cwnd %v credit %v: got cwnd %v credit %v segments, want %v and %v",
				tc.cwnd, tc.credit, float64(c.cwnd)/mss, c.credit/mss, tc.wantCwnd, tc.wantLeft)
		}
	}
}

// TestOLIAEqualPathsIsLIA: on identical paths with equal ℓ every path is
// in M, α = 0, and OLIA's increase is LIA's.
func TestOLIAEqualPathsIsLIA(t *testing.T) {
	for _, n := range []int{2, 3, 5} {
		paths := make([]path, n)
		for i := range paths {
			paths[i] = path{40, 25 * time.Millisecond}
		}
		_, olia := newCoupled(t, "olia", paths...)
		_, lia := newCoupled(t, "lia", paths...)
		for i := range olia {
			setLoss(olia[i], 1e6)
			if o, l := gainOf(olia[i]), gainOf(lia[i]); math.Abs(o-l) > 1e-15 {
				t.Errorf("n=%d subflow %d: OLIA gain %v, LIA %v", n, i, o, l)
			}
		}
	}
}

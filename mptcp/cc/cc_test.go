package cc

import (
	"math"
	"testing"
	"time"
)

const mss = 1460

func TestRegistry(t *testing.T) {
	for _, name := range []string{"reno", "cubic"} {
		a, ok := Lookup(name)
		if !ok || a.Name != name || a.Coupled {
			t.Fatalf("Lookup(%q) = %+v, %v", name, a, ok)
		}
		g := a.NewGroup()
		c := g.NewController(0, mss)
		if c.Window() != 10*mss {
			t.Errorf("%s: initial window %d, want IW10 = %d", name, c.Window(), 10*mss)
		}
		g.Remove(c)
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("unknown algorithm found")
	}
	names := Names()
	if len(names) < 2 {
		t.Errorf("Names() = %v", names)
	}
}

// roundTrip acknowledges a whole window in MSS-sized ACKs, as one RTT of a
// bulk flow does.
func roundTrip(c Controller, now time.Duration, rtt time.Duration) {
	w := c.Window()
	for acked := 0; acked+mss <= w; acked += mss {
		c.OnAck(now, Ack{Bytes: mss, RTT: rtt, InFlight: w - acked})
	}
}

func TestRenoSlowStartDoublesPerRTT(t *testing.T) {
	r := NewReno(mss)
	for i := 0; i < 4; i++ {
		before := r.Window()
		roundTrip(r, time.Duration(i)*10*time.Millisecond, 10*time.Millisecond)
		if r.Window() != 2*before {
			t.Fatalf("round %d: window %d → %d, want doubling", i, before, r.Window())
		}
	}
}

// TestRenoByteCounting: RFC 3465 L=2 limits a stretch ACK to two segments
// in slow start, and in congestion avoidance growth depends on bytes, not
// on the number of ACKs.
func TestRenoByteCounting(t *testing.T) {
	r := NewReno(mss)
	r.OnAck(0, Ack{Bytes: 10 * mss})
	if got := r.Window(); got != 12*mss {
		t.Errorf("stretch ACK in slow start: window %d, want %d", got, 12*mss)
	}
	r.OnCongestion(0, 40*mss)
	if r.Window() != 20*mss || r.SSThresh() != 20*mss {
		t.Fatalf("after congestion: cwnd %d ssthresh %d, want both 20 MSS", r.Window(), r.SSThresh())
	}
	// One window's worth of bytes in 4 stretch ACKs grows by one segment.
	for i := 0; i < 4; i++ {
		r.OnAck(0, Ack{Bytes: 5 * mss})
	}
	if got := r.Window(); got != 21*mss {
		t.Errorf("congestion avoidance after one window of bytes: %d, want %d", got, 21*mss)
	}
}

func TestRenoLossAndRTO(t *testing.T) {
	r := NewReno(mss)
	r.OnCongestion(0, 3*mss)
	if r.SSThresh() != 2*mss || r.Window() != 2*mss {
		t.Errorf("small flight: ssthresh %d cwnd %d, want the 2-segment floor", r.SSThresh(), r.Window())
	}
	r = NewReno(mss)
	r.OnRTO(0, 30*mss)
	if r.Window() != mss || r.SSThresh() != 15*mss {
		t.Errorf("RTO: cwnd %d ssthresh %d, want 1 and 15 segments", r.Window(), r.SSThresh())
	}
}

func TestAppLimitedDoesNotGrow(t *testing.T) {
	for _, c := range []Controller{NewReno(mss), NewCubic(mss)} {
		w := c.Window()
		for i := 0; i < 100; i++ {
			c.OnAck(time.Duration(i)*time.Millisecond, Ack{Bytes: mss, RTT: time.Millisecond, AppLimited: true})
		}
		if c.Window() != w {
			t.Errorf("%T grew from %d to %d while app-limited", c, w, c.Window())
		}
	}
}

func TestCubicReductionAndK(t *testing.T) {
	c := NewCubic(mss)
	c.cwnd, c.ssthresh = 100, 50 // in congestion avoidance at 100 segments
	c.OnCongestion(0, 100*mss)
	if got, want := c.Window(), 70*mss; got != want {
		t.Fatalf("after loss: window %d, want β·100 segments = %d", got, want)
	}
	if c.wMax != 100 {
		t.Fatalf("wMax %v, want 100", c.wMax)
	}
	c.OnAck(time.Second, Ack{Bytes: mss, RTT: 10 * time.Millisecond})
	// RFC 9438 eq. 2: K = cbrt((wMax − cwnd)/C) = cbrt(30/0.4).
	if want := math.Cbrt(30 / 0.4); math.Abs(c.k-want) > 1e-9 {
		t.Errorf("K = %v, want %v", c.k, want)
	}
	// Fast convergence: a second loss below wMax remembers less.
	c.cwnd = 80
	c.OnCongestion(2*time.Second, 80*mss)
	if want := 80 * (1 + cubicBeta) / 2; math.Abs(c.wMax-want) > 1e-9 {
		t.Errorf("fast convergence wMax %v, want %v", c.wMax, want)
	}
}

// TestCubicFollowsTheCubicCurve drives a long-RTT flow (where CUBIC is
// above the Reno-friendly estimate) through one epoch: the window is
// concave below wMax, plateaus around K, then grows convexly.
func TestCubicFollowsTheCubicCurve(t *testing.T) {
	c := NewCubic(mss)
	c.cwnd, c.ssthresh = 1000, 500
	c.OnCongestion(0, 1000*mss)
	rtt := 100 * time.Millisecond
	k := math.Cbrt(300 / cubicC) // ≈ 9.09 s
	var atHalfK, atK, atTwoK float64
	for now := time.Duration(0); now < time.Duration(2*k*float64(time.Second)); now += rtt {
		roundTrip(c, now, rtt)
		secs := now.Seconds()
		switch {
		case atHalfK == 0 && secs >= k/2:
			atHalfK = c.cwnd
		case atK == 0 && secs >= k:
			atK = c.cwnd
		}
	}
	atTwoK = c.cwnd
	t.Logf("K=%.2fs: window %.0f at K/2, %.0f at K, %.0f at 2K", k, atHalfK, atK, atTwoK)
	if !(atHalfK > 900 && atHalfK < 1000) {
		t.Errorf("at K/2 the window is %v; the concave region should bring it close to wMax=1000", atHalfK)
	}
	if math.Abs(atK-1000) > 30 {
		t.Errorf("at K the window is %v, want ≈ wMax = 1000", atK)
	}
	// W_cubic(2K) = C·K³ + wMax = 300 + 1000.
	if math.Abs(atTwoK-1300) > 80 {
		t.Errorf("at 2K the window is %v, want ≈ 1300", atTwoK)
	}
}

// TestCubicRenoFriendly: on a short-RTT path the Reno-friendly estimate
// dominates, growing about αcubic segments per RTT after a loss.
func TestCubicRenoFriendly(t *testing.T) {
	c := NewCubic(mss)
	c.cwnd, c.ssthresh = 20, 10
	c.OnCongestion(0, 20*mss)
	start := c.cwnd // 14
	rtt := time.Millisecond
	for i := 1; i <= 10; i++ {
		roundTrip(c, time.Duration(i)*rtt, rtt)
	}
	grown := c.cwnd - start
	if grown < 10*cubicAlpha*0.7 || grown > 10*cubicAlpha*1.5 {
		t.Errorf("10 RTTs grew the window by %.2f segments, want ≈ %.2f (Reno-friendly)", grown, 10*cubicAlpha)
	}
}

func TestCubicRTOAndMSSChange(t *testing.T) {
	c := NewCubic(mss)
	c.OnRTO(0, c.Window())
	if c.Window() != mss || c.SSThresh() != 7*mss {
		t.Errorf("RTO: cwnd %d ssthresh %d, want 1 and 7 segments", c.Window(), c.SSThresh())
	}
	c.SetMSS(mss / 2)
	if c.Window() != mss/2 {
		t.Errorf("after SetMSS the window is %d bytes, want still one segment", c.Window())
	}
	r := NewReno(mss)
	r.SetMSS(1000)
	if r.Window() != 10*1000 {
		t.Errorf("Reno IW after SetMSS(1000): %d, want ten segments", r.Window())
	}
}

func TestControllersAllocateNothingPerAck(t *testing.T) {
	for _, c := range []Controller{NewReno(mss), NewCubic(mss)} {
		now := time.Duration(0)
		if n := testing.AllocsPerRun(1000, func() {
			now += time.Millisecond
			c.OnAck(now, Ack{Bytes: mss, RTT: 5 * time.Millisecond, InFlight: 10 * mss})
		}); n != 0 {
			t.Errorf("%T: %v allocations per ACK", c, n)
		}
	}
}

func BenchmarkOnAck(b *testing.B) {
	for _, name := range []string{"reno", "cubic"} {
		b.Run(name, func(b *testing.B) {
			a, _ := Lookup(name)
			c := a.NewGroup().NewController(0, mss)
			c.OnCongestion(0, 100*mss)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c.OnAck(time.Duration(i)*time.Microsecond, Ack{Bytes: mss, RTT: time.Millisecond})
			}
		})
	}
}

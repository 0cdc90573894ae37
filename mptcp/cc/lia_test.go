package cc

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// liaAlpha is α of RFC 6356 eq. 2 as the group holds it: cwnd_total/K.
func liaAlpha(g *CoupledGroup) float64 {
	if g.stale {
		g.liaRefresh()
	}
	total := 0
	for _, m := range g.members {
		if m.srtt > 0 {
			total += m.cwnd
		}
	}
	return float64(total) / g.liaK
}

// rfcAlpha is RFC 6356 eq. 2 computed directly from windows in segments
// and RTTs in seconds.
func rfcAlpha(segs []float64, rtts []float64) float64 {
	total, best, sum := 0.0, 0.0, 0.0
	for i := range segs {
		total += segs[i]
		best = max(best, segs[i]/(rtts[i]*rtts[i]))
		sum += segs[i] / rtts[i]
	}
	return total * best / (sum * sum)
}

// TestLIAAlphaByHand: cwnd 10 and 20 segments, RTT 10 ms and 40 ms.
//
//	max(cwnd_i/rtt_i²) = max(10/100, 20/1600) = 0.1        (per ms²)
//	Σ cwnd_i/rtt_i     = 10/10 + 20/40       = 1.5          (per ms)
//	α = 30 · 0.1 / 1.5² = 4/3
//
// Per MSS acknowledged, both subflows gain min(α/30, 1/cwnd_i) MSS:
// min(2/45, 1/10) and min(2/45, 1/20), that is 1 MSS per 22.5 MSS.
func TestLIAAlphaByHand(t *testing.T) {
	for i := 0; i < 2; i++ {
		g, cs := newCoupled(t, "lia", path{10, 10 * time.Millisecond}, path{20, 40 * time.Millisecond})
		if a := liaAlpha(g); math.Abs(a-4.0/3) > 1e-12 {
			t.Fatalf("α = %.15f, want 4/3", a)
		}
		if k := g.liaK / mss; math.Abs(k-22.5) > 1e-12 {
			t.Fatalf("cwnd_total/α = %v segments, want 22.5", k)
		}
		c, w := cs[i], cs[i].Window()
		ackBytes(c, 22*mss, c.srtt)
		if c.Window() != w {
			t.Errorf("subflow %d: window %d after 22 MSS acknowledged, want still %d", i, c.Window(), w)
		}
		ackBytes(c, mss, c.srtt)
		if c.Window() != w+mss {
			t.Errorf("subflow %d: window %d after 23 MSS acknowledged, want %d", i, c.Window(), w+mss)
		}
	}
}

// TestLIAAlphaEqualRTTs: with equal RTTs eq. 2 reduces to
// α = max(cwnd_i)/cwnd_total: 1/n for equal windows, more otherwise.
func TestLIAAlphaEqualRTTs(t *testing.T) {
	rtt := 10 * time.Millisecond
	g, _ := newCoupled(t, "lia", path{10, rtt}, path{20, rtt}, path{30, rtt})
	if a := liaAlpha(g); math.Abs(a-0.5) > 1e-12 {
		t.Errorf("α = %v, want 30/60", a)
	}
	g, _ = newCoupled(t, "lia", path{25, rtt}, path{25, rtt}, path{25, rtt}, path{25, rtt})
	if a := liaAlpha(g); math.Abs(a-0.25) > 1e-12 {
		t.Errorf("α = %v, want 1/4", a)
	}
}

// TestLIACapIsReno: RFC 6356 eq. 1 caps each subflow at Reno's increase.
// Subflows of 10 segments at 10 ms and 100 segments at 100 ms:
// cwnd_total/α = (1 + 1)²/0.1 = 40 segments (per ms units), so the
// second, with a 100-segment window, grows exactly as Reno would (one MSS
// per 100 MSS) and the first one MSS per 40 MSS.
func TestLIACapIsReno(t *testing.T) {
	g, cs := newCoupled(t, "lia", path{10, 10 * time.Millisecond}, path{100, 100 * time.Millisecond})
	g.liaRefresh()
	if k := g.liaK / mss; math.Abs(k-40) > 1e-9 {
		t.Fatalf("cwnd_total/α = %v segments, want 40", k)
	}
	if got, want := gainOf(cs[1]), float64(mss)/float64(100*mss); got != want {
		t.Errorf("capped gain %v, want Reno's MSS/cwnd = %v", got, want)
	}
	if got, want := gainOf(cs[0]), 1.0/40; math.Abs(got-want) > 1e-15 {
		t.Errorf("coupled gain %v, want 1/40", got)
	}
	for i, want := range []int{40, 100} {
		c := cs[i]
		w, n := c.Window(), 0
		for c.Window() == w {
			c.OnAck(0, Ack{Bytes: mss, RTT: c.srtt})
			n++
		}
		if n != want {
			t.Errorf("subflow %d grew after %d MSS acknowledged, want %d", i, n, want)
		}
	}
}

// TestLIAMatchesRFCFormula: over random windows and RTTs the gain equals
// RFC 6356 eq. 1 with α from eq. 2, computed independently, and never
// exceeds Reno's MSS/cwnd_i.
func TestLIAMatchesRFCFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 2000; iter++ {
		n := 2 + rng.IntN(7)
		paths := make([]path, n)
		segs, rtts := make([]float64, n), make([]float64, n)
		for i := range paths {
			paths[i] = path{2 + rng.IntN(1000), time.Duration(1+rng.IntN(500000)) * time.Microsecond}
			segs[i], rtts[i] = float64(paths[i].segs), paths[i].rtt.Seconds()
		}
		_, cs := newCoupled(t, "lia", paths...)
		alpha := rfcAlpha(segs, rtts)
		total := sum(segs)
		for i, c := range cs {
			want := min(alpha/total, 1/segs[i]) // per MSS acknowledged, in MSS
			got := gainOf(c)
			if math.Abs(got-want) > 1e-12*want {
				t.Fatalf("iter %d subflow %d of %v: gain %v, RFC 6356 eq. 1 gives %v", iter, i, paths, got, want)
			}
			if got > float64(mss)/float64(c.cwnd) {
				t.Fatalf("iter %d subflow %d: gain %v exceeds Reno's %v", iter, i, got, 1/segs[i])
			}
		}
	}
}

// TestLIARecomputesLazily: K is recomputed only after a window or a
// significant RTT change, so most ACKs cost O(1).
func TestLIARecomputesLazily(t *testing.T) {
	g, cs := newCoupled(t, "lia", path{100, 10 * time.Millisecond}, path{100, 20 * time.Millisecond})
	c := cs[0]
	c.OnAck(0, Ack{Bytes: mss, RTT: 10 * time.Millisecond})
	if g.stale {
		t.Fatal("sums stale after a coupled ACK")
	}
	c.OnAck(0, Ack{Bytes: mss, RTT: 11 * time.Millisecond}) // srtt moves by 1/8 ms: < 1/8
	if g.stale {
		t.Error("a small RTT change invalidated the sums")
	}
	cs[1].OnAck(0, Ack{Bytes: 0, RTT: 60 * time.Millisecond}) // srtt 20 → 25 ms
	if !g.stale {
		t.Error("an RTT change of a quarter did not invalidate the sums")
	}
	c.OnAck(0, Ack{Bytes: mss})
	w := c.Window()
	for c.Window() == w {
		c.OnAck(0, Ack{Bytes: mss})
		if c.Window() == w && g.stale {
			t.Fatal("sums stale without a window change")
		}
	}
	if !g.stale {
		t.Error("a window change did not invalidate the sums")
	}
}

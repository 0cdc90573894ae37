package cc

// BALIA, the Balanced Linked Adaptation algorithm (Peng, Walid, Hwang,
// Low, "Multipath TCP: Analysis, Design, and Implementation", IEEE/ACM
// ToN 24(1), 2016; formulas as in mptcp.org's mptcp_balia.c). With the
// rate x_r = w_r/τ_r and α_r = max_k x_k / x_r ≥ 1, for each ACK on path
// r in congestion avoidance (windows in segments):
//
//	w_r += x_r/(τ_r·(Σ_k x_k)²) · (1+α_r)/2 · (4+α_r)/5
//	     = (x_r + x_max)(4·x_r + x_max) / (10·w_r·(Σ_k x_k)²)
//
// and on a loss on r:
//
//	w_r −= (w_r/2) · min(α_r, 1.5)
//
// With one path (α = 1) both are Reno's. In bytes, with x in bytes/s, the
// growth per acknowledged byte is MSS_r·(x_r+x_max)(4x_r+x_max)/(10·W_r·(Σx)²).
// The sums are cached in the group and recomputed, O(n), after a window or
// RTT change, as for LIA: O(1) amortized per ACK.
//
// The decrease uses the real ratio α_r. mptcp.org computes α by integer
// division before scaling it (alpha = max_rate/rate, then alpha <<
// alpha_scale), so there the factor is 1 or 1.5 and nothing in between;
// the scaling step shows that a fixed-point α was intended, and the
// paper's decrease is continuous in α_r. The real ratio avoids a jump
// from halving to keeping a quarter of the window when x_r crosses
// x_max/2. As with Reno here, the decrease applies to FlightSize (the
// engine's inFlight), so that α_r = 1 gives exactly Reno's
// max(FlightSize/2, 2·MSS).

// baliaRefresh recomputes the rates and their sum and maximum over the
// subflows with an RTT sample.
func (g *CoupledGroup) baliaRefresh() {
	sum, top := 0.0, 0.0
	for _, m := range g.members {
		if m.srtt <= 0 {
			continue
		}
		m.rttUsed = m.srtt
		m.x = float64(m.cwnd) / m.rttSeconds()
		sum += m.x
		top = max(top, m.x)
	}
	g.sumX, g.maxX = sum, top
	g.stale = false
}

// baliaGain is the window growth of subflow c per acknowledged byte.
func (g *CoupledGroup) baliaGain(c *Coupled) float64 {
	if g.stale {
		g.baliaRefresh()
	}
	x, top, sum := c.x, g.maxX, g.sumX
	return float64(c.mss) * (x + top) * (float64(4*x) + top) / (10 * float64(c.cwnd) * sum * sum)
}

// baliaFactor is min(α_r, 1.5) for c: the fraction of half the window that
// a loss on c removes.
func (g *CoupledGroup) baliaFactor(c *Coupled) float64 {
	if g.stale {
		g.baliaRefresh()
	}
	return min(g.maxX/c.x, 1.5)
}

// baliaReduce is the slow-start threshold after a loss on c with inFlight
// bytes in flight: FlightSize − (FlightSize/2)·min(α_r, 1.5), at least two
// segments.
func (g *CoupledGroup) baliaReduce(c *Coupled, inFlight int) int {
	keep := 1 - float64(g.baliaFactor(c)/2) // in [0.25, 0.5]
	return max(int(float64(inFlight)*keep), minWindow(c.mss))
}

package cc

import "math/bits"

// OLIA, the Opportunistic Linked Increases Algorithm (Khalili, Gast,
// Popovic, Upadhyay, Le Boudec, CoNEXT 2012; formulas as in mptcp.org's
// mptcp_olia.c). For each ACK on path r in congestion avoidance, windows
// w in segments, rtt τ:
//
//	w_r += (w_r/τ_r²) / (Σ_p w_p/τ_p)²  +  α_r/w_r
//
// where, with ℓ_r = max(bytes acknowledged since the last loss on r,
// bytes acknowledged between the last two losses on r),
//
//	B = the paths with the largest ℓ_r/τ_r² (the best paths),
//	M = the paths with the largest window,
//	α_r = +1/(|R|·|B\M|)  if r ∈ B\M,
//	α_r = −1/(|R|·|M|)    if r ∈ M and B\M ≠ ∅,
//	α_r = 0               otherwise,
//
// and R is the set of paths taking part. The first term is LIA's
// α/cwnd_total with the path's own w_r/τ_r² in place of the maximum over
// the paths (on identical paths the two coincide). α moves window from
// the largest paths to the best ones; a window of ACKs on r adds α_r, and
// the α_r sum to zero, so per RTT the aggregate increase is that of the
// first terms. On loss w_r is halved (Reno). In bytes, per acknowledged
// byte on r, the growth is MSS_r·(W_r/τ_r²)/(Σ W_p/τ_p)² + α_r·MSS_r/W_r
// with W in bytes; with a single path this is Reno's MSS/W.
//
// ℓ changes with every ACK, so B and α are recomputed on every ACK: O(n)
// per ACK by nature, in two passes over the subflows. ℓ_r/τ_r² is compared
// exactly, in 128-bit integers with τ in microseconds, so that equal
// paths tie as the definition of B requires.

// oliaCmp compares ℓa/τa² with ℓb/τb² (τ in µs): +1, 0 or −1.
func oliaCmp(la, ta, lb, tb uint64) int {
	ah, al := bits.Mul64(la, tb*tb)
	bh, bl := bits.Mul64(lb, ta*ta)
	switch {
	case ah > bh || ah == bh && al > bl:
		return 1
	case ah == bh && al == bl:
		return 0
	}
	return -1
}

// oliaLoss is ℓ of c in bytes.
func (c *Coupled) oliaLoss() uint64 { return uint64(max(c.sinceLoss, c.lastInterval)) }

// oliaRTT is srtt in microseconds, at least 1 and below 2³² so that its
// square fits 64 bits (71 minutes).
func (c *Coupled) oliaRTT() uint64 {
	return uint64(min(max(c.srtt.Microseconds(), 1), 1<<32-1))
}

// oliaAlpha returns α_r for c and Σ_p W_p/τ_p (bytes/s) over the subflows
// that take part.
func (g *CoupledGroup) oliaAlpha(c *Coupled) (alpha, rateSum float64) {
	// Pass 1: the largest window, the best ℓ/τ², the rate sum.
	maxW, n := 0, 0
	var bestL, bestT uint64
	for _, m := range g.members {
		if m.srtt <= 0 {
			continue
		}
		n++
		rateSum += float64(m.cwnd) / m.rttSeconds()
		maxW = max(maxW, m.cwnd)
		if l, t := m.oliaLoss(), m.oliaRTT(); bestT == 0 || oliaCmp(l, t, bestL, bestT) > 0 {
			bestL, bestT = l, t
		}
	}
	// Pass 2: |M| and |B\M|.
	inM, inBnotM := 0, 0
	for _, m := range g.members {
		switch {
		case m.srtt <= 0:
		case m.cwnd == maxW:
			inM++
		case oliaCmp(m.oliaLoss(), m.oliaRTT(), bestL, bestT) == 0:
			inBnotM++
		}
	}
	switch {
	case inBnotM == 0:
		alpha = 0
	case c.cwnd == maxW:
		alpha = -1 / float64(n*inM)
	case oliaCmp(c.oliaLoss(), c.oliaRTT(), bestL, bestT) == 0:
		alpha = 1 / float64(n*inBnotM)
	}
	return alpha, rateSum
}

// oliaGain is the window growth of subflow c per acknowledged byte; it is
// negative when α_r outweighs the first term.
func (g *CoupledGroup) oliaGain(c *Coupled) float64 {
	alpha, sum := g.oliaAlpha(c)
	rtt, w, mss := c.rttSeconds(), float64(c.cwnd), float64(c.mss)
	return mss*w/(rtt*rtt)/(sum*sum) + alpha*mss/w
}

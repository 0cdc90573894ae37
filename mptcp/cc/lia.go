package cc

// LIA, the Linked Increases Algorithm (RFC 6356 §3). For each ACK in
// congestion avoidance on subflow i, in bytes:
//
//	cwnd_i += min(α·bytes_acked·MSS_i/cwnd_total, bytes_acked·MSS_i/cwnd_i)   (eq. 1)
//	α = cwnd_total · max_i(cwnd_i/rtt_i²) / (Σ_i cwnd_i/rtt_i)²                (eq. 2)
//
// The first term couples the subflows so that, in equilibrium, the
// connection takes no more than one TCP would on the best of its paths
// (goals 1 and 2 of RFC 6356 §1); the second caps each subflow at what
// Reno would do on that path. Both terms share the factor
// bytes_acked·MSS_i, so the gain per acknowledged byte is
//
//	MSS_i / max(K, cwnd_i),  K = cwnd_total/α = (Σ cwnd_i/rtt_i)² / max(cwnd_i/rtt_i²)
//
// and only K depends on the other subflows (mptcp.org keeps the same
// quantity, as "ACKs per +1", in fixed point). K is cached in the group
// and recomputed, O(n), at the first congestion-avoidance ACK after any
// window or RTT change: about once per window of ACKs per subflow in
// steady state, so the work per ACK is O(1) amortized (RFC 6356 §4 lets α
// be computed less often than per ACK).

// liaRefresh recomputes K over the subflows with an RTT sample.
func (g *CoupledGroup) liaRefresh() {
	sum, best := 0.0, 0.0
	for _, m := range g.members {
		if m.srtt <= 0 {
			continue
		}
		m.rttUsed = m.srtt
		rtt := m.rttSeconds()
		t := float64(m.cwnd) / rtt // cwnd_i/rtt_i
		sum += t
		best = max(best, t/rtt) // cwnd_i/rtt_i²
	}
	g.liaK = sum * sum / best
	g.stale = false
}

// liaGain is the window growth of subflow c per acknowledged byte
// (RFC 6356 eq. 1 divided by bytes_acked).
func (g *CoupledGroup) liaGain(c *Coupled) float64 {
	if g.stale {
		g.liaRefresh()
	}
	return float64(c.mss) / max(g.liaK, float64(c.cwnd))
}

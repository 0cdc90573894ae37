package tcp

import "time"

// HandleTimeout runs the timers due at now (RFC 9293 §3.8, RFC 6298).
func (c *Conn) HandleTimeout(now time.Duration) {
	for t := timerKind(0); t < numTimers; t++ {
		if !c.isArmed(t) || c.deadline[t] > now {
			continue
		}
		c.disarm(t)
		switch t {
		case timerRetransmit:
			c.onRetransmitTimeout(now)
		case timerDelayedAck:
			if c.ackPending {
				c.ackNow = true
			}
		case timerPersist:
			if c.sndWnd == 0 && c.sndEnd > c.sndNxt {
				c.probePending = true
				c.persistBackoff++
				c.arm(timerPersist, now+c.persistTimeout())
			}
		case timerKeepalive:
			c.onKeepalive(now)
		case timerClose:
			c.enterClosed(now, nil)
		}
		if c.state == Closed {
			return
		}
	}
}

// onRetransmitTimeout handles an RTO expiry (RFC 6298 §5.4–5.6): back off,
// collapse the window, and resend from SND.UNA (go-back-N, skipping what
// is SACKed is not assumed: the SACK information is discarded, as RFC
// 6675 §5.1 allows, which also covers a receiver that reneged).
func (c *Conn) onRetransmitTimeout(now time.Duration) {
	switch c.state {
	case SynSent, SynReceived:
		limit, linear := c.cfg.SYNRetries, 0
		if c.state == SynSent {
			linear = max(c.cfg.SYNLinearTimeouts, 0)
			limit += linear
		}
		if c.synRetries >= limit {
			c.enterClosed(now, ErrTimeout)
			return
		}
		c.synRetries++
		if c.synRetries > linear {
			c.rtt.backOff()
		}
		c.synPending = true
		c.Stats.RTOs++
		return
	case Closed, TimeWait:
		return
	}
	if c.sndMax == c.sndUna {
		return
	}
	if c.retries >= c.cfg.Retries {
		c.enterClosed(now, ErrTimeout)
		return
	}
	c.retries++
	c.Stats.RTOs++
	c.cc.OnRTO(now, c.InFlight())
	c.rtt.backOff()
	c.inRecovery, c.rxmitNow = false, false
	c.rtoRecovery = true
	c.recoveryPoint = c.sndMax
	c.sndNxt = c.sndUna
	if c.retries > 1 {
		// The first timeout keeps the SACK scoreboard, so the go-back-N
		// resend skips what the receiver holds (RFC 6675 §5.1 allows it;
		// Linux does it). A second one in a row drops it, in case the
		// receiver reneged on what it SACKed (RFC 2018 §8).
		c.sacked.reset()
	}
	c.dupAcks = 0
	c.rttTiming = false
	c.arm(timerRetransmit, now+c.rtt.current())
	c.owner.Event(now, Event{Kind: EventRTO})
}

// armKeepalive (re)starts the keepalive timer after activity.
func (c *Conn) armKeepalive(now time.Duration) {
	if c.cfg.KeepaliveIdle > 0 && c.state.synchronized() && c.state != TimeWait {
		c.arm(timerKeepalive, c.lastRecv+c.cfg.KeepaliveIdle)
	}
}

// onKeepalive probes an idle connection (RFC 9293 §3.8.4) and gives up
// after KeepaliveCount unanswered probes.
func (c *Conn) onKeepalive(now time.Duration) {
	if now-c.lastRecv < c.cfg.KeepaliveIdle {
		c.arm(timerKeepalive, c.lastRecv+c.cfg.KeepaliveIdle)
		return
	}
	if c.kaProbes >= c.cfg.KeepaliveCount {
		c.rstPending = true
		c.enterClosed(now, ErrKeepalive)
		return
	}
	c.kaProbes++
	c.probePending = true
	c.arm(timerKeepalive, now+c.cfg.KeepaliveInterval)
}

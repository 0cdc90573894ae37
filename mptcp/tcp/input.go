package tcp

import (
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// maxNewRanges bounds how many new-data pieces one segment can contain
// (a segment spanning several out-of-order ranges).
const maxNewRanges = 8

// rxPlan is what a segment's payload contributes, computed before the
// checksum is known so that the payload is read once: copied where it is
// new, summed where it is not.
type rxPlan struct {
	n     int
	piece [maxNewRanges]struct {
		off  uint64 // receive offset
		size int
		sum  cksum.Partial
	}
}

// Handle processes one received segment addressed to this connection (the
// endpoint has demultiplexed it by 4-tuple). seg and its buffer are used
// only during the call. The checksum is verified here, fused with the copy
// of the payload into the owner's storage; a segment that fails it is
// counted and ignored.
func (c *Conn) Handle(now time.Duration, seg *wire.Segment) {
	c.Stats.SegsIn++
	switch c.state {
	case Closed:
		return
	case SynSent:
		c.handleSynSent(now, seg)
		return
	}
	t := seg.TCP
	flags := t.Flags()
	payloadLen := seg.PayloadLen()
	segOff, ok := c.rcvOffset(Seq(t.Seq()))
	if !ok {
		c.Stats.Unacceptable++
		return
	}
	dataOff := segOff
	if flags&wire.FlagSYN != 0 {
		dataOff++
	}
	segLen := payloadLen
	if flags&wire.FlagSYN != 0 {
		segLen++
	}
	if flags&wire.FlagFIN != 0 {
		segLen++
	}
	acceptable := c.acceptable(segOff, segLen)

	// Read the payload once: copy what is new and in the window into the
	// owner's storage, sum the rest, then verify the checksum.
	var plan rxPlan
	receiving := acceptable && flags&wire.FlagRST == 0 && flags&wire.FlagSYN == 0 &&
		payloadLen > 0 && c.canReceive()
	var sum cksum.Partial
	if receiving {
		sum = c.readPayload(dataOff, seg, &plan)
	} else {
		sum = seg.PayloadSum()
	}
	if !seg.ChecksumOK(sum) {
		c.Stats.BadChecksum++
		return
	}
	c.lastRecv = now
	c.kaProbes = 0

	// PAWS (RFC 7323 §5.3): an old timestamp marks a stale duplicate.
	if c.tsOK && seg.Options.Has.Has(wire.OptTimestamps) && flags&wire.FlagRST == 0 &&
		int32(seg.Options.TSVal-c.tsRecent) < 0 {
		c.Stats.PAWSDrops++
		c.ackNow = true
		return
	}
	if !acceptable {
		// RFC 9293 §3.10.7.4: answer with an ACK (unless it is a RST). An
		// out-of-window pure ACK is answered at most every 500 ms, as
		// Linux does (tcp_invalid_ratelimit), so that two confused peers
		// cannot ping-pong ACKs forever.
		c.Stats.Unacceptable++
		if flags&wire.FlagRST == 0 {
			if segLen > 0 || c.lastOOWAck == 0 || now-c.lastOOWAck >= 500*time.Millisecond {
				c.lastOOWAck = now
				c.ackNow = true
			}
		}
		return
	}

	// RST (RFC 5961 §3.2): only an exact match resets; anything else in
	// the window gets a challenge ACK.
	if flags&wire.FlagRST != 0 {
		if segOff != c.rcvNxt {
			c.challengeACK(now)
			return
		}
		c.Stats.ResetsIn++
		c.owner.SegmentReceived(now, seg)
		c.enterClosed(now, ErrReset)
		return
	}
	// SYN (RFC 5961 §4): in SYN-RECEIVED a retransmitted SYN repeats the
	// SYN/ACK; otherwise a challenge ACK.
	if flags&wire.FlagSYN != 0 {
		if c.state == SynReceived && segOff == 0 {
			c.synPending = true
			return
		}
		c.challengeACK(now)
		return
	}
	if flags&wire.FlagACK == 0 {
		return // RFC 9293 §3.10.7.4, fifth check
	}
	if c.tsOK && seg.Options.Has.Has(wire.OptTimestamps) &&
		int32(seg.Options.TSVal-c.tsRecent) >= 0 && segOff <= c.lastAckSent {
		c.tsRecent = seg.Options.TSVal // RFC 7323 §4.3
	}

	switch c.owner.SegmentReceived(now, seg) {
	case VerdictDrop:
		c.Stats.OwnerDrops++
		return
	case VerdictReset:
		c.resetFromOwner(now)
		return
	}

	if !c.processAck(now, seg, segOff) {
		return
	}
	if c.state == Closed {
		return
	}
	if receiving {
		c.commitPayload(now, &plan, &seg.Options, payloadLen)
		if flags&wire.FlagPSH != 0 && payloadLen > 0 {
			// The sender has nothing more queued for now: an ACK owed for
			// it goes out when the reader drains (Consumed).
			c.pushed = true
		}
	} else if payloadLen > 0 {
		c.Stats.DuplicateData++
		c.ackNow = true // RFC 5681 §4.2: duplicate or out-of-window data gets an immediate ACK
	}
	if flags&wire.FlagFIN != 0 && c.canReceive() {
		c.finOff, c.finSeen = dataOff+uint64(payloadLen), true
	}
	c.maybeFIN(now)
	c.armKeepalive(now)
}

// canReceive reports whether the state accepts data (RFC 9293 §3.10.7.4,
// seventh check). SYN-RECEIVED counts: the ACK that completes the
// handshake may carry data.
func (c *Conn) canReceive() bool {
	switch c.state {
	case SynReceived, Established, FinWait1, FinWait2:
		return !c.finRcvd
	}
	return false
}

// acceptable is the segment acceptability test of RFC 9293 §3.10.7.4.
func (c *Conn) acceptable(off uint64, segLen int) bool {
	wnd := uint64(0)
	if c.rcvAdv > c.rcvNxt {
		wnd = c.rcvAdv - c.rcvNxt
	}
	end := c.rcvNxt + wnd
	if segLen == 0 {
		if wnd == 0 {
			return off == c.rcvNxt
		}
		return off >= c.rcvNxt && off < end
	}
	if wnd == 0 {
		// Zero window: still accept the ACK information of a probe at
		// rcv.nxt, but no data (the plan below takes nothing).
		return off == c.rcvNxt
	}
	last := off + uint64(segLen) - 1
	return (off >= c.rcvNxt && off < end) || (last >= c.rcvNxt && last < end)
}

// readPayload copies the new, in-window parts of the segment's payload
// (data offset dataOff), piece by piece when it arrived in a chain of
// buffers, into the owner, and returns the sum of the whole payload.
func (c *Conn) readPayload(dataOff uint64, seg *wire.Segment, plan *rxPlan) cksum.Partial {
	var sum cksum.Partial
	base := 0 // position of the piece in the payload
	for i := 0; i < seg.NumPieces(); i++ {
		piece := seg.Piece(i)
		sum = c.readPiece(dataOff+uint64(base), piece, base, sum, &seg.Options, plan)
		base += len(piece)
	}
	return sum
}

// readPiece is readPayload for one piece of the payload at position base:
// it adds the piece's sum to sum and returns it.
func (c *Conn) readPiece(dataOff uint64, payload []byte, base int, sum cksum.Partial, opts *wire.Options, plan *rxPlan) cksum.Partial {
	pos := 0
	end := dataOff + uint64(len(payload))
	right := max(c.rcvAdv, c.rcvNxt)
	for pos < len(payload) {
		off := dataOff + uint64(pos)
		// Skip what is already received or outside the window.
		newEnd := end
		skip := false
		switch {
		case off < c.rcvNxt:
			newEnd, skip = min(end, c.rcvNxt), true
		case off >= right:
			newEnd, skip = end, true
		default:
			newEnd = min(end, right)
			if sp, ok := c.ooo.firstAbove(off); ok {
				if sp.start <= off {
					newEnd, skip = min(end, sp.end), true
				} else {
					newEnd = min(newEnd, sp.start)
				}
			}
		}
		n := int(newEnd - off)
		part := payload[pos : pos+n]
		if skip || plan.n == maxNewRanges {
			sum = cksum.CombineAt(sum, cksum.Sum(part, 0), base+pos)
		} else {
			s, accept := c.owner.ReceiveData(off, part, opts)
			sum = cksum.CombineAt(sum, s, base+pos)
			if accept {
				p := &plan.piece[plan.n]
				p.off, p.size, p.sum = off, n, s
				plan.n++
			}
		}
		pos += n
	}
	return sum
}

// commitPayload records the verified new data and schedules the ACK
// (RFC 9293 §3.10.7.4 seventh check, RFC 5681 §4.2 for when to ACK).
func (c *Conn) commitPayload(now time.Duration, plan *rxPlan, opts *wire.Options, segSize int) {
	if plan.n == 0 {
		c.Stats.DuplicateData++
		c.ackNow = true
		return
	}
	outOfOrder, filled := false, false
	for i := 0; i < plan.n; i++ {
		p := &plan.piece[i]
		end := p.off + uint64(p.size)
		if p.off == c.rcvNxt {
			c.owner.CommitData(p.off, p.size, p.sum, opts)
			c.rcvNxt = end
			if c.ooo.n > 0 {
				// The hole below the out-of-order data is (partly) filled.
				if sp, ok := c.ooo.firstAbove(0); ok && sp.start <= c.rcvNxt {
					c.rcvNxt = max(c.rcvNxt, sp.end)
				}
				c.ooo.trimBelow(c.rcvNxt)
				filled = true
			}
			continue
		}
		if _, ok := c.ooo.add(p.off, end); !ok {
			c.Stats.OOORangesFull++
			continue // not recorded, not committed: the peer will resend it
		}
		c.owner.CommitData(p.off, p.size, p.sum, opts)
		c.oooLast = span{p.off, end}
		outOfOrder = true
	}
	c.Stats.BytesIn += uint64(segSize)
	if outOfOrder {
		c.Stats.OutOfOrder++
	}
	if segSize > c.rcvMSS {
		c.rcvMSS = segSize
	} else if segSize < c.rcvMSS {
		c.pushed = true
	}
	// ACK at once on reordering, on filling a hole, during quick-ACK mode,
	// or for every second full-sized segment; else delay.
	c.unackedSegs++
	switch {
	case outOfOrder || filled || c.quickAcks > 0:
		c.ackNow = true
		if c.quickAcks > 0 {
			c.quickAcks--
		}
	case c.unackedSegs >= 2:
		c.ackNow = true
	default:
		c.ackPending = true
		if !c.isArmed(timerDelayedAck) {
			c.arm(timerDelayedAck, now+c.cfg.DelayedAck)
		}
	}
}

// maybeFIN processes the peer's FIN once every byte before it arrived.
func (c *Conn) maybeFIN(now time.Duration) {
	if !c.finSeen || c.finRcvd || c.rcvNxt != c.finOff {
		return
	}
	c.finRcvd = true
	c.rcvNxt++
	c.ackNow = true
	c.owner.Event(now, Event{Kind: EventFIN})
	switch c.state {
	case SynReceived, Established:
		c.state = CloseWait
	case FinWait1:
		if c.finAcked() {
			c.enterTimeWait(now)
		} else {
			c.state = Closing
		}
	case FinWait2:
		c.enterTimeWait(now)
	}
}

func (c *Conn) enterTimeWait(now time.Duration) {
	c.state = TimeWait
	c.armed = 0
	c.arm(timerClose, now+c.cfg.TimeWait)
}

// finAcked reports whether our FIN has been acknowledged.
func (c *Conn) finAcked() bool { return c.finQueued && c.sndUna > c.sndEnd }

// challengeACK sends an ACK in answer to a suspicious RST or SYN (RFC
// 5961 §3.2, §4), at most cfg.ChallengeACKs per second (§7).
func (c *Conn) challengeACK(now time.Duration) {
	if now-c.challengeStart >= time.Second {
		c.challengeStart, c.challengeCount = now, 0
	}
	if c.challengeCount >= c.cfg.ChallengeACKs {
		return
	}
	c.challengeCount++
	c.Stats.ChallengeACKs++
	c.ackNow = true
}

func (c *Conn) resetFromOwner(now time.Duration) {
	c.rstPending = true
	c.enterClosed(now, ErrAborted)
}

// processAck is the ACK processing of RFC 9293 §3.10.7.4 (fifth check)
// with RFC 5961 §5 validation, SACK (RFC 2018, RFC 6675), RTT (RFC 6298)
// and congestion control. It returns false when the segment is to be
// dropped.
func (c *Conn) processAck(now time.Duration, seg *wire.Segment, segOff uint64) bool {
	t := seg.TCP
	ackOff, ok := c.ackOffset(Seq(t.Ack()))
	if c.state == SynReceived {
		if !ok || ackOff <= c.sndUna || ackOff > c.sndMax {
			// RFC 9293: <SEQ=SEG.ACK><CTL=RST> for an unacceptable ACK.
			c.resetReply, c.hasResetReply = Seq(t.Ack()), true
			c.rstPending = true
			return false
		}
		c.establish(now)
	}
	if !ok || ackOff > c.sndMax {
		c.Stats.AckBeyondSent++
		c.ackNow = true // RFC 5961 §5.2: ACK and drop
		return false
	}
	if c.sndUna > uint64(c.maxSndWnd) && ackOff < c.sndUna-uint64(c.maxSndWnd) {
		c.challengeACK(now)
		return false
	}
	window := int(t.Window()) << c.sndShift
	before := c.InFlight()

	newSACK := 0
	if c.sackOK && seg.Options.Has.Has(wire.OptSACK) {
		newSACK = c.updateSACK(seg.Options.Blocks(), ackOff)
	}

	switch {
	case ackOff > c.sndUna:
		c.ackNewData(now, ackOff, before)
	case ackOff == c.sndUna && seg.PayloadLen() == 0 && window == c.sndWnd &&
		c.sndMax > c.sndUna && t.Flags()&(wire.FlagFIN|wire.FlagSYN) == 0:
		// A duplicate ACK (RFC 5681 §2).
		c.dupAcks++
		c.Stats.DupAcks++
	}
	if newSACK > 0 || c.dupAcks > 0 {
		c.detectLoss(now)
	}

	// Window update (RFC 9293 §3.10.7.4: SND.WL1/SND.WL2 rule).
	segSeq := Seq(t.Seq())
	if c.sndWl1.LT(segSeq) || (c.sndWl1 == segSeq && c.sndWl2 <= ackOff) {
		c.sndWnd = window
		c.maxSndWnd = max(c.maxSndWnd, window)
		c.sndWl1, c.sndWl2 = segSeq, ackOff
		if window > 0 {
			c.disarm(timerPersist)
			c.persistBackoff = 0
		}
	}
	_ = segOff

	if c.finAcked() {
		switch c.state {
		case FinWait1:
			c.state = FinWait2
		case Closing:
			c.enterTimeWait(now)
		case LastAck:
			c.enterClosed(now, nil)
			return false
		}
	}
	return true
}

// establish completes the handshake.
func (c *Conn) establish(now time.Duration) {
	c.state = Established
	c.synRetries = 0
	c.owner.Event(now, Event{Kind: EventEstablished})
}

// ackNewData handles an ACK that advances SND.UNA.
func (c *Conn) ackNewData(now time.Duration, ackOff uint64, before int) {
	// Bytes of data acknowledged (the SYN at offset 0 and the FIN at
	// sndEnd occupy sequence space but carry no data).
	lo, hi := max(c.sndUna, 1), min(ackOff, c.sndEnd)
	acked := 0
	if hi > lo {
		acked = int(hi - lo)
	}
	c.sndUna = ackOff
	if c.sndNxt < c.sndUna {
		c.sndNxt = c.sndUna
	}
	c.sacked.trimBelow(c.sndUna)
	c.dupAcks = 0
	c.retries = 0
	var rtt time.Duration
	if c.rttTiming && ackOff >= c.rttOff {
		rtt = now - c.rttStart
		c.rtt.sample(rtt)
		c.rttTiming = false
	}
	c.rtt.backoff = 0
	switch {
	case c.rtoRecovery:
		// After a timeout the window restarts from one segment in slow
		// start (RFC 5681 §3.1): every ACK of the go-back-N resend grows
		// it, as Linux's CA_Loss state does. Only fast recovery holds the
		// window at ssthresh.
		if ackOff >= c.recoveryPoint {
			c.rtoRecovery = false
		}
		c.cc.OnAck(now, ccAck(acked, rtt, before, c.appLimited))
	case c.inRecovery:
		if ackOff >= c.recoveryPoint {
			c.inRecovery = false
			c.cc.OnRecoveryEnd(now)
		} else if !c.sackOK {
			// NewReno partial ACK (RFC 6582 §3.2 step 3): the next hole
			// starts at the new SND.UNA; retransmit it at once.
			c.highRxt = c.sndUna
			c.rxmitNow = true
		}
	default:
		c.cc.OnAck(now, ccAck(acked, rtt, before, c.appLimited))
	}
	if c.sndMax > c.sndUna {
		c.arm(timerRetransmit, now+c.rtt.current())
	} else {
		c.disarm(timerRetransmit)
	}
	if acked > 0 {
		c.owner.Event(now, Event{Kind: EventAcked, Bytes: acked, RTT: rtt})
	}
}

// updateSACK records the blocks of an ACK and returns the newly SACKed
// bytes. Blocks below the ACK (D-SACK, RFC 2883) or beyond what was sent
// are ignored.
func (c *Conn) updateSACK(blocks []wire.SACKBlock, ackOff uint64) int {
	added := 0
	for _, b := range blocks {
		l, ok1 := c.ackOffset(Seq(b.Left))
		r, ok2 := c.ackOffset(Seq(b.Right))
		if !ok1 || !ok2 || r <= l || l < ackOff || r > c.sndMax {
			continue
		}
		n, _ := c.sacked.add(l, r)
		added += n
	}
	return added
}

// isLost is IsLost of RFC 6675 §4: three discontiguous SACKed ranges, or
// more than two segments' worth of SACKed bytes, above off.
func (c *Conn) isLost(off uint64) bool {
	bytes, ranges := c.sacked.bytesAbove(off + 1)
	return ranges >= 3 || bytes > 2*c.sndMSS
}

// detectLoss enters fast recovery (RFC 6675 §5 step 4; RFC 6582 without
// SACK).
func (c *Conn) detectLoss(now time.Duration) {
	if c.inRecovery || c.rtoRecovery || c.sndMax == c.sndUna {
		return
	}
	if c.dupAcks < 3 && !(c.sackOK && c.isLost(c.sndUna)) {
		return
	}
	flightSize := c.InFlight() // RFC 5681 eq. 4 uses FlightSize
	c.inRecovery = true
	c.recoveryPoint = c.sndMax
	c.highRxt = c.sndUna
	c.rxmitNow = true
	c.Stats.FastRecoveries++
	c.cc.OnCongestion(now, flightSize)
	c.rttTiming = false
	c.owner.Event(now, Event{Kind: EventLoss})
}

// pipe is the RFC 6675 §4 estimate of the bytes in the network.
func (c *Conn) pipe() int {
	if !c.sackOK {
		flight := int(c.sndNxt - c.sndUna)
		if c.inRecovery {
			// NewReno: every duplicate ACK is a segment that left.
			flight -= min(c.dupAcks*c.sndMSS, flight)
			flight += int(c.highRxt - c.sndUna)
		}
		return max(flight, 0)
	}
	p := 0
	pos := c.sndUna
	for _, sp := range c.sacked.spans() {
		if sp.start > pos {
			p += c.holePipe(pos, min(sp.start, c.sndNxt))
		}
		pos = max(pos, sp.end)
	}
	if c.sndNxt > pos {
		p += c.holePipe(pos, c.sndNxt)
	}
	return p
}

// holePipe counts a hole [a, b) of unSACKed bytes: in the network unless
// lost, plus whatever of it was retransmitted.
func (c *Conn) holePipe(a, b uint64) int {
	if b <= a {
		return 0
	}
	p := 0
	if !(c.inRecovery && c.isLost(a)) {
		p += int(b - a)
	}
	if c.inRecovery && c.highRxt > a {
		p += int(min(b, c.highRxt) - a)
	}
	return p
}

// handleSynSent processes a segment in SYN-SENT (RFC 9293 §3.10.7.3).
func (c *Conn) handleSynSent(now time.Duration, seg *wire.Segment) {
	t := seg.TCP
	flags := t.Flags()
	if !seg.ChecksumOK(seg.PayloadSum()) {
		c.Stats.BadChecksum++
		return
	}
	c.lastRecv = now
	ackOK := false
	if flags&wire.FlagACK != 0 {
		if Seq(t.Ack()) != c.iss.Add(1) {
			if flags&wire.FlagRST == 0 {
				c.resetReply, c.hasResetReply = Seq(t.Ack()), true
				c.rstPending = true
			}
			return
		}
		ackOK = true
	}
	if flags&wire.FlagRST != 0 {
		if ackOK {
			c.Stats.ResetsIn++
			c.owner.SegmentReceived(now, seg)
			c.enterClosed(now, ErrRefused)
		}
		return
	}
	if flags&wire.FlagSYN == 0 {
		return
	}
	c.irs = Seq(t.Seq())
	c.rcvNxt = 1
	c.negotiate(&seg.Options)
	if c.tsOK {
		c.tsRecent = seg.Options.TSVal
	}
	c.sndWnd = int(t.Window()) // a SYN's window is never scaled (RFC 7323 §2.2)
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = c.irs, 0
	switch c.owner.SegmentReceived(now, seg) {
	case VerdictDrop:
		c.Stats.OwnerDrops++
		return
	case VerdictReset:
		c.resetFromOwner(now)
		return
	}
	if !ackOK {
		// Simultaneous open (RFC 9293 §3.5, figure 8).
		c.state = SynReceived
		c.synPending = true
		return
	}
	c.sndUna = 1
	if c.sndNxt < 1 {
		c.sndNxt = 1
	}
	if c.rttTiming {
		c.rtt.sample(now - c.rttStart)
		c.rttTiming = false
	}
	c.rtt.backoff = 0
	c.disarm(timerRetransmit)
	c.ackNow = true
	c.establish(now)
	c.armKeepalive(now)
}

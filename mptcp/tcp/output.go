package tcp

import (
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/cc"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// MaxHeaderLen is the most a segment's IP and TCP headers take (IPv6 and
// 40 bytes of options). A PollTransmit buffer must hold it plus the MSS.
const MaxHeaderLen = wire.IPv6HeaderLen + wire.TCPHeaderLen + wire.MaxTCPOptionLen

func ccAck(acked int, rtt time.Duration, inFlight int, appLimited bool) cc.Ack {
	return cc.Ack{Bytes: acked, RTT: rtt, InFlight: inFlight, AppLimited: appLimited}
}

// PollTransmit writes the next segment the connection wants to send, as a
// complete IP packet, into buf and returns its length; 0 means nothing to
// send now. Call it until it returns 0 after every Handle, HandleTimeout
// or application action. buf must hold MaxHeaderLen plus the MSS.
func (c *Conn) PollTransmit(now time.Duration, buf []byte) int {
	if c.rstPending {
		c.rstPending = false
		return c.emitRST(now, buf)
	}
	switch c.state {
	case Closed:
		return 0
	case SynSent:
		if c.synPending {
			c.synPending = false
			return c.emitSYN(now, buf, wire.FlagSYN)
		}
		return 0
	case SynReceived:
		if c.synPending {
			c.synPending = false
			return c.emitSYN(now, buf, wire.FlagSYN|wire.FlagACK)
		}
		return 0 // nothing but the SYN/ACK until the handshake completes
	}
	if c.ackNow && c.state == Established && c.sndMax == 1 && c.sndUna == 1 {
		// The third ACK goes out on its own before any data, as Linux
		// sends it (an MPTCP client's carries MP_CAPABLE with both keys).
		return c.emit(now, buf, wire.FlagACK, c.seqOf(c.sndMax), c.sndMax, 0, false)
	}
	if c.pureACKNow && c.state != TimeWait {
		c.pureACKNow = false
		return c.emit(now, buf, wire.FlagACK, c.seqOf(c.sndMax), c.sndMax, 0, false)
	}
	if c.state != TimeWait && c.state != SynReceived {
		if n := c.sendData(now, buf); n > 0 {
			return n
		}
	}
	if c.probePending {
		c.probePending = false
		// A window or keepalive probe: an ACK with an old sequence number,
		// which the peer must answer (RFC 9293 §3.8.6.1, §3.8.4).
		return c.emit(now, buf, wire.FlagACK, c.seqOf(c.sndUna).Add(-1), 0, 0, false)
	}
	if c.ackNow {
		// A segment without data or SYN/FIN carries SND.MAX, not SND.NXT,
		// which an RTO pulls back: an ACK with an old sequence number would
		// be out of the peer's window (as BSD's tcp_output does).
		return c.emit(now, buf, wire.FlagACK, c.seqOf(c.sndMax), c.sndMax, 0, false)
	}
	return 0
}

// sendData sends one data (or FIN) segment if the windows allow: the
// retransmission that starts fast recovery, then lost holes (RFC 6675
// NextSeg), then new data from SND.NXT.
func (c *Conn) sendData(now time.Duration, buf []byte) int {
	switch c.state {
	case Established, CloseWait, FinWait1, Closing, LastAck:
	default:
		return 0
	}
	if c.rxmitNow {
		// RFC 6675 §5 step 4.3, RFC 6582 §3.2: retransmit the first
		// unacknowledged segment whatever the window says.
		c.rxmitNow = false
		if c.sndUna < c.sndMax {
			return c.sendSegment(now, buf, c.sndUna, c.dataLen(c.sndUna, c.sndMax), true)
		}
	}
	cwnd := c.cc.Window()
	pipe := c.pipe()
	if pipe >= cwnd {
		c.appLimited = false
		return 0
	}
	if c.inRecovery && c.sackOK {
		if off, end, ok := c.nextRetransmission(); ok {
			return c.sendSegment(now, buf, off, c.dataLen(off, end), true)
		}
	}
	// New data, or the go-back-N resend after an RTO, from SND.NXT,
	// skipping what the receiver SACKed.
	off := c.sndNxt
	if sp, ok := c.sacked.firstAbove(off); ok && sp.start <= off {
		off = sp.end
		c.sndNxt = off
	}
	avail := 0
	if c.sndEnd > off {
		avail = int(c.sndEnd - off)
	}
	wantFIN := c.finQueued && off <= c.sndEnd
	if avail == 0 && !wantFIN {
		// Application-limited only if a full segment would have fitted:
		// an owner that feeds whole segments of less than the MSS (MPTCP,
		// whose DSS takes option space) leaves less than a segment of
		// window unused without being the limit (RFC 7661 §3: the window
		// is validated while pipe ≥ cwnd − SMSS).
		c.appLimited = cwnd-pipe >= c.sndMSS
		return 0
	}
	n := min(avail, c.sndMSS)
	if avail > 0 && !c.cfg.SharedWindow {
		usable := int(int64(c.sndUna) + int64(c.sndWnd) - int64(off))
		if usable <= 0 {
			if c.sndMax == c.sndUna && !c.isArmed(timerPersist) {
				c.arm(timerPersist, now+c.persistTimeout())
			}
			return 0
		}
		if n > usable {
			// Sender SWS avoidance (RFC 9293 §3.8.6.2.1): wait for a
			// larger window unless it is half the largest ever seen.
			if usable < c.maxSndWnd/2 {
				return 0
			}
			n = usable
		}
	}
	if c.cfg.Nagle && n > 0 && n < c.sndMSS && n == avail && !wantFIN && c.sndMax > c.sndUna {
		return 0 // RFC 896: hold a small segment while data is unacknowledged
	}
	return c.sendSegment(now, buf, off, n, off < c.sndMax)
}

// dataLen returns the payload of a segment starting at off in a range that
// ends at end: at most one MSS, and never past the data (the FIN that
// follows is a flag, not a byte of payload).
func (c *Conn) dataLen(off, end uint64) int {
	end = min(end, c.sndEnd)
	if end <= off {
		return 0
	}
	return min(int(end-off), c.sndMSS)
}

// persistTimeout is the zero-window probe interval: the RTO with the probe
// backoff, at most 60 s (RFC 9293 §3.8.6.1).
func (c *Conn) persistTimeout() time.Duration {
	d := c.rtt.current()
	for i := uint(0); i < c.persistBackoff && d < 60*time.Second; i++ {
		d *= 2
	}
	return min(d, 60*time.Second)
}

// nextRetransmission returns the first lost hole above HighRxt and below
// the recovery point (RFC 6675 NextSeg rule 1).
func (c *Conn) nextRetransmission() (off, end uint64, ok bool) {
	pos := max(c.sndUna, c.highRxt)
	for pos < c.recoveryPoint {
		sp, found := c.sacked.firstAbove(pos)
		if found && sp.start <= pos {
			pos = sp.end
			continue
		}
		holeEnd := c.recoveryPoint
		if found {
			holeEnd = min(holeEnd, sp.start)
		}
		if c.isLost(pos) {
			return pos, holeEnd, true
		}
		return 0, 0, false
	}
	return 0, 0, false
}

// sendSegment emits the data segment [off, off+n), with the FIN if it
// reaches the end of the data after the owner closed.
func (c *Conn) sendSegment(now time.Duration, buf []byte, off uint64, n int, retransmit bool) int {
	flags := uint8(wire.FlagACK)
	if n > 0 && off+uint64(n) >= c.sndEnd {
		flags |= wire.FlagPSH
	}
	written, sent, fin := c.emitData(now, buf, flags, off, n, retransmit)
	if written == 0 {
		return 0
	}
	end := off + uint64(sent)
	if fin {
		end++
	}
	if retransmit {
		c.Stats.Retransmits++
		if c.rttTiming && off < c.rttOff {
			c.rttTiming = false // Karn's algorithm
		}
		if c.inRecovery {
			c.highRxt = max(c.highRxt, end)
		}
	} else if !c.rttTiming {
		c.rttTiming, c.rttOff, c.rttStart = true, end, now
	}
	if off == c.sndNxt {
		c.sndNxt = end
	}
	c.sndMax = max(c.sndMax, end)
	if !c.isArmed(timerRetransmit) {
		c.arm(timerRetransmit, now+c.rtt.current())
	}
	c.disarm(timerPersist)
	return written
}

// emitSYN sends a SYN or SYN/ACK (offset 0).
func (c *Conn) emitSYN(now time.Duration, buf []byte, flags uint8) int {
	n := c.emit(now, buf, flags, c.iss, 0, 0, c.sndMax > 0)
	if c.sndMax == 0 {
		c.sndMax, c.sndNxt = 1, 1
		c.rttTiming, c.rttOff, c.rttStart = true, 1, now
	} else {
		c.rttTiming = false // Karn
	}
	c.arm(timerRetransmit, now+c.rtt.current())
	return n
}

// emitRST sends a RST: in answer to an unacceptable ACK in SYN-SENT or
// SYN-RECEIVED, <SEQ=SEG.ACK>; otherwise (an abort) <SEQ=SND.NXT> with an
// ACK (RFC 9293 §3.10.7.3, §3.10.5).
func (c *Conn) emitRST(now time.Duration, buf []byte) int {
	if c.hasResetReply {
		c.hasResetReply = false
		return c.emit(now, buf, wire.FlagRST, c.resetReply, 0, 0, false)
	}
	return c.emit(now, buf, wire.FlagRST|wire.FlagACK, c.seqOf(c.sndNxt), c.sndNxt, 0, false)
}

// emitData builds a segment carrying payload [off, off+n); it may send
// less if options leave less room. It returns the packet length and the
// payload bytes sent.
func (c *Conn) emitData(now time.Duration, buf []byte, flags uint8, off uint64, n int, retransmit bool) (written, sent int, fin bool) {
	c.prepareOptions(now, flags)
	finAllowed := c.finQueued
	// Let the owner add its options and cap the length; then make the
	// options and the payload fit the MSS together.
	for pass := 0; ; pass++ {
		c.scratch.outgoing = Outgoing{Flags: flags, Off: off, Len: n, Retransmit: retransmit, Options: &c.scratch.out}
		if finAllowed && off+uint64(n) == c.sndEnd {
			c.scratch.outgoing.Flags |= wire.FlagFIN
		}
		c.scratch.out.Has &^= wire.OptMPTCP
		c.owner.SegmentOptions(now, &c.scratch.outgoing)
		n = min(n, c.scratch.outgoing.Len)
		c.scratch.plan = wire.PlanOptions(&c.scratch.out, c.scratch.outgoing.Flags, n > 0)
		room := c.sndMSS - c.scratch.plan.Len
		if n <= room || pass == 1 {
			n = min(n, max(room, 0))
			break
		}
		n = room
	}
	flags = c.scratch.outgoing.Flags
	if flags&wire.FlagFIN != 0 && off+uint64(n) != c.sndEnd {
		flags &^= wire.FlagFIN // the payload was cut short: the FIN waits
	}
	if n == 0 && flags&wire.FlagFIN == 0 {
		return 0, 0, false
	}
	if flags&wire.FlagFIN != 0 {
		switch c.state {
		case Established:
			c.state = FinWait1
		case CloseWait:
			c.state = LastAck
		}
	}
	return c.write(now, buf, flags, c.seqOf(off), off, n), n, flags&wire.FlagFIN != 0
}

// emit builds a segment without payload.
func (c *Conn) emit(now time.Duration, buf []byte, flags uint8, seq Seq, off uint64, n int, retransmit bool) int {
	c.prepareOptions(now, flags)
	c.scratch.outgoing = Outgoing{Flags: flags, Off: off, Len: 0, Retransmit: retransmit, Options: &c.scratch.out}
	c.owner.SegmentOptions(now, &c.scratch.outgoing)
	c.scratch.plan = wire.PlanOptions(&c.scratch.out, flags, false)
	return c.write(now, buf, flags, seq, off, 0)
}

// prepareOptions fills the TCP options of the next segment.
func (c *Conn) prepareOptions(now time.Duration, flags uint8) {
	o := &c.scratch.out
	o.Has = 0
	o.NumSACK = 0
	if flags&wire.FlagSYN != 0 {
		active := flags&wire.FlagACK == 0
		o.Has |= wire.OptMSS
		o.MSS = uint16(c.cfg.MSS)
		if !c.cfg.NoSACK && (active || c.sackOK) {
			o.Has |= wire.OptSACKPermitted
		}
		if !c.cfg.NoWindowScale && (active || c.wsOK) {
			o.Has |= wire.OptWindowScale
			o.WindowScale = windowShift(c.cfg.MaxWindow)
		}
		if !c.cfg.NoTimestamps && (active || c.tsOK) {
			o.Has |= wire.OptTimestamps
			o.TSVal, o.TSEcr = c.tsNow(now), 0
			if !active {
				o.TSEcr = c.tsRecent
			}
		}
		return
	}
	if c.tsOK && flags&wire.FlagRST == 0 {
		o.Has |= wire.OptTimestamps
		o.TSVal, o.TSEcr = c.tsNow(now), c.tsRecent
	}
	if c.sackOK && c.ooo.n > 0 && flags&wire.FlagACK != 0 && flags&wire.FlagRST == 0 {
		c.fillSACK(o)
	}
}

// fillSACK lists the out-of-order ranges, the most recently changed first
// (RFC 2018 §4).
func (c *Conn) fillSACK(o *wire.Options) {
	o.Has |= wire.OptSACK
	first := -1
	spans := c.ooo.spans()
	for i, sp := range spans {
		if sp.start <= c.oooLast.start && c.oooLast.start < sp.end {
			first = i
			o.SACK[0] = wire.SACKBlock{Left: uint32(c.rcvSeq(sp.start)), Right: uint32(c.rcvSeq(sp.end))}
			o.NumSACK = 1
			break
		}
	}
	for i := len(spans) - 1; i >= 0 && int(o.NumSACK) < wire.MaxSACKBlocks; i-- {
		if i == first {
			continue
		}
		o.SACK[o.NumSACK] = wire.SACKBlock{Left: uint32(c.rcvSeq(spans[i].start)), Right: uint32(c.rcvSeq(spans[i].end))}
		o.NumSACK++
	}
}

// receiveWindowField returns the window field to send and records the
// announced right edge, which never moves left (RFC 9293 §3.8.6.2.2).
func (c *Conn) receiveWindowField(flags uint8) uint16 {
	w := c.announceableWindow()
	if c.rcvAdv > c.rcvNxt+uint64(w) && !c.cfg.SharedWindow {
		// Never shrink the window (RFC 9293 §3.8.6.2.2). A shared window
		// is the owner's to keep: its edge is relative to its own
		// acknowledgment, and holding this subflow's edge as well would
		// offer, summed over the subflows, more than the owner can take.
		w = int(c.rcvAdv - c.rcvNxt)
	}
	if flags&wire.FlagSYN != 0 {
		w = min(w, 0xffff) // never scaled in a SYN (RFC 7323 §2.2)
		c.rcvAdv = max(c.rcvAdv, c.rcvNxt+uint64(w))
		return uint16(w)
	}
	shift := uint(0)
	if c.wsOK {
		shift = uint(c.rcvShift)
	}
	field := w >> shift
	if c.cfg.SharedWindow && w&(1<<shift-1) != 0 {
		// The owner's window is relative to its own acknowledgment (the
		// DATA_ACK, RFC 8684 §3.3.4), which moves independently of this
		// subflow: rounding down would pull that edge back by up to
		// 2^shift−1 bytes, so round up, as Linux aligns it.
		field++
	}
	field = min(field, 0xffff)
	if c.rcvNxt+uint64(field<<shift) < c.rcvAdv && field < 0xffff && !c.cfg.SharedWindow {
		field++ // round up rather than shrink the edge
	}
	c.rcvAdv = max(c.rcvAdv, c.rcvNxt+uint64(field<<shift))
	return uint16(field)
}

// write serialises the segment into buf: IP header, TCP header, the
// planned options, and n bytes of payload from the owner at offset off,
// with the TCP checksum computed from the copy's sum.
func (c *Conn) write(now time.Duration, buf []byte, flags uint8, seq Seq, off uint64, n int) int {
	ipLen := wire.IPv4HeaderLen
	v6 := !c.local.Addr().Is4()
	if v6 {
		ipLen = wire.IPv6HeaderLen
	}
	tcpb := buf[ipLen:]
	c.scratch.plan.Encode(tcpb[wire.TCPHeaderLen:], &c.scratch.out)
	h := wire.TCPHeader{
		SrcPort: c.local.Port(),
		DstPort: c.remote.Port(),
		Seq:     uint32(seq),
		Flags:   flags,
	}
	if flags&wire.FlagACK != 0 {
		h.Ack = uint32(c.rcvSeq(c.rcvNxt))
	}
	if flags&wire.FlagRST == 0 {
		h.Window = c.receiveWindowField(flags)
	}
	hl := h.Encode(tcpb, c.scratch.plan.Len)
	var sum cksum.Partial
	if n > 0 {
		sum = c.owner.SendData(off, tcpb[hl:hl+n])
	}
	tcpLen := hl + n
	var pseudo cksum.Partial
	if v6 {
		ip := wire.IPv6Header{NextHeader: wire.ProtocolTCP, HopLimit: 64,
			Src: c.local.Addr().As16(), Dst: c.remote.Addr().As16(), PayloadLen: tcpLen}
		ip.Encode(buf)
		pseudo = cksum.IPv6PseudoHeader(ip.Src, ip.Dst, wire.ProtocolTCP, uint32(tcpLen))
	} else {
		ip := wire.IPv4Header{DontFragment: true, TTL: 64, Protocol: wire.ProtocolTCP,
			Src: c.local.Addr().As4(), Dst: c.remote.Addr().As4(), PayloadLen: tcpLen}
		ip.Encode(buf)
		pseudo = cksum.IPv4PseudoHeader(ip.Src, ip.Dst, wire.ProtocolTCP, uint16(tcpLen))
	}
	wire.SetTCPChecksum(tcpb[:hl], pseudo, sum)

	c.Stats.SegsOut++
	c.Stats.BytesOut += uint64(n)
	if flags&wire.FlagACK != 0 {
		c.ackNow, c.ackPending, c.unackedSegs, c.pushed = false, false, 0, false
		c.disarm(timerDelayedAck)
		c.lastAckSent = c.rcvNxt
	}
	return ipLen + tcpLen
}

package mbox

import (
	"time"

	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// ProactiveACK acknowledges data on the receiver's behalf, as
// performance-enhancing proxies on satellite and cellular links do
// (RFC 3135 §2.1.1); it is one of the NSDI'12 paper's Click elements
// (§4.1). For each in-order data segment Select picks it forwards the
// segment and sends the sender a pure ACK for it at once, from the
// receiver's address and port, with the receiver's sequence number and
// timestamps (TSval the receiver's last, TSecr the segment's) when the
// segment had them. It buffers nothing, so it keeps the right edge of the
// window where the receiver put it (its last acknowledgment plus its
// window, scaled as RFC 7323 says) rather than opening it further. The
// ACK carries no MPTCP option: the subflow is acknowledged before the
// data arrives, so data lost beyond the middlebox is recovered only at
// the data level (RFC 8684 §3.3.2; NSDI'12 §3.3.5). Unlike a real PEP it
// neither buffers nor retransmits: a segment lost after it (a full queue
// behind it, link loss) leaves a hole in the subflow that the sender,
// which saw it acknowledged, never fills at the subflow level. The
// receiver's own ACKs pass unchanged; segments whose checksums fail pass
// without an ACK. A direction is acknowledged for once both SYNs and an
// acknowledgment from the receiver were seen.
type ProactiveACK struct {
	Select Selector // the data segments to acknowledge early

	// ACKs counts the acknowledgments sent.
	ACKs uint64

	flows map[Flow]*pepFlow // by the data direction's flow
	p     packet
	buf   [wire.IPv6HeaderLen + wire.TCPHeaderLen + 12]byte
}

// pepFlow is one data direction of a connection: the sender's next
// in-order sequence number and what the receiver last said.
type pepFlow struct {
	next     uint32 // the sender's next in-order sequence number
	sndSYN   bool   // the sender's SYN was seen
	sndWS    bool   // it offered window scaling
	rcvSYN   bool   // the receiver's SYN was seen
	rcvShift int8   // the window scale it offered; -1: none
	rcvNext  uint32 // the receiver's next sequence number
	acked    bool   // the receiver acknowledged something: ack and window hold
	ack      uint32 // its last acknowledgment number
	window   uint16 // its last window field
	synWin   bool   // window came on a SYN, so it is not scaled
	tsVal    uint32 // its last TSval
	ts       bool   // tsVal is set
}

// shift returns the receiver's window scale in effect (RFC 7323 §2.2:
// only when both SYNs offered one).
func (f *pepFlow) shift() uint8 {
	if f.sndWS && f.rcvShift >= 0 {
		return uint8(f.rcvShift)
	}
	return 0
}

// windowFor returns the window field that keeps the receiver's right edge
// when acknowledging up to ack.
func (f *pepFlow) windowFor(ack uint32) uint16 {
	sh := f.shift()
	edge := f.ack + uint32(f.window)
	if !f.synWin {
		edge = f.ack + uint32(f.window)<<sh
	}
	room := int64(int32(edge - ack))
	return uint16(min(max(room, 0)>>sh, 0xffff))
}

// Process implements Middlebox.
func (a *ProactiveACK) Process(now time.Duration, dir Direction, pkt []byte, emit Emit) {
	p := &a.p
	if !p.parse(pkt) {
		emit(dir, pkt)
		return
	}
	f, fl, seq := p.flow(), p.flags(), p.seq()
	n := uint32(len(p.payload()))
	if fl&wire.FlagSYN != 0 && a.flows[f] == nil {
		if a.flows == nil {
			a.flows = map[Flow]*pepFlow{}
		}
		a.flows[f] = &pepFlow{rcvShift: -1}
		if a.flows[f.Reverse()] == nil {
			a.flows[f.Reverse()] = &pepFlow{rcvShift: -1}
		}
	}
	if s := a.flows[f]; s != nil && fl&wire.FlagSYN != 0 {
		s.next, s.sndSYN = seq+1, true
		s.sndWS = p.seg.Options.Has.Has(wire.OptWindowScale)
	}
	// As the receiver of the other direction: its sequence number,
	// acknowledgment, window and timestamp.
	if r := a.flows[f.Reverse()]; r != nil {
		end := seq + n
		if fl&(wire.FlagSYN|wire.FlagFIN) != 0 {
			end++
		}
		if !r.rcvSYN || int32(end-r.rcvNext) > 0 {
			r.rcvNext = end
		}
		if fl&wire.FlagSYN != 0 && !r.rcvSYN {
			r.rcvSYN = true
			if p.seg.Options.Has.Has(wire.OptWindowScale) {
				r.rcvShift = int8(min(p.seg.Options.WindowScale, 14))
			}
		}
		if fl&wire.FlagACK != 0 && (!r.acked || int32(p.ack()-r.ack) >= 0) {
			r.acked, r.ack, r.window, r.synWin = true, p.ack(), p.seg.TCP.Window(), fl&wire.FlagSYN != 0
		}
		if p.seg.Options.Has.Has(wire.OptTimestamps) {
			r.tsVal, r.ts = p.seg.Options.TSVal, true
		}
	}
	s := a.flows[f]
	inOrder := s != nil && s.sndSYN && s.rcvSYN && s.acked && n > 0 && fl&(wire.FlagSYN|wire.FlagRST) == 0 &&
		seq == s.next && p.checksumsOK()
	if !a.Select.match(now, dir, p, inOrder) {
		emit(dir, pkt)
		return
	}
	s.next = seq + n
	tsEcr, ts := p.seg.Options.TSVal, p.seg.Options.Has.Has(wire.OptTimestamps) && s.ts
	v6 := p.v6()
	var src, dst [16]byte
	if v6 {
		src, dst = p.seg.IPv6.Dst(), p.seg.IPv6.Src()
	} else {
		copy(src[:], p.b[16:20])
		copy(dst[:], p.b[12:16])
	}
	sport, dport := p.seg.TCP.DstPort(), p.seg.TCP.SrcPort()
	emit(dir, p.b) // the data first; it may be changed in place from here on

	optLen := 0
	if ts {
		optLen = 12
	}
	b := a.buf[:]
	l4 := wire.IPv4HeaderLen
	if v6 {
		l4 = wire.IPv6HeaderLen
		h := wire.IPv6Header{NextHeader: wire.ProtocolTCP, HopLimit: 64, Src: src, Dst: dst}
		h.Encode(b)
	} else {
		h := wire.IPv4Header{DontFragment: true, TTL: 64, Protocol: wire.ProtocolTCP,
			Src: [4]byte(src[:4]), Dst: [4]byte(dst[:4])}
		h.Encode(b)
	}
	t := wire.TCPHeader{SrcPort: sport, DstPort: dport, Seq: s.rcvNext, Ack: s.next,
		Flags: wire.FlagACK, Window: s.windowFor(s.next)}
	hl := t.Encode(b[l4:], optLen)
	if ts {
		o := b[l4+wire.TCPHeaderLen:]
		o[0], o[1], o[2], o[3] = wire.OptionKindNOP, wire.OptionKindNOP, wire.OptionKindTimestamps, 10
		put32(o[4:], s.tsVal)
		put32(o[8:], tsEcr)
	}
	b = b[:l4+hl]
	finish(b, v6, l4)
	a.ACKs++
	emit(dir.Opposite(), b)
}

package mbox

import (
	"time"

	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// DefaultHold is how long a Coalesce holds a segment when Hold is zero.
const DefaultHold = time.Millisecond

// Coalesce merges two consecutive in-order data segments of a flow into
// one, as traffic normalisers and receive offload do (NSDI'12 §4.1). TCP's
// option space holds one DSS, so the merged segment keeps the first
// segment's options and loses the second's mapping: the receiver gets
// bytes without a mapping, acknowledges them at the subflow level only,
// and the sender retransmits them at the data level (NSDI'12 §3.3.5).
//
// The rule: a data segment (ACK, payload, no SYN, FIN, RST or URG) that
// Select picks and whose checksums verify is held. The next packet of the
// same flow releases it: if that packet is the in-order continuation
// (its sequence number is the held one's end, no SYN, RST or URG, checksums
// good) and the two fit in MaxLen, one merged segment leaves, with the
// first's IP and TCP headers and options, the second's acknowledgment
// number and window, and the second's PSH, FIN and ECE added; otherwise
// the held segment leaves first, unchanged, and the new packet is handled
// as if nothing had been held. A held segment that nothing follows leaves
// unchanged Hold after it arrived. Each flow holds at most one segment.
type Coalesce struct {
	Select Selector      // the segments that may be held
	MaxLen int           // the largest merged IP packet; 0 means 65535
	Hold   time.Duration // the longest a segment waits; 0 means DefaultHold

	// Merges counts merged pairs, Released held segments that left alone.
	Merges, Released uint64

	slots  []*heldSegment // in creation order: released deterministically
	byFlow map[Flow]*heldSegment
	p, q   packet
	out    []byte
}

// heldSegment is a flow's slot for the segment it holds.
type heldSegment struct {
	dir      Direction
	buf      []byte
	held     bool
	deadline time.Duration
}

func (c *Coalesce) maxLen() int {
	if c.MaxLen <= 0 || c.MaxLen > maxIPLen {
		return maxIPLen
	}
	return c.MaxLen
}

// Process implements Middlebox.
func (c *Coalesce) Process(now time.Duration, dir Direction, pkt []byte, emit Emit) {
	p := &c.p
	if !p.parse(pkt) {
		emit(dir, pkt)
		return
	}
	h := c.byFlow[p.flow()]
	if h != nil && h.held {
		h.held = false
		if c.merge(p, h, dir, emit) {
			return
		}
		c.Released++
		emit(h.dir, h.buf)
	}
	fl := p.flags()
	holdable := len(p.payload()) > 0 && len(p.b) < c.maxLen() &&
		fl&(wire.FlagACK|wire.FlagSYN|wire.FlagFIN|wire.FlagRST|wire.FlagURG) == wire.FlagACK
	if !c.Select.match(now, dir, p, holdable) || !p.checksumsOK() {
		emit(dir, pkt)
		return
	}
	if h == nil {
		if c.byFlow == nil {
			c.byFlow = map[Flow]*heldSegment{}
		}
		h = &heldSegment{}
		c.byFlow[p.flow()] = h
		c.slots = append(c.slots, h)
	}
	hold := c.Hold
	if hold <= 0 {
		hold = DefaultHold
	}
	h.buf = append(h.buf[:0], p.b...)
	h.dir, h.held, h.deadline = dir, true, now+hold
}

// merge emits the held segment h merged with p and reports true, or
// reports false when p does not continue it.
func (c *Coalesce) merge(p *packet, h *heldSegment, dir Direction, emit Emit) bool {
	q := &c.q
	if dir != h.dir || !q.parse(h.buf) {
		return false
	}
	fl := p.flags()
	n := len(q.b) + len(p.payload())
	if len(p.payload()) == 0 || fl&(wire.FlagSYN|wire.FlagRST|wire.FlagURG) != 0 || fl&wire.FlagACK == 0 ||
		p.seq() != q.seq()+uint32(len(q.payload())) || n > c.maxLen() || !p.checksumsOK() {
		return false
	}
	c.out = grow(c.out, n)
	out := c.out
	copy(out, q.b)
	copy(out[len(q.b):], p.payload())
	tcp := out[q.l4:]
	put32(tcp[8:], p.ack())
	put16(tcp[14:], p.seg.TCP.Window())
	tcp[13] |= fl & (wire.FlagPSH | wire.FlagFIN | wire.FlagECE)
	finish(out, q.v6(), q.l4)
	c.Merges++
	emit(dir, out)
	return true
}

// NextTimeout implements Timed.
func (c *Coalesce) NextTimeout() (time.Duration, bool) {
	var best time.Duration
	found := false
	for _, h := range c.slots {
		if h.held && (!found || h.deadline < best) {
			best, found = h.deadline, true
		}
	}
	return best, found
}

// HandleTimeout implements Timed: it releases, unchanged and in the order
// their flows appeared, the segments held for Hold.
func (c *Coalesce) HandleTimeout(now time.Duration, emit Emit) {
	for _, h := range c.slots {
		if h.held && h.deadline <= now {
			h.held = false
			c.Released++
			emit(h.dir, h.buf)
		}
	}
}

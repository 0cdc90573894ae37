package mbox

import (
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// Direction is the way a packet travels through a middlebox: Forward from
// the A side of a path to the B side (the side that usually opens the
// connection, and the inside of a NAT), Reverse back.
type Direction uint8

// The two directions.
const (
	Forward Direction = iota
	Reverse
)

// Opposite returns the other direction.
func (d Direction) Opposite() Direction { return d ^ 1 }

// String returns "forward" or "reverse".
func (d Direction) String() string {
	if d == Reverse {
		return "reverse"
	}
	return "forward"
}

// Dirs restricts a transform to one direction. The zero value means both.
type Dirs uint8

// The direction filters.
const (
	BothDirs    Dirs = 0
	ForwardOnly Dirs = 1
	ReverseOnly Dirs = 2
)

// has reports whether d admits dir.
func (d Dirs) has(dir Direction) bool {
	switch d {
	case ForwardOnly:
		return dir == Forward
	case ReverseOnly:
		return dir == Reverse
	}
	return true
}

// Emit passes on a packet a middlebox lets through or generates,
// travelling in direction dir. The packet is valid only during the call:
// the receiver copies it, and may modify it in place first. It never
// calls back into the middlebox that emits (runners queue instead), so a
// middlebox may keep per-call state across its emits.
type Emit func(dir Direction, pkt []byte)

// Middlebox is a middlebox on a path: a transform of the packets that
// cross it in both directions.
type Middlebox interface {
	// Process handles one IP packet travelling in direction dir at time
	// now. It calls emit for every packet that leaves the middlebox:
	// never (drop), once with pkt, modified in place or not (forward),
	// several times (split), or in the opposite direction (a reply the
	// middlebox makes itself). pkt is valid only during the call.
	Process(now time.Duration, dir Direction, pkt []byte, emit Emit)
}

// Timed is a middlebox that holds packets and releases them later (a
// coalescer waiting for the segment to merge with). Its runner calls
// HandleTimeout when NextTimeout is due, and asks NextTimeout again after
// every Process and HandleTimeout.
type Timed interface {
	Middlebox
	// NextTimeout returns when HandleTimeout is next due; ok is false
	// when nothing is held.
	NextTimeout() (deadline time.Duration, ok bool)
	// HandleTimeout releases, through emit, what is due at now.
	HandleTimeout(now time.Duration, emit Emit)
}

// Flow names one direction of a TCP connection by its addresses and
// ports.
type Flow struct{ Src, Dst netip.AddrPort }

// Reverse returns the flow of the other direction.
func (f Flow) Reverse() Flow { return Flow{Src: f.Dst, Dst: f.Src} }

// FlowOf returns the flow a parsed segment belongs to.
func FlowOf(seg *wire.Segment) Flow {
	return Flow{
		Src: netip.AddrPortFrom(seg.SrcAddr(), seg.TCP.SrcPort()),
		Dst: netip.AddrPortFrom(seg.DstAddr(), seg.TCP.DstPort()),
	}
}

// Predicate selects segments for a [Selector] or a [Drop]: seg is the
// parsed packet (valid only during the call) travelling in direction dir.
type Predicate func(now time.Duration, dir Direction, seg *wire.Segment) bool

// OfConnection returns a predicate that matches the segments of the
// connection between a and b, in both directions.
func OfConnection(a, b netip.AddrPort) Predicate {
	f := Flow{Src: a, Dst: b}
	return func(_ time.Duration, _ Direction, seg *wire.Segment) bool {
		g := FlowOf(seg)
		return g == f || g == f.Reverse()
	}
}

// Chain is middleboxes in series on one path: a Forward packet crosses
// them in order, a Reverse packet in reverse order, as on a wire. What a
// stage emits in the opposite direction crosses the stages before it
// again, the way back. A packet bound for a stage that is still inside its
// own Process (a proactive ACK going back through the splitter whose piece
// it acknowledges) waits, copied, until that call returns: a middlebox is
// never re-entered.
type Chain struct {
	stages  []Middlebox
	emits   []Emit // emits[i] passes what stage i emits on
	busy    []bool // stage i is inside Process or HandleTimeout
	pending []pending
	spare   [][]byte // buffers of drained pending packets, for reuse
	out     Emit
	now     time.Duration
}

// pending is a packet waiting for a busy stage.
type pending struct {
	stage int
	dir   Direction
	buf   []byte
}

// NewChain returns the middleboxes in series, the first nearest the A
// side.
func NewChain(stages ...Middlebox) *Chain {
	c := &Chain{stages: stages, emits: make([]Emit, len(stages)), busy: make([]bool, len(stages))}
	for i := range stages {
		c.emits[i] = func(dir Direction, pkt []byte) { c.next(i, dir, pkt) }
	}
	return c
}

// next passes what stage i emitted in direction dir to the stage after it
// that way, or out of the chain.
func (c *Chain) next(i int, dir Direction, pkt []byte) {
	j := i + 1
	if dir == Reverse {
		j = i - 1
	}
	if j < 0 || j >= len(c.stages) {
		c.out(dir, pkt)
		return
	}
	if c.busy[j] {
		var buf []byte
		if n := len(c.spare); n > 0 {
			buf, c.spare = c.spare[n-1], c.spare[:n-1]
		}
		c.pending = append(c.pending, pending{stage: j, dir: dir, buf: append(buf[:0], pkt...)})
		return
	}
	c.process(j, dir, pkt)
}

func (c *Chain) process(j int, dir Direction, pkt []byte) {
	c.busy[j] = true
	c.stages[j].Process(c.now, dir, pkt, c.emits[j])
	c.busy[j] = false
}

// drain runs the packets that waited for busy stages, in order.
func (c *Chain) drain() {
	for k := 0; k < len(c.pending); k++ {
		p := c.pending[k]
		c.process(p.stage, p.dir, p.buf)
		c.spare = append(c.spare, p.buf)
	}
	c.pending = c.pending[:0]
}

// Process implements Middlebox.
func (c *Chain) Process(now time.Duration, dir Direction, pkt []byte, emit Emit) {
	c.out, c.now = emit, now
	if len(c.stages) == 0 {
		emit(dir, pkt)
		return
	}
	first := 0
	if dir == Reverse {
		first = len(c.stages) - 1
	}
	c.process(first, dir, pkt)
	c.drain()
}

// NextTimeout implements Timed: the earliest deadline of the stages that
// hold packets.
func (c *Chain) NextTimeout() (time.Duration, bool) {
	var best time.Duration
	found := false
	for _, s := range c.stages {
		if t, ok := s.(Timed); ok {
			if dl, ok := t.NextTimeout(); ok && (!found || dl < best) {
				best, found = dl, true
			}
		}
	}
	return best, found
}

// HandleTimeout implements Timed: every timed stage releases what is due,
// in stage order, and what it releases crosses the stages after it.
func (c *Chain) HandleTimeout(now time.Duration, emit Emit) {
	c.out, c.now = emit, now
	for i, s := range c.stages {
		if t, ok := s.(Timed); ok {
			c.busy[i] = true
			t.HandleTimeout(now, c.emits[i])
			c.busy[i] = false
		}
	}
	c.drain()
}

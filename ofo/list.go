package ofo

// lnode is one segment of a List.
type lnode struct {
	seg        Seg
	prev, next int32
}

// List is the linear baseline: a sorted list of segments searched from the
// tail, as Linux TCP's out-of-order queue was before the rb-tree (NSDI'12
// §4.3: "TCP scans the out-of-order queue"). It ignores hints. It has the
// same semantics as Queue, the same O(1) path for in-order data (which
// Linux handles before its out-of-order queue) and Linux's tail fast path.
type List struct {
	nodes       []lnode
	first, last int32
	free        int32
	count       int
	bytes       uint64
	left        uint64
	limit       uint64
	limited     bool
	release     func(Seg)
	stats       Stats
}

// NewList returns an empty List; see New.
func NewList(c Config) *List {
	if c.Capacity < 1 || c.Capacity > 1<<28 {
		panic("ofo: capacity out of range")
	}
	l := &List{nodes: make([]lnode, c.Capacity), release: c.Release}
	for i := range l.nodes {
		l.nodes[i].next = int32(i + 1)
	}
	l.nodes[len(l.nodes)-1].next = nilNode
	l.first, l.last, l.left = nilNode, nilNode, c.Start
	return l
}

// Insert queues s; see Queue.Insert. The hint is returned unchanged.
func (l *List) Insert(s Seg, h Hint) (Hint, Result) {
	l.stats.Inserts++
	if s.Len == 0 {
		return h, l.reject(s, Duplicate)
	}
	r := Queued
	if l.limited || before(s.DSN, l.left) {
		if s, r = clip(s, l.left, l.limit, l.limited); !r.Stored() {
			return h, l.reject(s, r)
		}
	}
	a, n := s.DSN, l.nodes
	switch {
	case a == l.left:
		l.stats.InOrder++
		if l.first != nilNode && n[l.first].seg.DSN == a {
			return h, l.place(s, l.first, r)
		}
		return h, l.place(s, nilNode, r)
	case l.first == nilNode:
		l.stats.EdgeHits++
		return h, l.place(s, nilNode, r)
	case !before(a, n[l.last].seg.DSN):
		l.stats.EdgeHits++ // the tail: old Linux's fast path
		return h, l.place(s, l.last, r)
	}
	// Scan from the tail, as Linux TCP did; data for the first hole walks
	// the whole list.
	l.stats.Scans++
	p := n[l.last].prev
	steps := uint64(1)
	for p != nilNode && before(a, n[p].seg.DSN) {
		p = n[p].prev
		steps++
	}
	l.stats.SegSteps += steps
	return h, l.place(s, p, r)
}

// place stores s after p, the last segment starting at or before s.DSN (or
// nilNode), with the byte semantics of Queue.place worked out segment by
// segment: the front is trimmed past all queued bytes contiguous from it,
// and the tail back to the start of the run holding byte End() if any.
func (l *List) place(s Seg, p int32, r Result) Result {
	n := l.nodes
	b := s.End()
	nh := l.first
	if p != nilNode {
		nh = n[p].next
		if pend := n[p].seg.End(); before(s.DSN, pend) {
			a := pend
			for nh != nilNode && n[nh].seg.DSN == a { // skip the rest of the run
				a = n[nh].seg.End()
				p, nh = nh, n[nh].next
			}
			if !before(a, b) {
				return l.reject(s, Duplicate)
			}
			d := a - s.DSN
			s.DSN, s.Off, s.Len, r = a, s.Off+uint32(d), s.Len-uint32(d), Trimmed
		}
	}
	// Find the run holding byte b, if any: s stops at its start.
	gs, prevEnd := uint64(0), s.DSN
	for m := nh; m != nilNode && !before(b, n[m].seg.DSN); m = n[m].next {
		if n[m].seg.DSN != prevEnd {
			gs = n[m].seg.DSN
		}
		if before(b, n[m].seg.End()) {
			if gs != b {
				b = gs
				s.Len, r = uint32(b-s.DSN), Trimmed
			}
			break
		}
		prevEnd = n[m].seg.End()
	}
	// Everything now between s.DSN and b lies wholly inside s: evict it.
	evicted := false
	for nh != nilNode && before(n[nh].seg.DSN, b) {
		nx := n[nh].next
		l.unlink(nh)
		l.stats.Evicted++
		l.drop(nh)
		evicted = true
		nh = nx
	}
	if !evicted && l.free == nilNode {
		return l.reject(s, Full)
	}
	x := l.free
	l.free = n[x].next
	n[x].seg, n[x].prev, n[x].next = s, p, nh
	if p == nilNode {
		l.first = x
	} else {
		n[p].next = x
	}
	if nh == nilNode {
		l.last = x
	} else {
		n[nh].prev = x
	}
	l.count++
	l.bytes += uint64(s.Len)
	if r == Trimmed {
		l.stats.Trimmed++
		return Trimmed
	}
	return Queued
}

func (l *List) unlink(i int32) {
	n := l.nodes
	pv, nx := n[i].prev, n[i].next
	if pv == nilNode {
		l.first = nx
	} else {
		n[pv].next = nx
	}
	if nx == nilNode {
		l.last = pv
	} else {
		n[nx].prev = pv
	}
}

// drop frees the unlinked node i and releases its segment.
func (l *List) drop(i int32) {
	s := l.nodes[i].seg
	l.freeNode(i)
	l.stats.Released++
	if l.release != nil {
		l.release(s)
	}
}

func (l *List) freeNode(i int32) {
	nd := &l.nodes[i]
	l.count--
	l.bytes -= uint64(nd.seg.Len)
	nd.seg = Seg{}
	nd.prev, nd.next = nilNode, l.free
	l.free = i
}

func (l *List) reject(s Seg, r Result) Result {
	switch r {
	case Duplicate:
		l.stats.Duplicate++
	case Old:
		l.stats.Old++
	case Beyond:
		l.stats.Beyond++
	case Full:
		l.stats.Full++
	}
	l.stats.Released++
	if l.release != nil {
		l.release(s)
	}
	return r
}

// Pop removes and returns the first segment if it starts at the left edge.
func (l *List) Pop() (Seg, bool) {
	f := l.first
	if f == nilNode || l.nodes[f].seg.DSN != l.left {
		return Seg{}, false
	}
	s := l.nodes[f].seg
	l.unlink(f)
	l.freeNode(f)
	l.left = s.End()
	l.stats.Delivered++
	return s, true
}

// PopRun delivers everything in order, node by node, handing each segment
// to the Release function if there is one; see Queue.PopRun.
func (l *List) PopRun() (Range, bool) {
	start := l.left
	s, ok := l.Pop()
	if !ok {
		return Range{}, false
	}
	for ; ok; s, ok = l.Pop() {
		if l.release != nil {
			l.release(s)
		}
	}
	return Range{start, l.left}, true
}

// Drain pops every in-order segment into deliver; see Queue.Drain.
func (l *List) Drain(deliver func(Seg)) int {
	k := 0
	for s, ok := l.Pop(); ok; s, ok = l.Pop() {
		deliver(s)
		k++
	}
	return k
}

// Advance moves the left edge forward; see Queue.Advance.
func (l *List) Advance(to uint64) {
	if !before(l.left, to) {
		return
	}
	l.left = to
	for l.first != nilNode {
		f := l.first
		nd := &l.nodes[f]
		if !before(to, nd.seg.End()) {
			l.unlink(f)
			l.drop(f)
			continue
		}
		if before(nd.seg.DSN, to) {
			d := to - nd.seg.DSN
			nd.seg.DSN, nd.seg.Off, nd.seg.Len = to, nd.seg.Off+uint32(d), nd.seg.Len-uint32(d)
			l.bytes -= d
		}
		break
	}
}

// SetLimit sets the right edge; see Queue.SetLimit.
func (l *List) SetLimit(end uint64) { l.limit, l.limited = end, true }

// ClearLimit removes the right edge.
func (l *List) ClearLimit() { l.limited = false }

// Next returns the left edge.
func (l *List) Next() uint64 { return l.left }

// Len returns the number of queued segments.
func (l *List) Len() int { return l.count }

// Bytes returns the number of queued bytes.
func (l *List) Bytes() uint64 { return l.bytes }

// Cap returns the capacity in segments.
func (l *List) Cap() int { return len(l.nodes) }

// Holes writes the missing ranges; see Queue.Holes.
func (l *List) Holes(dst []Range) int {
	k, at := 0, l.left
	for i := l.first; i != nilNode; i = l.nodes[i].next {
		if s := l.nodes[i].seg.DSN; s != at {
			if k < len(dst) {
				dst[k] = Range{at, s}
			}
			k++
		}
		at = l.nodes[i].seg.End()
	}
	return k
}

// Blocks writes the queued runs; see Queue.Blocks.
func (l *List) Blocks(dst []Range) int {
	k := 0
	var cur Range
	for i := l.first; i != nilNode; i = l.nodes[i].next {
		s := l.nodes[i].seg
		if k > 0 && cur.End == s.DSN {
			cur.End = s.End()
			continue
		}
		if k > 0 && k <= len(dst) {
			dst[k-1] = cur
		}
		cur = Range{s.DSN, s.End()}
		k++
	}
	if k > 0 && k <= len(dst) {
		dst[k-1] = cur
	}
	return k
}

// Stats returns the counters.
func (l *List) Stats() Stats { return l.stats }

// Reset releases everything and moves the left edge; see Queue.Reset.
func (l *List) Reset(start uint64) {
	for l.first != nilNode {
		f := l.first
		l.unlink(f)
		l.drop(f)
	}
	l.left = start
}

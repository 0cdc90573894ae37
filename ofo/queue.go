package ofo

import "math/bits"

// nilNode marks the absence of a node in the index links.
const nilNode int32 = -1

// qnode is one queued segment. Nodes form a doubly linked list sorted by
// DSN; the segments are disjoint. A run (the paper's "batch") is a maximal
// sequence of nodes whose segments are contiguous in DSN. Only a run's two
// ends carry its bounds: at a run's first node, run is the index of its last
// node; at its last node, run is the index of its first (a single-node run
// points at itself). Interior nodes' run fields are stale and never read, so
// joining two runs is O(1).
//
// A run's first node also counts the run's segments (cnt), so that PopRun
// can free a whole run without visiting it.
//
// The first run is the exception: Queue.first, Queue.firstTail and
// Queue.firstCount hold its bounds and count, and its nodes' run and cnt
// fields and its first node's prev may be stale. That way Pop touches only
// the node it removes, not the next node or the far end of the run
// (runTail, runHead).
type qnode struct {
	seg        Seg
	prev, next int32
	run        int32
	cnt        int32  // segments in the run, at a run's first node
	gen        uint32 // odd while queued; see live for free nodes
	rec        bool   // given to the index of run ends since allocated (the entry may be gone)
}

// Queue is the connection-level out-of-order queue with per-subflow
// shortcuts and batch scanning (NSDI'12 §4.3, ALGORITHMS.md Part I §1.2).
// It is not safe for concurrent use.
type Queue struct {
	nodes       []qnode
	first, last int32   // the list's ends; both nilNode when empty
	firstTail   int32   // the first run's last node; nilNode when empty
	firstCount  int32   // the first run's segments
	ready       bool    // the first node starts at the left edge: Pop can deliver
	free        int32   // free list, linked through next
	ends        []int32 // run ends by hash: see lookupEnd
	endShift    uint8
	count       int  // queued segments
	lazy        bool // PopRun left free nodes with odd generations; see Reset
	runs        int  // queued runs
	bytes       uint64
	left        uint64 // the left edge (rcv_nxt): every queued byte is at or after it
	limit       uint64
	limited     bool
	release     func(Seg)
	stats       Stats
}

// New returns an empty queue whose left edge is c.Start, with c.Capacity
// nodes allocated up front.
func New(c Config) *Queue {
	if c.Capacity < 1 || c.Capacity > 1<<28 {
		panic("ofo: capacity out of range")
	}
	q := &Queue{nodes: make([]qnode, c.Capacity), release: c.Release}
	for i := range q.nodes {
		q.nodes[i].next = int32(i + 1)
	}
	q.nodes[len(q.nodes)-1].next = nilNode
	k := max(bits.Len(uint(c.Capacity-1)), 4) // 2^k >= Capacity
	q.ends, q.endShift = make([]int32, 1<<k), uint8(64-k)
	for i := range q.ends {
		q.ends[i] = nilNode
	}
	q.first, q.last, q.firstTail, q.left = nilNode, nilNode, nilNode, c.Start
	return q
}

func (q *Queue) end(i int32) uint64 { return q.nodes[i].seg.End() }

// isTail reports whether node i ends its run.
func (q *Queue) isTail(i int32) bool {
	nx := q.nodes[i].next
	return nx == nilNode || q.nodes[nx].seg.DSN != q.nodes[i].seg.End()
}

// isHead reports whether node i starts its run.
func (q *Queue) isHead(i int32) bool {
	if i == q.first {
		return true // its prev may be stale
	}
	pv := q.nodes[i].prev
	return q.nodes[pv].seg.End() != q.nodes[i].seg.DSN
}

// runTail returns the last node of the run whose first node is h.
func (q *Queue) runTail(h int32) int32 {
	if h == q.first {
		return q.firstTail
	}
	return q.nodes[h].run
}

// runHead returns the first node of the run whose last node is t.
func (q *Queue) runHead(t int32) int32 {
	if t == q.firstTail {
		return q.first
	}
	return q.nodes[t].run
}

// hint returns a Hint for the queued node i.
func (q *Queue) hint(i int32) Hint { return Hint{n: i + 1, gen: q.nodes[i].gen} }

// live returns the node h refers to, or nilNode if h is empty or stale.
//
// Freeing a node one at a time makes its generation even. PopRun frees a
// whole run without touching its nodes, so their generations stay odd;
// such a node is recognised by its position instead: its segment lies
// below the left edge, where no queued segment ever is. Allocating a node
// makes its generation odd and new either way (alloc).
func (q *Queue) live(h Hint) int32 {
	i := h.n&hintNode - 1
	if uint32(i) >= uint32(len(q.nodes)) || h.gen&1 == 0 {
		return nilNode
	}
	if nd := &q.nodes[i]; nd.gen != h.gen || before(nd.seg.DSN, q.left) {
		return nilNode
	}
	return i
}

// alloc takes a node off the free list and gives it a new, odd generation:
// +1 from a node freed alone (even), +2 from one freed by PopRun (odd).
func (q *Queue) alloc() int32 {
	x := q.free
	nd := &q.nodes[x]
	q.free = nd.next
	nd.gen += 1 + nd.gen&1
	nd.rec = false
	return x
}

// Insert queues s, which arrived on the subflow whose shortcut is h, and
// returns that subflow's updated shortcut and what happened to s.
//
// Bytes already queued are never replaced: s is trimmed to the bytes that
// are new, except that queued runs lying wholly inside s are evicted (and
// released) so that s need not be split. A result other than Queued or
// Trimmed means s was released. See the package documentation.
//
// The returned Hint names the last segment of the run that now holds s (or,
// for a Duplicate, the run that covers s's start): where the subflow's next
// segment lands if it continues the run. After Old, Beyond or Full, and
// when s starts at the left edge, h is returned unchanged. A striped
// subflow's hint predicts instead (see ahead and Hint).
func (q *Queue) Insert(s Seg, h Hint) (Hint, Result) {
	q.stats.Inserts++
	if s.Len == 0 {
		return h, q.reject(s, Duplicate)
	}
	r := Queued
	if q.limited || before(s.DSN, q.left) {
		if s, r = clip(s, q.left, q.limit, q.limited); !r.Stored() {
			return h, q.reject(s, r)
		}
	}
	a := s.DSN

	// In order: TCP's fast path. The left edge is the only place where
	// data can precede every queued run.
	// The caller's hint is returned unchanged (if it has one): s is
	// delivered next (the engine calls PopRun after every insert), and s
	// is a retransmission or a copy the subflow carried, or the subflow's
	// next segment is in order too. A hint to s would be stale by then,
	// while the subflow's next new segment lands where its hint says: the
	// run it continues, or, for a predicting hint, the predicted run,
	// which the index cannot find either, since a predicted hit records
	// nothing (at depth 10,000 with runs of one segment such a segment
	// walked about 450 runs).
	if a == q.left {
		q.stats.InOrder++
		pt := nilNode
		if q.ready {
			pt = q.firstTail
		}
		nh, r := q.place(s, pt, h, r)
		if h.n != 0 {
			return h, r
		}
		return nh, r
	}

	// The shortcut (NSDI'12 §4.3): the subflow's last segment ends where
	// this one starts, and nothing queued follows it directly.
	hn := q.live(h)
	if hn != nilNode {
		nd := &q.nodes[hn]
		e := nd.seg.End()
		nh, next := nd.next, uint64(0) // the next run's start, if any
		if nh != nilNode {
			next = q.nodes[nh].seg.DSN
		}
		if e == a {
			if nh == nilNode || next != a { // hn ends its run
				q.stats.HintHits++
				if q.free != nilNode && (nh == nilNode || before(s.End(), next)) {
					if h.n&hintAhead != 0 && nh != nilNode {
						// Still striped: predict again, from the run
						// after s (which stops short of it).
						q.stats.AheadHits++
						_, r = q.extend(s, hn, nh, r)
						return q.ahead(nh), r
					}
					return q.extend(s, hn, nh, r)
				}
				return q.place(s, hn, h, r)
			}
		} else if h.n&hintAhead == 0 && nh != nilNode && next != e {
			// The run after the hint's. When subflows take turns
			// (segments striped one at a time or in short runs) and
			// the faster ones have delivered what was sent between
			// this subflow's last segment and this one, those segments
			// form the run right after hn, and s continues it: two
			// node loads, on the run s joins, instead of the index.
			// hn ends its run, so nh starts one that is not the
			// first, and its run link is exact.
			if t := q.nodes[nh].run; q.end(t) == a {
				q.stats.NextHits++
				if !nd.rec { // as below the switch
					q.ends[q.endSlot(e)], nd.rec = hn, true
				}
				striped := h.n&hintStriped != 0
				nx := q.nodes[t].next
				if q.free != nilNode && (nx == nilNode || before(s.End(), q.nodes[nx].seg.DSN)) {
					h, r = q.extend(s, t, nx, r)
				} else {
					h, r = q.place(s, t, h, r)
				}
				if !r.Stored() {
					return h, r
				}
				t = h.n - 1
				q.ends[q.endSlot(q.end(t))], q.nodes[t].rec = t, true
				if !striped {
					h.n |= hintStriped
				} else if nx = q.nodes[t].next; nx != nilNode {
					// Twice in a row: the subflows take turns, and
					// the subflow's next segment will continue the run
					// after the one s joined, as s did here.
					h = q.ahead(nx)
				}
				return h, r
			}
		}
	} else if h.n != 0 {
		q.stats.StaleHints++
	}

	// Either end of the queue: O(1) through the run links (ALGORITHMS.md
	// §1.5 "own shortcut, last, then lookup"; Linux's ooo_last_skb).
	pt, record := nilNode, true
	switch {
	case q.first == nilNode || before(a, q.nodes[q.first].seg.DSN):
		q.stats.EdgeHits++
	case !before(a, q.nodes[q.runHead(q.last)].seg.DSN):
		q.stats.EdgeHits++
		pt = q.last
		record = q.end(pt) != a // appending to the last run: as good as a hint
	default:
		// Another subflow's run ends here (the paper's AllShortcuts).
		if pt = q.lookupEnd(a); pt != nilNode {
			q.stats.EndHits++
		} else {
			q.stats.Scans++
			pt = q.scan(a, hn)
		}
	}
	if hn != nilNode {
		// The subflow's shortcut moves away from the run it named: keep
		// that run's end findable for the subflow's next segment (after
		// a retransmission it carried, say) or another subflow's.
		// Skipped if the node was recorded already: a store to a random
		// slot, which cost about 2 ns of 23 per segment with runs of one
		// segment. A colliding write may have replaced the entry since;
		// that costs a search if the end is wanted, never a misplacement.
		if nd := &q.nodes[hn]; !nd.rec {
			q.ends[q.endSlot(nd.seg.End())], nd.rec = hn, true
		}
	}
	if pt != nilNode && q.end(pt) == a && q.free != nilNode {
		if nh := q.nodes[pt].next; nh == nilNode || before(s.End(), q.nodes[nh].seg.DSN) {
			h, r = q.extend(s, pt, nh, r)
		} else {
			h, r = q.place(s, pt, h, r)
		}
	} else {
		h, r = q.place(s, pt, h, r)
	}
	if record && r.Stored() {
		// Record the run end s now belongs to. Hint hits, in-order
		// data and appends to the last run skip this: the subflow's
		// own hint covers its run, and the cost (a store to a random
		// slot) would fall on every segment.
		t := h.n - 1
		q.ends[q.endSlot(q.end(t))], q.nodes[t].rec = t, true
	}
	return h, r
}

// ahead returns the hint for a striped subflow whose last segment ends
// the run just before nh, a run's first node that is not the first run's:
// the last node of nh's run, where that subflow's next segment starts if
// the subflows keep taking turns (the faster ones have delivered what is
// sent between its two segments; the slower ones have not). The next insert
// then checks it like any hint: two node loads (the predicted node, loaded
// here, and the one after it) instead of the four of the run after the
// hint's (the hinted node, the next one, that run's last node and the one
// after it), and no store to the index.
func (q *Queue) ahead(nh int32) Hint {
	t := q.nodes[nh].run
	return Hint{n: (t + 1) | hintAhead, gen: q.nodes[t].gen}
}

// endSlot returns the ends slot for a run ending at DSN e: a multiplicative
// (Fibonacci) hash, since DSNs step by segment sizes that share factors.
func (q *Queue) endSlot(e uint64) uint64 { return e * 0x9E3779B97F4A7C15 >> q.endShift }

// lookupEnd returns a queued node that ends a run exactly at a, or nilNode.
// q.ends is a direct-mapped cache, written by inserts that are not hint
// hits (the run end the newcomer now belongs to, and the run end the
// caller's hint named) and never cleaned: an entry may name a node that was
// freed, reused or extended since, so it is checked against the structure
// like a caller's hint. A node PopRun freed keeps an odd generation, but
// its segment ends at or below the left edge, and a is after it, so the
// end test rejects it before isTail would read its free-list link.
func (q *Queue) lookupEnd(a uint64) int32 {
	t := q.ends[q.endSlot(a)]
	if t == nilNode || q.nodes[t].gen&1 == 0 || q.end(t) != a || !q.isTail(t) {
		return nilNode
	}
	return t
}

// scan returns the last node of the last run that starts at or before a,
// visiting runs rather than segments (NSDI'12 §4.3: "we iterate over these
// batches instead of iterating over all the segments"). a lies strictly
// inside the queue's span: after the first run's start and before the last
// run's start.
//
// The walk starts from the known run boundary nearest to a in DSN: one of
// the queue's two ends, or the caller's hint if it sits at a run boundary
// (gen-2 code scans from the closest shortcut, ALGORITHMS.md §1.3). A ring
// of the last 16 inserts, standing in for every subflow's shortcut (the
// paper's AllShortcuts), was tried as a further starting point: it cut the
// runs walked per insert from 0.35 to 0.04 in the 8-subflow workload, yet
// that benchmark ran about 10% slower, since every insert pays for the
// ring and only misses gain (docs/ofo.md).
func (q *Queue) scan(a uint64, hn int32) int32 {
	n := q.nodes
	// Forward from a run's last node whose run starts at or before a, or
	// backward from a run's first node that starts after a.
	fwd := q.firstTail
	fd := uint64(0)
	if e := n[fwd].seg.End(); before(e, a) {
		fd = a - e
	}
	bwd := q.runHead(q.last)
	bd := n[bwd].seg.DSN - a
	if hn != nilNode {
		hh, ht := nilNode, nilNode
		if q.isTail(hn) {
			hh, ht = q.runHead(hn), hn
		} else if q.isHead(hn) {
			hh, ht = hn, q.runTail(hn)
		}
		if hh != nilNode {
			if hs := n[hh].seg.DSN; before(a, hs) {
				if d := hs - a; d < bd {
					bwd, bd = hh, d
				}
			} else {
				d := uint64(0)
				if e := n[ht].seg.End(); before(e, a) {
					d = a - e
				}
				if d < fd {
					fwd, fd = ht, d
				}
			}
		}
	}
	steps := uint64(0)
	if bd < fd {
		head := bwd
		for before(a, n[head].seg.DSN) {
			tail := n[head].prev // the first run starts before a, so tail exists
			head = q.runHead(tail)
			steps++
		}
		q.stats.BatchSteps += steps
		return q.runTail(head)
	}
	tail := fwd
	for {
		nx := n[tail].next
		if nx == nilNode || before(a, n[nx].seg.DSN) {
			break
		}
		tail = q.runTail(nx)
		steps++
	}
	q.stats.BatchSteps += steps
	return tail
}

// place finishes an insert once pt, the last node of the last run starting
// at or before s.DSN (or nilNode if there is none), is known; h is the
// caller's hint, returned unchanged if s is rejected as Full; r is Trimmed
// if s was clipped to the window, else Queued. It resolves
// overlaps with whole runs only: within a run there are no holes, so a
// newcomer interacts with runs, never with the segments inside one.
func (q *Queue) place(s Seg, pt int32, h Hint, r Result) (Hint, Result) {
	n := q.nodes
	b := s.End()
	nh := q.first // the first run after pt
	if pt != nilNode {
		nh = n[pt].next
		if pend := n[pt].seg.End(); before(s.DSN, pend) {
			if !before(pend, b) {
				return q.hint(pt), q.reject(s, Duplicate)
			}
			d := pend - s.DSN
			s.DSN, s.Off, s.Len, r = pend, s.Off+uint32(d), s.Len-uint32(d), Trimmed
		}
	}
	// Runs that start inside s: evict those s covers; trim s before the
	// first that extends past it. Runs are separated by holes, so the
	// trimmed s is never empty.
	for nh != nilNode && before(n[nh].seg.DSN, b) {
		nt := q.runTail(nh)
		if before(b, n[nt].seg.End()) {
			s.Len, r = uint32(n[nh].seg.DSN-s.DSN), Trimmed
			break
		}
		after := n[nt].next
		q.evictRun(pt, nh, nt)
		nh = after
	}
	if q.free == nilNode {
		// Only reachable without evictions (each frees a node), so the
		// queue is unchanged.
		return h, q.reject(s, Full)
	}

	// Join the runs on either side when contiguous. Their bounds are read
	// before x changes which run is first.
	head, tail := q.free, q.free
	c := int32(1) // segments in the run x ends up in
	q.runs++
	if pt != nilNode && n[pt].seg.End() == s.DSN {
		head = q.runHead(pt)
		c += q.runCount(head)
		q.runs--
	}
	if nh != nilNode && n[nh].seg.DSN == s.End() {
		tail = q.runTail(nh)
		c += q.runCount(nh)
		q.runs--
	} else if pt == nilNode && nh != nilNode {
		// The first run becomes the second: give it exact links.
		n[nh].run, n[q.firstTail].run = q.firstTail, nh
		n[nh].cnt = q.firstCount
	}

	x := q.alloc()
	n[x].seg, n[x].prev, n[x].next = s, pt, nh
	if pt == nilNode {
		q.first, q.ready = x, s.DSN == q.left
	} else {
		n[pt].next = x
	}
	if nh == nilNode {
		q.last = x
	} else {
		n[nh].prev = x
	}
	n[head].run, n[tail].run = tail, head
	if head == q.first {
		q.firstTail, q.firstCount = tail, c
	} else {
		n[head].cnt = c
	}
	q.count++
	q.bytes += uint64(s.Len)
	if r == Trimmed {
		q.stats.Trimmed++
	}
	return q.hint(tail), r
}

// extend is place for the common case of a hint hit: s continues the run
// whose last node is pt and ends before nh, the next run (if any), and a
// node is free.
func (q *Queue) extend(s Seg, pt, nh int32, r Result) (Hint, Result) {
	n := q.nodes
	x := q.alloc()
	n[x].seg, n[x].prev, n[x].next = s, pt, nh
	n[pt].next = x
	if nh == nilNode {
		q.last = x
	} else {
		n[nh].prev = x
	}
	if pt == q.firstTail {
		q.firstTail = x // the first run's links may stay stale
		q.firstCount++
	} else {
		head := n[pt].run
		n[head].run, n[x].run = x, head
		n[head].cnt++
	}
	q.count++
	q.bytes += uint64(s.Len)
	if r == Trimmed {
		q.stats.Trimmed++
	}
	return Hint{n: x + 1, gen: n[x].gen}, r
}

// evictRun unlinks and releases the whole run nh..nt, which follows pt.
func (q *Queue) evictRun(pt, nh, nt int32) {
	n := q.nodes
	after := n[nt].next
	if pt == nilNode {
		q.first, q.firstTail, q.firstCount = after, nilNode, 0
		if after != nilNode {
			// Exact: it was not the first run.
			q.firstTail, q.firstCount = n[after].run, n[after].cnt
		}
	} else {
		n[pt].next = after
	}
	if after == nilNode {
		q.last = pt
	} else {
		n[after].prev = pt
	}
	q.runs--
	for i := nh; ; {
		nx := n[i].next
		q.stats.Evicted++
		q.drop(i)
		if i == nt {
			break
		}
		i = nx
	}
}

// drop frees node i (already unlinked from its neighbours' view) and
// releases its segment.
func (q *Queue) drop(i int32) {
	s := q.nodes[i].seg
	q.freeNode(i)
	q.stats.Released++
	if q.release != nil {
		q.release(s)
	}
}

func (q *Queue) freeNode(i int32) {
	nd := &q.nodes[i]
	q.count--
	q.bytes -= uint64(nd.seg.Len)
	nd.gen++ // invalidates every Hint to this node
	nd.next = q.free
	q.free = i
}

func (q *Queue) reject(s Seg, r Result) Result {
	switch r {
	case Duplicate:
		q.stats.Duplicate++
	case Old:
		q.stats.Old++
	case Beyond:
		q.stats.Beyond++
	case Full:
		q.stats.Full++
	}
	q.stats.Released++
	if q.release != nil {
		q.release(s)
	}
	return r
}

// unlinkFirst removes the first node from the list. It reads and writes no
// other node, except to find the next run's bounds when the first run ends.
func (q *Queue) unlinkFirst() {
	f := q.first
	nx := q.nodes[f].next
	q.first = nx
	q.firstCount--
	if f != q.firstTail {
		return
	}
	q.nextRun(nx)
}

// nextRun makes the run starting at nx (nilNode: none) the first, after
// the first run has gone. Runs are maximal, so a hole follows the first
// run: the new first run is not in order.
func (q *Queue) nextRun(nx int32) {
	q.ready = false
	q.runs--
	if nx == nilNode {
		q.last, q.firstTail, q.firstCount = nilNode, nilNode, 0
	} else {
		// Exact: it was not the first run.
		q.firstTail, q.firstCount = q.nodes[nx].run, q.nodes[nx].cnt
	}
}

// runCount returns the number of segments in the run whose first node is h.
func (q *Queue) runCount(h int32) int32 {
	if h == q.first {
		return q.firstCount
	}
	return q.nodes[h].cnt
}

// Pop removes and returns the first segment if it starts at the left edge,
// and advances the left edge past it. Calling Pop until it reports false
// hands out, in order, everything that became contiguous.
func (q *Queue) Pop() (Seg, bool) {
	// The flag, not the first node's DSN, decides, so that the branch
	// does not wait for the node's cache line.
	if !q.ready {
		return Seg{}, false
	}
	f := q.first
	s := q.nodes[f].seg
	q.unlinkFirst()
	q.freeNode(f)
	q.left = s.End()
	q.stats.Delivered++
	return s, true
}

// PopRun delivers everything in order at once: the first run, if it starts
// at the left edge (runs are maximal, so nothing after it is in order). It
// advances the left edge past the run and returns the range delivered, or
// false if nothing is in order.
//
// A receiver whose payload already sits at its DSN (a receive ring) needs
// only the new left edge. For a queue without a Release function, PopRun
// frees the run's nodes in O(1), without visiting them: its chain goes onto
// the free list whole. With a Release function, the caller wants its
// handles back, so each segment is handed to Release, in order, as Pop
// would (O(segments)). Either way Stats.Delivered counts the segments.
func (q *Queue) PopRun() (Range, bool) {
	if !q.ready {
		return Range{}, false
	}
	start := q.left
	if q.release != nil {
		for s, ok := q.Pop(); ok; s, ok = q.Pop() {
			q.release(s)
		}
		return Range{start, q.left}, true
	}
	// The run's nodes keep their odd generations; live and lookupEnd
	// tell them from queued nodes by their position below the new edge.
	f, t := q.first, q.firstTail
	nd := &q.nodes[t]
	end, nx := nd.seg.End(), nd.next
	nd.next, q.free = q.free, f
	q.lazy = true
	q.count -= int(q.firstCount)
	q.stats.Delivered += uint64(q.firstCount)
	q.bytes -= end - start // the run holds every byte of [start, end)
	q.left, q.first = end, nx
	q.nextRun(nx)
	return Range{start, end}, true
}

// Drain pops every segment that is in order and passes each to deliver. It
// returns how many it delivered. deliver must not call back into the queue.
func (q *Queue) Drain(deliver func(Seg)) int {
	k := 0
	for s, ok := q.Pop(); ok; s, ok = q.Pop() {
		deliver(s)
		k++
	}
	return k
}

// Advance moves the left edge forward to to, for data the caller took in
// order by itself (the receive fast path). Queued data below the new edge is
// released, or trimmed if it straddles it. An edge at or before the current
// one is ignored.
func (q *Queue) Advance(to uint64) {
	if !before(q.left, to) {
		return
	}
	q.left = to
	for q.first != nilNode {
		f := q.first
		nd := &q.nodes[f]
		if !before(to, nd.seg.End()) {
			q.unlinkFirst()
			q.drop(f)
			continue
		}
		if before(nd.seg.DSN, to) {
			d := to - nd.seg.DSN
			nd.seg.DSN, nd.seg.Off, nd.seg.Len = to, nd.seg.Off+uint32(d), nd.seg.Len-uint32(d)
			q.bytes -= d
		}
		break
	}
	q.ready = q.first != nilNode && q.nodes[q.first].seg.DSN == to
}

// SetLimit sets the right edge: bytes at or after end are not accepted
// (Insert trims them, or rejects the segment as Beyond). Data already
// queued is kept.
func (q *Queue) SetLimit(end uint64) { q.limit, q.limited = end, true }

// ClearLimit removes the right edge.
func (q *Queue) ClearLimit() { q.limited = false }

// Next returns the left edge: the DSN of the next in-order byte.
func (q *Queue) Next() uint64 { return q.left }

// Len returns the number of queued segments.
func (q *Queue) Len() int { return q.count }

// Bytes returns the number of queued bytes. Queued segments never overlap,
// so this is exact and is what the receive window must account for.
func (q *Queue) Bytes() uint64 { return q.bytes }

// Cap returns the queue's capacity in segments.
func (q *Queue) Cap() int { return len(q.nodes) }

// Runs returns the number of runs (batches of contiguous segments).
func (q *Queue) Runs() int { return q.runs }

// Holes writes the missing ranges between the left edge and the last queued
// byte, in order, into dst, and returns how many there are (which may exceed
// len(dst)). It walks runs, not segments.
func (q *Queue) Holes(dst []Range) int {
	k := 0
	at := q.left
	for h := q.first; h != nilNode; {
		t := q.runTail(h)
		if s := q.nodes[h].seg.DSN; s != at {
			if k < len(dst) {
				dst[k] = Range{at, s}
			}
			k++
		}
		at = q.nodes[t].seg.End()
		h = q.nodes[t].next
	}
	return k
}

// Blocks writes the queued runs, in order, into dst (SACK-like reporting),
// and returns how many there are (which may exceed len(dst)).
func (q *Queue) Blocks(dst []Range) int {
	k := 0
	for h := q.first; h != nilNode; {
		t := q.runTail(h)
		if k < len(dst) {
			dst[k] = Range{q.nodes[h].seg.DSN, q.nodes[t].seg.End()}
		}
		k++
		h = q.nodes[t].next
	}
	return k
}

// Stats returns the counters.
func (q *Queue) Stats() Stats { return q.stats }

// Reset releases every queued segment, in order, and moves the left edge to
// start. The counters and the limit are kept. Every outstanding Hint becomes
// stale. After PopRun freed runs wholesale it also visits the free list
// (O(capacity)): those nodes are told from queued ones by lying below the
// left edge, which a new start may no longer be after.
func (q *Queue) Reset(start uint64) {
	for q.first != nilNode {
		f := q.first
		q.unlinkFirst()
		q.drop(f)
	}
	if q.lazy {
		for i := q.free; i != nilNode; i = q.nodes[i].next {
			q.nodes[i].gen += q.nodes[i].gen & 1
		}
		q.lazy = false
	}
	q.left, q.ready = start, false
}

package ofo

// tnode is one segment of a Tree. Index 0 is the sentinel (CLRS's T.nil):
// always black, its links scratch space for deletion.
type tnode struct {
	seg                 Seg
	left, right, parent int32
	red                 bool
}

// Tree is the balanced-tree baseline: a red-black tree of segments keyed by
// DSN with a fast path for appending after the highest segment, as upstream
// Linux does (tcp_data_queue_ofo and mptcp_data_queue_ofo with
// ooo_last_skb; ALGORITHMS.md Part I §1.4). It ignores hints. It has the
// same semantics as Queue and the same O(1) path for in-order data (which
// Linux handles before its out-of-order queue; the tree caches its lowest
// segment for that and for Pop).
type Tree struct {
	nodes          []tnode
	root, min, max int32 // 0 when empty
	free           int32 // free list linked through right; 0 = none
	count          int
	bytes          uint64
	left           uint64
	limit          uint64
	limited        bool
	release        func(Seg)
	stats          Stats
}

// NewTree returns an empty Tree; see New.
func NewTree(c Config) *Tree {
	if c.Capacity < 1 || c.Capacity > 1<<28 {
		panic("ofo: capacity out of range")
	}
	t := &Tree{nodes: make([]tnode, c.Capacity+1), release: c.Release, left: c.Start}
	for i := 1; i < len(t.nodes)-1; i++ {
		t.nodes[i].right = int32(i + 1)
	}
	t.free = 1
	return t
}

// Insert queues s; see Queue.Insert. The hint is returned unchanged.
func (t *Tree) Insert(s Seg, h Hint) (Hint, Result) {
	t.stats.Inserts++
	if s.Len == 0 {
		return h, t.reject(s, Duplicate)
	}
	r := Queued
	if t.limited || before(s.DSN, t.left) {
		if s, r = clip(s, t.left, t.limit, t.limited); !r.Stored() {
			return h, t.reject(s, r)
		}
	}
	a, n := s.DSN, t.nodes
	switch {
	case a == t.left:
		t.stats.InOrder++
		if t.min != 0 && n[t.min].seg.DSN == a {
			return h, t.place(s, t.min, r)
		}
		return h, t.place(s, 0, r)
	case t.root == 0:
		t.stats.EdgeHits++
		return h, t.place(s, 0, r)
	case !before(a, n[t.max].seg.DSN):
		t.stats.EdgeHits++ // Linux: "adding an skb to the end of the list"
		return h, t.place(s, t.max, r)
	}
	t.stats.Scans++
	p, steps := int32(0), uint64(0)
	for x := t.root; x != 0; {
		steps++
		if before(a, n[x].seg.DSN) {
			x = n[x].left
		} else {
			p, x = x, n[x].right
		}
	}
	t.stats.SegSteps += steps
	return h, t.place(s, p, r)
}

// place stores s after p (or first if p is 0); see List.place.
func (t *Tree) place(s Seg, p int32, r Result) Result {
	n := t.nodes
	b := s.End()
	nh := t.min
	if p != 0 {
		nh = t.next(p)
		if pend := n[p].seg.End(); before(s.DSN, pend) {
			a := pend
			for nh != 0 && n[nh].seg.DSN == a {
				a = n[nh].seg.End()
				p, nh = nh, t.next(nh)
			}
			if !before(a, b) {
				return t.reject(s, Duplicate)
			}
			d := a - s.DSN
			s.DSN, s.Off, s.Len, r = a, s.Off+uint32(d), s.Len-uint32(d), Trimmed
		}
	}
	gs, prevEnd := uint64(0), s.DSN
	for m := nh; m != 0 && !before(b, n[m].seg.DSN); m = t.next(m) {
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
	evicted := false
	for nh != 0 && before(n[nh].seg.DSN, b) {
		nx := t.next(nh)
		t.delete(nh)
		t.stats.Evicted++
		t.drop(nh)
		evicted = true
		nh = nx
	}
	if !evicted && t.free == 0 {
		return t.reject(s, Full)
	}
	x := t.free
	t.free = n[x].right
	n[x] = tnode{seg: s}
	t.insertAfter(p, x)
	t.count++
	t.bytes += uint64(s.Len)
	if r == Trimmed {
		t.stats.Trimmed++
		return Trimmed
	}
	return Queued
}

// next returns x's in-order successor, or 0.
func (t *Tree) next(x int32) int32 {
	n := t.nodes
	if r := n[x].right; r != 0 {
		for n[r].left != 0 {
			r = n[r].left
		}
		return r
	}
	p := n[x].parent
	for p != 0 && x == n[p].right {
		x, p = p, n[p].parent
	}
	return p
}

// prev returns x's in-order predecessor, or 0.
func (t *Tree) prev(x int32) int32 {
	n := t.nodes
	if l := n[x].left; l != 0 {
		for n[l].right != 0 {
			l = n[l].right
		}
		return l
	}
	p := n[x].parent
	for p != 0 && x == n[p].left {
		x, p = p, n[p].parent
	}
	return p
}

// insertAfter links the new node x as the in-order successor of p (or as
// the minimum if p is 0) and rebalances.
func (t *Tree) insertAfter(p, x int32) {
	n := t.nodes
	n[x].left, n[x].right, n[x].red = 0, 0, true
	switch {
	case t.root == 0:
		n[x].parent = 0
		t.root, t.min, t.max = x, x, x
		n[x].red = false
		return
	case p == 0:
		n[x].parent = t.min
		n[t.min].left = x
		t.min = x
	case n[p].right == 0:
		n[x].parent = p
		n[p].right = x
		if p == t.max {
			t.max = x
		}
	default:
		y := n[p].right
		for n[y].left != 0 {
			y = n[y].left
		}
		n[x].parent = y
		n[y].left = x
	}
	t.insertFixup(x)
}

func (t *Tree) rotateLeft(x int32) {
	n := t.nodes
	y := n[x].right
	n[x].right = n[y].left
	if n[y].left != 0 {
		n[n[y].left].parent = x
	}
	t.replaceChild(n[x].parent, x, y)
	n[y].left = x
	n[x].parent = y
}

func (t *Tree) rotateRight(x int32) {
	n := t.nodes
	y := n[x].left
	n[x].left = n[y].right
	if n[y].right != 0 {
		n[n[y].right].parent = x
	}
	t.replaceChild(n[x].parent, x, y)
	n[y].right = x
	n[x].parent = y
}

// replaceChild makes y take x's place under parent p (the root if p is 0).
func (t *Tree) replaceChild(p, x, y int32) {
	n := t.nodes
	n[y].parent = p
	switch {
	case p == 0:
		t.root = y
	case n[p].left == x:
		n[p].left = y
	default:
		n[p].right = y
	}
}

// insertFixup restores the red-black properties after x was linked red
// (CLRS §13.3).
func (t *Tree) insertFixup(x int32) {
	n := t.nodes
	for {
		p := n[x].parent
		if !n[p].red { // includes the root's parent, the black sentinel
			break
		}
		g := n[p].parent
		if p == n[g].left {
			u := n[g].right
			if n[u].red {
				n[p].red, n[u].red, n[g].red = false, false, true
				x = g
				continue
			}
			if x == n[p].right {
				x = p
				t.rotateLeft(x)
				p = n[x].parent
			}
			n[p].red, n[g].red = false, true
			t.rotateRight(g)
		} else {
			u := n[g].left
			if n[u].red {
				n[p].red, n[u].red, n[g].red = false, false, true
				x = g
				continue
			}
			if x == n[p].left {
				x = p
				t.rotateRight(x)
				p = n[x].parent
			}
			n[p].red, n[g].red = false, true
			t.rotateLeft(g)
		}
	}
	n[t.root].red = false
}

// delete unlinks z and rebalances (CLRS §13.4). Nodes move by relinking,
// never by copying segments, so indices stay valid.
func (t *Tree) delete(z int32) {
	n := t.nodes
	if z == t.min {
		t.min = t.next(z)
	}
	if z == t.max {
		t.max = t.prev(z)
	}
	y, yRed := z, n[z].red
	var x int32
	switch {
	case n[z].left == 0:
		x = n[z].right
		t.transplant(z, x)
	case n[z].right == 0:
		x = n[z].left
		t.transplant(z, x)
	default:
		y = n[z].right
		for n[y].left != 0 {
			y = n[y].left
		}
		yRed = n[y].red
		x = n[y].right
		if n[y].parent == z {
			n[x].parent = y // x may be the sentinel
		} else {
			t.transplant(y, x)
			n[y].right = n[z].right
			n[n[y].right].parent = y
		}
		t.transplant(z, y)
		n[y].left = n[z].left
		n[n[y].left].parent = y
		n[y].red = n[z].red
	}
	if !yRed {
		t.deleteFixup(x)
	}
	n[0] = tnode{}
	if t.root == 0 {
		t.min, t.max = 0, 0
	}
}

// transplant puts v (possibly the sentinel) where u was.
func (t *Tree) transplant(u, v int32) {
	n := t.nodes
	p := n[u].parent
	switch {
	case p == 0:
		t.root = v
	case u == n[p].left:
		n[p].left = v
	default:
		n[p].right = v
	}
	n[v].parent = p
}

func (t *Tree) deleteFixup(x int32) {
	n := t.nodes
	for x != t.root && !n[x].red {
		p := n[x].parent
		if x == n[p].left {
			w := n[p].right
			if n[w].red {
				n[w].red, n[p].red = false, true
				t.rotateLeft(p)
				w = n[p].right
			}
			if !n[n[w].left].red && !n[n[w].right].red {
				n[w].red = true
				x = p
				continue
			}
			if !n[n[w].right].red {
				n[n[w].left].red, n[w].red = false, true
				t.rotateRight(w)
				w = n[p].right
			}
			n[w].red, n[p].red = n[p].red, false
			n[n[w].right].red = false
			t.rotateLeft(p)
			x = t.root
		} else {
			w := n[p].left
			if n[w].red {
				n[w].red, n[p].red = false, true
				t.rotateRight(p)
				w = n[p].left
			}
			if !n[n[w].right].red && !n[n[w].left].red {
				n[w].red = true
				x = p
				continue
			}
			if !n[n[w].left].red {
				n[n[w].right].red, n[w].red = false, true
				t.rotateLeft(w)
				w = n[p].left
			}
			n[w].red, n[p].red = n[p].red, false
			n[n[w].left].red = false
			t.rotateRight(p)
			x = t.root
		}
	}
	n[x].red = false
}

// drop frees the unlinked node i and releases its segment.
func (t *Tree) drop(i int32) {
	s := t.nodes[i].seg
	t.freeNode(i)
	t.stats.Released++
	if t.release != nil {
		t.release(s)
	}
}

func (t *Tree) freeNode(i int32) {
	t.count--
	t.bytes -= uint64(t.nodes[i].seg.Len)
	t.nodes[i] = tnode{right: t.free}
	t.free = i
}

func (t *Tree) reject(s Seg, r Result) Result {
	switch r {
	case Duplicate:
		t.stats.Duplicate++
	case Old:
		t.stats.Old++
	case Beyond:
		t.stats.Beyond++
	case Full:
		t.stats.Full++
	}
	t.stats.Released++
	if t.release != nil {
		t.release(s)
	}
	return r
}

// Pop removes and returns the first segment if it starts at the left edge.
func (t *Tree) Pop() (Seg, bool) {
	f := t.min
	if f == 0 || t.nodes[f].seg.DSN != t.left {
		return Seg{}, false
	}
	s := t.nodes[f].seg
	t.delete(f)
	t.freeNode(f)
	t.left = s.End()
	t.stats.Delivered++
	return s, true
}

// PopRun delivers everything in order, node by node as Linux's
// mptcp_ofo_queue does (each node is erased from the tree), handing each
// segment to the Release function if there is one; see Queue.PopRun.
func (t *Tree) PopRun() (Range, bool) {
	start := t.left
	s, ok := t.Pop()
	if !ok {
		return Range{}, false
	}
	for ; ok; s, ok = t.Pop() {
		if t.release != nil {
			t.release(s)
		}
	}
	return Range{start, t.left}, true
}

// Drain pops every in-order segment into deliver; see Queue.Drain.
func (t *Tree) Drain(deliver func(Seg)) int {
	k := 0
	for s, ok := t.Pop(); ok; s, ok = t.Pop() {
		deliver(s)
		k++
	}
	return k
}

// Advance moves the left edge forward; see Queue.Advance.
func (t *Tree) Advance(to uint64) {
	if !before(t.left, to) {
		return
	}
	t.left = to
	for t.min != 0 {
		f := t.min
		nd := &t.nodes[f]
		if !before(to, nd.seg.End()) {
			t.delete(f)
			t.drop(f)
			continue
		}
		if before(nd.seg.DSN, to) {
			d := to - nd.seg.DSN
			nd.seg.DSN, nd.seg.Off, nd.seg.Len = to, nd.seg.Off+uint32(d), nd.seg.Len-uint32(d)
			t.bytes -= d
		}
		break
	}
}

// SetLimit sets the right edge; see Queue.SetLimit.
func (t *Tree) SetLimit(end uint64) { t.limit, t.limited = end, true }

// ClearLimit removes the right edge.
func (t *Tree) ClearLimit() { t.limited = false }

// Next returns the left edge.
func (t *Tree) Next() uint64 { return t.left }

// Len returns the number of queued segments.
func (t *Tree) Len() int { return t.count }

// Bytes returns the number of queued bytes.
func (t *Tree) Bytes() uint64 { return t.bytes }

// Cap returns the capacity in segments.
func (t *Tree) Cap() int { return len(t.nodes) - 1 }

// Holes writes the missing ranges; see Queue.Holes.
func (t *Tree) Holes(dst []Range) int {
	k, at := 0, t.left
	for i := t.min; i != 0; i = t.next(i) {
		if s := t.nodes[i].seg.DSN; s != at {
			if k < len(dst) {
				dst[k] = Range{at, s}
			}
			k++
		}
		at = t.nodes[i].seg.End()
	}
	return k
}

// Blocks writes the queued runs; see Queue.Blocks.
func (t *Tree) Blocks(dst []Range) int {
	k := 0
	var cur Range
	for i := t.min; i != 0; i = t.next(i) {
		s := t.nodes[i].seg
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
func (t *Tree) Stats() Stats { return t.stats }

// Reset releases everything and moves the left edge; see Queue.Reset.
func (t *Tree) Reset(start uint64) {
	for t.min != 0 {
		f := t.min
		t.delete(f)
		t.drop(f)
	}
	t.left = start
}

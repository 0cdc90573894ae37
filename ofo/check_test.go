package ofo

import (
	"fmt"
	"testing"
	"unsafe"
)

// impl names a constructor; every behavioural test runs against all three.
type impl struct {
	name string
	make func(Config) Interface
}

var impls = []impl{
	{"shortcut", func(c Config) Interface { return New(c) }},
	{"tree", func(c Config) Interface { return NewTree(c) }},
	{"linear", func(c Config) Interface { return NewList(c) }},
}

// checkInvariants verifies the structure behind any implementation and
// returns the first violation, or nil.
func checkInvariants(q Interface) error {
	switch q := q.(type) {
	case *Queue:
		return q.check()
	case *Tree:
		return q.check()
	case *List:
		return q.check()
	}
	return fmt.Errorf("unknown implementation %T", q)
}

// checkSegs verifies a sorted sequence of queued segments against the
// counters: disjoint, increasing, at or after the left edge, non-empty.
func checkSegs(segs []Seg, left uint64, count int, bytes uint64) error {
	if len(segs) != count {
		return fmt.Errorf("walk found %d segments, count says %d", len(segs), count)
	}
	var sum uint64
	at := left
	for i, s := range segs {
		if s.Len == 0 {
			return fmt.Errorf("segment %d is empty", i)
		}
		if before(s.DSN, at) {
			return fmt.Errorf("segment %d [%d,%d) starts before %d (left edge or previous end)", i, s.DSN, s.End(), at)
		}
		at = s.End()
		sum += uint64(s.Len)
	}
	if sum != bytes {
		return fmt.Errorf("segments hold %d bytes, bytes says %d", sum, bytes)
	}
	return nil
}

func (q *Queue) check() error {
	n := q.nodes
	var segs []Seg
	prev := nilNode
	runs := 0
	for i := q.first; i != nilNode; i = n[i].next {
		if len(segs) > len(n) {
			return fmt.Errorf("list cycle")
		}
		if i != q.first && n[i].prev != prev { // the first node's prev may be stale
			return fmt.Errorf("node %d prev %d, want %d", i, n[i].prev, prev)
		}
		if n[i].gen&1 != 1 {
			return fmt.Errorf("queued node %d has even generation %d", i, n[i].gen)
		}
		if q.isHead(i) {
			runs++
			t := q.runTail(i)
			if t < 0 || int(t) >= len(n) || !q.isTail(t) || q.runHead(t) != i {
				return fmt.Errorf("run head %d links to %d, which is not its tail", i, t)
			}
			// The tail must be reachable through contiguous nodes.
			j, k := i, int32(1)
			for j != t {
				nx := n[j].next
				if nx == nilNode || n[nx].seg.DSN != n[j].seg.End() {
					return fmt.Errorf("run head %d: tail %d not at the end of its run", i, t)
				}
				j = nx
				k++
			}
			if c := q.runCount(i); c != k {
				return fmt.Errorf("run head %d counts %d segments, the run has %d", i, c, k)
			}
		}
		segs = append(segs, n[i].seg)
		prev = i
	}
	if q.last != prev {
		return fmt.Errorf("last = %d, walk ended at %d", q.last, prev)
	}
	if ready := q.first != nilNode && n[q.first].seg.DSN == q.left; q.ready != ready {
		return fmt.Errorf("ready = %v, want %v", q.ready, ready)
	}
	if q.first == nilNode && (q.firstTail != nilNode || q.firstCount != 0) {
		return fmt.Errorf("empty queue with firstTail %d, firstCount %d", q.firstTail, q.firstCount)
	}
	if runs != q.runs {
		return fmt.Errorf("runs = %d, walk found %d", q.runs, runs)
	}
	free := 0
	for i := q.free; i != nilNode; i = n[i].next {
		// Only PopRun leaves odd generations, on nodes below the left
		// edge, which live tells from queued ones by that position.
		if n[i].gen&1 != 0 && (!q.lazy || before(q.left, n[i].seg.End())) {
			return fmt.Errorf("free node %d has odd generation and ends at %d, left edge %d, lazy %v", i, n[i].seg.End(), q.left, q.lazy)
		}
		free++
		if free > len(n) {
			return fmt.Errorf("free list cycle")
		}
	}
	if free+q.count != len(n) {
		return fmt.Errorf("%d free + %d queued != capacity %d", free, q.count, len(n))
	}
	return checkSegs(segs, q.left, q.count, q.bytes)
}

func (l *List) check() error {
	n := l.nodes
	var segs []Seg
	prev := nilNode
	for i := l.first; i != nilNode; i = n[i].next {
		if len(segs) > len(n) {
			return fmt.Errorf("list cycle")
		}
		if n[i].prev != prev {
			return fmt.Errorf("node %d prev %d, want %d", i, n[i].prev, prev)
		}
		segs = append(segs, n[i].seg)
		prev = i
	}
	if l.last != prev {
		return fmt.Errorf("last = %d, walk ended at %d", l.last, prev)
	}
	free := 0
	for i := l.free; i != nilNode; i = n[i].next {
		free++
		if free > len(n) {
			return fmt.Errorf("free list cycle")
		}
	}
	if free+l.count != len(n) {
		return fmt.Errorf("%d free + %d queued != capacity %d", free, l.count, len(n))
	}
	return checkSegs(segs, l.left, l.count, l.bytes)
}

func (t *Tree) check() error {
	n := t.nodes
	if n[0].red {
		return fmt.Errorf("sentinel is red")
	}
	if t.root != 0 && (n[t.root].parent != 0 || n[t.root].red) {
		return fmt.Errorf("root %d has parent %d or is red", t.root, n[t.root].parent)
	}
	var segs []Seg
	var walk func(x int32, depth int) (int, error)
	walk = func(x int32, depth int) (int, error) {
		if x == 0 {
			return 1, nil
		}
		if depth > 2*len(n) {
			return 0, fmt.Errorf("tree cycle")
		}
		for _, c := range []int32{n[x].left, n[x].right} {
			if c != 0 && n[c].parent != x {
				return 0, fmt.Errorf("node %d: child %d has parent %d", x, c, n[c].parent)
			}
			if c != 0 && n[x].red && n[c].red {
				return 0, fmt.Errorf("red node %d has red child %d", x, c)
			}
		}
		lh, err := walk(n[x].left, depth+1)
		if err != nil {
			return 0, err
		}
		segs = append(segs, n[x].seg)
		rh, err := walk(n[x].right, depth+1)
		if err != nil {
			return 0, err
		}
		if lh != rh {
			return 0, fmt.Errorf("node %d: black heights %d and %d", x, lh, rh)
		}
		if !n[x].red {
			lh++
		}
		return lh, nil
	}
	if _, err := walk(t.root, 0); err != nil {
		return err
	}
	if len(segs) > 0 {
		if n[t.min].seg != segs[0] || n[t.max].seg != segs[len(segs)-1] {
			return fmt.Errorf("min/max %d/%d are not the extreme segments", t.min, t.max)
		}
		// next and prev must agree with the in-order walk.
		i := t.min
		for k := range segs {
			if n[i].seg != segs[k] {
				return fmt.Errorf("next() walk differs at %d", k)
			}
			if k > 0 && t.prev(i) == 0 {
				return fmt.Errorf("prev() of in-order element %d is 0", k)
			}
			i = t.next(i)
		}
		if i != 0 {
			return fmt.Errorf("next() walk goes past the maximum")
		}
	} else if t.min != 0 || t.max != 0 {
		return fmt.Errorf("empty tree with min %d, max %d", t.min, t.max)
	}
	free := 0
	for i := t.free; i != 0; i = n[i].right {
		free++
		if free > len(n) {
			return fmt.Errorf("free list cycle")
		}
	}
	if free+t.count != len(n)-1 {
		return fmt.Errorf("%d free + %d queued != capacity %d", free, t.count, len(n)-1)
	}
	return checkSegs(segs, t.left, t.count, t.bytes)
}

// contents returns the queued segments in order.
func contents(q Interface) []Seg {
	var segs []Seg
	switch q := q.(type) {
	case *Queue:
		for i := q.first; i != nilNode; i = q.nodes[i].next {
			segs = append(segs, q.nodes[i].seg)
		}
	case *List:
		for i := q.first; i != nilNode; i = q.nodes[i].next {
			segs = append(segs, q.nodes[i].seg)
		}
	case *Tree:
		for i := q.min; i != 0; i = q.next(i) {
			segs = append(segs, q.nodes[i].seg)
		}
	}
	return segs
}

// TestNodeSizes pins the memory layout docs/ofo.md and doc.go state.
func TestNodeSizes(t *testing.T) {
	if s, n := unsafe.Sizeof(Seg{}), unsafe.Sizeof(qnode{}); s != 24 || n != 48 {
		t.Fatalf("Seg is %d bytes, a Queue node %d; the docs say 24 and 48", s, n)
	}
}

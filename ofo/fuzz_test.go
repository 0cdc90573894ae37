package ofo

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// model is the trivially correct reference: a map from each queued byte to
// the handle that holds it, plus each live handle's stored segment. Its
// rules are stated on bytes only; it knows nothing of runs, hints or trees.
type model struct {
	left    uint64
	limit   uint64
	limited bool
	cap     int
	owner   map[uint64]uint64 // queued byte -> handle
	segs    map[uint64]Seg    // handle -> its segment as stored now
}

func newModel(start uint64, capacity int) *model {
	return &model{left: start, cap: capacity, owner: map[uint64]uint64{}, segs: map[uint64]Seg{}}
}

func (m *model) queued(x uint64) bool { _, ok := m.owner[x]; return ok }

// sorted returns the live segments in DSN order.
func (m *model) sorted() []Seg {
	out := make([]Seg, 0, len(m.segs))
	for _, s := range m.segs {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Seg) int {
		if before(a.DSN, b.DSN) {
			return -1
		}
		return 1
	})
	return out
}

func (m *model) remove(h uint64) {
	s := m.segs[h]
	for x := s.DSN; x != s.End(); x++ {
		delete(m.owner, x)
	}
	delete(m.segs, h)
}

// insert applies the byte rules and returns the result and the segments it
// evicts, in DSN order.
func (m *model) insert(s Seg) (Result, []Seg) {
	orig := s
	if s.Len == 0 {
		return Duplicate, nil
	}
	if !before(m.left, s.End()) {
		return Old, nil
	}
	a, b := s.DSN, s.End()
	if before(a, m.left) {
		a = m.left
	}
	if m.limited {
		if !before(a, m.limit) {
			return Beyond, nil
		}
		if before(m.limit, b) {
			b = m.limit
		}
	}
	// The new part starts at the first byte not queued ...
	for a != b && m.queued(a) {
		a++
	}
	if a == b {
		return Duplicate, nil
	}
	// ... and ends where the queued data holding byte b begins, if any.
	if m.queued(b) {
		for m.queued(b - 1) {
			b--
		}
	}
	var evicted []Seg
	for x := a; x != b; x++ {
		if h, ok := m.owner[x]; ok {
			e := m.segs[h]
			if before(e.DSN, a) || before(b, e.End()) {
				panic(fmt.Sprintf("model: evicted segment [%d,%d) sticks out of [%d,%d)", e.DSN, e.End(), a, b))
			}
			evicted = append(evicted, e)
			m.remove(h)
			x = e.End() - 1
		}
	}
	if len(evicted) == 0 && len(m.segs) == m.cap {
		return Full, nil
	}
	st := Seg{DSN: a, Len: uint32(b - a), Off: orig.Off + uint32(a-orig.DSN), Handle: orig.Handle}
	for x := a; x != b; x++ {
		m.owner[x] = st.Handle
	}
	m.segs[st.Handle] = st
	if a != orig.DSN || b != orig.End() {
		return Trimmed, evicted
	}
	return Queued, evicted
}

func (m *model) pop() (Seg, bool) {
	h, ok := m.owner[m.left]
	if !ok {
		return Seg{}, false
	}
	s := m.segs[h]
	m.remove(h)
	m.left = s.End()
	return s, true
}

// advance returns the segments released, in order.
func (m *model) advance(to uint64) []Seg {
	if !before(m.left, to) {
		return nil
	}
	var rel []Seg
	for _, s := range m.sorted() {
		if !before(s.DSN, to) {
			break
		}
		if !before(to, s.End()) {
			rel = append(rel, s)
			m.remove(s.Handle)
			continue
		}
		m.remove(s.Handle)
		d := to - s.DSN
		s.DSN, s.Off, s.Len = to, s.Off+uint32(d), s.Len-uint32(d)
		for x := s.DSN; x != s.End(); x++ {
			m.owner[x] = s.Handle
		}
		m.segs[s.Handle] = s
	}
	m.left = to
	return rel
}

func (m *model) reset(start uint64) []Seg {
	rel := m.sorted()
	m.owner, m.segs = map[uint64]uint64{}, map[uint64]Seg{}
	m.left = start
	return rel
}

func (m *model) bytes() uint64 {
	var n uint64
	for _, s := range m.segs {
		n += uint64(s.Len)
	}
	return n
}

func (m *model) holes() []Range {
	var out []Range
	at := m.left
	for _, s := range m.sorted() {
		if s.DSN != at {
			out = append(out, Range{at, s.DSN})
		}
		at = s.End()
	}
	return out
}

func (m *model) blocks() []Range {
	var out []Range
	for _, s := range m.sorted() {
		if k := len(out); k > 0 && out[k-1].End == s.DSN {
			out[k-1].End = s.End()
			continue
		}
		out = append(out, Range{s.DSN, s.End()})
	}
	return out
}

// subject is one implementation under test with what it has handed back.
// norel marks a Queue built without a Release function, whose PopRun frees
// runs wholesale: it hands nothing back, so only what it holds is checked.
type subject struct {
	name     string
	norel    bool
	q        Interface
	released []Seg
	hints    [4]Hint
	returned map[uint64]int // handle -> times popped or released
}

// runOps decodes data into an operation sequence, applies it to the model
// and to every implementation, and fails on the first disagreement.
//
// Encoding: data[0] picks the capacity (1..16), data[1] the start DSN (near
// the 2^64 wrap unless 0); then 4-byte operations [op x y z]:
//
//	op%8 0..3  insert; op%4 == 3 passes a garbage hint, op%4 == 2 none,
//	           otherwise subflow (op>>3)%4's hint. op&0x40 picks byte
//	           granularity (start = left+x-32, len = y%40); else a 4-byte
//	           grid that makes contiguity and exact overlaps common.
//	op%8 4     Pop once
//	op%8 5     z%2 0: Drain, 1: PopRun
//	op%8 6     Advance to left + x%48
//	op%8 7     x%4: 0 SetLimit(left + 4y), 1 ClearLimit, 2 Reset(left + y - 64), 3 check only
func runOps(t *testing.T, data []byte) {
	if len(data) < 2 {
		return
	}
	capacity := 1 + int(data[0]%16)
	start := -uint64(data[1]) * 4
	data = data[2:]
	m := newModel(start, capacity)
	subs := make([]*subject, len(impls), len(impls)+1)
	for i, im := range impls {
		s := &subject{name: im.name, returned: map[uint64]int{}}
		s.q = im.make(Config{Capacity: capacity, Start: start, Release: func(g Seg) { s.released = append(s.released, g) }})
		subs[i] = s
	}
	subs = append(subs, &subject{name: "shortcut without Release", norel: true, returned: map[uint64]int{}, q: New(Config{Capacity: capacity, Start: start})})
	var handle uint64
	holes := make([]Range, 3)
	for step := 0; len(data) >= 4; step++ {
		op, x, y, z := data[0], data[1], data[2], data[3]
		data = data[4:]
		var (
			what     string
			wantRel  []Seg
			rejected uint64 // handle of a rejected newcomer, 0 if none
		)
		switch op % 8 {
		case 0, 1, 2, 3:
			handle++
			s := Seg{Handle: handle, Off: uint32(handle)*1000 + 17}
			if op&0x40 != 0 {
				s.DSN, s.Len = m.left+uint64(x)-32, uint32(y%40)
			} else {
				s.DSN, s.Len = m.left+(uint64(x%64)-4)*4, uint32(y%12)*4
			}
			inOrder := !before(m.left, s.DSN) // placed at the left edge if stored
			want, evicted := m.insert(s)
			wantRel = evicted
			if !want.Stored() {
				rejected = handle
			}
			what = fmt.Sprintf("insert [%d,%d) h%d -> %v", s.DSN-start, s.End()-start, handle, want)
			sub := int(op>>3) % 4
			for _, su := range subs {
				h := su.hints[sub]
				switch op % 4 {
				case 2:
					h = Hint{}
				case 3:
					h = Hint{n: int32(z) - 8, gen: uint32(y) | uint32(x)<<8}
				}
				nh, got := su.q.Insert(s, h)
				if got != want {
					t.Fatalf("step %d %s: %s returned %v", step, what, su.name, got)
				}
				if op%4 < 2 {
					su.hints[sub] = nh
				}
				if q, ok := su.q.(*Queue); ok && inOrder && h.n != 0 {
					// In order: the caller's hint is kept.
					if nh != h {
						t.Fatalf("step %d %s: in order, hint %+v returned as %+v", step, what, h, nh)
					}
				} else if ok && got.Stored() {
					// The hint names the last segment of the run that now
					// holds the stored one, or, predicting, the last
					// segment of the run after that.
					i, st := q.live(nh), m.segs[handle]
					if i != nilNode && nh.n&hintAhead != 0 {
						if !q.isTail(i) || q.runHead(i) == q.first {
							i = nilNode
						} else {
							i = q.nodes[q.runHead(i)].prev
						}
					}
					if i == nilNode || !q.isTail(i) || before(st.DSN, q.nodes[q.runHead(i)].seg.DSN) || before(q.end(i), st.End()) {
						t.Fatalf("step %d %s: returned hint %+v is not the tail of the stored segment's run or of the run after it", step, what, nh)
					}
				}
			}
		case 4:
			want, wok := m.pop()
			what = fmt.Sprintf("pop -> %v %+v", wok, want)
			for _, su := range subs {
				got, ok := su.q.Pop()
				if ok != wok || got != want {
					t.Fatalf("step %d %s: %s popped %v %+v", step, what, su.name, ok, got)
				}
				if ok {
					su.returned[got.Handle]++
				}
			}
		case 5:
			var want []Seg
			from := m.left
			for s, ok := m.pop(); ok; s, ok = m.pop() {
				want = append(want, s)
			}
			if z%2 == 1 {
				// PopRun hands the segments to Release, in order.
				what = fmt.Sprintf("pop run [%d,%d) -> %d segments", from-start, m.left-start, len(want))
				wantRel = want
				for _, su := range subs {
					r, ok := su.q.PopRun()
					if ok != (len(want) > 0) || ok && r != (Range{from, m.left}) || !ok && r != (Range{}) {
						t.Fatalf("step %d %s: %s PopRun returned %v %v", step, what, su.name, r, ok)
					}
				}
				break
			}
			what = fmt.Sprintf("drain -> %d segments", len(want))
			for _, su := range subs {
				var got []Seg
				n := su.q.Drain(func(s Seg) { got = append(got, s) })
				if n != len(got) || !slices.Equal(got, want) {
					t.Fatalf("step %d %s: %s drained %d: %+v, want %+v", step, what, su.name, n, got, want)
				}
				for _, s := range got {
					su.returned[s.Handle]++
				}
			}
		case 6:
			to := m.left + uint64(x%48)
			what = fmt.Sprintf("advance to %d", to-start)
			wantRel = m.advance(to)
			for _, su := range subs {
				su.q.Advance(to)
			}
		case 7:
			switch x % 4 {
			case 0:
				m.limit, m.limited = m.left+uint64(y)*4, true
				what = fmt.Sprintf("limit %d", m.limit-start)
				for _, su := range subs {
					su.q.SetLimit(m.limit)
				}
			case 1:
				m.limited = false
				what = "no limit"
				for _, su := range subs {
					su.q.ClearLimit()
				}
			case 2:
				to := m.left + uint64(y) - 64 // also backwards
				what = fmt.Sprintf("reset to %d", to-start)
				wantRel = m.reset(to)
				for _, su := range subs {
					su.q.Reset(to)
				}
			default:
				what = "check"
			}
		}
		// Compare everything observable.
		wantHoles, wantBlocks := m.holes(), m.blocks()
		var ref Stats
		for k, su := range subs {
			if su.norel {
				// Nothing to hand back: skip to what it holds.
			} else if rejected != 0 {
				if len(su.released) == 0 || su.released[len(su.released)-1].Handle != rejected {
					t.Fatalf("step %d %s: %s did not release the rejected segment: %+v", step, what, su.name, su.released)
				}
				su.released = su.released[:len(su.released)-1]
				su.returned[rejected]++
			}
			if !su.norel && !slices.Equal(su.released, wantRel) {
				t.Fatalf("step %d %s: %s released %+v, want %+v", step, what, su.name, su.released, wantRel)
			}
			for _, s := range su.released {
				su.returned[s.Handle]++
			}
			su.released = su.released[:0]
			if err := checkInvariants(su.q); err != nil {
				t.Fatalf("step %d %s: %s: %v", step, what, su.name, err)
			}
			if got := contents(su.q); !slices.Equal(got, m.sorted()) {
				t.Fatalf("step %d %s: %s holds %+v, want %+v", step, what, su.name, got, m.sorted())
			}
			if su.q.Len() != len(m.segs) || su.q.Bytes() != m.bytes() || su.q.Next() != m.left {
				t.Fatalf("step %d %s: %s Len %d Bytes %d Next %d; want %d %d %d", step, what, su.name,
					su.q.Len(), su.q.Bytes(), su.q.Next(), len(m.segs), m.bytes(), m.left)
			}
			if n := su.q.Holes(holes); n != len(wantHoles) || !slices.Equal(holes[:min(n, len(holes))], wantHoles[:min(n, len(holes))]) {
				t.Fatalf("step %d %s: %s Holes %d %v, want %v", step, what, su.name, n, holes[:min(n, len(holes))], wantHoles)
			}
			if n := su.q.Blocks(holes); n != len(wantBlocks) || !slices.Equal(holes[:min(n, len(holes))], wantBlocks[:min(n, len(holes))]) {
				t.Fatalf("step %d %s: %s Blocks %d %v, want %v", step, what, su.name, n, holes[:min(n, len(holes))], wantBlocks)
			}
			st := su.q.Stats()
			st.HintHits, st.NextHits, st.EndHits, st.EdgeHits, st.Scans = 0, 0, 0, 0, st.HintHits+st.NextHits+st.EndHits+st.EdgeHits+st.Scans
			st.AheadHits, st.StaleHints, st.BatchSteps, st.SegSteps = 0, 0, 0, 0
			if k == 0 {
				ref = st
			} else if st != ref {
				t.Fatalf("step %d %s: %s stats %+v differ from %s %+v", step, what, su.name, st, subs[0].name, ref)
			}
		}
	}
	// Every handle comes back exactly once: popped, or released.
	end := m.left + 1<<20
	m.reset(end)
	for _, su := range subs {
		su.q.Reset(end)
		if su.norel {
			if err := checkInvariants(su.q); err != nil {
				t.Fatalf("%s after Reset: %v", su.name, err)
			}
			continue
		}
		for _, s := range su.released {
			su.returned[s.Handle]++
		}
		for h := uint64(1); h <= handle; h++ {
			if su.returned[h] != 1 {
				t.Fatalf("%s: handle %d came back %d times", su.name, h, su.returned[h])
			}
		}
	}
}

func FuzzOperations(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(runOps)
}

// fuzzSeeds returns hand-made sequences for each overlap case, plus seeded
// random ones.
func fuzzSeeds() [][]byte {
	ins := func(sub, x, y byte) []byte { return []byte{sub << 3, x, y, 0} } // grid insert with hint
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	seeds := [][]byte{
		// duplicate, inside, left and right overlaps, covering, adjacency
		cat([]byte{15, 0}, ins(0, 10, 4), ins(1, 10, 4), ins(1, 11, 1), ins(2, 12, 4), ins(3, 8, 4), ins(0, 6, 11)),
		// runs filled in, then drained; near the wrap
		cat([]byte{15, 3}, ins(0, 8, 2), ins(0, 10, 2), ins(1, 14, 2), ins(1, 16, 2), ins(2, 12, 2), ins(3, 4, 4), []byte{5, 0, 0, 0}),
		// full queue
		cat([]byte{1, 1}, ins(0, 8, 2), ins(1, 12, 2), ins(1, 10, 4), ins(2, 6, 8)),
		// subflows taking turns, one 4-byte segment each: 0 ahead (units
		// 4k and 4k+1 here), 3 behind (4k+3, never sent): subflow 2 (4k+2)
		// continues the run after its hint's twice, then its predicting
		// hint; it carries a retransmission in order (its hint is kept)
		// and one out of order (the prediction misses), and goes on
		cat([]byte{15, 3}, ins(0, 8, 1), ins(0, 9, 1), ins(0, 12, 1), ins(0, 13, 1), ins(0, 16, 1), ins(0, 17, 1),
			ins(0, 20, 1), ins(0, 21, 1), ins(0, 24, 1), ins(0, 25, 1),
			ins(2, 10, 1), ins(2, 14, 1), ins(2, 18, 1), ins(2, 22, 1), ins(2, 4, 1), ins(2, 5, 1), ins(2, 26, 1),
			[]byte{5, 0, 1, 0}),
		// advance through a segment, limit, reset
		cat([]byte{7, 0}, ins(0, 6, 4), []byte{6, 10, 0, 0, 7, 0, 5, 0}, ins(1, 8, 9), []byte{7, 2, 9, 0}, ins(0, 5, 3)),
	}
	r := rand.New(rand.NewPCG(4, 4))
	for range 8 {
		b := make([]byte, 2+4*64)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// TestModelRandom runs long seeded random sequences through runOps, beyond
// what the fuzz seed corpus covers.
func TestModelRandom(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 50
	}
	r := rand.New(rand.NewPCG(8684, 12))
	for i := range n {
		b := make([]byte, 2+4*(100+r.IntN(400)))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) { runOps(t, b) })
		if t.Failed() {
			return
		}
	}
}

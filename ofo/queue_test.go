package ofo

import (
	"slices"
	"testing"
)

// seg builds a segment whose Off is its handle times 1000.
func seg(dsn uint64, n uint32, h uint64) Seg {
	return Seg{DSN: dsn, Len: n, Handle: h, Off: uint32(h) * 1000}
}

// want describes a queued segment: [dsn, dsn+n) held by handle h at offset
// off within h's buffer.
type want struct {
	dsn uint64
	n   uint32
	h   uint64
	off uint32
}

func TestOverlaps(t *testing.T) {
	const L = 1000 // left edge
	tests := []struct {
		name     string
		setup    []Seg
		in       Seg
		result   Result
		released []uint64 // handles, in order
		queued   []want
		blocks   []Range
	}{
		{
			name:   "exact duplicate",
			setup:  []Seg{seg(1010, 10, 1)},
			in:     seg(1010, 10, 2),
			result: Duplicate, released: []uint64{2},
			queued: []want{{1010, 10, 1, 1000}},
		},
		{
			name:   "inside one",
			setup:  []Seg{seg(1010, 20, 1)},
			in:     seg(1015, 5, 2),
			result: Duplicate, released: []uint64{2},
			queued: []want{{1010, 20, 1, 1000}},
		},
		{
			name:   "spans two segments of one run",
			setup:  []Seg{seg(1010, 10, 1), seg(1020, 10, 2)},
			in:     seg(1015, 10, 3),
			result: Duplicate, released: []uint64{3},
			queued: []want{{1010, 10, 1, 1000}, {1020, 10, 2, 2000}},
		},
		{
			name:   "overlaps a segment's end (left overlap)",
			setup:  []Seg{seg(1010, 10, 1)},
			in:     seg(1015, 10, 2),
			result: Trimmed,
			queued: []want{{1010, 10, 1, 1000}, {1020, 5, 2, 2005}},
			blocks: []Range{{1010, 1025}},
		},
		{
			name:   "overlaps a segment's start (right overlap)",
			setup:  []Seg{seg(1020, 10, 1)},
			in:     seg(1015, 10, 2),
			result: Trimmed,
			queued: []want{{1015, 5, 2, 2000}, {1020, 10, 1, 1000}},
			blocks: []Range{{1015, 1030}},
		},
		{
			name:   "same start, longer",
			setup:  []Seg{seg(1010, 10, 1)},
			in:     seg(1010, 20, 2),
			result: Trimmed,
			queued: []want{{1010, 10, 1, 1000}, {1020, 10, 2, 2010}},
		},
		{
			name:   "fills a hole between two overlapped neighbours",
			setup:  []Seg{seg(1010, 10, 1), seg(1030, 10, 2)},
			in:     seg(1015, 20, 3),
			result: Trimmed,
			queued: []want{{1010, 10, 1, 1000}, {1020, 10, 3, 3005}, {1030, 10, 2, 2000}},
			blocks: []Range{{1010, 1040}},
		},
		{
			name:   "covers several",
			setup:  []Seg{seg(1020, 5, 1), seg(1030, 5, 2)},
			in:     seg(1015, 25, 3),
			result: Queued, released: []uint64{1, 2},
			queued: []want{{1015, 25, 3, 3000}},
		},
		{
			name:   "covers several, overlaps both neighbours",
			setup:  []Seg{seg(1010, 10, 1), seg(1022, 2, 2), seg(1026, 2, 3), seg(1030, 10, 4)},
			in:     seg(1015, 20, 5),
			result: Trimmed, released: []uint64{2, 3},
			queued: []want{{1010, 10, 1, 1000}, {1020, 10, 5, 5005}, {1030, 10, 4, 4000}},
			blocks: []Range{{1010, 1040}},
		},
		{
			name:   "covers a whole run of several segments",
			setup:  []Seg{seg(1010, 10, 1), seg(1020, 10, 2)},
			in:     seg(1005, 30, 3),
			result: Queued, released: []uint64{1, 2},
			queued: []want{{1005, 30, 3, 3000}},
		},
		{
			name:   "covers the start of a run that continues past it",
			setup:  []Seg{seg(1020, 5, 1), seg(1025, 5, 2)},
			in:     seg(1015, 12, 3),
			result: Trimmed,
			queued: []want{{1015, 5, 3, 3000}, {1020, 5, 1, 1000}, {1025, 5, 2, 2000}},
		},
		{
			name:   "adjacent on both sides joins the runs",
			setup:  []Seg{seg(1010, 10, 1), seg(1030, 10, 2)},
			in:     seg(1020, 10, 3),
			result: Queued,
			queued: []want{{1010, 10, 1, 1000}, {1020, 10, 3, 3000}, {1030, 10, 2, 2000}},
			blocks: []Range{{1010, 1040}},
		},
		{
			name:   "wholly below the left edge",
			in:     seg(990, 10, 1),
			result: Old, released: []uint64{1},
		},
		{
			name:   "partly below the left edge",
			in:     seg(995, 10, 1),
			result: Trimmed,
			queued: []want{{1000, 5, 1, 1005}},
		},
		{
			name:   "empty",
			in:     seg(1010, 0, 1),
			result: Duplicate, released: []uint64{1},
		},
	}
	for _, tt := range tests {
		for _, im := range impls {
			t.Run(tt.name+"/"+im.name, func(t *testing.T) {
				var released []uint64
				q := im.make(Config{Capacity: 8, Start: L, Release: func(s Seg) { released = append(released, s.Handle) }})
				for _, s := range tt.setup {
					if _, r := q.Insert(s, Hint{}); r != Queued {
						t.Fatalf("setup insert %+v: %v", s, r)
					}
				}
				if _, r := q.Insert(tt.in, Hint{}); r != tt.result {
					t.Fatalf("Insert = %v, want %v", r, tt.result)
				}
				if !slices.Equal(released, tt.released) {
					t.Errorf("released %v, want %v", released, tt.released)
				}
				var got []want
				var bytes uint64
				for _, s := range contents(q) {
					got = append(got, want{s.DSN, s.Len, s.Handle, s.Off})
					bytes += uint64(s.Len)
				}
				if !slices.Equal(got, tt.queued) {
					t.Errorf("queued %v, want %v", got, tt.queued)
				}
				if q.Len() != len(tt.queued) || q.Bytes() != bytes {
					t.Errorf("Len %d Bytes %d, want %d %d", q.Len(), q.Bytes(), len(tt.queued), bytes)
				}
				if tt.blocks != nil {
					dst := make([]Range, 4)
					n := q.Blocks(dst)
					if !slices.Equal(dst[:n], tt.blocks) {
						t.Errorf("Blocks %v, want %v", dst[:n], tt.blocks)
					}
				}
				if err := checkInvariants(q); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

func TestDrainAndAdvance(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			var released []uint64
			q := im.make(Config{Capacity: 8, Start: 1000, Release: func(s Seg) { released = append(released, s.Handle) }})
			for _, s := range []Seg{seg(1010, 10, 1), seg(1020, 10, 2), seg(1040, 10, 3), seg(1060, 10, 4)} {
				q.Insert(s, Hint{})
			}
			if s, ok := q.Pop(); ok {
				t.Fatalf("Pop with a hole at the left edge returned %+v", s)
			}
			if _, r := q.Insert(seg(1000, 10, 5), Hint{}); r != Queued {
				t.Fatalf("in-order insert: %v", r)
			}
			var got []uint64
			if n := q.Drain(func(s Seg) { got = append(got, s.Handle) }); n != 3 {
				t.Fatalf("Drain delivered %d, want 3", n)
			}
			if !slices.Equal(got, []uint64{5, 1, 2}) || q.Next() != 1030 {
				t.Fatalf("drained %v, left edge %d; want [5 1 2], 1030", got, q.Next())
			}
			// The caller took [1030,1045) in order by itself: segment 3 is
			// trimmed to [1045,1050), not dropped.
			q.Advance(1045)
			if len(released) != 0 || q.Bytes() != 15 {
				t.Fatalf("after Advance: released %v, bytes %d; want none, 15", released, q.Bytes())
			}
			s, ok := q.Pop()
			if !ok || s.DSN != 1045 || s.Len != 5 || s.Off != 3005 {
				t.Fatalf("Pop after Advance = %+v %v; want [1045,1050) at offset 3005", s, ok)
			}
			// Advancing past a whole segment releases it.
			q.Advance(1080)
			if !slices.Equal(released, []uint64{4}) || q.Len() != 0 || q.Bytes() != 0 {
				t.Fatalf("released %v, Len %d, Bytes %d; want [4], 0, 0", released, q.Len(), q.Bytes())
			}
			q.Advance(1070) // backwards: ignored
			if q.Next() != 1080 {
				t.Fatalf("Next = %d after a backward Advance", q.Next())
			}
		})
	}
}

func TestLimit(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			q := im.make(Config{Capacity: 8, Start: 1000})
			q.SetLimit(1100)
			if _, r := q.Insert(seg(1100, 10, 1), Hint{}); r != Beyond {
				t.Errorf("at the limit: %v, want Beyond", r)
			}
			if _, r := q.Insert(seg(1095, 10, 2), Hint{}); r != Trimmed || q.Bytes() != 5 {
				t.Errorf("across the limit: %v, %d bytes; want Trimmed, 5", r, q.Bytes())
			}
			q.ClearLimit()
			if _, r := q.Insert(seg(1100, 10, 3), Hint{}); r != Queued {
				t.Errorf("after ClearLimit: %v, want Queued", r)
			}
		})
	}
}

func TestFull(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			var released []uint64
			q := im.make(Config{Capacity: 2, Start: 0, Release: func(s Seg) { released = append(released, s.Handle) }})
			q.Insert(seg(10, 10, 1), Hint{})
			q.Insert(seg(30, 10, 2), Hint{})
			if _, r := q.Insert(seg(50, 10, 3), Hint{}); r != Full {
				t.Fatalf("new bytes into a full queue: %v, want Full", r)
			}
			if _, r := q.Insert(seg(12, 4, 4), Hint{}); r != Duplicate {
				t.Fatalf("duplicate into a full queue: %v, want Duplicate", r)
			}
			if _, r := q.Insert(seg(15, 10, 5), Hint{}); r != Full {
				t.Fatalf("a trimmed newcomer still needs a node: %v, want Full", r)
			}
			// A newcomer that evicts frees the node it needs.
			if _, r := q.Insert(seg(25, 20, 6), Hint{}); r != Queued {
				t.Fatalf("covering insert into a full queue: %v, want Queued", r)
			}
			if !slices.Equal(released, []uint64{3, 4, 5, 2}) || q.Len() != 2 || q.Bytes() != 30 {
				t.Fatalf("released %v, Len %d, Bytes %d", released, q.Len(), q.Bytes())
			}
			if err := checkInvariants(q); err != nil {
				t.Fatal(err)
			}
			if st := q.Stats(); st.Full != 2 || st.Evicted != 1 || st.Released != 4 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestHoles(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			q := im.make(Config{Capacity: 8, Start: 1000})
			if n := q.Holes(nil); n != 0 {
				t.Fatalf("empty queue has %d holes", n)
			}
			for _, s := range []Seg{seg(1010, 10, 1), seg(1020, 10, 2), seg(1040, 10, 3), seg(1070, 5, 4)} {
				q.Insert(s, Hint{})
			}
			dst := make([]Range, 2)
			if n := q.Holes(dst); n != 3 || !slices.Equal(dst, []Range{{1000, 1010}, {1030, 1040}}) {
				t.Fatalf("Holes = %d %v", n, dst)
			}
			dst = make([]Range, 4)
			if n := q.Blocks(dst); n != 3 || !slices.Equal(dst[:n], []Range{{1010, 1030}, {1040, 1050}, {1070, 1075}}) {
				t.Fatalf("Blocks = %d %v", n, dst[:n])
			}
			if q, ok := q.(*Queue); ok && q.Runs() != 3 {
				t.Fatalf("Runs = %d, want 3", q.Runs())
			}
			q.Insert(seg(1000, 10, 5), Hint{})
			if n := q.Holes(dst); n != 2 || dst[0] != (Range{1030, 1040}) {
				t.Fatalf("after filling the first hole: Holes = %d %v", n, dst[:n])
			}
		})
	}
}

// TestHints covers the shortcut: hits, each way a hint goes stale, and
// hints that were never valid. None may misplace data (the fuzz model
// checks placement; here the counters show which path was taken).
func TestHints(t *testing.T) {
	q := New(Config{Capacity: 16, Start: 0})
	ha, r := q.Insert(seg(100, 10, 1), Hint{})
	h100 := ha
	if r != Queued || q.Stats().EdgeHits != 1 {
		t.Fatalf("first insert: %v %+v", r, q.Stats())
	}
	hb, _ := q.Insert(seg(200, 10, 2), Hint{}) // another subflow, at the back
	ha, _ = q.Insert(seg(110, 10, 3), ha)      // subflow A continues its run
	if st := q.Stats(); st.HintHits != 1 || st.Scans != 0 {
		t.Fatalf("continuing a run: %+v", st)
	}
	q.Insert(seg(210, 10, 4), hb)
	if st := q.Stats(); st.HintHits != 2 {
		t.Fatalf("continuing the last run: %+v", st)
	}
	// A's next segment starts a new run elsewhere: the hint misses, but as
	// a run's last segment it is where the scan starts.
	ha, _ = q.Insert(seg(150, 10, 5), ha)
	if st := q.Stats(); st.Scans != 1 || st.HintHits != 2 || st.BatchSteps != 0 {
		t.Fatalf("hint miss: %+v", st)
	}
	// A segment that joins the run after it returns a hint to the end of
	// the joined run, where the subflow's data continues.
	q.Insert(seg(170, 10, 6), Hint{})
	hj, _ := q.Insert(seg(160, 10, 7), ha)
	if i := q.live(hj); i == nilNode || q.end(i) != 180 {
		t.Fatalf("hint after joining runs does not name the joined run's end")
	}

	// Stale after the hinted segment is delivered.
	q.Insert(seg(0, 100, 8), Hint{})
	for _, ok := q.Pop(); ok; _, ok = q.Pop() {
	}
	if q.Next() != 120 || q.live(ha) == nilNode || q.live(hj) == nilNode {
		t.Fatalf("left edge %d, want 120; hints to queued data must stay live", q.Next())
	}
	stale := q.Stats().StaleHints
	q.Insert(seg(125, 5, 9), h100) // [100,110) was popped
	if got := q.Stats().StaleHints - stale; got != 1 {
		t.Fatalf("stale hints counted %d, want 1", got)
	}

	// Stale after eviction: the hinted segment is covered by a newcomer.
	he, _ := q.Insert(seg(300, 5, 10), Hint{})
	q.Insert(seg(295, 20, 11), Hint{})
	if q.live(he) != nilNode {
		t.Fatal("hint to an evicted segment is still live")
	}
	// The node is reused by the next insert: the old hint must stay stale.
	q.Insert(seg(400, 5, 12), Hint{})
	if q.live(he) != nilNode {
		t.Fatal("hint to a reused node is live")
	}
	// Stale after Reset.
	hr, _ := q.Insert(seg(500, 5, 13), Hint{})
	q.Reset(1000)
	if q.live(hr) != nilNode {
		t.Fatal("hint survived Reset")
	}
	// Never valid: out of range, negative, even generation.
	for _, h := range []Hint{{n: -5, gen: 1}, {n: 1 << 30, gen: 1}, {n: 1, gen: 2}, {n: 1, gen: 0}} {
		if q.live(h) != nilNode {
			t.Fatalf("garbage hint %+v accepted", h)
		}
		if _, r := q.Insert(seg(1010, 5, 14), h); !r.Stored() && r != Duplicate {
			t.Fatalf("insert with garbage hint: %v", r)
		}
	}
	if err := q.check(); err != nil {
		t.Fatal(err)
	}
}

// TestZeroAllocs proves the hot path allocates nothing in steady state:
// inserts through hints, scans, overlaps, evictions, pops and drains.
func TestZeroAllocs(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			released := 0
			q := im.make(Config{Capacity: 256, Start: 0, Release: func(Seg) { released++ }})
			var hints [4]Hint
			var dsn uint64
			delivered := 0
			deliver := func(Seg) { delivered++ }
			round := func() {
				// Four subflows, runs of 4 segments, the first subflow's
				// run arriving last; a duplicate and a covering segment.
				base := dsn
				for sf := 3; sf >= 0; sf-- {
					for k := range 4 {
						d := base + uint64(sf*4+k)*100
						hints[sf], _ = q.Insert(Seg{DSN: d, Len: 100}, hints[sf])
					}
				}
				q.Insert(Seg{DSN: base + 450, Len: 100}, Hint{})
				q.Insert(Seg{DSN: base + 1600, Len: 50}, Hint{})
				q.Insert(Seg{DSN: base + 1600, Len: 100}, Hint{})
				q.Drain(deliver)
				dsn = base + 1700
				if s, ok := q.Pop(); ok {
					t.Fatalf("unexpected segment %+v", s)
				}
				q.Advance(dsn)
			}
			round()
			if n := testing.AllocsPerRun(1000, round); n != 0 {
				t.Fatalf("%v allocations per round", n)
			}
			if q.Len() != 0 || delivered == 0 || released == 0 {
				t.Fatalf("Len %d, delivered %d, released %d", q.Len(), delivered, released)
			}
		})
	}
}

func TestResultString(t *testing.T) {
	if Trimmed.String() != "Trimmed" || Result(200).String() != "Result(?)" {
		t.Fatal(Trimmed.String(), Result(200).String())
	}
	if !Queued.Stored() || !Trimmed.Stored() || Full.Stored() {
		t.Fatal("Stored")
	}
}

func TestNewPanicsOnBadCapacity(t *testing.T) {
	for _, im := range impls {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: capacity 0 accepted", im.name)
				}
			}()
			im.make(Config{Capacity: 0})
		}()
		if q := im.make(Config{Capacity: 3}); q.Cap() != 3 {
			t.Errorf("%s: Cap = %d", im.name, q.Cap())
		}
	}
}

// TestEndIndex checks the index of run ends: a subflow without a usable
// hint whose data continues another subflow's run is placed without a
// search, and entries that no longer name a run end are never used.
func TestEndIndex(t *testing.T) {
	q := New(Config{Capacity: 64, Start: 0})
	q.Insert(seg(100, 10, 1), Hint{})
	q.Insert(seg(200, 10, 2), Hint{}) // a new run at the back: recorded
	q.Insert(seg(300, 10, 3), Hint{})
	if _, r := q.Insert(seg(210, 10, 4), Hint{}); r != Queued {
		t.Fatalf("insert after [200,210): %v", r)
	}
	if st := q.Stats(); st.EndHits != 1 || st.Scans != 0 || st.BatchSteps != 0 {
		t.Fatalf("continuing another run without a hint: %+v", st)
	}
	q.Insert(seg(220, 10, 5), Hint{}) // placed through the entry the last insert made
	if st := q.Stats(); st.EndHits != 2 || st.Scans != 0 {
		t.Fatalf("chained: %+v", st)
	}
	// [200,230) no longer ends at 210 or 220: those entries are stale.
	if q.lookupEnd(210) != nilNode || q.lookupEnd(220) != nilNode || q.lookupEnd(230) == nilNode {
		t.Fatal("index names nodes that do not end a run")
	}
	// Evicted: [300,310) is covered by a newcomer.
	q.Insert(seg(295, 20, 6), Hint{})
	if q.lookupEnd(310) != nilNode {
		t.Fatal("index names an evicted node")
	}
	// Delivered: the node is free.
	q.Insert(seg(0, 100, 7), Hint{})
	q.Drain(func(Seg) {})
	if q.lookupEnd(110) != nilNode {
		t.Fatal("index names a delivered node")
	}
	// A miss falls back to the walk.
	scans := q.Stats().Scans
	q.Insert(seg(250, 5, 8), Hint{})
	if q.Stats().Scans != scans+1 {
		t.Fatalf("a segment after a hole was not searched for: %+v", q.Stats())
	}
	if err := q.check(); err != nil {
		t.Fatal(err)
	}

	// A hint's run end is given to the index when the hint misses, also
	// if its node was given to the index in an earlier life: the "already
	// recorded" mark starts clear on every allocation.
	q = New(Config{Capacity: 8, Start: 0})
	q.Insert(seg(10, 10, 1), Hint{}) // recorded
	hb, _ := q.Insert(seg(30, 10, 2), Hint{})
	q.Insert(seg(0, 10, 3), Hint{})
	q.Drain(func(Seg) {})                // frees [10,20)'s node last: reused next
	hb, _ = q.Insert(seg(40, 10, 4), hb) // a hint hit: not recorded
	q.Insert(seg(70, 10, 5), hb)         // the hint misses: [30,50) is recorded
	q.Insert(seg(50, 10, 6), Hint{})     // continues it
	if st := q.Stats(); st.EndHits != 1 || st.Scans != 0 {
		t.Fatalf("the run end of a missed hint on a reused node was not indexed: %+v", st)
	}
	if err := q.check(); err != nil {
		t.Fatal(err)
	}
}

// TestNextRun checks the run after the hint's: a segment that continues
// the run right after its subflow's last one is placed there without the
// index; the hinted run end is still given to the index; a run after the
// hint that ends elsewhere, or a hint that no longer ends its run, is not
// used; and a newcomer reaching the following run goes through place.
func TestNextRun(t *testing.T) {
	q := New(Config{Capacity: 64, Start: 0})
	blocks := func() []Range {
		dst := make([]Range, 8)
		return dst[:q.Blocks(dst)]
	}
	a, _ := q.Insert(seg(10, 10, 1), Hint{})  // subflow A's last segment
	b1, _ := q.Insert(seg(30, 10, 2), Hint{}) // another subflow's run after it
	q.Insert(seg(40, 10, 3), b1)
	st0 := q.Stats()
	a, r := q.Insert(seg(50, 10, 4), a)
	st := q.Stats()
	if r != Queued || st.NextHits != st0.NextHits+1 || st.EndHits != st0.EndHits || st.Scans != st0.Scans || st.EdgeHits != st0.EdgeHits {
		t.Fatalf("continuing the run after the hint's: %v, stats %+v", r, st)
	}
	if i := q.live(a); i == nilNode || q.nodes[i].seg.Handle != 4 {
		t.Fatalf("hint %+v does not name the new run end", a)
	}
	if got := blocks(); !slices.Equal(got, []Range{{10, 20}, {30, 60}}) {
		t.Fatalf("blocks %v", got)
	}
	// A's old run end is in the index: a segment continuing it without
	// a hint is placed through it.
	if _, r := q.Insert(seg(20, 5, 5), Hint{}); r != Queued || q.Stats().EndHits != st.EndHits+1 || q.Stats().Scans != st.Scans {
		t.Fatalf("segment after [10,20): %v, stats %+v", r, q.Stats())
	}
	// The run after the hint's ends elsewhere: not used.
	next := q.Stats().NextHits
	q.Insert(seg(100, 10, 6), Hint{}) // [100,110), a run at the back
	q.Insert(seg(70, 10, 7), Hint{})  // [70,80)
	if _, r := q.Insert(seg(90, 10, 8), a); r != Queued || q.Stats().NextHits != next {
		t.Fatalf("run after the hint's ends at 80, segment at 90: %v, stats %+v", r, q.Stats())
	}
	// A hint that no longer ends its run ([30,40) is followed by
	// [40,50)): the node after it is inside the same run, whose stale
	// run link must not be followed.
	if _, r := q.Insert(seg(80, 10, 9), b1); r != Queued || q.Stats().NextHits != next {
		t.Fatalf("hint inside a run: %v, stats %+v", r, q.Stats())
	}
	if err := q.check(); err != nil {
		t.Fatal(err)
	}
	// Reaching the run after that: placed and trimmed there.
	q = New(Config{Capacity: 64, Start: 0})
	a, _ = q.Insert(seg(10, 10, 1), Hint{})
	q.Insert(seg(30, 10, 2), Hint{})
	q.Insert(seg(45, 10, 3), Hint{})
	if _, r := q.Insert(seg(40, 10, 4), a); r != Trimmed || q.Stats().NextHits != 1 {
		t.Fatalf("segment reaching the next run: %v, stats %+v", r, q.Stats())
	}
	if got := blocks(); !slices.Equal(got, []Range{{10, 20}, {30, 55}}) {
		t.Fatalf("blocks %v", got)
	}
	if err := q.check(); err != nil {
		t.Fatal(err)
	}
}

// TestAheadHint: subflows taking turns one segment at a time. After two
// segments placed through the run after its hint's, a subflow's hint
// predicts: it names the last node of the run after the one the newcomer
// joined, where the subflow's next segment starts, so that segment is a
// hint hit (AheadHits), with no index entry or search. An in-order insert
// keeps the caller's hint; a miss leaves the predicted node in the index.
func TestAheadHint(t *testing.T) {
	// Four subflows: 0 and 1 ahead (units 4k and 4k+1), 3 behind (4k+3,
	// never arrives), and the one tested, 2 (units 4k+2). Unit k holds
	// bytes [10k, 10k+10).
	q := New(Config{Capacity: 64, Start: 0})
	u := func(k int) Seg { return seg(uint64(10*k), 10, uint64(k)) }
	for k := 4; k <= 28; k += 4 {
		q.Insert(u(k), Hint{})
		q.Insert(u(k+1), Hint{})
	}
	// What placed a segment: the first counter that moved (AheadHits
	// before HintHits, which counts predicted hits too).
	placedBy := []struct {
		name  string
		count func(Stats) uint64
	}{
		{"ahead", func(s Stats) uint64 { return s.AheadHits }},
		{"hint", func(s Stats) uint64 { return s.HintHits }},
		{"next", func(s Stats) uint64 { return s.NextHits }},
		{"end", func(s Stats) uint64 { return s.EndHits }},
		{"edge", func(s Stats) uint64 { return s.EdgeHits }},
		{"scan", func(s Stats) uint64 { return s.Scans }},
		{"in order", func(s Stats) uint64 { return s.InOrder }},
	}
	step := func(h Hint, k int, want string, ahead bool) Hint {
		t.Helper()
		st0 := q.Stats()
		h, r := q.Insert(u(k), h)
		st := q.Stats()
		got := ""
		for _, c := range placedBy {
			if c.count(st) > c.count(st0) {
				got = c.name
				break
			}
		}
		if r != Queued || got != want {
			t.Fatalf("unit %d: %v placed by %q, want %q; %+v", k, r, got, want, st)
		}
		if (h.n&hintAhead != 0) != ahead {
			t.Fatalf("unit %d: hint %+v, predicting %v", k, h, ahead)
		}
		if i := q.live(h); ahead && want != "in order" && (i == nilNode || q.nodes[i].seg.Handle != uint64(k+3) || !q.isTail(i)) {
			t.Fatalf("unit %d: predicting hint %+v does not name unit %d, the end of the run after", k, h, k+3)
		}
		if err := q.check(); err != nil {
			t.Fatalf("unit %d: %v", k, err)
		}
		return h
	}
	// Unit 5 was appended to the last run and so not recorded in the
	// index: a search.
	h := step(Hint{}, 6, "scan", false)
	h = step(h, 10, "next", false)
	if h.n&hintStriped == 0 {
		t.Fatalf("hint %+v after a placement after the run following it: not marked striped", h)
	}
	h = step(h, 14, "next", true) // twice in a row: predicting
	h = step(h, 18, "ahead", true)
	// A retransmission the subflow carries, in order: the hint is kept.
	h0 := h
	if h = step(h, 0, "in order", true); h != h0 {
		t.Fatalf("in order: hint %+v returned as %+v", h0, h)
	}
	h = step(h, 22, "ahead", true)
	// Unit 1 continues unit 0, which no hint names and the index does
	// not hold (in-order data is delivered next): a search, from the
	// first run's end, of no steps. The prediction missed, so the
	// predicted node (unit 25, before the subflow's next unit) goes to
	// the index.
	steps := q.Stats().BatchSteps
	h = step(h, 1, "scan", false)
	if q.Stats().BatchSteps != steps {
		t.Fatalf("unit 1: %d runs walked", q.Stats().BatchSteps-steps)
	}
	h = step(h, 26, "end", false)
	if h = step(h, 30, "next", false); h.n&hintStriped == 0 {
		t.Fatalf("hint %+v: not marked striped", h)
	}
	dst := make([]Range, 16)
	if got := dst[:q.Blocks(dst)]; !slices.Equal(got, []Range{{0, 20}, {40, 70}, {80, 110}, {120, 150}, {160, 190}, {200, 230}, {240, 270}, {280, 310}}) {
		t.Fatalf("blocks %v", got)
	}
}

// TestPopRun checks run-level delivery: everything in order comes out as
// one range, a queue without Release frees the run without visiting its
// nodes, and hints and index entries naming those nodes are recognised as
// stale, also once the nodes are reused and after a Reset that moves the
// left edge back.
func TestPopRun(t *testing.T) {
	q := New(Config{Capacity: 8, Start: 0})
	if r, ok := q.PopRun(); ok || r != (Range{}) {
		t.Fatalf("PopRun on an empty queue: %v %v", r, ok)
	}
	ha, _ := q.Insert(seg(10, 10, 1), Hint{})
	ha, _ = q.Insert(seg(20, 10, 2), ha)
	hb, _ := q.Insert(seg(40, 10, 3), Hint{})
	if _, ok := q.PopRun(); ok {
		t.Fatal("PopRun delivered data after a hole")
	}
	q.Insert(seg(0, 10, 4), Hint{})
	free := q.free
	r, ok := q.PopRun()
	if !ok || r != (Range{0, 30}) || q.Next() != 30 || q.Len() != 1 || q.Bytes() != 10 || q.Runs() != 1 {
		t.Fatalf("PopRun: %v %v; Next %d Len %d Bytes %d Runs %d", r, ok, q.Next(), q.Len(), q.Bytes(), q.Runs())
	}
	if st := q.Stats(); st.Delivered != 3 || st.Released != 0 {
		t.Fatalf("Delivered %d Released %d, want 3 and 0", st.Delivered, st.Released)
	}
	// The run's chain went onto the free list whole, its last node
	// linking to the nodes that were free before.
	if i := q.live(ha); i != nilNode {
		t.Fatalf("hint to a delivered node is live (node %d)", i)
	}
	if q.free != 3 || q.nodes[q.free].gen&1 != 1 {
		t.Fatal("the free list does not start at the run's first node (node 3, the fourth allocated), untouched")
	}
	j := q.free
	for k := 0; k < 2; k++ {
		j = q.nodes[j].next
	}
	if q.nodes[j].next != free {
		t.Fatal("the delivered run is not spliced in front of the free list")
	}
	// A hint to a delivered node costs a search and never places data
	// after the delivered segment's end, which is below the edge.
	stale := q.Stats().StaleHints
	if _, res := q.Insert(seg(30, 10, 5), ha); res != Queued || q.Stats().StaleHints != stale {
		t.Fatalf("in-order insert with a delivered hint: %v", res)
	}
	if _, res := q.Insert(seg(55, 5, 6), ha); res != Queued || q.Stats().StaleHints != stale+1 {
		t.Fatalf("out-of-order insert with a delivered hint: %v, stale %d", res, q.Stats().StaleHints-stale)
	}
	if err := q.check(); err != nil {
		t.Fatal(err)
	}
	// The nodes are reused: the old hint stays stale (the generation moved
	// by 2 from an odd value).
	for _, d := range []uint64{70, 80, 90, 100} {
		q.Insert(seg(d, 5, d), Hint{})
	}
	if q.live(ha) != nilNode || q.live(hb) == nilNode {
		t.Fatal("hints after reuse: delivered must be stale, queued live")
	}
	// Reset back below the delivered data: the freed nodes' segments no
	// longer lie below the edge, so Reset must make them stale itself.
	q.Insert(seg(110, 5, 7), Hint{})
	q.Advance(110)
	q.PopRun()
	hd := Hint{n: q.free + 1, gen: q.nodes[q.free].gen} // a hint to a node PopRun freed
	q.Reset(0)
	if q.live(hd) != nilNode || q.live(hb) != nilNode {
		t.Fatal("hint survived Reset")
	}
	if err := q.check(); err != nil {
		t.Fatal(err)
	}

	// With Release, each segment is handed back in order, node by node,
	// for all three implementations.
	for _, im := range impls {
		var got []uint64
		q := im.make(Config{Capacity: 8, Start: 0, Release: func(s Seg) { got = append(got, s.Handle) }})
		q.Insert(seg(10, 10, 1), Hint{})
		q.Insert(seg(20, 10, 2), Hint{})
		q.Insert(seg(40, 10, 3), Hint{})
		q.Insert(seg(0, 10, 4), Hint{})
		r, ok := q.PopRun()
		if !ok || r != (Range{0, 30}) || !slices.Equal(got, []uint64{4, 1, 2}) || q.Len() != 1 || q.Stats().Delivered != 3 || q.Stats().Released != 0 {
			t.Fatalf("%s: PopRun %v %v released %v Len %d %+v", im.name, r, ok, got, q.Len(), q.Stats())
		}
		if err := checkInvariants(q); err != nil {
			t.Fatalf("%s: %v", im.name, err)
		}
	}
}

// TestPopRunZeroAllocs: the engine's delivery path, a queue without
// Release delivering with PopRun, allocates nothing in steady state.
func TestPopRunZeroAllocs(t *testing.T) {
	q := New(Config{Capacity: 256, Start: 0})
	var hints [4]Hint
	var dsn uint64
	round := func() {
		base := dsn
		for sf := 3; sf >= 0; sf-- {
			for k := range 4 {
				d := base + uint64(sf*4+k)*100
				hints[sf], _ = q.Insert(Seg{DSN: d, Len: 100}, hints[sf])
				q.PopRun()
			}
		}
		// Segments striped one at a time, subflow sf lagging 2*sf
		// steps: subflows 1 and 2 continue the run after their hint's,
		// then their predicted hints.
		base += 1600
		for step := range 8 + 6 {
			for sf := range 4 {
				if k := step - 2*sf; k >= 0 && k < 8 {
					hints[sf], _ = q.Insert(Seg{DSN: base + uint64(4*k+sf)*100, Len: 100}, hints[sf])
					q.PopRun()
				}
			}
		}
		dsn = base + 3200
	}
	round()
	if n := testing.AllocsPerRun(1000, round); n != 0 {
		t.Fatalf("%v allocations per round", n)
	}
	// Per round, subflows 1 and 2 each place two segments after the run
	// following their hint, which makes the hint predict (striped), and
	// then three through the predicted predecessor.
	if st := q.Stats(); q.Len() != 0 || q.Next() != dsn || st.Delivered != 1001*48+48 || st.NextHits != 1002*2*2 || st.AheadHits != 1002*2*3 {
		t.Fatalf("Len %d Next %d, want 0 and %d; delivered %d, next-run hits %d ahead %d", q.Len(), q.Next(), dsn, st.Delivered, st.NextHits, st.AheadHits)
	}
}

package ofo

import (
	"math/rand/v2"
	"testing"
)

// TestGapsAgainstByteMap compares Gaps with a byte map over random queues.
func TestGapsAgainstByteMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for iter := 0; iter < 2000; iter++ {
		q := New(Config{Capacity: 64, Start: 1000})
		have := map[uint64]bool{}
		for i := 0; i < rng.IntN(20); i++ {
			s := Seg{DSN: 1000 + uint64(rng.IntN(500)), Len: uint32(1 + rng.IntN(40))}
			q.Insert(s, Hint{})
		}
		// The model: what Blocks reports is queued.
		var blocks [64]Range
		for _, b := range blocks[:q.Blocks(blocks[:])] {
			for x := b.Start; x < b.End; x++ {
				have[x] = true
			}
		}
		if rng.IntN(4) == 0 {
			q.Advance(1000 + uint64(rng.IntN(100)))
			for x := range have {
				if x < q.Next() {
					delete(have, x)
				}
			}
		}
		r := Range{Start: 950 + uint64(rng.IntN(600)), End: 0}
		r.End = r.Start + uint64(rng.IntN(200))
		var gaps [64]Range
		n := q.Gaps(r, gaps[:])
		got := map[uint64]bool{}
		prevEnd := uint64(0)
		for _, g := range gaps[:n] {
			if g.Start >= g.End || g.Start < prevEnd {
				t.Fatalf("iteration %d: gaps not ordered and non-empty: %v", iter, gaps[:n])
			}
			prevEnd = g.End
			for x := g.Start; x < g.End; x++ {
				got[x] = true
			}
		}
		for x := r.Start; x < r.End; x++ {
			want := x >= q.Next() && !have[x]
			if got[x] != want {
				t.Fatalf("iteration %d: byte %d gap=%v, want %v (range %v, left %d)", iter, x, got[x], want, r, q.Next())
			}
		}
	}
}

func TestGapsAllocatesNothing(t *testing.T) {
	q := New(Config{Capacity: 16, Start: 0})
	q.Insert(Seg{DSN: 100, Len: 10}, Hint{})
	var dst [4]Range
	if n := testing.AllocsPerRun(100, func() { q.Gaps(Range{0, 200}, dst[:]) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

package mptcp

import (
	"math/rand/v2"
	"testing"
)

// TestPendingPiecesMerge: pieces of a mapping awaiting its checksum merge
// when they touch, in any order, so that the recorded spans are exactly
// the union of what was added.
func TestPendingPiecesMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 5000; iter++ {
		var m recvMapping
		have := map[uint64]bool{}
		for k := 0; k < 30; k++ {
			s := uint64(rng.IntN(200))
			e := s + 1 + uint64(rng.IntN(20))
			if !m.pendingFits(s, e) {
				continue
			}
			m.addPending(s, e)
			for x := s; x < e; x++ {
				have[x] = true
			}
		}
		got := map[uint64]bool{}
		for i := 0; i < m.npend; i++ {
			for x := m.pend[i].start; x < m.pend[i].end; x++ {
				if got[x] {
					t.Fatalf("iteration %d: spans overlap at %d: %v", iter, x, m.pend[:m.npend])
				}
				got[x] = true
			}
		}
		if len(got) != len(have) {
			t.Fatalf("iteration %d: %d bytes recorded, %d added", iter, len(got), len(have))
		}
		for x := range have {
			if !got[x] {
				t.Fatalf("iteration %d: byte %d lost", iter, x)
			}
		}
	}
}

// TestPendingPiecesRemove: withdrawing a range (a newer copy of the bytes
// arrived on another mapping) leaves no withdrawn byte pending, never adds
// one, and keeps every other byte while slots allow.
func TestPendingPiecesRemove(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for iter := 0; iter < 5000; iter++ {
		var m recvMapping
		have := map[uint64]bool{}
		for k := 0; k < 30; k++ {
			s := uint64(rng.IntN(200))
			e := s + 1 + uint64(rng.IntN(20))
			if rng.IntN(3) == 0 {
				before := m.npend
				m.removePending(s, e)
				for x := s; x < e; x++ {
					delete(have, x)
				}
				// With a free slot nothing else may go.
				checkPending(t, iter, &m, have, before < maxPending)
				continue
			}
			if !m.pendingFits(s, e) {
				continue
			}
			m.addPending(s, e)
			for x := s; x < e; x++ {
				have[x] = true
			}
		}
		checkPending(t, iter, &m, have, false)
	}
}

// checkPending: the spans are disjoint and hold only bytes of have (all of
// them when exact).
func checkPending(t *testing.T, iter int, m *recvMapping, have map[uint64]bool, exact bool) {
	t.Helper()
	got := map[uint64]bool{}
	for i := 0; i < m.npend; i++ {
		for x := m.pend[i].start; x < m.pend[i].end; x++ {
			if got[x] || !have[x] {
				t.Fatalf("iteration %d: byte %d pending twice or not added/withdrawn: %v", iter, x, m.pend[:m.npend])
			}
			got[x] = true
		}
	}
	if exact && len(got) != len(have) {
		t.Fatalf("iteration %d: %d bytes pending, want %d: %v", iter, len(got), len(have), m.pend[:m.npend])
	}
	for x := range have {
		if !got[x] {
			// Bytes dropped when a split found no slot are gone for good.
			delete(have, x)
		}
	}
}

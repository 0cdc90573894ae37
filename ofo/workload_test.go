package ofo

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
)

// This file generates the receiver-side arrival traces the benchmarks
// replay (NSDI'12 §4.3, Figure 8's conditions): a sender that hands runs of
// contiguous segments to subflows with different delays, loss repaired on
// another subflow, and opportunistic-retransmission duplicates.

const mss = 1448

// workload describes one trace.
type workload struct {
	subflows int
	run      int     // contiguous segments the scheduler hands a subflow at a time
	depth    int     // target mean queue depth in segments, set through the delay skew
	loss     float64 // chance that a segment is lost on its subflow
	dup      float64 // chance that a segment on a slower subflow is also sent on the fastest
	seed     uint64
	// append, with one subflow, makes the single-path reference: data in
	// order except that the first segment of every 2*depth is late, so
	// that everything else is appended at the tail of a queue that holds
	// depth segments on average.
	append bool
}

func (w workload) name() string {
	if w.append {
		return fmt.Sprintf("append/depth=%d", w.depth)
	}
	if w.subflows == 1 && w.loss == 0 && w.dup == 0 {
		return "inorder"
	}
	return fmt.Sprintf("subflows=%d/run=%d/depth=%d/loss=%s%%", w.subflows, w.run, w.depth,
		strconv.FormatFloat(100*w.loss, 'f', -1, 64))
}

// arrival is one segment as the receiver sees it.
type arrival struct {
	dsn uint64 // offset from the trace's start
	n   uint32
	sub uint8
}

// trace is a generated arrival order. Replaying it leaves every byte of
// [0, total) delivered and the queue empty, so it can be replayed again
// shifted by total.
type trace struct {
	arr       []arrival
	total     uint64
	lag       float64 // the slowest subflow's extra one-way delay, in segment times
	meanDepth float64 // queued segments after each arrival, averaged
	maxDepth  int
}

// generate builds the trace for lag: segments are sent at one per time unit
// in aggregate; each of the K subflows carries 1/K of the rate, has a
// one-way delay spread evenly over [0, lag], and delivers in order. The
// scheduler gives the next run of w.run segments to whichever subflow frees
// up first (round-robin, as all rates are equal).
func (w workload) generate(lag float64, segments int) *trace {
	type event struct {
		t    float64 // arrival time
		sent float64 // send time: the per-subflow order
		a    arrival
	}
	r := rand.New(rand.NewPCG(w.seed, uint64(w.subflows)<<32|uint64(w.run)))
	k := w.subflows
	delay := make([]float64, k)
	for i := range delay {
		if k > 1 {
			delay[i] = lag * float64(i) / float64(k-1)
		}
	}
	free := make([]float64, k) // when each subflow can send its next run
	evs := make([]event, 0, segments+segments/16)
	other := func(i int) int {
		if k == 1 {
			return 0
		}
		return (i + 1 + r.IntN(k-1)) % k
	}
	for next := 0; next < segments; {
		i := 0
		for j := 1; j < k; j++ {
			if free[j] < free[i] {
				i = j
			}
		}
		for s := 0; s < w.run && next < segments; s, next = s+1, next+1 {
			ts := free[i] + float64(s*k)
			dsn := uint64(next) * mss
			if r.Float64() < w.loss {
				// Lost: detected after about a round trip, reinjected on
				// another subflow.
				j := other(i)
				tr := ts + 2*delay[i] + float64(4*k)
				evs = append(evs, event{tr + delay[j], tr, arrival{dsn, mss, uint8(j)}})
			} else {
				evs = append(evs, event{ts + delay[i], ts, arrival{dsn, mss, uint8(i)}})
			}
			if i != 0 && r.Float64() < w.dup {
				// Opportunistic retransmission (NSDI'12 §4.2, M1) on the
				// fastest subflow; half of the time cut differently, so
				// that it overlaps two original segments.
				tr := ts + float64(k)
				a := arrival{dsn, mss, 0}
				if next+1 < segments && r.IntN(2) == 0 {
					a.dsn += mss / 2
				}
				evs = append(evs, event{tr + delay[0], tr, a})
			}
		}
		free[i] += float64(w.run * k)
	}
	slices.SortStableFunc(evs, func(x, y event) int {
		return cmp.Or(cmp.Compare(x.t, y.t), cmp.Compare(x.a.sub, y.a.sub), cmp.Compare(x.sent, y.sent))
	})
	tr := &trace{arr: make([]arrival, len(evs)), total: uint64(segments) * mss, lag: lag}
	for i, e := range evs {
		tr.arr[i] = e.a
	}
	tr.measure()
	return tr
}

// measure replays the trace once through a Queue to record its depth and
// to check that it ends drained.
func (tr *trace) measure() {
	q := New(Config{Capacity: len(tr.arr)})
	hints := make([]Hint, 256)
	var sum float64
	for _, a := range tr.arr {
		hints[a.sub], _ = q.Insert(Seg{DSN: a.dsn, Len: a.n}, hints[a.sub])
		for _, ok := q.Pop(); ok; _, ok = q.Pop() {
		}
		sum += float64(q.Len())
		tr.maxDepth = max(tr.maxDepth, q.Len())
	}
	tr.meanDepth = sum / float64(len(tr.arr))
	if q.Len() != 0 || q.Next() != tr.total {
		panic(fmt.Sprintf("trace does not end drained: %d queued, left edge %d of %d", q.Len(), q.Next(), tr.total))
	}
}

// traceFor returns w's trace with the delay skew calibrated (by bisection;
// the depth grows with the skew) so that the mean depth is within 10% of
// w.depth. The concurrently sending subflows alone keep some data queued;
// when that floor is already well above the target, ok is false.
func (w workload) traceFor() (tr *trace, ok bool) {
	segments := max(1<<17, 40*w.depth)
	if w.append {
		block := 2 * w.depth
		segments -= segments % block
		tr = &trace{arr: make([]arrival, 0, segments), total: uint64(segments) * mss}
		for b := 0; b < segments; b += block {
			for k := 1; k <= block; k++ {
				tr.arr = append(tr.arr, arrival{dsn: uint64((b+k)%block+b/block*block) * mss, n: mss})
			}
		}
		tr.measure()
		return tr, true
	}
	tr = w.generate(0, segments)
	target := float64(w.depth)
	near := func(tr *trace) bool { return tr.meanDepth > 0.9*target && tr.meanDepth < 1.1*target }
	if w.subflows == 1 || near(tr) || tr.meanDepth > target {
		return tr, w.subflows == 1 || tr.meanDepth < 1.5*target
	}
	lo, hi := 0.0, target
	for tr = w.generate(hi, segments); tr.meanDepth < target && !near(tr); tr = w.generate(hi, segments) {
		lo, hi = hi, 2*hi
	}
	for range 12 {
		if near(tr) {
			break
		}
		mid := (lo + hi) / 2
		tr = w.generate(mid, segments)
		if tr.meanDepth < target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return tr, true
}

package sim

import "time"

type eventKind uint8

const (
	evDeliver eventKind = iota // a packet arrives at the end of a link
	evTimer                    // a host's endpoint timer
	evCall                     // a scheduled function
	evMbox                     // a middlebox's timer (link is the middlebox's index)
)

// event is one entry of the simulator's agenda. Events at the same time
// run in the order they were scheduled (seq), which keeps runs
// deterministic.
type event struct {
	at   time.Duration
	seq  uint64
	kind eventKind
	host int32
	link int32
	buf  int32
	n    int32
	gen  uint64
	fn   func()
}

func (a *event) before(b *event) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// eventHeap is a binary min-heap of events by value: no interface boxing,
// so pushing and popping allocate nothing once the slice has grown.
type eventHeap struct{ h []event }

func (q *eventHeap) len() int     { return len(q.h) }
func (q *eventHeap) peek() *event { return &q.h[0] }

func (q *eventHeap) push(e event) {
	q.h = append(q.h, e)
	i := len(q.h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !q.h[i].before(&q.h[parent]) {
			break
		}
		q.h[i], q.h[parent] = q.h[parent], q.h[i]
		i = parent
	}
}

func (q *eventHeap) pop() event {
	top := q.h[0]
	last := len(q.h) - 1
	q.h[0] = q.h[last]
	q.h[last] = event{} // drop the fn reference
	q.h = q.h[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && q.h[l].before(&q.h[m]) {
			m = l
		}
		if r < last && q.h[r].before(&q.h[m]) {
			m = r
		}
		if m == i {
			break
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		i = m
	}
	return top
}

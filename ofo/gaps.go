package ofo

// Gaps writes into dst the parts of r that are neither queued nor below the
// left edge, in order, and returns how many there are (which may exceed
// len(dst)). A receiver uses it to copy only bytes it does not hold yet,
// so that a duplicate arriving on another subflow never overwrites data
// already accepted. Data at or beyond the last queued byte, the common
// case, is found without a walk; otherwise the walk visits runs.
func (q *Queue) Gaps(r Range, dst []Range) int {
	if before(r.Start, q.left) {
		r.Start = q.left
	}
	if !before(r.Start, r.End) {
		return 0
	}
	if q.last == nilNode || !before(r.Start, q.end(q.last)) {
		if len(dst) > 0 {
			dst[0] = r
		}
		return 1
	}
	k := 0
	at := r.Start
	for h := q.first; h != nilNode && before(at, r.End); {
		t := q.runTail(h)
		rs, re := q.nodes[h].seg.DSN, q.nodes[t].seg.End()
		if before(at, rs) {
			end := rs
			if before(r.End, end) {
				end = r.End
			}
			if k < len(dst) {
				dst[k] = Range{at, end}
			}
			k++
		}
		if before(at, re) {
			at = re
		}
		h = q.nodes[t].next
	}
	if before(at, r.End) {
		if k < len(dst) {
			dst[k] = Range{at, r.End}
		}
		k++
	}
	return k
}

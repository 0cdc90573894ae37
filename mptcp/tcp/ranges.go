package tcp

// span is a byte range [start, end) of a 64-bit sequence offset space.
type span struct{ start, end uint64 }

func (s span) len() int { return int(s.end - s.start) }

// maxSpans bounds both range sets: SACK state on the sender, out-of-order
// state on the receiver. Beyond it the sender ignores further SACK blocks
// (it may then retransmit a little more than needed) and the receiver drops
// segments that would open a new hole (the peer retransmits them).
const maxSpans = 64

// spanSet is a sorted set of disjoint, non-adjacent ranges in a fixed
// array, O(n) updates with n ≤ maxSpans. The array (1 KiB) is allocated
// when the first range is added and kept: most connections never see a
// loss or a reordering, and a half-open one must stay small (an
// MP_CAPABLE SYN costs one connection).
type spanSet struct {
	s     *[maxSpans]span
	n     int
	bytes int // total length of the ranges
}

func (ss *spanSet) spans() []span {
	if ss.s == nil {
		return nil
	}
	return ss.s[:ss.n]
}

func (ss *spanSet) reset() { ss.n, ss.bytes = 0, 0 }

// add inserts [start, end), merging with neighbours. It returns the number
// of bytes not previously in the set, and false if the set is full and the
// range could not be recorded (the set is then unchanged).
func (ss *spanSet) add(start, end uint64) (added int, ok bool) {
	if end <= start {
		return 0, true
	}
	// First range that ends at or after start (touching counts: merge).
	i := 0
	for i < ss.n && ss.s[i].end < start {
		i++
	}
	// Last range that starts at or before end.
	j := i
	for j < ss.n && ss.s[j].start <= end {
		j++
	}
	if i == j { // no overlap or adjacency: insert at i
		if ss.n == maxSpans {
			return 0, false
		}
		if ss.s == nil {
			ss.s = new([maxSpans]span)
		}
		copy(ss.s[i+1:ss.n+1], ss.s[i:ss.n])
		ss.s[i] = span{start, end}
		ss.n++
		ss.bytes += int(end - start)
		return int(end - start), true
	}
	merged := span{min(start, ss.s[i].start), max(end, ss.s[j-1].end)}
	old := 0
	for k := i; k < j; k++ {
		old += ss.s[k].len()
	}
	ss.s[i] = merged
	copy(ss.s[i+1:], ss.s[j:ss.n])
	ss.n -= j - i - 1
	added = merged.len() - old
	ss.bytes += added
	return added, true
}

// trimBelow removes everything below x.
func (ss *spanSet) trimBelow(x uint64) {
	k := 0
	for k < ss.n && ss.s[k].end <= x {
		ss.bytes -= ss.s[k].len()
		k++
	}
	if k > 0 {
		copy(ss.s[:], ss.s[k:ss.n])
		ss.n -= k
	}
	if ss.n > 0 && ss.s[0].start < x {
		ss.bytes -= int(x - ss.s[0].start)
		ss.s[0].start = x
	}
}

// bytesAbove returns the bytes and the number of ranges at or above x.
func (ss *spanSet) bytesAbove(x uint64) (bytes, ranges int) {
	for i := ss.n - 1; i >= 0; i-- {
		sp := ss.s[i]
		if sp.end <= x {
			break
		}
		ranges++
		bytes += int(sp.end - max(sp.start, x))
	}
	return bytes, ranges
}

// firstAbove returns the first range that ends after x, or ok == false.
func (ss *spanSet) firstAbove(x uint64) (span, bool) {
	for i := 0; i < ss.n; i++ {
		if ss.s[i].end > x {
			return ss.s[i], true
		}
	}
	return span{}, false
}

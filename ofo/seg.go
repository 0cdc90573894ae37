package ofo

// Seg is a reference to received payload, placed in the data sequence space.
// The queue never reads or copies the payload: trimming a segment only
// advances DSN and Off and shortens Len, so the bytes may live anywhere the
// caller likes (a receive ring at its DSN offset, or a received frame).
//
// Seg has four fields on purpose: Go's compiler keeps structs of at most
// four fields (and 32 bytes) in registers; with more, every copy goes
// through memory, and an in-order insert and pop took three times as long
// (docs/ofo.md).
type Seg struct {
	DSN uint64 // data sequence number of the first byte
	// Handle is opaque to the queue: a frame index, a ring id, and any tag
	// the caller wants carried with the segment (a subflow id, say) packed
	// into the spare bits.
	Handle uint64
	Len    uint32 // payload bytes
	Off    uint32 // offset of the first byte within the Handle's buffer
}

// End returns the DSN one past the last byte of s.
func (s Seg) End() uint64 { return s.DSN + uint64(s.Len) }

// Range is the half-open DSN interval [Start, End).
type Range struct {
	Start, End uint64
}

// Hint is a subflow's shortcut into a queue: the last segment of the run
// where that subflow's data last went, so that its next, usually
// contiguous, segment can be placed without a search (NSDI'12 §4.3). The
// caller keeps one Hint per subflow and passes back the one Insert
// returned. The zero Hint means "no hint".
//
// A Hint is a node index and the node's generation. Nodes are never merged,
// only freed (drained or evicted), and freeing bumps the generation, so a
// stale Hint is detected with one comparison and falls back to a search.
// A Hint from another queue, or a corrupted one, may name a live node by
// chance; the queue checks a hint's position against the structure before
// it trusts it, so no Hint can misplace data.
//
// While a subflow's segments are striped with other subflows' (each one
// continues not its own last segment but the run that follows it), Insert
// returns instead the predicted predecessor of the subflow's next segment:
// the last node of the run after the one the newcomer joined (Queue.ahead).
type Hint struct {
	n   int32  // node index + 1 (hintNode bits), 0 = none, and the hintStriped and hintAhead flags
	gen uint32 // the node's generation when the hint was made (odd: live)
}

// Hint.n's flags. Capacity is at most 1<<28, so index + 1 fits in hintNode.
const (
	hintNode    = 1<<29 - 1
	hintStriped = 1 << 29 // Insert placed the subflow's last segment after the run that followed its hint
	hintAhead   = 1 << 30 // the hint names the predicted predecessor of the subflow's next segment
)

// Result tells what Insert did with a segment.
type Result uint8

const (
	// Queued: the segment was stored whole.
	Queued Result = iota
	// Trimmed: the segment was stored after bytes that were already queued,
	// below the left edge or beyond the limit were cut off its ends.
	Trimmed
	// Duplicate: every byte was already queued (or the segment was empty).
	// The segment was released.
	Duplicate
	// Old: the segment lies wholly below the left edge. It was released.
	Old
	// Beyond: the segment lies wholly at or beyond the limit. It was released.
	Beyond
	// Full: the segment carried new bytes but no node was free. It was
	// released and the queue is unchanged.
	Full
)

var resultNames = [...]string{"Queued", "Trimmed", "Duplicate", "Old", "Beyond", "Full"}

// String returns the constant's name.
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "Result(?)"
}

// Stored reports whether the segment (or a part of it) is now queued.
func (r Result) Stored() bool { return r == Queued || r == Trimmed }

// Stats counts what a queue did. The search counters make the three
// implementations comparable: an out-of-order insert is one that did not
// start at the left edge and was not rejected as Old or Beyond, and each is
// placed by exactly one of HintHits, NextHits, EndHits, EdgeHits or Scans.
type Stats struct {
	Inserts    uint64 // calls to Insert
	InOrder    uint64 // inserts that began at the left edge (TCP's fast path)
	HintHits   uint64 // out-of-order inserts placed through the caller's Hint
	AheadHits  uint64 // the HintHits whose Hint named a predicted predecessor (see Hint)
	EndHits    uint64 // out-of-order inserts placed after a run end found in the queue's index of run ends
	NextHits   uint64 // out-of-order inserts placed after the run that follows the caller's Hint
	EdgeHits   uint64 // out-of-order inserts placed in O(1) before the first or after the last data
	Scans      uint64 // out-of-order inserts that needed a search
	StaleHints uint64 // hints that no longer referred to a queued segment
	BatchSteps uint64 // runs (batches) visited by searches
	SegSteps   uint64 // segments (list or tree nodes) visited by searches
	Duplicate  uint64 // inserts rejected because every byte was queued
	Old        uint64 // inserts rejected as wholly below the left edge
	Beyond     uint64 // inserts rejected as wholly beyond the limit
	Full       uint64 // inserts rejected for want of a free node
	Trimmed    uint64 // inserts stored after trimming
	Evicted    uint64 // queued segments dropped because a newcomer covered them
	Delivered  uint64 // segments handed out by Pop, Drain or PopRun
	Released   uint64 // segments given to the Release function other than by PopRun
}

// Config sizes and starts a queue.
type Config struct {
	// Capacity is the most segments the queue holds. Its nodes are allocated
	// once, at creation. It must be between 1 and 1<<28.
	Capacity int
	// Start is the initial left edge: the DSN of the first byte expected.
	Start uint64
	// Release, if not nil, is called with every segment the queue lets go of
	// without handing it out through Pop: rejected inserts, evicted
	// segments, data passed by Advance, everything left at Reset, and the
	// segments of the runs PopRun delivers. With Pop, it returns every
	// inserted Handle exactly once. It must not call back into the queue.
	//
	// A Queue without one may free a delivered run wholesale (PopRun, in
	// O(1)): a caller whose payload sits in a receive ring, not in
	// per-segment buffers, should leave it nil.
	Release func(Seg)
}

// Interface is what the shortcut Queue and the two baselines (Tree, List)
// have in common, so that tests, the fuzz model and the benchmarks drive all
// three alike. The engine should hold a *Queue; the interface is for
// comparisons (NSDI'12 Figure 8).
type Interface interface {
	Insert(s Seg, h Hint) (Hint, Result)
	Pop() (Seg, bool)
	PopRun() (Range, bool)
	Drain(deliver func(Seg)) int
	Advance(to uint64)
	SetLimit(end uint64)
	ClearLimit()
	Next() uint64
	Len() int
	Bytes() uint64
	Cap() int
	Holes(dst []Range) int
	Blocks(dst []Range) int
	Stats() Stats
	Reset(start uint64)
}

var (
	_ Interface = (*Queue)(nil)
	_ Interface = (*Tree)(nil)
	_ Interface = (*List)(nil)
)

// before reports a < b in the 64-bit data sequence space. DSNs wrap, so
// positions compare by their signed distance; every queued byte lies within
// 2^63 of the left edge.
func before(a, b uint64) bool { return int64(a-b) < 0 }

// clip applies the left edge and the limit to s, which must be non-empty.
// It returns Old or Beyond when nothing is left, else s clipped and Queued,
// or Trimmed if it was clipped.
func clip(s Seg, left, limit uint64, limited bool) (Seg, Result) {
	r := Queued
	if !before(left, s.End()) {
		return s, Old
	}
	if before(s.DSN, left) {
		d := left - s.DSN
		s.DSN, s.Off, s.Len, r = left, s.Off+uint32(d), s.Len-uint32(d), Trimmed
	}
	if limited {
		if !before(s.DSN, limit) {
			return s, Beyond
		}
		if before(limit, s.End()) {
			s.Len, r = uint32(limit-s.DSN), Trimmed
		}
	}
	return s, r
}

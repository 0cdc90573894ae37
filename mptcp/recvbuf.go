package mptcp

import (
	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/ofo"
)

// maxGaps bounds the pieces one received range is split into around data
// already held; a range that would need more is not copied (and not
// acknowledged), and the peer resends it.
const maxGaps = 8

// recvBuffer holds incoming bytes at their data sequence number: payload
// is copied once, straight from the frame to its place in the ring. The
// ofo queue records which ranges beyond the in-order point are held
// (NSDI'12 §4.3 shortcuts, one hint per subflow); its left edge is the
// connection's DATA_ACK.
type recvBuffer struct {
	buf     []byte // allocated when the first byte arrives
	size    int    // the capacity the window offers
	ring    int    // len(buf): size plus windowSlack
	base    uint64 // DSN of ring offset 0
	read    uint64 // next DSN the application reads
	next    uint64 // next in-order DSN: the DATA_ACK
	started bool   // the peer's IDSN is known
	// q holds what arrived beyond next; it is created at the first
	// out-of-order range, so idle and in-order connections cost no nodes.
	q      *ofo.Queue
	qcap   int
	edge   uint64              // right edge of the window last announced; never moves left (INTEROP B.10)
	gaps   *[maxGaps]ofo.Range // the endpoint's scratch
	finDSN uint64              // the DATA_FIN's DSN, once a mapping announced it
	finSet bool
	cache  *ringCache // where the ring comes from; nil: allocate

	// A reader's buffer lent while nothing is buffered (lend): in-order
	// bytes are copied there instead of into the ring, so that the payload
	// is copied once from the frame to the application.
	tgt      []byte
	tgtStart uint64  // DSN of tgt[0]: read (= next) at the loan
	tgtFill  int     // bytes of tgt committed in order
	tgtEnd   uint64  // end of the bytes copyIn put in tgt for the segment tgtSeg
	tgtSeg   uint64  // the segment (serial) that copied them
	tgtOff   bool    // committed bytes went to the ring: tgt takes no more
	serial   *uint64 // the endpoint's segment counter
}

// windowSlack is room beyond the offered capacity: a window scaled by 2^s
// is announced rounded up (so that its right edge never moves back), which
// can offer up to 2^s − 1 bytes more than the capacity, and s ≤ 14
// (RFC 7323 §2.3). The ring holds them rather than refusing bytes the
// peer was allowed to send.
const windowSlack = 1 << 14

func newRecvBuffer(size int) recvBuffer { return recvBuffer{size: size, ring: size + windowSlack} }

// start sets the first expected DSN (the peer's IDSN+1).
func (b *recvBuffer) start(dsn uint64, segments int) {
	if b.started && b.base == dsn {
		return
	}
	b.base, b.read, b.next, b.edge = dsn, dsn, dsn, dsn+uint64(b.size)
	b.started, b.q, b.qcap = true, nil, segments
}

// nxt is the next in-order DSN: the DATA_ACK to send.
func (b *recvBuffer) nxt() uint64 { return b.next }

// commit records [dsn, dsn+n) as held and moves the in-order point over
// whatever became contiguous. It reports whether the range was new (else
// held already, or, with full, dropped for want of a queue node) and
// returns the subflow's updated ofo shortcut (NSDI'12 §4.3).
func (b *recvBuffer) commit(dsn uint64, n int, hint ofo.Hint) (h ofo.Hint, stored, full bool) {
	end := dsn + uint64(n)
	if end <= b.next {
		return hint, false, false
	}
	defer b.targetCommitted(b.next)
	if dsn <= b.next && (b.q == nil || b.q.Len() == 0) {
		b.next = end // in order with nothing queued: no queue work at all
		if b.q != nil {
			b.q.Advance(end)
		}
		return hint, true, false
	}
	if b.q == nil {
		b.q = ofo.New(ofo.Config{Capacity: b.qcap, Start: b.next})
	}
	h, r := b.q.Insert(ofo.Seg{DSN: dsn, Len: uint32(n)}, hint)
	if r == ofo.Full && dsn > b.next {
		return hint, false, true
	}
	if r == ofo.Full {
		// In-order bytes need no node: they are in the ring already, so
		// the edge moves over them, and over the queued run they reach.
		// (Refusing them would stall the connection for good: the queue
		// empties only from the left edge.)
		b.q.Advance(end)
		b.q.PopRun()
		b.next = b.q.Next()
		return hint, true, false
	}
	// The payload is already in the ring: only the new left edge matters,
	// and a queue without Release frees the in-order run wholesale.
	b.q.PopRun()
	b.next = b.q.Next()
	return h, r.Stored(), false
}

// skipTo moves the in-order point to dsn (past the DATA_FIN).
func (b *recvBuffer) skipTo(dsn uint64) {
	if dsn > b.next {
		b.next = dsn
		if b.q != nil {
			b.q.Advance(dsn)
		}
	}
}

// buffered returns the in-order bytes the application has not read (the
// DATA_FIN occupies a DSN but is not data).
func (b *recvBuffer) buffered() int {
	end := b.nxt()
	if b.finSet && end > b.finDSN {
		end = b.finDSN
	}
	return int(end - b.read)
}

// window returns the receive window relative to the DATA_ACK, with the
// announced right edge never moving left (RFC 8684 §3.3.5, INTEROP B.10).
func (b *recvBuffer) window() int {
	if !b.started {
		return b.size // before the peer's key (and so its IDSN) is known
	}
	right := b.read + uint64(b.size)
	if right > b.edge {
		b.edge = right
	}
	return int(b.edge - b.nxt())
}

func (b *recvBuffer) pos(dsn uint64) int { return int((dsn - b.base) % uint64(b.ring)) }

// copyIn copies data, whose first byte has data sequence number dsn, into
// the bytes of the ring that are free (not yet received, inside the
// buffer), and returns the sum of all of data. ok is false when data holds
// new bytes that cannot be stored (beyond the buffer, or split around held
// data into too many pieces): they must not be acknowledged. Out-of-order
// bytes that find the out-of-order queue full are acknowledged and then
// dropped by commit (counted in RcvPruned), as Linux drops what its MPTCP
// socket has no room for after the subflow acknowledged it: refusing them
// at the subflow would stall a subflow whose next bytes wait behind a hole
// that only another subflow's refused bytes can fill; the data level
// retransmits them.
func (b *recvBuffer) copyIn(dsn uint64, data []byte) (sum cksum.Partial, ok bool) {
	end := dsn + uint64(len(data))
	limit := b.read + uint64(b.ring)
	var n int
	if b.q == nil || b.q.Len() == 0 {
		n = 0
		if s := max(dsn, b.next); s < end {
			b.gaps[0], n = ofo.Range{Start: s, End: end}, 1
		}
	} else {
		n = b.q.Gaps(ofo.Range{Start: max(dsn, b.next), End: end}, b.gaps[:])
	}
	ok = n <= maxGaps
	at := 0 // bytes of data summed so far
	for i := 0; i < min(n, maxGaps); i++ {
		g := b.gaps[i]
		if g.End > limit {
			ok = false
			g.End = max(limit, g.Start)
		}
		if g.Start >= g.End {
			continue
		}
		from, to := int(g.Start-dsn), int(g.End-dsn)
		if from > at {
			sum = cksum.CombineAt(sum, cksum.Sum(data[at:from], 0), at)
		}
		if k := b.toTarget(g); k > 0 {
			// The in-order head of the gap goes to the lent buffer.
			off := int(g.Start - b.tgtStart)
			sum = cksum.CombineAt(sum, cksum.CopyAndSum(b.tgt[off:off+k], data[from:from+k]), from)
			b.tgtEnd, b.tgtSeg = g.Start+uint64(k), *b.serial
			from += k
			g.Start += uint64(k)
		}
		if from < to {
			sum = cksum.CombineAt(sum, b.store(g.Start, data[from:to]), from)
		}
		at = to
	}
	if at < len(data) {
		sum = cksum.CombineAt(sum, cksum.Sum(data[at:], 0), at)
	}
	return sum, ok
}

// toTarget returns how many bytes at the start of the new range g go to
// the lent buffer: those that continue the in-order data (next, or what
// this segment already put there), while nothing is queued out of order.
func (b *recvBuffer) toTarget(g ofo.Range) int {
	if b.tgt == nil || b.tgtOff || (b.q != nil && b.q.Len() > 0) {
		return 0
	}
	at := b.next
	if b.tgtSeg == *b.serial && b.tgtEnd > at {
		at = b.tgtEnd
	}
	end := b.tgtStart + uint64(len(b.tgt))
	if g.Start != at || at >= end {
		return 0
	}
	return int(min(g.End, end) - at)
}

// targetCommitted accounts for the in-order point moving from old to
// b.next: the bytes this segment put in the lent buffer count as filled;
// bytes that went to the ring stop the loan (the buffer must stay a
// prefix of the in-order data).
func (b *recvBuffer) targetCommitted(old uint64) {
	if b.tgt == nil || b.tgtOff || b.next <= old {
		return
	}
	placed := old
	if old == b.tgtStart+uint64(b.tgtFill) && b.tgtSeg == *b.serial {
		placed = min(b.next, b.tgtEnd)
		b.tgtFill = int(placed - b.tgtStart)
	}
	if b.next > placed {
		b.tgtOff = true
	}
}

// lend makes p the place for in-order bytes until take. It needs nothing
// buffered and nothing queued out of order.
func (b *recvBuffer) lend(p []byte) bool {
	if !b.started || b.tgt != nil || len(p) == 0 || b.read != b.next || (b.q != nil && b.q.Len() > 0) {
		return false
	}
	b.tgt, b.tgtStart, b.tgtFill, b.tgtEnd, b.tgtOff = p, b.next, 0, b.next, false
	return true
}

// take ends the loan and returns how many bytes of the lent buffer hold
// in-order data, which count as read.
func (b *recvBuffer) take() int {
	if b.tgt == nil {
		return 0
	}
	n := b.tgtFill
	b.read += uint64(n)
	b.tgt = nil
	return n
}

// store copies p to its place in the ring and returns its sum.
func (b *recvBuffer) store(dsn uint64, p []byte) cksum.Partial {
	if b.buf == nil {
		b.buf = b.cache.takeRecv(b.ring)
	}
	pos := b.pos(dsn)
	first := min(len(p), len(b.buf)-pos)
	s := cksum.CopyAndSum(b.buf[pos:pos+first], p[:first])
	if first < len(p) {
		s = cksum.CombineAt(s, cksum.CopyAndSum(b.buf, p[first:]), first)
	}
	return s
}

// readInto copies up to len(p) in-order bytes to the application.
func (b *recvBuffer) readInto(p []byte) int {
	n := min(len(p), b.buffered())
	if n == 0 {
		return 0
	}
	pos := b.pos(b.read)
	k := copy(p[:n], b.buf[pos:])
	copy(p[k:n], b.buf)
	b.read += uint64(n)
	return n
}

package mptcp

import "github.com/mpxdp/mpxdp/cksum"

// sumBlock is the granularity of the send buffer's stored sums: the sum of
// a mapping is assembled from the sums of its whole blocks plus the few
// bytes at its edges, so the DSS checksum costs no extra pass over the data
// (the sums come free with the copy that moves application data in).
const sumBlock = 512

// sendBuffer holds outgoing application bytes by data sequence number
// until a DATA_ACK covers them (RFC 8684 §3.3.2: the sender must keep data
// until it is acknowledged at the data level, whatever the subflows say)
// and until every subflow that carried them acknowledged them at the TCP
// level (a TCP retransmission repeats the same bytes, INTEROP A.13).
//
// The application may fill size bytes beyond the DATA_ACK, as Linux
// accounts its send buffer at the data level; the ring is larger by a
// slack, so that bytes the DATA_ACK covered but a subflow has not yet
// acknowledged (its delayed ACK of the last segment of a burst) do not
// hold the writer back.
type sendBuffer struct {
	buf     []byte // allocated at the first write
	size    int    // what may be written beyond the DATA_ACK
	ring    int    // len(buf): size plus the slack
	base    uint64 // DSN of offset 0 (the first data byte, IDSN+1)
	una     uint64 // oldest DSN kept: not DATA_ACKed, or held by a subflow's TCP
	dataUna uint64 // oldest DSN not DATA_ACKed
	end     uint64 // DSN after the last byte written
	sums    []cksum.Partial
	cache   *ringCache // where the ring comes from; nil: allocate
}

func newSendBuffer(size int) sendBuffer {
	size = (size + sumBlock - 1) / sumBlock * sumBlock
	slack := (max(size/8, 64<<10) + sumBlock - 1) / sumBlock * sumBlock
	return sendBuffer{size: size, ring: size + slack}
}

// start sets the initial DSN once the key is known.
func (b *sendBuffer) start(dsn uint64) { b.base, b.una, b.dataUna, b.end = dsn, dsn, dsn, dsn }

func (b *sendBuffer) space() int {
	return max(min(b.size-int(b.end-b.dataUna), b.ring-int(b.end-b.una)), 0)
}

// heldBack reports whether bytes the DATA_ACK covered, which a subflow's
// TCP has not acknowledged, hold the writer back: the ring has less room
// than the data level allows, and less than 64 KiB.
func (b *sendBuffer) heldBack() bool {
	ring := b.ring - int(b.end-b.una)
	return ring < b.size-int(b.end-b.dataUna) && ring < 64<<10
}

func (b *sendBuffer) pos(dsn uint64) int { return int((dsn - b.base) % uint64(b.ring)) }

// write appends as much of p as fits and returns the count. The copy sums
// each block's bytes as it goes.
func (b *sendBuffer) write(p []byte) int {
	n := min(len(p), b.space())
	if n > 0 && b.buf == nil {
		b.buf, b.sums = b.cache.takeSend(b.ring)
	}
	p = p[:n]
	for len(p) > 0 {
		off := b.end - b.base
		inBlock := int(off % sumBlock)
		pos := b.pos(b.end)
		k := min(len(p), sumBlock-inBlock)
		s := cksum.CopyAndSum(b.buf[pos:pos+k], p[:k])
		blk := int(off/sumBlock) % len(b.sums)
		if inBlock == 0 {
			b.sums[blk] = s
		} else {
			b.sums[blk] = cksum.CombineAt(b.sums[blk], s, inBlock)
		}
		b.end += uint64(k)
		p = p[k:]
	}
	return n
}

// copyOut copies the bytes at dsn into dst and returns their sum.
func (b *sendBuffer) copyOut(dsn uint64, dst []byte) cksum.Partial {
	pos := b.pos(dsn)
	first := min(len(dst), len(b.buf)-pos)
	s := cksum.CopyAndSum(dst[:first], b.buf[pos:pos+first])
	if first < len(dst) {
		s = cksum.CombineAt(s, cksum.CopyAndSum(dst[first:], b.buf), first)
	}
	return s
}

// rangeSum returns the sum of [dsn, dsn+n) from the stored block sums,
// summing only the partial blocks at the edges.
func (b *sendBuffer) rangeSum(dsn uint64, n int) cksum.Partial {
	var s cksum.Partial
	at := 0
	for at < n {
		off := dsn + uint64(at) - b.base
		inBlock := int(off % sumBlock)
		k := min(n-at, sumBlock-inBlock)
		if inBlock == 0 && k == sumBlock {
			s = cksum.CombineAt(s, b.sums[int(off/sumBlock)%len(b.sums)], at)
		} else {
			pos := b.pos(dsn + uint64(at))
			s = cksum.CombineAt(s, cksum.Sum(b.buf[pos:pos+k], 0), at)
		}
		at += k
	}
	return s
}

// ack releases everything before dsn.
func (b *sendBuffer) ack(dsn uint64) {
	if dsn > b.una && dsn <= b.end {
		b.una = dsn
	}
	b.dataUna = max(b.dataUna, b.una)
}

// dataAck records the DATA_ACK: the space the application may fill is
// counted from it.
func (b *sendBuffer) dataAck(dsn uint64) {
	if dsn > b.dataUna && dsn <= b.end {
		b.dataUna = dsn
	}
}

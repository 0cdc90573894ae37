package tcp

import (
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// Stream is the Owner of a plain TCP connection: a send ring that keeps
// bytes until they are acknowledged and a receive ring into which payload
// is copied once, at its sequence offset, straight from the frame. It is
// what a connection uses when MPTCP is not involved (tests, benchmarks,
// and the MPTCP engine's own building block for fallback).
type Stream struct {
	conn *Conn
	snd  ring
	rcv  ring
	// sndBase is the send offset of snd's first byte; rcvBase the receive
	// offset of rcv's first (unread) byte. Offsets start at 1.
	sndBase, rcvBase uint64

	established bool
	finRcvd     bool
	closed      bool
	err         error
	// Acked counts the bytes the peer acknowledged.
	Acked uint64
}

// NewStream returns a stream with the given send and receive buffer sizes.
func NewStream(sendBuf, recvBuf int) *Stream {
	return &Stream{snd: newRing(sendBuf), rcv: newRing(recvBuf), sndBase: 1, rcvBase: 1}
}

// Attach binds the stream to its connection; call it right after Dial or
// Accept.
func (s *Stream) Attach(c *Conn) { s.conn = c }

// Conn returns the connection.
func (s *Stream) Conn() *Conn { return s.conn }

// Established reports whether the handshake completed.
func (s *Stream) Established() bool { return s.established }

// Closed reports whether the connection is closed, and why (nil for an
// orderly close).
func (s *Stream) Closed() (bool, error) { return s.closed, s.err }

// EOF reports whether the peer finished sending and all of it was read.
func (s *Stream) EOF() bool { return s.finRcvd && s.Buffered() == 0 }

// Write copies as much of p as the send buffer holds and returns the count.
func (s *Stream) Write(p []byte) int {
	if s.conn.Closing() || s.conn.State() == Closed {
		return 0
	}
	n := s.snd.write(p)
	s.conn.Push(n)
	return n
}

// WriteSpace returns how many bytes Write would accept now.
func (s *Stream) WriteSpace() int { return s.snd.space() }

// Buffered returns the in-order bytes ready to Read.
func (s *Stream) Buffered() int {
	return int(s.inOrderEnd() - s.rcvBase)
}

func (s *Stream) inOrderEnd() uint64 {
	end := s.conn.ReceiveNext()
	if s.finRcvd {
		end-- // the FIN occupies one offset but is not data
	}
	return max(end, s.rcvBase)
}

// Read copies in-order received bytes into p and returns the count.
func (s *Stream) Read(p []byte) int {
	n := min(len(p), s.Buffered())
	if n == 0 {
		return 0
	}
	s.rcv.peek(p[:n])
	s.rcv.advance(n)
	s.rcvBase += uint64(n)
	s.conn.WindowOpened()
	s.conn.Consumed(s.Buffered() == 0)
	return n
}

// ReceiveData implements Owner: copy at the receive offset.
func (s *Stream) ReceiveData(off uint64, data []byte, _ *wire.Options) (cksum.Partial, bool) {
	pos := int(off - s.rcvBase)
	if off < s.rcvBase || pos+len(data) > s.rcv.cap() {
		return cksum.Sum(data, 0), false
	}
	return s.rcv.copyInAt(pos, data), true
}

// CommitData implements Owner; the connection tracks what is in order.
func (s *Stream) CommitData(uint64, int, cksum.Partial, *wire.Options) {}

// SegmentReceived implements Owner: a plain stream has no options to act on.
func (s *Stream) SegmentReceived(time.Duration, *wire.Segment) Verdict { return VerdictAccept }

// ReceiveWindow implements Owner: the free receive buffer beyond RCV.NXT.
func (s *Stream) ReceiveWindow() int {
	used := int(s.conn.ReceiveNext() - s.rcvBase)
	return max(s.rcv.cap()-used, 0)
}

// SendData implements Owner.
func (s *Stream) SendData(off uint64, dst []byte) cksum.Partial {
	return s.snd.copyOutAt(int(off-s.sndBase), dst)
}

// SegmentOptions implements Owner: no options of its own.
func (s *Stream) SegmentOptions(time.Duration, *Outgoing) {}

// Event implements Owner.
func (s *Stream) Event(_ time.Duration, ev Event) {
	switch ev.Kind {
	case EventEstablished:
		s.established = true
	case EventAcked:
		s.Acked += uint64(ev.Bytes)
		s.release()
	case EventFIN:
		s.finRcvd = true
	case EventClosed:
		s.closed, s.err = true, ev.Err
	}
}

// release frees the acknowledged bytes of the send ring.
func (s *Stream) release() {
	una := min(s.conn.SendUnacked(), s.conn.SendEnd())
	if una > s.sndBase {
		s.snd.discard(int(una - s.sndBase))
		s.sndBase = una
	}
}

// ring is a byte ring buffer whose reads and writes copy with the checksum
// fused in.
type ring struct {
	buf        []byte
	head, size int
}

func newRing(n int) ring { return ring{buf: make([]byte, n)} }

func (r *ring) cap() int   { return len(r.buf) }
func (r *ring) space() int { return len(r.buf) - r.size }

// write appends as much of p as fits.
func (r *ring) write(p []byte) int {
	n := min(len(p), r.space())
	tail := (r.head + r.size) % len(r.buf)
	k := copy(r.buf[tail:], p[:n])
	copy(r.buf, p[k:n])
	r.size += n
	return n
}

// peek copies the len(p) bytes at the head into p (no sum: the
// application does not need one).
func (r *ring) peek(p []byte) {
	k := copy(p, r.buf[r.head:])
	copy(p[k:], r.buf)
}

// advance moves the head of a receive ring, whose contents the connection
// tracks (its size field is unused).
func (r *ring) advance(n int) { r.head = (r.head + n) % len(r.buf) }

func (r *ring) discard(n int) {
	r.head = (r.head + n) % len(r.buf)
	r.size -= n
	if r.size == 0 {
		r.head = 0
	}
}

// copyOutAt copies len(dst) bytes starting pos bytes after the head into
// dst and returns their sum.
func (r *ring) copyOutAt(pos int, dst []byte) cksum.Partial {
	start := (r.head + pos) % len(r.buf)
	first := min(len(dst), len(r.buf)-start)
	sum := cksum.CopyAndSum(dst[:first], r.buf[start:start+first])
	if first < len(dst) {
		sum = cksum.CombineAt(sum, cksum.CopyAndSum(dst[first:], r.buf), first)
	}
	return sum
}

// copyInAt stores data pos bytes after the head (the receive ring's size
// is implicit: the connection tracks what is valid) and returns its sum.
func (r *ring) copyInAt(pos int, data []byte) cksum.Partial {
	start := (r.head + pos) % len(r.buf)
	first := min(len(data), len(r.buf)-start)
	sum := cksum.CopyAndSum(r.buf[start:start+first], data[:first])
	if first < len(data) {
		sum = cksum.CombineAt(sum, cksum.CopyAndSum(r.buf, data[first:]), first)
	}
	return sum
}

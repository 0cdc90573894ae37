package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// payload is what senders write: random bytes, so that nothing on the way
// gains from compressible data.
var payload = func() []byte {
	b := make([]byte, maxBlock)
	r := rand.NewChaCha8([32]byte{'m', 'p', 'b', 'e', 'n', 'c', 'h'})
	r.Read(b)
	return b
}()

const (
	maxBlock     = 4 << 20
	latencyBlock = 8 << 10 // NSDI'12 §5.2: 8 KB blocks timestamped at the sender
	stampLen     = 16      // send time and sequence number at the head of a latency block
	// recvGrace is how long a receiver waits past the test's end for the
	// sender's last bytes and end of stream.
	recvGrace = 30 * time.Second
)

// Process-wide monotonic clock for latency stamps: CLOCK_MONOTONIC at
// start-up plus Go's monotonic time since, so that two processes on one
// host read the same clock (and hosts differ by an offset that the
// control connection estimates).
var monoBase, monoStart = func() (int64, time.Time) {
	t := time.Now()
	return clockMonotonic(), t
}()

func monoNow() int64 { return monoBase + int64(time.Since(monoStart)) }

// sideRun runs one side of a bulk or latency test on its data connections.
type sideRun struct {
	spec    testSpec
	sender  bool
	m       *meter
	offset  int64 // receiver's clock minus the sender's, in ns (latency)
	stopped atomic.Bool
	closing atomic.Bool // closeAll ran: errors of closed connections are ours

	mu   sync.Mutex
	hist hist // latency samples of all connections
	errs []string
}

func (r *sideRun) fail(format string, args ...any) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// run moves the data and returns when every connection is done. start is
// the test's start.
func (r *sideRun) run(start time.Time) {
	var end time.Time
	if r.spec.Duration > 0 {
		end = start.Add(r.spec.Duration)
	}
	conns := r.m.list()
	var wg sync.WaitGroup
	for _, mc := range conns {
		if r.sender {
			// By the connection's number, so that both ends agree.
			limit := share(r.spec.Bytes, len(conns), mc.id-1)
			mc.c.SetWriteDeadline(end)
			wg.Go(func() { r.send(mc, limit) })
		} else {
			if !end.IsZero() {
				mc.c.SetReadDeadline(end.Add(recvGrace))
			}
			wg.Go(func() { r.recv(mc) })
		}
	}
	wg.Wait()
}

// snapshot takes the connections' final subflow counters (once).
func (r *sideRun) snapshot() {
	for _, mc := range r.m.list() {
		mc.snapshot()
	}
}

// stop ends the test early: senders stop writing and close their side.
func (r *sideRun) stop() {
	if r.stopped.Swap(true) || !r.sender {
		return
	}
	for _, mc := range r.m.list() {
		mc.c.SetWriteDeadline(time.Now())
	}
}

// share splits n bytes over k connections (the first ones take the rest);
// 0 means unlimited.
func share(n int64, k, i int) int64 {
	if n <= 0 {
		return 0
	}
	s := n / int64(k)
	if int64(i) < n%int64(k) {
		s++
	}
	if s == 0 {
		s = -1 // nothing to send on this connection
	}
	return s
}

type closeWriter interface{ CloseWrite() error }

func (r *sideRun) send(mc *meterConn, limit int64) {
	block := r.spec.Block
	var buf []byte
	if r.spec.Mode == modeLatency {
		buf = make([]byte, block)
		copy(buf, payload)
	}
	var seq uint64
	for limit >= 0 && !r.stopped.Load() {
		n := block
		if limit > 0 {
			left := limit - int64(mc.sent.Load())
			if left <= 0 {
				break
			}
			n = int(min(int64(n), left))
		}
		p := payload[:n]
		if buf != nil {
			p = buf[:n]
		}
		_, err := r.writeBlock(mc, p, seq)
		seq++
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) && !r.closedHere(err) {
				r.fail("connection %d: write after %d bytes: %v", mc.id, mc.sent.Load(), err)
			}
			break
		}
	}
	mc.c.SetWriteDeadline(time.Time{})
	if cw, ok := mc.c.(closeWriter); ok {
		if err := cw.CloseWrite(); err != nil && !r.closedHere(err) {
			r.fail("connection %d: close write: %v", mc.id, err)
		}
	}
}

// writeBlock writes one block; a latency block is stamped when handed to
// the stack. It does not allocate.
func (r *sideRun) writeBlock(mc *meterConn, p []byte, seq uint64) (int, error) {
	if r.spec.Mode == modeLatency && len(p) >= stampLen {
		binary.BigEndian.PutUint64(p[0:], uint64(monoNow()))
		binary.BigEndian.PutUint64(p[8:], seq)
	}
	k, err := mc.c.Write(p)
	mc.sent.Add(uint64(k))
	return k, err
}

// readBlock reads what is there (bulk) or one whole block, whose delay it
// records (latency). It does not allocate.
func (r *sideRun) readBlock(mc *meterConn, buf []byte, h *hist) (int, error) {
	if r.spec.Mode != modeLatency {
		k, err := mc.c.Read(buf)
		mc.recv.Add(uint64(k))
		return k, err
	}
	block := r.spec.Block
	k, err := io.ReadFull(mc.c, buf[:block])
	mc.recv.Add(uint64(k))
	if k == block {
		sent := int64(binary.BigEndian.Uint64(buf[0:]))
		h.Record(time.Duration(monoNow() - sent - r.offset))
	}
	if err == io.ErrUnexpectedEOF {
		err = io.EOF // a last partial block (-n not a multiple of the block)
	}
	return k, err
}

func (r *sideRun) recv(mc *meterConn) {
	lat := r.spec.Mode == modeLatency
	buf := make([]byte, max(r.spec.Block, 256<<10))
	var h hist
	for {
		_, err := r.readBlock(mc, buf, &h)
		if err != nil {
			if !errors.Is(err, io.EOF) && !r.closedHere(err) {
				r.fail("connection %d: read after %d bytes: %v", mc.id, mc.recv.Load(), err)
			}
			break
		}
	}
	if lat {
		r.mu.Lock()
		r.hist.Merge(&h)
		r.mu.Unlock()
	}
}

// result builds this side's result at the end of the test.
func (r *sideRun) result(role, stack string, end time.Time) *sideResult {
	m := r.m
	r.snapshot()
	res := &sideResult{Role: role, Stack: stack, Sender: r.sender, Seconds: end.Sub(m.start).Seconds()}
	for _, mc := range m.list() {
		cr := connResult{ID: mc.id, BytesSent: mc.sent.Load(), BytesReceived: mc.recv.Load(),
			MPTCP: mc.final.MPTCP, Checksums: mc.final.Checksums, Fallback: mc.final.Fallback, Subflows: mc.final.Subflows, Error: mc.final.Err}
		if a := mc.c.LocalAddr(); a != nil {
			cr.Local = a.String()
		}
		if a := mc.c.RemoteAddr(); a != nil {
			cr.Remote = a.String()
		}
		res.BytesSent += cr.BytesSent
		res.BytesReceived += cr.BytesReceived
		res.Conns = append(res.Conns, cr)
	}
	moved := res.BytesReceived
	if r.sender {
		moved = res.BytesSent
	}
	res.BitsPerSecond = rate(moved, end.Sub(m.start))
	res.CPU = m.cpu(moved)
	res.Intervals = m.intervals
	if r.spec.Mode == modeLatency && !r.sender {
		res.Latency = r.hist.Report()
	}
	r.mu.Lock()
	res.Errors = append(res.Errors, r.errs...)
	r.mu.Unlock()
	return res
}

// closedHere reports whether err comes from this side's closeAll (the
// test was cut short on purpose, and said so).
func (r *sideRun) closedHere(err error) bool {
	return r.closing.Load() && errors.Is(err, net.ErrClosed)
}

// closeAll closes the side's data connections.
func (r *sideRun) closeAll() {
	r.closing.Store(true)
	for _, mc := range r.m.list() {
		mc.c.Close()
	}
}

// serveRR answers one request/response connection: size bytes, then the
// server closes, as an HTTP/1.0 server does (so the TIME-WAIT state stays
// on the server, whose port is not ephemeral).
func serveRR(c net.Conn, size int64, m *meter) {
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	left := size
	for left > 0 {
		k, err := c.Write(payload[:min(left, int64(len(payload)))])
		left -= int64(k)
		m.reqSent.Add(uint64(k))
		if err != nil {
			m.reqFail.Add(1)
			return
		}
	}
	m.req.Add(1)
}

package dataplane

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/mpxdp/mpxdp/mptcp"
)

// ErrWriteClosed is returned by Write after CloseWrite.
var ErrWriteClosed = errors.New("dataplane: write after CloseWrite")

// Requests a Conn carries to the shard besides reads and writes.
const (
	opCloseWrite uint8 = 1 << iota
	opClose
	opAbort
)

// Conn is an application's handle on one connection. Read, Write, Close
// and the other methods may be called from any goroutine; concurrent Reads
// are served one after the other, and so are concurrent Writes.
type Conn struct {
	s             *Shard
	local, remote netip.AddrPort // fixed before the Conn is handed out

	queued bool // in s.pending; guarded by s.mu

	// Owned by the shard goroutine.
	ec       *mptcp.Conn
	ln       *Listener // an accepted connection's listener until established
	dialing  bool
	dialDone chan error

	rmu, wmu sync.Mutex // serialise Reads and Writes

	// mu guards the requests; the shard holds it while it serves them, so
	// a caller that has taken it knows the shard is not using its slice.
	mu       sync.Mutex
	rbuf     []byte
	rn       int
	rerr     error
	rwait    bool  // a Read is posted
	lent     bool  // rbuf is lent to the engine (mptcp.Conn.LendReadBuffer): only the shard may end the loan
	rcancel  error // the reader gave up (or Close) while rbuf was lent: the shard ends the Read with it
	wbuf     []byte
	wn       int
	werr     error
	wwait    bool // a Write is posted
	rdone    chan struct{}
	wdone    chan struct{}
	ops      uint8
	closed   bool  // Close or Abort was called
	shutW    bool  // CloseWrite was called
	gone     bool  // the engine closed the connection
	goneErr  error // ... with this error (nil: orderly)
	readErr  error // what the last Read ended with; later Reads return it
	fallback *mptcp.FallbackError
}

func newConn(s *Shard) *Conn {
	return &Conn{s: s, rdone: make(chan struct{}, 1), wdone: make(chan struct{}, 1)}
}

// LocalAddr returns the local address of the initial subflow.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// RemoteAddr returns the remote address of the initial subflow.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Read blocks until it can copy received bytes into p, the stream ends
// (io.EOF), the connection fails (its error: *mptcp.ResetError,
// mptcp.ErrTimeout, ...), Close is called (net.ErrClosed) or cancel closes
// (ErrCanceled).
func (c *Conn) Read(p []byte, cancel <-chan struct{}) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return 0, net.ErrClosed
	case c.readErr != nil:
		err := c.readErr
		c.mu.Unlock()
		return 0, err
	case len(p) == 0:
		c.mu.Unlock()
		return 0, nil
	case isClosed(cancel):
		c.mu.Unlock()
		return 0, ErrCanceled
	}
	c.rbuf, c.rwait = p, true
	c.mu.Unlock()
	posted := c.s.post(c)
	signaled := false
	if posted {
		select {
		case <-c.rdone:
			signaled = true
		case <-cancel:
		}
	}
	c.mu.Lock()
	if c.rwait && c.lent && !signaled {
		// The engine holds p: the shard ends the loan and the Read, with
		// the bytes that arrived in p, or ErrCanceled.
		if c.rcancel == nil {
			c.rcancel = ErrCanceled
		}
		c.mu.Unlock()
		c.s.post(c)
		<-c.rdone
		signaled = true
		c.mu.Lock()
	}
	if c.rwait {
		// Withdrawn before the shard served it.
		c.rbuf, c.rwait = nil, false
		c.mu.Unlock()
		if !posted {
			return 0, net.ErrClosed
		}
		return 0, ErrCanceled
	}
	n, err := c.rn, c.rerr
	c.rn, c.rerr = 0, nil
	if err != nil && err != net.ErrClosed && err != ErrCanceled {
		c.readErr = err // the connection's end: later Reads return it too
	}
	c.mu.Unlock()
	if !signaled {
		<-c.rdone // served while we were leaving: consume its signal
	}
	return n, err
}

// Write blocks until the engine has taken all of p, the connection fails,
// Close is called (net.ErrClosed), or cancel closes (ErrCanceled); it
// returns how many bytes were taken.
func (c *Conn) Write(p []byte, cancel <-chan struct{}) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return 0, net.ErrClosed
	case c.shutW:
		c.mu.Unlock()
		return 0, ErrWriteClosed
	case len(p) == 0:
		c.mu.Unlock()
		return 0, nil
	case isClosed(cancel):
		c.mu.Unlock()
		return 0, ErrCanceled
	}
	c.wbuf, c.wn, c.wwait = p, 0, true
	c.mu.Unlock()
	posted := c.s.post(c)
	signaled := false
	if posted {
		select {
		case <-c.wdone:
			signaled = true
		case <-cancel:
		}
	}
	c.mu.Lock()
	if c.wwait {
		n := c.wn
		c.wbuf, c.wn, c.wwait = nil, 0, false
		c.mu.Unlock()
		if !posted {
			return n, net.ErrClosed
		}
		return n, ErrCanceled
	}
	n, err := c.wn, c.werr
	c.wn, c.werr = 0, nil
	c.mu.Unlock()
	if !signaled {
		<-c.wdone
	}
	return n, err
}

// CloseWrite sends the DATA_FIN after the bytes written so far (after a
// Write in progress in another goroutine completes).
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	if c.shutW {
		c.mu.Unlock()
		return nil
	}
	c.shutW = true
	c.ops |= opCloseWrite
	c.mu.Unlock()
	if !c.s.post(c) {
		return net.ErrClosed
	}
	return nil
}

// Close closes the connection: blocked Reads and Writes return
// net.ErrClosed, and the engine closes in the background (a DATA_FIN after
// the data written; an abortive MP_FASTCLOSE if received data was left
// unread, as Linux does).
func (c *Conn) Close() error { return c.close(opClose) }

// Abort resets the connection (MP_FASTCLOSE, or a RST for plain TCP).
func (c *Conn) Abort() error { return c.close(opAbort) }

func (c *Conn) close(op uint8) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.failLocked(net.ErrClosed)
	c.ops |= op
	c.mu.Unlock()
	c.s.post(c) // a stopped shard has aborted everything already
	return nil
}

// failLocked completes the posted requests with err; a Read whose buffer
// is lent to the engine is left to the shard, which ends the loan first.
func (c *Conn) failLocked(err error) {
	switch {
	case c.rwait && c.lent:
		c.rcancel = err
	case c.rwait:
		c.completeReadLocked(0, err)
	}
	if c.wwait {
		c.wbuf, c.wwait, c.werr = nil, false, err
		signal(c.wdone)
	}
}

// serve runs on the shard: it continues the posted requests and applies
// closes.
func (c *Conn) serve() {
	c.mu.Lock()
	if c.s.down {
		// The shard is stopping: what is posted ends with net.ErrClosed
		// (the engine's connections were aborted).
		if c.lent {
			c.ec.ReturnReadBuffer()
			c.lent = false
		}
		c.failLocked(net.ErrClosed)
		c.mu.Unlock()
		return
	}
	if c.rwait {
		c.serveReadLocked()
		c.s.handed = c.s.handed || !c.rwait
	}
	if c.wwait {
		n, err := c.ec.Write(c.wbuf[c.wn:])
		c.wn += n
		if err != nil || c.wn == len(c.wbuf) {
			c.wbuf, c.wwait, c.werr = nil, false, err
			signal(c.wdone)
			c.s.handed = true
		}
	}
	ops := c.ops
	if c.wwait {
		ops &^= opCloseWrite // after the posted Write
	}
	c.ops &^= ops
	c.mu.Unlock()
	switch {
	case ops&opAbort != 0:
		c.ec.Abort()
	case ops&opClose != 0:
		c.ec.Close()
	case ops&opCloseWrite != 0:
		c.ec.CloseWrite()
	}
}

// serveReadLocked continues the posted Read on the shard. While the reader
// waits with nothing buffered, its buffer is lent to the engine, which then
// copies in-order bytes from the frames straight into it (one copy instead
// of two); any later call ends the loan and hands over what arrived.
func (c *Conn) serveReadLocked() {
	if c.lent {
		c.lent = false
		if n := c.ec.ReturnReadBuffer(); n > 0 {
			c.completeReadLocked(n, nil)
			return
		}
	}
	n, err := c.ec.Read(c.rbuf)
	switch {
	case n > 0 || err != nil:
		c.completeReadLocked(n, err)
	case c.rcancel != nil:
		c.completeReadLocked(0, c.rcancel)
	default:
		c.lent = c.ec.LendReadBuffer(c.rbuf)
	}
}

// completeReadLocked ends the posted Read with n bytes and err.
func (c *Conn) completeReadLocked(n int, err error) {
	c.rbuf, c.rwait, c.rn, c.rerr, c.rcancel = nil, false, n, err, nil
	signal(c.rdone)
}

// established runs on the shard when the handshake completes.
func (c *Conn) established() {
	c.s.handed = true
	if c.dialing {
		c.dialing = false
		// The engine may have resent the SYN from another port
		// (mptcp/blackhole.go); the caller sees the Conn from here on.
		c.local = c.ec.LocalAddr()
		c.dialDone <- nil
		return
	}
	if l := c.ln; l != nil {
		c.ln = nil
		l.deliver(c)
	}
}

// engineClosed runs on the shard when the engine closed the connection.
func (c *Conn) engineClosed(err error) {
	if c.dialing {
		c.dialing = false
		if err == nil {
			err = mptcp.ErrClosed
		}
		c.dialDone <- err
	}
	c.ln = nil
	c.mu.Lock()
	c.gone, c.goneErr = true, err
	c.mu.Unlock()
	c.serve()
}

// Fallback returns why the connection fell back to TCP, or nil.
func (c *Conn) Fallback() *mptcp.FallbackError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fallback
}

// Engine runs f on the shard with the engine's connection, for path
// management (OpenSubflow, ResetSubflow, SetBackup, ...) and inspection.
// f must not block.
func (c *Conn) Engine(f func(ec *mptcp.Conn)) error {
	return c.s.call(func() { f(c.ec) })
}

// Subflows describes the connection's subflows.
func (c *Conn) Subflows() ([]mptcp.SubflowInfo, error) {
	var out []mptcp.SubflowInfo
	err := c.Engine(func(ec *mptcp.Conn) { out = ec.Subflows() })
	return out, err
}

// Stats returns the connection's counters.
func (c *Conn) Stats() (mptcp.ConnStats, error) {
	var st mptcp.ConnStats
	err := c.Engine(func(ec *mptcp.Conn) { st = ec.Stats })
	return st, err
}

package mpxdp

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/mpxdp/mpxdp/dataplane"
	"github.com/mpxdp/mpxdp/mptcp"
)

// Conn is one MPTCP connection. It implements net.Conn; every method is
// safe for concurrent use.
type Conn struct {
	c       *dataplane.Conn
	network string
	laddr   net.Addr
	raddr   net.Addr
	rd, wd  deadline
}

var _ net.Conn = (*Conn)(nil)

func newConn(dc *dataplane.Conn, network string) *Conn {
	return &Conn{c: dc, network: network,
		laddr: net.TCPAddrFromAddrPort(dc.LocalAddr()), raddr: net.TCPAddrFromAddrPort(dc.RemoteAddr())}
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.network, Source: c.laddr, Addr: c.raddr, Err: mapErr(op, err)}
}

// Read reads received bytes into p. It blocks until at least one byte is
// there, the peer ended the stream (io.EOF), the connection failed, or the
// read deadline passed.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.c.Read(p, c.rd.channel())
	if err != nil && err != io.EOF {
		err = c.opError("read", err)
	}
	return n, err
}

// Write writes p. It blocks until the connection has taken every byte
// (into its send buffer), the connection failed, or the write deadline
// passed, and returns how many bytes were taken.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.c.Write(p, c.wd.channel())
	if err != nil {
		err = c.opError("write", err)
	}
	return n, err
}

// Close closes the connection. Blocked Reads and Writes return
// net.ErrClosed. Data written before Close is still delivered (a DATA_FIN
// follows it) unless received data was left unread, in which case the
// connection is reset with MP_FASTCLOSE, as Linux does.
func (c *Conn) Close() error {
	if err := c.c.Close(); err != nil {
		return c.opError("close", err)
	}
	c.rd.stop()
	c.wd.stop()
	return nil
}

// CloseWrite shuts the sending direction: the peer reads io.EOF after the
// data written so far (a DATA_FIN, RFC 8684 §3.3.3). Reading continues.
func (c *Conn) CloseWrite() error {
	if err := c.c.CloseWrite(); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// Abort resets the connection at once (MP_FASTCLOSE, RFC 8684 §3.5, or a
// RST), like Close with SO_LINGER set to 0.
func (c *Conn) Abort() error {
	if err := c.c.Abort(); err != nil {
		return c.opError("close", err)
	}
	c.rd.stop()
	c.wd.stop()
	return nil
}

// LocalAddr returns the local address of the initial subflow.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the remote address of the initial subflow.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the deadline of pending and future Reads; the zero
// time means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the deadline of pending and future Writes; the
// zero time means none. A Write that times out may have sent part of its
// data: it returns how much.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wd.set(t)
	return nil
}

// Subflows describes the connection's subflows, closed ones included.
func (c *Conn) Subflows() ([]SubflowInfo, error) {
	sf, err := c.c.Subflows()
	if err != nil {
		return nil, c.opError("subflows", err)
	}
	return sf, nil
}

// Stats returns the connection's counters.
func (c *Conn) Stats() (ConnStats, error) {
	st, err := c.c.Stats()
	if err != nil {
		return st, c.opError("stats", err)
	}
	return st, nil
}

// Fallback returns why the connection fell back to plain TCP, or nil: at
// or after the handshake, or at Dial when a recent connection found that
// SYNs with MP_CAPABLE were dropped (Config.Engine.BlackholeTimeout). A
// peer that answers as plain TCP makes no fallback (MPTCP is false).
func (c *Conn) Fallback() *FallbackError { return c.c.Fallback() }

// MPTCP reports whether the connection speaks MPTCP: false for a peer
// that answered as plain TCP and after a fallback.
func (c *Conn) MPTCP() bool {
	var mp bool
	if c.c.Engine(func(ec *mptcp.Conn) { mp = ec.MPTCP() }) != nil {
		return false
	}
	return mp
}

// Engine runs f on the stack's shard with the engine's connection, for
// path management (OpenSubflow, CloseSubflow, ResetSubflow, SetBackup,
// Announce) and inspection. f must not block.
func (c *Conn) Engine(f func(ec *mptcp.Conn)) error {
	if err := c.c.Engine(f); err != nil {
		return c.opError("engine", err)
	}
	return nil
}

// deadline is one direction's deadline: a channel closed when it passes.
// A pending call waits on the channel it read at its start; moving a
// deadline that has not passed keeps the channel, so pending calls see the
// new time.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{} // made on first use, again after it was closed
}

// channel returns what a call should wait on: a deadline set while the
// call waits closes it.
func (d *deadline) channel() <-chan struct{} {
	d.mu.Lock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	ch := d.ch
	d.mu.Unlock()
	return ch
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		if !d.timer.Stop() {
			d.ch = nil // fired (or firing): that channel is closed
		}
		d.timer = nil
	}
	if d.ch != nil {
		select {
		case <-d.ch:
			d.ch = nil // a past deadline closed it
		default:
		}
	}
	if t.IsZero() {
		return
	}
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		return
	}
	ch := d.ch
	d.timer = time.AfterFunc(dur, func() { close(ch) })
}

// stop releases the timer.
func (d *deadline) stop() {
	d.mu.Lock()
	if d.timer != nil && d.timer.Stop() {
		d.timer = nil
	}
	d.mu.Unlock()
}

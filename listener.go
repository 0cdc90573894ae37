package mpxdp

import (
	"net"
	"time"

	"github.com/mpxdp/mpxdp/dataplane"
)

// Listener accepts MPTCP (and plain TCP) connections on one port. It
// implements net.Listener.
type Listener struct {
	l       *dataplane.Listener
	network string
	addr    net.Addr
	d       deadline
}

var _ net.Listener = (*Listener)(nil)

// Accept waits for the next connection whose handshake completed.
func (l *Listener) Accept() (net.Conn, error) { return l.AcceptConn() }

// AcceptConn is Accept returning the concrete type.
func (l *Listener) AcceptConn() (*Conn, error) {
	dc, err := l.l.Accept(l.d.channel())
	if err != nil {
		return nil, &net.OpError{Op: "accept", Net: l.network, Addr: l.addr, Err: mapErr("accept", err)}
	}
	return newConn(dc, l.network), nil
}

// SetDeadline sets the deadline of pending and future Accepts.
func (l *Listener) SetDeadline(t time.Time) error {
	l.d.set(t)
	return nil
}

// Close stops listening: blocked Accepts return net.ErrClosed, and
// connections nobody accepted are reset.
func (l *Listener) Close() error {
	if err := l.l.Close(); err != nil {
		return &net.OpError{Op: "close", Net: l.network, Addr: l.addr, Err: err}
	}
	l.d.stop()
	return nil
}

// Addr returns the listening address (an unspecified IP when listening on
// every local address).
func (l *Listener) Addr() net.Addr { return l.addr }

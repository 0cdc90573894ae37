package dataplane

import (
	"net"
	"sync"

	"github.com/mpxdp/mpxdp/dataplane/link"
)

// Listener hands out the connections accepted on one port.
type Listener struct {
	s      *Shard
	port   uint16
	q      chan *Conn // established connections waiting for Accept
	closed chan struct{}
	once   sync.Once
	shut   bool // shard only: no more deliveries
}

// Port returns the listening port.
func (l *Listener) Port() uint16 { return l.port }

// Accept blocks until a connection has completed its handshake, the
// listener closes (net.ErrClosed), or cancel closes (ErrCanceled).
func (l *Listener) Accept(cancel <-chan struct{}) (*Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.q:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-cancel:
		return nil, ErrCanceled
	}
}

// Close stops listening: blocked Accepts return net.ErrClosed and the
// connections nobody accepted are reset.
func (l *Listener) Close() error {
	first := false
	l.once.Do(func() {
		first = true
		close(l.closed)
	})
	if !first {
		return net.ErrClosed
	}
	s := l.s
	err := s.call(func() {
		if s.listeners[l.port] == l {
			delete(s.listeners, l.port)
			s.ep.Unlisten(l.port)
			if po, ok := s.link.(link.PortOwner); ok && !s.ephemeral(l.port) {
				po.ReleasePort(l.port) // best effort: the XDP map entry only steers traffic
			}
		}
		l.stop()
	})
	_ = err // net.ErrClosed: the stopped shard closed every listener
	return nil
}

// stop runs on the shard: no more deliveries; reset what is queued.
func (l *Listener) stop() {
	l.shut = true
	for {
		select {
		case c := <-l.q:
			c.ec.Abort()
		default:
			return
		}
	}
}

// shutClose runs on the shard when it stops.
func (l *Listener) shutClose() {
	l.once.Do(func() { close(l.closed) })
	l.stop()
}

// deliver runs on the shard: an accepted connection is established.
func (l *Listener) deliver(c *Conn) {
	if l.shut {
		c.ec.Abort()
		return
	}
	select {
	case l.q <- c:
	default:
		l.s.stats.AcceptOverflows++
		c.ec.Abort()
	}
}

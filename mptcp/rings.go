package mptcp

import (
	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
)

// maxCachedRings bounds the rings of each kind an endpoint keeps for new
// connections: enough for the connections that close while as many open
// (a request/response client or server), without holding the memory of a
// burst of bulk connections for ever.
const maxCachedRings = 32

// ringCache keeps the send and receive rings of finished connections for
// new ones. A short connection writes only the start of its rings, but a
// fresh 4 MiB ring costs a zeroed allocation: once the Go heap reuses freed
// spans it clears all of them, touching pages the last owner never used,
// and connection churn then spends its time in page faults (the mpbench
// --rr slowdown, docs/mpbench.md). A reused ring needs no clearing: a
// connection reads only bytes it wrote itself (the receive ring up to the
// in-order point, the send ring between DATA_ACK and the last write, and
// the block sums of whole blocks it wrote), and it writes from the ring's
// start, over pages that are already in memory.
type ringCache struct {
	send  []sendRing
	recv  [][]byte
	stats *EndpointStats // RingsReused
}

type sendRing struct {
	buf  []byte
	sums []cksum.Partial
}

// takeSend returns a send ring of n bytes and its block sums (a nil
// cache allocates).
func (rc *ringCache) takeSend(n int) ([]byte, []cksum.Partial) {
	if rc != nil {
		if k := len(rc.send); k > 0 && len(rc.send[k-1].buf) == n {
			r := rc.send[k-1]
			rc.send[k-1] = sendRing{}
			rc.send = rc.send[:k-1]
			rc.stats.RingsReused++
			return r.buf, r.sums
		}
	}
	return make([]byte, n), make([]cksum.Partial, n/sumBlock)
}

// takeRecv returns a receive ring of n bytes (a nil cache allocates).
func (rc *ringCache) takeRecv(n int) []byte {
	if rc != nil {
		if k := len(rc.recv); k > 0 && len(rc.recv[k-1]) == n {
			b := rc.recv[k-1]
			rc.recv[k-1] = nil
			rc.recv = rc.recv[:k-1]
			rc.stats.RingsReused++
			return b
		}
	}
	return make([]byte, n)
}

// releaseRings gives a finished connection's rings to the cache once
// nothing can read or write them again: the connection is closed, no
// subflow can carry data (each is CLOSED or in TIME-WAIT, which neither
// sends nor accepts data), and the application has read everything (a
// Read of bytes still buffered, after a reset say, must see them).
func (ep *Endpoint) releaseRings(c *Conn) {
	if !c.closed || (c.snd.buf == nil && c.rcv.buf == nil) {
		return
	}
	for _, sf := range c.subflows {
		if s := sf.tcp.State(); s != tcp.Closed && s != tcp.TimeWait {
			return
		}
	}
	rc := &ep.rings
	if c.snd.buf != nil && len(rc.send) < maxCachedRings {
		rc.send = append(rc.send, sendRing{c.snd.buf, c.snd.sums})
	}
	c.snd.buf, c.snd.sums = nil, nil
	if c.rcv.buf != nil && c.rcv.buffered() == 0 {
		if len(rc.recv) < maxCachedRings {
			rc.recv = append(rc.recv, c.rcv.buf)
		}
		c.rcv.buf = nil
	}
}

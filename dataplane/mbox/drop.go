package mbox

import "time"

// Drop discards the segments its selector picks: a firewall that filters
// MP_JOIN (Select.Options wire.OptMPJoin; RFC 8684 §3.2 then keeps the
// connection on its first subflow), a path that blackholes one connection
// from some time on (Select.From and Select.Where OfConnection), a lossy
// handshake (Select.On OnSYNACK, First 1). Everything else, and every
// packet that is not TCP, passes.
type Drop struct {
	Select Selector

	// Dropped counts the segments discarded.
	Dropped uint64

	p packet
}

// Process implements Middlebox.
func (d *Drop) Process(now time.Duration, dir Direction, pkt []byte, emit Emit) {
	if d.p.parse(pkt) && d.Select.match(now, dir, &d.p, true) {
		d.Dropped++
		return
	}
	emit(dir, pkt)
}

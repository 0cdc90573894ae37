package mbox

import (
	"math/rand/v2"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// RewriteISN models the firewalls that randomise the initial sequence
// numbers of the hosts behind them (Cisco ASA "sequence number
// randomization", OpenBSD pf "modulate state"): for each connection it
// adds an offset to the sequence numbers one side sends and subtracts it
// from the acknowledgment numbers and SACK blocks the other side sends
// back. The NSDI'12 paper measured such rewriting on 10% of paths
// (§3.3.4); it is why the DSS option carries the subflow sequence number
// relative to the ISN (RFC 8684 §3.3.1), which this transform leaves
// alone — that is the point. Offsets are chosen when a SYN or SYN/ACK is
// seen; connections whose handshake it did not see pass untouched.
type RewriteISN struct {
	// Dirs selects whose sequence numbers are rewritten: the sender's in
	// the given directions (ForwardOnly: the A side's, as a firewall
	// guards the hosts inside). Zero means both, each with its own offset.
	Dirs Dirs
	// Seed seeds the per-connection random offsets.
	Seed uint64
	// Offset, when not zero, is used for every connection instead of a
	// random offset.
	Offset uint32

	// Rewritten counts the segments changed.
	Rewritten uint64

	rng   *rand.Rand
	flows map[Flow]*isnFlow // by the Forward flow
	p     packet
}

// isnFlow is the offset of each direction of one connection.
type isnFlow struct {
	off [2]uint32
	on  [2]bool
}

func (r *RewriteISN) offset() uint32 {
	if r.Offset != 0 {
		return r.Offset
	}
	if r.rng == nil {
		r.rng = rand.New(rand.NewPCG(r.Seed, 0x15a))
	}
	return r.rng.Uint32() | 1 // never the identity
}

// Process implements Middlebox.
func (r *RewriteISN) Process(now time.Duration, dir Direction, pkt []byte, emit Emit) {
	p := &r.p
	if !p.parse(pkt) {
		emit(dir, pkt)
		return
	}
	key := p.flow()
	if dir == Reverse {
		key = key.Reverse()
	}
	f := r.flows[key]
	if p.flags()&wire.FlagSYN != 0 && r.Dirs.has(dir) && (f == nil || !f.on[dir]) {
		if r.flows == nil {
			r.flows = map[Flow]*isnFlow{}
		}
		if f == nil {
			f = &isnFlow{}
			r.flows[key] = f
		}
		f.off[dir], f.on[dir] = r.offset(), true
	}
	if f == nil {
		emit(dir, pkt)
		return
	}
	changed := false
	if f.on[dir] {
		p.setSeq(p.seq() + f.off[dir])
		changed = true
	}
	if back := dir.Opposite(); f.on[back] && p.flags()&wire.FlagACK != 0 {
		// The other side acknowledges the rewritten numbers: map them
		// back, in the SACK blocks too (RFC 2018), or its sender would see
		// acknowledgments for data it never sent.
		p.setAck(p.ack() - f.off[back])
		unSACK(p, f.off[back])
		changed = true
	}
	if changed {
		r.Rewritten++
	}
	emit(dir, p.b)
}

// unSACK subtracts off from the edges of every SACK block of p, with an
// incremental checksum update over each option.
func unSACK(p *packet, off uint32) {
	tcp := p.tcp()
	it := walkOptions(p.hdr())
	for o, opt, ok := it.next(); ok; o, opt, ok = it.next() {
		if opt[0] != wire.OptionKindSACK || (len(opt)-2)%8 != 0 {
			continue
		}
		old := spanSum(tcp, o, o+len(opt))
		for i := 2; i < len(opt); i += 4 {
			put32(opt[i:], be32(opt[i:])-off)
		}
		fixSpan(tcp, o, o+len(opt), old)
	}
}

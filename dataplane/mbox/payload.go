package mbox

import (
	"bytes"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// ModifyPayload rewrites segment payloads and fixes the TCP checksum, so
// that only MPTCP's DSS checksum can tell (RFC 8684 §3.3.1; NSDI'12
// §3.3.6). It has two modes:
//
//   - Overwrite (Old empty): the bytes Set are written at payload offset
//     At of each selected segment long enough to hold them, like the nft
//     rule "@ih,64,32 set 0xdeadbeef" of INTEROP C.4 (with Select.First 1
//     it corrupts one packet, as there).
//   - Replace: every occurrence of Old in a selected segment's payload
//     becomes New, like an FTP application-level gateway rewriting the
//     address in a PORT command (RFC 2663 §2.9). When the lengths differ
//     it then shifts the sequence numbers of the rest of that direction
//     and the acknowledgment numbers and SACK blocks of the other, with
//     the bookkeeping of Linux's nf_conntrack_seqadj (one correction
//     position and the offsets before and after it), and rewrites a
//     retransmission of the changed segment again even when the selector
//     no longer picks it. Segments whose checksums fail are not resized.
//
// Without DSS checksums MPTCP cannot detect either, and the application
// gets the rewritten bytes, as it would over TCP.
type ModifyPayload struct {
	Select   Selector // the segments to rewrite (those with payload)
	At       int      // overwrite: the payload offset
	Set      []byte   // overwrite: the bytes written at At
	Old, New []byte   // replace: the pattern and its replacement

	// Modified counts the segments rewritten.
	Modified uint64

	flows map[Flow]*seqAdjust // by the Forward flow, after a resize
	p     packet
	buf   []byte
}

// seqAdjust is nf_ct_seqadj for one connection: per direction, the
// sequence number where the last resize happened and the offsets for
// sequence numbers up to it and after it.
type seqAdjust [2]struct {
	pos           uint32
	before, after int32
}

// Process implements Middlebox.
func (m *ModifyPayload) Process(now time.Duration, dir Direction, pkt []byte, emit Emit) {
	p := &m.p
	if !p.parse(pkt) {
		emit(dir, pkt)
		return
	}
	key := p.flow()
	if dir == Reverse {
		key = key.Reverse()
	}
	adj := m.flows[key]
	seq := p.seq()
	pl := p.payload()
	var applies bool
	if len(m.Old) > 0 {
		applies = bytes.Contains(pl, m.Old)
	} else {
		applies = len(m.Set) > 0 && m.At >= 0 && m.At+len(m.Set) <= len(pl)
	}
	// A retransmission of a resized segment is resized again.
	again := applies && adj != nil && adj[dir].before != adj[dir].after && seq == adj[dir].pos
	if m.Select.match(now, dir, p, applies) || again {
		mangled := true
		switch {
		case len(m.Old) == 0:
			m.overwrite(p, p.l4+p.hl+m.At, m.Set)
		case len(m.Old) == len(m.New):
			for i := bytes.Index(pl, m.Old); i >= 0; {
				m.overwrite(p, p.l4+p.hl+i, m.New)
				j := bytes.Index(pl[i+len(m.Old):], m.Old)
				if j < 0 {
					break
				}
				i += len(m.Old) + j
			}
		default:
			delta, ok := m.resize(p)
			if mangled = ok; ok {
				if adj == nil {
					if m.flows == nil {
						m.flows = map[Flow]*seqAdjust{}
					}
					adj = &seqAdjust{}
					m.flows[key] = adj
				}
				// nf_ct_seqadj_set: a new correction only past the last.
				a := &adj[dir]
				if a.before == a.after || int32(seq-a.pos) > 0 {
					a.pos, a.before = seq, a.after
					a.after += delta
				}
			}
		}
		if mangled {
			m.Modified++
		}
	}
	if adj != nil {
		adjustSeq(p, adj, dir, seq)
	}
	emit(dir, p.b)
}

// overwrite writes v at offset off of the packet, fixing the TCP checksum
// incrementally.
func (*ModifyPayload) overwrite(p *packet, off int, v []byte) {
	tcp := p.tcp()
	lo, hi := off-p.l4, off-p.l4+len(v)
	old := spanSum(tcp, lo, hi)
	copy(p.b[off:], v)
	fixSpan(tcp, lo, hi, old)
}

// resize rebuilds p with every Old replaced by New in m.buf and re-parses
// p there; it returns the change in length.
func (m *ModifyPayload) resize(p *packet) (int32, bool) {
	pl := p.payload()
	k := bytes.Count(pl, m.Old)
	delta := k * (len(m.New) - len(m.Old))
	n := len(p.b) + delta
	if !fits(n, p.v6()) || !p.checksumsOK() {
		return 0, false
	}
	m.buf = grow(m.buf, n)
	out := m.buf
	w := copy(out, p.b[:p.l4+p.hl])
	for {
		i := bytes.Index(pl, m.Old)
		if i < 0 {
			break
		}
		w += copy(out[w:], pl[:i])
		w += copy(out[w:], m.New)
		pl = pl[i+len(m.Old):]
	}
	copy(out[w:], pl)
	finish(out, p.v6(), p.l4)
	if !p.parse(out) {
		return 0, false // cannot happen: the headers are the parsed ones
	}
	return int32(delta), true
}

// adjustSeq applies the offsets of nf_nat_seqadj: the segment's own
// sequence number (origSeq, before any resize of this segment) by its
// direction's correction, its acknowledgment number and SACK blocks by
// the other direction's.
func adjustSeq(p *packet, adj *seqAdjust, dir Direction, origSeq uint32) {
	a := &adj[dir]
	off := a.before
	if int32(origSeq-a.pos) > 0 {
		off = a.after
	}
	if off != 0 {
		p.setSeq(origSeq + uint32(off))
	}
	o := &adj[dir.Opposite()]
	if o.before == 0 && o.after == 0 || p.flags()&wire.FlagACK == 0 {
		return
	}
	back := func(v uint32) uint32 {
		if int32(v-uint32(o.before)-o.pos) > 0 {
			return v - uint32(o.after)
		}
		return v - uint32(o.before)
	}
	p.setAck(back(p.ack()))
	tcp := p.tcp()
	it := walkOptions(p.hdr())
	for at, opt, ok := it.next(); ok; at, opt, ok = it.next() {
		if opt[0] != wire.OptionKindSACK || (len(opt)-2)%8 != 0 {
			continue
		}
		old := spanSum(tcp, at, at+len(opt))
		for i := 2; i < len(opt); i += 4 {
			put32(opt[i:], back(be32(opt[i:])))
		}
		fixSpan(tcp, at, at+len(opt), old)
	}
}

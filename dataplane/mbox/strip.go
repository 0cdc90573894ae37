package mbox

import (
	"time"

	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// StripOption removes TCP options of one kind from the segments its
// selector picks. By default it overwrites them with NOPs and fixes the
// checksum incrementally, exactly as Linux's TCPOPTSTRIP target does
// (iptables -j TCPOPTSTRIP --strip-options 30, and nft "reset tcp option",
// INTEROP C.4); with Remove it cuts them out and shortens the header, as a
// proxy that rebuilds headers does. Stripping MP_CAPABLE from the SYN or
// SYN/ACK must end in plain TCP, and stripping the third ACK's or the data
// segments' options in a clean fallback (NSDI'12 §3.1 and §4.1, RFC 8684
// §3.7, INTEROP B.2).
type StripOption struct {
	Kind   uint8    // the option kind (wire.OptionKindMPTCP for MPTCP)
	Select Selector // the segments to strip
	// Subtypes, for kind 30 only, restricts stripping to the MPTCP
	// suboptions whose subtype bits are set (1<<wire.SubtypeDSS strips
	// DSS and keeps the rest); 0 strips every MPTCP option.
	Subtypes uint16
	// Remove cuts the options out instead of overwriting them with NOPs.
	Remove bool

	// Stripped counts the segments that lost at least one option.
	Stripped uint64

	p   packet
	buf []byte
}

// StripMPTCP returns a StripOption that strips every MPTCP option (kind 30)
// from the segments sel picks, with NOPs as TCPOPTSTRIP does.
func StripMPTCP(sel Selector) *StripOption {
	return &StripOption{Kind: wire.OptionKindMPTCP, Select: sel}
}

// strips reports whether the option opt is one to strip.
func (s *StripOption) strips(opt []byte) bool {
	if opt[0] != s.Kind {
		return false
	}
	if s.Kind != wire.OptionKindMPTCP || s.Subtypes == 0 {
		return true
	}
	return len(opt) >= 3 && s.Subtypes&(1<<(opt[2]>>4)) != 0
}

// Process implements Middlebox.
func (s *StripOption) Process(now time.Duration, dir Direction, pkt []byte, emit Emit) {
	p := &s.p
	if !p.parse(pkt) || !s.Select.match(now, dir, p, s.has(p)) {
		emit(dir, pkt)
		return
	}
	if s.Remove {
		s.remove(dir, emit)
		return
	}
	// TCPOPTSTRIP: NOPs in place, RFC 1624 update over the option span.
	tcp := p.tcp()
	old := spanSum(tcp, wire.TCPHeaderLen, p.hl)
	it := walkOptions(p.hdr())
	for off, opt, ok := it.next(); ok; off, opt, ok = it.next() {
		if s.strips(opt) {
			for i := range opt {
				tcp[off+i] = wire.OptionKindNOP
			}
		}
	}
	fixSpan(tcp, wire.TCPHeaderLen, p.hl, old)
	s.Stripped++
	emit(dir, p.b)
}

// has reports whether the segment carries an option to strip.
func (s *StripOption) has(p *packet) bool {
	it := walkOptions(p.hdr())
	for _, opt, ok := it.next(); ok; _, opt, ok = it.next() {
		if s.strips(opt) {
			return true
		}
	}
	return false
}

// remove rebuilds the segment without the stripped options: the rest are
// packed, padded with zeros (EOL) to a multiple of four (RFC 9293 §3.1),
// and the header, the IP length and both checksums are rewritten. A
// segment whose checksums fail passes untouched.
func (s *StripOption) remove(dir Direction, emit Emit) {
	p := &s.p
	if !p.checksumsOK() {
		emit(dir, p.b)
		return
	}
	s.buf = grow(s.buf, len(p.b))
	out := s.buf
	n := copy(out, p.b[:p.l4+wire.TCPHeaderLen])
	it := walkOptions(p.hdr())
	// Everything but the stripped options is kept byte for byte: NOPs,
	// the EOL and what follows it, a damaged tail.
	last := wire.TCPHeaderLen
	for off, opt, ok := it.next(); ok; off, opt, ok = it.next() {
		n += copy(out[n:], p.hdr()[last:off])
		if !s.strips(opt) {
			n += copy(out[n:], opt)
		}
		last = off + len(opt)
	}
	n += copy(out[n:], p.hdr()[last:])
	for (n-p.l4)%4 != 0 {
		out[n] = wire.OptionKindEOL
		n++
	}
	hl := n - p.l4
	out[p.l4+12] = uint8(hl/4)<<4 | out[p.l4+12]&0x0f
	n += copy(out[n:], p.payload())
	out = out[:n]
	finish(out, p.v6(), p.l4)
	s.Stripped++
	emit(dir, out)
}

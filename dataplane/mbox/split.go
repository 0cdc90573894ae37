package mbox

import (
	"time"

	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// Split cuts data segments with more than MaxPayload bytes into pieces of
// at most MaxPayload bytes, as TCP segmentation offload and resegmenting
// middleboxes do. Like the twelve TSO NICs the NSDI'12 paper tested
// (§3.3.4), it copies every TCP option to every piece — so each piece
// carries the same DSS mapping, which RFC 8684 §3.3 makes harmless
// because a mapping names the subflow bytes it covers. As TSO does, FIN
// and PSH stay on the last piece only, CWR on the first only, and the
// IPv4 ID counts up. SYN and URG segments are not split; segments whose
// checksums fail pass untouched.
type Split struct {
	MaxPayload int      // the largest piece's payload; segments up to this pass whole
	Select     Selector // the segments to split (those with payload over MaxPayload)
	// OptionsOnFirst keeps the options on the first piece only; the
	// others get a bare 20-byte header (a middlebox that does not copy
	// options: the pieces after the first lose their mapping).
	OptionsOnFirst bool

	// Splits counts the segments split.
	Splits uint64

	p   packet
	buf []byte
}

// Process implements Middlebox.
func (s *Split) Process(now time.Duration, dir Direction, pkt []byte, emit Emit) {
	p := &s.p
	if s.MaxPayload <= 0 || !p.parse(pkt) {
		emit(dir, pkt)
		return
	}
	fl := p.flags()
	applies := len(p.payload()) > s.MaxPayload && fl&(wire.FlagSYN|wire.FlagURG) == 0
	if !s.Select.match(now, dir, p, applies) || !p.checksumsOK() {
		emit(dir, pkt)
		return
	}
	s.Splits++
	payload := p.payload()
	hdrLen := p.l4 + p.hl
	s.buf = grow(s.buf, hdrLen+s.MaxPayload)
	var id uint16
	if !p.v6() {
		id = be16(p.b[4:])
	}
	for off, k := 0, 0; off < len(payload); off, k = off+s.MaxPayload, k+1 {
		end := min(off+s.MaxPayload, len(payload))
		out := s.buf
		n := copy(out, p.b[:hdrLen])
		if s.OptionsOnFirst && k > 0 {
			n = p.l4 + wire.TCPHeaderLen
			out[p.l4+12] = uint8(wire.TCPHeaderLen/4)<<4 | out[p.l4+12]&0x0f
		}
		tcp := out[p.l4:]
		put32(tcp[4:], p.seq()+uint32(off))
		f := fl
		if end < len(payload) {
			f &^= wire.FlagFIN | wire.FlagPSH
		}
		if k > 0 {
			f &^= wire.FlagCWR
		}
		tcp[13] = f
		if !p.v6() {
			put16(out[4:], id+uint16(k))
		}
		n += copy(out[n:], payload[off:end])
		out = out[:n]
		finish(out, p.v6(), p.l4)
		emit(dir, out)
	}
}

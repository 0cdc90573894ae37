package mbox

import (
	"encoding/binary"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// packet is a TCP/IP packet parsed once by a transform: the wire view and
// the offsets the transforms rewrite at. It aliases the packet buffer.
type packet struct {
	seg wire.Segment
	b   []byte // the IP packet, trimmed to its IP length
	l4  int    // offset of the TCP header in b
	hl  int    // TCP header length
}

// parse parses b; it reports false for what the transforms pass through
// untouched (not TCP, a fragment, a damaged header).
func (p *packet) parse(b []byte) bool {
	if wire.ParseSegment(b, &p.seg, nil) != nil {
		return false
	}
	n := p.seg.TCP.Len()
	if p.seg.Version == 6 {
		p.l4 = p.seg.IPv6.HeaderLen()
		n += p.l4
	} else {
		p.l4 = p.seg.IPv4.HeaderLen()
		n = p.seg.IPv4.TotalLen()
	}
	p.b = b[:n]
	p.hl = p.seg.TCP.HeaderLen()
	return true
}

func (p *packet) v6() bool        { return p.seg.Version == 6 }
func (p *packet) tcp() []byte     { return p.b[p.l4:] }
func (p *packet) hdr() []byte     { return p.b[p.l4 : p.l4+p.hl] }
func (p *packet) payload() []byte { return p.b[p.l4+p.hl:] }
func (p *packet) flags() uint8    { return p.seg.TCP.Flags() }
func (p *packet) seq() uint32     { return be32(p.b[p.l4+4:]) }
func (p *packet) ack() uint32     { return be32(p.b[p.l4+8:]) }
func (p *packet) flow() Flow      { return FlowOf(&p.seg) }

// checksumsOK reports whether the IPv4 header checksum and the TCP
// checksum verify: the transforms that recompute checksums check first,
// so that they never turn a damaged packet into a valid one.
func (p *packet) checksumsOK() bool {
	if !p.v6() && !p.seg.IPv4.HeaderChecksumOK() {
		return false
	}
	return p.seg.ChecksumOK(cksum.Sum(p.seg.Payload(), 0))
}

// setSeq rewrites the sequence number with an incremental checksum update
// (RFC 1624).
func (p *packet) setSeq(v uint32) { set32(p.tcp(), 4, v) }

// setAck rewrites the acknowledgment number likewise.
func (p *packet) setAck(v uint32) { set32(p.tcp(), 8, v) }

// set32 writes v at the even offset off of the TCP segment tcp and updates
// its checksum (RFC 1624 eqn. 3, cksum.Update32).
func set32(tcp []byte, off int, v uint32) {
	old := be32(tcp[off:])
	put32(tcp[off:], v)
	put16(tcp[16:], cksum.Update32(be16(tcp[16:]), old, v))
}

// set16 writes a 16-bit field of the TCP segment likewise.
func set16(tcp []byte, off int, v uint16) {
	old := be16(tcp[off:])
	put16(tcp[off:], v)
	put16(tcp[16:], cksum.Update16(be16(tcp[16:]), old, v))
}

// spanSum sums tcp[lo:hi] widened to start at an even offset, so that a
// before and an after sum of the same span differ exactly by the change.
func spanSum(tcp []byte, lo, hi int) cksum.Partial { return cksum.Sum(tcp[lo&^1:hi], 0) }

// fixSpan updates the TCP checksum after bytes in tcp[lo:hi] changed from
// a span that summed to old: RFC 1624 eqn. 3 with m and m' the sums of the
// span, which holds because the one's-complement sum of the complements
// is the complement of the sum. The span must not cover the checksum
// field.
func fixSpan(tcp []byte, lo, hi int, old cksum.Partial) {
	s := cksum.Partial(^be16(tcp[16:])).Add16(^old.Fold()).Add16(spanSum(tcp, lo, hi).Fold())
	put16(tcp[16:], ^s.Fold())
}

// finish sets the length fields of the IP packet b whose TCP segment
// starts at l4 and recomputes the IPv4 header checksum and the TCP
// checksum from scratch, after a transform resized it.
func finish(b []byte, v6 bool, l4 int) {
	tcp := b[l4:]
	var pseudo cksum.Partial
	if v6 {
		put16(b[4:], uint16(len(b)-wire.IPv6HeaderLen))
		pseudo = cksum.IPv6PseudoHeader([16]byte(b[8:24]), [16]byte(b[24:40]), wire.ProtocolTCP, uint32(len(tcp)))
	} else {
		put16(b[2:], uint16(len(b)))
		wire.SetIPv4Checksum(b[:l4])
		pseudo = cksum.IPv4PseudoHeader([4]byte(b[12:16]), [4]byte(b[16:20]), wire.ProtocolTCP, uint16(len(tcp)))
	}
	put16(tcp[16:], 0)
	put16(tcp[16:], cksum.Checksum(tcp, pseudo))
}

// maxIPLen is the largest packet the transforms build: the IPv4 total
// length and the IPv6 payload length are 16-bit fields.
const maxIPLen = 0xffff

// fits reports whether an IP packet of n bytes can be encoded.
func fits(n int, v6 bool) bool {
	if v6 {
		return n-wire.IPv6HeaderLen <= maxIPLen
	}
	return n <= maxIPLen
}

// grow returns buf resized to n bytes, reallocating only when it is too
// small (the transforms keep their scratch buffers across packets).
func grow(buf []byte, n int) []byte {
	if cap(buf) < n {
		buf = make([]byte, n, max(n, 2*cap(buf)))
	}
	return buf[:n]
}

// options walks the options of a TCP header as Linux's tcp_parse_options
// does: EOL ends the list, NOP is one byte, and a length below 2 or past
// the header ends it too.
type options struct {
	hdr []byte
	i   int
}

func walkOptions(hdr []byte) options { return options{hdr: hdr, i: wire.TCPHeaderLen} }

// next returns the offset in the header and the bytes (kind and length
// included) of the next option; ok is false at the end.
func (o *options) next() (off int, opt []byte, ok bool) {
	for o.i < len(o.hdr) {
		switch o.hdr[o.i] {
		case wire.OptionKindEOL:
			o.i = len(o.hdr)
			return 0, nil, false
		case wire.OptionKindNOP:
			o.i++
			continue
		}
		if o.i+1 >= len(o.hdr) {
			break
		}
		n := int(o.hdr[o.i+1])
		if n < 2 || o.i+n > len(o.hdr) {
			break
		}
		off = o.i
		o.i += n
		return off, o.hdr[off:o.i], true
	}
	o.i = len(o.hdr)
	return 0, nil, false
}

func be16(b []byte) uint16     { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32     { return binary.BigEndian.Uint32(b) }
func put16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }
func put32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }

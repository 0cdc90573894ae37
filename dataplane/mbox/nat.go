package mbox

import (
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/cksum"
)

// NAT is a network address and port translator (RFC 3022 NAPT) with
// endpoint-independent mapping (RFC 4787 §4.1): Forward packets leave with
// the source address Outside and a port mapped from their inside address
// and port; Reverse packets to a mapped outside port get the inside
// address and port back, and Reverse packets to Outside that match no
// mapping are dropped, as a NAT drops unsolicited inbound traffic. The
// checksums are updated incrementally (RFC 1624, RFC 3022 §4.2), so a
// corrupted packet stays corrupted. MPTCP needs nothing special for it
// (NSDI'12 §4.1), but the addresses inside ADD_ADDR are not translated,
// and a mapping that expires (Idle) breaks its subflow as a NAT rebinding
// does. Packets of the other IP family than Outside pass untouched.
type NAT struct {
	Outside   netip.Addr    // the public address
	FirstPort uint16        // the first port handed out; 0 means 20000
	Preserve  bool          // keep the inside port when it is free, as Linux does
	Idle      time.Duration // a mapping unused this long expires; 0: never

	// Translated counts rewritten packets, Dropped inbound packets
	// without a mapping (or when every port is taken).
	Translated, Dropped uint64

	byInside map[netip.AddrPort]*natEntry
	byPort   map[uint16]*natEntry
	next     uint16
	p        packet
}

// natEntry is one mapping.
type natEntry struct {
	inside netip.AddrPort
	port   uint16
	last   time.Duration
}

// Mapping returns the outside address and port of an inside endpoint, if
// mapped.
func (n *NAT) Mapping(inside netip.AddrPort) (netip.AddrPort, bool) {
	e := n.byInside[inside]
	if e == nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(n.Outside, e.port), true
}

func (n *NAT) expired(e *natEntry, now time.Duration) bool {
	return n.Idle > 0 && now-e.last >= n.Idle
}

// Process implements Middlebox.
func (n *NAT) Process(now time.Duration, dir Direction, pkt []byte, emit Emit) {
	p := &n.p
	if !p.parse(pkt) || p.v6() != n.Outside.Is6() {
		emit(dir, pkt)
		return
	}
	if dir == Forward {
		src := p.flow().Src
		e := n.byInside[src]
		if e != nil && n.expired(e, now) {
			n.unmap(e)
			e = nil
		}
		if e == nil {
			if e = n.mapNew(src); e == nil {
				n.Dropped++
				return
			}
		}
		e.last = now
		n.rewrite(p, 0, n.Outside, e.port)
		emit(dir, p.b)
		return
	}
	dst := p.flow().Dst
	if dst.Addr() != n.Outside {
		emit(dir, pkt)
		return
	}
	e := n.byPort[dst.Port()]
	if e == nil || n.expired(e, now) {
		n.Dropped++
		return
	}
	e.last = now
	n.rewrite(p, 1, e.inside.Addr(), e.inside.Port())
	emit(dir, p.b)
}

// mapNew allocates an outside port for inside, or returns nil when every
// port is taken.
func (n *NAT) mapNew(inside netip.AddrPort) *natEntry {
	if n.byInside == nil {
		n.byInside, n.byPort = map[netip.AddrPort]*natEntry{}, map[uint16]*natEntry{}
	}
	first := n.FirstPort
	if first == 0 {
		first = 20000
	}
	port := uint16(0)
	if n.Preserve && inside.Port() != 0 && n.byPort[inside.Port()] == nil {
		port = inside.Port()
	}
	for i := 0; port == 0 && i <= 0xffff-int(first); i++ {
		if n.next < first {
			n.next = first
		}
		if n.byPort[n.next] == nil {
			port = n.next
		}
		if n.next == 0xffff {
			n.next = first
		} else {
			n.next++
		}
	}
	if port == 0 {
		return nil
	}
	e := &natEntry{inside: inside, port: port}
	n.byInside[inside], n.byPort[port] = e, e
	return e
}

func (n *NAT) unmap(e *natEntry) {
	delete(n.byInside, e.inside)
	delete(n.byPort, e.port)
}

// rewrite sets the source (which 0) or destination (which 1) address and
// port of p, updating the IPv4 header checksum and the TCP checksum, whose
// pseudo-header covers the addresses, incrementally.
func (n *NAT) rewrite(p *packet, which int, addr netip.Addr, port uint16) {
	b, tcp := p.b, p.tcp()
	if p.v6() {
		at := 8 + 16*which
		a := addr.As16()
		for i := 0; i < 16; i += 4 {
			old := be32(b[at+i:])
			put32(b[at+i:], be32(a[i:]))
			put16(tcp[16:], cksum.Update32(be16(tcp[16:]), old, be32(a[i:])))
		}
	} else {
		at := 12 + 4*which
		a := addr.As4()
		old, v := be32(b[at:]), be32(a[:])
		put32(b[at:], v)
		put16(b[10:], cksum.Update32(be16(b[10:]), old, v))
		put16(tcp[16:], cksum.Update32(be16(tcp[16:]), old, v))
	}
	set16(tcp, 2*which, port)
	n.Translated++
}

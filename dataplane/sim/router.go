package sim

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/cksum"
)

// Router is a simulated IP router (or layer-3 switch): ports joined to
// hosts and other routers by links, and a forwarding table by destination
// prefix, longest match first. A route may name several equal-cost ports;
// the router then picks one per flow with Hash over the packet's 5-tuple
// (ECMP, RFC 2992 hash-threshold's per-flow property: every packet of a
// flow takes the same port, so TCP sees no reordering), seeded per router
// from the simulator's seed so that routers hash differently and runs
// repeat. Forwarding takes no time (the links have the delays) and
// decrements the TTL or hop limit, dropping packets whose TTL runs out
// (the IPv4 header checksum is updated incrementally, RFC 1624). A port
// whose link is down still gets its share of the flows: there is no
// routing protocol to steer around it.
type Router struct {
	Name string
	// Hash picks among equal-cost ports; nil means FlowHash. It gets the
	// IP packet and the router's seed.
	Hash HashFunc

	sim    *Sim
	index  int
	seed   uint64
	ports  []*Port
	routes []route
	Stats  RouterStats
}

// RouterStats counts what a router did.
type RouterStats struct {
	Forwarded  uint64
	NoRoute    uint64 // no route to the destination, or a port without a link
	TTLExpired uint64
	Malformed  uint64 // not an IPv4 or IPv6 packet
}

// Port is one of a router's attachments: it receives from the link that
// ends at it and sends on its Out link.
type Port struct {
	Router *Router
	Index  int
	out    *Link
}

// Out returns the link the port sends on, or nil.
func (p *Port) Out() *Link { return p.out }

func (p *Port) receive(_ time.Duration, pkt []byte) { p.Router.forward(pkt) }

// route is one forwarding-table entry.
type route struct {
	prefix netip.Prefix
	ports  []*Port
}

// HashFunc hashes a packet's flow for ECMP; the result picks port
// hash % n among n equal-cost ports.
type HashFunc func(pkt []byte, seed uint64) uint64

// AddRouter adds a router without ports.
func (s *Sim) AddRouter(name string) *Router {
	r := &Router{Name: name, sim: s, index: len(s.routers)}
	r.seed = mix64(s.seed ^ mix64(0x5eed0000+uint64(r.index)))
	s.routers = append(s.routers, r)
	return r
}

// Seed returns the seed the router hashes with.
func (r *Router) Seed() uint64 { return r.seed }

// Ports returns the router's ports.
func (r *Router) Ports() []*Port { return r.ports }

// AddPort adds a port that sends on no link yet; ConnectHost and
// ConnectRouters add ports with their links.
func (r *Router) AddPort() *Port {
	p := &Port{Router: r, Index: len(r.ports)}
	r.ports = append(r.ports, p)
	return p
}

// AddRoute sends packets for prefix out of via, hashing flows across them
// when there are several (equal-cost multipath). It replaces an earlier
// route for the same prefix; a route with no ports removes it.
func (r *Router) AddRoute(prefix netip.Prefix, via ...*Port) {
	prefix = prefix.Masked()
	for i := range r.routes {
		if r.routes[i].prefix == prefix {
			if len(via) == 0 {
				r.routes = append(r.routes[:i], r.routes[i+1:]...)
			} else {
				r.routes[i].ports = append([]*Port(nil), via...)
			}
			return
		}
	}
	if len(via) > 0 {
		r.routes = append(r.routes, route{prefix: prefix, ports: append([]*Port(nil), via...)})
	}
}

// Lookup returns the ports of the longest-prefix route to dst (nil when
// there is none).
func (r *Router) Lookup(dst netip.Addr) []*Port {
	best := -1
	for i := range r.routes {
		if r.routes[i].prefix.Contains(dst) && (best < 0 || r.routes[i].prefix.Bits() > r.routes[best].prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	return r.routes[best].ports
}

// PortFor returns the port the router sends pkt out of, or nil: the
// forwarding decision without the forwarding.
func (r *Router) PortFor(pkt []byte) *Port {
	dst, ok := destAddr(pkt)
	if !ok {
		return nil
	}
	ports := r.Lookup(dst)
	switch len(ports) {
	case 0:
		return nil
	case 1:
		return ports[0]
	}
	h := r.Hash
	if h == nil {
		h = FlowHash
	}
	return ports[h(pkt, r.seed)%uint64(len(ports))]
}

func (r *Router) forward(pkt []byte) {
	if _, ok := destAddr(pkt); !ok {
		r.Stats.Malformed++
		return
	}
	p := r.PortFor(pkt)
	if p == nil || p.out == nil {
		r.Stats.NoRoute++
		return
	}
	if pkt[0]>>4 == 4 {
		if pkt[8] <= 1 {
			r.Stats.TTLExpired++
			return
		}
		old := binary.BigEndian.Uint16(pkt[8:])
		pkt[8]--
		binary.BigEndian.PutUint16(pkt[10:], cksum.Update16(binary.BigEndian.Uint16(pkt[10:]), old, binary.BigEndian.Uint16(pkt[8:])))
	} else {
		if pkt[7] <= 1 {
			r.Stats.TTLExpired++
			return
		}
		pkt[7]--
	}
	r.Stats.Forwarded++
	p.out.send(pkt)
}

// ConnectHost joins a host's interface to a new port of r: up carries the
// host's packets to the router, down the router's to the host. It adds a
// host route (/32 or /128) to the interface's address via the port.
func (s *Sim) ConnectHost(r *Router, ifc *Interface, up, down LinkConfig) (p *Port, toRouter, toHost *Link) {
	p = r.AddPort()
	toRouter = s.newLink(ifc.Host.Name+"->"+r.Name, p, up)
	toHost = s.newLink(r.Name+"->"+ifc.Host.Name, ifc, down)
	toRouter.peer, toHost.peer = toHost, toRouter
	ifc.out, p.out = toRouter, toHost
	r.AddRoute(netip.PrefixFrom(ifc.Addr, ifc.Addr.BitLen()), p)
	return p, toRouter, toHost
}

// ConnectRouters joins two routers with a duplex link through a new port
// on each: ab carries a → b with config fwd, ba carries b → a with rev.
// Routes across it are the caller's to add.
func (s *Sim) ConnectRouters(a, b *Router, fwd, rev LinkConfig) (pa, pb *Port, ab, ba *Link) {
	pa, pb = a.AddPort(), b.AddPort()
	ab = s.newLink(a.Name+"->"+b.Name, pb, fwd)
	ba = s.newLink(b.Name+"->"+a.Name, pa, rev)
	ab.peer, ba.peer = ba, ab
	pa.out, pb.out = ab, ba
	return pa, pb, ab, ba
}

// destAddr returns the destination address of an IPv4 or IPv6 packet.
func destAddr(pkt []byte) (netip.Addr, bool) {
	if len(pkt) >= 20 && pkt[0]>>4 == 4 {
		return netip.AddrFrom4([4]byte(pkt[16:20])), true
	}
	if len(pkt) >= 40 && pkt[0]>>4 == 6 {
		return netip.AddrFrom16([16]byte(pkt[24:40])), true
	}
	return netip.Addr{}, false
}

// FlowHash is the default ECMP hash: a seeded mix of the source and
// destination addresses, the protocol and, for TCP and UDP packets that
// are not later fragments, the ports — the 5-tuple, so that every packet
// of a flow hashes alike and subflows of one MPTCP connection (different
// ports or addresses) may not. IPv6 extension headers are not walked: a
// packet with one hashes on its addresses and next header only.
func FlowHash(pkt []byte, seed uint64) uint64 {
	h := mix64(seed ^ 0x9e3779b97f4a7c15)
	var proto uint8
	var l4 []byte
	switch {
	case len(pkt) >= 20 && pkt[0]>>4 == 4:
		h = mix64(h ^ uint64(binary.BigEndian.Uint32(pkt[12:]))<<32 ^ uint64(binary.BigEndian.Uint32(pkt[16:])))
		proto = pkt[9]
		if ihl := int(pkt[0]&0x0f) * 4; binary.BigEndian.Uint16(pkt[6:])&0x1fff == 0 && ihl >= 20 && len(pkt) >= ihl {
			l4 = pkt[ihl:]
		}
	case len(pkt) >= 40 && pkt[0]>>4 == 6:
		for i := 8; i < 40; i += 8 {
			h = mix64(h ^ binary.BigEndian.Uint64(pkt[i:]))
		}
		proto, l4 = pkt[6], pkt[40:]
	default:
		return h
	}
	ports := uint64(0)
	if (proto == 6 || proto == 17) && len(l4) >= 4 {
		ports = uint64(binary.BigEndian.Uint32(l4))
	}
	return mix64(h ^ uint64(proto)<<32 ^ ports)
}

// mix64 is the SplitMix64 finaliser: a bijection whose every output bit
// depends on every input bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

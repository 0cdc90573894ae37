package afxdp

import (
	"encoding/binary"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// The resolver answers, for each packet, "which NIC, which next-hop MAC"
// from the kernel's own tables, without static configuration:
//
//   - A route cache keyed by (source, destination). A miss asks the kernel
//     (RTM_GETROUTE with both addresses, so source-based policy routing
//     applies, as it does for kernel MPTCP subflows bound to an address).
//     Any route, rule, link or address change notification empties it.
//   - A neighbour cache keyed by (NIC, next hop), shared by the routes
//     through that next hop. A miss reads the kernel's entry
//     (RTM_GETNEIGH); an entry without a usable address is resolved by
//     the kernel itself (RTM_NEWNEIGH with NTF_USE: ARP or neighbour
//     solicitation as for its own packets), and the answer arrives as an
//     RTM_NEWNEIGH notification. Packets wait for it in their frames (up
//     to maxPendingPerNeigh per neighbour), and are sent or dropped when
//     it comes.
//   - Steady state costs one map lookup per packet and no system call.
//     Every refreshEvery, each neighbour used since the last pass gets one
//     NTF_USE, which makes the kernel re-probe an entry gone stale (our
//     traffic bypasses the kernel, so it would not otherwise notice that
//     the entry is in use), and a MAC change or failure comes back as a
//     notification.

const (
	maxPendingPerNeigh = 16
	maxPendingTotal    = 512
	// pendingTimeout bounds how long packets wait for a neighbour; the
	// kernel gives up after mcast_solicit probes (3 s by default) and
	// notifies NUD_FAILED, so this only catches a lost notification.
	pendingTimeout = 5 * time.Second
	// retryEvery limits NTF_USE requests for one unresolved neighbour
	// and route lookups for one unroutable pair.
	retryEvery   = time.Second
	refreshEvery = 10 * time.Second
)

// pending is a packet waiting for its neighbour: opaque to the resolver
// (the Link keeps its UMEM address and length).
type pending struct {
	addr uint64
	n    uint32
}

type neighKey struct {
	ifindex int
	addr    netip.Addr
}

type neighbour struct {
	key     neighKey
	mac     [6]byte
	valid   bool   // mac may be used
	state   uint16 // the kernel's NUD_* state, as last heard
	used    bool   // a packet went to it since the last refresh
	asked   time.Time
	nsSent  time.Time // the Link's own IPv6 solicitation last sent (solicitDue)
	since   time.Time // when the first pending packet was queued
	pending []pending
}

type route struct {
	nic   *nic
	nb    *neighbour
	fail  bool // no usable route: drop until retry
	retry time.Time
}

// ResolverStats counts the route and neighbour resolver's work (control
// path only: none of it happens per packet in steady state).
type ResolverStats struct {
	RouteLookups  uint64 // RTM_GETROUTE requests
	NeighLookups  uint64 // RTM_GETNEIGH requests
	NeighRequests uint64 // RTM_NEWNEIGH NTF_USE requests
	Notifications uint64 // change notifications read
	Overflows     uint64 // notification queue overflows (full resync)
	Resolved      uint64 // neighbours that became usable while packets waited
	Failed        uint64 // neighbours that failed while packets waited
	PendingDrops  uint64 // packets dropped waiting (failure, timeout, queue full)
	Solicitations uint64 // IPv6 neighbour solicitations the Link sent itself
}

type resolver struct {
	nl    *rtnl
	mon   *monitor
	nics  []*nic
	r4    map[uint64]*route   // IPv4: source<<32 | destination
	r6    map[[32]byte]*route // IPv6: source || destination
	nbs   map[neighKey]*neighbour
	waits int // pending packets over all neighbours

	// last answers the common case of consecutive packets of one flow.
	last4    uint64
	last4r   *route
	lastPass time.Time
	stats    ResolverStats

	// send hands packets whose neighbour was resolved to the Link;
	// drop gives back those whose neighbour failed.
	send func(r *nic, nb *neighbour, p []pending)
	drop func(p []pending)
}

func newResolver(nl *rtnl, mon *monitor, nics []*nic) *resolver {
	return &resolver{
		nl: nl, mon: mon, nics: nics,
		r4: map[uint64]*route{}, r6: map[[32]byte]*route{}, nbs: map[neighKey]*neighbour{},
		lastPass: time.Now(),
	}
}

func (rs *resolver) nicByIndex(ifindex int) *nic {
	for _, n := range rs.nics {
		if n.index == ifindex {
			return n
		}
	}
	return nil
}

// lookup returns the route of an IP packet (its header in pkt), or nil
// if pkt is not a valid IPv4/IPv6 header.
func (rs *resolver) lookup(pkt []byte, now time.Time) *route {
	if len(pkt) < 20 {
		return nil
	}
	switch pkt[0] >> 4 {
	case 4:
		k := uint64(binary.BigEndian.Uint32(pkt[12:]))<<32 | uint64(binary.BigEndian.Uint32(pkt[16:]))
		if rs.last4r != nil && rs.last4 == k {
			return rs.check(rs.last4r, now, pkt)
		}
		r := rs.r4[k]
		if r == nil {
			r = rs.resolve(netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20])), now)
			rs.r4[k] = r
		}
		rs.last4, rs.last4r = k, r
		return rs.check(r, now, pkt)
	case 6:
		if len(pkt) < 40 {
			return nil
		}
		k := [32]byte(pkt[8:40])
		r := rs.r6[k]
		if r == nil {
			r = rs.resolve(netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40])), now)
			rs.r6[k] = r
		}
		return rs.check(r, now, pkt)
	}
	return nil
}

// check retries a failed route when its time has come.
func (rs *resolver) check(r *route, now time.Time, pkt []byte) *route {
	if !r.fail || now.Before(r.retry) {
		return r
	}
	var src, dst netip.Addr
	if pkt[0]>>4 == 4 {
		src, dst = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
	} else {
		src, dst = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
	}
	*r = *rs.resolve(src, dst, now)
	return r
}

// resolve asks the kernel for the route from src to dst and finds or
// creates its neighbour.
func (rs *resolver) resolve(src, dst netip.Addr, now time.Time) *route {
	rs.stats.RouteLookups++
	ri, err := rs.nl.route(src, dst)
	if err != nil || ri.typ != unix.RTN_UNICAST {
		return &route{fail: true, retry: now.Add(retryEvery)}
	}
	n := rs.nicByIndex(ri.ifindex)
	if n == nil {
		// The kernel would send it through a device the Link does not
		// drive (loopback, another NIC).
		return &route{fail: true, retry: now.Add(retryEvery)}
	}
	hop := dst
	if ri.gateway.IsValid() {
		hop = ri.gateway
	}
	return &route{nic: n, nb: rs.neighbour(neighKey{n.index, hop}, now)}
}

// neighbour finds or creates the entry for k, reading the kernel's entry
// and asking it to resolve one it lacks.
func (rs *resolver) neighbour(k neighKey, now time.Time) *neighbour {
	if nb := rs.nbs[k]; nb != nil {
		return nb
	}
	nb := &neighbour{key: k, pending: make([]pending, 0, maxPendingPerNeigh)}
	rs.nbs[k] = nb
	rs.refresh(nb, now)
	return nb
}

// refresh reads the kernel's entry for nb and asks for resolution if it
// has no usable address.
func (rs *resolver) refresh(nb *neighbour, now time.Time) {
	rs.stats.NeighLookups++
	ni, err := rs.nl.neigh(nb.key.ifindex, nb.key.addr)
	if err == nil {
		rs.update(nb, ni)
	} else {
		nb.valid, nb.state = false, unix.NUD_NONE
	}
	if !nb.valid {
		rs.ask(nb, now)
	}
}

// ask sends NTF_USE for nb, at most once per retryEvery, never on an entry
// the administrator made PERMANENT or that needs no ARP.
func (rs *resolver) ask(nb *neighbour, now time.Time) {
	if nb.state&(unix.NUD_PERMANENT|unix.NUD_NOARP) != 0 || (!nb.asked.IsZero() && now.Sub(nb.asked) < retryEvery) {
		return
	}
	nb.asked = now
	rs.stats.NeighRequests++
	rs.nl.use(nb.key.ifindex, nb.key.addr)
}

// solicitDue reports whether the Link should send its own neighbour
// solicitation for the IPv6 neighbour nb now, at most once per retryEvery.
//
// NTF_USE makes the kernel create the entry and probe it, but a probe
// that no packet triggered goes out from the NIC's link-local address
// (Linux ndisc_solicit takes the source from the queued packet, and there
// is none), so the kernel sends nothing while that address is tentative
// (duplicate address detection, about a second after the link comes up)
// or when the NIC has none (addrgenmode none). The Link then solicits from
// the waiting packet's own source address, as the kernel does for its own
// packets; the answer (RFC 4861 §7.2.5) completes the kernel's entry and
// comes back to the resolver as a notification.
func (rs *resolver) solicitDue(nb *neighbour, now time.Time) bool {
	if !nb.key.addr.Is6() || nb.key.addr.Is4In6() || nb.state&(unix.NUD_PERMANENT|unix.NUD_NOARP) != 0 ||
		(!nb.nsSent.IsZero() && now.Sub(nb.nsSent) < retryEvery) {
		return false
	}
	nb.nsSent = now
	rs.stats.Solicitations++
	return true
}

// update applies the kernel's view of an entry.
func (rs *resolver) update(nb *neighbour, ni neighInfo) {
	nb.state = ni.state
	if ni.state&nudValid != 0 && (ni.hasMAC || ni.state&unix.NUD_NOARP != 0) {
		if ni.hasMAC {
			nb.mac = ni.mac
		}
		nb.valid = true
	} else {
		nb.valid = false
	}
}

// wait queues a packet for nb; false if the queues are full.
func (rs *resolver) wait(nb *neighbour, p pending, now time.Time) bool {
	if len(nb.pending) == cap(nb.pending) || rs.waits >= maxPendingTotal {
		rs.stats.PendingDrops++
		return false
	}
	if len(nb.pending) == 0 {
		nb.since = now
	}
	nb.pending = append(nb.pending, p)
	rs.waits++
	rs.ask(nb, now)
	return true
}

// poll reads the kernel's notifications, releases waiting packets, and
// every refreshEvery re-probes the neighbours in use. Control path: the
// Link calls it when the monitor socket is readable and from Wait.
func (rs *resolver) poll(now time.Time) error {
	overflow, err := rs.mon.drain(func(typ uint16, body []byte) {
		rs.stats.Notifications++
		switch typ {
		case unix.RTM_NEWNEIGH, unix.RTM_DELNEIGH:
			ni, ok := parseNeigh(body)
			if !ok {
				return
			}
			nb := rs.nbs[neighKey{ni.ifindex, ni.addr}]
			if nb == nil {
				return
			}
			if typ == unix.RTM_DELNEIGH {
				nb.valid, nb.state = false, unix.NUD_NONE
				return
			}
			rs.update(nb, ni)
			rs.settle(nb)
		case unix.RTM_NEWROUTE, unix.RTM_DELROUTE, unix.RTM_NEWRULE, unix.RTM_DELRULE,
			unix.RTM_NEWLINK, unix.RTM_DELLINK, unix.RTM_NEWADDR, unix.RTM_DELADDR:
			rs.flushRoutes()
		}
	})
	if overflow {
		rs.stats.Overflows++
		rs.flushRoutes()
		for _, nb := range rs.nbs {
			rs.refresh(nb, now)
			rs.settle(nb)
		}
	}
	for _, nb := range rs.nbs {
		if len(nb.pending) > 0 && now.Sub(nb.since) > pendingTimeout {
			rs.stats.Failed++
			rs.release(nb, false)
		}
	}
	if now.Sub(rs.lastPass) >= refreshEvery {
		rs.lastPass = now
		for _, nb := range rs.nbs {
			if nb.used {
				nb.used = false
				if nb.state&(unix.NUD_PERMANENT|unix.NUD_NOARP) == 0 {
					nb.asked = time.Time{}
					rs.ask(nb, now)
				}
			}
		}
	}
	return err
}

// settle sends or drops nb's waiting packets once the kernel has decided.
func (rs *resolver) settle(nb *neighbour) {
	if len(nb.pending) == 0 {
		return
	}
	switch {
	case nb.valid:
		rs.stats.Resolved++
		rs.release(nb, true)
	case nb.state&unix.NUD_FAILED != 0:
		rs.stats.Failed++
		rs.release(nb, false)
	}
}

func (rs *resolver) release(nb *neighbour, send bool) {
	p := nb.pending
	nb.pending = nb.pending[:0]
	rs.waits -= len(p)
	if send {
		rs.send(rs.nicByIndex(nb.key.ifindex), nb, p)
	} else {
		rs.stats.PendingDrops += uint64(len(p))
		rs.drop(p)
	}
}

func (rs *resolver) flushRoutes() {
	clear(rs.r4)
	clear(rs.r6)
	rs.last4r = nil
}

// source returns the local address the kernel would use to reach dst and
// the NIC it leaves by (RTM_GETROUTE without a source).
func (rs *resolver) source(dst netip.Addr) (netip.Addr, *nic, bool) {
	ri, err := rs.nl.route(netip.Addr{}, dst)
	if err != nil || ri.typ != unix.RTN_UNICAST {
		return netip.Addr{}, nil, false
	}
	n := rs.nicByIndex(ri.ifindex)
	if n == nil {
		return netip.Addr{}, nil, false
	}
	return ri.prefSrc, n, true
}

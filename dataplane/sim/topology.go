package sim

import (
	"net/netip"
	"strconv"

	"github.com/mpxdp/mpxdp/dataplane/mbox"
)

// Path configures one path between two hosts: the link from A to B and
// the link back. A zero Reverse means the same as Forward.
type Path struct {
	Forward, Reverse LinkConfig
	// Middlebox, when set, sits on the path: A→B packets cross it as
	// mbox.Forward, B→A packets as mbox.Reverse, with one state for both
	// (see Link.SetMiddlebox).
	Middlebox mbox.Middlebox
}

// Symmetric returns a path with the same configuration both ways.
func Symmetric(cfg LinkConfig) Path { return Path{Forward: cfg, Reverse: cfg} }

// reverse returns the B→A configuration.
func (p Path) reverse() LinkConfig {
	if p.Reverse == (LinkConfig{}) {
		return p.Forward
	}
	return p.Reverse
}

// TwoHosts is two hosts joined by parallel paths, as in the interop test
// bed (docs/../INTEROP C.1): path i (from 0) gives host A the address
// 10.0.{i+1}.2 and host B 10.0.{i+1}.1.
type TwoHosts struct {
	A, B             *Host
	AddrsA, AddrsB   []netip.Addr
	Forward, Reverse []*Link // per path: A→B and B→A
}

// ParallelPaths builds two hosts, named a and b, joined by the given
// paths. Attach endpoints with SetEndpoint.
func (s *Sim) ParallelPaths(paths ...Path) *TwoHosts {
	t := &TwoHosts{A: s.AddHost("a"), B: s.AddHost("b")}
	for i, p := range paths {
		aAddr := netip.AddrFrom4([4]byte{10, 0, byte(i + 1), 2})
		bAddr := netip.AddrFrom4([4]byte{10, 0, byte(i + 1), 1})
		fwd, rev := s.Connect(t.A.AddInterface(aAddr), t.B.AddInterface(bAddr), p.Forward, p.reverse())
		if p.Middlebox != nil {
			s.AttachMiddlebox(p.Middlebox, fwd, rev)
		}
		t.AddrsA = append(t.AddrsA, aAddr)
		t.AddrsB = append(t.AddrsB, bAddr)
		t.Forward = append(t.Forward, fwd)
		t.Reverse = append(t.Reverse, rev)
	}
	return t
}

// DumbbellConfig describes a dumbbell: hosts on the left and on the
// right, each joined by fast access links to its side's router, and one
// bottleneck link between the routers — the topology of the coupled
// congestion control fairness experiments (RFC 6356 §1 goal 2: a
// multipath flow takes no more than a single-path flow at a shared
// bottleneck).
type DumbbellConfig struct {
	// Left and Right list each side's hosts by their number of
	// interfaces: {2, 1} is an MPTCP host with two addresses, both of
	// whose subflows cross the bottleneck, and a TCP host with one. A
	// zero count means one; an empty list means one host with one.
	Left, Right []int
	// Access configures every host's link to its router (Forward) and
	// back (Reverse); the zero value is infinitely fast. Its Middlebox is
	// not used: put one on an access link with Link.SetMiddlebox.
	Access Path
	// Bottleneck configures the link from the left router to the right
	// one (Forward) and back (Reverse), with its queue; its Middlebox, if
	// set, sits on it.
	Bottleneck Path
}

// Dumbbell is the topology Sim.Dumbbell builds. Left host i's interface j
// has the address 10.1.{i+1}.{j+1}, right host i's 10.2.{i+1}.{j+1}; each
// router has a host route to each of its side's addresses and a route to
// the other side's 10.x.0.0/16 over the bottleneck.
type Dumbbell struct {
	Left, Right           []*Host
	LeftAddrs, RightAddrs [][]netip.Addr // by host, by interface
	LeftRouter            *Router
	RightRouter           *Router
	// Forward carries left to right over the bottleneck, Reverse back.
	Forward, Reverse *Link
	// Access links by host and interface: Up from the host to its
	// router, Down back.
	LeftUp, LeftDown, RightUp, RightDown [][]*Link
}

// Dumbbell builds a dumbbell: hosts l0, l1, … and r0, r1, … and routers
// L and R. Attach endpoints with SetEndpoint; an endpoint on a host with
// two interfaces sends from either address, and both paths share the
// bottleneck.
func (s *Sim) Dumbbell(cfg DumbbellConfig) *Dumbbell {
	d := &Dumbbell{LeftRouter: s.AddRouter("L"), RightRouter: s.AddRouter("R")}
	pl, pr, fwd, rev := s.ConnectRouters(d.LeftRouter, d.RightRouter, cfg.Bottleneck.Forward, cfg.Bottleneck.reverse())
	d.Forward, d.Reverse = fwd, rev
	if cfg.Bottleneck.Middlebox != nil {
		s.AttachMiddlebox(cfg.Bottleneck.Middlebox, fwd, rev)
	}
	d.LeftRouter.AddRoute(netip.MustParsePrefix("10.2.0.0/16"), pl)
	d.RightRouter.AddRoute(netip.MustParsePrefix("10.1.0.0/16"), pr)
	side := func(name string, net byte, counts []int, r *Router) (hosts []*Host, addrs [][]netip.Addr, up, down [][]*Link) {
		if len(counts) == 0 {
			counts = []int{1}
		}
		for i, n := range counts {
			h := s.AddHost(name + strconv.Itoa(i))
			var as []netip.Addr
			var us, ds []*Link
			for j := range max(n, 1) {
				a := netip.AddrFrom4([4]byte{10, net, byte(i + 1), byte(j + 1)})
				_, u, dn := s.ConnectHost(r, h.AddInterface(a), cfg.Access.Forward, cfg.Access.reverse())
				as, us, ds = append(as, a), append(us, u), append(ds, dn)
			}
			hosts, addrs = append(hosts, h), append(addrs, as)
			up, down = append(up, us), append(down, ds)
		}
		return
	}
	d.Left, d.LeftAddrs, d.LeftUp, d.LeftDown = side("l", 1, cfg.Left, d.LeftRouter)
	d.Right, d.RightAddrs, d.RightUp, d.RightDown = side("r", 2, cfg.Right, d.RightRouter)
	return d
}

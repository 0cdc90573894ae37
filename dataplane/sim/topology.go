package sim

import "net/netip"

// Path configures one path between two hosts: the link from A to B and
// the link back. A zero Reverse means the same as Forward.
type Path struct {
	Forward, Reverse LinkConfig
}

// Symmetric returns a path with the same configuration both ways.
func Symmetric(cfg LinkConfig) Path { return Path{Forward: cfg, Reverse: cfg} }

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
		if p.Reverse == (LinkConfig{}) {
			p.Reverse = p.Forward
		}
		aAddr := netip.AddrFrom4([4]byte{10, 0, byte(i + 1), 2})
		bAddr := netip.AddrFrom4([4]byte{10, 0, byte(i + 1), 1})
		fwd, rev := s.Connect(t.A.AddInterface(aAddr), t.B.AddInterface(bAddr), p.Forward, p.Reverse)
		t.AddrsA = append(t.AddrsA, aAddr)
		t.AddrsB = append(t.AddrsB, bAddr)
		t.Forward = append(t.Forward, fwd)
		t.Reverse = append(t.Reverse, rev)
	}
	return t
}

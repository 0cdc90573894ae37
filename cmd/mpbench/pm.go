package main

import (
	"net/netip"

	"github.com/mpxdp/mpxdp/mptcp/pm"
)

// pairedPM is the client path manager of the in-memory paths: for each
// address the server announces, one subflow from the local address on the
// same subnet (/24, or /64 for IPv6), so that each subflow stays on one
// path both ways. The emulated paths route by source address, like a host
// with one address per interface, so fullmesh's crossed subflows (path 1's
// address to path 2's) would send and return on different paths.
type pairedPM struct{}

const pairedName = "mpbench-paired"

func init() {
	pm.Register(pairedName, func(int) pm.Manager { return pairedPM{} })
}

func (pairedPM) Handle(ev pm.Event, st *pm.State, out []pm.Action) []pm.Action {
	if !st.Client || ev.Kind != pm.AddrAnnounced {
		return out
	}
	r := ev.Addr
	if r.Port() == 0 {
		// RFC 8684 §3.4.1: no port means the connection's port.
		r = netip.AddrPortFrom(r.Addr(), st.InitialRemote.Port())
	}
	for _, l := range st.LocalAddrs {
		if !sameSubnet(l, r.Addr()) {
			continue
		}
		for _, sf := range st.Subflows {
			if sf.Local.Addr() == l && sf.Remote == r {
				return out
			}
		}
		return append(out, pm.Action{Kind: pm.OpenSubflow, Local: netip.AddrPortFrom(l, 0), Remote: r})
	}
	return out
}

func sameSubnet(a, b netip.Addr) bool {
	if a.Is4() != b.Is4() {
		return false
	}
	bitsN := 64
	if a.Is4() {
		bitsN = 24
	}
	pa, _ := a.Prefix(bitsN)
	return pa.Contains(b)
}

// Package pm holds mpxdp's MPTCP path managers: which subflows a
// connection opens and which addresses it announces (RFC 8684 §3.2, §3.4;
// ALGORITHMS.md Part I §4).
//
// # Contract
//
//   - A path manager is told what happens to its connection ([Event]) and
//     answers with actions ([Action]) that the connection carries out:
//     open or close a subflow, announce or withdraw an address, change a
//     subflow's backup priority. It never touches the network itself.
//   - Sans-IO and allocation-free per event: Handle appends to a caller-owned
//     slice. No clocks, goroutines or locks.
//   - Managers register by name ([Register], [New], [Names]); one instance
//     serves one connection.
package pm

import (
	"net/netip"
	"sort"
)

// EventKind says what happened.
type EventKind uint8

// The events a path manager sees.
const (
	// Established: the MPTCP connection is fully established (the client
	// received the first DSS, the server the third ACK); subflows may now
	// be joined (INTEROP B.5).
	Established EventKind = iota + 1
	// SubflowOpened: a subflow (ours or the peer's join) is established.
	SubflowOpened
	// SubflowClosed: a subflow closed or failed.
	SubflowClosed
	// AddrAnnounced: the peer announced an address with ADD_ADDR.
	AddrAnnounced
	// AddrRemoved: the peer withdrew an address with REMOVE_ADDR.
	AddrRemoved
)

// Event is one notification.
type Event struct {
	Kind      EventKind
	SubflowID int
	AddrID    uint8
	Addr      netip.AddrPort // the subflow's remote, or the announced address (port 0: the connection's port)
}

// ActionKind says what to do.
type ActionKind uint8

// The actions a path manager can ask for.
const (
	// OpenSubflow: join a new subflow from Local (port 0: an ephemeral
	// port) to Remote.
	OpenSubflow ActionKind = iota + 1
	// CloseSubflow: close the subflow SubflowID.
	CloseSubflow
	// Announce: send ADD_ADDR for Local with address ID AddrID.
	Announce
	// Withdraw: send REMOVE_ADDR for AddrID.
	Withdraw
	// SetBackup: set the backup priority of SubflowID (MP_PRIO).
	SetBackup
)

// Action is one request.
type Action struct {
	Kind      ActionKind
	Local     netip.AddrPort
	Remote    netip.AddrPort
	Backup    bool
	AddrID    uint8
	SubflowID int
}

// Subflow describes an existing subflow.
type Subflow struct {
	ID            int
	Local, Remote netip.AddrPort
	Backup        bool
}

// State is what a path manager may read about its connection.
type State struct {
	Client bool
	// Initial is the first subflow's local and remote address.
	InitialLocal, InitialRemote netip.AddrPort
	// LocalAddrs are the endpoint's addresses.
	LocalAddrs []netip.Addr
	// RemoteAddrs are the peer's known addresses: its initial one and the
	// ones it announced (with their IDs).
	RemoteAddrs []RemoteAddr
	Subflows    []Subflow
	// DenyJoinInitial: the peer set the C flag (RFC 8684 §3.1): no joins
	// to its initial address and port.
	DenyJoinInitial bool
	// MaxSubflows is the limit on subflows of the connection.
	MaxSubflows int
}

// RemoteAddr is a peer address.
type RemoteAddr struct {
	ID   uint8
	Addr netip.AddrPort
}

// Manager decides the connection's paths.
type Manager interface {
	Handle(ev Event, st *State, out []Action) []Action
}

var registry = map[string]func(n int) Manager{}

// Register adds a manager constructor; n is the manager's numeric
// parameter (ndiffports' subflow count).
func Register(name string, f func(n int) Manager) {
	if _, dup := registry[name]; dup {
		panic("pm: registered twice: " + name)
	}
	registry[name] = f
}

// New returns the named manager.
func New(name string, n int) (Manager, bool) {
	f, ok := registry[name]
	if !ok {
		return nil, false
	}
	return f(n), true
}

// Names lists the registered managers.
func Names() []string {
	n := make([]string, 0, len(registry))
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func init() {
	Register("ndiffports", func(n int) Manager { return &NDiffPorts{N: n} })
	Register("fullmesh", func(int) Manager { return &FullMesh{} })
	Register("manual", func(int) Manager { return Manual{} })
}

// NDiffPorts opens N subflows between the same pair of addresses, differing
// in the client's source port: the datacenter mode, where ECMP hashes each
// onto its own path (mptcp.org ndiffports, ALGORITHMS §4.1). Only the
// client acts. Failed subflows are not recreated (as mptcp.org).
type NDiffPorts struct{ N int }

// Handle implements Manager.
func (p *NDiffPorts) Handle(ev Event, st *State, out []Action) []Action {
	if ev.Kind != Established || !st.Client {
		return out
	}
	for i := len(st.Subflows); i < min(p.N, st.MaxSubflows); i++ {
		out = append(out, Action{Kind: OpenSubflow,
			Local: netip.AddrPortFrom(st.InitialLocal.Addr(), 0), Remote: st.InitialRemote})
	}
	return out
}

// FullMesh opens a subflow from every local address to every known remote
// address (mptcp.org fullmesh, ALGORITHMS §4.2). The client opens
// subflows; the server announces its other addresses.
type FullMesh struct{}

// Handle implements Manager.
func (FullMesh) Handle(ev Event, st *State, out []Action) []Action {
	switch ev.Kind {
	case Established:
		if !st.Client {
			id := uint8(1)
			for _, a := range st.LocalAddrs {
				if a != st.InitialLocal.Addr() && a.Is4() == st.InitialLocal.Addr().Is4() {
					out = append(out, Action{Kind: Announce, Local: netip.AddrPortFrom(a, 0), AddrID: id})
					id++
				}
			}
			return out
		}
		return meshAll(st, out)
	case AddrAnnounced:
		if st.Client {
			return meshAll(st, out)
		}
	}
	return out
}

// meshAll opens the missing local × remote subflows.
func meshAll(st *State, out []Action) []Action {
	n := len(st.Subflows)
	for _, r := range st.RemoteAddrs {
		for _, l := range st.LocalAddrs {
			if l.Is4() != r.Addr.Addr().Is4() || n >= st.MaxSubflows {
				continue
			}
			if r.ID == 0 && st.DenyJoinInitial {
				continue
			}
			if hasSubflow(st, l, r.Addr) || pending(out, l, r.Addr) {
				continue
			}
			out = append(out, Action{Kind: OpenSubflow, Local: netip.AddrPortFrom(l, 0), Remote: r.Addr})
			n++
		}
	}
	return out
}

func hasSubflow(st *State, l netip.Addr, r netip.AddrPort) bool {
	for _, s := range st.Subflows {
		if s.Local.Addr() == l && s.Remote == r {
			return true
		}
	}
	return false
}

func pending(out []Action, l netip.Addr, r netip.AddrPort) bool {
	for _, a := range out {
		if a.Kind == OpenSubflow && a.Local.Addr() == l && a.Remote == r {
			return true
		}
	}
	return false
}

// Manual takes no action of its own: the application opens, closes and
// prioritises subflows and announces addresses through the connection's
// methods (the programmable path manager, like Linux's userspace PM).
type Manual struct{}

// Handle implements Manager.
func (Manual) Handle(_ Event, _ *State, out []Action) []Action { return out }

package mpxdp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/mpxdp/mpxdp/dataplane"
	"github.com/mpxdp/mpxdp/dataplane/link"
	"github.com/mpxdp/mpxdp/mptcp"
)

// Config configures a Stack. Only the network is required: either Link,
// or Interfaces. Every other zero value gives a Linux-like default.
type Config struct {
	// Link is the network: an in-memory pipe (dataplane/pipe), an AF_XDP
	// link (dataplane/afxdp), or any link.Link. The Stack owns it and
	// closes it.
	Link link.Link
	// Interfaces names NICs to run on with AF_XDP, when Link is nil.
	Interfaces []string
	// Addrs are the local addresses the stack uses and announces;
	// default: every address of the Link.
	Addrs []netip.Addr

	// Scheduler picks the subflow for each piece of data: "lowrtt"
	// (default), "roundrobin", "redundant".
	Scheduler string
	// CongestionControl is "cubic" (default), "reno", or a coupled
	// algorithm: "lia" (RFC 6356), "olia", "balia".
	CongestionControl string
	// PathManager decides the subflows: "fullmesh" (default: every local
	// address to every peer address), "ndiffports" (Subflows subflows
	// between the same addresses, for ECMP fabrics), "manual" (the
	// application opens them through Conn.Engine).
	PathManager string
	// Subflows is ndiffports' subflow count; default 2.
	Subflows int
	// MaxSubflows bounds the subflows of one connection; default 8.
	MaxSubflows int
	// Checksums asks for DSS checksums (RFC 8684 §3.3); they are used
	// when either side asks.
	Checksums bool
	// DisableMPTCP makes the stack speak plain TCP.
	DisableMPTCP bool
	// SendBuffer and RecvBuffer size each connection's buffers; default
	// 4 MiB each.
	SendBuffer, RecvBuffer int
	// MSS is the largest TCP payload; default: the Link's MTU less the IP
	// and TCP headers.
	MSS int

	// BusyPoll makes the shard spin instead of sleeping when idle (and
	// locks it to its OS thread).
	BusyPoll bool
	// LockOSThread locks the shard goroutine to its OS thread, for CPU
	// pinning; it makes each wake-up of the shard an OS thread switch.
	LockOSThread bool
	// Backlog bounds the established connections a listener holds for
	// Accept; default 128.
	Backlog int

	// Engine is the base configuration of the engine, for settings not
	// above (timers, the TCP template, ephemeral ports, the random
	// source); the fields above override it where they are set.
	Engine mptcp.Config
}

// engineConfig merges the Config's fields into its Engine base.
func (cfg *Config) engineConfig() mptcp.Config {
	e := cfg.Engine
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&e.Scheduler, cfg.Scheduler)
	set(&e.CC, cfg.CongestionControl)
	set(&e.PathManager, cfg.PathManager)
	seti := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	seti(&e.Subflows, cfg.Subflows)
	seti(&e.MaxSubflows, cfg.MaxSubflows)
	seti(&e.SendBuffer, cfg.SendBuffer)
	seti(&e.RecvBuffer, cfg.RecvBuffer)
	seti(&e.TCP.MSS, cfg.MSS)
	e.Checksum = e.Checksum || cfg.Checksums
	e.DisableMPTCP = e.DisableMPTCP || cfg.DisableMPTCP
	if len(cfg.Addrs) > 0 {
		e.LocalAddrs = cfg.Addrs
	}
	return e
}

// Stack is one MPTCP stack: an engine, the shard that drives it, and its
// network.
type Stack struct {
	shard   *dataplane.Shard
	link    link.Link
	addrs   []netip.Addr
	backlog int
	once    sync.Once
	err     error
}

// NewStack starts a stack. On error nothing is left running, and a
// Config.Link is closed.
func NewStack(cfg Config) (*Stack, error) {
	l := cfg.Link
	if l == nil {
		if len(cfg.Interfaces) == 0 {
			return nil, errors.New("mpxdp: Config needs a network: a Link (for example dataplane/pipe) or Interfaces (AF_XDP)")
		}
		var err error
		if l, err = openInterfaces(cfg); err != nil {
			return nil, err
		}
	}
	ec := cfg.engineConfig()
	for _, a := range ec.LocalAddrs {
		if !slices.Contains(l.Addrs(), a) {
			l.Close()
			return nil, fmt.Errorf("mpxdp: Config.Addrs has %v, which the Link does not carry (it has %v)", a, l.Addrs())
		}
	}
	shard, err := dataplane.New(dataplane.Config{Link: l, Engine: ec, BusyPoll: cfg.BusyPoll, LockOSThread: cfg.LockOSThread})
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("mpxdp: %w", err)
	}
	return &Stack{shard: shard, link: l, addrs: shard.EngineConfig().LocalAddrs, backlog: cfg.Backlog}, nil
}

// Close aborts every connection (the peers get resets), closes the
// listeners and the Link, and stops the shard. Blocked calls return
// net.ErrClosed. Later calls return nil.
func (s *Stack) Close() error {
	s.once.Do(func() { s.err = s.shard.Close() })
	return s.err
}

// Addrs returns the stack's local addresses.
func (s *Stack) Addrs() []netip.Addr { return slices.Clone(s.addrs) }

// Link returns the stack's network (for its counters).
func (s *Stack) Link() link.Link { return s.link }

// Stats is what the shard, the Link and the engine's endpoint counted.
type Stats = dataplane.Stats

// Stats returns the stack's counters.
func (s *Stack) Stats() Stats { return s.shard.Stats() }

// Do runs f on the stack's shard with the engine's endpoint, for tools
// that need the engine itself. f must not block.
func (s *Stack) Do(f func(ep *mptcp.Endpoint)) error { return s.shard.Do(f) }

// checkNetwork accepts the TCP network names ("tcp", "tcp4", "tcp6") and
// "mptcp", for addresses of the matching family.
func checkNetwork(network string, a netip.Addr) error {
	switch network {
	case "tcp", "mptcp":
		return nil
	case "tcp4":
		if a.IsValid() && !a.Unmap().Is4() {
			return &net.AddrError{Err: "not an IPv4 address", Addr: a.String()}
		}
		return nil
	case "tcp6":
		if a.IsValid() && a.Is4() {
			return &net.AddrError{Err: "not an IPv6 address", Addr: a.String()}
		}
		return nil
	}
	return net.UnknownNetworkError(network)
}

// parseAddr parses "ip:port", "[ip6]:port" or ":port" (no host names:
// the stack does not resolve them).
func parseAddr(address string) (netip.AddrPort, error) {
	if strings.HasPrefix(address, ":") {
		var port uint16
		if _, err := fmt.Sscanf(address, ":%d", &port); err != nil || fmt.Sprintf(":%d", port) != address {
			return netip.AddrPort{}, &net.AddrError{Err: "invalid port", Addr: address}
		}
		return netip.AddrPortFrom(netip.Addr{}, port), nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return netip.AddrPort{}, &net.AddrError{Err: "want ip:port (host names are not resolved)", Addr: address}
	}
	return ap, nil
}

// Dial connects to address ("ip:port") on network "tcp", "tcp4", "tcp6"
// or "mptcp".
func (s *Stack) Dial(network, address string) (*Conn, error) {
	return s.DialContext(context.Background(), network, address)
}

// DialContext is Dial with a context that bounds the handshake.
func (s *Stack) DialContext(ctx context.Context, network, address string) (*Conn, error) {
	remote, err := parseAddr(address)
	if err == nil && !remote.Addr().IsValid() {
		err = &net.AddrError{Err: "missing IP address", Addr: address}
	}
	if err == nil {
		err = checkNetwork(network, remote.Addr())
	}
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return s.dial(ctx, network, netip.AddrPort{}, remote)
}

// DialAddrPort connects from local (the zero value: the stack chooses;
// port 0: an ephemeral port) to remote.
func (s *Stack) DialAddrPort(ctx context.Context, local, remote netip.AddrPort) (*Conn, error) {
	return s.dial(ctx, "tcp", local, remote)
}

func (s *Stack) dial(ctx context.Context, network string, local, remote netip.AddrPort) (*Conn, error) {
	if slices.Contains(s.addrs, remote.Addr()) {
		return nil, &net.OpError{Op: "dial", Net: network, Source: tcpAddr(local), Addr: tcpAddr(remote), Err: ErrLoopback}
	}
	if la := local.Addr(); la.IsValid() && !la.IsUnspecified() && !slices.Contains(s.addrs, la) {
		return nil, &net.OpError{Op: "dial", Net: network, Source: tcpAddr(local), Addr: tcpAddr(remote),
			Err: os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)}
	}
	dc, err := s.shard.Dial(ctx, local, remote)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, &net.OpError{Op: "dial", Net: network, Source: tcpAddr(local), Addr: tcpAddr(remote), Err: mapContextErr(err)}
		}
		return nil, &net.OpError{Op: "dial", Net: network, Source: tcpAddr(local), Addr: tcpAddr(remote), Err: mapErr("connect", err)}
	}
	return newConn(dc, network), nil
}

// Listen listens on address (":port", or "ip:port" with a local ip;
// port 0 picks a free port). The listener accepts on every local address.
func (s *Stack) Listen(network, address string) (*Listener, error) {
	ap, err := parseAddr(address)
	if err == nil {
		err = checkNetwork(network, ap.Addr())
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	if a := ap.Addr(); a.IsValid() && !a.IsUnspecified() && !slices.Contains(s.addrs, a) {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: tcpAddr(ap), Err: os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)}
	}
	dl, err := s.shard.Listen(ap.Port(), s.backlog)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: tcpAddr(ap), Err: mapErr("bind", err)}
	}
	return &Listener{l: dl, network: network, addr: tcpAddr(netip.AddrPortFrom(ap.Addr(), dl.Port()))}, nil
}

// tcpAddr converts an address for net.Addr users (nil for the zero
// value, so that a *net.OpError prints without it).
func tcpAddr(ap netip.AddrPort) net.Addr {
	if !ap.IsValid() && ap.Port() == 0 {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}

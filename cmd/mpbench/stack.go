package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/dataplane/afxdp"
	"github.com/mpxdp/mpxdp/dataplane/pipe"
	"github.com/mpxdp/mpxdp/mptcp/cc"
	"github.com/mpxdp/mpxdp/mptcp/pm"
	"github.com/mpxdp/mpxdp/mptcp/sched"
)

// The stacks mpbench measures.
const (
	stackXDP    = "xdp"    // mpxdp over AF_XDP on the named NICs
	stackKernel = "kernel" // Linux MPTCP sockets
	stackTCP    = "tcp"    // Linux TCP sockets
	stackMem    = "mem"    // mpxdp over in-memory emulated paths, both ends in this process
)

var stackNames = []string{stackXDP, stackKernel, stackTCP, stackMem}

// maxSubflows is mpxdp's default bound of subflows per connection
// (Config.MaxSubflows).
const maxSubflows = 8

// stackOptions are the command line's settings of one end's stack.
type stackOptions struct {
	kind     string
	devs     []string     // xdp: the NICs, one per path
	addrs    []netip.Addr // local addresses per path
	pm       string
	sched    string
	cc       string
	subflows int
	checksum bool
	busyPoll bool
	generic  bool        // xdp: attach the XDP filter in generic (SKB) mode
	paths    []pipe.Path // mem: the emulated paths
}

// netStack is one end's network stack: data connections are made with it;
// the control connection always uses the kernel's TCP.
type netStack interface {
	// Describe names the stack for reports.
	Describe() string
	Listen(port int) (net.Listener, error)
	Dial(ctx context.Context, remote netip.AddrPort) (net.Conn, error)
	Close() error
}

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// check rejects settings the stack cannot honour, saying what to do instead.
func (o *stackOptions) check() error {
	if !slices.Contains(stackNames, o.kind) {
		return usagef("--stack %q: want one of %s", o.kind, strings.Join(stackNames, ", "))
	}
	kernel := o.kind == stackKernel || o.kind == stackTCP
	if kernel {
		switch {
		case o.subflows != 0:
			return usagef("--subflows (ndiffports) applies to mpxdp; the kernel's path manager never opens several subflows between one pair of addresses (announce another port with `ip mptcp endpoint add ADDR port P signal` on the server instead)")
		case o.pm != "":
			return usagef("--pm applies to mpxdp (--stack xdp or mem); the kernel's path manager is set up with `ip mptcp endpoint` and `ip mptcp limits`")
		case o.sched != "":
			return usagef("--sched applies to mpxdp; the kernel's scheduler is the sysctl net.mptcp.scheduler")
		case len(o.devs) > 0:
			return usagef("--dev applies to --stack xdp; the kernel chooses interfaces by its routes")
		case len(o.paths) > 0:
			return usagef("--path applies to --stack mem")
		case o.busyPoll:
			return usagef("--busy-poll applies to mpxdp")
		case o.generic:
			return usagef("--xdp-generic applies to --stack xdp")
		case len(o.addrs) > 1 && o.kind == stackKernel:
			return usagef("--addr takes one address with --stack kernel (the initial subflow's source); the kernel's path manager opens the others: `ip mptcp endpoint add %v dev IFACE subflow`", o.addrs[1])
		case len(o.addrs) > 1:
			return usagef("--addr takes one address with --stack tcp")
		}
	}
	if o.kind == stackTCP && o.checksum {
		return usagef("--checksum is an MPTCP option; --stack tcp has none")
	}
	if o.kind == stackKernel && o.checksum {
		b, err := os.ReadFile("/proc/sys/net/mptcp/checksum_enabled")
		if err == nil && strings.TrimSpace(string(b)) != "1" {
			return usagef("--checksum with --stack kernel: DSS checksums are the namespace's sysctl; run `sysctl -w net.mptcp.checksum_enabled=1` first")
		}
	}
	if !kernel {
		// The engine's registries; a name they lack must not reach the
		// stack (an unknown scheduler is not caught there).
		switch {
		case o.sched != "" && !slices.Contains(sched.Names(), o.sched):
			return usagef("--sched %q: want one of %s", o.sched, strings.Join(sched.Names(), ", "))
		case o.cc != "" && !slices.Contains(cc.Names(), o.cc):
			return usagef("--cc %q: want one of %s", o.cc, strings.Join(cc.Names(), ", "))
		case o.pm != "" && o.pm != pairedName && !slices.Contains(pm.Names(), o.pm):
			return usagef("--pm %q: want one of %s", o.pm, strings.Join(slices.DeleteFunc(pm.Names(), func(n string) bool { return n == pairedName }), ", "))
		case o.subflows < 0 || o.subflows > maxSubflows:
			return usagef("--subflows %d: want 1..%d (the stack's limit of subflows per connection)", o.subflows, maxSubflows)
		case o.subflows > 0 && o.pm != "ndiffports":
			return usagef("--subflows sets ndiffports' count; --pm %s opens its own", o.pm)
		}
	}
	if o.kind == stackXDP && len(o.devs) == 0 {
		return usagef("--stack xdp needs --dev IFACE[,IFACE...]: the NICs of the paths, opened with AF_XDP")
	}
	if o.kind != stackXDP && len(o.devs) > 0 {
		return usagef("--dev applies to --stack xdp")
	}
	if o.kind != stackMem && len(o.paths) > 0 {
		return usagef("--path applies to --stack mem")
	}
	return nil
}

// mpxdpConfig is the mpxdp configuration of the options.
func (o *stackOptions) mpxdpConfig() mpxdp.Config {
	return mpxdp.Config{
		Addrs: o.addrs, Scheduler: o.sched, CongestionControl: o.cc, PathManager: o.pm,
		Subflows: o.subflows, Checksums: o.checksum, BusyPoll: o.busyPoll,
	}
}

// openStack opens the stack of one end. For mem it returns the client's
// side and the server's (peer); the other kinds have no peer.
func openStack(o *stackOptions, server bool) (st, peer netStack, err error) {
	switch o.kind {
	case stackKernel, stackTCP:
		k := &kernelStack{mptcp: o.kind == stackKernel, cc: o.cc}
		if len(o.addrs) > 0 {
			k.laddr = o.addrs[0]
		}
		if o.cc != "" {
			if err := checkKernelCC(o.cc); err != nil {
				return nil, nil, err
			}
		}
		return k, nil, nil
	case stackXDP:
		return openXDP(o)
	case stackMem:
		return openMem(o)
	}
	return nil, nil, usagef("unknown stack %q", o.kind)
}

// checkKernelCC fails unless the kernel offers the congestion control.
func checkKernelCC(cc string) error {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_available_congestion_control")
	if err != nil {
		return nil // let setsockopt(TCP_CONGESTION) decide
	}
	have := strings.Fields(string(b))
	if !slices.Contains(have, cc) {
		return usagef("--cc %s: the kernel offers %s (coupled lia/olia/balia are mpxdp's; `modprobe tcp_%s` if it is a module)",
			cc, strings.Join(have, ", "), cc)
	}
	return nil
}

// kernelStack is Linux TCP or MPTCP sockets.
type kernelStack struct {
	mptcp bool
	laddr netip.Addr
	cc    string
}

func (k *kernelStack) Describe() string {
	if k.mptcp {
		return "kernel MPTCP"
	}
	return "kernel TCP"
}

func (k *kernelStack) control(network, address string, c syscall.RawConn) error {
	if k.cc == "" {
		return nil
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, k.cc)
	})
	if err == nil && serr != nil {
		err = os.NewSyscallError("setsockopt(TCP_CONGESTION, "+k.cc+")", serr)
	}
	return err
}

func (k *kernelStack) Listen(port int) (net.Listener, error) {
	lc := net.ListenConfig{Control: k.control}
	lc.SetMultipathTCP(k.mptcp)
	// Every address: joins arrive on the other paths' addresses too
	// (INTEROP B.4).
	return lc.Listen(context.Background(), "tcp", fmt.Sprintf(":%d", port))
}

func (k *kernelStack) Dial(ctx context.Context, remote netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{Control: k.control}
	d.SetMultipathTCP(k.mptcp)
	if k.laddr.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: k.laddr.AsSlice()}
	}
	return d.DialContext(ctx, "tcp", remote.String())
}

func (k *kernelStack) Close() error { return nil }

// mpxdpStack is an mpxdp Stack.
type mpxdpStack struct {
	s     *mpxdp.Stack
	desc  string
	laddr netip.Addr
}

func (m *mpxdpStack) Describe() string { return m.desc }

func (m *mpxdpStack) Listen(port int) (net.Listener, error) {
	return m.s.Listen("tcp", fmt.Sprintf(":%d", port))
}

func (m *mpxdpStack) Dial(ctx context.Context, remote netip.AddrPort) (net.Conn, error) {
	if m.laddr.IsValid() {
		return m.s.DialAddrPort(ctx, netip.AddrPortFrom(m.laddr, 0), remote)
	}
	return m.s.DialContext(ctx, "tcp", remote.String())
}

func (m *mpxdpStack) Close() error { return m.s.Close() }

func openXDP(o *stackOptions) (netStack, netStack, error) {
	for _, d := range o.devs {
		if _, err := net.InterfaceByName(d); err != nil {
			return nil, nil, fmt.Errorf("--dev %s: no such interface in this network namespace (`ip link` lists them; --netns NAME runs mpbench in another namespace)", d)
		}
	}
	// The API's AF_XDP path, as users open it (Config.Interfaces); generic
	// mode is a Link option, so that Link is opened here.
	cfg := o.mpxdpConfig()
	var s *mpxdp.Stack
	var err error
	if o.generic {
		var l *afxdp.Link
		if l, err = afxdp.Open(afxdp.Config{Interfaces: o.devs, Addrs: o.addrs, Generic: true}); err == nil {
			cfg.Link = l
			s, err = mpxdp.NewStack(cfg)
		}
	} else {
		cfg.Interfaces = o.devs
		s, err = mpxdp.NewStack(cfg)
	}
	if err != nil {
		hint := ""
		switch {
		case os.Geteuid() != 0 && errors.Is(err, os.ErrPermission):
			hint = "\n  AF_XDP and XDP need root (or CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_IPC_LOCK); --stack mem runs mpxdp without them"
		case !o.generic && errors.Is(err, syscall.EOPNOTSUPP):
			hint = "\n  --xdp-generic attaches the filter in generic (SKB) mode, which every driver supports (slower)"
		}
		return nil, nil, fmt.Errorf("--stack xdp on %s: %w%s", strings.Join(o.devs, ","), err, hint)
	}
	desc := fmt.Sprintf("mpxdp over AF_XDP (%s)", strings.Join(o.devs, ","))
	if l, ok := s.Link().(*afxdp.Link); ok {
		desc = fmt.Sprintf("mpxdp over AF_XDP (%s, %v mode)", strings.Join(o.devs, ","), l.Mode())
	}
	m := &mpxdpStack{s: s, desc: desc}
	if len(o.addrs) > 0 {
		m.laddr = o.addrs[0]
	}
	return m, nil, nil
}

// memDefaultPaths are two unimpaired in-memory paths.
var memDefaultPaths = []pipe.Path{{}, {}}

func openMem(o *stackOptions) (netStack, netStack, error) {
	paths := o.paths
	if len(paths) == 0 {
		paths = memDefaultPaths
	}
	// The server's side is configured as the client's, except the path
	// manager: the server announces its other addresses (fullmesh) and the
	// client opens one subflow per path to them (pairedPM).
	scfg := o.mpxdpConfig()
	scfg.PathManager = "fullmesh"
	ccfg := o.mpxdpConfig()
	if ccfg.PathManager == "" {
		ccfg.PathManager = pairedName
	}
	if len(ccfg.Addrs) > 0 {
		return nil, nil, usagef("--addr does not apply to --stack mem: path i gives the client 10.0.i.1 and the server 10.0.i.2")
	}
	a, b, err := mpxdp.NewPipePair(pipe.Config{Paths: paths}, ccfg, scfg)
	if err != nil {
		return nil, nil, err
	}
	desc := fmt.Sprintf("mpxdp over %d in-memory path(s)", len(paths))
	if imp := describePaths(paths); imp != "" {
		desc += " (" + imp + ")"
	}
	return &mpxdpStack{s: a, desc: desc}, &mpxdpStack{s: b, desc: desc}, nil
}

// memServerAddr is the server's address on the first in-memory path.
var memServerAddr = netip.MustParseAddr("10.0.1.2")

func describePaths(paths []pipe.Path) string {
	var parts []string
	for _, p := range paths {
		f := p.Forward
		var s []string
		if f.Rate > 0 {
			s = append(s, fmtRate(f.Rate))
		}
		if f.Delay > 0 {
			s = append(s, fmtDur(f.Delay))
		}
		if f.Loss > 0 {
			s = append(s, fmt.Sprintf("loss %.2g%%", 100*f.Loss))
		}
		if len(s) == 0 {
			s = append(s, "unlimited")
		}
		parts = append(parts, strings.Join(s, " "))
	}
	if slices.IndexFunc(parts, func(s string) bool { return s != "unlimited" }) < 0 {
		return ""
	}
	return strings.Join(parts, "; ")
}

package interop_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/dataplane/afxdp"
	"github.com/mpxdp/mpxdp/internal/testbed"
	"github.com/mpxdp/mpxdp/mptcp/pm"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
)

// ndiffMesh is the path manager of mpxdp clients in the two-path cases:
// ndiffports (two subflows between the initial addresses, differing only
// in the client's port, something the kernel's own client never does) plus
// fullmesh from the client's other address to the server's initial one,
// which the bed routes over path 2. Announcements are not followed, so the
// subflow count does not depend on the server's path manager.
type ndiffMesh struct{ nd pm.Manager }

func (m ndiffMesh) Handle(ev pm.Event, st *pm.State, out []pm.Action) []pm.Action {
	if ev.Kind != pm.Established || !st.Client {
		return out
	}
	out = m.nd.Handle(ev, st, out)
	return pm.FullMesh{}.Handle(ev, st, out)
}

func init() {
	pm.Register("interop-ndiffmesh", func(int) pm.Manager {
		nd, _ := pm.New("ndiffports", 2)
		return ndiffMesh{nd}
	})
}

type pairing int

const (
	mpxdpKernel pairing = iota // mpxdp client in A, kernel server in B
	kernelMpxdp                // kernel client in A, mpxdp server in B
	mpxdpMpxdp                 // mpxdp in both
)

func (p pairing) String() string {
	return [...]string{"mpxdp-kernel", "kernel-mpxdp", "mpxdp-mpxdp"}[p]
}

// transferSize is 64 MiB each way; MPXDP_INTEROP_MB overrides it for a
// quick local run.
func transferSize() int64 {
	if v, err := strconv.Atoi(os.Getenv("MPXDP_INTEROP_MB")); err == nil && v > 0 {
		return int64(v) << 20
	}
	return 64 << 20
}

const port = 5201

// interopCase is one cell of the matrix, with what it must show.
type interopCase struct {
	pair  pairing
	paths int
	csum  bool
	kill  bool   // reset one subflow mid-transfer (ss -K on the kernel side)
	mtu   int    // 0: 1500
	sched string // the mpxdp ends' scheduler; "": the default
	v6    bool   // IPv6 addresses (fd00:i::/64) instead of IPv4
}

func (c interopCase) name() string {
	s := fmt.Sprintf("%v/%dpath/csum-%v", c.pair, c.paths, map[bool]string{false: "off", true: "on"}[c.csum])
	if c.kill {
		s += "/kill"
	}
	if c.mtu != 0 {
		s += fmt.Sprintf("/mtu%d", c.mtu)
	}
	if c.sched != "" {
		s += "/" + c.sched
	}
	if c.v6 {
		s += "/ipv6"
	}
	return s
}

// a and b return path p's address on side A and side B in the case's
// address family.
func (c interopCase) a(p testbed.Path) netip.Addr {
	if c.v6 {
		return p.A6
	}
	return p.A4
}

func (c interopCase) b(p testbed.Path) netip.Addr {
	if c.v6 {
		return p.B6
	}
	return p.B4
}

// subflows is how many subflows the case must establish: one per path
// with one path; with two, the mpxdp client's three (two ndiffports on
// path 1, one on path 2) or the kernel client's two (one per address).
func (c interopCase) subflows() int {
	switch {
	case c.paths == 1:
		return 1
	case c.pair == kernelMpxdp:
		return 2
	}
	return 3
}

// TestInterop is the interoperability matrix: mpxdp client with kernel
// server, kernel client with mpxdp server, mpxdp with mpxdp; one path and
// two; DSS checksums off and on (net.mptcp.checksum_enabled on the kernel,
// Config.Checksums on mpxdp). Each moves seeded random data both ways at
// once and compares SHA-256 digests; checks the subflows established and
// used; checks the kernel's nstat counters (no fallback, no checksum,
// mapping or HMAC error) and the engine's; and has tshark (and the engine's
// own parser) check the captured segments.
func TestInterop(t *testing.T) {
	testbed.NeedRoot(t)
	for _, pair := range []pairing{mpxdpKernel, kernelMpxdp, mpxdpMpxdp} {
		for _, paths := range []int{1, 2} {
			for _, csum := range []bool{false, true} {
				c := interopCase{pair: pair, paths: paths, csum: csum}
				t.Run(c.name(), func(t *testing.T) { runCase(t, c) })
			}
		}
	}
}

// TestInteropSubflowKill resets a subflow on path 2 with `ss -K` on the
// kernel's side in the middle of the transfer, over IPv4 and IPv6: the
// connection goes on over the others and every byte arrives.
func TestInteropSubflowKill(t *testing.T) {
	testbed.NeedRoot(t)
	for _, v6 := range []bool{false, true} {
		for _, pair := range []pairing{mpxdpKernel, kernelMpxdp} {
			c := interopCase{pair: pair, paths: 2, kill: true, v6: v6}
			t.Run(c.name(), func(t *testing.T) { runCase(t, c) })
		}
	}
}

// TestInteropRedundant runs the two-path cases with the redundant
// scheduler on the mpxdp ends: every subflow carries about the whole
// stream, and the receiver (the kernel, or mpxdp) takes each byte once
// and counts the copies as duplicates.
func TestInteropRedundant(t *testing.T) {
	testbed.NeedRoot(t)
	for _, pair := range []pairing{mpxdpKernel, mpxdpMpxdp} {
		c := interopCase{pair: pair, paths: 2, sched: "redundant"}
		t.Run(c.name(), func(t *testing.T) { runCase(t, c) })
	}
}

// TestInteropIPv6 runs the two-path cases over IPv6 (fd00:1::/64 and
// fd00:2::/64): the XDP program steers IPv6 TCP, NDP goes to the kernel
// and the link resolves IPv6 neighbours, the engine sums the IPv6
// pseudo-header, and the mpxdp client's third subflow starts from its
// second IPv6 address.
func TestInteropIPv6(t *testing.T) {
	testbed.NeedRoot(t)
	for _, pair := range []pairing{mpxdpKernel, kernelMpxdp, mpxdpMpxdp} {
		c := interopCase{pair: pair, paths: 2, csum: pair == kernelMpxdp, v6: true}
		t.Run(c.name(), func(t *testing.T) { runCase(t, c) })
	}
}

// TestInteropJumbo runs the two-path cases at MTU 9000, DSS checksums off
// and on: the AF_XDP link hands received descriptor chains (multi-buffer)
// to the engine in place, which reads the payload piece by piece
// (HandleSegmentChain), and sends packets written in place in runs of
// frames; the kernel sends 8960-byte segments.
func TestInteropJumbo(t *testing.T) {
	testbed.NeedRoot(t)
	for _, csum := range []bool{false, true} {
		for _, pair := range []pairing{mpxdpKernel, kernelMpxdp, mpxdpMpxdp} {
			c := interopCase{pair: pair, paths: 2, mtu: 9000, csum: csum}
			t.Run(c.name(), func(t *testing.T) { runCase(t, c) })
		}
	}
}

func runCase(t *testing.T, c interopCase) {
	t0 := time.Now()
	phase := func(what string) {
		t.Logf("%s at %v", what, time.Since(t0).Round(time.Millisecond))
	}
	defer phase("done")
	n := transferSize()
	b := testbed.New(t, testbed.Config{Paths: c.paths, Checksum: c.csum, Middle: c.pair == mpxdpMpxdp, MTU: c.mtu})
	if c.v6 {
		b.SettleIPv6() // so that the SYN count below is exact; TestLinkSolicitsIPv6 covers resolving
	}
	// Capture where the kernel's stack (or the bridge) sees every frame.
	capNS := b.NSB
	switch c.pair {
	case kernelMpxdp:
		capNS = b.NSA
	case mpxdpMpxdp:
		capNS = b.NSM
	}
	extra := c.subflows() - 1
	kernelNS := ""
	switch c.pair {
	case mpxdpKernel:
		kernelNS = b.NSB
		b.Limits(b.NSB, extra, 0)
	case kernelMpxdp:
		kernelNS = b.NSA
		b.Limits(b.NSA, extra, 0)
		if c.paths == 2 {
			// The kernel client joins from its second address (INTEROP C.1
			// "subflow" variant).
			b.Endpoint(b.NSA, c.a(b.Paths[1]).String(), "dev", b.Paths[1].DevA, "subflow")
		}
	}
	addrs := func(ns string) []netip.Addr {
		var out []netip.Addr
		for _, p := range b.Paths {
			if ns == b.NSA {
				out = append(out, c.a(p))
			} else {
				out = append(out, c.b(p))
			}
		}
		return out
	}
	mcfg := func(ns string, client bool) mpxdp.Config {
		cfg := mpxdp.Config{Addrs: addrs(ns), Checksums: c.csum, Scheduler: c.sched}
		if client && c.paths == 2 {
			cfg.PathManager = "interop-ndiffmesh"
		}
		return cfg
	}
	// About 6 MB of the start of the transfer, whole (jumbo frames take
	// tshark as long per byte as small ones).
	head := 4000
	if c.mtu > 1500 {
		head = 4000 * 1500 / c.mtu
	}
	if v, err := strconv.Atoi(os.Getenv("MPXDP_CAPTURE_HEAD")); err == nil && v > 0 {
		head = v // a longer capture for debugging
	}
	capture := b.StartCapture(capNS, head)
	phase("bed and capture ready")

	// The server.
	var srv *mpxdp.Stack
	var ln net.Listener
	var err error
	if c.pair == mpxdpKernel {
		wildcard := "0.0.0.0"
		if c.v6 {
			wildcard = "::"
		}
		ln, err = testbed.ListenMPTCP(b.NSB, net.JoinHostPort(wildcard, strconv.Itoa(port)))
	} else {
		srv = newStack(t, b, b.NSB, mcfg(b.NSB, false), afxdp.Config{})
		ln, err = srv.Listen("tcp", ":"+strconv.Itoa(port))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		sc, err := ln.Accept()
		if err != nil {
			t.Errorf("accept: %v", err)
		}
		accepted <- sc
	}()

	// The client.
	remote := netip.AddrPortFrom(c.b(b.Paths[0]), port)
	var cli *mpxdp.Stack
	var cc net.Conn
	if c.pair == kernelMpxdp {
		cc, err = testbed.DialMPTCP(b.NSA, netip.AddrPortFrom(c.a(b.Paths[0]), 0).String(), remote.String(), 5*time.Second)
	} else {
		cli = newStack(t, b, b.NSA, mcfg(b.NSA, true), afxdp.Config{})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cc, err = cli.DialAddrPort(ctx, netip.AddrPortFrom(c.a(b.Paths[0]), 0), remote)
		cancel()
	}
	if err != nil {
		t.Fatalf("dial %v: %v", remote, err)
	}
	defer cc.Close()
	var sc net.Conn
	select {
	case sc = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
	}
	if sc == nil {
		t.FailNow()
	}
	defer sc.Close()
	mconns := map[string]*mpxdp.Conn{}
	if m, ok := cc.(*mpxdp.Conn); ok {
		mconns["client"] = m
	}
	if m, ok := sc.(*mpxdp.Conn); ok {
		mconns["server"] = m
	}

	// One byte each way makes both ends fully established (INTEROP B.1,
	// B.5: a kernel client joins only then), and every subflow is up
	// before the bulk data, so that each one carries some even when a
	// loaded machine runs the kernel's path-manager worker late.
	warmUp(t, cc, sc)
	if !testbed.WaitFor(10*time.Second, func() bool { return established(cc, sc) >= c.subflows() }) {
		t.Fatalf("%d subflows established after the first bytes, want %d", established(cc, sc), c.subflows())
	}
	phase("subflows established")
	done := make(chan struct{})
	if c.kill {
		go func() {
			defer close(done)
			killSubflow(t, b, kernelNS, c.a(b.Paths[1]), cc, sc)
		}()
	} else {
		close(done)
	}
	phase("connected")
	nc, ns := n, n
	cr, _ := exchange(t, cc, sc, nc, ns, 120*time.Second)
	<-done
	t.Logf("%d MiB client->server, %d MiB server->client in %v (%.2f Gbit/s both ways together)", nc>>20, ns>>20, cr.Elapsed,
		float64((nc+ns)*8)/cr.Elapsed.Seconds()/1e9)
	if cr.Elapsed > 30*time.Second {
		// Seconds normally: this long means recoveries by MPTCP-level
		// timeouts (once the engine acknowledged bytes it could not store
		// when Linux resent a whole fragment past the window).
		t.Errorf("the transfer took %v: stalls", cr.Elapsed)
	}

	for _, s := range []*mpxdp.Stack{cli, srv} {
		if s != nil {
			t.Logf("link %+v", s.Stats().Link)
		}
	}
	// What mpxdp saw.
	for who, m := range mconns {
		if fb := m.Fallback(); fb != nil {
			t.Errorf("%s fell back to TCP: %v", who, fb)
		}
		st, err := m.Stats()
		if err != nil {
			t.Fatalf("%s stats: %v", who, err)
		}
		if st.ChecksumFailures+st.MappingMismatch+st.DataWithoutDSS+st.JoinHMACFailures+st.MPFailSent+st.MPFailRecv+st.InfiniteMappings+st.UnmappedBytes != 0 {
			t.Errorf("%s engine counters: %+v", who, st)
		}
		sfs, err := m.Subflows()
		if err != nil {
			t.Fatal(err)
		}
		used := 0
		for _, sf := range sfs {
			t.Logf("%s subflow %d %v -> %v %v: out %d B, in %d B, %+v",
				who, sf.ID, sf.Local, sf.Remote, sf.State, sf.Stats.BytesOut, sf.Stats.BytesIn, sf.Stats)
			if sf.Stats.BytesOut+sf.Stats.BytesIn > 0 {
				used++
			}
		}
		want := c.subflows()
		if c.kill {
			want = len(sfs) // the killed one carried data before it died
		}
		if len(sfs) != c.subflows() || used != want {
			t.Errorf("%s: %d subflows, %d carried data; want %d, all used", who, len(sfs), used, c.subflows())
		}
		if c.sched == "redundant" {
			// Each subflow sends the stream less what the peer already
			// had when it had room: against a fast receiver the slower
			// subflows skip most of it (1.2x to 2.8x the stream in all
			// was measured on a loaded machine), so the test asks only
			// that copies went out; the simulator's TestRedundantScheduler
			// checks the shares.
			var out uint64
			for _, sf := range sfs {
				out += sf.Stats.BytesOut
			}
			if who == "client" && out <= uint64(nc) {
				t.Errorf("redundant: the client's subflows sent %d bytes for %d", out, nc)
			}
			if who == "server" && st.DuplicateData == 0 {
				t.Errorf("redundant: the server saw no duplicate data: %+v", st)
			}
		}
	}
	cc.Close()
	sc.Close()

	// What the kernel saw.
	if kernelNS != "" {
		ks := b.CheckMPTCPClean(kernelNS)
		joins := uint64(extra)
		if c.pair == mpxdpKernel {
			if ks["MPTcpExtMPCapableSYNRX"] != 1 || ks["MPTcpExtMPJoinAckRx"] != joins {
				t.Errorf("kernel server: want 1 MP_CAPABLE connection and %d joins: %v", joins, ks.Prefixed("MPTcpExt"))
			}
		} else if ks["MPTcpExtMPCapableSYNTX"] != 1 || ks["MPTcpExtMPJoinSynAckRx"] != joins {
			t.Errorf("kernel client: want 1 MP_CAPABLE connection and %d joins: %v", joins, ks.Prefixed("MPTcpExt"))
		}
		if c.sched == "redundant" && ks["MPTcpExtDuplicateData"] == 0 {
			t.Errorf("redundant: the kernel server counted no duplicate data: %v", ks.Prefixed("MPTcpExt"))
		}
		if c.kill && ks["MPTcpExtMPRstTx"] == 0 {
			t.Errorf("the killed subflow sent no MP_TCPRST: %v", ks.Prefixed("MPTcpExt"))
		}
	}

	phase("transferred and closed")
	// What the wire saw.
	capture.Stop()
	phase("capture stopped")
	capture.Check()
	phase("tshark done")
	w := scanWire(t, capture)
	w.checkChecksums(t, c.csum)
	if w.mpcSYNs != 1 || w.joinSYNs != extra {
		t.Errorf("captured %d MP_CAPABLE SYNs and %d MP_JOIN SYNs; want 1 and %d", w.mpcSYNs, w.joinSYNs, extra)
	}
	// RSTs: none from mpxdp; from the kernel, only those of the killed
	// subflow (its own, and one for each segment of ours in flight to it).
	mpxdpAddr := map[string]bool{}
	for _, p := range b.Paths {
		mpxdpAddr[c.a(p).String()] = c.pair != kernelMpxdp
		mpxdpAddr[c.b(p).String()] = c.pair != mpxdpKernel
	}
	killed := 0
	var other []string
	for pair, k := range w.rstPair {
		switch {
		case mpxdpAddr[pair[0]]:
			t.Errorf("captured %d RSTs from mpxdp %s to %s", k, pair[0], pair[1])
		case c.kill && (pair[0] == c.a(b.Paths[1]).String() || pair[1] == c.a(b.Paths[1]).String()):
			killed += k
		default:
			other = append(other, fmt.Sprintf("%s->%s: %d", pair[0], pair[1], k))
		}
	}
	if c.kill && killed == 0 {
		t.Error("no RST captured on the killed subflow")
	}
	if len(other) > 0 {
		t.Errorf("RSTs from the kernel: %v", other)
	}
	if c.kill {
		t.Logf("%d RSTs on the killed subflow", killed)
	}
}

// warmUp sends one byte from client to server and one back.
func warmUp(t *testing.T, client, server net.Conn) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		var b [1]byte
		server.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := io.ReadFull(server, b[:])
		if err == nil {
			_, err = server.Write(b[:])
		}
		server.SetDeadline(time.Time{})
		errc <- err
	}()
	var b = [1]byte{42}
	client.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := client.Write(b[:])
	if err == nil {
		_, err = io.ReadFull(client, b[:])
	}
	client.SetDeadline(time.Time{})
	if err != nil || b[0] != 42 {
		t.Fatalf("first byte: %v (%d)", err, b[0])
	}
	if err := <-errc; err != nil {
		t.Fatalf("first byte, server: %v", err)
	}
}

// established counts the connection's established subflows, from the
// mpxdp end if there is one, else from the kernel's MPTCP_INFO.
func established(conns ...net.Conn) int {
	for _, c := range conns {
		if m, ok := c.(*mpxdp.Conn); ok {
			sfs, err := m.Subflows()
			if err != nil {
				return 0
			}
			n := 0
			for _, sf := range sfs {
				if sf.State == tcp.Established && sf.Usable {
					n++
				}
			}
			return n
		}
	}
	for _, c := range conns {
		if k, ok := c.(*net.TCPConn); ok {
			if info, err := testbed.Info(k); err == nil {
				return 1 + info.Subflows
			}
		}
	}
	return 0
}

// killSubflow waits until a quarter of the data has crossed, then resets
// the kernel's subflow on path 2 with `ss -K` (INTEROP B.9).
func killSubflow(t *testing.T, b *testbed.Bed, kernelNS string, path2A netip.Addr, conns ...net.Conn) {
	var m *mpxdp.Conn
	for _, x := range conns {
		if mc, ok := x.(*mpxdp.Conn); ok {
			m = mc
		}
	}
	n := transferSize()
	testbed.WaitFor(60*time.Second, func() bool {
		st, err := m.Stats()
		return err == nil && int64(st.BytesReceived) > n/4
	})
	defer func() {
		if st, err := m.Stats(); err != nil || int64(st.BytesReceived) >= n {
			t.Errorf("the subflow was killed after the transfer (%d of %d bytes received, %v)", st.BytesReceived, n, err)
		}
	}()
	// The subflow whose A-side address is path2A, on path 2 (ss wants an
	// IPv6 address in brackets).
	host := path2A.String()
	if path2A.Is6() {
		host = "[" + host + "]"
	}
	filter := "src " + host
	if kernelNS == b.NSB {
		filter = "dst " + host
	}
	out, err := b.Exec(kernelNS, "ss", "-K", "-tn", filter)
	if err != nil {
		t.Errorf("ss -K: %v\n%s", err, out)
	}
	if !strings.Contains(out, "ESTAB") {
		t.Errorf("ss -K %s found no established subflow to kill:\n%s", filter, out)
	}
	t.Logf("killed mid-transfer:\n%s", out)
}

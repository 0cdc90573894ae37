package interop_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/dataplane/afxdp"
	"github.com/mpxdp/mpxdp/internal/testbed"
)

// TestInteropSYNBlackhole puts a middlebox that drops SYNs carrying an
// MPTCP option (an nftables rule on a bridge between the two namespaces)
// between mpxdp and the kernel, in both roles. The client resends its SYN
// twice with MP_CAPABLE and then without (RFC 8684 §3.1; INTEROP B.1), connects as
// plain TCP, moves data intact, and opens the next connection as plain TCP
// at once (blackhole mode): mpxdp as Linux 6.18 does, and mpxdp as the
// server of a kernel client that does so. In the third case the box drops
// the SYN/ACKs with MP_CAPABLE instead: the mpxdp server answers the
// kernel client's SYN without MP_CAPABLE as plain TCP although it had
// answered the same SYN with MP_CAPABLE (a kernel server would repeat
// that SYN/ACK until its request expired). In the fourth the box drops
// the kernel server's SYN/ACKs with MP_CAPABLE: the kernel answers the
// mpxdp client's SYN without MP_CAPABLE with its MPTCP request's SYN/ACK
// again, so the client's next SYN leaves from a new port and connects.
func TestInteropSYNBlackhole(t *testing.T) {
	testbed.NeedRoot(t)
	testbed.NeedTools(t, "nft")
	for _, pair := range []pairing{mpxdpKernel, kernelMpxdp} {
		t.Run(pair.String(), func(t *testing.T) { runBlackhole(t, pair, false) })
	}
	for _, pair := range []pairing{kernelMpxdp, mpxdpKernel} {
		t.Run(pair.String()+"/synack", func(t *testing.T) { runBlackhole(t, pair, true) })
	}
}

func runBlackhole(t *testing.T, pair pairing, synAck bool) {
	// The middlebox is a bridge between the two ends that drops what it
	// dislikes without a word: a rule on an end's own netfilter hooks
	// would fail that end's transmission instead (EPERM), and a Linux
	// listener whose SYN/ACK retransmission fails drops its request,
	// which no real middlebox makes it do.
	b := testbed.New(t, testbed.Config{Paths: 1, Middle: true})
	flags := "syn"
	if synAck {
		flags = "syn | ack"
	}
	b.Run(b.NSM, "nft", "add table bridge mbox")
	b.Run(b.NSM, "nft", "add chain bridge mbox through { type filter hook forward priority 0; policy accept; }")
	b.Run(b.NSM, "nft", "add rule bridge mbox through tcp flags & (syn | ack) == ("+flags+") tcp option mptcp exists counter drop")
	dropped := func() int {
		out := b.Run(b.NSM, "nft", "list chain bridge mbox through")
		if _, tail, ok := strings.Cut(out, "counter packets "); ok {
			if n, err := strconv.Atoi(strings.Fields(tail)[0]); err == nil {
				return n
			}
		}
		t.Fatalf("no drop counter in the middlebox:\n%s", out)
		return 0
	}
	kernelNS := b.NSB
	if pair == kernelMpxdp {
		kernelNS = b.NSA
	}
	addrs := func(ns string) []netip.Addr {
		if ns == b.NSA {
			return []netip.Addr{b.Paths[0].A4}
		}
		return []netip.Addr{b.Paths[0].B4}
	}

	var ln net.Listener
	var err error
	var srv, cli *mpxdp.Stack
	if pair == mpxdpKernel {
		ln, err = testbed.ListenMPTCP(b.NSB, "0.0.0.0:"+strconv.Itoa(port))
		cli = newStack(t, b, b.NSA, mpxdp.Config{Addrs: addrs(b.NSA)}, afxdp.Config{})
	} else {
		srv = newStack(t, b, b.NSB, mpxdp.Config{Addrs: addrs(b.NSB)}, afxdp.Config{})
		ln, err = srv.Listen("tcp", ":"+strconv.Itoa(port))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	remote := netip.AddrPortFrom(b.Paths[0].B4, port)

	// dial opens one connection, moves 1 MiB each way (SHA-256 checked),
	// and reports how long the connect took and whether either end speaks
	// MPTCP.
	dial := func(what string) (took time.Duration, mptcp bool, reason string) {
		accepted := make(chan net.Conn, 1)
		go func() {
			sc, err := ln.Accept()
			if err != nil {
				t.Errorf("accept: %v", err)
			}
			accepted <- sc
		}()
		start := time.Now()
		var cc net.Conn
		if pair == kernelMpxdp {
			cc, err = testbed.DialMPTCP(b.NSA, netip.AddrPortFrom(b.Paths[0].A4, 0).String(), remote.String(), 20*time.Second)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			cc, err = cli.DialAddrPort(ctx, netip.AddrPortFrom(b.Paths[0].A4, 0), remote)
			cancel()
		}
		took = time.Since(start)
		if err != nil {
			t.Fatalf("%s: dial after %v: %v", what, took, err)
		}
		defer cc.Close()
		sc := <-accepted
		if sc == nil {
			t.FailNow()
		}
		defer sc.Close()
		exchange(t, cc, sc, 1<<20, 1<<20, 30*time.Second)
		m := cc
		if pair == kernelMpxdp {
			m = sc
		}
		mc := m.(*mpxdp.Conn)
		if fb := mc.Fallback(); fb != nil {
			reason = fb.Reason
		}
		t.Logf("%s: connected after %v, %d segments dropped, mpxdp: MPTCP %v, fallback %q", what, took.Round(time.Millisecond), dropped(), mc.MPTCP(), reason)
		return took, mc.MPTCP(), reason
	}

	// Three SYNs with MP_CAPABLE are dropped, the fourth has none: both
	// send them at 0, 1, 2 and 3 s (linear SYN timeouts: Linux's
	// net.ipv4.tcp_syn_linear_timeouts, 4 by default). The mpxdp client
	// whose fourth SYN's answer is dropped too sends the fifth, at 4 s,
	// from a new port.
	lo, hi := 2500*time.Millisecond, 5*time.Second
	took, mp, reason := dial("first connection")
	first := dropped() // the SYN/ACKs: 3 answers, and the timer's retransmissions
	if mp || took < lo || took > hi || first < 3 || !synAck && first != 3 {
		t.Errorf("first connection: MPTCP %v after %v, %d segments dropped; want plain TCP after %v to %v, 3 dropped", mp, took, first, lo, hi)
	}
	if pair == mpxdpKernel && !strings.Contains(reason, "blackhole") {
		t.Errorf("first connection: fallback %q, want a blackhole", reason)
	}
	// In blackhole mode the client does not try MPTCP. (The kernel
	// server's request for the client's first port repeats its SYN/ACK
	// until it expires: more drops.)
	orphan := synAck && pair == mpxdpKernel
	took, mp, reason = dial("second connection")
	if mp || took > time.Second || !orphan && dropped() != first {
		t.Errorf("second connection: MPTCP %v after %v, %d segments dropped; want plain TCP at once, still %d", mp, took, dropped(), first)
	}
	if pair == mpxdpKernel && !strings.Contains(reason, "blackhole mode") {
		t.Errorf("second connection: fallback %q, want blackhole mode", reason)
	}

	ks := b.Nstat(kernelNS)
	if pair == mpxdpKernel {
		st := cli.Stats().Endpoint
		moves := map[bool]uint64{false: 0, true: 1}[synAck]
		if st.MPCapableSYNTXDrop != 1 || st.Blackholes != 1 || st.MPCapableSYNTXDisabled != 1 || st.SYNPortMoves != moves {
			t.Errorf("mpxdp client: MPCapableSYNTXDrop %d, Blackholes %d, MPCapableSYNTXDisabled %d, SYNPortMoves %d; want 1, 1, 1, %d",
				st.MPCapableSYNTXDrop, st.Blackholes, st.MPCapableSYNTXDisabled, st.SYNPortMoves, moves)
		}
		if synAck && ks["MPTcpExtMPCapableSYNRX"] == 0 {
			t.Errorf("the kernel server counted no MP_CAPABLE SYN: %v", ks.Prefixed("MPTcpExt"))
		}
		if !synAck && ks["MPTcpExtMPCapableSYNRX"] != 0 {
			t.Errorf("the kernel server received %d MP_CAPABLE SYNs through the middlebox", ks["MPTcpExtMPCapableSYNRX"])
		}
	} else {
		for name, want := range map[string]uint64{"MPTcpExtMPCapableSYNTXDrop": 1, "MPTcpExtBlackhole": 1, "MPTcpExtMPCapableSYNTXDisabled": 1} {
			if ks[name] != want {
				t.Errorf("kernel client: %s %d, want %d: %v", name, ks[name], want, ks.Prefixed("MPTcpExt"))
			}
		}
		st := srv.Stats().Endpoint
		if want := map[bool]uint64{false: 0, true: 1}[synAck]; st.PlainAccepted != 2 || st.SynRequestsDowngraded != want {
			t.Errorf("mpxdp server: %d plain TCP connections accepted, %d requests downgraded; want 2, %d", st.PlainAccepted, st.SynRequestsDowngraded, want)
		}
	}
}

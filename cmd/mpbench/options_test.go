package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The options reach the stack under test, and every stack's subflows come
// with their RTT, window and retransmissions, per interval and at the end.

// senderOf returns the side that sent the test's data.
func senderOf(r *fullReport) *sideResult {
	if r.Spec.Reverse {
		return r.ServerSide
	}
	return r.Client
}

// checkSubflowStats checks the sender's subflows: each that carried data
// has an RTT and a congestion window, at the end and in the intervals, and
// the summary's retransmissions are theirs.
func checkSubflowStats(t *testing.T, r *fullReport, what string) {
	t.Helper()
	snd := senderOf(r)
	var retr uint64
	for _, c := range snd.Conns {
		if len(c.Subflows) == 0 {
			t.Errorf("%s: connection %d has no subflows: %+v", what, c.ID, c)
		}
		for _, sf := range c.Subflows {
			retr += sf.Retrans
			if sf.BytesOut > 0 && (sf.RTT <= 0 || sf.Cwnd <= 0) {
				t.Errorf("%s: subflow %s -> %s sent %d bytes with RTT %v ms, window %d", what, sf.Local, sf.Remote, sf.BytesOut, sf.RTT, sf.Cwnd)
			}
		}
	}
	if retr != r.Summary.Retransmits {
		t.Errorf("%s: subflows retransmitted %d segments, the summary says %d", what, retr, r.Summary.Retransmits)
	}
	busy := 0
	var ivRetr uint64
	for _, iv := range snd.Intervals {
		for _, c := range iv.Conns {
			for _, sf := range c.Subflows {
				ivRetr += sf.Retrans
				if sf.Bytes == 0 {
					continue
				}
				busy++
				if sf.RTT <= 0 || sf.Cwnd <= 0 {
					t.Errorf("%s: interval %.2f-%.2f, subflow %s -> %s: RTT %v ms, window %d", what, iv.Start, iv.End, sf.Local, sf.Remote, sf.RTT, sf.Cwnd)
				}
			}
		}
	}
	if busy == 0 || ivRetr > retr {
		t.Errorf("%s: %d subflow intervals with data, %d retransmissions in the intervals and %d at the end", what, busy, ivRetr, retr)
	}
}

// TestSubflowStats: RTT, window and retransmissions of the sender's
// subflows for each stack that runs without root (mpxdp over in-memory
// paths, Linux TCP and MPTCP over loopback; the bed tests check AF_XDP and
// the kernel across namespaces). A lossy path makes retransmissions that
// the intervals and the summary count.
func TestSubflowStats(t *testing.T) {
	r := runJSON(t, "client", "--stack", "mem", "-n", "8M", "-i", "50ms",
		"--path", "rate=200m,delay=2ms,loss=1%", "--path", "rate=200m,delay=3ms")
	checkTotals(t, r, 8<<20)
	checkSubflowStats(t, r, "mem, 1% loss on path 1")
	if r.Summary.Retransmits == 0 {
		t.Error("no retransmissions over a path that drops 1% of packets")
	}
	r = runJSON(t, "client", "--stack", "mem", "-n", "8M", "-R", "-i", "50ms")
	checkSubflowStats(t, r, "mem -R")

	port := startServer(t, "--stack", "tcp")
	r = runJSON(t, "client", "127.0.0.1", "-p", fmt.Sprint(port), "--stack", "tcp", "-n", "32M", "-i", "20ms", "-R", "-P", "2")
	checkTotals(t, r, 32<<20)
	checkSubflowStats(t, r, "tcp -R -P 2")

	if b, err := os.ReadFile("/proc/sys/net/mptcp/enabled"); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Skip("MPTCP is off in this network namespace (net.mptcp.enabled)")
	}
	port = startServer(t, "--stack", "kernel")
	r = runJSON(t, "client", "127.0.0.1", "-p", fmt.Sprint(port), "--stack", "kernel", "-n", "32M", "-i", "20ms")
	checkTotals(t, r, 32<<20)
	checkSubflowStats(t, r, "kernel MPTCP")
}

// TestMemOptions: --pm, --subflows, --sched and --checksum change what the
// mpxdp stacks do.
func TestMemOptions(t *testing.T) {
	const n = 8 << 20
	sent := func(c connResult) (b uint64) {
		for _, sf := range c.Subflows {
			b += sf.BytesOut
		}
		return b
	}

	// The default: fullmesh server, one subflow per path, each byte once
	// (and its retransmissions), no DSS checksums.
	r := runJSON(t, "client", "--stack", "mem", "-n", "8M")
	c := r.Client.Conns[0]
	if len(c.Subflows) != 2 || sent(c) > n*11/10 || c.Checksums || r.ServerSide.Conns[0].Checksums {
		t.Errorf("default: %d subflows sent %d bytes for %d, checksums %v/%v", len(c.Subflows), sent(c), n, c.Checksums, r.ServerSide.Conns[0].Checksums)
	}

	// manual: the client opens no subflow beyond the first.
	r = runJSON(t, "client", "--stack", "mem", "-n", "8M", "--pm", "manual")
	if c := r.Client.Conns[0]; len(c.Subflows) != 1 {
		t.Errorf("--pm manual: %d subflows, want 1: %+v", len(c.Subflows), c.Subflows)
	}

	// ndiffports: three subflows between the same two addresses.
	r = runJSON(t, "client", "--stack", "mem", "-n", "8M", "--subflows", "3", "--path", "delay=1ms")
	checkTotals(t, r, n)
	c = r.Client.Conns[0]
	ports := map[uint16]bool{}
	for _, sf := range c.Subflows {
		l, r := netip.MustParseAddrPort(sf.Local), netip.MustParseAddrPort(sf.Remote)
		ports[l.Port()] = true
		if l.Addr() != netip.MustParseAddr("10.0.1.1") || r.Addr() != memServerAddr {
			t.Errorf("--subflows 3: subflow %s -> %s, want 10.0.1.1 -> %v", sf.Local, sf.Remote, memServerAddr)
		}
	}
	if len(c.Subflows) != 3 || len(ports) != 3 {
		t.Errorf("--subflows 3: %d subflows from %d ports: %+v", len(c.Subflows), len(ports), c.Subflows)
	}

	// redundant: each segment goes on both subflows, less what the peer
	// already had when the slower one had room for it.
	r = runJSON(t, "client", "--stack", "mem", "-n", "8M", "--sched", "redundant")
	checkTotals(t, r, n)
	if c := r.Client.Conns[0]; sent(c) < n*3/2 {
		t.Errorf("--sched redundant: the subflows sent %d bytes for %d", sent(c), n)
	}

	// DSS checksums, on both ends.
	r = runJSON(t, "client", "--stack", "mem", "-n", "8M", "--checksum")
	checkTotals(t, r, n)
	if !r.Client.Conns[0].Checksums || !r.ServerSide.Conns[0].Checksums {
		t.Errorf("--checksum: in use at the client %v, at the server %v", r.Client.Conns[0].Checksums, r.ServerSide.Conns[0].Checksums)
	}
	code, out, errs := runCLI(t, context.Background(), "client", "--stack", "mem", "-n", "1M", "--checksum")
	if code != 0 || !strings.Contains(out, "2 subflow(s), DSS checksums, seen by the client") {
		t.Errorf("--checksum text report: exit %d\n%s\n%s", code, out, errs)
	}
}

// TestTextModes: the text report of --latency gives the delay's
// quantiles and a histogram; that of --rr the requests per second and the
// completion times.
func TestTextModes(t *testing.T) {
	// Bulk: the sender's interval lines give each subflow's rate, RTT and
	// window; the receiver's (-R at the client) the rates alone.
	sub := regexp.MustCompile(`(?m)^\[  1\]  0\.00-\S+ s .* 2: \S+ [kMG]?bit \(\S+ [µm]?s, \S+ [KM]?i?B\) \+ \S+ [kMG]?bit \(\S+ [µm]?s, \S+ [KM]?i?B\)$`)
	for _, reverse := range []bool{false, true} {
		args := []string{"client", "--stack", "mem", "-n", "4M", "-i", "10ms", "--path", "rate=1g", "--path", "rate=1g"}
		if reverse {
			args = append(args, "-R")
		}
		code, out, errs := runCLI(t, context.Background(), args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		if got := sub.MatchString(out); got == reverse || strings.Contains(out, "(rtt, cwnd)") == reverse {
			t.Errorf("-R %v: interval lines with subflow RTT and window: %v, want %v:\n%s", reverse, got, !reverse, out)
		}
	}

	code, out, errs := runCLI(t, context.Background(), "client", "--stack", "mem", "--latency", "-n", "2M", "--path", "delay=2ms")
	if code != 0 {
		t.Fatalf("--latency: exit %d: %s", code, errs)
	}
	for _, want := range []string{"latency of 8.0 KiB blocks", "application delay of 8.0 KiB blocks (write at the sender to read at the receiver): 256 samples",
		"  p50 ", "   p90 ", "   p99 ", "%  #"} {
		if !strings.Contains(out, want) {
			t.Errorf("--latency output lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = runCLI(t, context.Background(), "client", "--stack", "mem", "--rr", "16K", "-P", "2", "-t", "0.4", "-i", "0.2")
	if code != 0 {
		t.Fatalf("--rr: exit %d: %s", code, errs)
	}
	for _, want := range []string{"interval         requests     requests/s", "request/response of 16.0 KiB, 2 clients, closed loop: ",
		" requests/s (", "completion time (connect to last byte): ", "  p50 ", "%  #"} {
		if !strings.Contains(out, want) {
			t.Errorf("--rr output lacks %q:\n%s", want, out)
		}
	}
}

// TestOptionErrors: names the stack does not know, and impossible subflow
// counts, are usage errors that list what is accepted (an unknown
// scheduler used to reach the engine and crash the process).
func TestOptionErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--sched", "fastest"}, `--sched "fastest": want one of lowrtt, redundant, roundrobin`},
		{[]string{"--cc", "bbr"}, `--cc "bbr": want one of balia, cubic, lia, olia, reno`},
		{[]string{"--pm", "meshy"}, `--pm "meshy": want one of fullmesh, manual, ndiffports`},
		{[]string{"--subflows", "-1"}, "--subflows -1: want 1..8"},
		{[]string{"--subflows", "9"}, "--subflows 9: want 1..8"},
		{[]string{"--subflows", "2", "--pm", "fullmesh"}, "--subflows sets ndiffports' count"},
	} {
		for _, where := range [][]string{{"client", "--stack", "mem", "-n", "1M"}, {"server", "--stack", "xdp", "--dev", "lo"}} {

			args := append(append([]string(nil), where...), c.args...)
			code, out, errs := runCLI(t, context.Background(), args...)
			if code != exitUsage || !strings.Contains(errs, c.want) {
				t.Errorf("mpbench %s: exit %d, %q %q; want exit %d and %q", strings.Join(args, " "), code, out, errs, exitUsage, c.want)
			}
		}
	}
	// The kernel binds one address; its path manager adds the others.
	for _, c := range []struct {
		stack, want string
	}{
		{"kernel", "`ip mptcp endpoint add 10.0.2.2 dev IFACE subflow`"},
		{"tcp", "--addr takes one address with --stack tcp"},
	} {
		code, _, errs := runCLI(t, context.Background(), "client", "10.0.1.1", "--stack", c.stack, "--addr", "10.0.1.2,10.0.2.2")
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("--stack %s with two addresses: exit %d, %q; want %q", c.stack, code, errs, c.want)
		}
	}
}

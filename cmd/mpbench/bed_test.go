package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The tests over the two-path veth bed of scripts/testbed.sh: kernel MPTCP
// and mpxdp over AF_XDP, server and client in their own namespaces and
// processes (this test binary acting as mpbench), as users run them. They
// need root; CI runs them.

func needBed(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, veth, XDP, AF_XDP); CI runs as root")
	}
	for _, tool := range []string{"ip", "ethtool", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("needs %s in PATH (.ci/run installs it with apt-get)", tool)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// newBed builds a bed named mpxB… and deletes it when the test ends.
func newBed(t *testing.T) *bed {
	t.Helper()
	needBed(t)
	script, err := findScript()
	if err != nil {
		t.Fatal(err)
	}
	var r [3]byte
	rand.Read(r[:])
	b := &bed{script: script, name: demoPrefix + hex.EncodeToString(r[:])}
	b.nsa, b.nsb = b.name+"a", b.name+"b"
	t.Cleanup(func() {
		if err := b.down(); err != nil {
			t.Error(err)
		}
	})
	if err := b.up(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

// bedServer starts `mpbench server` in namespace B on port, stopped (by its
// PID, with SIGINT) when the test ends.
func bedServer(t *testing.T, b *bed, port int, args ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"server", "--netns", b.nsb, "-p", fmt.Sprint(port)}, args...)...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	var errs strings.Builder
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "mpbench server: control port") {
				ready <- true
			}
			errs.WriteString(sc.Text() + "\n")
		}
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("server %v did not stop on SIGINT", args)
		}
		if t.Failed() {
			t.Logf("server %v output:\n%s\n%s", args, out.String(), errs.String())
		}
	})
	select {
	case <-ready:
	case <-exited:
		t.Fatalf("server %v exited:\n%s", args, errs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("server %v not ready", args)
	}
}

// bedClient runs `mpbench client --json` in namespace A and decodes the
// report; the client must succeed.
func bedClient(t *testing.T, b *bed, port int, args ...string) *fullReport {
	t.Helper()
	r, err := bedClientStatus(t, b, port, args...)
	if err != nil {
		t.Fatalf("mpbench client %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// bedClientStatus is bedClient for a client that may report errors (exit
// status 1 with a report).
func bedClientStatus(t *testing.T, b *bed, port int, args ...string) (*fullReport, error) {
	t.Helper()
	all := append([]string{"client", "10.0.1.1", "--netns", b.nsa, "-p", fmt.Sprint(port), "--json"}, args...)
	cmd := exec.Command(os.Args[0], all...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var r fullReport
	if jerr := json.Unmarshal(out, &r); jerr != nil || r.Client == nil || r.ServerSide == nil {
		if len(out) == 0 && err != nil {
			return nil, err // failed before a test: the error says why
		}
		t.Fatalf("mpbench %s: %v; report: %v\n%s", strings.Join(all, " "), err, jerr, out)
	}
	return &r, err
}

// checkPaths checks that every connection of the sender is MPTCP with one
// subflow per path, each carrying data.
func checkPaths(t *testing.T, r *fullReport, what string) {
	t.Helper()
	snd := r.Client
	if r.Spec.Reverse {
		snd = r.ServerSide
	}
	for _, c := range snd.Conns {
		// The client's address names the path: the server answers on the
		// address it was reached at, path 1's, also over path 2.
		paths := map[int]bool{}
		for _, sf := range c.Subflows {
			a := sf.Local
			if snd.Role == "server" {
				a = sf.Remote
			}
			if sf.BytesOut > 0 {
				paths[pathOf(a)] = true
			}
		}
		if !c.MPTCP || len(c.Subflows) != 2 || !paths[1] || !paths[2] {
			t.Errorf("%s: connection %d: MPTCP %v, subflows %+v; want one per path, both used", what, c.ID, c.MPTCP, c.Subflows)
		}
	}
}

// TestBedClientServer runs the client and server commands across the bed:
// kernel MPTCP and mpxdp over AF_XDP on both sides, bulk both ways, several
// connections, latency and request/response.
func TestBedClientServer(t *testing.T) {
	b := newBed(t)
	devs := func(side string) string { return b.name + side + "1," + b.name + side + "2" }
	const kport, xport = 5300, 5400
	bedServer(t, b, kport, "--stack", "kernel")
	bedServer(t, b, xport, "--stack", "xdp", "--dev", devs("b"), "--pm", "manual")
	kernel := []string{"--stack", "kernel", "--addr", "10.0.1.2"}
	xdp := []string{"--stack", "xdp", "--dev", devs("a"), "--addr", "10.0.1.2,10.0.2.2"}

	r := bedClient(t, b, kport, append(xdp, "-n", "32M", "-P", "2")...)
	checkTotals(t, r, 32<<20)
	checkPaths(t, r, "mpxdp -> kernel -P 2")
	checkSubflowStats(t, r, "mpxdp -> kernel -P 2")
	t.Logf("mpxdp -> kernel, 2 connections: %s", fmtRate(r.Summary.BitsPerSecond))

	// -t, not -n: the kernel client joins from path 2 once the connection
	// is fully established, which a short transfer may outrun.
	r = bedClient(t, b, xport, append(kernel, "-t", "1", "-R")...)
	checkTotals(t, r, 0)
	checkPaths(t, r, "kernel <- mpxdp -R")
	checkSubflowStats(t, r, "kernel <- mpxdp -R")
	t.Logf("kernel <- mpxdp: %s", fmtRate(r.Summary.BitsPerSecond))

	r = bedClient(t, b, xport, append(xdp, "-n", "8M", "--latency")...)
	checkTotals(t, r, 8<<20)
	checkPaths(t, r, "mpxdp -> mpxdp --latency")
	checkSubflowStats(t, r, "mpxdp -> mpxdp --latency")
	if l := r.ServerSide.Latency; l == nil || l.Count != 8<<20/latencyBlock || l.Min <= 0 || l.P99 < l.P50 {
		t.Errorf("latency %+v", l)
	}

	// -R with -P against the kernel: the kernel server sends on both
	// connections; the totals agree connection by connection.
	r = bedClient(t, b, kport, append(xdp, "-n", "16M", "-R", "-P", "2")...)
	checkTotals(t, r, 16<<20)
	checkSubflowStats(t, r, "mpxdp <- kernel -R -P 2")

	// The kernel client over both paths, subflows as MPTCP_TCPINFO gives them.
	r = bedClient(t, b, xport, append(kernel, "-t", "1")...)
	checkTotals(t, r, 0)
	checkPaths(t, r, "kernel -> mpxdp")
	checkSubflowStats(t, r, "kernel -> mpxdp")

	// DSS checksums asked by mpxdp: the kernel server uses them too
	// (MPTCP_INFO), though its sysctl does not ask.
	r = bedClient(t, b, kport, append(xdp, "--checksum", "-n", "8M")...)
	checkTotals(t, r, 8<<20)
	if !r.Client.Conns[0].Checksums || !r.ServerSide.Conns[0].Checksums {
		t.Errorf("mpxdp --checksum -> kernel: checksums in use at the client %v, at the server %v", r.Client.Conns[0].Checksums, r.ServerSide.Conns[0].Checksums)
	}

	// Generic (SKB) mode XDP; and a NIC without native XDP (lo).
	r = bedClient(t, b, kport, append(xdp, "--xdp-generic", "-n", "8M")...)
	checkTotals(t, r, 8<<20)
	if _, err := bedClientStatus(t, b, kport, "--stack", "xdp", "--dev", "lo", "-n", "1M"); err == nil ||
		!strings.Contains(err.Error(), "the driver has no native XDP") || !strings.Contains(err.Error(), "--xdp-generic") {
		t.Errorf("XDP on lo: %v; want the driver's refusal and the way out", err)
	}

	for _, c := range []struct {
		port int
		args []string
	}{{xport, kernel}, {kport, xdp}} {
		r, err := bedClientStatus(t, b, c.port, append(c.args, "--rr", "64K", "-P", "8", "-t", "1")...)
		if r == nil {
			t.Fatal(err)
		}
		checkRR(t, r, 64<<10, err)
		t.Logf("--rr 64K, 8 clients, %s -> %s: %.0f requests/s", r.Client.Stack, r.ServerSide.Stack, r.Client.RequestsPerS)
	}
}

// TestDemoBed runs the demo as users do (shorter rows): every row of the
// matrix succeeds and the bed is gone afterwards.
func TestDemoBed(t *testing.T) {
	needBed(t)
	code, out, errs := runCLI(t, context.Background(), "demo", "-t", "1")
	t.Logf("\n%s", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, row := range []string{"kernel TCP, path 1", "kernel -> kernel", "mpxdp  -> kernel", "kernel -> mpxdp", "mpxdp  -> mpxdp"} {
		if !strings.Contains(out, "\n"+row+" ") {
			t.Errorf("no row %q", row)
		}
	}
	if strings.Contains(out, "failed") || !strings.Contains(out, "removed") {
		t.Error("a row failed, or the bed was not removed")
	}
	name := ""
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, demoPrefix) && len(f) == len(demoPrefix)+6 {
			name = f
		}
	}
	if name == "" {
		t.Fatal("the output does not name the bed")
	}
	for _, ns := range []string{name + "a", name + "b"} {
		if _, err := os.Stat("/var/run/netns/" + ns); err == nil {
			t.Errorf("namespace %s left behind", ns)
		}
	}
}

// TestDemoBedInterrupt: Ctrl-C during the demo stops it, prints the rows
// measured so far and deletes the bed.
func TestDemoBedInterrupt(t *testing.T) {
	needBed(t)
	cmd := exec.Command(os.Args[0], "demo", "-t", "30")
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var out strings.Builder
	name := ""
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if f := strings.Fields(sc.Text()); len(f) > 2 && f[0] == "test" && f[1] == "bed" {
			name = strings.TrimSuffix(f[2], ":")
		}
		if strings.HasPrefix(sc.Text(), "client -> server") {
			break
		}
	}
	time.Sleep(2 * time.Second) // in the first row's transfer
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	t.Logf("\n%s", out.String())
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Errorf("exit %v, want %d", err, exitInterrupted)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("stopping took %v", el)
	}
	if name == "" || !strings.Contains(out.String(), "test bed "+name+" removed") {
		t.Errorf("bed %q not reported removed", name)
	}
	for _, ns := range []string{name + "a", name + "b"} {
		if _, err := os.Stat("/var/run/netns/" + ns); err == nil {
			t.Errorf("namespace %s left behind", ns)
			exec.Command("ip", "netns", "del", ns).Run()
		}
	}
}

// TestDemoBedFailure: a row that fails (here a server on a missing NIC)
// is reported in its place with the reason, the other rows run, the demo
// exits with status 1, and the bed is removed.
func TestDemoBedFailure(t *testing.T) {
	needBed(t)
	defer func(m func(*bed) []bedRow) { bedMatrix = m }(bedMatrix)
	bedMatrix = func(b *bed) []bedRow {
		broken := bedRow{"broken server", []string{"--stack", "tcp", "--addr", "10.0.1.2"}, []string{"--stack", "xdp", "--dev", "mpaNone0"}}
		return []bedRow{broken, demoMatrix(b)[0]}
	}
	code, out, errs := runCLI(t, context.Background(), "demo", "-t", "0.5")
	t.Logf("\n%s", out)
	if code != exitFail || !strings.Contains(errs, "1 of 2 rows failed") {
		t.Errorf("exit %d, %q; want exit %d and the count of failed rows", code, errs, exitFail)
	}
	if !strings.Contains(out, "\nbroken server              failed: server exited") || !strings.Contains(out, "--dev mpaNone0: no such interface") {
		t.Error("the broken row does not say why it failed")
	}
	if !strings.Contains(out, "\nkernel TCP, path 1 ") || strings.Count(out, "failed") != 1 {
		t.Error("the row after the broken one did not run")
	}
	name := ""
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, demoPrefix) && len(f) == len(demoPrefix)+6 {
			name = f
		}
	}
	if name == "" || !strings.Contains(out, "test bed "+name+" removed") {
		t.Fatalf("bed %q not reported removed", name)
	}
	for _, ns := range []string{name + "a", name + "b"} {
		if _, err := os.Stat("/var/run/netns/" + ns); err == nil {
			t.Errorf("namespace %s left behind", ns)
			exec.Command("ip", "netns", "del", ns).Run()
		}
	}
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The client and server end to end over mpxdp on in-memory paths
// (--stack mem: both ends in this process), without root.

func TestMemBulk(t *testing.T) {
	r := runJSON(t, "client", "--stack", "mem", "-n", "8M", "-i", "50ms")
	checkTotals(t, r, 8<<20)
	c := r.Client.Conns[0]
	if !c.MPTCP || len(c.Subflows) != 2 {
		t.Fatalf("client connection: MPTCP %v, %d subflows; want MPTCP over both paths: %+v", c.MPTCP, len(c.Subflows), c)
	}
	for _, sf := range c.Subflows {
		if sf.BytesOut == 0 || sf.RTT <= 0 || sf.Cwnd <= 0 {
			t.Errorf("subflow %s -> %s: %+v; want data, an RTT and a window", sf.Local, sf.Remote, sf)
		}
		// One subflow per path, each on its own subnet (pairedPM).
		if pathOf(sf.Local) != pathOf(sf.Remote) {
			t.Errorf("subflow %s -> %s crosses paths", sf.Local, sf.Remote)
		}
	}
	if !r.Client.CPU.Shared || !r.ServerSide.CPU.Shared {
		t.Error("--stack mem CPU not marked as shared by both ends")
	}
}

func TestMemReverseParallel(t *testing.T) {
	const n = 6<<20 + 5 // not a multiple of the connections
	r := runJSON(t, "client", "--stack", "mem", "-R", "-P", "3", "-n", fmt.Sprint(n))
	checkTotals(t, r, n)
	if !r.ServerSide.Sender || r.Client.Sender {
		t.Fatal("-R: the server must send")
	}
	for i, c := range r.ServerSide.Conns {
		if want := uint64(share(n, 3, c.ID-1)); c.BytesSent != want {
			t.Errorf("connection %d (%d): sent %d, want %d", c.ID, i, c.BytesSent, want)
		}
	}
}

func TestMemTimed(t *testing.T) {
	start := time.Now()
	r := runJSON(t, "client", "--stack", "mem", "-t", "0.6", "-i", "0.2", "-P", "2")
	checkTotals(t, r, 0)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("a 0.6 s test took %v", el)
	}
	if s := r.Client.Seconds; s < 0.55 || s > 2 {
		t.Errorf("the sender ran %.2f s, want about 0.6", s)
	}
	// Intervals of 0.2 s (longer when a tick comes late on a loaded
	// machine), then a short last one, covering the side's span.
	ivs := r.Client.Intervals
	if n, most := len(ivs), int(r.Client.Seconds/0.2)+1; n < 2 || n > most {
		t.Errorf("%d client intervals for %.2f s at 0.2 s", n, r.Client.Seconds)
	}
	for i, ir := range ivs {
		if i == 0 && ir.Start != 0 || i > 0 && ir.Start != ivs[i-1].End || ir.End-ir.Start < 0.19 && i < len(ivs)-1 {
			t.Errorf("interval %d: %.3f-%.3f after %+v", i, ir.Start, ir.End, ivs[max(i-1, 0)])
		}
	}
	if last := ivs[len(ivs)-1].End; last-r.Client.Seconds > 0.001 || r.Client.Seconds-last > 0.001 {
		t.Errorf("intervals end at %.3f s, the side at %.3f s", last, r.Client.Seconds)
	}
	for _, ir := range r.Client.Intervals {
		if len(ir.Conns) != 2 || len(ir.Conns[0].Subflows) == 0 {
			t.Errorf("interval %.2f-%.2f: %d connections, %+v", ir.Start, ir.End, len(ir.Conns), ir.Conns)
		}
	}
}

func TestMemLatency(t *testing.T) {
	r := runJSON(t, "client", "--stack", "mem", "--latency", "-n", "4M", "--path", "rate=200m,delay=2ms", "--path", "rate=200m,delay=6ms")
	checkTotals(t, r, 4<<20)
	lat := r.ServerSide.Latency
	if lat == nil || r.Client.Latency != nil {
		t.Fatalf("latency is the receiver's: server %v, client %v", lat, r.Client.Latency)
	}
	if want := uint64(4 << 20 / latencyBlock); lat.Count != want {
		t.Errorf("%d samples, want one per 8 KiB block: %d", lat.Count, want)
	}
	// Every block crossed a path with at least 2 ms of delay.
	if lat.Min < 1.9 || !(lat.Min <= lat.P50 && lat.P50 <= lat.P90 && lat.P90 <= lat.P99 && lat.P99 <= lat.Max) {
		t.Errorf("quantiles out of order or below the path delay: %+v", lat)
	}
	var binned uint64
	for _, b := range lat.Bins {
		binned += b.Count
	}
	if binned != lat.Count {
		t.Errorf("bins hold %d of %d samples", binned, lat.Count)
	}
	// The reverse direction measures at the client.
	r = runJSON(t, "client", "--stack", "mem", "--latency", "-R", "-n", "1M")
	if r.Client.Latency == nil || r.Client.Latency.Count != 1<<20/latencyBlock {
		t.Errorf("-R --latency: client latency %+v", r.Client.Latency)
	}
}

func TestMemRR(t *testing.T) {
	code, out, errs := runCLI(t, context.Background(), "client", "--stack", "mem", "--rr", "32K", "-P", "4", "-t", "0.5", "--json")
	var r fullReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Client == nil || r.ServerSide == nil {
		t.Fatalf("exit %d, report %v:\n%s\n%s", code, err, out, errs)
	}
	var err error
	if code != 0 {
		err = fmt.Errorf("exit %d: %s", code, errs)
	}
	checkRR(t, &r, 32<<10, err)
}

// checkRR checks a request/response report: every request succeeded, both
// sides count the same requests, bytes match, completion times are there.
func checkRR(t *testing.T, r *fullReport, size uint64, exitErr error) {
	t.Helper()
	c, s := r.Client, r.ServerSide
	if c.Requests == 0 {
		t.Fatalf("no request completed: %v %v", exitErr, c.Errors)
	}
	if c.RequestsFail > 0 || exitErr != nil {
		t.Errorf("%d of %d requests failed (%v): %v", c.RequestsFail, c.Requests+c.RequestsFail, exitErr, c.Errors)
	}
	// The server counts a response when written, the client when read to
	// the end: a request that failed at the client may count at the server.
	if s.Requests < c.Requests || s.Requests > c.Requests+c.RequestsFail || s.BytesSent < c.Requests*size ||
		c.BytesReceived < c.Requests*size || c.BytesReceived > (c.Requests+c.RequestsFail)*size {
		t.Errorf("client %d requests (%d failed, %d bytes), server %d (%d bytes)", c.Requests, c.RequestsFail, c.BytesReceived, s.Requests, s.BytesSent)
	}
	if c.Latency == nil || c.Latency.Count != c.Requests || r.Summary.RequestsPerSecond <= 0 {
		t.Errorf("completion times %+v, summary %+v", c.Latency, r.Summary)
	}
}

// TestTextReport checks the text output's parts over the pipe.
func TestTextReport(t *testing.T) {
	code, out, errs := runCLI(t, context.Background(), "client", "--stack", "mem", "-n", "2M", "-P", "2", "-i", "20ms")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	for _, want := range []string{"mpbench client: mpxdp over 2 in-memory path(s)", "[SUM]", "sender (client)", "receiver (server)",
		"MPTCP 10.0.1.1:", "2 subflow(s)", "rtt", "cwnd", "both ends in this process"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[K") {
		t.Error("progress line written to a non-terminal")
	}
}

// freePort returns a port that is free now, with the next one free too.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if p >= 65534 {
			continue
		}
		if ln2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1)); err == nil {
			ln2.Close()
			return p
		}
	}
	t.Fatal("no two free ports in a row")
	return 0
}

// startServer runs `mpbench server` in this process until the test ends.
func startServer(t *testing.T, args ...string) int {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var mu sync.Mutex
	var errs string
	go func() {
		defer close(done)
		_, _, e := runCLI(t, ctx, append([]string{"server", "--bind", "127.0.0.1", "-p", fmt.Sprint(port)}, args...)...)
		mu.Lock()
		errs = e
		mu.Unlock()
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	if !waitFor(5*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			// A probe that is not a test: the server refuses it.
			c.Close()
		}
		return err == nil
	}) {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("server did not start: %s", errs)
	}
	return port
}

// TestKernelTCPLoopback runs client and server on Linux TCP over loopback:
// the control protocol between two ends, and TCP_INFO.
func TestKernelTCPLoopback(t *testing.T) {
	port := startServer(t, "--stack", "tcp")
	r := runJSON(t, "client", "127.0.0.1", "-p", fmt.Sprint(port), "--stack", "tcp", "-n", "16M", "-P", "2")
	checkTotals(t, r, 16<<20)
	for _, c := range r.Client.Conns {
		if c.MPTCP || len(c.Subflows) != 1 || c.Subflows[0].BytesOut < c.BytesSent || c.Subflows[0].Local != c.Local {
			t.Errorf("TCP connection %+v: want one subflow from TCP_INFO that sent every byte", c)
		}
	}
	r = runJSON(t, "client", "127.0.0.1", "-p", fmt.Sprint(port), "--stack", "tcp", "-n", "4M", "-R")
	checkTotals(t, r, 4<<20)
}

// TestKernelMPTCPLoopback: the kernel's MPTCP sockets and their subflows
// (MPTCP_TCPINFO and MPTCP_SUBFLOW_ADDRS).
func TestKernelMPTCPLoopback(t *testing.T) {
	if b, err := os.ReadFile("/proc/sys/net/mptcp/enabled"); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Skip("MPTCP is off in this network namespace (net.mptcp.enabled)")
	}
	port := startServer(t, "--stack", "kernel")
	r := runJSON(t, "client", "127.0.0.1", "-p", fmt.Sprint(port), "--stack", "kernel", "-n", "8M", "--latency")
	checkTotals(t, r, 8<<20)
	c := r.Client.Conns[0]
	if !c.MPTCP || len(c.Subflows) != 1 {
		t.Fatalf("kernel MPTCP connection: %+v", c)
	}
	if sf := c.Subflows[0]; sf.Local != c.Local || sf.Remote != c.Remote || sf.BytesOut < 8<<20 || sf.RTT <= 0 || sf.Cwnd <= 0 {
		t.Errorf("subflow %+v of connection %s -> %s", sf, c.Local, c.Remote)
	}
	if l := r.ServerSide.Latency; l == nil || l.Count != 8<<20/latencyBlock || l.ClockError <= 0 {
		t.Errorf("latency %+v", l)
	}
	r = runJSON(t, "client", "127.0.0.1", "-p", fmt.Sprint(port), "--stack", "kernel", "--rr", "16K", "-P", "4", "-t", "0.3")
	if r.Client.Requests == 0 || r.Client.Requests != r.ServerSide.Requests {
		t.Errorf("rr: client %d, server %d requests", r.Client.Requests, r.ServerSide.Requests)
	}
}

// TestErrors: what the user is told.
func TestErrors(t *testing.T) {
	port := freePort(t)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"client", "127.0.0.1", "-p", fmt.Sprint(port), "--stack", "tcp", "-t", "1"}, exitFail, "no mpbench server at 127.0.0.1"},
		{[]string{"client", "10.0.0.1", "--stack", "xdp"}, exitUsage, "needs --dev"},
		{[]string{"client", "10.0.0.1", "--stack", "quic"}, exitUsage, "want one of xdp, kernel, tcp, mem"},
		{[]string{"client", "10.0.0.1", "--stack", "kernel", "--pm", "ndiffports"}, exitUsage, "ip mptcp endpoint"},
		{[]string{"client", "10.0.0.1", "--stack", "kernel", "--subflows", "4"}, exitUsage, "ndiffports"},
		{[]string{"client", "10.0.0.1", "--stack", "kernel", "--cc", "lia"}, exitFail + 1, "the kernel offers"},
		{[]string{"client"}, exitUsage, "which server?"},
		{[]string{"client", "--stack", "mem", "-t", "x"}, exitUsage, "invalid value"},
		{[]string{"client", "--stack", "mem", "--rr", "1K", "-R"}, exitUsage, "do not apply"},
		{[]string{"client", "--stack", "mem", "--path", "jitter=1ms"}, exitUsage, "unknown path setting"},
		{[]string{"client", "--stack", "mem", "-P", "1000"}, exitUsage, "parallel 1000"},
		{[]string{"server", "--stack", "mem"}, exitUsage, "mpbench client --stack mem"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"client", "10.0.0.1", "--stack", "xdp", "--dev", "mpxBnonexistent0"}, exitFail, "no such interface"},
	}
	for _, c := range cases {
		code, out, errs := runCLI(t, context.Background(), c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("mpbench %s: exit %d, %q; want exit %d and %q", strings.Join(c.args, " "), code, out+errs, c.code, c.want)
		}
	}
}

// TestControlProtocol: a server meets a peer that is not an mpbench
// client of its version, and data connections without a test; it answers
// with errors and counts them, never falls over.
func TestControlProtocol(t *testing.T) {
	st := &kernelStack{}
	dl, err := st.Listen(0)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	s := &server{st: st, out: os.Stderr, json: true, dataPort: dl.Addr().(*net.TCPAddr).Port}
	go s.acceptData(dl)
	serve := func(send string) (string, error) {
		a, b := net.Pipe()
		defer a.Close()
		errc := make(chan error, 1)
		go func() {
			_, err := s.serve(context.Background(), b)
			errc <- err
		}()
		a.SetDeadline(time.Now().Add(5 * time.Second))
		a.Write([]byte(send))
		buf := make([]byte, 4096)
		n, _ := a.Read(buf)
		a.Close()
		return string(buf[:n]), <-errc
	}
	for _, c := range []struct{ send, want string }{
		{"GET / HTTP/1.0\r\n\r\n", "expected an mpbench hello"},
		{`{"mpbench":99,"type":"hello"}` + "\n", "version mismatch: the peer speaks mpbench protocol 99"},
		{`{"mpbench":1,"type":"hello"}` + "\n", "hello without a test"},
		{`{"mpbench":1,"type":"hello","spec":{"mode":"bulk","parallel":0}}` + "\n", "test refused: parallel 0"},
		{`{"mpbench":1,"type":"start"}` + "\n", "expected an mpbench hello"},
	} {
		got, err := serve(c.send)
		if !strings.Contains(got, c.want) || err == nil {
			t.Errorf("sent %q: got %q (%v), want %q", c.send, got, err, c.want)
		}
	}
	if s.badControl.Load() != 3 {
		t.Errorf("bad control connections counted: %d, want 3", s.badControl.Load())
	}
	// Data connections without a test, or with junk: closed and counted.
	for _, junk := range []string{"mpB1\x01\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08", "hello world, what is this?"} {
		c, err := net.Dial("tcp", dl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(junk))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Errorf("data connection with %q: read %d, %v; want it closed", junk, n, err)
		}
		c.Close()
	}
	if !waitFor(2*time.Second, func() bool { return s.badData.Load() == 2 }) {
		t.Errorf("bad data connections counted: %d, want 2", s.badData.Load())
	}

	// A test whose data connections repeat a stream index is refused.
	a, b := net.Pipe()
	defer a.Close()
	go s.serve(context.Background(), b)
	k := newCtl(a)
	sp := testSpec{Cookie: newCookie(), Mode: modeBulk, Parallel: 2, Duration: time.Second, Block: 1024, Interval: time.Second}
	a.SetDeadline(time.Now().Add(10 * time.Second))
	if err := k.send(ctlMsg{Type: "hello", Spec: &sp}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.expect("accept"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c, err := net.Dial("tcp", dl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		h, _ := dataHeader(kindBulk, 0, sp.Cookie)
		c.Write(h[:])
	}
	k.send(ctlMsg{Type: "start"})
	if _, err := k.expect("started"); err == nil || !strings.Contains(err.Error(), "stream index 0: a duplicate") {
		t.Errorf("duplicate stream index: %v", err)
	}
}

// TestClientVersionMismatch: a client meeting a server of another version
// says so.
func TestClientVersionMismatch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Read(make([]byte, 4096))
		b, _ := json.Marshal(map[string]any{"mpbench": 2, "type": "accept"})
		c.Write(append(b, '\n'))
		time.Sleep(100 * time.Millisecond)
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	code, out, errs := runCLI(t, context.Background(), "client", "127.0.0.1", "-p", fmt.Sprint(port), "--stack", "tcp", "-t", "1")
	if code != exitFail || !strings.Contains(errs, "version mismatch: the peer speaks mpbench protocol 2, this mpbench 1") {
		t.Errorf("exit %d, %q %q", code, out, errs)
	}
}

// TestInterrupt: Ctrl-C (SIGINT) stops a client early: the transfer ends,
// the report of what was measured is printed, the exit status is 130.
func TestInterrupt(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		args := []string{"client", "--stack", "mem", "-t", "60", "-i", "0.2"}
		if reverse {
			args = append(args, "-R")
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), envRunMain+"=1")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Interrupt once the test runs (its first interval is out).
		sc := bufio.NewScanner(stdout)
		var out strings.Builder
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "[  1]  0.00-") {
				break
			}
		}
		start := time.Now()
		cmd.Process.Signal(syscall.SIGINT)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
		}
		err = cmd.Wait()
		if el := time.Since(start); el > 8*time.Second {
			t.Errorf("stopping took %v", el)
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
			t.Fatalf("-R %v: exit %v, want status %d\n%s", reverse, err, exitInterrupted, out.String())
		}
		// Both sides' totals are in the report and agree.
		var sent, received string
		for _, l := range strings.Split(out.String(), "\n") {
			f := strings.Fields(l)
			switch {
			case strings.HasSuffix(l, "sender (client)") || strings.HasSuffix(l, "sender (server)"):
				sent = strings.Join(f[3:5], " ")
			case strings.HasSuffix(l, "receiver (client)") || strings.HasSuffix(l, "receiver (server)"):
				received = strings.Join(f[3:5], " ")
			}
		}
		if sent == "" || sent != received || !strings.Contains(out.String(), "interrupted: the numbers above") {
			t.Errorf("-R %v: sent %q, received %q:\n%s", reverse, sent, received, out.String())
		}
	}
}

// TestDemoMem runs the demo's in-memory matrix (what users without root
// get).
func TestDemoMem(t *testing.T) {
	code, out, errs := runCLI(t, context.Background(), "demo", "--mem", "-t", "0.3")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"mpbench demo, ", "mpxdp -> mpxdp, 1 path", "mpxdp -> mpxdp, 2 paths", "coupled (lia)", "DSS checksums", "CPU s/GB (both)"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "failed") {
		t.Errorf("a row failed:\n%s", out)
	}
	t.Logf("\n%s", out)
}

// TestProgressLine: on a terminal the reporter keeps a live line (redrawn
// in place) between the interval lines; elsewhere it writes none.
func TestProgressLine(t *testing.T) {
	for _, progress := range []bool{true, false} {
		var out strings.Builder
		m := newMeter(true)
		m.begin(time.Now())
		mc := m.add(1, nil)
		sp := testSpec{Mode: modeBulk, Parallel: 1, Interval: 600 * time.Millisecond}
		p := &printer{w: &lockedWriter{w: &out}, parallel: 1}
		rep := startReporter(m, sp, p, true, progress)
		mc.sent.Add(1 << 20)
		time.Sleep(700 * time.Millisecond)
		rep.stop(time.Now())
		s := out.String()
		lines := strings.Count(s, "\r\x1b[K  ")
		if progress && (lines < 1 || !strings.Contains(s, "1.0 MiB")) || !progress && lines != 0 {
			t.Errorf("progress %v: %d progress lines in %q", progress, lines, s)
		}
		if !strings.Contains(s, "[  1]  0.00-0.6") {
			t.Errorf("progress %v: no interval line in %q", progress, s)
		}
	}
}

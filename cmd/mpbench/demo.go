package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mpxdp/mpxdp/dataplane/pipe"
)

// demoPrefix starts the names of the demo's namespaces and veths.
const demoPrefix = "mpxB"

// envRunMain makes a test binary behave as mpbench (the demo starts its
// children from its own executable, which under `go test` is the test).
const envRunMain = "MPBENCH_RUN_MAIN"

type demoOptions struct {
	dur  time.Duration
	mem  bool
	json bool
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mpbench demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o demoOptions
	dur := durFlag(3 * time.Second)
	fs.Var(&dur, "t", "duration of each row's transfer: 3s, or seconds")
	fs.BoolVar(&o.mem, "mem", false, "run the in-memory matrix even as root")
	fs.BoolVar(&o.json, "json", false, "print every row's report as JSON after the table")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	o.dur = time.Duration(dur)
	if o.dur < 100*time.Millisecond || o.dur > 10*time.Minute {
		return usagef("-t %v: want 100ms..10m", o.dur)
	}
	var rows []demoResult
	if o.mem || os.Geteuid() != 0 {
		if !o.mem {
			fmt.Fprintln(stdout, "mpbench demo: not running as root, so no test bed: network namespaces, veth pairs, XDP and\n"+
				"AF_XDP need root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_IPC_LOCK), and the kernel's MPTCP rows\n"+
				"need the bed. Running mpxdp <-> mpxdp over emulated in-memory paths instead;\n"+
				"`sudo go run ./cmd/mpbench demo` runs the kernel <-> mpxdp matrix.")
		}
		rows, err = demoMem(ctx, o, stdout)
	} else {
		rows, err = demoBed(ctx, o, stdout, stderr)
	}
	if o.json && len(rows) > 0 {
		b, _ := json.MarshalIndent(rows, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	}
	if err == nil && ctx.Err() != nil {
		err = errInterrupted
	}
	return err
}

// demoResult is one row of the table.
type demoResult struct {
	Label  string      `json:"label"`
	Report *fullReport `json:"report,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// machine describes this host for the table's heading.
func machine() string {
	var u unix.Utsname
	unix.Uname(&u)
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	s := fmt.Sprintf("%s, Linux %s, %d CPUs", hostname(), unix.ByteSliceToString(u.Release[:]), runtime.NumCPU())
	if model != "" {
		s += " (" + model + ")"
	}
	return s
}

// table prints rows as they complete.
type table struct {
	w      io.Writer
	paths  int
	shared bool // both ends in one process: one CPU column
}

func (t *table) header() {
	fmt.Fprintf(t.w, "\n%-26s %8s", "client -> server", "Gbit/s")
	for i := 1; i <= t.paths; i++ {
		fmt.Fprintf(t.w, " %8s", fmt.Sprintf("path %d", i))
	}
	fmt.Fprintf(t.w, " %9s %8s", "subflows", "retrans")
	if t.shared {
		fmt.Fprintf(t.w, " %16s\n", "CPU s/GB (both)")
	} else {
		fmt.Fprintf(t.w, " %16s %16s\n", "client CPU s/GB", "server CPU s/GB")
	}
}

func (t *table) row(d demoResult) {
	fmt.Fprintf(t.w, "%-26s", d.Label)
	r := d.Report
	if r == nil || r.ServerSide == nil {
		fmt.Fprintf(t.w, " failed: %s\n", d.Error)
		return
	}
	fmt.Fprintf(t.w, " %8.2f", r.Summary.BitsPerSecond/1e9)
	// Per path: what the sender put on each path, by the client's address
	// 10.0.i.x (the client is the sender, in namespace A or side a).
	snd := r.Client
	per := make([]float64, t.paths)
	used := 0
	for _, c := range snd.Conns {
		for _, sf := range c.Subflows {
			if sf.BytesOut == 0 {
				continue
			}
			used++
			if i := pathOf(sf.Local); i >= 1 && i <= t.paths && snd.Seconds > 0 {
				per[i-1] += float64(sf.BytesOut) * 8 / snd.Seconds / 1e9
			}
		}
	}
	for _, v := range per {
		if v == 0 {
			fmt.Fprintf(t.w, " %8s", "-")
		} else {
			fmt.Fprintf(t.w, " %8.2f", v)
		}
	}
	mp := ""
	for _, c := range snd.Conns {
		if !c.MPTCP {
			mp = " TCP"
		}
	}
	fmt.Fprintf(t.w, " %9s %8d", strconv.Itoa(used)+mp, r.Summary.Retransmits)
	if t.shared {
		fmt.Fprintf(t.w, " %16.2f", r.Client.CPU.PerGB)
	} else {
		fmt.Fprintf(t.w, " %16.2f %16.2f", r.Client.CPU.PerGB, r.ServerSide.CPU.PerGB)
	}
	if d.Error != "" {
		fmt.Fprintf(t.w, "  (%s)", d.Error)
	}
	fmt.Fprintln(t.w)
}

// pathOf returns i for an address 10.0.i.x (with a port), else 0.
func pathOf(addrPort string) int {
	ap, err := netip.ParseAddrPort(addrPort)
	if err != nil || !ap.Addr().Is4() {
		return 0
	}
	a := ap.Addr().As4()
	if a[0] != 10 || a[1] != 0 {
		return 0
	}
	return int(a[2])
}

// The in-memory matrix: mpxdp at both ends of emulated paths.
func demoMem(ctx context.Context, o demoOptions, stdout io.Writer) ([]demoResult, error) {
	p1 := pipe.Path{Forward: pipe.Impairment{Rate: 400e6, Delay: 2 * time.Millisecond, QueueBytes: 256 << 10}}
	p2 := pipe.Path{Forward: pipe.Impairment{Rate: 400e6, Delay: 8 * time.Millisecond, QueueBytes: 512 << 10}}
	rows := []struct {
		label string
		paths []pipe.Path
		cc    string
		csum  bool
	}{
		{"mpxdp -> mpxdp, 1 path", []pipe.Path{p1}, "", false},
		{"mpxdp -> mpxdp, 2 paths", []pipe.Path{p1, p2}, "", false},
		{"  coupled (lia)", []pipe.Path{p1, p2}, "lia", false},
		{"  DSS checksums", []pipe.Path{p1, p2}, "", true},
	}
	fmt.Fprintf(stdout, "\nmpbench demo, %s, on %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	fmt.Fprintf(stdout, "mpxdp over in-memory paths: path 1 %s, path 2 %s (each way);\n%v of bulk transfer per row, the client sends; both ends run in this process.\n",
		describePaths([]pipe.Path{p1}), describePaths([]pipe.Path{p2}), o.dur)
	t := &table{w: stdout, paths: 2, shared: true}
	t.header()
	var out []demoResult
	for _, row := range rows {
		if ctx.Err() != nil {
			break
		}
		co := clientOptions{port: 5300, json: true, stack: stackOptions{kind: stackMem, paths: row.paths, cc: row.cc, checksum: row.csum},
			spec: testSpec{Mode: modeBulk, Parallel: 1, Duration: o.dur, Block: 128 << 10, Interval: o.dur}}
		r, err := runClient(ctx, &co, io.Discard)
		d := demoResult{Label: row.label, Report: r}
		if err == nil {
			err = r.status()
		}
		if err != nil {
			d.Error = err.Error()
		}
		t.row(d)
		out = append(out, d)
	}
	fmt.Fprintln(stdout, "\nGbit/s is what the receiver got. Path i is what the client's subflow sent on emulated path i\n"+
		"per second, retransmissions included: how mpxdp's scheduler (lowrtt) split the data, not what a\n"+
		"path can carry. CPU is this process's user and system time per 10^9 bytes moved.")
	return out, failed(out)
}

func failed(rows []demoResult) error {
	n := 0
	for _, r := range rows {
		if r.Error != "" {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("%d of %d rows failed", n, len(rows))
	}
	return nil
}

// bed is the demo's test bed: scripts/testbed.sh's two namespaces.
type bed struct {
	script   string
	name     string
	nsa, nsb string
}

// findScript finds scripts/testbed.sh in the source tree around the
// working directory (the demo runs from a checkout: go run ./cmd/mpbench).
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		s := filepath.Join(dir, "scripts", "testbed.sh")
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/mpxdp/mpxdp\n")) {
			if _, err := os.Stat(s); err == nil {
				return s, nil
			}
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("the demo builds its test bed with scripts/testbed.sh from the mpxdp source tree: run it from a checkout (sudo go run ./cmd/mpbench demo)")
		}
		dir = up
	}
}

func (b *bed) up(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "bash", b.script, "up", b.name)
	// INTEROP C.1/C.2: two paths, MTU 1500, TX offloads off (AF_XDP peers
	// verify every checksum), reno (C.2b).
	cmd.Env = append(os.Environ(), "PATHS=2", "MTU=1500", "QUEUES=1", "CSUM=0", "OFFLOADS=off", "CC=reno", "MIDDLE=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the test bed (scripts/testbed.sh up %s): %v\n%s", b.name, err, out)
	}
	// The kernel client's second subflow, from path 2's address (INTEROP
	// C.1 "subflow" variant); mpxdp clients open theirs themselves.
	if out, err := exec.CommandContext(ctx, "ip", "-n", b.nsa, "mptcp", "endpoint", "add", "10.0.2.2", "dev", b.name+"a2", "subflow").CombinedOutput(); err != nil {
		return fmt.Errorf("ip mptcp endpoint add: %v\n%s", err, out)
	}
	return nil
}

// down deletes the namespaces (and with them the veths and every XDP
// program attached to them), whatever state they are in.
func (b *bed) down() error {
	out, err := exec.Command("bash", b.script, "down", b.name).CombinedOutput()
	for _, ns := range []string{b.nsa, b.nsb} {
		if _, serr := os.Stat("/var/run/netns/" + ns); serr == nil {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	}
	for _, ns := range []string{b.nsa, b.nsb} {
		if _, serr := os.Stat("/var/run/netns/" + ns); serr == nil {
			return fmt.Errorf("namespace %s is left: delete it with `ip netns del %s` (%v: %s)", ns, ns, err, out)
		}
	}
	return nil
}

// bedMatrix gives the demo's rows on bed b (a variable, so that a test
// can add a row that fails).
var bedMatrix = demoMatrix

// demoMatrix is the kernel/mpxdp matrix on bed b.
func demoMatrix(b *bed) []bedRow {
	devs := func(side string) string { return b.name + side + "1," + b.name + side + "2" }
	kernel := []string{"--stack", "kernel"}
	xdpClient := []string{"--stack", "xdp", "--dev", devs("a"), "--addr", "10.0.1.2,10.0.2.2", "--cc", "reno"}
	// No announcements from the mpxdp server, as from the kernel server
	// (no signal endpoint): every row has one subflow per path.
	xdpServer := []string{"--stack", "xdp", "--dev", devs("b"), "--pm", "manual", "--cc", "reno"}
	return []bedRow{
		{"kernel TCP, path 1", []string{"--stack", "tcp", "--addr", "10.0.1.2"}, []string{"--stack", "tcp"}},
		{"kernel -> kernel", append(kernel, "--addr", "10.0.1.2"), kernel},
		{"mpxdp  -> kernel", xdpClient, kernel},
		{"kernel -> mpxdp", append(kernel, "--addr", "10.0.1.2"), xdpServer},
		{"mpxdp  -> mpxdp", xdpClient, xdpServer},
	}
}

// bedRow is one cell of the kernel/mpxdp matrix.
type bedRow struct {
	label          string
	client, server []string
}

func demoBed(ctx context.Context, o demoOptions, stdout, stderr io.Writer) (rows []demoResult, err error) {
	for _, tool := range []string{"ip", "ethtool", "bash"} {
		if _, lerr := exec.LookPath(tool); lerr != nil {
			return nil, fmt.Errorf("the test bed needs %s (apt-get install iproute2 ethtool bash)", tool)
		}
	}
	script, err := findScript()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var r [3]byte
	rand.Read(r[:])
	b := &bed{script: script, name: demoPrefix + hex.EncodeToString(r[:])}
	b.nsa, b.nsb = b.name+"a", b.name+"b"
	// Torn down whatever happens: errors, Ctrl-C (the context), panics.
	defer func() {
		if derr := b.down(); derr != nil {
			err = errors.Join(err, derr)
		} else {
			fmt.Fprintf(stdout, "test bed %s removed\n", b.name)
		}
	}()
	if err := b.up(ctx); err != nil {
		return nil, err
	}
	matrix := bedMatrix(b)
	fmt.Fprintf(stdout, "\nmpbench demo, %s, on %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	fmt.Fprintf(stdout, "test bed %s: namespaces %s (client) and %s (server), two veth paths 10.0.1.0/24 and 10.0.2.0/24,\n"+
		"MTU 1500, TX offloads off, reno on both stacks, XDP in native mode where mpxdp runs (AF_XDP copy mode on veth);\n"+
		"%v of bulk transfer per row, the client sends; client and server are separate processes.\n",
		b.name, b.nsa, b.nsb, o.dur)
	t := &table{w: stdout, paths: 2}
	t.header()
	for _, row := range matrix {
		if ctx.Err() != nil {
			break
		}
		rep, rerr := runBedRow(ctx, self, b, row, o.dur)
		d := demoResult{Label: row.label, Report: rep}
		if rerr != nil {
			d.Error = rerr.Error()
		}
		t.row(d)
		rows = append(rows, d)
	}
	fmt.Fprintln(stdout, "\nGbit/s is what the receiver got. Path i is what the client's subflows sent on veth path i\n"+
		"(10.0.i.0/24) per second, retransmissions included: how the client's scheduler (the kernel's, or\n"+
		"mpxdp's default lowrtt) split the data, not what a path can carry; \"-\" or a value near 0 means\n"+
		"it left that path (almost) idle. The subflows column counts subflows that carried data.\n"+
		"CPU is each process's user and system time (getrusage) per 10^9 bytes moved. The kernel's softirq\n"+
		"work is charged to whichever process runs on that CPU, or to ksoftirqd and then to neither, so\n"+
		"on one machine the per-end split is indicative; compare the sums.")
	if ctx.Err() != nil {
		return rows, errInterrupted
	}
	return rows, failed(rows)
}

// runBedRow runs one row: a one-off server in namespace B, a client in A.
func runBedRow(ctx context.Context, self string, b *bed, row bedRow, dur time.Duration) (*fullReport, error) {
	const port = "5300"
	srv := exec.Command(self, append([]string{"server", "--netns", b.nsb, "-1", "-p", port}, row.server...)...)
	srv.Env = append(os.Environ(), envRunMain+"=1")
	var srvOut bytes.Buffer
	srv.Stdout = &srvOut
	errPipe, err := srv.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	srvDone := make(chan error, 1)
	ready := make(chan struct{})
	var srvErr bytes.Buffer
	go func() {
		sc := bufio.NewScanner(errPipe)
		signaled := false
		for sc.Scan() {
			if !signaled && strings.HasPrefix(sc.Text(), "mpbench server: control port") {
				close(ready)
				signaled = true
				continue
			}
			srvErr.WriteString(sc.Text() + "\n")
		}
		srvDone <- srv.Wait()
	}()
	// The server is stopped whatever happens: interrupted, then killed.
	stopped := false
	defer func() {
		if stopped {
			return
		}
		srv.Process.Signal(os.Interrupt)
		select {
		case <-srvDone:
		case <-time.After(5 * time.Second):
			srv.Process.Kill()
			<-srvDone
		}
	}()
	select {
	case <-ready:
	case err := <-srvDone:
		stopped = true
		return nil, fmt.Errorf("server exited: %v: %s", err, strings.TrimSpace(srvErr.String()))
	case <-time.After(30 * time.Second):
		return nil, errors.New("server not ready after 30 s")
	case <-ctx.Done():
		return nil, errInterrupted
	}
	args := append([]string{"client", "10.0.1.1", "--netns", b.nsa, "-p", port, "-t", dur.String(), "-i", dur.String(), "--json"}, row.client...)
	cli := exec.CommandContext(ctx, self, args...)
	cli.Env = append(os.Environ(), envRunMain+"=1")
	cli.Cancel = func() error { return cli.Process.Signal(os.Interrupt) }
	cli.WaitDelay = 15 * time.Second
	var cliErr bytes.Buffer
	cli.Stderr = &cliErr
	out, cerr := cli.Output()
	var rep fullReport
	if jerr := json.Unmarshal(out, &rep); jerr != nil || rep.Client == nil {
		return nil, fmt.Errorf("client: %v: %s", cerr, strings.TrimSpace(cliErr.String()))
	}
	select {
	case <-srvDone:
		stopped = true
	case <-time.After(10 * time.Second):
	}
	if err := rep.status(); err != nil {
		return &rep, err
	}
	if cerr != nil {
		return &rep, fmt.Errorf("client: %v: %s", cerr, strings.TrimSpace(cliErr.String()))
	}
	return &rep, nil
}

package testbed

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Capture records TCP traffic inside one namespace with tcpdump: the first
// Head packets whole, and every SYN, FIN and RST whole for the whole run.
//
// Why not everything: a 64 MiB transfer each way is about 100 000 frames,
// and tcpdump copying all of them competes for the same two cores as the
// transfer, while tshark needs tens of seconds to check them. The head
// holds the handshakes, the joins, the first megabytes of mappings (with
// their DSS checksums) and the first retransmissions; the control capture
// holds every subflow's opening and closing, including the DATA_FIN
// exchange's TCP FINs and any RST the kernel sends.
type Capture struct {
	t     testing.TB
	ns    string
	files []string
	cmds  []*exec.Cmd
	once  sync.Once
}

// CaptureControl is the tcpdump filter of the control capture: IPv4 TCP
// with SYN, FIN or RST, and IPv6 TCP (no extension headers) with them.
const CaptureControl = "(ip and tcp and tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0) or (ip6 and ip6[6] == 6 and ip6[53] & 7 != 0)"

// StartCapture starts tcpdump on every interface of ns (-i any) and stops
// it when the test ends, if Stop was not called before.
func (b *Bed) StartCapture(ns string, head int) *Capture {
	b.t.Helper()
	NeedTools(b.t, "tcpdump", "tshark")
	dir := b.t.TempDir()
	c := &Capture{t: b.t, ns: ns}
	// In the middle namespace every frame crosses two bridge ports: take
	// each once, where it enters the bridge.
	var q []string
	if ns == b.NSM {
		q = []string{"-Q", "in"}
	}
	c.start(filepath.Join(dir, ns+"-head.pcap"), append(q, "-c", strconv.Itoa(head), "tcp")...)
	c.start(filepath.Join(dir, ns+"-ctl.pcap"), append(q, CaptureControl)...)
	b.t.Cleanup(func() {
		// MPXDP_KEEP_CAPTURES=dir keeps every capture for inspection; a
		// failed test keeps its captures in the temporary directory.
		keep := os.Getenv("MPXDP_KEEP_CAPTURES")
		if keep == "" && b.t.Failed() {
			keep = os.TempDir()
		}
		if keep != "" {
			c.Stop()
			for _, f := range c.files {
				to := filepath.Join(keep, strings.ReplaceAll(b.t.Name(), "/", "_")+"-"+filepath.Base(f))
				copyFile(f, to)
				b.t.Logf("capture kept as %s", to)
			}
		}
	})
	b.t.Cleanup(c.Stop)
	return c
}

func (c *Capture) start(file string, args ...string) {
	c.t.Helper()
	// -U flushes each packet, so that SIGINT loses nothing; -B: 32 MiB of
	// kernel buffer against drops in bursts; --immediate-mode for the same.
	all := append([]string{"netns", "exec", c.ns, "tcpdump", "-i", "any", "-n", "-s", "0", "-U", "-B", "32768",
		"--immediate-mode", "-w", file}, args...)
	cmd := exec.Command("ip", all...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("tcpdump in %s: %v", c.ns, err)
	}
	c.cmds = append(c.cmds, cmd)
	c.files = append(c.files, file)
	// tcpdump says "listening on" once its socket is bound.
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "listening on") {
				ready <- ""
				break
			}
		}
		ready <- strings.Join(lines, "\n")
		for sc.Scan() {
		}
	}()
	select {
	case msg := <-ready:
		if msg != "" {
			c.t.Fatalf("tcpdump in %s did not start: %s", c.ns, msg)
		}
	case <-time.After(10 * time.Second):
		c.t.Fatalf("tcpdump in %s: not listening after 10 s", c.ns)
	}
}

// Stop stops tcpdump (SIGINT to the processes this Capture started) and
// waits for the files to be written.
func (c *Capture) Stop() {
	c.once.Do(func() {
		// Let the last packets reach the capture socket.
		time.Sleep(100 * time.Millisecond)
		for _, cmd := range c.cmds {
			cmd.Process.Signal(syscall.SIGINT)
		}
		for _, cmd := range c.cmds {
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
	})
}

// Files returns the capture files: the head, then the control capture.
func (c *Capture) Files() []string { return c.files }

// Head returns the file with the first packets of the run.
func (c *Capture) Head() string { return c.files[0] }

// Control returns the file with every SYN, FIN and RST of the run.
func (c *Capture) Control() string { return c.files[1] }

// TsharkFilter selects what a well-formed MPTCP exchange must not contain:
// packets the dissectors could not parse (_ws.malformed), and expert infos
// of severity "error", which with checksum validation on include bad IPv4
// and TCP checksums, and TCP options whose length is impossible
// (tcp.option.len.invalid, for example an MPTCP option running past the
// header, which tshark rates only a "note").
//
// tcp.analysis.flags is deliberately not part of it: it also flags
// retransmissions, duplicate ACKs and out-of-order segments, which are
// correct TCP behaviour whenever a queue drops (an AF_XDP ring, a veth
// backlog), and "previous segment not captured" in any partial capture.
// Those are counted and logged by Check instead.
const TsharkFilter = "_ws.malformed || _ws.expert.severity == error || tcp.option.len.invalid"

// TsharkAnalysis counts TCP's analysis events for the log.
const TsharkAnalysis = "tcp.analysis.flags && !tcp.analysis.window_update"

// tsharkPrefs turn on checksum validation and MPTCP's analysis.
var tsharkPrefs = []string{
	"-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
	"-o", "mptcp.analyze_mptcp:TRUE", "-o", "mptcp.analyze_mappings:TRUE",
	"-o", "mptcp.relative_sequence_numbers:FALSE", "-o", "mptcp.intersubflows_retransmission:TRUE",
}

// Check stops the capture and fails the test if tshark finds a packet
// matching TsharkFilter in any file, or no MPTCP packet at all. It returns
// the number of packets checked.
func (c *Capture) Check() int {
	c.t.Helper()
	c.Stop()
	total, mptcp := 0, 0
	for _, f := range c.files {
		v, err := TsharkCheck(f)
		if err != nil {
			c.t.Error(err)
			continue
		}
		if len(v.Bad) > 0 {
			keep := filepath.Join(os.TempDir(), filepath.Base(f))
			copyFile(f, keep)
			c.t.Errorf("tshark flags %d packets in %s (kept as %s), first: %q", len(v.Bad), f, keep, v.Bad[:min(len(v.Bad), 5)])
		}
		if v.Analysis > 0 {
			c.t.Logf("%s: %d of %d packets with TCP analysis flags (retransmissions, dup ACKs, segments the capture missed)", filepath.Base(f), v.Analysis, v.Packets)
		}
		total += v.Packets
		mptcp += v.MPTCP
	}
	if mptcp == 0 {
		c.t.Errorf("captures in %s hold no MPTCP packet (%d packets)", c.ns, total)
	}
	return total
}

// Verdict is what tshark found in one capture file.
type Verdict struct {
	Packets  int      // packets in the file
	MPTCP    int      // packets with an MPTCP option
	Bad      []string // packets matching TsharkFilter: number|info|expert messages
	Analysis int      // packets matching TsharkAnalysis (logged, not judged)
}

// TsharkCheck runs tshark over file with checksum validation and MPTCP
// analysis on.
func TsharkCheck(file string) (Verdict, error) {
	var v Verdict
	st, err := os.Stat(file)
	if err != nil || st.Size() == 0 {
		return v, fmt.Errorf("testbed: capture %s is missing or empty (%v)", file, err)
	}
	bad, err := tshark(file, TsharkFilter, "frame.number", "_ws.col.Info", "_ws.expert.message")
	if err != nil {
		return v, err
	}
	v.Bad = bad
	// One pass over everything for the counts: fields are empty when absent.
	all, err := tshark(file, "", "frame.number", "tcp.options.mptcp.subtype", "tcp.analysis.flags", "tcp.analysis.window_update")
	if err != nil {
		return v, err
	}
	for _, l := range all {
		f := strings.Split(l, "|")
		if len(f) != 4 {
			return v, fmt.Errorf("testbed: tshark printed %q; want 4 fields", l)
		}
		v.Packets++
		if f[1] != "" {
			v.MPTCP++
		}
		if f[2] != "" && f[3] == "" {
			v.Analysis++
		}
	}
	return v, nil
}

// Tshark runs tshark over the capture files with filter and returns one
// line per matching packet with the given fields (frame.number if none).
func (c *Capture) Tshark(filter string, fields ...string) []string {
	c.t.Helper()
	c.Stop()
	if len(fields) == 0 {
		fields = []string{"frame.number"}
	}
	var out []string
	for _, f := range c.files {
		lines, err := tshark(f, filter, fields...)
		if err != nil {
			c.t.Fatal(err)
		}
		out = append(out, lines...)
	}
	return out
}

// dissectOnly are the protocols tshark keeps (with their sub-protocols,
// such as tcp.options.*): the link layers, IP, TCP and MPTCP, and the
// pseudo-protocols of expert info.
var dissectOnly = regexp.MustCompile(`^(frame|eth|sll|raw|vlan|ethertype|ip|ipv6|tcp|mptcp|data|_ws)(\.|$)`)

var (
	disableOnce sync.Once
	disableArgs []string
	disableErr  error
)

// tsharkDisable returns --disable-protocol for every protocol but
// dissectOnly. The payload of a test transfer is random bytes, which
// heuristic dissectors above TCP (Thrift, for one) sometimes take for
// their protocol and then call malformed; the checks here concern IP, TCP
// and MPTCP only.
func tsharkDisable() ([]string, error) {
	disableOnce.Do(func() {
		out, err := exec.Command("tshark", "-G", "protocols").Output()
		if err != nil {
			disableErr = fmt.Errorf("testbed: tshark -G protocols: %w", err)
			return
		}
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Split(l, "\t")
			if len(f) >= 3 && f[2] != "" && !dissectOnly.MatchString(f[2]) {
				disableArgs = append(disableArgs, "--disable-protocol", f[2])
			}
		}
	})
	return disableArgs, disableErr
}

func tshark(file, filter string, fields ...string) ([]string, error) {
	dis, err := tsharkDisable()
	if err != nil {
		return nil, err
	}
	args := append([]string{"-n", "-r", file}, tsharkPrefs...)
	args = append(args, dis...)
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	args = append(args, "-T", "fields", "-E", "separator=|")
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		return nil, fmt.Errorf("testbed: tshark %s: %v %s", strings.Join(args, " "), err, msg)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Trim(l, "|") != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

func copyFile(from, to string) {
	if b, err := os.ReadFile(from); err == nil {
		os.WriteFile(to, b, 0o644)
	}
}

// String describes the capture for logs.
func (c *Capture) String() string {
	return fmt.Sprintf("capture in %s: %v", c.ns, c.files)
}

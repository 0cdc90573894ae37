package anchors

// Bulk throughput on the two-path veth bed (INTEROP C.1/C.2, built by
// scripts/testbed.sh through internal/testbed): mpxdp over AF_XDP against
// the Linux kernel's MPTCP, all measured in the same run.
//
// Contenders, each moving one stream client -> server over two subflows
// (one per path; the kernel client joins from its second address, the
// mpxdp client's fullmesh opens its second address to the server's, which
// the bed routes over path 2):
//
//   - kernel: kernel client and server, TX checksum offload (and so TSO)
//     off on every veth, as in every mixed case. The reference of the ratios.
//   - kernel-tso: the same with the kernel's offloads on (TSO/GSO super-
//     packets of up to 64 KiB cross the veth as one skb).
//   - mpxdp-kernel, kernel-mpxdp: mpxdp on one side (AF_XDP, copy mode on
//     veth, native XDP), the kernel on the other.
//   - mpxdp-mpxdp: mpxdp on both sides.
//   - link-raw: no TCP or MPTCP at all, the floor that any stack on our
//     AF_XDP link pays (linkraw_test.go): afxdp.Links on both ends, the
//     client sending MTU-sized IPv4/TCP-shaped packets in the shard's
//     Reserve/Transmit batches over both paths, written with one fused
//     copy and checksum each (cksum.CopyAndSum), the server checking the
//     checksums in one fused copy out of the UMEM and counting bytes; a
//     credit window over a pipe keeps the sender from outrunning it. Its
//     "shards" are the two loops' threads; link-raw-drops must be zero.
//
// The two ends run in two processes, as on two hosts: the client in the
// benchmark, the server in a child (the test binary again, running
// TestBulkServer). Two stacks in one Go runtime share its GOMAXPROCS
// processors: with two cores, two shards that spend half their time in
// copy-mode system calls and two application goroutines waited for each
// other's processors (sysmon hand-offs, locked-thread switches), which cost
// mpxdp ↔ mpxdp a third of its throughput (0.7x the kernel at GOMAXPROCS 2
// against 1.0–1.2x at 4, in the same runs). Kernel peers pay nothing
// comparable (their work needs no processor of the runtime).
//
// Every round runs all contenders in a rotating order; mpxdp stacks are
// opened for their run and closed after it, so that no XDP program is
// attached while the kernel runs alone (native XDP on a veth turns the
// peer's TSO off). Both kernels use reno, and so does mpxdp.
//
// Metrics per contender: Gbit/s (goodput), x-kernel (Gbit/s over the
// kernel's in the same round, then averaged), and for mpxdp contenders,
// per shard thread (shard0 is the client's, shard1 the server's): its CPU
// time per packet it received or sent (schedstat), the part of that spent
// in the kernel (copy-mode AF_XDP transmits inside the sendto kick), and how
// busy it was (CPU time over wall time). The payload is one random buffer
// written again and again and discarded by the reader: the interop tests
// check bytes, this measures the stacks. proc-ms/MiB is the CPU time of the
// two processes over the transfer per MiB; host-ms/MiB and host-cpus are
// the whole machine's busy time per MiB and its average number of busy
// CPUs (2: both cores saturated), which include softirq work in kernel
// threads and whatever else the machine runs. The shards run locked to
// their OS threads here (Config.LockOSThread) so that their time can be
// read per thread.
//
// Knobs (environment): MPXDP_BULK_PAIRS=kernel,mpxdp-mpxdp runs a subset;
// MPXDP_BULK_DIAG=1 adds the shards' loop counters per packet (diagnose)
// and the share of the wall time they waited for a CPU (runwait);
// MPXDP_BULK_THREADED=1 turns on threaded NAPI on every veth, so that a
// receiving veth's softirq work (XDP and the copy into the UMEM, or the
// kernel's TCP receive) runs in a kernel thread instead of in the sender's
// transmit call. MPXDP_BULK_UNLOCKED=1 runs the shards as users get them by
// default, not locked to a thread: the shard columns are then 0 (a shard
// has no thread of its own to read).
//
// Run as root:
//
//	cd bench/anchors && go test -run '^$' -bench InteropBulk -benchtime 3x -count 3 | tee bulk.txt

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/dataplane/afxdp"
	"github.com/mpxdp/mpxdp/internal/testbed"
	"github.com/mpxdp/mpxdp/mptcp"
)

const (
	bulkBytes = 256 << 20
	bulkPort  = 5201
	// bulkServerEnv carries a bulkJob to the child process.
	bulkServerEnv = "MPXDP_BULK_SERVER"
	// bulkTag starts the child's lines for the parent on its stdout
	// (go test prints its own lines there too).
	bulkTag = "bulk-server: "
)

type bulkResult struct {
	gbps      float64
	procMiB   float64              // CPU ms of both processes per MiB of payload
	hostMiB   float64              // CPU ms of the whole machine per MiB
	hostBusy  float64              // the machine's busy CPUs during the run
	shardNs   []float64            // per shard: CPU ns per packet moved
	shardSys  []float64            // per shard: the part of it spent in the kernel
	shardBusy []float64            // per shard: CPU time / wall time
	diag      []map[string]float64 // per shard: loop counters per packet (see diagnose)
	drops     float64              // link-raw: packets lost on the way (see rawCounts)
}

type bulkBed struct {
	b   *testbed.Bed
	mtu int
}

func BenchmarkInteropBulk(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (network namespaces, AF_XDP); CI runs as root")
	}
	for _, mtu := range []int{1500, 9000} {
		b.Run("mtu"+strconv.Itoa(mtu), func(b *testing.B) {
			bb := &bulkBed{b: testbed.New(b, testbed.Config{Paths: 2, MTU: mtu}), mtu: mtu}
			tb := bb.b
			tb.Limits(tb.NSA, 1, 0)
			tb.Limits(tb.NSB, 1, 0)
			tb.Endpoint(tb.NSA, tb.Paths[1].A4.String(), "dev", tb.Paths[1].DevA, "subflow")
			if os.Getenv("MPXDP_BULK_THREADED") != "" {
				// A veth accepts threaded NAPI only while it runs NAPI
				// (GRO or XDP); the setting stays when GRO goes off again.
				for _, p := range tb.Paths {
					for _, x := range [][2]string{{tb.NSA, p.DevA}, {tb.NSB, p.DevB}} {
						tb.Run(x[0], "sh", "-c", "ethtool -K "+x[1]+" gro on && echo 1 > /sys/class/net/"+x[1]+"/threaded && ethtool -K "+x[1]+" gro off")
					}
				}
			}
			names := bulkNames()
			sum := map[string]*bulkResult{}
			ratio := map[string]float64{}
			for _, n := range names {
				sum[n] = &bulkResult{}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				round := map[string]bulkResult{}
				for k := range names {
					n := names[(i+k)%len(names)]
					r := bb.run(b, n)
					round[n] = r
					s := sum[n]
					s.gbps += r.gbps
					s.procMiB += r.procMiB
					s.hostMiB += r.hostMiB
					s.hostBusy += r.hostBusy
					s.drops += r.drops
					if s.shardNs == nil {
						s.shardNs, s.shardSys, s.shardBusy = make([]float64, len(r.shardNs)), make([]float64, len(r.shardNs)), make([]float64, len(r.shardNs))
						for range r.diag {
							s.diag = append(s.diag, map[string]float64{})
						}
					}
					for j := range r.shardNs {
						s.shardNs[j] += r.shardNs[j]
						s.shardSys[j] += r.shardSys[j]
						s.shardBusy[j] += r.shardBusy[j]
						for k, v := range r.diag[j] {
							s.diag[j][k] += v
						}
					}
				}
				if k, ok := round["kernel"]; ok {
					for _, n := range names {
						ratio[n] += round[n].gbps / k.gbps
					}
				}
			}
			b.StopTimer()
			N := float64(b.N)
			for _, n := range names {
				s := sum[n]
				b.ReportMetric(s.gbps/N, n+"-Gbit/s")
				b.ReportMetric(s.procMiB/N, n+"-proc-ms/MiB")
				b.ReportMetric(s.hostMiB/N, n+"-host-ms/MiB")
				b.ReportMetric(s.hostBusy/N, n+"-host-cpus")
				if n == "link-raw" {
					b.ReportMetric(s.drops/N, n+"-drops")
				}
				if n != "kernel" && ratio[n] > 0 {
					b.ReportMetric(ratio[n]/N, n+"-x-kernel")
				}
				for j := range s.shardNs {
					b.ReportMetric(s.shardNs[j]/N, fmt.Sprintf("%s-shard%d-ns/pkt", n, j))
					b.ReportMetric(s.shardSys[j]/N, fmt.Sprintf("%s-shard%d-sys-ns/pkt", n, j))
					b.ReportMetric(s.shardBusy[j]/N, fmt.Sprintf("%s-shard%d-busy", n, j))
					if bulkDiag {
						for k, v := range s.diag[j] {
							b.ReportMetric(v/N, fmt.Sprintf("%s-shard%d-%s", n, j, k))
						}
					}
				}
			}
		})
	}
}

// bulkDiag adds the shards' loop counters to the metrics
// (MPXDP_BULK_DIAG=1): what the loop did per packet it moved.
var bulkDiag = os.Getenv("MPXDP_BULK_DIAG") != ""

// bulkUnlocked leaves the shards unlocked (Config.LockOSThread false).
var bulkUnlocked = os.Getenv("MPXDP_BULK_UNLOCKED") != ""

// bulkNames returns the contenders, or the subset MPXDP_BULK_PAIRS names
// (comma-separated; the ratios need "kernel" among them).
func bulkNames() []string {
	all := []string{"kernel", "kernel-tso", "mpxdp-kernel", "kernel-mpxdp", "mpxdp-mpxdp", "link-raw"}
	v := os.Getenv("MPXDP_BULK_PAIRS")
	if v == "" {
		return all
	}
	return strings.Split(v, ",")
}

// diagnose returns what a shard's loop did between two snapshots, per
// packet it moved (received or sent), and the sizes of its batches.
func diagnose(a, b mpxdp.Stats) map[string]float64 {
	pk := float64(b.Link.RxPackets + b.Link.TxPackets - a.Link.RxPackets - a.Link.TxPackets)
	div := func(x, y float64) float64 {
		if y == 0 {
			return 0
		}
		return x / y
	}
	per := func(x, y uint64) float64 { return div(float64(y-x), pk) }
	return map[string]float64{
		"rx/tx":        div(float64(b.RxPackets-a.RxPackets), float64(b.TxPackets-a.TxPackets)),
		"loops/pkt":    per(a.Loops, b.Loops),
		"sleeps/pkt":   per(a.Sleeps, b.Sleeps),
		"requests/pkt": per(a.Requests, b.Requests),
		"events/pkt":   per(a.Events, b.Events),
		"rx/batch":     div(float64(b.RxPackets-a.RxPackets), float64(b.RxBatches-a.RxBatches)),
		"tx/batch":     div(float64(b.TxPackets-a.TxPackets), float64(b.TxBatches-a.TxBatches)),
	}
}

// setTSO turns the kernel's TX offloads on or off on every veth end.
func (bb *bulkBed) setTSO(b *testing.B, on bool) {
	v := "off"
	if on {
		v = "on"
	}
	for _, p := range bb.b.Paths {
		bb.b.Run(bb.b.NSA, "ethtool", "-K", p.DevA, "tx", v)
		bb.b.Run(bb.b.NSB, "ethtool", "-K", p.DevB, "tx", v)
	}
}

// openStack opens an mpxdp stack over AF_XDP on devs in namespace ns.
func openStack(ns string, devs []string, addrs []netip.Addr) (*mpxdp.Stack, error) {
	var l *afxdp.Link
	if err := testbed.Do(ns, func() (err error) {
		l, err = afxdp.Open(afxdp.Config{Interfaces: devs})
		return err
	}); err != nil {
		return nil, err
	}
	// LockOSThread, so that the shard's CPU time can be read per thread.
	s, err := mpxdp.NewStack(mpxdp.Config{Link: l, Addrs: addrs, CongestionControl: "reno", LockOSThread: !bulkUnlocked})
	if err != nil {
		l.Close()
		return nil, err
	}
	return s, nil
}

// rusage returns the user and system CPU time of the whole process: the
// stack, the application goroutines, the kernel peer's system calls, and
// whatever kernel work runs in their context.
func rusage() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hostCPU returns the busy time of every CPU of the machine so far
// (/proc/stat: all but idle and iowait, in USER_HZ ticks of 10 ms).
func hostCPU() (time.Duration, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	var busy int64
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is in user
			busy += v
		}
	}
	return time.Duration(busy) * 10 * time.Millisecond, nil
}

// shardCPU returns the CPU time of the stack's shard thread so far
// (schedstat, in ns), the part spent in the kernel (stat's stime, in clock
// ticks of 10 ms, so only meaningful over runs of a second or more), and
// how long it waited on a run queue, runnable but without a CPU.
func shardCPU(s *mpxdp.Stack) (total, sys, wait time.Duration, err error) {
	if bulkUnlocked {
		return 0, 0, 0, nil
	}
	var tid int
	if err := s.Do(func(*mptcp.Endpoint) { tid = unix.Gettid() }); err != nil {
		return 0, 0, 0, err
	}
	return threadCPU(tid)
}

// threadCPU returns what shardCPU does for the process's thread tid.
func threadCPU(tid int) (total, sys, wait time.Duration, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/schedstat", tid))
	if err != nil {
		return 0, 0, 0, err
	}
	ns, _ := strconv.ParseInt(strings.Fields(string(raw))[0], 10, 64)
	wns, _ := strconv.ParseInt(strings.Fields(string(raw))[1], 10, 64)
	st, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		return 0, 0, 0, err
	}
	// Fields after the command name, which ends with the last ')':
	// state is field 3, stime field 15 (proc(5)).
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
	ticks, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ns), time.Duration(ticks) * 10 * time.Millisecond, time.Duration(wns), nil
}

// shardMeter measures one stack's shard over a transfer.
type shardMeter struct {
	s                 *mpxdp.Stack
	cpu0, sys0, wait0 time.Duration
	st0               mpxdp.Stats
}

func startMeter(s *mpxdp.Stack) (*shardMeter, error) {
	m := &shardMeter{s: s}
	var err error
	m.cpu0, m.sys0, m.wait0, err = shardCPU(s)
	m.st0 = s.Stats()
	return m, err
}

// shardReport is one shard's share of a bulkResult.
type shardReport struct {
	Ns, Sys, Busy float64
	Diag          map[string]float64
}

func (m *shardMeter) stop(el time.Duration) (shardReport, error) {
	cpu, sys, wait, err := shardCPU(m.s)
	if err != nil {
		return shardReport{}, err
	}
	cpu, sys, wait = cpu-m.cpu0, sys-m.sys0, wait-m.wait0
	st := m.s.Stats()
	pk := float64(st.Link.RxPackets + st.Link.TxPackets - m.st0.Link.RxPackets - m.st0.Link.TxPackets)
	d := diagnose(m.st0, st)
	d["runwait"] = wait.Seconds() / el.Seconds()
	return shardReport{Ns: float64(cpu.Nanoseconds()) / pk, Sys: float64(sys.Nanoseconds()) / pk,
		Busy: cpu.Seconds() / el.Seconds(), Diag: d}, nil
}

// bulkJob is the server half of one run, for the child process.
type bulkJob struct {
	MPXDP bool // else a kernel MPTCP listener
	Raw   bool // link-raw: an afxdp.Link that counts packets (linkraw_test.go)
	NS    string
	Devs  []string
	Addrs []netip.Addr
	Bytes int64
}

// bulkReport is what the child reports when the client's stream ended.
type bulkReport struct {
	Got   int64
	Err   string
	Proc  time.Duration // the child's CPU time from accept to the end
	Shard *shardReport  // mpxdp servers
	Raw   *rawCounts    // link-raw
}

// TestBulkServer is the server half of BenchmarkInteropBulk, run in a
// child process (bulkServerEnv set). It listens, says so, accepts one
// connection, reads it to the end and reports on its stdout.
func TestBulkServer(t *testing.T) {
	raw := os.Getenv(bulkServerEnv)
	if raw == "" {
		t.Skip("the server half of BenchmarkInteropBulk: runs only in its child process")
	}
	var job bulkJob
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		t.Fatal(err)
	}
	var rep bulkReport
	if job.Raw {
		rep = rawServe(job)
	} else {
		rep = bulkServe(job)
	}
	out, _ := json.Marshal(rep)
	fmt.Printf("%sresult %s\n", bulkTag, out)
	if rep.Err != "" {
		t.Fatal(rep.Err)
	}
}

func bulkServe(job bulkJob) bulkReport {
	fail := func(err error) bulkReport { return bulkReport{Err: err.Error()} }
	var ln net.Listener
	var st *mpxdp.Stack
	var err error
	if job.MPXDP {
		if st, err = openStack(job.NS, job.Devs, job.Addrs); err != nil {
			return fail(err)
		}
		defer st.Close()
		ln, err = st.Listen("tcp", ":"+strconv.Itoa(bulkPort))
	} else {
		ln, err = testbed.ListenMPTCP(job.NS, "0.0.0.0:"+strconv.Itoa(bulkPort))
	}
	if err != nil {
		return fail(err)
	}
	defer ln.Close()
	fmt.Printf("%slistening\n", bulkTag)
	c, err := ln.Accept()
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	var m *shardMeter
	if st != nil {
		if m, err = startMeter(st); err != nil {
			return fail(err)
		}
	}
	ru0, start := rusage(), time.Now()
	fmt.Printf("%saccepted\n", bulkTag)
	buf := make([]byte, 256<<10)
	var got int64
	c.SetDeadline(time.Now().Add(120 * time.Second))
	for {
		n, err := c.Read(buf)
		got += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return bulkReport{Got: got, Err: err.Error()}
		}
	}
	// The parent's clock stops here; measuring comes after.
	fmt.Printf("%sdone\n", bulkTag)
	rep := bulkReport{Got: got, Proc: rusage() - ru0}
	if m != nil {
		sr, err := m.stop(time.Since(start))
		if err != nil {
			return fail(err)
		}
		rep.Shard = &sr
	}
	if got != job.Bytes {
		rep.Err = fmt.Sprintf("read %d of %d bytes", got, job.Bytes)
	}
	return rep
}

// child is a running TestBulkServer.
type child struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr strings.Builder
}

// startServer starts the server half in a child process and waits until it
// listens. extra become the child's descriptors 3, 4, ...
func (bb *bulkBed) startServer(b *testing.B, job bulkJob, extra ...*os.File) *child {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(job)
	ch := &child{lines: make(chan string, 4)}
	ch.cmd = exec.Command(exe, "-test.run", "^TestBulkServer$", "-test.count", "1", "-test.v")
	ch.cmd.Env = append(os.Environ(), bulkServerEnv+"="+string(raw))
	ch.cmd.Stderr = &ch.stderr
	ch.cmd.ExtraFiles = extra
	out, err := ch.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), bulkTag); ok {
				ch.lines <- l
			}
		}
		close(ch.lines)
	}()
	if l := ch.next(b, 10*time.Second); l != "listening" {
		b.Fatalf("bulk server: %q instead of listening", l)
	}
	return ch
}

// next returns the child's next line; it fails the benchmark if the child
// ends or stays silent for d.
func (ch *child) next(b *testing.B, d time.Duration) string {
	select {
	case l, ok := <-ch.lines:
		if !ok {
			err := ch.cmd.Wait()
			b.Fatalf("bulk server ended (%v): %s", err, ch.stderr.String())
		}
		return l
	case <-time.After(d):
		ch.cmd.Process.Kill()
		ch.cmd.Wait()
		b.Fatalf("bulk server silent for %v: %s", d, ch.stderr.String())
	}
	return ""
}

// run moves bulkBytes from client to server once with the named pair.
func (bb *bulkBed) run(b *testing.B, name string) bulkResult {
	tb := bb.b
	if name == "link-raw" {
		return bb.runRaw(b)
	}
	if name == "kernel-tso" {
		bb.setTSO(b, true)
		defer bb.setTSO(b, false)
	}
	job := bulkJob{MPXDP: strings.HasSuffix(name, "-mpxdp"), NS: tb.NSB, Devs: tb.Devs(tb.NSB), Bytes: bulkBytes}
	for _, p := range tb.Paths {
		job.Addrs = append(job.Addrs, p.B4)
	}
	srv := bb.startServer(b, job)
	defer func() {
		if srv.cmd.ProcessState == nil {
			srv.cmd.Process.Kill()
			srv.cmd.Wait()
		}
	}()

	remote := netip.AddrPortFrom(tb.Paths[0].B4, bulkPort)
	var c net.Conn
	var cs *mpxdp.Stack
	var err error
	if strings.HasPrefix(name, "mpxdp-") {
		var addrs []netip.Addr
		for _, p := range tb.Paths {
			addrs = append(addrs, p.A4)
		}
		if cs, err = openStack(tb.NSA, tb.Devs(tb.NSA), addrs); err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err = cs.DialAddrPort(ctx, netip.AddrPortFrom(tb.Paths[0].A4, 0), remote)
		cancel()
	} else {
		c, err = testbed.DialMPTCP(tb.NSA, tb.Paths[0].A4.String()+":0", remote.String(), 5*time.Second)
	}
	if err != nil {
		b.Fatalf("%s: dial: %v", name, err)
	}
	defer c.Close()
	if l := srv.next(b, 10*time.Second); l != "accepted" {
		b.Fatalf("%s: bulk server: %q instead of accepted", name, l)
	}
	var m *shardMeter
	if cs != nil {
		if m, err = startMeter(cs); err != nil {
			b.Fatal(err)
		}
	}
	// The payload is one random buffer written again and again, and the
	// receiver discards what it reads: the interop tests check the bytes,
	// this measures the stacks, not ChaCha8 and SHA-256.
	buf := make([]byte, 256<<10)
	rand.Read(buf)
	c.SetDeadline(time.Now().Add(120 * time.Second))
	host0, err := hostCPU()
	if err != nil {
		b.Fatal(err)
	}
	ru0 := rusage()
	start := time.Now()
	for sent := 0; sent < bulkBytes; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			b.Fatalf("%s: write: %v", name, err)
		}
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	if l := srv.next(b, 130*time.Second); l != "done" {
		b.Fatalf("%s: bulk server: %q instead of done", name, l)
	}
	el := time.Since(start)
	ru := rusage() - ru0
	host, _ := hostCPU()
	host -= host0
	l := srv.next(b, 10*time.Second)
	var rep bulkReport
	if js, ok := strings.CutPrefix(l, "result "); !ok || json.Unmarshal([]byte(js), &rep) != nil {
		b.Fatalf("%s: bulk server: %q instead of a result", name, l)
	}
	if rep.Err != "" {
		b.Fatalf("%s: bulk server: %s", name, rep.Err)
	}
	if err := srv.cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			b.Fatal(err)
		}
		b.Fatalf("%s: bulk server: %v: %s", name, err, srv.stderr.String())
	}
	mib := float64(bulkBytes >> 20)
	res := bulkResult{gbps: float64(rep.Got) * 8 / el.Seconds() / 1e9,
		procMiB:  float64((ru + rep.Proc).Microseconds()) / 1e3 / mib,
		hostMiB:  float64(host.Microseconds()) / 1e3 / mib,
		hostBusy: host.Seconds() / el.Seconds()}
	add := func(r shardReport) {
		res.shardNs = append(res.shardNs, r.Ns)
		res.shardSys = append(res.shardSys, r.Sys)
		res.shardBusy = append(res.shardBusy, r.Busy)
		res.diag = append(res.diag, r.Diag)
	}
	if m != nil {
		r, err := m.stop(el)
		if err != nil {
			b.Fatal(err)
		}
		add(r)
	}
	if rep.Shard != nil {
		add(*rep.Shard)
	}
	return res
}

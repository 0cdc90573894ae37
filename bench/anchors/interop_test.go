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
//
// Every round runs all contenders in a rotating order; mpxdp stacks are
// opened for their run and closed after it, so that no XDP program is
// attached while the kernel runs alone (native XDP on a veth turns the
// peer's TSO off). Both kernels use reno, and so does mpxdp.
//
// Metrics per contender: Gbit/s (goodput), x-kernel (Gbit/s over the
// kernel's in the same round, then averaged), and for mpxdp contenders,
// per shard thread (shard0 is the client's): its CPU time per packet it
// received or sent (schedstat), the part of that spent in the kernel
// (copy-mode AF_XDP transmits inside the sendto kick), and how busy it was
// (CPU time over wall time). The payload is one random buffer written
// again and again and discarded by the reader: the interop tests check
// bytes, this measures the stacks. proc-ms/MiB is the CPU time of the whole
// test process (both ends run in it, kernel peers as Go sockets) per MiB:
// a rough total; softirq work on another task's time is not in it. The
// shards run locked to their OS threads here (Config.LockOSThread) so that
// their time can be read per thread.
//
// Run as root:
//
//	cd bench/anchors && go test -run '^$' -bench InteropBulk -benchtime 3x -count 5 | tee bulk.txt

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
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

const bulkBytes = 256 << 20

type bulkResult struct {
	gbps      float64
	procMiB   float64   // CPU ms of the whole test process per MiB of payload
	shardNs   []float64 // per shard: CPU ns per packet moved
	shardSys  []float64 // per shard: the part of it spent in the kernel
	shardBusy []float64 // per shard: CPU time / wall time
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
			names := []string{"kernel", "kernel-tso", "mpxdp-kernel", "kernel-mpxdp", "mpxdp-mpxdp"}
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
					if s.shardNs == nil {
						s.shardNs, s.shardSys, s.shardBusy = make([]float64, len(r.shardNs)), make([]float64, len(r.shardNs)), make([]float64, len(r.shardNs))
					}
					for j := range r.shardNs {
						s.shardNs[j] += r.shardNs[j]
						s.shardSys[j] += r.shardSys[j]
						s.shardBusy[j] += r.shardBusy[j]
					}
				}
				for _, n := range names {
					ratio[n] += round[n].gbps / round["kernel"].gbps
				}
			}
			b.StopTimer()
			N := float64(b.N)
			for _, n := range names {
				s := sum[n]
				b.ReportMetric(s.gbps/N, n+"-Gbit/s")
				b.ReportMetric(s.procMiB/N, n+"-proc-ms/MiB")
				if n != "kernel" {
					b.ReportMetric(ratio[n]/N, n+"-x-kernel")
				}
				for j := range s.shardNs {
					b.ReportMetric(s.shardNs[j]/N, fmt.Sprintf("%s-shard%d-ns/pkt", n, j))
					b.ReportMetric(s.shardSys[j]/N, fmt.Sprintf("%s-shard%d-sys-ns/pkt", n, j))
					b.ReportMetric(s.shardBusy[j]/N, fmt.Sprintf("%s-shard%d-busy", n, j))
				}
			}
		})
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

func (bb *bulkBed) stack(b *testing.B, ns string) *mpxdp.Stack {
	var l *afxdp.Link
	bb.b.Do(ns, func() (err error) {
		l, err = afxdp.Open(afxdp.Config{Interfaces: bb.b.Devs(ns)})
		return err
	})
	var addrs []netip.Addr
	for _, p := range bb.b.Paths {
		if ns == bb.b.NSA {
			addrs = append(addrs, p.A4)
		} else {
			addrs = append(addrs, p.B4)
		}
	}
	// LockOSThread, so that the shard's CPU time can be read per thread.
	s, err := mpxdp.NewStack(mpxdp.Config{Link: l, Addrs: addrs, CongestionControl: "reno", LockOSThread: true})
	if err != nil {
		l.Close()
		b.Fatal(err)
	}
	return s
}

// rusage returns the user and system CPU time of the whole process: both
// stacks, the application goroutines, the kernel peers' system calls, and
// whatever kernel work runs in their context.
func rusage() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// shardCPU returns the CPU time of the stack's shard thread so far
// (schedstat, in ns) and the part spent in the kernel (stat's stime, in
// clock ticks of 10 ms, so only meaningful over runs of a second or more).
func shardCPU(b *testing.B, s *mpxdp.Stack) (total, sys time.Duration) {
	var tid int
	if err := s.Do(func(*mptcp.Endpoint) { tid = unix.Gettid() }); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/schedstat", tid))
	if err != nil {
		b.Fatal(err)
	}
	ns, _ := strconv.ParseInt(strings.Fields(string(raw))[0], 10, 64)
	st, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which ends with the last ')':
	// state is field 3, stime field 15 (proc(5)).
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
	ticks, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ns), time.Duration(ticks) * 10 * time.Millisecond
}

// run moves bulkBytes from client to server once with the named pair.
func (bb *bulkBed) run(b *testing.B, name string) bulkResult {
	tb := bb.b
	if name == "kernel-tso" {
		bb.setTSO(b, true)
		defer bb.setTSO(b, false)
	}
	var stacks []*mpxdp.Stack
	defer func() {
		for _, s := range stacks {
			s.Close()
		}
	}()
	remote := netip.AddrPortFrom(tb.Paths[0].B4, 5201)
	var ln net.Listener
	var err error
	if strings.HasSuffix(name, "-mpxdp") {
		s := bb.stack(b, tb.NSB)
		stacks = append(stacks, s)
		ln, err = s.Listen("tcp", ":5201")
	} else {
		ln, err = testbed.ListenMPTCP(tb.NSB, "0.0.0.0:5201")
	}
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	var c net.Conn
	if strings.HasPrefix(name, "mpxdp-") {
		s := bb.stack(b, tb.NSA)
		stacks = append([]*mpxdp.Stack{s}, stacks...)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err = s.DialAddrPort(ctx, netip.AddrPortFrom(tb.Paths[0].A4, 0), remote)
		cancel()
	} else {
		c, err = testbed.DialMPTCP(tb.NSA, tb.Paths[0].A4.String()+":0", remote.String(), 5*time.Second)
	}
	if err != nil {
		b.Fatalf("%s: dial: %v", name, err)
	}
	defer c.Close()
	sc := <-acc
	if sc == nil {
		b.Fatalf("%s: accept failed", name)
	}
	defer sc.Close()

	cpu0 := make([]time.Duration, len(stacks))
	sys0 := make([]time.Duration, len(stacks))
	pk0 := make([]uint64, len(stacks))
	for i, s := range stacks {
		cpu0[i], sys0[i] = shardCPU(b, s)
		st := s.Stats().Link
		pk0[i] = st.RxPackets + st.TxPackets
	}
	// The payload is one random buffer written again and again, and the
	// receiver discards what it reads: the interop tests check the bytes,
	// this measures the stacks, not ChaCha8 and SHA-256.
	done := make(chan int64, 1)
	go func() {
		buf := make([]byte, 256<<10)
		var got int64
		sc.SetDeadline(time.Now().Add(120 * time.Second))
		for {
			n, err := sc.Read(buf)
			got += int64(n)
			if err != nil {
				break
			}
		}
		done <- got
	}()
	buf := make([]byte, 256<<10)
	rand.Read(buf)
	c.SetDeadline(time.Now().Add(120 * time.Second))
	ru0 := rusage()
	start := time.Now()
	for sent := 0; sent < bulkBytes; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			b.Fatalf("%s: write: %v", name, err)
		}
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	got := <-done
	el := time.Since(start)
	if got != bulkBytes {
		b.Fatalf("%s: the server read %d of %d bytes", name, got, bulkBytes)
	}
	res := bulkResult{gbps: float64(got) * 8 / el.Seconds() / 1e9,
		procMiB: float64((rusage() - ru0).Microseconds()) / 1e3 / float64(bulkBytes>>20)}
	for i, s := range stacks {
		cpu, sys := shardCPU(b, s)
		cpu, sys = cpu-cpu0[i], sys-sys0[i]
		st := s.Stats().Link
		pk := st.RxPackets + st.TxPackets - pk0[i]
		res.shardNs = append(res.shardNs, float64(cpu.Nanoseconds())/float64(pk))
		res.shardSys = append(res.shardSys, float64(sys.Nanoseconds())/float64(pk))
		res.shardBusy = append(res.shardBusy, cpu.Seconds()/el.Seconds())
	}
	return res
}

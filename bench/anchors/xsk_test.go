package anchors

// AF_XDP on the veth bed (INTEROP C.2): mpxdp's xsk against asavie/xdp
// v0.3.3 and against a bare AF_XDP loop, all measured in the same run.
//
// The bed is two private network namespaces (mpxk-<random>-a and -b) and a
// veth pair va <-> vb with one queue per contender: packets that vb sends
// on TX queue q arrive on va's RX queue q, where mpxdp's XDP filter
// redirects them to the socket registered for q. Every contender runs the
// same XDP program, ring sizes, frame size, batch size and copy-mode TX
// budget, so that only the socket layer differs.
//
// Every socket is opened once per bed (asavie's cannot be reopened: its
// Close leaves the queue bound), and each contender runs several
// interleaved rounds whose order rotates, so that load from other
// processes on the shared machine spreads over all of them. When its RX
// ring is empty, every sink pauses briefly (idle) before looking again.
//
// "raw" is the bare AF_XDP limit of the bed: the simplest loops over the
// raw rings (atomic indices, no abstraction, no bookkeeping beyond a
// stack of free frames), written here against golang.org/x/sys only.
//
//   - RX: the raw generator on vb (pinned to CPU 0, where veth also runs
//     the receiver's XDP program and copy) sends 64-byte TCP frames to
//     va; the sink under test (pinned to CPU 1) recycles each received
//     frame to the fill ring. Mpps is packets received per second of wall
//     time; user-ns/pkt is the sink's time spent in non-empty batches
//     divided by packets, its own cost per packet.
//   - TX: the contender (pinned to CPU 1) sends 64-byte frames from va
//     into an XDP_DROP program on vb; Mpps counts completions. In copy
//     mode the kernel builds an sk_buff per frame inside the kick, so the
//     kernel dominates.
//
// Run as root:
//
//	cd bench/anchors && go test -run '^$' -bench Xsk -benchtime 1x -count 8 | tee xsk.txt
//	benchstat xsk.txt

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	asavie "github.com/asavie/xdp"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/mpxdp/mpxdp/xsk"
	"golang.org/x/sys/unix"
)

// Parameters shared by every contender.
const (
	xskFrames    = 4096
	xskFrameSize = 4096
	xskRing      = 2048
	xskBatch     = 64
	xskFrameLen  = 64 // bytes on the wire, without the FCS
	rxWarmup     = 20000
	rxPackets    = 1 << 20 // per b.N, per contender
	txPackets    = 1 << 19
	loopTimeout  = 60 * time.Second
)

// ---- the bed ----

type xskBed struct {
	nsA, nsB   string
	ifA, ifB   int
	macA, macB net.HardwareAddr
	ipA, ipB   netip.Addr
}

func needRootTB(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root (network namespaces, XDP, AF_XDP); CI runs as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("needs iproute2's ip")
	}
}

func sh(tb testing.TB, args ...string) {
	tb.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// inNetns runs f on a locked OS thread inside the named namespace; the
// thread is discarded afterwards.
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

func newXskBed(tb testing.TB, queues int) *xskBed {
	tb.Helper()
	needRootTB(tb)
	var r [4]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	b := &xskBed{nsA: "mpxk-" + id + "-a", nsB: "mpxk-" + id + "-b",
		ipA: netip.MustParseAddr("10.0.78.1"), ipB: netip.MustParseAddr("10.0.78.2")}
	for _, ns := range []string{b.nsA, b.nsB} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			tb.Skipf("cannot create a network namespace: %v %s", err, out)
		}
		tb.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	q := strconv.Itoa(queues)
	sh(tb, "ip", "-n", b.nsA, "link", "add", "va", "numtxqueues", q, "numrxqueues", q, "type", "veth",
		"peer", "name", "vb", "netns", b.nsB, "numtxqueues", q, "numrxqueues", q)
	for _, s := range []struct{ ns, dev, ip string }{{b.nsA, "va", "10.0.78.1/24"}, {b.nsB, "vb", "10.0.78.2/24"}} {
		sh(tb, "ip", "-n", s.ns, "addr", "add", s.ip, "dev", s.dev)
		sh(tb, "ip", "-n", s.ns, "link", "set", s.dev, "up")
	}
	for _, s := range []struct {
		ns, dev string
		idx     *int
		mac     *net.HardwareAddr
	}{{b.nsA, "va", &b.ifA, &b.macA}, {b.nsB, "vb", &b.ifB, &b.macB}} {
		if err := inNetns(s.ns, func() error {
			ifi, err := net.InterfaceByName(s.dev)
			if err == nil {
				*s.idx, *s.mac = ifi.Index, ifi.HardwareAddr
			}
			return err
		}); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

func (b *xskBed) do(tb testing.TB, ns string, f func() error) {
	tb.Helper()
	if err := inNetns(ns, f); err != nil {
		tb.Fatal(err)
	}
}

// frame is a 64-byte Ethernet/IPv4/TCP frame from src to dst port 5000
// (checksums are not checked on this path).
func (b *xskBed) frame(fromB bool) []byte {
	f := make([]byte, xskFrameLen)
	dm, sm, sa, da := b.macA, b.macB, b.ipB.As4(), b.ipA.As4()
	if !fromB {
		dm, sm, sa, da = b.macB, b.macA, b.ipA.As4(), b.ipB.As4()
	}
	copy(f, dm)
	copy(f[6:], sm)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_TCP
	binary.BigEndian.PutUint16(ip[2:], xskFrameLen-14)
	copy(ip[12:], sa[:])
	copy(ip[16:], da[:])
	t := ip[20:]
	binary.BigEndian.PutUint16(t[0:], 40000)
	binary.BigEndian.PutUint16(t[2:], 5000)
	t[12], t[13] = 5<<4, 0x10
	return f
}

// pin locks the goroutine to a thread on cpu; the thread is discarded
// when the goroutine ends.
func pin(cpu int) {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu % runtime.NumCPU())
	unix.SchedSetaffinity(0, &set)
}

const xdpMaxTXSkbBudget = 9 // include/uapi/linux/if_xdp.h, Linux 6.17

// ---- the bare AF_XDP loops ("raw") ----

type rawRing struct {
	mem               []byte
	prod, cons, flags *atomic.Uint32
	descs             unsafe.Pointer
	mask              uint32
	size              uint32
}

func (r *rawRing) addr(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(r.descs, uintptr(i&r.mask)*8))
}

func (r *rawRing) desc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(r.descs, uintptr(i&r.mask)*16))
}

type rawXSK struct {
	fd                 int
	umem               []byte
	fill, comp, rx, tx rawRing
	free               []uint64 // the generator's free frames
	primed             bool     // the sink's fill ring is stocked
}

func rawSockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0); e != 0 {
		return e
	}
	return nil
}

// openRaw sets up a socket the way af_xdp.rst describes it, with
// need_wakeup, in copy mode.
func openRaw(ifindex, queue int, rx bool, budget int) (*rawXSK, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	x := &rawXSK{fd: fd}
	x.umem, err = unix.Mmap(-1, 0, xskFrames*xskFrameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		x.close()
		return nil, err
	}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&x.umem[0]))), Len: uint64(len(x.umem)), Size: xskFrameSize}
	if err := rawSockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		x.close()
		return nil, err
	}
	opts := []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_TX_RING}
	if rx {
		opts = append(opts, unix.XDP_RX_RING)
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, o, xskRing); err != nil {
			x.close()
			return nil, err
		}
	}
	var off unix.XDPMmapOffsets
	sz := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&sz)), 0); e != 0 {
		x.close()
		return nil, e
	}
	maps := []struct {
		r     *rawRing
		pgoff int64
		o     unix.XDPRingOffset
		entry uint64
	}{{&x.fill, unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, 8}, {&x.comp, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, 8}, {&x.tx, unix.XDP_PGOFF_TX_RING, off.Tx, 16}}
	if rx {
		maps = append(maps, struct {
			r     *rawRing
			pgoff int64
			o     unix.XDPRingOffset
			entry uint64
		}{&x.rx, unix.XDP_PGOFF_RX_RING, off.Rx, 16})
	}
	for _, m := range maps {
		mem, err := unix.Mmap(fd, m.pgoff, int(m.o.Desc+xskRing*m.entry), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			x.close()
			return nil, err
		}
		*m.r = rawRing{mem: mem, size: xskRing, mask: xskRing - 1,
			prod:  (*atomic.Uint32)(unsafe.Pointer(&mem[m.o.Producer])),
			cons:  (*atomic.Uint32)(unsafe.Pointer(&mem[m.o.Consumer])),
			flags: (*atomic.Uint32)(unsafe.Pointer(&mem[m.o.Flags])),
			descs: unsafe.Pointer(&mem[m.o.Desc])}
	}
	if err := unix.Bind(fd, &unix.SockaddrXDP{Flags: unix.XDP_USE_NEED_WAKEUP, Ifindex: uint32(ifindex), QueueID: uint32(queue)}); err != nil {
		x.close()
		return nil, err
	}
	if budget > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, xdpMaxTXSkbBudget, budget); err != nil {
			x.close()
			return nil, err
		}
	}
	return x, nil
}

func (x *rawXSK) close() {
	for _, r := range []*rawRing{&x.fill, &x.comp, &x.rx, &x.tx} {
		if r.mem != nil {
			unix.Munmap(r.mem)
		}
	}
	unix.Close(x.fd)
	if x.umem != nil {
		unix.Munmap(x.umem)
	}
}

// generate sends copies of frame until stop is set or limit frames are
// completed (limit 0: no limit), and returns the number completed.
func (x *rawXSK) generate(frame []byte, stop *atomic.Bool, limit int) int {
	if x.free == nil {
		x.free = make([]uint64, 0, xskFrames)
		for i := range xskFrames {
			a := uint64(i * xskFrameSize)
			copy(x.umem[a:], frame)
			x.free = append(x.free, a)
		}
	}
	free := x.free
	defer func() { x.free = free }()
	done, queued := 0, 0
	txProd, compCons := x.tx.prod.Load(), x.comp.cons.Load()
	deadline := time.Now().Add(loopTimeout)
	for !stop.Load() && (limit == 0 || done < limit) && time.Now().Before(deadline) {
		for p := x.comp.prod.Load(); compCons != p; compCons++ {
			free = append(free, *x.comp.addr(compCons))
			done++
		}
		x.comp.cons.Store(compCons)
		k := min(xskBatch, len(free), int(xskRing-(txProd-x.tx.cons.Load())))
		if limit != 0 {
			k = min(k, limit-queued)
		}
		for range k {
			d := x.tx.desc(txProd)
			d.Addr, d.Len, d.Options = free[len(free)-1], uint32(len(frame)), 0
			free = free[:len(free)-1]
			txProd++
		}
		queued += k
		x.tx.prod.Store(txProd)
		if x.tx.flags.Load()&unix.XDP_RING_NEED_WAKEUP != 0 {
			unix.Syscall6(unix.SYS_SENDTO, uintptr(x.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		}
	}
	return done
}

// sink receives until it has counted warmup+n frames, recycling each
// frame straight to the fill ring, and returns the time and the busy time
// of the last n.
func (x *rawXSK) sink(warmup, n int) (wall, busy time.Duration) {
	fillProd := x.fill.prod.Load()
	if !x.primed {
		x.primed = true
		for i := range xskRing {
			*x.fill.addr(fillProd) = uint64(i * xskFrameSize)
			fillProd++
		}
		x.fill.prod.Store(fillProd)
	}
	rxCons := x.rx.cons.Load()
	got := 0
	var start time.Time
	deadline := time.Now().Add(loopTimeout)
	for got < warmup+n {
		t0 := time.Now()
		p := x.rx.prod.Load()
		if p == rxCons {
			if t0.After(deadline) {
				return 0, 0
			}
			idle()
			continue
		}
		k := min(p-rxCons, xskBatch)
		for i := range k {
			*x.fill.addr(fillProd + i) = x.rx.desc(rxCons + i).Addr
		}
		fillProd += k
		x.fill.prod.Store(fillProd)
		rxCons += k
		x.rx.cons.Store(rxCons)
		got += int(k)
		if got >= warmup {
			if start.IsZero() {
				start = time.Now()
				got = warmup
				continue
			}
			busy += time.Since(t0)
		}
	}
	return time.Since(start), busy
}

// idle is what every sink does when its RX ring is empty: a short pause
// before looking again, so that it does not pull the ring's cache lines
// away from the kernel, which writes them on the other CPU, on every spin.
// The same for all contenders: it is the harness's polling policy.
func idle() {
	for i := 0; i < idleSpins; i++ {
		idleSink += uint64(i)
	}
}

var (
	idleSpins = envInt("XSK_IDLE_SPINS", 1000)
	idleSink  uint64
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// ---- mpxdp's xsk ----

func openOurs(ifindex, queue int, rx bool, budget int) (*xsk.Socket, error) {
	u, err := xsk.NewUMEM(xsk.UMEMConfig{FrameSize: xskFrameSize, Frames: xskFrames})
	if err != nil {
		return nil, err
	}
	cfg := xsk.SocketConfig{RXSize: xskRing, TXSize: xskRing, FillSize: xskRing, CompSize: xskRing, TXBudget: budget}
	if !rx {
		cfg.RXSize = -1
	}
	s, err := xsk.Open(ifindex, queue, u, cfg)
	if err != nil {
		u.Close()
	}
	return s, err
}

func closeOurs(s *xsk.Socket) {
	u := s.UMEM()
	s.Close()
	u.Close()
}

func oursSink(s *xsk.Socket, warmup, n int) (wall, busy time.Duration) {
	s.Refill(s.Fill.Size())
	var descs [xskBatch]xsk.Desc
	got := 0
	var start time.Time
	deadline := time.Now().Add(loopTimeout)
	for got < warmup+n {
		t0 := time.Now()
		k := s.RX.Peek(descs[:])
		if k == 0 {
			if t0.After(deadline) {
				return 0, 0
			}
			s.KickRX()
			idle()
			continue
		}
		r := s.Fill.Reserve(k)
		for i := range r {
			s.Fill.Set(i, descs[i].Addr)
		}
		s.Fill.Submit()
		s.RX.Release(k)
		got += k
		if got >= warmup {
			if start.IsZero() {
				start = time.Now()
				got = warmup
				continue
			}
			busy += time.Since(t0)
		}
	}
	return time.Since(start), busy
}

func oursSend(s *xsk.Socket, frame []byte, limit int) int {
	u := s.UMEM()
	all := make([]uint64, u.Frames())
	u.AllocN(all)
	for _, a := range all {
		copy(u.Frame(a, len(frame)), frame)
	}
	u.FreeN(all)
	var addrs [xskBatch]uint64
	var descs [xskBatch]xsk.Desc
	done, queued := 0, 0
	deadline := time.Now().Add(loopTimeout)
	for done < limit && time.Now().Before(deadline) {
		done += s.Complete()
		k := u.AllocN(addrs[:min(xskBatch, limit-queued)])
		for i := range k {
			descs[i] = xsk.Desc{Addr: addrs[i], Len: uint32(len(frame))}
		}
		m, err := s.Transmit(descs[:k])
		if err != nil {
			panic(err)
		}
		u.FreeN(addrs[m:k])
		queued += m
	}
	return done
}

// ---- asavie/xdp ----

func openAsavie(ifindex, queue, budget int) (*asavie.Socket, error) {
	s, err := asavie.NewSocket(ifindex, queue, &asavie.SocketOptions{
		NumFrames: xskFrames, FrameSize: xskFrameSize,
		FillRingNumDescs: xskRing, CompletionRingNumDescs: xskRing, RxRingNumDescs: xskRing, TxRingNumDescs: xskRing,
	})
	if err == nil && budget > 0 {
		err = unix.SetsockoptInt(s.FD(), unix.SOL_XDP, xdpMaxTXSkbBudget, budget)
	}
	return s, err
}

// asavieSink is the library's documented loop without the blocking Poll:
// Fill(GetDescs(NumFreeFillSlots())), then Receive.
func asavieSink(s *asavie.Socket, warmup, n int) (wall, busy time.Duration) {
	got := 0
	var start time.Time
	deadline := time.Now().Add(loopTimeout)
	for got < warmup+n {
		t0 := time.Now()
		s.Fill(s.GetDescs(s.NumFreeFillSlots()))
		k := s.NumReceived()
		if k == 0 {
			if t0.After(deadline) {
				return 0, 0
			}
			idle()
			continue
		}
		got += len(s.Receive(min(k, xskBatch)))
		if got >= warmup {
			if start.IsZero() {
				start = time.Now()
				got = warmup
				continue
			}
			busy += time.Since(t0)
		}
	}
	return time.Since(start), busy
}

func asavieSend(s *asavie.Socket, frame []byte, limit int) int {
	for i := range xskFrames {
		copy(s.GetFrame(asavie.Desc{Addr: uint64(i * xskFrameSize), Len: xskFrameSize}), frame)
	}
	done, queued := 0, 0
	deadline := time.Now().Add(loopTimeout)
	for done < limit && time.Now().Before(deadline) {
		if c := s.NumCompleted(); c > 0 {
			s.Complete(c)
			done += c
		}
		descs := s.GetDescs(min(xskBatch, s.NumFreeTxSlots(), limit-queued))
		for i := range descs {
			descs[i].Len = uint32(len(frame))
		}
		queued += s.Transmit(descs)
	}
	return done
}

// ---- benchmarks ----

const rounds = 4 // interleaved rounds per contender and b.N

var xskRound atomic.Int64 // rotates the contenders' order

type contender struct {
	name string
	// run moves n packets on the contender's queue and returns the wall
	// time and the sink's busy time.
	run func(q, n int) (wall, busy time.Duration)
}

// report runs every contender rounds times on its own queue (contender i
// on queue i), n packets each time, in an order that rotates from round to
// round so that drift on a shared machine spreads over all of them, and
// reports rates and ratios.
func report(b *testing.B, cs []contender, n int, rx bool) {
	wall := map[string]time.Duration{}
	busy := map[string]time.Duration{}
	for range rounds {
		r := int(xskRound.Add(1))
		for j := range cs {
			i := (r + j) % len(cs)
			w, bz := cs[i].run(i, n/rounds)
			wall[cs[i].name] += w
			busy[cs[i].name] += bz
		}
	}
	mpps := map[string]float64{}
	for _, c := range cs {
		mpps[c.name] = float64(n/rounds*rounds) / wall[c.name].Seconds() / 1e6
		b.ReportMetric(mpps[c.name], c.name+"-Mpps")
		if rx {
			b.ReportMetric(float64(busy[c.name].Nanoseconds())/float64(n), c.name+"-user-ns/pkt")
		}
	}
	b.ReportMetric(mpps["mpxdp"]/mpps["asavie"], "x-asavie")
	b.ReportMetric(mpps["mpxdp"]/mpps["raw"], "of-raw")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkXskRX: receive rate of each sink fed by the same bare
// generator (see the top of the file).
func BenchmarkXskRX(b *testing.B) {
	bed := newXskBed(b, 3)
	f, err := xsk.NewFilter(xsk.FilterConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Own(netip.AddrPortFrom(bed.ipA, 5000)); err != nil {
		b.Fatal(err)
	}
	bed.do(b, bed.nsA, func() error { return f.Attach(bed.ifA, xsk.AttachNative) })
	frame := bed.frame(true)

	// Every socket is opened once: asavie's cannot be closed and opened
	// again (its Close leaves the queue bound).
	var gens [3]*rawXSK
	var raw *rawXSK
	var ours *xsk.Socket
	var asv *asavie.Socket
	bed.do(b, bed.nsB, func() (err error) {
		for q := range gens {
			if gens[q], err = openRaw(bed.ifB, q, false, 512); err != nil {
				return err
			}
		}
		return nil
	})
	bed.do(b, bed.nsA, func() (err error) {
		if raw, err = openRaw(bed.ifA, 0, true, 0); err != nil {
			return err
		}
		if ours, err = openOurs(bed.ifA, 1, true, 0); err != nil {
			return err
		}
		asv, err = openAsavie(bed.ifA, 2, 0)
		return err
	})
	defer func() {
		for _, g := range gens {
			g.close()
		}
		raw.close()
		closeOurs(ours)
	}()
	for q, fd := range []int{raw.fd, ours.FD(), asv.FD()} {
		if err := f.RegisterFD(q, fd); err != nil {
			b.Fatal(err)
		}
	}

	// feed runs the generator on vb's queue q (CPU 0) while sink runs on
	// CPU 1.
	feed := func(q int, sink func() (time.Duration, time.Duration)) (time.Duration, time.Duration) {
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); pin(0); gens[q].generate(frame, &stop, 0) }()
		type res struct{ wall, busy time.Duration }
		rc := make(chan res, 1)
		go func() { pin(1); w, bz := sink(); rc <- res{w, bz} }()
		r := <-rc
		stop.Store(true)
		wg.Wait()
		if r.wall == 0 {
			b.Fatalf("queue %d: the sink did not get its packets in %v", q, loopTimeout)
		}
		return r.wall, r.busy
	}
	cs := []contender{
		{"raw", func(q, n int) (time.Duration, time.Duration) {
			return feed(q, func() (time.Duration, time.Duration) { return raw.sink(rxWarmup, n) })
		}},
		{"mpxdp", func(q, n int) (time.Duration, time.Duration) {
			return feed(q, func() (time.Duration, time.Duration) { return oursSink(ours, rxWarmup, n) })
		}},
		{"asavie", func(q, n int) (time.Duration, time.Duration) {
			return feed(q, func() (time.Duration, time.Duration) { return asavieSink(asv, rxWarmup, n) })
		}},
	}
	report(b, cs, b.N*rxPackets, true)
}

// BenchmarkXskTX: send rate of each contender into XDP_DROP on the peer,
// at the kernel's default copy-mode budget (32 frames per kick) and at 256.
func BenchmarkXskTX(b *testing.B) {
	for _, budget := range []int{32, 256} {
		b.Run("budget="+strconv.Itoa(budget), func(b *testing.B) {
			bed := newXskBed(b, 3)
			drop, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "Dual MIT/GPL",
				Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, int32(xsk.XDPDrop)), asm.Return()}})
			if err != nil {
				b.Fatal(err)
			}
			defer drop.Close()
			var l link.Link
			bed.do(b, bed.nsB, func() (err error) {
				l, err = link.AttachXDP(link.XDPOptions{Program: drop, Interface: bed.ifB, Flags: link.XDPDriverMode})
				return err
			})
			defer l.Close()
			frame := bed.frame(false)
			kb := budget
			if budget == 32 {
				kb = 0 // the kernel's default
			}
			var raw *rawXSK
			var ours *xsk.Socket
			var asv *asavie.Socket
			bed.do(b, bed.nsA, func() (err error) {
				if raw, err = openRaw(bed.ifA, 0, false, kb); err != nil {
					return err
				}
				if ours, err = openOurs(bed.ifA, 1, false, kb); err != nil {
					return err
				}
				asv, err = openAsavie(bed.ifA, 2, kb)
				return err
			})
			defer func() { raw.close(); closeOurs(ours) }()
			timed := func(n int, send func() int) (time.Duration, time.Duration) {
				type res struct {
					n int
					d time.Duration
				}
				rc := make(chan res, 1)
				go func() {
					pin(1)
					t0 := time.Now()
					k := send()
					rc <- res{k, time.Since(t0)}
				}()
				r := <-rc
				if r.n < n {
					b.Fatalf("%d of %d frames sent in %v", r.n, n, loopTimeout)
				}
				return r.d, 0
			}
			cs := []contender{
				{"raw", func(q, n int) (time.Duration, time.Duration) {
					var stop atomic.Bool
					return timed(n, func() int { return raw.generate(frame, &stop, n) })
				}},
				{"mpxdp", func(q, n int) (time.Duration, time.Duration) {
					return timed(n, func() int { return oursSend(ours, frame, n) })
				}},
				{"asavie", func(q, n int) (time.Duration, time.Duration) {
					return timed(n, func() int { return asavieSend(asv, frame, n) })
				}},
			}
			report(b, cs, b.N*txPackets, false)
		})
	}
}

// ---- asavie/xdp's defects (INTEROP C.3), confirmed by test ----

func TestAsavieDefects(t *testing.T) {
	bed := newXskBed(t, 2)
	f, err := xsk.NewFilter(xsk.FilterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Own(netip.AddrPortFrom(bed.ipA, 5000)); err != nil {
		t.Fatal(err)
	}

	t.Run("CloseLeavesQueueBound", func(t *testing.T) {
		var s *asavie.Socket
		bed.do(t, bed.nsA, func() (err error) { s, err = openAsavie(bed.ifA, 1, 0); return err })
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		bed.do(t, bed.nsA, func() error {
			u, _ := xsk.NewUMEM(xsk.UMEMConfig{Frames: 64})
			defer u.Close()
			o, err := xsk.Open(bed.ifA, 1, u, xsk.SocketConfig{BindTimeout: 300 * time.Millisecond})
			if err == nil {
				o.Close()
				t.Error("queue 1 was free after asavie's Close: defect not reproduced")
			} else if !errors.Is(err, unix.EBUSY) {
				t.Errorf("expected EBUSY, got %v", err)
			} else {
				t.Logf("confirmed: after asavie's Close, binding the queue fails: %v", err)
			}
			return nil
		})
	})

	var s *asavie.Socket
	bed.do(t, bed.nsA, func() (err error) { s, err = openAsavie(bed.ifA, 0, 0); return err })
	if err := f.RegisterFD(0, s.FD()); err != nil {
		t.Fatal(err)
	}
	bed.do(t, bed.nsA, func() error { return f.Attach(bed.ifA, xsk.AttachNative) })

	t.Run("ReceiveFreesHeldFrames", func(t *testing.T) {
		s.Fill(s.GetDescs(s.NumFreeFillSlots()))
		var gen *rawXSK
		bed.do(t, bed.nsB, func() (err error) { gen, err = openRaw(bed.ifB, 0, false, 0); return err })
		defer gen.close()
		var stop atomic.Bool
		gen.generate(bed.frame(true), &stop, 4)
		var rx []asavie.Desc
		for deadline := time.Now().Add(2 * time.Second); len(rx) == 0 && time.Now().Before(deadline); {
			if n := s.NumReceived(); n > 0 {
				rx = append(rx, s.Receive(n)...)
			}
		}
		if len(rx) == 0 {
			t.Fatal("nothing received")
		}
		held := map[uint64]bool{}
		for _, d := range rx {
			held[d.Addr&^(xskFrameSize-1)] = true
		}
		reused := 0
		for _, d := range s.GetDescs(xskFrames) {
			if held[d.Addr] {
				reused++
			}
		}
		if reused == 0 {
			t.Error("defect not reproduced")
		}
		t.Logf("confirmed: %d of %d frames still held after Receive are handed out again by GetDescs", reused, len(rx))
	})

	t.Run("RedirectsEverything", func(t *testing.T) {
		p, err := asavie.NewProgram(2)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Register(0, s.FD()); err != nil {
			t.Fatal(err)
		}
		arp := make([]byte, 60)
		copy(arp, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		binary.BigEndian.PutUint16(arp[12:], unix.ETH_P_ARP)
		ret, _, err := p.Program.Test(arp)
		if err != nil {
			t.Fatal(err)
		}
		if xsk.Action(ret) != xsk.XDPRedirect {
			t.Errorf("asavie's program on ARP: %v", xsk.Action(ret))
		}
		t.Logf("confirmed: asavie's built-in program returns %v for ARP (mpxdp's filter: XDP_PASS)", xsk.Action(ret))
	})

	t.Run("TransmitPanics", func(t *testing.T) {
		sh(t, "ip", "-n", bed.nsA, "link", "set", "va", "down")
		defer sh(t, "ip", "-n", bed.nsA, "link", "set", "va", "up")
		descs := s.GetDescs(1)
		descs[0].Len = 60
		var msg any
		func() {
			defer func() { msg = recover() }()
			s.Transmit(descs)
		}()
		if msg == nil {
			t.Error("no panic: defect not reproduced")
		}
		t.Logf("confirmed: Transmit on a downed device panics: %v", msg)
	})
}

// TestXskBedSmoke keeps the benchmark code honest in plain go test runs:
// each contender moves a few packets on the bed.
func TestXskBedSmoke(t *testing.T) {
	bed := newXskBed(t, 1)
	f, err := xsk.NewFilter(xsk.FilterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Own(netip.AddrPortFrom(bed.ipA, 5000))
	bed.do(t, bed.nsA, func() error { return f.Attach(bed.ifA, xsk.AttachNative) })
	var s *xsk.Socket
	bed.do(t, bed.nsA, func() (err error) { s, err = openOurs(bed.ifA, 0, true, 0); return err })
	defer closeOurs(s)
	f.Register(0, s)
	var gen *rawXSK
	bed.do(t, bed.nsB, func() (err error) { gen, err = openRaw(bed.ifB, 0, false, 0); return err })
	defer gen.close()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() { gen.generate(bed.frame(true), &stop, 0); close(done) }()
	wall, _ := oursSink(s, 10, 1000)
	stop.Store(true)
	<-done
	if wall <= 0 {
		t.Fatal("no time measured")
	}
	if st, _ := s.Stats(); st.RXInvalidDescs != 0 {
		t.Errorf("stats %+v", st)
	}
}

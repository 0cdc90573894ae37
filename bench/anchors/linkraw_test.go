package anchors

// The link-raw contender of BenchmarkInteropBulk: the floor that any stack
// on our AF_XDP link pays on the bed, with no TCP or MPTCP at all.
//
// Client (the benchmark process): an afxdp.Link on the client namespace's
// two veths sends bulkBytes of payload as IPv4 packets of the MTU's size,
// TCP-shaped (20-byte IPv4 and TCP headers, no options, valid IP and TCP
// checksums) from port rawSrcPort of path i's client address to bulkPort of
// path i's server address. Batches come from Reserve and go out with
// Transmit, rawBatch at a time as the shard does; batches alternate between
// the two paths, so that each kick carries one whole batch. The payload is
// written into the reserved frames with cksum.CopyAndSum, the fused copy
// and checksum that the engine uses for a segment: link + one copy with the
// checksum per packet.
//
// Server (the child, TestBulkServer with bulkJob.Raw): an afxdp.Link on the
// server namespace's veths with bulkPort claimed, a Wait/Receive loop that
// checks each packet's IP and TCP checksums in one pass over the payload,
// fused with a copy out of the UMEM into a 256 KiB buffer (cksum.CopyAndSum,
// the one pass a receiving stack must make: frames go back to the kernel;
// a jumbo frame is read in place, piece by piece, from its chain),
// and counts the payload bytes until it has bulkBytes.
//
// Nothing recovers a lost packet, so the sender must not outrun the
// receiver: the server reports the payload bytes it has counted over a
// pipe (the child's descriptor 3) every quarter window (and before it
// sleeps, from a sixteenth), and the client keeps at most rawWindow
// packets in flight, no more than the receiving veth's ring (256,
// VETH_RING_SIZE) and its RX rings hold. A lost packet stops the transfer:
// the server gives up after rawIdle without packets and the benchmark
// fails with the drop counters of both Links and of the veths. A run
// reports its drops (link-raw-drops), which must be zero.

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/dataplane/afxdp"
	"github.com/mpxdp/mpxdp/dataplane/link"
	"github.com/mpxdp/mpxdp/internal/testbed"
)

const (
	rawBatch   = 64    // the shard's batch (dataplane.Config.Batch default)
	rawWindow  = 256   // packets in flight at most
	rawSrcPort = 61000 // in the client Link's ephemeral range, so its filter owns replies (none come)
	rawCredit  = 3     // the child's end of the credit pipe
	rawIdle    = 5 * time.Second
	rawHdr     = 40 // IPv4 + TCP headers, no options
)

// rawCounts is what the link-raw server counted, for the parent.
type rawCounts struct {
	Packets   uint64 // payload packets counted
	Batches   uint64 // non-empty Receives
	Sleeps    uint64 // Waits after an empty Receive
	Reports   uint64 // credit reports written
	BadSum    uint64 // IP or TCP checksum wrong: not counted
	Other     uint64 // not an IPv4 TCP packet to bulkPort: not counted
	Link      link.Stats
	FillEmpty uint64 // the kernel found a fill ring empty (XDP_STATISTICS)
}

// rawPath is one path's addressing and sequence space.
type rawPath struct {
	src, dst [4]byte
	seq      uint32
}

// rawBuild writes an IPv4/TCP packet carrying payload into buf (at least
// rawHdr+len(payload) bytes) and returns its length. The payload goes in
// with the checksum fused into the copy, as the engine writes a segment.
func rawBuild(buf []byte, p *rawPath, id uint16, payload []byte) int {
	n := rawHdr + len(payload)
	ps := cksum.CopyAndSum(buf[rawHdr:n], payload)
	ip := buf[:20]
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(n))
	binary.BigEndian.PutUint16(ip[4:], id)
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, 6
	ip[10], ip[11] = 0, 0
	copy(ip[12:16], p.src[:])
	copy(ip[16:20], p.dst[:])
	binary.BigEndian.PutUint16(ip[10:], cksum.Checksum(ip, 0))
	tcp := buf[20:rawHdr]
	binary.BigEndian.PutUint16(tcp[0:], rawSrcPort)
	binary.BigEndian.PutUint16(tcp[2:], bulkPort)
	binary.BigEndian.PutUint32(tcp[4:], p.seq)
	binary.BigEndian.PutUint32(tcp[8:], 1)
	tcp[12], tcp[13] = 5<<4, 0x18 // ACK|PSH
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	tcp[16], tcp[17], tcp[18], tcp[19] = 0, 0, 0, 0
	pseudo := cksum.IPv4PseudoHeader(p.src, p.dst, 6, uint16(n-20))
	binary.BigEndian.PutUint16(tcp[16:], cksum.Checksum(tcp, cksum.Combine(pseudo, ps)))
	p.seq += uint32(len(payload))
	return n
}

// rawPayload checks an IP packet the server received, in one buffer or as
// a chain of buffers (p holding the headers, rest the remainder: the
// Link's Rest). It returns the payload length of a TCP segment to bulkPort
// whose IP and TCP checksums hold, having copied the payload to dst (which
// must hold it) in the same pass; ok is false, and bad tells why, for
// anything else.
func rawPayload(p []byte, rest [][]byte, dst []byte) (n int, ok, bad bool) {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != 6 {
		return 0, false, false
	}
	avail := len(p)
	for _, r := range rest {
		avail += len(r)
	}
	ihl, tot := int(p[0]&0xf)*4, int(binary.BigEndian.Uint16(p[2:]))
	if ihl < 20 || tot < ihl+20 || tot > avail || ihl+20 > len(p) {
		return 0, false, false
	}
	tcp := p[ihl:min(tot, len(p))]
	doff := int(tcp[12]>>4) * 4
	if binary.BigEndian.Uint16(tcp[2:]) != bulkPort || doff < 20 || doff > len(tcp) {
		return 0, false, false
	}
	if cksum.Checksum(p[:ihl], 0) != 0 {
		return 0, false, true
	}
	data := tcp[doff:]
	ps := cksum.CopyAndSum(dst[:len(data)], data)
	n, left := len(data), tot-ihl-len(tcp)
	for _, r := range rest {
		if left == 0 {
			break
		}
		r = r[:min(len(r), left)]
		ps = cksum.CombineAt(ps, cksum.CopyAndSum(dst[n:n+len(r)], r), n)
		n, left = n+len(r), left-len(r)
	}
	pseudo := cksum.IPv4PseudoHeader([4]byte(p[12:16]), [4]byte(p[16:20]), 6, uint16(tot-ihl))
	if cksum.Checksum(tcp[:doff], cksum.Combine(pseudo, ps)) != 0 {
		return 0, false, true
	}
	return n, true, false
}

// rawServe is the link-raw server half, in the child process.
func rawServe(job bulkJob) bulkReport {
	fail := func(err error) bulkReport { return bulkReport{Err: err.Error()} }
	var l *afxdp.Link
	if err := testbed.Do(job.NS, func() (err error) {
		l, err = afxdp.Open(afxdp.Config{Interfaces: job.Devs})
		return err
	}); err != nil {
		return fail(err)
	}
	defer l.Close()
	if err := l.ClaimPort(bulkPort); err != nil {
		return fail(err)
	}
	fmt.Printf("%slistening\n", bulkTag)
	// The loop's thread is measured as a shard's is.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	pkts := make([][]byte, rawBatch)
	scratch := make([]byte, 256<<10)
	every := int64(rawWindow / 4 * (l.MTU() - rawHdr))
	var (
		rc                 rawCounts
		got, reported      int64
		off                int
		cpu0, sys0, wait0  time.Duration
		ru0                time.Duration
		start              time.Time
		msg                [8]byte
		err                error
		last, idleDeadline = time.Now(), 30 * time.Second // the client opens its Link first
	)
	report := func() error {
		binary.LittleEndian.PutUint64(msg[:], uint64(got))
		reported = got
		rc.Reports++
		_, err := unix.Write(rawCredit, msg[:])
		return err
	}
	for got < job.Bytes {
		k := l.Receive(pkts)
		if k == 0 {
			// The sender waits only with nearly a window unreported,
			// so a sixteenth before a sleep is enough and saves writes.
			if got-reported >= every/4 {
				if err := report(); err != nil {
					return fail(fmt.Errorf("credit pipe: %w", err))
				}
			}
			if time.Since(last) > idleDeadline {
				rc.Link = l.Stats()
				js, _ := json.Marshal(rc)
				return bulkReport{Got: got, Err: fmt.Sprintf("link-raw: delivered %d of %d bytes, then nothing for %v; server counters %s", got, job.Bytes, idleDeadline, js)}
			}
			if err := l.Wait(100 * time.Millisecond); err != nil {
				return fail(err)
			}
			rc.Sleeps++
			continue
		}
		last = time.Now()
		rc.Batches++
		for i, p := range pkts[:k] {
			if off+l.MTU() > len(scratch) {
				off = 0
			}
			n, ok, bad := rawPayload(p, l.Rest(i), scratch[off:])
			switch {
			case ok && n > 0:
				got += int64(n)
				off += n
				rc.Packets++
			case bad:
				rc.BadSum++
			case !ok:
				rc.Other++
			}
		}
		if start.IsZero() && got > 0 {
			// The clock starts with the first payload (the client's
			// warm-up packets carry none); counts start after this batch.
			if cpu0, sys0, wait0, err = threadCPU(tid); err != nil {
				return fail(err)
			}
			ru0, start, idleDeadline = rusage(), last, rawIdle
			rc.Packets, rc.Batches, rc.Sleeps = 0, 0, 0
		}
		if got-reported >= every {
			if err := report(); err != nil {
				return fail(fmt.Errorf("credit pipe: %w", err))
			}
		}
	}
	fmt.Printf("%sdone\n", bulkTag)
	el := time.Since(start)
	rep := bulkReport{Got: got, Proc: rusage() - ru0}
	cpu, sys, wait, err := threadCPU(tid)
	if err != nil {
		return fail(err)
	}
	cpu, sys, wait = cpu-cpu0, sys-sys0, wait-wait0
	pk := float64(rc.Packets)
	rc.Link = l.Stats()
	for _, s := range l.SocketStats() {
		rc.FillEmpty += s.RXFillRingEmpty
	}
	rep.Shard = &shardReport{Ns: float64(cpu.Nanoseconds()) / pk, Sys: float64(sys.Nanoseconds()) / pk,
		Busy: cpu.Seconds() / el.Seconds(), Diag: map[string]float64{
			"rx/batch":    pk / float64(rc.Batches),
			"sleeps/pkt":  float64(rc.Sleeps) / pk,
			"reports/pkt": float64(rc.Reports) / pk,
			"runwait":     wait.Seconds() / el.Seconds(),
		}}
	rep.Raw = &rc
	if rc.BadSum > 0 {
		rep.Err = fmt.Sprintf("link-raw: %d packets with a bad checksum", rc.BadSum)
	}
	return rep
}

// vethDrops returns the drop counters of every veth of the bed: a full
// peer ring counts in the sender's tx_dropped, an XDP drop or a failed
// redirect into a socket in the receiver's rx_dropped.
func vethDrops(b *testing.B, tb *testbed.Bed) uint64 {
	var sum uint64
	for _, p := range tb.Paths {
		for _, x := range [][2]string{{tb.NSA, p.DevA}, {tb.NSB, p.DevB}} {
			out := tb.Run(x[0], "cat", "/sys/class/net/"+x[1]+"/statistics/rx_dropped", "/sys/class/net/"+x[1]+"/statistics/tx_dropped")
			for _, f := range strings.Fields(out) {
				v, err := strconv.ParseUint(f, 10, 64)
				if err != nil {
					b.Fatalf("veth counters of %s: %q", x[1], out)
				}
				sum += v
			}
		}
	}
	return sum
}

// runRaw moves bulkBytes from client to server once with link-raw.
func (bb *bulkBed) runRaw(b *testing.B) bulkResult {
	tb := bb.b
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		b.Fatal(os.NewSyscallError("pipe2", err))
	}
	rfd := fds[0]
	defer unix.Close(rfd)
	// The child writes blocking: a report must never be lost.
	if err := unix.SetNonblock(fds[1], false); err != nil {
		b.Fatal(err)
	}
	w := os.NewFile(uintptr(fds[1]), "credit")
	defer w.Close()
	srv := bb.startServer(b, bulkJob{Raw: true, NS: tb.NSB, Devs: tb.Devs(tb.NSB), Bytes: bulkBytes}, w)
	w.Close() // the child holds it now: its end means EOF here
	defer func() {
		if srv.cmd.ProcessState == nil {
			srv.cmd.Process.Kill()
			srv.cmd.Wait()
		}
	}()
	// failServer fails with the child's own report when it has one.
	failServer := func(what string) {
		l := srv.next(b, 10*time.Second)
		var rep bulkReport
		if js, ok := strings.CutPrefix(l, "result "); ok && json.Unmarshal([]byte(js), &rep) == nil && rep.Err != "" {
			b.Fatalf("link-raw: %s; bulk server: %s", what, rep.Err)
		}
		b.Fatalf("link-raw: %s; bulk server: %q", what, l)
	}

	var l *afxdp.Link
	if err := testbed.Do(tb.NSA, func() (err error) {
		l, err = afxdp.Open(afxdp.Config{Interfaces: tb.Devs(tb.NSA)})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	seg := l.MTU() - rawHdr
	paths := make([]rawPath, len(tb.Paths))
	for i, p := range tb.Paths {
		paths[i] = rawPath{src: p.A4.As4(), dst: p.B4.As4(), seq: 1}
	}
	bufs := make([][]byte, rawBatch)
	lens := make([]int, 0, rawBatch)
	// Warm-up: one packet without payload per path, so that the kernel
	// resolves the neighbours (a packet longer than a frame never waits
	// for one, afxdp.Link.Transmit) and the server's clock does not start.
	if k := l.Reserve(bufs[:len(paths)]); k != len(paths) {
		b.Fatalf("link-raw: Reserve gave %d of %d buffers", k, len(paths))
	}
	for i := range paths {
		lens = append(lens, rawBuild(bufs[i], &paths[i], 0, nil))
	}
	l.Transmit(lens)
	for t0 := time.Now(); l.Stats().TxPackets < uint64(len(paths)); {
		if st := l.Stats(); st.NoRoute+st.TxDropped > 0 || time.Since(t0) > 5*time.Second {
			b.Fatalf("link-raw: warm-up packets not sent: %+v", st)
		}
		if err := l.Wait(20 * time.Millisecond); err != nil {
			b.Fatal(err)
		}
	}
	payload := make([]byte, 256<<10)
	rand.Read(payload)
	veth0, lst0 := vethDrops(b, tb), l.Stats()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	cpu0, sys0, wait0, err := threadCPU(tid)
	if err != nil {
		b.Fatal(err)
	}
	host0, err := hostCPU()
	if err != nil {
		b.Fatal(err)
	}
	ru0 := rusage()
	start := time.Now()
	var (
		sent, acked          int64
		src, path            int
		id                   uint16
		pk, batches          uint64
		reads, waits, stalls uint64
		rbuf                 [4096]byte
		pfd                  = []unix.PollFd{{Fd: int32(rfd), Events: unix.POLLIN}}
		window               = int64(rawWindow * seg)
	)
	// credit reads the server's reports; it blocks (at most rawIdle and a
	// half, longer than the server waits for a lost packet) only if block.
	credit := func(block bool) {
		if block {
			waits++
			n, err := unix.Poll(pfd, int(rawIdle.Milliseconds()*3/2))
			if err != nil && err != unix.EINTR {
				b.Fatal(os.NewSyscallError("poll", err))
			}
			if n == 0 {
				b.Fatalf("link-raw: no credit for %v at %d of %d bytes sent, %d counted; client %+v", rawIdle*3/2, sent, bulkBytes, acked, l.Stats())
			}
		}
		reads++
		n, err := unix.Read(rfd, rbuf[:])
		switch {
		case n >= 8:
			acked = int64(binary.LittleEndian.Uint64(rbuf[n-8 : n]))
		case n == 0:
			failServer(fmt.Sprintf("the server ended at %d of %d bytes sent", sent, bulkBytes))
		case err != nil && err != unix.EAGAIN && err != unix.EINTR:
			b.Fatal(os.NewSyscallError("read", err))
		}
	}
	for sent < bulkBytes {
		if sent-acked > window/2 {
			credit(false)
			for sent-acked+int64(seg) > window {
				credit(true)
			}
		}
		want := min(int64(rawBatch), (window-(sent-acked))/int64(seg), (bulkBytes-sent+int64(seg)-1)/int64(seg))
		k := l.Reserve(bufs[:want])
		if k == 0 {
			// Every frame is in flight: let the kernel complete some.
			if stalls++; stalls > 1e6 {
				b.Fatalf("link-raw: no transmit buffer after %d tries: %+v", stalls, l.Stats())
			}
			if err := l.Wait(0); err != nil {
				b.Fatal(err)
			}
			continue
		}
		lens = lens[:0]
		p := &paths[path]
		for i := range k {
			if len(bufs[i]) < rawHdr+seg {
				b.Fatalf("link-raw: a transmit buffer of %d bytes for packets of %d", len(bufs[i]), rawHdr+seg)
			}
			n := int(min(int64(seg), bulkBytes-sent))
			if src+n > len(payload) {
				src = 0
			}
			id++
			lens = append(lens, rawBuild(bufs[i], p, id, payload[src:src+n]))
			src += n
			sent += int64(n)
		}
		l.Transmit(lens)
		pk += uint64(k)
		batches++
		if path++; path == len(paths) {
			path = 0
		}
	}
	if line := srv.next(b, 2*rawIdle); line != "done" {
		var rep bulkReport
		if js, ok := strings.CutPrefix(line, "result "); ok && json.Unmarshal([]byte(js), &rep) == nil {
			b.Fatalf("link-raw: bulk server: %s (client %+v, veth drops %d)", rep.Err, l.Stats(), vethDrops(b, tb)-veth0)
		}
		b.Fatalf("link-raw: bulk server: %q instead of done", line)
	}
	el := time.Since(start)
	ru := rusage() - ru0
	host, _ := hostCPU()
	host -= host0
	cpu, sys, wait, err := threadCPU(tid)
	if err != nil {
		b.Fatal(err)
	}
	cpu, sys, wait = cpu-cpu0, sys-sys0, wait-wait0
	lst := l.Stats()

	line := srv.next(b, 10*time.Second)
	var rep bulkReport
	if js, ok := strings.CutPrefix(line, "result "); !ok || json.Unmarshal([]byte(js), &rep) != nil || rep.Raw == nil || rep.Shard == nil {
		b.Fatalf("link-raw: bulk server: %q instead of a result", line)
	}
	if rep.Err != "" {
		b.Fatalf("link-raw: bulk server: %s", rep.Err)
	}
	if err := srv.cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			b.Fatal(err)
		}
		b.Fatalf("link-raw: bulk server: %v: %s", err, srv.stderr.String())
	}
	if rep.Got != bulkBytes {
		b.Fatalf("link-raw: the server counted %d of %d bytes", rep.Got, bulkBytes)
	}
	drops := (lst.TxDropped - lst0.TxDropped) + (lst.NoRoute - lst0.NoRoute) +
		rep.Raw.Link.RxDropped + rep.Raw.Other + (vethDrops(b, tb) - veth0)
	mib := float64(bulkBytes >> 20)
	res := bulkResult{gbps: float64(rep.Got) * 8 / el.Seconds() / 1e9,
		procMiB:  float64((ru + rep.Proc).Microseconds()) / 1e3 / mib,
		hostMiB:  float64(host.Microseconds()) / 1e3 / mib,
		hostBusy: host.Seconds() / el.Seconds(),
		drops:    float64(drops)}
	n := float64(pk)
	cl := shardReport{Ns: float64(cpu.Nanoseconds()) / n, Sys: float64(sys.Nanoseconds()) / n,
		Busy: cpu.Seconds() / el.Seconds(), Diag: map[string]float64{
			"tx/batch":         n / float64(batches),
			"credit-reads/pkt": float64(reads) / n,
			"credit-waits/pkt": float64(waits) / n,
			"stalls/pkt":       float64(stalls) / n,
			"runwait":          wait.Seconds() / el.Seconds(),
		}}
	rep.Shard.Diag["fill-empty/pkt"] = float64(rep.Raw.FillEmpty) / float64(rep.Raw.Packets)
	for _, r := range []shardReport{cl, *rep.Shard} {
		res.shardNs = append(res.shardNs, r.Ns)
		res.shardSys = append(res.shardSys, r.Sys)
		res.shardBusy = append(res.shardBusy, r.Busy)
		res.diag = append(res.diag, r.Diag)
	}
	return res
}

// TestRawPacket: what the link-raw client builds, its server accepts, and
// it rejects a changed byte and other ports; the checksums agree with a
// plain RFC 1071 loop.
func TestRawPacket(t *testing.T) {
	sum := func(b []byte) uint16 {
		var s uint32
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
		for s > 0xffff {
			s = s&0xffff + s>>16
		}
		return ^uint16(s)
	}
	for _, size := range []int{0, 1, 1459, 1460, 8960} {
		payload := make([]byte, size)
		rand.Read(payload)
		p := rawPath{src: [4]byte{10, 0, 1, 2}, dst: [4]byte{10, 0, 1, 1}, seq: 7}
		buf := make([]byte, rawHdr+size)
		n := rawBuild(buf, &p, 3, payload)
		if n != len(buf) || p.seq != 7+uint32(size) {
			t.Fatalf("size %d: length %d, next seq %d", size, n, p.seq)
		}
		if sum(buf[:20]) != 0 {
			t.Fatalf("size %d: IPv4 header checksum wrong", size)
		}
		pseudo := append(append(append([]byte{}, buf[12:20]...), 0, 6), byte((n-20)>>8), byte(n-20))
		if sum(append(pseudo, buf[20:]...)) != 0 {
			t.Fatalf("size %d: TCP checksum wrong", size)
		}
		dst := make([]byte, size)
		if m, ok, bad := rawPayload(buf, nil, dst); m != size || !ok || bad || string(dst) != string(payload) {
			t.Fatalf("size %d: rawPayload = %d, %v, %v (copy equal %v)", size, m, ok, bad, string(dst) == string(payload))
		}
		if size > 3840 {
			// As the Link hands over a jumbo frame: a chain of frames.
			clear(dst)
			rest := [][]byte{buf[3840-14 : 7680-14], buf[7680-14:]}
			if m, ok, bad := rawPayload(buf[:3840-14], rest, dst); m != size || !ok || bad || string(dst) != string(payload) {
				t.Fatalf("size %d: chained rawPayload = %d, %v, %v", size, m, ok, bad)
			}
			if _, ok, _ := rawPayload(buf[:3840-14], rest[:1], dst); ok {
				t.Fatalf("size %d: a chain missing its last buffer passed", size)
			}
		}
		if size > 0 {
			buf[rawHdr+size/2] ^= 0x40
			if _, ok, bad := rawPayload(buf, nil, dst); ok || !bad {
				t.Fatalf("size %d: a changed payload byte passed (ok %v, bad %v)", size, ok, bad)
			}
			buf[rawHdr+size/2] ^= 0x40
		}
		binary.BigEndian.PutUint16(buf[22:], bulkPort+1)
		if _, ok, bad := rawPayload(buf, nil, dst); ok || bad {
			t.Fatalf("size %d: another port: ok %v, bad %v", size, ok, bad)
		}
		if _, ok, _ := rawPayload(buf[:30], nil, dst); ok {
			t.Fatalf("size %d: a truncated packet passed", size)
		}
	}
}

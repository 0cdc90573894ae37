package xsk

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stack is the A side of a bed set up as mpxdp would: the filter attached
// natively to va, owning TCP port 5000 on both addresses, and one socket
// per queue on a shared UMEM.
type stack struct {
	f     *Filter
	u     *UMEM
	socks []*Socket
}

func newStack(t *testing.T, b *bed, fcfg FilterConfig, ucfg UMEMConfig, scfg SocketConfig, queues int) *stack {
	t.Helper()
	st := &stack{f: newTestFilter(t, fcfg)}
	var err error
	if st.u, err = NewUMEM(ucfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range st.socks {
			s.Close()
		}
		if err := st.u.Close(); err != nil {
			t.Errorf("UMEM close: %v", err)
		}
	})
	b.do(b.nsA, func() error {
		for q := range queues {
			s, err := Open(b.ifA, q, st.u, scfg)
			if err != nil {
				return err
			}
			st.socks = append(st.socks, s)
			if err := st.f.Register(q, s); err != nil {
				return err
			}
		}
		return st.f.Attach(b.ifA, AttachNative)
	})
	for _, ep := range []netip.AddrPort{netip.AddrPortFrom(b.ip4A, 5000), netip.AddrPortFrom(b.ip6A, 5000)} {
		if err := st.f.Own(ep); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range st.socks {
		s.Refill(s.Fill.Size())
	}
	return st
}

// receive collects frames from s until it has want packets (descriptor
// chains joined) or the timeout passes. It frees the frames.
func receive(t *testing.T, s *Socket, want int, timeout time.Duration) (pkts [][]byte, chains [][]Desc) {
	t.Helper()
	var descs [64]Desc
	var cur []byte
	var chain []Desc
	deadline := time.Now().Add(timeout)
	for len(pkts) < want && time.Now().Before(deadline) {
		if err := s.KickRX(); err != nil {
			t.Fatal(err)
		}
		n := s.Receive(descs[:])
		if n == 0 {
			s.Poll(10 * time.Millisecond)
			continue
		}
		for _, d := range descs[:n] {
			cur = append(cur, s.UMEM().Frame(d.Addr, int(d.Len))...)
			chain = append(chain, d)
			s.UMEM().Free(d.Addr)
			if !d.Continues() {
				pkts, chains = append(pkts, cur), append(chains, chain)
				cur, chain = nil, nil
			}
		}
		s.Refill(n)
	}
	return pkts, chains
}

// transmit sends frame from s as one descriptor, or as a chain of frames
// when it is larger than one, and waits for its completion.
func transmit(t *testing.T, s *Socket, frame []byte) {
	t.Helper()
	u := s.UMEM()
	var descs []Desc
	for off := 0; off < len(frame); {
		a, ok := u.Alloc()
		if !ok {
			t.Fatal("UMEM empty")
		}
		n := copy(u.Frame(a, min(u.FrameSize(), len(frame)-off)), frame[off:])
		off += n
		d := Desc{Addr: a, Len: uint32(n)}
		if off < len(frame) {
			d.Options = PktContd
		}
		descs = append(descs, d)
	}
	if n, err := s.Transmit(descs); err != nil || n != len(descs) {
		t.Fatalf("Transmit: %d of %d, %v", n, len(descs), err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for done := 0; done < len(descs); {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d descriptors completed", done, len(descs))
		}
		if err := s.KickTX(); err != nil {
			t.Fatal(err)
		}
		done += s.Complete()
		time.Sleep(time.Millisecond)
	}
}

func TestOpenModes(t *testing.T) {
	b := newBed(t, bedConfig{})
	u, err := NewUMEM(UMEMConfig{Frames: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	b.do(b.nsA, func() error {
		// INTEROP C.2: veth binds in copy mode only.
		_, err := Open(b.ifA, 0, u, SocketConfig{ZeroCopy: ZeroCopyRequire, BindTimeout: -1})
		if !errors.Is(err, unix.EOPNOTSUPP) || !strings.Contains(err.Error(), "zero-copy") {
			t.Errorf("ZeroCopyRequire on veth: %v, want EOPNOTSUPP with a hint", err)
		}
		for _, zc := range []ZeroCopy{ZeroCopyAuto, ZeroCopyNever} {
			s, err := Open(b.ifA, 0, u, SocketConfig{ZeroCopy: zc})
			if err != nil {
				return err
			}
			if s.Mode() != ModeCopy {
				t.Errorf("ZeroCopy %d: mode %v, want copy", zc, s.Mode())
			}
			if err := s.Close(); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestEndToEnd: TCP to the owned port reaches the RX ring whole, while ARP,
// ICMP, NDP, UDP and TCP to other ports still reach the kernel; frames put
// on the TX ring reach the peer.
func TestEndToEnd(t *testing.T) {
	b := newBed(t, bedConfig{})
	st := newStack(t, b, FilterConfig{}, UMEMConfig{Frames: 512}, SocketConfig{RXSize: 256, TXSize: 256, FillSize: 256, CompSize: 256}, 1)
	s := st.socks[0]

	// The kernel still answers ARP, ICMP and NDP for the stack's addresses.
	for _, addr := range []netip.Addr{b.ip4A, b.ip6A} {
		if err := ping(b.nsB, addr); err != nil {
			t.Errorf("ping %s through the filter: %v", addr, err)
		}
	}
	// A kernel listener on another port still gets its connections.
	var ln net.Listener
	b.do(b.nsA, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(b.ip4A, 6000).String())
		return err
	})
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("kernel"))
			c.Close()
		}
	}()
	b.do(b.nsB, func() error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(b.ip4A, 6000).String(), 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 6)
		if _, err := c.Read(buf); err != nil || string(buf) != "kernel" {
			t.Errorf("kernel TCP to an unowned port: %q, %v", buf, err)
		}
		return nil
	})
	if n := s.Receive(make([]Desc, 64)); n != 0 {
		t.Errorf("%d frames of kernel traffic reached the socket", n)
	}

	// Owned TCP, IPv4 and IPv6, arrives whole; UDP to the same port does not.
	ps := b.packetSocket(b.nsB, b.ifB)
	ps.send(t, ethernet(b.macA, b.macB, unix.ETH_P_IP, ipv4(b.ip4B, b.ip4A, unix.IPPROTO_UDP, nil, 0, udp(40000, 5000, []byte("udp")))))
	var sent [][]byte
	for i := range 8 {
		f := b.tcpFrame4(5000, pattern(100+i, byte(i)))
		if i%2 == 1 {
			f = b.tcpFrame6(5000, pattern(100+i, byte(i)))
		}
		sent = append(sent, f)
		ps.send(t, f)
	}
	got, _ := receive(t, s, len(sent), 2*time.Second)
	if len(got) != len(sent) {
		t.Fatalf("received %d of %d owned segments", len(got), len(sent))
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Errorf("segment %d differs:\n got %x\nwant %x", i, got[i], sent[i])
		}
	}
	time.Sleep(20 * time.Millisecond)
	if n := s.Receive(make([]Desc, 64)); n != 0 {
		t.Errorf("%d unexpected frames (the UDP datagram?)", n)
	}

	// TX: a frame written to the TX ring reaches the peer.
	out := ethernet(b.macB, b.macA, unix.ETH_P_IP, ipv4(b.ip4A, b.ip4B, unix.IPPROTO_UDP, nil, 0, udp(5000, 40001, pattern(200, 9))))
	transmit(t, s, out)
	cap := ps.recv(t, 2*time.Second, func(f []byte) bool { return bytes.Equal(f, out) })
	if cap == nil {
		t.Error("the transmitted frame did not reach the peer")
	}
	stats, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.RXInvalidDescs != 0 || stats.TXInvalidDescs != 0 || stats.RXDropped != 0 {
		t.Errorf("stats %+v", stats)
	}
	if avail, want := st.u.Available(), st.u.Frames()-s.Fill.Size(); avail != want {
		t.Errorf("UMEM has %d free frames, want %d (all but the fill ring's)", avail, want)
	}
}

// TestNeedWakeup: in copy mode the kernel sets need_wakeup on the TX ring;
// a submitted frame waits for the kick.
func TestNeedWakeup(t *testing.T) {
	b := newBed(t, bedConfig{})
	st := newStack(t, b, FilterConfig{}, UMEMConfig{Frames: 64}, SocketConfig{RXSize: 32, TXSize: 32, FillSize: 32, CompSize: 32}, 1)
	s := st.socks[0]
	if !s.TX.NeedWakeup() {
		t.Fatal("copy mode: TX ring without need_wakeup")
	}
	ps := b.packetSocket(b.nsB, b.ifB)
	out := ethernet(b.macB, b.macA, unix.ETH_P_IP, ipv4(b.ip4A, b.ip4B, unix.IPPROTO_UDP, nil, 0, udp(5000, 40002, pattern(64, 3))))
	a, _ := st.u.Alloc()
	copy(st.u.Frame(a, len(out)), out)
	if s.TX.Push([]Desc{{Addr: a, Len: uint32(len(out))}}) != 1 {
		t.Fatal("TX ring full")
	}
	if f := ps.recv(t, 100*time.Millisecond, func(f []byte) bool { return bytes.Equal(f, out) }); f != nil {
		t.Fatal("frame sent without a kick")
	}
	if s.TX.Pending() != 1 {
		t.Fatalf("pending %d, want 1", s.TX.Pending())
	}
	if err := s.KickTX(); err != nil {
		t.Fatal(err)
	}
	if f := ps.recv(t, 2*time.Second, func(f []byte) bool { return bytes.Equal(f, out) }); f == nil {
		t.Fatal("frame not sent after the kick")
	}
}

// TestMultiBuffer: with MTU 9000, packets arrive and leave as chains of
// 4 KiB frames flagged PktContd; a socket without MultiBuffer drops them
// and counts the drop.
func TestMultiBuffer(t *testing.T) {
	b := newBed(t, bedConfig{mtu: 9000})
	for _, mb := range []bool{true, false} {
		name := map[bool]string{true: "sg", false: "nosg"}[mb]
		t.Run(name, func(t *testing.T) {
			st := newStack(t, b, FilterConfig{MultiBuffer: true}, UMEMConfig{Frames: 512},
				SocketConfig{RXSize: 256, TXSize: 256, FillSize: 256, CompSize: 256, MultiBuffer: mb}, 1)
			s := st.socks[0]
			ps := b.packetSocket(b.nsB, b.ifB)
			jumbo := b.tcpFrame4(5000, pattern(9000-40, 5))
			small := b.tcpFrame6(5000, pattern(60, 6))
			ps.send(t, jumbo)
			ps.send(t, small)
			if !mb {
				got, _ := receive(t, s, 1, 2*time.Second)
				if len(got) != 1 || !bytes.Equal(got[0], small) {
					t.Fatalf("got %d packets, want only the small one", len(got))
				}
				stats, _ := s.Stats()
				if stats.RXDropped == 0 {
					t.Errorf("jumbo frame dropped without a count: %+v", stats)
				}
				return
			}
			got, chains := receive(t, s, 2, 2*time.Second)
			if len(got) != 2 {
				t.Fatalf("received %d of 2 packets", len(got))
			}
			if !bytes.Equal(got[0], jumbo) || !bytes.Equal(got[1], small) {
				t.Errorf("packets differ (lengths %d, %d)", len(got[0]), len(got[1]))
			}
			if len(chains[0]) < 3 {
				t.Errorf("9014-byte frame in %d descriptors", len(chains[0]))
			}
			t.Logf("RX chain lengths: %v", descLens(chains[0]))
			out := ethernet(b.macB, b.macA, unix.ETH_P_IP, ipv4(b.ip4A, b.ip4B, unix.IPPROTO_UDP, nil, 0, udp(5000, 40003, pattern(9000-28, 7))))
			transmit(t, s, out)
			if f := ps.recv(t, 2*time.Second, func(f []byte) bool { return bytes.Equal(f, out) }); f == nil {
				t.Error("the 9014-byte chain did not reach the peer whole")
			}
			if stats, _ := s.Stats(); stats.TXInvalidDescs != 0 || stats.RXDropped != 0 {
				t.Errorf("stats %+v", stats)
			}
		})
	}
}

func descLens(ds []Desc) []uint32 {
	var l []uint32
	for _, d := range ds {
		l = append(l, d.Len)
	}
	return l
}

// TestRebind: closing a socket and opening one on the same queue at once
// works (Open waits out the kernel's asynchronous release), and Close
// returns the fill ring's frames to the UMEM.
func TestRebind(t *testing.T) {
	b := newBed(t, bedConfig{})
	f := newTestFilter(t, FilterConfig{})
	u, err := NewUMEM(UMEMConfig{Frames: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	b.do(b.nsA, func() error { return f.Attach(b.ifA, AttachNative) })
	if err := f.Own(netip.AddrPortFrom(b.ip4A, 5000)); err != nil {
		t.Fatal(err)
	}
	ps := b.packetSocket(b.nsB, b.ifB)
	tries := 0
	for i := range 5 {
		var s *Socket
		b.do(b.nsA, func() (err error) {
			s, err = Open(b.ifA, 0, u, SocketConfig{RXSize: 256, FillSize: 256, CompSize: 256, TXSize: 256})
			return err
		})
		tries += s.BindTries()
		if err := f.Register(0, s); err != nil {
			t.Fatal(err)
		}
		s.Refill(256)
		frame := b.tcpFrame4(5000, pattern(80, byte(i)))
		ps.send(t, frame)
		got, _ := receive(t, s, 1, 2*time.Second)
		if len(got) != 1 || !bytes.Equal(got[0], frame) {
			t.Fatalf("round %d: received %d packets", i, len(got))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if u.Available() != u.Frames() {
			t.Fatalf("round %d: %d of %d frames back after Close", i, u.Available(), u.Frames())
		}
	}
	t.Logf("5 rebinds took %d binds", tries)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSharedUMEM: two queues, one socket each, one UMEM (XDP_SHARED_UMEM);
// the peer sends on each queue from an AF_XDP socket of its own.
func TestSharedUMEM(t *testing.T) {
	b := newBed(t, bedConfig{queues: 2})
	st := newStack(t, b, FilterConfig{}, UMEMConfig{Frames: 1024}, SocketConfig{RXSize: 256, TXSize: 256, FillSize: 256, CompSize: 256}, 2)
	ub, err := NewUMEM(UMEMConfig{Frames: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer ub.Close()
	for q := range 2 {
		var tx *Socket
		b.do(b.nsB, func() (err error) {
			tx, err = Open(b.ifB, q, ub, SocketConfig{RXSize: -1, TXSize: 64, FillSize: 64, CompSize: 64})
			return err
		})
		frame := b.tcpFrame4(5000, pattern(70, byte(q)))
		transmit(t, tx, frame)
		got, _ := receive(t, st.socks[q], 1, 2*time.Second)
		if len(got) != 1 || !bytes.Equal(got[0], frame) {
			t.Errorf("queue %d: received %d packets", q, len(got))
		}
		if n := st.socks[1-q].Receive(make([]Desc, 8)); n != 0 {
			t.Errorf("queue %d's packet also on queue %d", q, 1-q)
		}
		tx.Close()
	}
}

// TestBusyPoll: a busy-polling socket receives when it kicks.
func TestBusyPoll(t *testing.T) {
	b := newBed(t, bedConfig{})
	st := newStack(t, b, FilterConfig{}, UMEMConfig{Frames: 256}, SocketConfig{RXSize: 64, TXSize: 64, FillSize: 64, CompSize: 64,
		BusyPoll: BusyPoll{Timeout: 20 * time.Microsecond, Budget: 64}}, 1)
	ps := b.packetSocket(b.nsB, b.ifB)
	frame := b.tcpFrame4(5000, pattern(64, 1))
	ps.send(t, frame)
	got, _ := receive(t, st.socks[0], 1, 2*time.Second)
	if len(got) != 1 || !bytes.Equal(got[0], frame) {
		t.Fatalf("received %d packets", len(got))
	}
}

// TestStatsFillEmpty: with nothing on the fill ring, arriving segments are
// dropped and counted (XDP_STATISTICS).
func TestStatsFillEmpty(t *testing.T) {
	b := newBed(t, bedConfig{})
	st := newStack(t, b, FilterConfig{}, UMEMConfig{Frames: 64}, SocketConfig{RXSize: 32, TXSize: 32, FillSize: 32, CompSize: 32}, 1)
	s := st.socks[0]
	// newStack filled the ring; take the frames back by closing and
	// reopening without a refill.
	s.Close()
	st.socks = nil
	b.do(b.nsA, func() (err error) {
		s, err = Open(b.ifA, 0, st.u, SocketConfig{RXSize: 32, TXSize: 32, FillSize: 32, CompSize: 32})
		return err
	})
	st.socks = []*Socket{s}
	if err := st.f.Register(0, s); err != nil {
		t.Fatal(err)
	}
	ps := b.packetSocket(b.nsB, b.ifB)
	for range 5 {
		ps.send(t, b.tcpFrame4(5000, nil))
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		stats, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if stats.RXFillRingEmpty > 0 && stats.RXDropped > 0 {
			t.Logf("%+v", stats)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drops not counted: %+v", stats)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestZeroAllocs: the batch RX and TX paths, kicks and statistics
// included, allocate nothing.
func TestZeroAllocs(t *testing.T) {
	b := newBed(t, bedConfig{})
	st := newStack(t, b, FilterConfig{}, UMEMConfig{Frames: 1024}, SocketConfig{RXSize: 256, TXSize: 256, FillSize: 256, CompSize: 256}, 1)
	s := st.socks[0]
	ps := b.packetSocket(b.nsB, b.ifB)
	for range 200 {
		ps.send(t, b.tcpFrame4(5000, pattern(64, 1)))
	}
	out := ethernet(b.macB, b.macA, unix.ETH_P_IP, ipv4(b.ip4A, b.ip4B, unix.IPPROTO_UDP, nil, 0, udp(5000, 40004, pattern(64, 2))))
	var rx [64]Desc
	var tx [8]Desc
	received := 0
	allocs := testing.AllocsPerRun(200, func() {
		n := s.Receive(rx[:])
		received += n
		for _, d := range rx[:n] {
			st.u.Free(d.Addr)
		}
		s.Refill(n)
		s.KickRX()
		k := 0
		for ; k < len(tx); k++ {
			a, ok := st.u.Alloc()
			if !ok {
				break
			}
			copy(st.u.Frame(a, len(out)), out)
			tx[k] = Desc{Addr: a, Len: uint32(len(out))}
		}
		m, _ := s.Transmit(tx[:k])
		for _, d := range tx[m:k] {
			st.u.Free(d.Addr)
		}
		s.Complete()
		s.Stats()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batch", allocs)
	}
	if received == 0 {
		t.Error("the loop received nothing")
	}
}

// TestSetupErrors: set-up errors name the system call and give a hint.
func TestSetupErrors(t *testing.T) {
	for _, cfg := range []UMEMConfig{{FrameSize: 8192}, {FrameSize: 1000}, {Frames: -1}, {Headroom: 4000}} {
		if _, err := NewUMEM(cfg); err == nil {
			t.Errorf("NewUMEM(%+v) accepted", cfg)
		}
	}
	if h := hint("setsockopt(XDP_UMEM_REG)", unix.EPERM); !strings.Contains(h, "CAP_NET_ADMIN") {
		t.Errorf("EPERM hint %q", h)
	}
	err := setupError("setsockopt(XDP_UMEM_REG)", unix.EPERM)
	if want := "xsk: setsockopt(XDP_UMEM_REG): operation not permitted: run as root"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %q, want prefix %q", err, want)
	}
	if !errors.Is(err, unix.EPERM) {
		t.Error("SetupError does not unwrap to its errno")
	}

	if os.Geteuid() != 0 {
		// Unprivileged: the very first step fails, and says what to do.
		u, err := NewUMEM(UMEMConfig{Frames: 64})
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		_, err = Open(1, 0, u, SocketConfig{})
		if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "socket(AF_XDP): operation not permitted: run as root") {
			t.Errorf("unprivileged Open: %v", err)
		}
		if _, err := NewFilter(FilterConfig{}); !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "CAP_BPF") {
			t.Errorf("unprivileged NewFilter: %v", err)
		}
	}
	b := newBed(t, bedConfig{})
	u, err := NewUMEM(UMEMConfig{Frames: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for _, bad := range []SocketConfig{{RXSize: 100}, {RXSize: -1, TXSize: -1}, {TXBudget: 16}} {
		if _, err := Open(b.ifA, 0, u, bad); err == nil {
			t.Errorf("Open(%+v) accepted", bad)
		}
	}
	b.do(b.nsA, func() error {
		_, err := Open(12345, 0, u, SocketConfig{})
		if !errors.Is(err, unix.ENODEV) || !strings.Contains(err.Error(), "bind: no such device: no such interface") {
			t.Errorf("bind to a missing device: %v", err)
		}
		_, err = Open(b.ifA, 7, u, SocketConfig{})
		if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "invalid queue") {
			t.Errorf("bind to a missing queue: %v", err)
		}
		s, err := Open(b.ifA, 0, u, SocketConfig{TXBudget: 256})
		if err != nil {
			return err
		}
		defer s.Close()
		// A second socket on the queue: EBUSY after the retries, with a hint.
		start := time.Now()
		u2, _ := NewUMEM(UMEMConfig{Frames: 64})
		defer u2.Close()
		_, err = Open(b.ifA, 0, u2, SocketConfig{BindTimeout: 100 * time.Millisecond})
		if !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "tries") {
			t.Errorf("second socket on a queue: %v", err)
		}
		if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
			t.Errorf("EBUSY retries took %v", d)
		}
		if err := u.Close(); !errors.Is(err, ErrUMEMInUse) {
			t.Errorf("UMEM close with an open socket: %v", err)
		}
		return nil
	})
}

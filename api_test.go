package mpxdp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/dataplane/pipe"
	"github.com/mpxdp/mpxdp/mptcp"
)

func twoPaths() pipe.Config { return pipe.Config{Paths: make([]pipe.Path, 2)} }

// TestCloseOrders: a request and a response, then the client closes
// first, or the server does; both sides see the other's data, then
// io.EOF, and their connections close without error.
func TestCloseOrders(t *testing.T) {
	for _, clientFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("clientFirst=%v", clientFirst), func(t *testing.T) {
			sa, sb := pipePair(t, twoPaths(), mpxdp.Config{}, mpxdp.Config{})
			c, s := connected(t, sa, sb)
			req, resp := randomBytes(3, 100<<10), randomBytes(4, 300<<10)
			if _, err := c.Write(req); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(req))
			if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, req) {
				t.Fatalf("server read %v (equal %v)", err, bytes.Equal(got, req))
			}
			if _, err := s.Write(resp); err != nil {
				t.Fatal(err)
			}
			got = make([]byte, len(resp))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, resp) {
				t.Fatalf("client read %v (equal %v)", err, bytes.Equal(got, resp))
			}
			first, second := c, s
			if !clientFirst {
				first, second = s, c
			}
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			if n, err := second.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Fatalf("after the peer's Close: Read = %d, %v; want 0, io.EOF", n, err)
			}
			if err := second.Close(); err != nil {
				t.Fatal(err)
			}
			// Both ends closed in order: the stacks end up without connections.
			waitFor(t, "connections to finish", func() bool {
				return sa.Stats().Conns == 0 && sb.Stats().Conns == 0
			})
			for _, x := range []*mpxdp.Conn{c, s} {
				if _, err := x.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
					t.Errorf("Read after Close: %v, want net.ErrClosed", err)
				}
				if err := x.Close(); !errors.Is(err, net.ErrClosed) {
					t.Errorf("second Close: %v, want net.ErrClosed", err)
				}
			}
		})
	}
}

// waitFor polls cond (the shards work in real time) for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCloseWrite: after the client's CloseWrite the server reads io.EOF,
// then still sends its response, which the client reads; the client's
// Writes fail with EPIPE.
func TestCloseWrite(t *testing.T) {
	sa, sb := pipePair(t, twoPaths(), mpxdp.Config{}, mpxdp.Config{})
	c, s := connected(t, sa, sb)
	req := randomBytes(5, 1<<20)
	if err := sendAndHash(c, req); err != nil {
		t.Fatal(err)
	}
	sum, n, err := readAndHash(s)
	if err != nil || n != int64(len(req)) || sum != sha256.Sum256(req) {
		t.Fatalf("server read %d bytes, err %v", n, err)
	}
	if _, err := c.Write([]byte("more")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write after CloseWrite: %v, want EPIPE", err)
	}
	resp := randomBytes(6, 2<<20)
	go func() {
		s.Write(resp)
		s.Close()
	}()
	sum, n, err = readAndHash(c)
	if err != nil || n != int64(len(resp)) || sum != sha256.Sum256(resp) {
		t.Fatalf("client read %d bytes after its CloseWrite, err %v", n, err)
	}
	c.Close()
}

// TestDeadlines: read and write deadlines in the future, in the past, and
// reset (extended or cleared) while a call is blocked.
func TestDeadlines(t *testing.T) {
	sa, sb := pipePair(t, twoPaths(), mpxdp.Config{}, mpxdp.Config{})
	c, s := connected(t, sa, sb)
	buf := make([]byte, 1024)
	isTimeout := func(err error) bool {
		var ne net.Error
		return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
	}

	// Future read deadline: Read waits for it, then times out.
	start := time.Now()
	c.SetReadDeadline(start.Add(50 * time.Millisecond))
	if n, err := c.Read(buf); n != 0 || !isTimeout(err) {
		t.Fatalf("Read with a deadline and no data = %d, %v", n, err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("Read timed out after %v, before its deadline", d)
	}
	// Past deadline: fails at once even with data buffered.
	s.Write([]byte("x"))
	c.SetReadDeadline(time.Now().Add(-time.Second))
	time.Sleep(10 * time.Millisecond)
	if n, err := c.Read(buf); n != 0 || !isTimeout(err) {
		t.Fatalf("Read with a past deadline = %d, %v", n, err)
	}
	// Cleared: the buffered byte is read.
	c.SetReadDeadline(time.Time{})
	if n, err := c.Read(buf); n != 1 || err != nil {
		t.Fatalf("Read after clearing the deadline = %d, %v", n, err)
	}

	// A deadline extended while Read is blocked: the Read sees the new
	// one, and data arriving before it completes the Read.
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	done := make(chan error, 1)
	go func() {
		n, err := c.Read(buf)
		if err == nil && n != 2 {
			err = fmt.Errorf("read %d bytes, want 2", n)
		}
		done <- err
	}()
	time.Sleep(5 * time.Millisecond)
	c.SetReadDeadline(time.Now().Add(time.Hour))
	time.Sleep(250 * time.Millisecond) // past the first deadline
	s.Write([]byte("yz"))
	if err := <-done; err != nil {
		t.Fatalf("Read with an extended deadline: %v", err)
	}
	// A deadline cleared while Read is blocked never fires.
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	go func() {
		_, err := c.Read(buf)
		done <- err
	}()
	time.Sleep(5 * time.Millisecond)
	c.SetReadDeadline(time.Time{})
	time.Sleep(250 * time.Millisecond)
	s.Write([]byte("w"))
	if err := <-done; err != nil {
		t.Fatalf("Read with a cleared deadline: %v", err)
	}
	// A past deadline set while Read is blocked unblocks it.
	go func() {
		_, err := c.Read(buf)
		done <- err
	}()
	time.Sleep(5 * time.Millisecond)
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if err := <-done; !isTimeout(err) {
		t.Fatalf("Read after a past deadline was set: %v", err)
	}
	c.SetReadDeadline(time.Time{})

	// Write deadline: nobody reads at the server, so writes fill the
	// buffers and the deadline ends a Write that took part of its data.
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	big := make([]byte, 64<<20)
	n, err := c.Write(big)
	if !isTimeout(err) || n == 0 || n == len(big) {
		t.Fatalf("Write past the buffers = %d, %v; want a partial count and a timeout", n, err)
	}
	if n, err := c.Write(buf); n != 0 || !isTimeout(err) {
		t.Fatalf("Write after its deadline = %d, %v", n, err)
	}
	// Reset: the server drains, and writing works again.
	c.SetWriteDeadline(time.Time{})
	go io.Copy(io.Discard, s)
	if _, err := c.Write(buf); err != nil {
		t.Fatalf("Write after clearing the deadline: %v", err)
	}
	// Accept deadline.
	ln, err := sb.Listen("tcp", ":6000")
	if err != nil {
		t.Fatal(err)
	}
	ln.SetDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := ln.Accept(); !isTimeout(err) {
		t.Fatalf("Accept past its deadline: %v", err)
	}
	ln.Close()
}

// TestConcurrentReadWriteClose: Reads and Writes blocked in several
// goroutines all return when another goroutine closes the connection;
// their errors are net.ErrClosed, and the race detector has nothing to
// say.
func TestConcurrentReadWriteClose(t *testing.T) {
	sa, sb := pipePair(t, twoPaths(), mpxdp.Config{SendBuffer: 256 << 10}, mpxdp.Config{RecvBuffer: 256 << 10})
	c, s := connected(t, sa, sb)
	_ = s // the server never reads, so writers block
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			for {
				if _, err := c.Write(buf); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked call ended with %v, want net.ErrClosed", err)
		}
	}
}

// TestDialRefused: a dial to a port without listener fails like a kernel
// socket's: *net.OpError wrapping ECONNREFUSED.
func TestDialRefused(t *testing.T) {
	sa, _ := pipePair(t, twoPaths(), mpxdp.Config{}, mpxdp.Config{})
	_, err := sa.Dial("tcp", "10.0.1.2:5999")
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial to a closed port: %v (%T); want *net.OpError with ECONNREFUSED", err, err)
	}
	if !strings.Contains(err.Error(), "10.0.1.2:5999") {
		t.Errorf("error %q does not name the address", err)
	}
}

// TestDialErrors: bad networks and addresses, an unreachable peer with a
// context deadline, and a canceled context.
func TestDialErrors(t *testing.T) {
	sa, _ := pipePair(t, twoPaths(), mpxdp.Config{}, mpxdp.Config{})
	if _, err := sa.Dial("udp", "10.0.1.2:1"); err == nil {
		t.Error("udp accepted")
	}
	if _, err := sa.Dial("tcp", "example.com:80"); err == nil {
		t.Error("host name accepted")
	}
	if _, err := sa.Dial("tcp6", "10.0.1.2:80"); err == nil {
		t.Error("tcp6 with an IPv4 address accepted")
	}
	if _, err := sa.Dial("tcp", "10.0.2.1:80"); !errors.Is(err, mpxdp.ErrLoopback) {
		t.Errorf("dial to an own address: %v", err)
	}
	// 10.9.9.9 is on no path: the SYNs are dropped (no route), and the
	// context ends the dial.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := sa.DialContext(ctx, "tcp", "10.9.9.9:80")
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("dial with an expired context: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err = sa.DialContext(ctx, "tcp", "10.0.1.2:80"); !errors.Is(err, context.Canceled) {
		t.Errorf("dial with a canceled context: %v", err)
	}
	var addrs int
	if err := sa.Do(func(ep *mptcp.Endpoint) { addrs = len(ep.Config().LocalAddrs) }); err != nil || addrs != 2 {
		t.Errorf("Do: %v, %d local addresses; want 2", err, addrs)
	}
}

// TestPeerReset: the peer aborts; a blocked Read returns the typed reset
// error, which also matches ECONNRESET; later Writes fail the same way.
func TestPeerReset(t *testing.T) {
	sa, sb := pipePair(t, twoPaths(), mpxdp.Config{}, mpxdp.Config{})
	c, s := connected(t, sa, sb)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 100))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := s.Abort(); err != nil {
		t.Fatal(err)
	}
	err := <-done
	var re *mpxdp.ResetError
	if !errors.As(err, &re) || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after the peer's Abort: %v (%T); want a *ResetError", err, err)
	}
	if !re.FastClose {
		t.Errorf("reset %+v, want MP_FASTCLOSE", re)
	}
	if _, err := c.Write([]byte("x")); !errors.As(err, &re) {
		t.Errorf("Write after the reset: %v", err)
	}
}

// TestListenerClose: Close unblocks Accept with net.ErrClosed; the port
// can be listened on again; Listen on a used port fails with EADDRINUSE.
func TestListenerClose(t *testing.T) {
	_, sb := pipePair(t, twoPaths(), mpxdp.Config{}, mpxdp.Config{})
	ln, err := sb.Listen("tcp", ":7000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Listen("tcp", ":7000"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second Listen: %v, want EADDRINUSE", err)
	}
	if _, err := sb.Listen("tcp", "10.0.9.9:7001"); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("Listen on a foreign address: %v, want EADDRNOTAVAIL", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if err := ln.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	ln2, err := sb.Listen("tcp", ":7000")
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	ln2.Close()
	ln3, err := sb.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	if p := ln3.Addr().(*net.TCPAddr).Port; p == 0 {
		t.Error("port 0 was not replaced")
	}
	ln3.Close()
}

// TestManyConns: 64 connections at once, each echoing 64 KiB.
func TestManyConns(t *testing.T) {
	const conns, size = 64, 64 << 10
	sa, sb := pipePair(t, twoPaths(), mpxdp.Config{}, mpxdp.Config{})
	ln, err := sb.Listen("tcp", ":5002")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(s, s)
				s.Close()
			}()
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := sa.Dial("tcp", fmt.Sprintf("10.0.%d.2:5002", i%2+1))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			data := randomBytes(uint64(i), size)
			go sendAndHash(c, data)
			sum, n, err := readAndHash(c)
			if err != nil || n != size || sum != sha256.Sum256(data) {
				errs <- fmt.Errorf("conn %d: echoed %d bytes, err %v", i, n, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestImpairedMultipath: 4 MiB each way over two impaired paths (rate,
// delay, loss, reordering, a bounded queue), SHA-256 compared; both
// paths carry data.
func TestImpairedMultipath(t *testing.T) {
	pc := pipe.Config{Seed: 7, Paths: []pipe.Path{
		{Forward: pipe.Impairment{Rate: 80e6, Delay: 2 * time.Millisecond, Loss: 0.01, QueueBytes: 200 << 10}},
		{Forward: pipe.Impairment{Rate: 40e6, Delay: 6 * time.Millisecond, Loss: 0.005,
			Reorder: 0.01, ReorderDelay: 2 * time.Millisecond, QueueBytes: 150 << 10}},
	}}
	for _, cc := range []string{"cubic", "lia"} {
		t.Run(cc, func(t *testing.T) {
			sa, sb := pipePair(t, pc, mpxdp.Config{CongestionControl: cc}, mpxdp.Config{CongestionControl: cc})
			c, s := connected(t, sa, sb)
			size := 4 << 20
			if testing.Short() {
				size = 1 << 20 // the race detector's CI run
			}
			up, down := randomBytes(8, size), randomBytes(9, size)
			errs := make(chan error, 2)
			go func() { errs <- sendAndHash(c, up) }()
			go func() { errs <- sendAndHash(s, down) }()
			type res struct {
				sum [32]byte
				n   int64
				err error
			}
			upRes := make(chan res, 1)
			go func() {
				sum, n, err := readAndHash(s)
				upRes <- res{sum, n, err}
			}()
			sum, n, err := readAndHash(c)
			if err != nil || n != int64(len(down)) || sum != sha256.Sum256(down) {
				t.Fatalf("client read %d of %d bytes, err %v", n, len(down), err)
			}
			r := <-upRes
			if r.err != nil || r.n != int64(len(up)) || r.sum != sha256.Sum256(up) {
				t.Fatalf("server read %d of %d bytes, err %v", r.n, len(up), r.err)
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			la := sa.Link().(*pipe.Link)
			var lost uint64
			for i := range 2 {
				ps := la.PathStats(i)
				lost += ps.Lost
				if ps.Bytes < uint64(size/16) {
					t.Errorf("path %d carried only %d bytes up", i, ps.Bytes)
				}
			}
			if lost == 0 {
				t.Error("no packet was lost: the impairment did not work")
			}
			sf, _ := c.Subflows()
			st, _ := c.Stats()
			t.Logf("%d subflows, %d packets lost up, reinjected %d bytes", len(sf), lost, st.Reinjected)
			c.Close()
			s.Close()
		})
	}
}

// TestStackClose: closing a stack ends blocked Reads, Writes and Accepts
// with net.ErrClosed, the peer sees resets, and no goroutine of the
// runtime is left.
func TestStackClose(t *testing.T) {
	before := runtimeGoroutines()
	sa, sb, err := mpxdp.NewPipePair(twoPaths(), mpxdp.Config{SendBuffer: 64 << 10}, mpxdp.Config{RecvBuffer: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	c, s := connected(t, sa, sb)
	ln, err := sa.Listen("tcp", ":8000")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	go func() { _, err := c.Read(make([]byte, 10)); errs <- err }()
	go func() { _, err := c.Write(make([]byte, 1<<20)); errs <- err }()
	go func() { _, err := ln.Accept(); errs <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := <-errs; !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked call after Stack.Close: %v, want net.ErrClosed", err)
		}
	}
	if _, err := sa.Dial("tcp", "10.0.1.2:5001"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial after Stack.Close: %v", err)
	}
	// The peer's connection was reset (its data was not all read).
	if _, err := io.Copy(io.Discard, s); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("peer after Stack.Close: %v, want a reset", err)
	}
	if err := sa.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	sb.Close()
	waitFor(t, "runtime goroutines to end", func() bool { return runtimeGoroutines() <= before })
}

// runtimeGoroutines counts goroutines running runtime or API code of this
// module (test goroutines excluded).
func runtimeGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "mpxdp/dataplane.") || strings.Contains(g, "mpxdp.(*") && !strings.Contains(g, "_test.go") {
			n++
		}
	}
	return n
}

// TestPlainTCPPeers: a stack with MPTCP disabled on either side; the
// connection works as TCP, reports MPTCP() false, and the MPTCP client
// says why it fell back.
func TestPlainTCPPeers(t *testing.T) {
	for _, plainServer := range []bool{true, false} {
		t.Run(fmt.Sprintf("plainServer=%v", plainServer), func(t *testing.T) {
			ca, cb := mpxdp.Config{DisableMPTCP: !plainServer}, mpxdp.Config{DisableMPTCP: plainServer}
			sa, sb := pipePair(t, twoPaths(), ca, cb)
			c, s := connected(t, sa, sb)
			data := randomBytes(11, 512<<10)
			go sendAndHash(c, data)
			sum, n, err := readAndHash(s)
			if err != nil || n != int64(len(data)) || sum != sha256.Sum256(data) {
				t.Fatalf("read %d bytes, %v", n, err)
			}
			if c.MPTCP() || s.MPTCP() {
				t.Errorf("MPTCP() = %v, %v with a plain TCP peer", c.MPTCP(), s.MPTCP())
			}
			if sf, _ := c.Subflows(); len(sf) != 1 {
				t.Errorf("%d subflows", len(sf))
			}
			if plainServer && c.Fallback() == nil {
				t.Error("the MPTCP client does not say why it fell back")
			}
		})
	}
}

// TestIPv6: a pipe with IPv6 addresses (MSS 1440 at MTU 1500).
func TestIPv6(t *testing.T) {
	pc := pipe.Config{Paths: []pipe.Path{
		{A: netip.MustParseAddr("fd00:1::1"), B: netip.MustParseAddr("fd00:1::2")},
		{A: netip.MustParseAddr("fd00:2::1"), B: netip.MustParseAddr("fd00:2::2")},
	}}
	sa, sb := pipePair(t, pc, mpxdp.Config{}, mpxdp.Config{})
	ln, err := sb.Listen("tcp6", ":5001")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err == nil {
			io.Copy(s, s)
			s.Close()
		}
	}()
	c, err := sa.Dial("tcp6", "[fd00:1::2]:5001")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := randomBytes(12, 1<<20)
	go sendAndHash(c, data)
	sum, n, err := readAndHash(c)
	if err != nil || n != int64(len(data)) || sum != sha256.Sum256(data) {
		t.Fatalf("echo of %d bytes: %d, %v", len(data), n, err)
	}
	if la := c.LocalAddr().(*net.TCPAddr); la.IP.String() != "fd00:1::1" {
		t.Errorf("local address %v", la)
	}
	sf, _ := c.Subflows()
	if len(sf) != 4 {
		t.Errorf("%d subflows, want 4 (full mesh of 2×2)", len(sf))
	}
}

// TestSetupErrors: a Config without a network, with an address the Link
// does not carry, or with a NIC that does not exist says what is wrong.
func TestSetupErrors(t *testing.T) {
	if _, err := mpxdp.NewStack(mpxdp.Config{}); err == nil || !strings.Contains(err.Error(), "Link") {
		t.Errorf("no network: %v", err)
	}
	la, lb, err := pipe.New(pipe.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	_, err = mpxdp.NewStack(mpxdp.Config{Link: la, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.7")}})
	if err == nil || !strings.Contains(err.Error(), "192.0.2.7") {
		t.Errorf("foreign address: %v", err)
	}
	_, err = mpxdp.NewStack(mpxdp.Config{Interfaces: []string{"mpxR-none0"}})
	if err == nil || !strings.Contains(err.Error(), "mpxR-none0") {
		t.Errorf("missing NIC: %v", err)
	}
	t.Logf("missing NIC: %v", err)
}

// TestBacklogOverflow: with a backlog of 2 and nobody accepting, the
// third and fourth connections are reset once established (and counted);
// the first two are accepted later and work.
func TestBacklogOverflow(t *testing.T) {
	sa, sb := pipePair(t, twoPaths(), mpxdp.Config{}, mpxdp.Config{Backlog: 2})
	ln, err := sb.Listen("tcp", ":5003")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []*mpxdp.Conn
	for i := 0; i < 4; i++ {
		c, err := sa.Dial("tcp", "10.0.1.2:5003")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	waitFor(t, "the overflow to be counted", func() bool { return sb.Stats().AcceptOverflows == 2 })
	for i, c := range conns {
		wait := 100 * time.Millisecond // the first two time out
		if i >= 2 {
			wait = 5 * time.Second // the reset is on its way
		}
		c.SetReadDeadline(time.Now().Add(wait))
		_, err := c.Read(make([]byte, 1))
		reset := errors.Is(err, syscall.ECONNRESET)
		if reset != (i >= 2) {
			t.Errorf("conn %d: Read %v", i, err)
		}
	}
	for i := 0; i < 2; i++ {
		s, err := ln.AcceptConn()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	for i := 0; i < 2; i++ {
		conns[i].SetReadDeadline(time.Time{})
		if b, err := io.ReadAll(conns[i]); err != nil || len(b) != 1 {
			t.Errorf("conn %d after Accept: %v, %v", i, b, err)
		}
	}
}

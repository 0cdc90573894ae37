package dataplane_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane"
	"github.com/mpxdp/mpxdp/dataplane/pipe"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
)

// newPair builds two shards joined by a pipe with the given paths.
func newPair(t testing.TB, cfg pipe.Config, a, b dataplane.Config) (*dataplane.Shard, *dataplane.Shard) {
	t.Helper()
	la, lb, err := pipe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.Link, b.Link = la, lb
	sa, err := dataplane.New(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := dataplane.New(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sa.Close()
		sb.Close()
	})
	return sa, sb
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestTransfer: a dial, an accept and 8 MiB each way with half-closes.
func TestTransfer(t *testing.T) {
	sa, sb := newPair(t, pipe.Config{Paths: []pipe.Path{{}, {}}}, dataplane.Config{}, dataplane.Config{})
	ln, err := sb.Listen(5001, 0)
	if err != nil {
		t.Fatal(err)
	}
	size := 8 << 20
	if testing.Short() {
		size = 2 << 20 // the race detector's CI run
	}
	up, down := randomBytes(1, size), randomBytes(2, size)
	type result struct {
		got []byte
		err error
	}
	srv := make(chan result, 1)
	go func() {
		c, err := ln.Accept(nil)
		if err != nil {
			srv <- result{err: err}
			return
		}
		go func() {
			c.Write(down, nil)
			c.CloseWrite()
		}()
		got, err := readAll(c)
		srv <- result{got, err}
		c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sa.Dial(ctx, netip.AddrPort{}, netip.MustParseAddrPort("10.0.1.2:5001"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c.Write(up, nil)
		c.CloseWrite()
	}()
	got, err := readAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, down) {
		t.Fatalf("client got %d bytes, want %d (equal prefix: %v)", len(got), len(down), bytes.HasPrefix(down, got))
	}
	r := <-srv
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !bytes.Equal(r.got, up) {
		t.Fatalf("server got %d bytes, want %d", len(r.got), len(up))
	}
	sf, _ := c.Subflows()
	t.Logf("subflows: %d; client stats %+v", len(sf), sa.Stats())
	c.Close()
}

func readAll(c *dataplane.Conn) ([]byte, error) {
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf, nil)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// portLink records the ports the shard claims and releases.
type portLink struct {
	*pipe.Link
	claimed  map[uint16]bool
	released []uint16
	fail     uint16
}

func (l *portLink) ClaimPort(p uint16) error {
	if p == l.fail {
		return errors.New("map full")
	}
	l.claimed[p] = true
	return nil
}

func (l *portLink) ReleasePort(p uint16) error {
	l.released = append(l.released, p)
	delete(l.claimed, p)
	return nil
}

// TestPortOwner: the shard claims the engine's ephemeral range at start
// and each listening port, releases listening ports on Close, and fails
// New with the port when a claim fails.
func TestPortOwner(t *testing.T) {
	la, lb, err := pipe.New(pipe.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	pl := &portLink{Link: la, claimed: map[uint16]bool{}}
	eng := mptcp.Config{EphemeralPorts: [2]uint16{62000, 62099}}
	s, err := dataplane.New(dataplane.Config{Link: pl, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.claimed) != 100 || !pl.claimed[62000] || !pl.claimed[62099] {
		t.Fatalf("claimed %d ports at start", len(pl.claimed))
	}
	ln, err := s.Listen(443, 0)
	if err != nil {
		t.Fatal(err)
	}
	var claimed bool
	s.Do(func(*mptcp.Endpoint) { claimed = pl.claimed[443] }) // read on the shard
	if !claimed {
		t.Error("listening port not claimed")
	}
	ln.Close()
	s.Do(func(*mptcp.Endpoint) { claimed = pl.claimed[443] })
	if claimed || len(pl.released) != 1 {
		t.Errorf("after Close: claimed %v, released %v", claimed, pl.released)
	}
	s.Close()

	la2, lb2, _ := pipe.New(pipe.Config{})
	defer la2.Close()
	defer lb2.Close()
	_, err = dataplane.New(dataplane.Config{Link: &portLink{Link: la2, claimed: map[uint16]bool{}, fail: 62050}, Engine: eng})
	if err == nil || !strings.Contains(err.Error(), "62050") {
		t.Errorf("failed claim: %v", err)
	}
}

// TestNewErrors: no Link; buffers too small for the MSS asked.
func TestNewErrors(t *testing.T) {
	if _, err := dataplane.New(dataplane.Config{}); err == nil {
		t.Error("nil Link accepted")
	}
	la, lb, _ := pipe.New(pipe.Config{})
	defer la.Close()
	defer lb.Close()
	_, err := dataplane.New(dataplane.Config{Link: la, Engine: mptcp.Config{TCP: tcp.Config{MSS: 8000}}})
	if err == nil || !strings.Contains(err.Error(), "MSS 8000") {
		t.Errorf("MSS larger than the buffers: %v", err)
	}
}

// TestStallsAndBusyPoll: a pool of 8 buffers (fewer than the window of
// packets a 4 ms round trip holds) makes the shards wait for transmit
// buffers; busy-polling
// shards; the transfer completes either way.
func TestStallsAndBusyPoll(t *testing.T) {
	for _, busy := range []bool{false, true} {
		t.Run(fmt.Sprintf("busy=%v", busy), func(t *testing.T) {
			if busy && runtime.NumCPU() < 2 {
				t.Skip("busy-polling shards need two CPUs")
			}
			sa, sb := newPair(t, pipe.Config{MaxBuffers: 8, Paths: []pipe.Path{{Forward: pipe.Impairment{Delay: 2 * time.Millisecond}}}}, dataplane.Config{BusyPoll: busy, Batch: 16}, dataplane.Config{BusyPoll: busy, Batch: 16})
			c, s := streamPair(t, sa, sb)
			data := randomBytes(3, 1<<20)
			go func() {
				c.Write(data, nil)
				c.CloseWrite()
			}()
			got, err := readAll(s)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d of %d bytes: %v", len(got), len(data), err)
			}
			st := sa.Stats()
			if !busy && st.TxStalls == 0 {
				t.Errorf("no stall with 8 buffers: %+v", st)
			}
			if busy && st.Sleeps != 0 {
				t.Errorf("a busy-polling shard slept %d times", st.Sleeps)
			}
		})
	}
}

// TestReadInPlace: a reader that waits lends its buffer to the engine,
// which copies in-order bytes straight into it; the bytes match, most of
// them take that way, and Reads that give up at their deadline while the
// buffer is lent lose nothing: they return what arrived in it, or time out
// and leave the bytes for the next Read.
func TestReadInPlace(t *testing.T) {
	sa, sb := newPair(t, pipe.Config{Paths: []pipe.Path{{}, {}}}, dataplane.Config{}, dataplane.Config{})
	ln, err := sb.Listen(5001, 0)
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(3, 4<<20)
	var consumed atomic.Int64
	go func() {
		c, err := ln.Accept(nil)
		if err != nil {
			return
		}
		// Bursts that each find the reader waiting: the next one leaves
		// when the reader has taken the last and had time to post its next
		// Read (and to give some up at their deadlines).
		for off := 0; off < len(data); off += 48 << 10 {
			for consumed.Load() < int64(off) {
				time.Sleep(50 * time.Microsecond)
			}
			time.Sleep(time.Millisecond)
			c.Write(data[off:min(off+48<<10, len(data))], nil)
		}
		c.CloseWrite()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sa.Dial(ctx, netip.AddrPort{}, netip.MustParseAddrPort("10.0.1.2:5001"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []byte
	bufs := [2][]byte{make([]byte, 256<<10), make([]byte, 256<<10)}
	timeouts := 0
	for i := 0; ; i++ {
		// Each Read gets the other buffer, filled with junk: bytes that went
		// to an earlier Read's buffer cannot pass for this one's.
		buf := bufs[i%2]
		for j := range buf {
			buf[j] = 0xEE
		}
		var cancelRead chan struct{}
		if i%3 == 0 {
			cancelRead = make(chan struct{})
			time.AfterFunc(time.Duration(i%5)*50*time.Microsecond, func() { close(cancelRead) })
		}
		n, err := c.Read(buf, cancelRead)
		got = append(got, buf[:n]...)
		consumed.Store(int64(len(got)))
		if err == io.EOF {
			break
		}
		if errors.Is(err, dataplane.ErrCanceled) {
			timeouts++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want %d (equal prefix: %v)", len(got), len(data), bytes.HasPrefix(data, got))
	}
	st, _ := c.Stats()
	t.Logf("%d of %d bytes in place, %d canceled Reads", st.BytesInPlace, st.BytesReceived, timeouts)
	// Usually half or more (without the race detector); at least a burst.
	if st.BytesInPlace < 48<<10 || timeouts == 0 {
		t.Errorf("%d of %d bytes in place, %d canceled Reads: the loans were not exercised", st.BytesInPlace, st.BytesReceived, timeouts)
	}
}

// TestCloseWhileReadLent: Close while a Read waits with its buffer lent to
// the engine ends the Read with net.ErrClosed (or the bytes that arrived)
// only after the engine has given the buffer back: bytes that keep coming
// never land in it afterwards.
func TestCloseWhileReadLent(t *testing.T) {
	sa, sb := newPair(t, pipe.Config{Paths: []pipe.Path{{}}}, dataplane.Config{}, dataplane.Config{})
	ln, err := sb.Listen(5001, 0)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	start := make(chan struct{})
	go func() {
		c, err := ln.Accept(nil)
		if err != nil {
			return
		}
		<-start
		chunk := make([]byte, 1000)
		for {
			select {
			case <-stop:
				c.Close()
				return
			default:
			}
			if _, err := c.Write(chunk, stop); err != nil {
				return
			}
			time.Sleep(20 * time.Microsecond)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sa.Dial(ctx, netip.AddrPort{}, netip.MustParseAddrPort("10.0.1.2:5001"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(buf, nil) // waits, lent: nothing was sent yet
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(start)
	c.Close()
	if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read ended with %v, want bytes or net.ErrClosed", err)
	}
	for i := range buf {
		buf[i] = 0xEE
	}
	time.Sleep(20 * time.Millisecond) // the peer keeps sending
	for i, b := range buf {
		if b != 0xEE {
			t.Fatalf("byte %d of the buffer changed after Read returned", i)
		}
	}
}

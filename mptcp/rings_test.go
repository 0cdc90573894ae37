package mptcp_test

import (
	"bytes"
	"io"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/sim"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/mptcptest"
)

// rr is a closed-loop request/response load on a bed, as mpbench --rr
// runs it: each of the client's slots dials, sends a 16-byte request,
// reads the response to EOF and closes; the server answers each request
// with resp bytes and closes first (HTTP/1.0).
type rr struct {
	t        *testing.T
	bed      *mptcptest.Bed
	resp     []byte
	slots    []*rrSlot
	srv      map[*mptcp.Conn]*rrServe
	done     int
	limit    int // requests to complete; no new dial after that
	buf      []byte
	onFinish func(n int) // after each completed request
}

type rrSlot struct {
	c    *mptcp.Conn
	sent bool
	got  int
}

type rrServe struct {
	got, sent int
	closed    bool
}

func newRR(t *testing.T, bed *mptcptest.Bed, slots, limit, resp int) *rr {
	r := &rr{t: t, bed: bed, resp: bytes.Repeat([]byte("r"), resp), srv: map[*mptcp.Conn]*rrServe{},
		limit: limit, buf: make([]byte, 64<<10)}
	bed.Server.Listen(80)
	for range slots {
		r.slots = append(r.slots, &rrSlot{})
	}
	bed.ClientHost.App = r.client
	bed.ServerHost.App = r.server
	bed.Sim.At(bed.Sim.Now(), func() { r.client(bed.Sim.Now()); bed.Topo.A.Wake() })
	return r
}

func (r *rr) dial(now time.Duration, s *rrSlot) {
	c, err := r.bed.Client.Dial(now, netip.AddrPortFrom(r.bed.Topo.AddrsA[0], 0), netip.AddrPortFrom(r.bed.Topo.AddrsB[0], 80))
	if err != nil {
		r.t.Fatal(err)
	}
	*s = rrSlot{c: c}
}

func (r *rr) client(now time.Duration) {
	for {
		if _, ok := r.bed.Client.PollEvent(); !ok {
			break
		}
	}
	for _, s := range r.slots {
		if s.c == nil {
			if r.done < r.limit {
				r.dial(now, s)
			}
			continue
		}
		if !s.c.Established() {
			continue
		}
		if !s.sent {
			if n, _ := s.c.Write([]byte("mpB1 request 16B")); n == 16 {
				s.sent = true
			}
		}
		for {
			n, err := s.c.Read(r.buf)
			s.got += n
			if err == io.EOF {
				if s.got != len(r.resp) {
					r.t.Fatalf("response of %d bytes, want %d", s.got, len(r.resp))
				}
				s.c.Close()
				s.c = nil
				r.done++
				if r.onFinish != nil {
					r.onFinish(r.done)
				}
				if r.done < r.limit {
					r.dial(now, s)
				}
				break
			}
			if err != nil {
				r.t.Fatalf("request %d: %v", r.done, err)
			}
			if n == 0 {
				break
			}
		}
	}
}

func (r *rr) server(now time.Duration) {
	for {
		ev, ok := r.bed.Server.PollEvent()
		if !ok {
			break
		}
		switch ev.Kind {
		case mptcp.EventAccepted:
			r.srv[ev.Conn] = &rrServe{}
		case mptcp.EventClosed:
			delete(r.srv, ev.Conn)
		}
	}
	for c, s := range r.srv {
		if s.closed || !c.Established() {
			continue
		}
		for s.got < 16 {
			n, _ := c.Read(r.buf[:16-s.got])
			if n == 0 {
				break
			}
			s.got += n
		}
		if s.got < 16 {
			continue
		}
		for s.sent < len(r.resp) {
			n, _ := c.Write(r.resp[s.sent:])
			if n == 0 {
				break
			}
			s.sent += n
		}
		if s.sent == len(r.resp) {
			s.closed = true
			c.Close()
		}
	}
}

func (r *rr) run(limit time.Duration) {
	r.t.Helper()
	if !r.bed.Sim.RunUntil(func() bool { return r.done >= r.limit }, limit) {
		r.t.Fatalf("%d of %d requests done by %v", r.done, r.limit, limit)
	}
}

// TestRingsReusedAcrossConnections: with connection churn (request and
// response, 64 KiB, the server closing first and keeping the TIME-WAITs)
// new connections take the rings of finished ones on both sides instead
// of allocating 4 MiB rings each time, whose clearing made the mpbench
// --rr client crawl once the Go heap began reusing memory.
func TestRingsReusedAcrossConnections(t *testing.T) {
	bed, err := mptcptest.NewBed(41, []sim.Path{path(1e9, 5*time.Millisecond)}, mptcp.Config{}, mptcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	const warm, total = 40, 160
	r := newRR(t, bed, 4, total, 64<<10)
	var ms runtime.MemStats
	var before uint64
	r.onFinish = func(n int) {
		if n == warm {
			runtime.ReadMemStats(&ms)
			before = ms.TotalAlloc
		}
	}
	r.run(time.Minute)
	runtime.ReadMemStats(&ms)
	perReq := (ms.TotalAlloc - before) / (total - warm)
	cs, ss := bed.Client.Stats, bed.Server.Stats
	t.Logf("rings reused: client %d, server %d of %d connections; %d bytes allocated per request", cs.RingsReused, ss.RingsReused, total, perReq)
	// Each side writes and receives on every connection: two rings each,
	// of which only those of the first few (while nothing had finished
	// yet) are new.
	for name, got := range map[string]uint64{"client": cs.RingsReused, "server": ss.RingsReused} {
		if got < 2*(total-warm) {
			t.Errorf("%s reused %d rings, want ≥ %d", name, got, 2*(total-warm))
		}
	}
	// Fresh rings would be 2 × (4 MiB + slack) per side and request.
	if perReq > 1<<20 {
		t.Errorf("%d bytes allocated per request, want < 1 MiB (rings are not reused)", perReq)
	}
	// The server closed first: its subflows wait in TIME-WAIT, and the
	// rings were released before that ended.
	if n := len(bed.Server.Conns()); n < total-warm {
		t.Errorf("server holds %d connections, want the TIME-WAITs of most of %d", n, total)
	}
}

// TestRingsKeptWhileUnread: a connection that ends with bytes the
// application has not read keeps its receive ring, so that a later Read
// returns them even after other connections came and went; a finished
// connection whose rings went back answers Read with EOF and Write with
// an error.
func TestRingsKeptWhileUnread(t *testing.T) {
	bed, err := mptcptest.NewBed(42, []sim.Path{path(1e9, 5*time.Millisecond)}, mptcp.Config{}, mptcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bed.Server.Listen(81)
	want := bytes.Repeat([]byte("kept"), 1000)
	var held, sc *mptcp.Conn
	bed.ServerHost.App = func(now time.Duration) {
		for {
			ev, ok := bed.Server.PollEvent()
			if !ok {
				break
			}
			if ev.Kind == mptcp.EventAccepted && ev.Conn.LocalAddr().Port() == 81 {
				sc = ev.Conn
			}
		}
		if sc != nil && sc.Established() && sc.Stats.BytesSent == 0 {
			sc.Write(want)
		}
	}
	bed.Sim.At(0, func() {
		held, err = bed.Client.Dial(0, netip.AddrPortFrom(bed.Topo.AddrsA[0], 0), netip.AddrPortFrom(bed.Topo.AddrsB[0], 81))
		if err != nil {
			t.Fatal(err)
		}
		bed.Topo.A.Wake()
	})
	bed.ClientHost.App = func(time.Duration) {
		for {
			if _, ok := bed.Client.PollEvent(); !ok {
				break
			}
		}
	}
	if !bed.Sim.RunUntil(func() bool { return held != nil && held.Buffered() == len(want) }, 10*time.Second) {
		t.Fatal("the data did not arrive")
	}
	// The server resets the connection (MP_FASTCLOSE): the client's
	// connection is closed with the bytes still unread.
	bed.Sim.At(bed.Sim.Now(), func() { sc.Abort(); bed.Topo.B.Wake() })
	if !bed.Sim.RunUntil(func() bool { closed, _ := held.Closed(); return closed }, bed.Sim.Now()+10*time.Second) {
		t.Fatal("the reset did not arrive")
	}

	// Other connections come and go and reuse what rings they can.
	r := newRR(t, bed, 2, 30, 64<<10)
	r.run(bed.Sim.Now() + time.Minute)
	if bed.Client.Stats.RingsReused == 0 {
		t.Fatal("no ring was reused")
	}

	got := make([]byte, 2*len(want))
	n, _ := held.Read(got)
	if !bytes.Equal(got[:n], want) {
		t.Fatalf("the reset connection's unread bytes changed: read %d bytes, %q…", n, got[:min(n, 16)])
	}

	// A finished connection of the load: its rings went back to the cache.
	var last *mptcp.Conn
	r2 := newRR(t, bed, 1, 1, 1000)
	r2.onFinish = func(int) {}
	r2.bed.ClientHost.App = func(now time.Duration) {
		s := r2.slots[0]
		if s.c != nil {
			last = s.c
		}
		r2.client(now)
	}
	r2.run(bed.Sim.Now() + time.Minute)
	bed.Sim.Run(bed.Sim.Now() + 5*time.Second) // the subflows close
	if closed, _ := last.Closed(); !closed {
		t.Fatal("the last connection did not close")
	}
	if n, err := last.Read(got); n != 0 || err != io.EOF {
		t.Errorf("Read after the rings went back: %d, %v; want 0, EOF", n, err)
	}
	if n, err := last.Write(want); n != 0 || err == nil {
		t.Errorf("Write after the rings went back: %d, %v; want 0 and an error", n, err)
	}
}

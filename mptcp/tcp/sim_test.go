package tcp_test

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/sim"
	"github.com/mpxdp/mpxdp/mptcp/cc"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/tcp/tcptest"
)

var seeds = flag.Int("seeds", 200, "number of seeds for the simulated transfer property test")

// appHost runs a TCP endpoint with an application callback after every
// input, like an application woken by readiness.
type appHost struct {
	*tcptest.Endpoint
	app func(now time.Duration)
}

func (h *appHost) HandlePacket(now time.Duration, pkt []byte) {
	h.Endpoint.HandlePacket(now, pkt)
	h.app(now)
}

func (h *appHost) HandleTimeout(now time.Duration) {
	h.Endpoint.HandleTimeout(now)
	h.app(now)
}

// transfer is one bulk transfer from a client to a server over one path.
type transfer struct {
	s              *sim.Sim
	topo           *sim.TwoHosts
	client, server *tcptest.Endpoint
	cs, ss         *tcp.Stream
	data, got      []byte
	sent           int
	clientClosed   bool
	serverClosed   bool
	doneAt         time.Duration
}

type transferOpts struct {
	size    int
	path    sim.LinkConfig
	reverse sim.LinkConfig // zero: same as path
	mss     int
	sndBuf  int
	rcvBuf  int
	noSACK  bool
	noTS    bool
	cc      string
}

func newTransfer(t testing.TB, seed uint64, o transferOpts) *transfer {
	s := sim.New(seed)
	s.SetMaxPacket(o.mss + tcp.MaxHeaderLen)
	rev := o.reverse
	if rev == (sim.LinkConfig{}) {
		rev = o.path
	}
	topo := s.ParallelPaths(sim.Path{Forward: o.path, Reverse: rev})
	tr := &transfer{s: s, topo: topo}
	cfg := tcp.Config{MSS: o.mss, NoSACK: o.noSACK, NoTimestamps: o.noTS, MaxWindow: max(o.rcvBuf, 65535)}
	tr.client = tcptest.NewEndpoint(seed*2 + 1)
	tr.server = tcptest.NewEndpoint(seed*2 + 2)
	for _, ep := range []*tcptest.Endpoint{tr.client, tr.server} {
		ep.Config = cfg
		ep.SendBuf, ep.RecvBuf = o.sndBuf, o.rcvBuf
		if o.cc == "cubic" {
			ep.NewCC = func(mss int) cc.Controller { return cc.NewCubic(mss) }
		}
	}
	tr.data = make([]byte, o.size)
	r := rand.New(rand.NewPCG(seed, 99))
	for i := range tr.data {
		tr.data[i] = byte(r.Uint32())
	}
	tr.server.Listen(5001)
	buf := make([]byte, 64<<10)
	topo.A.SetEndpoint(&appHost{tr.client, func(now time.Duration) { tr.clientApp(now) }})
	topo.B.SetEndpoint(&appHost{tr.server, func(now time.Duration) { tr.serverApp(now, buf) }})
	s.At(0, func() {
		tr.cs = tr.client.Dial(0, netip.AddrPortFrom(topo.AddrsA[0], 0), netip.AddrPortFrom(topo.AddrsB[0], 5001))
		topo.A.Wake()
	})
	return tr
}

func (tr *transfer) clientApp(time.Duration) {
	if tr.cs == nil || !tr.cs.Established() {
		return
	}
	if tr.sent < len(tr.data) {
		tr.sent += tr.cs.Write(tr.data[tr.sent:])
	}
	if tr.sent == len(tr.data) && !tr.clientClosed {
		tr.clientClosed = true
		tr.cs.Conn().Close()
	}
	if tr.cs.EOF() {
		var sink [1]byte
		tr.cs.Read(sink[:])
	}
}

func (tr *transfer) serverApp(now time.Duration, buf []byte) {
	if tr.ss == nil {
		tr.ss = tr.server.Accept()
		if tr.ss == nil {
			return
		}
	}
	for {
		n := tr.ss.Read(buf)
		if n == 0 {
			break
		}
		tr.got = append(tr.got, buf[:n]...)
	}
	if tr.ss.EOF() && !tr.serverClosed {
		tr.serverClosed = true
		tr.doneAt = now
		tr.ss.Conn().Close()
	}
}

// finished: all data received and both sides closed their halves, and the
// connections are in TIME-WAIT or CLOSED.
func (tr *transfer) finished() bool {
	if tr.cs == nil || tr.ss == nil || !tr.serverClosed {
		return false
	}
	done := func(st tcp.State) bool { return st == tcp.TimeWait || st == tcp.Closed }
	return done(tr.cs.Conn().State()) && done(tr.ss.Conn().State())
}

func (tr *transfer) check(t testing.TB, limit time.Duration) {
	t.Helper()
	if !tr.s.RunUntil(tr.finished, limit) {
		cst, sst := "none", "none"
		if tr.cs != nil {
			cst = fmt.Sprintf("%v %+v", tr.cs.Conn().State(), tr.cs.Conn().Stats)
		}
		if tr.ss != nil {
			sst = fmt.Sprintf("%v %+v", tr.ss.Conn().State(), tr.ss.Conn().Stats)
		}
		t.Fatalf("seed %d: not finished by %v: got %d of %d bytes; client %s; server %s",
			tr.s.Seed(), limit, len(tr.got), len(tr.data), cst, sst)
	}
	if !bytes.Equal(tr.got, tr.data) {
		t.Fatalf("seed %d: received data differs (got %d bytes, want %d)", tr.s.Seed(), len(tr.got), len(tr.data))
	}
	for _, st := range []*tcp.Stream{tr.cs, tr.ss} {
		if closed, err := st.Closed(); closed && err != nil {
			t.Fatalf("seed %d: closed with %v", tr.s.Seed(), err)
		}
	}
}

func TestBulkTransferCleanPath(t *testing.T) {
	tr := newTransfer(t, 1, transferOpts{size: 1 << 20, mss: 1460, sndBuf: 256 << 10, rcvBuf: 256 << 10,
		path: sim.LinkConfig{Rate: 100e6, Delay: 5 * time.Millisecond, QueuePackets: 200}})
	tr.check(t, time.Minute)
	// 1 MiB at 100 Mbit/s is 84 ms of serialisation, plus slow start.
	if tr.doneAt > time.Second {
		t.Errorf("clean 100 Mbit/s path took %v", tr.doneAt)
	}
	t.Logf("done at %v; client %+v", tr.doneAt, tr.cs.Conn().Stats)
}

// TestBulkTransferProperty: many seeds, random loss, reordering,
// duplication, corruption and bandwidth-delay products from 1 to 1000
// segments; every byte arrives exactly once and in order, both sides
// close, nothing hangs.
func TestBulkTransferProperty(t *testing.T) {
	n := *seeds
	if testing.Short() {
		n = min(n, 40)
	}
	var total tcp.Stats
	var link sim.LinkStats
	defer func() {
		t.Logf("%d seeds: sender retransmits %d, fast recoveries %d, RTOs %d; receiver out-of-order %d, duplicate %d, bad checksums %d; links lost %d, reordered %d, duplicated %d, corrupted %d",
			n, total.Retransmits, total.FastRecoveries, total.RTOs, total.OutOfOrder, total.DuplicateData, total.BadChecksum,
			link.DropLoss+link.DropQueue, link.Reordered, link.Duplicated, link.Corrupted)
	}()
	for seed := uint64(1); seed <= uint64(n); seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		mss := []int{536, 1460, 8960}[r.IntN(3)]
		rate := []float64{1e6, 10e6, 100e6, 1e9}[r.IntN(4)]
		// Choose the delay so the BDP spans 1..1000 segments.
		bdpSegs := math.Pow(10, 3*r.Float64())
		delay := time.Duration(bdpSegs * float64(mss+52) * 8 / rate / 2 * float64(time.Second))
		cfg := sim.LinkConfig{
			Rate: rate, Delay: delay,
			QueuePackets: 10 + r.IntN(200),
			Loss:         0.05 * r.Float64(),
		}
		if r.IntN(2) == 0 {
			cfg.Reorder, cfg.ReorderDelay = 0.05*r.Float64(), delay/2+time.Millisecond
		}
		if r.IntN(3) == 0 {
			cfg.Duplicate = 0.02 * r.Float64()
		}
		if r.IntN(4) == 0 {
			cfg.Corrupt = 0.01 * r.Float64()
		}
		size := 1 + r.IntN(200<<10)
		o := transferOpts{size: size, mss: mss, path: cfg, sndBuf: 64<<10 + r.IntN(1<<20),
			rcvBuf: 16<<10 + r.IntN(1<<20), noSACK: r.IntN(4) == 0, noTS: r.IntN(4) == 0,
			cc: []string{"reno", "cubic"}[r.IntN(2)]}
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			tr := newTransfer(t, seed, o)
			tr.check(t, 30*time.Minute)
			cs, ss := tr.cs.Conn().Stats, tr.ss.Conn().Stats
			total.Retransmits += cs.Retransmits
			total.FastRecoveries += cs.FastRecoveries
			total.RTOs += cs.RTOs
			total.OutOfOrder += ss.OutOfOrder
			total.DuplicateData += ss.DuplicateData
			total.BadChecksum += ss.BadChecksum + cs.BadChecksum
			for _, l := range []*sim.Link{tr.topo.Forward[0], tr.topo.Reverse[0]} {
				link.DropLoss += l.Stats.DropLoss
				link.DropQueue += l.Stats.DropQueue
				link.Reordered += l.Stats.Reordered
				link.Duplicated += l.Stats.Duplicated
				link.Corrupted += l.Stats.Corrupted
			}
		})
	}
}

// TestGoodputMatchesMathis: NewReno's goodput on a lossy path is within a
// factor of 2 of the Mathis et al. model, MSS/RTT · sqrt(3/2)/sqrt(p).
func TestGoodputMatchesMathis(t *testing.T) {
	for _, tc := range []struct {
		loss float64
		rtt  time.Duration
	}{
		{0.01, 20 * time.Millisecond},
		{0.003, 40 * time.Millisecond},
		{0.02, 10 * time.Millisecond},
	} {
		mss := 1460
		o := transferOpts{size: 8 << 20, mss: mss, sndBuf: 8 << 20, rcvBuf: 8 << 20,
			path:    sim.LinkConfig{Rate: 1e9, Delay: tc.rtt / 2, Loss: tc.loss},
			reverse: sim.LinkConfig{Rate: 1e9, Delay: tc.rtt / 2}}
		tr := newTransfer(t, 42, o)
		tr.check(t, time.Hour)
		payload := float64(mss - 12) // timestamps take 12 bytes of every segment
		model := payload * 8 / tc.rtt.Seconds() * math.Sqrt(1.5) / math.Sqrt(tc.loss)
		got := float64(len(tr.data)) * 8 / tr.doneAt.Seconds()
		ratio := got / model
		t.Logf("loss %.3f rtt %v: goodput %.2f Mbit/s, Mathis %.2f Mbit/s, ratio %.2f (retransmits %d, fast recoveries %d, RTOs %d)",
			tc.loss, tc.rtt, got/1e6, model/1e6, ratio, tr.cs.Conn().Stats.Retransmits,
			tr.cs.Conn().Stats.FastRecoveries, tr.cs.Conn().Stats.RTOs)
		if ratio < 0.5 || ratio > 2 {
			t.Errorf("goodput/Mathis = %.2f, want within a factor of 2", ratio)
		}
	}
}

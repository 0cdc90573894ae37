package mptcp_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/sim"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/mptcptest"
)

// bulkSender writes without end on one connection of an endpoint.
type bulkSender struct {
	ep   *mptcp.Endpoint
	conn *mptcp.Conn
	data []byte
}

func (s *bulkSender) app(time.Duration) {
	for {
		if _, ok := s.ep.PollEvent(); !ok {
			break
		}
	}
	if s.conn == nil || !s.conn.Established() {
		return
	}
	for {
		if n, err := s.conn.Write(s.data); err != nil || n == 0 {
			return
		}
	}
}

// sink accepts connections and counts what each delivers in order.
type sink struct {
	ep    *mptcp.Endpoint
	conns []*mptcp.Conn
	got   map[*mptcp.Conn]int
	buf   []byte
}

func (s *sink) app(time.Duration) {
	for {
		ev, ok := s.ep.PollEvent()
		if !ok {
			break
		}
		if ev.Kind == mptcp.EventAccepted {
			s.conns = append(s.conns, ev.Conn)
		}
	}
	for _, c := range s.conns {
		for {
			n, err := c.Read(s.buf)
			s.got[c] += n
			if err != nil || n == 0 {
				break
			}
		}
	}
}

// TestFairness is RFC 6356's second goal on a shared bottleneck: an MPTCP
// connection whose two subflows both cross one 20 Mbit/s link, competing
// with one Reno TCP connection, should take no more than a TCP connection
// would. With coupled congestion control (LIA, OLIA, BALIA) the two get
// about the same; with uncoupled Reno on each subflow MPTCP takes about
// two thirds, which the test shows too. Each ratio is the mean over four
// seeds of the goodputs from 20 to 60 seconds of simulated time; the
// access links add random jitter so that drop-tail phase effects (Floyd
// and Jacobson, 1991) do not decide the shares. Two TCP connections in
// the same bed give the baseline, about 1.1.
func TestFairness(t *testing.T) {
	if testing.Short() {
		t.Skip("minutes of simulated bulk traffic")
	}
	const seeds = 4
	mean := func(cc string, subflows int) float64 {
		sum := 0.0
		for seed := uint64(1); seed <= seeds; seed++ {
			mp, tcp := runFairness(t, seed, cc, subflows)
			sum += mp / tcp
			if total := mp + tcp; total < 0.85*20e6 {
				t.Errorf("%s seed %d: the two connections use %.1f of the 20 Mbit/s bottleneck", cc, seed, total/1e6)
			}
		}
		return sum / seeds
	}
	base := mean("reno", 0)
	t.Logf("baseline, TCP against TCP: ratio %.2f", base)
	uncoupled := mean("reno", 2)
	t.Logf("uncoupled Reno subflows: ratio %.2f", uncoupled)
	if uncoupled < 1.5 {
		t.Errorf("uncoupled MPTCP/TCP ratio %.2f, want ≥ 1.5 (two flows against one)", uncoupled)
	}
	for _, cc := range []string{"lia", "olia", "balia"} {
		r := mean(cc, 2)
		t.Logf("%s: ratio %.2f", cc, r)
		if r > 1.3 || r < 0.7 {
			t.Errorf("%s: MPTCP/TCP goodput ratio %.2f, want within [0.7, 1.3] (the TCP baseline is %.2f)", cc, r, base)
		}
		if uncoupled-r < 0.3 {
			t.Errorf("%s: ratio %.2f is not clearly below uncoupled %.2f", cc, r, uncoupled)
		}
	}
}

// runFairness runs an MPTCP client with two addresses (congestion control
// cc, fullmesh: one subflow from each address; subflows 0 makes it a plain
// TCP client) and a Reno TCP client, both sending to one server across a
// dumbbell, and returns their goodputs in bit/s.
func runFairness(t *testing.T, seed uint64, cc string, subflows int) (mptcpRate, tcpRate float64) {
	t.Helper()
	s := sim.New(seed)
	s.SetMaxPacket(1600)
	d := s.Dumbbell(sim.DumbbellConfig{
		Left:   []int{2, 1},
		Right:  []int{1},
		Access: sim.Symmetric(sim.LinkConfig{Rate: 1e9, Delay: time.Millisecond, Reorder: 0.3, ReorderDelay: 300 * time.Microsecond}),
		Bottleneck: sim.Symmetric(sim.LinkConfig{Rate: 20e6, Delay: 10 * time.Millisecond,
			QueuePackets: 50}),
	})
	newEP := func(cfg mptcp.Config, stream uint64, addrs []netip.Addr) *mptcp.Endpoint {
		cfg.Rand = rand.NewPCG(seed, stream)
		cfg.LocalAddrs = addrs
		ep, err := mptcp.NewEndpoint(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return ep
	}
	server := newEP(mptcp.Config{}, 1, d.RightAddrs[0])
	server.Listen(5001)
	snk := &sink{ep: server, got: map[*mptcp.Conn]int{}, buf: make([]byte, 64<<10)}
	d.Right[0].SetEndpoint(&mptcptest.Host{EP: server, App: snk.app})

	data := make([]byte, 64<<10)
	mpCfg := mptcp.Config{CC: cc, PathManager: "fullmesh", DisableMPTCP: subflows == 0}
	mpEP := newEP(mpCfg, 2, d.LeftAddrs[0])
	tcpEP := newEP(mptcp.Config{CC: "reno", DisableMPTCP: true}, 3, d.LeftAddrs[1])
	mpS := &bulkSender{ep: mpEP, data: data}
	tcpS := &bulkSender{ep: tcpEP, data: data}
	d.Left[0].SetEndpoint(&mptcptest.Host{EP: mpEP, App: mpS.app})
	d.Left[1].SetEndpoint(&mptcptest.Host{EP: tcpEP, App: tcpS.app})
	dst := netip.AddrPortFrom(d.RightAddrs[0][0], 5001)
	s.At(0, func() {
		var err error
		if mpS.conn, err = mpEP.Dial(0, netip.AddrPortFrom(d.LeftAddrs[0][0], 0), dst); err != nil {
			t.Fatal(err)
		}
		if tcpS.conn, err = tcpEP.Dial(0, netip.AddrPortFrom(d.LeftAddrs[1][0], 0), dst); err != nil {
			t.Fatal(err)
		}
		d.Left[0].Wake()
		d.Left[1].Wake()
	})
	// Tell the server's connections apart by their client's address.
	split := func() (mp, tcp int) {
		for _, c := range snk.conns {
			if c.RemoteAddr().Addr() == d.LeftAddrs[0][0] {
				mp += snk.got[c]
			} else {
				tcp += snk.got[c]
			}
		}
		return
	}
	const from, to = 20 * time.Second, 60 * time.Second
	var mp0, tcp0, mp1, tcp1 int
	s.At(from, func() { mp0, tcp0 = split() })
	s.At(to, func() { mp1, tcp1 = split() })
	s.Run(to)
	if len(snk.conns) != 2 {
		t.Fatalf("server accepted %d connections, want 2", len(snk.conns))
	}
	live := 0
	for _, sf := range mpS.conn.Subflows() {
		if sf.Usable {
			live++
		}
	}
	if subflows > 0 && (live != subflows || !mpS.conn.MPTCP() || tcpS.conn.MPTCP()) {
		t.Fatalf("MPTCP client has %d usable subflows (want %d), MPTCP %v; TCP client MPTCP %v: %+v",
			live, subflows, mpS.conn.MPTCP(), tcpS.conn.MPTCP(), mpS.conn.Subflows())
	}
	secs := (to - from).Seconds()
	return float64(mp1-mp0) * 8 / secs, float64(tcp1-tcp0) * 8 / secs
}

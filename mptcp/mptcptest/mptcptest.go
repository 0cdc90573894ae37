// Package mptcptest runs MPTCP endpoints in the deterministic simulator:
// hosts that drive an mptcp.Endpoint, an application loop that runs after
// every input (like an application woken by readiness), and a bulk
// transfer helper that checks every byte. Every run is reproducible from
// its seed.
package mptcptest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/sim"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// Host adapts an Endpoint to the simulator and runs App after every input.
type Host struct {
	EP  *mptcp.Endpoint
	App func(now time.Duration)
	// Chains, when set, makes HandlePacket deliver packets with a payload
	// as chains of buffers (HandleSegmentChain), cut at random points after
	// the headers, the way AF_XDP multi-buffer delivers jumbo frames.
	Chains *rand.Rand
	seg    wire.Segment
	rest   [][]byte
}

// HandlePacket implements sim.Endpoint.
func (h *Host) HandlePacket(now time.Duration, pkt []byte) {
	if h.Chains != nil && wire.ParseSegment(pkt, &h.seg, nil) == nil && h.seg.PayloadLen() > 1 {
		h.handleChain(now, pkt, len(pkt)-h.seg.PayloadLen())
	} else {
		h.EP.HandleSegment(now, pkt)
	}
	if h.App != nil {
		h.App(now)
	}
}

// handleChain cuts pkt (headers of hdr bytes) into one to four buffers.
func (h *Host) handleChain(now time.Duration, pkt []byte, hdr int) {
	r := h.Chains
	cut := hdr + r.IntN(len(pkt)-hdr)
	head := pkt[:cut]
	h.rest = h.rest[:0]
	for len(h.rest) < 3 && cut < len(pkt) {
		next := cut + 1 + r.IntN(len(pkt)-cut)
		if len(h.rest) == 2 {
			next = len(pkt)
		}
		h.rest = append(h.rest, pkt[cut:next])
		cut = next
	}
	h.EP.HandleSegmentChain(now, head, h.rest)
}

// PollTransmit implements sim.Endpoint.
func (h *Host) PollTransmit(now time.Duration, buf []byte) int { return h.EP.PollTransmit(now, buf) }

// NextTimeout implements sim.Endpoint.
func (h *Host) NextTimeout() (time.Duration, bool) { return h.EP.NextTimeout() }

// HandleTimeout implements sim.Endpoint.
func (h *Host) HandleTimeout(now time.Duration) {
	h.EP.HandleTimeout(now)
	if h.App != nil {
		h.App(now)
	}
}

// Bed is two hosts joined by parallel paths, each running an Endpoint.
type Bed struct {
	Sim            *sim.Sim
	Topo           *sim.TwoHosts
	Client, Server *mptcp.Endpoint
	ClientHost     *Host
	ServerHost     *Host
}

// NewBed builds the hosts; client and server configurations get their
// LocalAddrs and Rand filled in from the topology and the seed when unset.
func NewBed(seed uint64, paths []sim.Path, client, server mptcp.Config) (*Bed, error) {
	s := sim.New(seed)
	mss := max(client.TCP.MSS, server.TCP.MSS, 1460)
	s.SetMaxPacket(mss + 100)
	topo := s.ParallelPaths(paths...)
	if client.Rand == nil {
		client.Rand = rand.NewPCG(seed, 1)
	}
	if server.Rand == nil {
		server.Rand = rand.NewPCG(seed, 2)
	}
	if client.LocalAddrs == nil {
		client.LocalAddrs = topo.AddrsA
	}
	if server.LocalAddrs == nil {
		server.LocalAddrs = topo.AddrsB
	}
	ce, err := mptcp.NewEndpoint(client)
	if err != nil {
		return nil, err
	}
	se, err := mptcp.NewEndpoint(server)
	if err != nil {
		return nil, err
	}
	b := &Bed{Sim: s, Topo: topo, Client: ce, Server: se,
		ClientHost: &Host{EP: ce}, ServerHost: &Host{EP: se}}
	topo.A.SetEndpoint(b.ClientHost)
	topo.B.SetEndpoint(b.ServerHost)
	return b, nil
}

// Transfer is a bulk transfer in both directions on one connection.
type Transfer struct {
	Bed            *Bed
	Up, Down       []byte // client→server and server→client data
	GotUp, GotDown []byte
	Cc, Sc         *mptcp.Conn
	upSent         int
	downSent       int
	clientEOF      bool
	serverEOF      bool
	clientClosed   bool
	serverClosed   bool
	DoneAt         time.Duration
	buf            []byte
	// LendReads, when set, makes both applications also lend buffers of
	// random sizes (Conn.LendReadBuffer) between their Reads, so that
	// in-order bytes are copied straight into them.
	LendReads *rand.Rand
	Lent      int           // bytes that arrived in lent buffers
	lent      [2]lentBuffer // client's, server's
	// UpLimit, when set, paces the client: it writes no more than
	// UpLimit(now) bytes of Up by now. The client writes only when it runs
	// (on a packet or a timer), so a test whose limit grows while the
	// connection idles calls Bed.ClientHost.App itself; Wake alone only
	// polls for output.
	UpLimit func(now time.Duration) int
}

// NewTransfer prepares a transfer of up bytes to the server and down bytes
// back, of seeded random data, on port 5001.
func NewTransfer(b *Bed, seed uint64, up, down int) *Transfer {
	tr := &Transfer{Bed: b, Up: randomBytes(seed, up), Down: randomBytes(seed+1, down), buf: make([]byte, 64<<10)}
	b.Server.Listen(5001)
	b.ClientHost.App = tr.clientApp
	b.ServerHost.App = tr.serverApp
	b.Sim.At(0, func() { // at once, or now if the bed has run before
		c, err := b.Client.Dial(b.Sim.Now(), netip.AddrPortFrom(b.Topo.AddrsA[0], 0), netip.AddrPortFrom(b.Topo.AddrsB[0], 5001))
		if err != nil {
			panic(err)
		}
		tr.Cc = c
		b.Topo.A.Wake()
	})
	return tr
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 77))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func (tr *Transfer) clientApp(now time.Duration) {
	c := tr.Cc
	if c == nil {
		return
	}
	for {
		if _, ok := tr.Bed.Client.PollEvent(); !ok {
			break
		}
	}
	if !c.Established() {
		return
	}
	limit := len(tr.Up)
	if tr.UpLimit != nil {
		limit = min(limit, tr.UpLimit(now))
	}
	for tr.upSent < limit {
		n, err := c.Write(tr.Up[tr.upSent:limit])
		if err != nil || n == 0 {
			break
		}
		tr.upSent += n
	}
	if tr.upSent == len(tr.Up) && !tr.clientClosed {
		tr.clientClosed = true
		c.CloseWrite()
	}
	tr.GotDown, tr.clientEOF = tr.drain(now, c, 0, tr.GotDown, tr.clientEOF)
}

func (tr *Transfer) serverApp(now time.Duration) {
	for {
		ev, ok := tr.Bed.Server.PollEvent()
		if !ok {
			break
		}
		if ev.Kind == mptcp.EventAccepted && tr.Sc == nil {
			tr.Sc = ev.Conn
		}
	}
	c := tr.Sc
	if c == nil || !c.Established() {
		return
	}
	for tr.downSent < len(tr.Down) {
		n, err := c.Write(tr.Down[tr.downSent:])
		if err != nil || n == 0 {
			break
		}
		tr.downSent += n
	}
	if tr.downSent == len(tr.Down) && !tr.serverClosed {
		tr.serverClosed = true
		c.CloseWrite()
	}
	tr.GotUp, tr.serverEOF = tr.drain(now, c, 1, tr.GotUp, tr.serverEOF)
	if tr.serverEOF && tr.clientEOF && tr.DoneAt == 0 {
		tr.DoneAt = now
	}
}

// lentBuffer is one application's buffer lent to its connection.
type lentBuffer struct {
	buf     []byte
	size    int  // of the loan; 0: not lent
	recheck bool // a later look is scheduled
}

// drain reads what c has (side 0 is the client, 1 the server): first what
// arrived in the lent buffer, then by Read; then, with LendReads, maybe
// lends the buffer again, filled with junk so that bytes it did not receive
// cannot pass for data. A loan goes on at random over more packets, also
// once data arrived in it (as the runtime's lasts a whole batch): then the
// application looks again a little later.
func (tr *Transfer) drain(now time.Duration, c *mptcp.Conn, side int, got []byte, eof bool) ([]byte, bool) {
	lb := &tr.lent[side]
	if lb.size > 0 && tr.LendReads.IntN(2) == 0 {
		if c.Buffered() > 0 && !lb.recheck {
			lb.recheck = true
			tr.Bed.Sim.At(now+time.Duration(tr.LendReads.IntN(2000))*time.Microsecond, func() {
				lb.recheck = false
				tr.app(side)(tr.Bed.Sim.Now())
				tr.host(side).Wake()
			})
		}
		return got, eof
	}
	if lb.size > 0 {
		n := c.ReturnReadBuffer()
		if n > lb.size {
			panic(fmt.Sprintf("ReturnReadBuffer: %d bytes in a %d-byte loan", n, lb.size))
		}
		got, lb.size = append(got, lb.buf[:n]...), 0
		tr.Lent += n
	}
	got, eof = readAll(c, got, tr.buf, eof)
	if r := tr.LendReads; r != nil && !eof && r.IntN(2) == 0 {
		if lb.buf == nil {
			lb.buf = make([]byte, 64<<10)
		}
		size := 1 + r.IntN(len(lb.buf))
		for i := range lb.buf[:size] {
			lb.buf[i] = 0xEE
		}
		if c.LendReadBuffer(lb.buf[:size]) {
			lb.size = size
		}
	}
	return got, eof
}

func (tr *Transfer) app(side int) func(time.Duration) {
	if side == 0 {
		return tr.clientApp
	}
	return tr.serverApp
}

func (tr *Transfer) host(side int) *sim.Host {
	if side == 0 {
		return tr.Bed.Topo.A
	}
	return tr.Bed.Topo.B
}

func readAll(c *mptcp.Conn, got, buf []byte, eof bool) ([]byte, bool) {
	for !eof {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, true
		}
		if n == 0 {
			break
		}
	}
	return got, eof
}

// Finished reports whether both sides read everything up to EOF and both
// connections closed.
func (tr *Transfer) Finished() bool {
	if tr.Cc == nil || tr.Sc == nil || !tr.clientEOF || !tr.serverEOF {
		return false
	}
	c1, _ := tr.Cc.Closed()
	c2, _ := tr.Sc.Closed()
	return c1 && c2
}

// Run runs the simulation until the transfer finishes or limit passes,
// and checks the data. It returns a description of what went wrong, or "".
func (tr *Transfer) Run(limit time.Duration) string {
	if !tr.Bed.Sim.RunUntil(tr.Finished, limit) {
		return fmt.Sprintf("not finished by %v: up %d/%d, down %d/%d; %s", limit,
			len(tr.GotUp), len(tr.Up), len(tr.GotDown), len(tr.Down), tr.Describe())
	}
	if !bytes.Equal(tr.GotUp, tr.Up) {
		return fmt.Sprintf("client→server data differs (%d bytes, want %d); %s", len(tr.GotUp), len(tr.Up), tr.Describe())
	}
	if !bytes.Equal(tr.GotDown, tr.Down) {
		return fmt.Sprintf("server→client data differs (%d bytes, want %d); %s", len(tr.GotDown), len(tr.Down), tr.Describe())
	}
	for _, c := range []*mptcp.Conn{tr.Cc, tr.Sc} {
		if _, err := c.Closed(); err != nil {
			return fmt.Sprintf("closed with %v", err)
		}
	}
	return ""
}

// Describe summarises both connections for failure messages.
func (tr *Transfer) Describe() string {
	s := ""
	for name, c := range map[string]*mptcp.Conn{"client": tr.Cc, "server": tr.Sc} {
		if c == nil {
			s += name + ": none; "
			continue
		}
		closed, err := c.Closed()
		s += fmt.Sprintf("%s: %v closed %v err %v stats %+v subflows [", name, c, closed, err, c.Stats)
		for _, sf := range c.Subflows() {
			s += fmt.Sprintf("{%d %v %v→%v rto %v %+v} ", sf.ID, sf.State, sf.Local, sf.Remote, sf.RTO, sf.Stats)
		}
		s += "]; "
	}
	return s
}

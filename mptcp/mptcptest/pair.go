package mptcptest

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/mptcp"
)

// Pair is two endpoints joined back to back in memory with one connection
// between them: every packet one side sends is handed to the other at
// once, and virtual time advances by Tick per Step. It measures the engine
// alone (no simulator, no links).
type Pair struct {
	Client, Server *mptcp.Endpoint
	Cc, Sc         *mptcp.Conn
	Now, Tick      time.Duration
	buf            []byte
	Packets        [2]uint64
	// ChainAt, when positive, delivers every packet longer than ChainAt
	// as a chain of ChainAt-byte buffers (HandleSegmentChain), the way
	// AF_XDP copy mode hands over a jumbo frame in 3840-byte fragments.
	ChainAt int
	rest    [][]byte
}

// NewPair connects a client to a server (both configured by cfg, with
// LocalAddrs and Rand set here) and runs the handshake and the path
// manager until the connection has its subflows.
func NewPair(cfg mptcp.Config, subflows int) (*Pair, error) {
	client, server := cfg, cfg
	client.Rand, server.Rand = rand.NewPCG(1, 1), rand.NewPCG(2, 2)
	client.LocalAddrs = []netip.Addr{netip.MustParseAddr("10.0.0.1")}
	server.LocalAddrs = []netip.Addr{netip.MustParseAddr("10.0.0.2")}
	if subflows > 1 {
		client.PathManager, client.Subflows = "ndiffports", subflows
	}
	ce, err := mptcp.NewEndpoint(client)
	if err != nil {
		return nil, err
	}
	se, err := mptcp.NewEndpoint(server)
	if err != nil {
		return nil, err
	}
	mss := max(cfg.TCP.MSS, 1460)
	p := &Pair{Client: ce, Server: se, Tick: 10 * time.Microsecond, buf: make([]byte, mss+200)}
	se.Listen(80)
	p.Cc, err = ce.Dial(0, netip.MustParseAddrPort("10.0.0.1:0"), netip.MustParseAddrPort("10.0.0.2:80"))
	if err != nil {
		return nil, err
	}
	for i := 0; i < 100000 && (p.Sc == nil || len(p.Cc.Subflows()) < subflows || !allUsable(p.Cc)); i++ {
		p.Step()
		for {
			ev, ok := se.PollEvent()
			if !ok {
				break
			}
			if ev.Kind == mptcp.EventAccepted {
				p.Sc = ev.Conn
			}
		}
		// Exchange a little data so that the client is fully established.
		if p.Sc != nil && p.Cc.Established() && i%100 == 0 {
			p.Cc.Write([]byte{0})
			p.Sc.Read(make([]byte, 16))
		}
	}
	for ce.PollEvent(); ; {
		if _, ok := ce.PollEvent(); !ok {
			break
		}
	}
	return p, nil
}

func allUsable(c *mptcp.Conn) bool {
	for _, sf := range c.Subflows() {
		if !sf.Usable {
			return false
		}
	}
	return true
}

// deliver hands pkt to ep, in one buffer or as a chain (ChainAt).
func (p *Pair) deliver(ep *mptcp.Endpoint, pkt []byte) {
	if p.ChainAt <= 0 || len(pkt) <= p.ChainAt {
		ep.HandleSegment(p.Now, pkt)
		return
	}
	p.rest = p.rest[:0]
	for at := p.ChainAt; at < len(pkt); at += p.ChainAt {
		p.rest = append(p.rest, pkt[at:min(at+p.ChainAt, len(pkt))])
	}
	ep.HandleSegmentChain(p.Now, pkt[:p.ChainAt], p.rest)
}

// Step moves every pending packet both ways, runs due timers and advances
// the time by Tick.
func (p *Pair) Step() {
	for moved := true; moved; {
		moved = false
		for n := p.Client.PollTransmit(p.Now, p.buf); n > 0; n = p.Client.PollTransmit(p.Now, p.buf) {
			p.deliver(p.Server, p.buf[:n])
			p.Packets[0]++
			moved = true
		}
		for n := p.Server.PollTransmit(p.Now, p.buf); n > 0; n = p.Server.PollTransmit(p.Now, p.buf) {
			p.deliver(p.Client, p.buf[:n])
			p.Packets[1]++
			moved = true
		}
	}
	p.Now += p.Tick
	for _, e := range []*mptcp.Endpoint{p.Client, p.Server} {
		if t, ok := e.NextTimeout(); ok && t <= p.Now {
			e.HandleTimeout(p.Now)
		}
	}
}

package tcptest

import (
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/tcp"
)

// Pair is two endpoints joined back to back in memory, with one
// connection between them: every packet one side sends is handed to the
// other at once (an infinitely fast, lossless wire), and virtual time
// advances by Tick per Step. It measures the engine alone.
type Pair struct {
	Client, Server *Endpoint
	Cs, Ss         *tcp.Stream
	Now            time.Duration
	Tick           time.Duration
	buf            []byte
	// Packets counts the packets moved in each direction.
	Packets [2]uint64
}

// NewPair connects a client to a server with the given configuration and
// buffer sizes and completes the handshake.
func NewPair(cfg tcp.Config, sndBuf, rcvBuf int) *Pair {
	p := &Pair{Client: NewEndpoint(1), Server: NewEndpoint(2), Tick: 10 * time.Microsecond}
	for _, e := range []*Endpoint{p.Client, p.Server} {
		e.Config, e.SendBuf, e.RecvBuf = cfg, sndBuf, rcvBuf
	}
	p.buf = make([]byte, tcp.MaxHeaderLen+max(cfg.MSS, 1460)+64)
	p.Server.Listen(80)
	p.Cs = p.Client.Dial(0, netip.MustParseAddrPort("10.0.0.1:0"), netip.MustParseAddrPort("10.0.0.2:80"))
	for p.Ss == nil || !p.Cs.Established() || !p.Ss.Established() {
		p.Step()
		if p.Ss == nil {
			p.Ss = p.Server.Accept()
		}
		if p.Now > time.Minute {
			panic("tcptest: handshake did not complete")
		}
	}
	return p
}

// Step moves every pending packet both ways, runs due timers and advances
// the time by Tick.
func (p *Pair) Step() {
	for moved := true; moved; {
		moved = false
		for n := p.Client.PollTransmit(p.Now, p.buf); n > 0; n = p.Client.PollTransmit(p.Now, p.buf) {
			p.Server.HandlePacket(p.Now, p.buf[:n])
			p.Packets[0]++
			moved = true
		}
		for n := p.Server.PollTransmit(p.Now, p.buf); n > 0; n = p.Server.PollTransmit(p.Now, p.buf) {
			p.Client.HandlePacket(p.Now, p.buf[:n])
			p.Packets[1]++
			moved = true
		}
	}
	p.Now += p.Tick
	for _, e := range []*Endpoint{p.Client, p.Server} {
		if t, ok := e.NextTimeout(); ok && t <= p.Now {
			e.HandleTimeout(p.Now)
		}
	}
}

// Package tcptest runs the subflow TCP engine as a complete, minimal TCP
// stack: an Endpoint that demultiplexes segments by 4-tuple, accepts
// connections on listening ports, answers strays with RSTs and drives
// each connection's Stream. It satisfies dataplane/sim's Endpoint, so TCP
// can be tested in the simulator, and it backs the in-memory benchmarks.
// The MPTCP engine has its own endpoint; this one is for tests.
package tcptest

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/cc"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

type fourTuple struct{ local, remote netip.AddrPort }

// Endpoint is a host's TCP stack.
type Endpoint struct {
	// Config is the template for every connection; NewCC, if set, makes
	// each connection's congestion controller.
	Config  tcp.Config
	NewCC   func(mss int) cc.Controller
	SendBuf int
	RecvBuf int

	rng      *rand.Rand
	isn      *tcp.ISNGenerator
	conns    map[fourTuple]*tcp.Stream
	order    []*tcp.Stream // deterministic polling order
	listen   map[uint16]bool
	accepted []*tcp.Stream
	nextPort uint16
	rr       int

	seg      wire.Segment
	counters wire.Counters
	rst      [][]byte // RST replies waiting to be sent
	rstFree  [][]byte
	Stats    EndpointStats
}

// EndpointStats counts what the endpoint itself handled.
type EndpointStats struct {
	Malformed, BadChecksum, NoConnection, ResetsSent, Accepted uint64
}

// NewEndpoint returns an endpoint whose randomness (ISN secret, timestamp
// offsets, ephemeral ports) derives from seed.
func NewEndpoint(seed uint64) *Endpoint {
	r := rand.New(rand.NewPCG(seed, 0x7cb))
	return &Endpoint{
		SendBuf: 1 << 20, RecvBuf: 1 << 20,
		rng:      r,
		isn:      tcp.NewISNGenerator(r),
		conns:    map[fourTuple]*tcp.Stream{},
		listen:   map[uint16]bool{},
		nextPort: 40000 + uint16(r.IntN(10000)),
	}
}

// Listen accepts connections on port.
func (e *Endpoint) Listen(port uint16) { e.listen[port] = true }

// Accept returns the next accepted stream, or nil.
func (e *Endpoint) Accept() *tcp.Stream {
	if len(e.accepted) == 0 {
		return nil
	}
	s := e.accepted[0]
	e.accepted = e.accepted[1:]
	return s
}

// Streams returns every stream still tracked, in creation order.
func (e *Endpoint) Streams() []*tcp.Stream { return e.order }

func (e *Endpoint) config() tcp.Config {
	cfg := e.Config
	if e.NewCC != nil {
		cfg.CC = e.NewCC(cfg.MSS)
	}
	return cfg
}

// Dial opens a connection from local (port 0 picks an ephemeral one) to
// remote.
func (e *Endpoint) Dial(now time.Duration, local, remote netip.AddrPort) *tcp.Stream {
	if local.Port() == 0 {
		e.nextPort++
		if e.nextPort < 40000 {
			e.nextPort = 40000
		}
		local = netip.AddrPortFrom(local.Addr(), e.nextPort)
	}
	s := tcp.NewStream(e.SendBuf, e.RecvBuf)
	c := tcp.Dial(now, e.config(), local, remote, e.isn.ISN(now, local, remote), e.rng.Uint32(), s)
	s.Attach(c)
	e.add(fourTuple{local, remote}, s)
	return s
}

func (e *Endpoint) add(k fourTuple, s *tcp.Stream) {
	e.conns[k] = s
	e.order = append(e.order, s)
}

// HandlePacket implements the simulator's Endpoint.
func (e *Endpoint) HandlePacket(now time.Duration, pkt []byte) {
	seg := &e.seg
	if err := wire.ParseSegment(pkt, seg, &e.counters); err != nil {
		e.Stats.Malformed++
		return
	}
	k := fourTuple{
		local:  netip.AddrPortFrom(seg.DstAddr(), seg.TCP.DstPort()),
		remote: netip.AddrPortFrom(seg.SrcAddr(), seg.TCP.SrcPort()),
	}
	if s, ok := e.conns[k]; ok && s.Conn().State() != tcp.Closed {
		s.Conn().Handle(now, seg)
		return
	}
	if !seg.ChecksumOK(seg.PayloadSum()) {
		e.Stats.BadChecksum++
		return
	}
	flags := seg.TCP.Flags()
	if flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) == wire.FlagSYN && e.listen[k.local.Port()] {
		if old, ok := e.conns[k]; ok {
			e.remove(old)
		}
		s := tcp.NewStream(e.SendBuf, e.RecvBuf)
		c := tcp.Accept(now, e.config(), seg, e.isn.ISN(now, k.local, k.remote), e.rng.Uint32(), s)
		s.Attach(c)
		e.add(k, s)
		e.accepted = append(e.accepted, s)
		e.Stats.Accepted++
		return
	}
	e.Stats.NoConnection++
	var buf []byte
	if n := len(e.rstFree); n > 0 {
		buf, e.rstFree = e.rstFree[n-1][:cap(e.rstFree[n-1])], e.rstFree[:n-1]
	} else {
		buf = make([]byte, tcp.MaxHeaderLen)
	}
	if n := tcp.WriteReset(buf, seg, nil); n > 0 {
		e.rst = append(e.rst, buf[:n])
		e.Stats.ResetsSent++
	}
}

func (e *Endpoint) remove(s *tcp.Stream) {
	c := s.Conn()
	delete(e.conns, fourTuple{c.LocalAddr(), c.RemoteAddr()})
	for i, x := range e.order {
		if x == s {
			e.order = append(e.order[:i], e.order[i+1:]...)
			break
		}
	}
}

// PollTransmit implements the simulator's Endpoint: pending RSTs, then the
// connections in turn.
func (e *Endpoint) PollTransmit(now time.Duration, buf []byte) int {
	if n := len(e.rst); n > 0 {
		p := e.rst[0]
		copy(e.rst, e.rst[1:])
		e.rst = e.rst[:n-1]
		e.rstFree = append(e.rstFree, p)
		return copy(buf, p)
	}
	for i := 0; i < len(e.order); i++ {
		e.rr = (e.rr + 1) % len(e.order)
		if n := e.order[e.rr].Conn().PollTransmit(now, buf); n > 0 {
			return n
		}
	}
	return 0
}

// NextTimeout implements the simulator's Endpoint.
func (e *Endpoint) NextTimeout() (time.Duration, bool) {
	var next time.Duration
	found := false
	for _, s := range e.order {
		if t, ok := s.Conn().NextTimeout(); ok && (!found || t < next) {
			next, found = t, true
		}
	}
	return next, found
}

// HandleTimeout implements the simulator's Endpoint.
func (e *Endpoint) HandleTimeout(now time.Duration) {
	for _, s := range e.order {
		if t, ok := s.Conn().NextTimeout(); ok && t <= now {
			s.Conn().HandleTimeout(now)
		}
	}
}

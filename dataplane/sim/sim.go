package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Endpoint is the protocol engine a simulated host runs: the sans-IO
// contract of docs/architecture.md, one IP packet at a time.
type Endpoint interface {
	// HandlePacket processes one IP packet that arrived at the host. The
	// packet is valid only during the call.
	HandlePacket(now time.Duration, pkt []byte)
	// PollTransmit writes the next IP packet to send into buf and returns
	// its length, or 0 when there is nothing to send now.
	PollTransmit(now time.Duration, buf []byte) int
	// NextTimeout returns when HandleTimeout is next due; ok is false when
	// no timer is armed.
	NextTimeout() (deadline time.Duration, ok bool)
	// HandleTimeout runs the timers that are due at now.
	HandleTimeout(now time.Duration)
}

// DefaultMaxPacket is the largest packet the simulator carries unless
// Sim.MaxPacket says otherwise: a 9000-byte MTU plus slack.
const DefaultMaxPacket = 9216

// livelockLimit is how many events may run without virtual time moving
// before Run reports a livelock (an endpoint that keeps asking to run now).
const livelockLimit = 10_000_000

// Sim is a discrete-event network simulator with virtual time. It runs on
// the caller's goroutine; every random choice comes from generators seeded
// from the seed given to New, so a run is reproducible from its seed.
type Sim struct {
	now       time.Duration
	seed      uint64
	seq       uint64
	events    eventHeap
	hosts     []*Host
	links     []*Link
	mboxes    []*middlebox
	routers   []*Router
	dirty     []*Host // hosts to poll after the current event
	pool      bufferPool
	maxPacket int
	sameTime  int

	// Epoch is the wall-clock time that virtual time 0 maps to in pcap
	// files. It does not influence the simulation.
	Epoch time.Time
}

// New returns an empty simulator whose randomness derives from seed.
func New(seed uint64) *Sim {
	return &Sim{seed: seed, maxPacket: DefaultMaxPacket, Epoch: time.Unix(1_700_000_000, 0)}
}

// Now returns the virtual time.
func (s *Sim) Now() time.Duration { return s.now }

// Seed returns the seed the simulator was created with.
func (s *Sim) Seed() uint64 { return s.seed }

// SetMaxPacket sets the size of the packet buffers; call it before the
// first packet is sent. Larger packets are dropped and counted.
func (s *Sim) SetMaxPacket(n int) { s.maxPacket = n }

// Rand returns a new generator derived from the simulator's seed and the
// given stream number, for endpoints and workloads that need randomness.
func (s *Sim) Rand(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(s.seed, 0x9e3779b97f4a7c15^stream))
}

// At schedules fn at virtual time t (or now, if t is in the past). Hosts
// that fn changes must be woken with Host.Wake so that their output is
// polled.
func (s *Sim) At(t time.Duration, fn func()) {
	s.push(event{at: max(t, s.now), kind: evCall, fn: fn})
}

// After schedules fn after d.
func (s *Sim) After(d time.Duration, fn func()) { s.At(s.now+d, fn) }

func (s *Sim) push(e event) {
	s.seq++
	e.seq = s.seq
	s.events.push(e)
}

// Step runs the next event. It returns false when no event is left.
func (s *Sim) Step() bool {
	s.flush() // hosts woken from outside an event
	if s.events.len() == 0 {
		return false
	}
	e := s.events.pop()
	if e.at > s.now {
		s.now = e.at
		s.sameTime = 0
	} else if s.sameTime++; s.sameTime > livelockLimit {
		panic(fmt.Sprintf("sim: livelock: %d events at %v without time advancing", livelockLimit, s.now))
	}
	switch e.kind {
	case evDeliver:
		l := s.links[e.link]
		l.deliver(e)
	case evTimer:
		h := s.hosts[e.host]
		if e.gen == h.timerGen {
			h.timerArmed = false
			h.ep.HandleTimeout(s.now)
			h.Wake()
		}
	case evCall:
		e.fn()
	case evMbox:
		s.mboxes[e.link].timeout(e)
	}
	s.flush()
	return true
}

// Run runs events until virtual time passes until or no event is left.
func (s *Sim) Run(until time.Duration) {
	s.flush()
	for s.events.len() > 0 && s.events.peek().at <= until {
		s.Step()
	}
	if s.now < until {
		s.now = until
	}
}

// RunUntil runs events until done returns true (checked after every event)
// or virtual time passes limit. It reports whether done became true.
func (s *Sim) RunUntil(done func() bool, limit time.Duration) bool {
	s.flush()
	for !done() {
		if s.events.len() == 0 || s.events.peek().at > limit {
			return false
		}
		s.Step()
	}
	return true
}

// flush polls every woken host for output and re-arms its timer.
func (s *Sim) flush() {
	for len(s.dirty) > 0 {
		h := s.dirty[len(s.dirty)-1]
		s.dirty = s.dirty[:len(s.dirty)-1]
		h.woken = false
		h.poll()
	}
}

// Host is a simulated machine: an endpoint and its interfaces.
type Host struct {
	Name       string
	sim        *Sim
	index      int
	ep         Endpoint
	ifaces     []*Interface
	woken      bool
	timerArmed bool
	timerAt    time.Duration
	timerGen   uint64
	txBuf      []byte
	Stats      HostStats
}

// HostStats counts what a host sent and received.
type HostStats struct {
	RxPackets, TxPackets uint64
	// NoRoute counts packets whose source address belongs to no interface.
	NoRoute uint64
}

// AddHost adds a host without an endpoint; set it with SetEndpoint once
// the host's addresses are known.
func (s *Sim) AddHost(name string) *Host {
	h := &Host{Name: name, sim: s, index: len(s.hosts)}
	s.hosts = append(s.hosts, h)
	return h
}

// SetEndpoint attaches the engine the host runs and polls it.
func (h *Host) SetEndpoint(ep Endpoint) {
	h.ep = ep
	h.Wake()
	h.sim.flush()
}

// Endpoint returns the host's engine.
func (h *Host) Endpoint() Endpoint { return h.ep }

// Interfaces returns the host's interfaces.
func (h *Host) Interfaces() []*Interface { return h.ifaces }

// Wake asks the simulator to poll the host's output and timer after the
// current event: call it after changing the endpoint from outside (an
// application write in a test, for example).
func (h *Host) Wake() {
	if !h.woken {
		h.woken = true
		h.sim.dirty = append(h.sim.dirty, h)
	}
}

func (h *Host) poll() {
	if h.ep == nil {
		return
	}
	s := h.sim
	if h.txBuf == nil {
		h.txBuf = make([]byte, s.maxPacket)
	}
	for {
		n := h.ep.PollTransmit(s.now, h.txBuf)
		if n == 0 {
			break
		}
		h.Stats.TxPackets++
		pkt := h.txBuf[:n]
		ifc := h.route(pkt)
		if ifc == nil || ifc.out == nil {
			h.Stats.NoRoute++
			continue
		}
		ifc.out.send(pkt)
	}
	if dl, ok := h.ep.NextTimeout(); ok {
		if !h.timerArmed || dl != h.timerAt {
			h.timerGen++
			h.timerArmed, h.timerAt = true, dl
			s.push(event{at: max(dl, s.now), kind: evTimer, host: int32(h.index), gen: h.timerGen})
		}
	} else if h.timerArmed {
		h.timerArmed = false
		h.timerGen++ // cancels the pending timer event
	}
}

// route picks the interface that owns the packet's source address, as a
// host with one address per path and source-based routing does.
func (h *Host) route(pkt []byte) *Interface {
	src, ok := sourceAddr(pkt)
	if !ok {
		return nil
	}
	for _, ifc := range h.ifaces {
		if ifc.Addr == src {
			return ifc
		}
	}
	return nil
}

func sourceAddr(pkt []byte) (netip.Addr, bool) {
	if len(pkt) >= 20 && pkt[0]>>4 == 4 {
		return netip.AddrFrom4([4]byte(pkt[12:16])), true
	}
	if len(pkt) >= 40 && pkt[0]>>4 == 6 {
		return netip.AddrFrom16([16]byte(pkt[8:24])), true
	}
	return netip.Addr{}, false
}

// Interface is a host's attachment to one link pair, with one address.
type Interface struct {
	Host *Host
	Addr netip.Addr
	out  *Link
}

// AddInterface gives the host an interface with the given address.
func (h *Host) AddInterface(addr netip.Addr) *Interface {
	ifc := &Interface{Host: h, Addr: addr}
	h.ifaces = append(h.ifaces, ifc)
	return ifc
}

// Out returns the link the interface transmits on, or nil.
func (ifc *Interface) Out() *Link { return ifc.out }

func (ifc *Interface) receive(now time.Duration, pkt []byte) {
	h := ifc.Host
	h.Stats.RxPackets++
	if h.ep != nil {
		h.ep.HandlePacket(now, pkt)
		h.Wake()
	}
}

// receiver is what a link delivers to: a host interface or a router
// port.
type receiver interface {
	receive(now time.Duration, pkt []byte)
}

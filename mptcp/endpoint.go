package mptcp

import (
	"errors"
	"github.com/mpxdp/mpxdp/ofo"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/cc"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// EventKind says what happened to a connection.
type EventKind uint8

// The events an Endpoint reports through PollEvent.
const (
	// EventAccepted: a listener accepted a new connection.
	EventAccepted EventKind = iota + 1
	// EventEstablished: the initial handshake completed.
	EventEstablished
	// EventReadable: data (or the end of the stream) is ready to Read.
	EventReadable
	// EventWritable: send buffer space was freed.
	EventWritable
	// EventFallback: the connection fell back to TCP; Err says why.
	EventFallback
	// EventClosed: the connection closed; Err is nil after an orderly close.
	EventClosed
)

// Event is one notification.
type Event struct {
	Kind EventKind
	Conn *Conn
	Err  error
}

// EndpointStats counts what the endpoint handled itself.
type EndpointStats struct {
	Malformed, BadChecksum, NoConnection uint64
	NotLocal                             uint64 // to an address not in LocalAddrs: dropped
	ResetsSent                           uint64
	Accepted, PlainAccepted              uint64
	JoinUnknownToken                     uint64
	// Half-open connections: SYNs answered, SYNs dropped over
	// MaxSynBacklog, requests reset by the peer or expired after
	// synAckRetries, SYN/ACK retransmissions.
	SynRequests, SynBacklogDrops         uint64
	SynRequestsReset, SynRequestsExpired uint64
	SynAckRetransmits                    uint64
	// Requests made plain TCP when the client's SYN came again without
	// MP_CAPABLE (it gave MPTCP up: blackhole.go).
	SynRequestsDowngraded uint64
	// RingsReused counts send and receive rings that new connections
	// took from finished ones instead of allocating (rings.go).
	RingsReused uint64
	// 4-tuples taken over from subflows in TIME-WAIT (by a new SYN, RFC
	// 6191, or by Dial/OpenSubflow when no other port was free), and
	// Dial/OpenSubflow calls that found no free port (ErrNoPort).
	TimeWaitReused, NoPort uint64
	// MP_CAPABLE given up on Dial's SYN after SYNRetransBeforeFallback
	// retransmissions (MPTcpExtMPCapableSYNTXDrop); blackholes found,
	// each starting a period of plain TCP Dials (MPTcpExtBlackhole); and
	// the Dials made plain TCP in such a period
	// (MPTcpExtMPCapableSYNTXDisabled).
	MPCapableSYNTXDrop, Blackholes, MPCapableSYNTXDisabled uint64
	// Dials whose SYN without MP_CAPABLE went unanswered too and that
	// resent it from a new port (beyond Linux; mptcp/blackhole.go).
	SYNPortMoves uint64
	Options      wire.Counters
}

type fourTuple struct{ local, remote netip.AddrPort }

// maxNewPieces matches the pieces one segment can be cut into by the TCP
// layer (new data around out-of-order ranges).
const maxNewPieces = 8

// Endpoint is an MPTCP stack instance: listeners, connections, and the
// demultiplexing of segments to subflows (by 4-tuple, or by token for an
// MP_JOIN SYN). It is a sans-IO state machine (docs/architecture.md):
//
//   - inputs: HandleSegment (one IP packet, used only during the call),
//     HandleTimeout, and the connections' application methods;
//   - outputs: PollTransmit (call until it returns 0), PollEvent;
//   - time: NextTimeout tells when HandleTimeout is due; `now` is an
//     argument everywhere.
//
// It is owned by one goroutine at a time and never blocks.
type Endpoint struct {
	cfg      Config
	rng      *rand.Rand
	isn      *tcp.ISNGenerator
	subflows map[fourTuple]*subflow
	tokens   map[uint32]*Conn
	listen   map[uint16]bool
	conns    []*Conn
	dirty    []*Conn
	timers   timerHeap
	events   []Event
	evHead   int
	rst      [][]byte
	rstFree  [][]byte
	seg      wire.Segment
	nextPort uint16
	portUse  map[uint16]int32 // subflows we opened, per local port (accepted ones use listening ports)
	// pieces is what ReceiveData learned about each piece of the segment
	// being handled, for CommitData (one segment at a time, so the
	// endpoint holds it rather than every subflow).
	pieces [maxNewPieces]rxPiece
	// rxGaps is the receive buffers' scratch for the free ranges a
	// segment's bytes fall into (one segment is handled at a time).
	rxGaps    [maxGaps]ofo.Range
	segSerial uint64 // counts received segments (recvBuffer.tgtSeg)
	npieces   int
	scratch   tcp.Scratch // shared by every subflow's TCP
	// Half-open passive connections (synreq.go).
	requests  map[fourTuple]*synRequest
	reqTokens map[uint32]*synRequest
	reqTimers reqTimers
	synAcks   []*synRequest // SYN/ACKs waiting for PollTransmit
	synConn   tcp.Conn      // scratch connection that builds them
	synOwner  synAckOwner
	synCC     cc.Controller
	rings     ringCache // rings of finished connections, for new ones
	// Blackhole mode (blackhole.go): blackholes found since MPTCP last
	// worked, and when the last one was.
	blackholes  int
	blackholeAt time.Duration
	Stats       EndpointStats
}

// NewEndpoint returns an endpoint.
func NewEndpoint(cfg Config) (*Endpoint, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ep := &Endpoint{
		cfg:       cfg,
		rng:       rand.New(cfg.Rand),
		subflows:  map[fourTuple]*subflow{},
		tokens:    map[uint32]*Conn{},
		listen:    map[uint16]bool{},
		requests:  map[fourTuple]*synRequest{},
		reqTokens: map[uint32]*synRequest{},
		synCC:     newSynCC(cfg),
	}
	ep.rings.stats = &ep.Stats
	if cfg.ClockSecret != ([16]byte{}) {
		ep.isn = tcp.NewISNGeneratorKeyed(cfg.ClockSecret, cfg.ClockBase)
	} else {
		ep.isn = tcp.NewISNGenerator(cfg.Rand)
	}
	// Ephemeral ports from a range the kernel does not use by default
	// (its ip_local_port_range is 32768–60999), so the two never collide.
	lo, hi := ep.cfg.EphemeralPorts[0], ep.cfg.EphemeralPorts[1]
	ep.nextPort = lo + uint16(ep.rng.IntN(int(hi-lo)+1))
	ep.portUse = make(map[uint16]int32)
	return ep, nil
}

// Config returns the endpoint's configuration, defaults applied.
func (ep *Endpoint) Config() Config { return ep.cfg }

// Listen accepts connections on port (any local address).
func (ep *Endpoint) Listen(port uint16) { ep.listen[port] = true }

// Unlisten stops accepting on port.
func (ep *Endpoint) Unlisten(port uint16) { delete(ep.listen, port) }

// Conns returns the live connections.
func (ep *Endpoint) Conns() []*Conn { return ep.conns }

// ephemeralPort picks the local port of a new subflow from local to
// remote in Config.EphemeralPorts, as connect() does (RFC 6056): first a
// port no subflow of ours uses, then one whose 4-tuple with remote is free
// (a port serves several destinations), then the 4-tuple of a subflow that
// has been in TIME-WAIT for a second (ReuseTimeWait). ErrNoPort otherwise:
// a 4-tuple in use must never be taken, or two subflows would share it.
func (ep *Endpoint) ephemeralPort(now time.Duration, local netip.Addr, remote netip.AddrPort) (uint16, error) {
	lo, hi := ep.cfg.EphemeralPorts[0], ep.cfg.EphemeralPorts[1]
	n := int(hi-lo) + 1
	next := func() uint16 {
		if ep.nextPort < lo || ep.nextPort >= hi {
			ep.nextPort = lo
		} else {
			ep.nextPort++
		}
		return ep.nextPort
	}
	for i := 0; i < n; i++ {
		if p := next(); ep.portUse[p] == 0 && !ep.listen[p] {
			return p, nil
		}
	}
	for i := 0; i < n; i++ {
		p := next()
		if ep.listen[p] {
			continue
		}
		sf := ep.subflows[fourTuple{netip.AddrPortFrom(local, p), remote}]
		if sf == nil {
			return p, nil
		}
	}
	for i := 0; i < n; i++ {
		p := next()
		sf := ep.subflows[fourTuple{netip.AddrPortFrom(local, p), remote}]
		if sf != nil && !ep.listen[p] && sf.tcp.ReuseTimeWait(now, timeWaitReuseAge) {
			ep.Stats.TimeWaitReused++
			ep.markDirty(sf.c)
			return p, nil
		}
	}
	ep.Stats.NoPort++
	return 0, ErrNoPort
}

// timeWaitReuseAge is how long a subflow must have been in TIME-WAIT
// before its 4-tuple is reused (Linux: one second, tcp_tw_reuse).
const timeWaitReuseAge = time.Second

// ErrNoPort is returned by Dial and OpenSubflow when every port of
// Config.EphemeralPorts is in use towards the destination.
var ErrNoPort = errors.New("mptcp: no free ephemeral port towards this destination (widen Config.EphemeralPorts)")

// isLocal reports whether a is one of the endpoint's addresses (any
// address when LocalAddrs is empty).
func (ep *Endpoint) isLocal(a netip.Addr) bool {
	if len(ep.cfg.LocalAddrs) == 0 {
		return true
	}
	for _, x := range ep.cfg.LocalAddrs {
		if x == a {
			return true
		}
	}
	return false
}

// addrID returns the address ID of a local address: 0 for the first
// configured address (the usual initial one), its index+1 otherwise.
func (ep *Endpoint) addrID(a netip.Addr) uint8 {
	for i, x := range ep.cfg.LocalAddrs {
		if x == a {
			return uint8(i)
		}
	}
	return 0
}

// tokenInUse reports whether a token is taken: key generation retries
// until it finds a free one, so tokens are locally unique (RFC 8684 §3.1).

// ErrNoKey is returned when no key with an unused token could be drawn.
var ErrNoKey = errors.New("mptcp: could not draw a key with an unused token")

// Dial opens a connection from local (port 0 picks an ephemeral port) to
// remote, starting the MP_CAPABLE handshake (RFC 8684 §3.1).
func (ep *Endpoint) Dial(now time.Duration, local, remote netip.AddrPort) (*Conn, error) {
	c := newConn(ep, true)
	plain := ep.cfg.DisableMPTCP
	if !plain && ep.activeDisabled(now) {
		plain = true
		c.fallbackErr = errActiveDisabled
	}
	if plain {
		c.plainTCP = true
		c.snd.start(1)
		c.una, c.sndNxt, c.sndMax = 1, 1, 1
		c.sndFB = linearMap{off: 1, dsn: 1}
		c.rcv.start(1, c.ofoCapacity())
		c.rcvFB, c.rcvLinear = linearMap{off: 1, dsn: 1}, true
	}
	if local.Port() == 0 {
		p, err := ep.ephemeralPort(now, local.Addr(), remote)
		if err != nil {
			return nil, err
		}
		local = netip.AddrPortFrom(local.Addr(), p)
		c.portChosen = true
	}
	if !plain {
		if err := ep.newKey(c); err != nil {
			return nil, err
		}
	}
	sf := c.newSubflow(local, remote, true)
	sf.localID = ep.addrID(local.Addr())
	iss, tsOffset := ep.isn.Initial(now, local, remote)
	sf.tcp = tcp.Dial(now, c.tcpConfig(now), local, remote, iss, tsOffset, sf)
	ep.addConn(c)
	ep.addSubflow(sf)
	if c.fallbackErr == errActiveDisabled {
		// Counted and announced only for a Dial that succeeds.
		ep.Stats.MPCapableSYNTXDisabled++
		ep.emit(Event{Kind: EventFallback, Conn: c, Err: errActiveDisabled})
	}
	return c, nil
}

// newKey draws the connection's key with a locally unique token.
func (ep *Endpoint) newKey(c *Conn) error {
	key, token, idsn, ok := wire.GenerateKey(ep.cfg.Rand, ep.tokenInUse)
	if !ok {
		return ErrNoKey
	}
	ep.setKey(c, key, token, idsn)
	return nil
}

// setKey gives the connection its key, and files its token.
func (ep *Endpoint) setKey(c *Conn, key uint64, token uint32, idsn uint64) {
	c.localKey, c.localToken, c.localIDSN = key, token, idsn
	c.snd.start(c.localIDSN + 1)
	c.una, c.sndNxt, c.sndMax = c.localIDSN+1, c.localIDSN+1, c.localIDSN+1
	c.wndEnd = c.sndNxt
	ep.tokens[token] = c
}

func (ep *Endpoint) addConn(c *Conn) {
	c.connIndex = len(ep.conns)
	ep.conns = append(ep.conns, c)
	ep.markDirty(c)
}

func (ep *Endpoint) addSubflow(sf *subflow) {
	ep.subflows[fourTuple{sf.local, sf.remote}] = sf
	if sf.active() {
		ep.portUse[sf.local.Port()]++
	}
	ep.markDirty(sf.c)
}

func (ep *Endpoint) removeSubflow(sf *subflow) {
	k := fourTuple{sf.local, sf.remote}
	if ep.subflows[k] == sf {
		delete(ep.subflows, k)
		if sf.active() {
			if ep.portUse[sf.local.Port()]--; ep.portUse[sf.local.Port()] <= 0 {
				delete(ep.portUse, sf.local.Port())
			}
		}
	}
}

// markDirty queues a connection for PollTransmit and a timer update.
func (ep *Endpoint) markDirty(c *Conn) {
	if !c.dirty {
		c.dirty = true
		ep.dirty = append(ep.dirty, c)
	}
}

func (ep *Endpoint) emit(ev Event) { ep.events = append(ep.events, ev) }

// PollEvent returns the next event, if any.
func (ep *Endpoint) PollEvent() (Event, bool) {
	if ep.evHead == len(ep.events) {
		ep.events, ep.evHead = ep.events[:0], 0
		return Event{}, false
	}
	ev := ep.events[ep.evHead]
	ep.events[ep.evHead] = Event{}
	ep.evHead++
	return ev, true
}

// HandleSegment processes one received IP packet. It never fails: damage
// and protocol violations become counters, RSTs and connection events.
func (ep *Endpoint) HandleSegment(now time.Duration, pkt []byte) {
	if err := wire.ParseSegment(pkt, &ep.seg, &ep.Stats.Options); err != nil {
		ep.Stats.Malformed++
		return
	}
	ep.handle(now, &ep.seg)
}

// HandleSegmentChain is HandleSegment for a packet received in a chain of
// buffers (AF_XDP multi-buffer): head holds the IP and TCP headers, rest
// the remainder of the packet. The payload is read in place, piece by
// piece, with the one copy (and checksum) it gets in HandleSegment; a
// packet whose headers do not fit in head is counted as Malformed.
func (ep *Endpoint) HandleSegmentChain(now time.Duration, head []byte, rest [][]byte) {
	if err := wire.ParseSegmentChain(head, rest, &ep.seg, &ep.Stats.Options); err != nil {
		ep.Stats.Malformed++
		return
	}
	ep.handle(now, &ep.seg)
}

func (ep *Endpoint) handle(now time.Duration, seg *wire.Segment) {
	ep.segSerial++
	k := fourTuple{
		local:  netip.AddrPortFrom(seg.DstAddr(), seg.TCP.DstPort()),
		remote: netip.AddrPortFrom(seg.SrcAddr(), seg.TCP.SrcPort()),
	}
	if sf, ok := ep.subflows[k]; ok {
		c := sf.c
		c.now = now
		if seg.TCP.Flags()&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) != wire.FlagSYN || !ep.listen[k.local.Port()] ||
			!sf.tcp.AcceptsNewIncarnation(seg) || !seg.ChecksumOK(seg.PayloadSum()) {
			sf.tcp.Handle(now, seg)
			ep.markDirty(c)
			return
		}
		// A new connection on a 4-tuple in TIME-WAIT (RFC 6191): the old
		// incarnation ends, the SYN goes to the listener.
		sf.tcp.ReuseTimeWait(now, 0)
		ep.markDirty(c)
		ep.Stats.TimeWaitReused++
	}
	if !seg.ChecksumOK(seg.PayloadSum()) {
		ep.Stats.BadChecksum++
		return
	}
	if !ep.isLocal(k.local.Addr()) {
		ep.Stats.NotLocal++ // not ours to answer, not even with a RST
		return
	}
	if seg.TCP.Flags()&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) == wire.FlagSYN {
		ep.synReceived(now, seg, k)
		return
	}
	if r := ep.requests[k]; r != nil {
		ep.requestSegment(now, seg, r)
		return
	}
	ep.Stats.NoConnection++
	ep.reply(seg, 0, false)
}

// reply queues a RST answering seg, with MP_TCPRST(reason) if asked.
func (ep *Endpoint) reply(seg *wire.Segment, reason uint8, mptcpRST bool) {
	var buf []byte
	if n := len(ep.rstFree); n > 0 {
		buf, ep.rstFree = ep.rstFree[n-1][:cap(ep.rstFree[n-1])], ep.rstFree[:n-1]
	} else {
		buf = make([]byte, tcp.MaxHeaderLen)
	}
	var opts *wire.Options
	if mptcpRST {
		opts = &wire.Options{Has: wire.OptTCPRST, TCPRST: wire.TCPRST{Reason: reason}}
	}
	if n := tcp.WriteReset(buf, seg, opts); n > 0 {
		ep.rst = append(ep.rst, buf[:n])
		ep.Stats.ResetsSent++
	}
}

// PollTransmit writes the next packet to send into buf (which must hold
// tcp.MaxHeaderLen plus the MSS) and returns its length; 0 means nothing
// to send now.
func (ep *Endpoint) PollTransmit(now time.Duration, buf []byte) int {
	if n := len(ep.rst); n > 0 {
		p := ep.rst[0]
		copy(ep.rst, ep.rst[1:])
		ep.rst = ep.rst[:n-1]
		ep.rstFree = append(ep.rstFree, p)
		return copy(buf, p)
	}
	for len(ep.synAcks) > 0 {
		r := ep.synAcks[0]
		ep.synAcks[0] = nil
		ep.synAcks = ep.synAcks[1:]
		if len(ep.synAcks) == 0 {
			ep.synAcks = ep.synAcks[:0:cap(ep.synAcks)]
		}
		r.queued = false
		if !r.gone {
			if n := ep.writeSynAck(now, r, buf); n > 0 {
				return n
			}
		}
	}
	for len(ep.dirty) > 0 {
		c := ep.dirty[len(ep.dirty)-1]
		if n := c.pollTransmit(now, buf); n > 0 {
			return n
		}
		ep.dirty = ep.dirty[:len(ep.dirty)-1]
		c.dirty = false
		ep.updateTimer(c)
		ep.releaseRings(c)
		ep.reap(c)
	}
	return 0
}

// updateTimer files the connection's next deadline in the timer heap.
func (ep *Endpoint) updateTimer(c *Conn) {
	t, ok := c.nextTimeout()
	if !ok {
		c.timerGen++ // cancels any queued entry
		c.timerAt = 0
		return
	}
	if c.timerAt == t && c.timerGen != 0 {
		return
	}
	c.timerGen++
	c.timerAt = t
	ep.timers.push(timerEntry{at: t, c: c, gen: c.timerGen})
}

// reap forgets a connection once it and all its subflows are closed.
func (ep *Endpoint) reap(c *Conn) {
	if !c.closed {
		return
	}
	for _, sf := range c.subflows {
		if sf.tcp.State() != tcp.Closed {
			return
		}
	}
	if c.localToken != 0 && ep.tokens[c.localToken] == c {
		delete(ep.tokens, c.localToken)
	}
	for _, sf := range c.subflows {
		ep.removeSubflow(sf)
	}
	if i := c.connIndex; i >= 0 && i < len(ep.conns) && ep.conns[i] == c {
		last := ep.conns[len(ep.conns)-1]
		ep.conns[i], last.connIndex = last, i
		ep.conns[len(ep.conns)-1] = nil
		ep.conns = ep.conns[:len(ep.conns)-1]
		c.connIndex = -1
	}
}

// NextTimeout returns when HandleTimeout is next due.
func (ep *Endpoint) NextTimeout() (time.Duration, bool) {
	at, ok := ep.reqTimers.next()
	for ep.timers.len() > 0 {
		e := ep.timers.peek()
		if e.gen == e.c.timerGen {
			if !ok || e.at < at {
				at, ok = e.at, true
			}
			break
		}
		ep.timers.pop()
	}
	return at, ok
}

// HandleTimeout runs every timer due at now.
func (ep *Endpoint) HandleTimeout(now time.Duration) {
	ep.requestTimeouts(now)
	for ep.timers.len() > 0 {
		e := ep.timers.peek()
		if e.gen != e.c.timerGen {
			ep.timers.pop()
			continue
		}
		if e.at > now {
			return
		}
		c := ep.timers.pop().c
		c.timerGen++
		c.timerAt = 0
		c.handleTimeout(now)
		ep.markDirty(c)
	}
}

// timerEntry is a connection's deadline in the heap; stale entries (an
// older gen) are skipped.
type timerEntry struct {
	at  time.Duration
	c   *Conn
	gen uint64
}

// timerHeap is a binary min-heap of deadlines: O(log n) per change, so the
// cost per connection stays flat as the number of connections grows.
type timerHeap struct{ h []timerEntry }

func (t *timerHeap) len() int          { return len(t.h) }
func (t *timerHeap) peek() *timerEntry { return &t.h[0] }

func (t *timerHeap) push(e timerEntry) {
	t.h = append(t.h, e)
	i := len(t.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if t.h[p].at <= t.h[i].at {
			break
		}
		t.h[p], t.h[i] = t.h[i], t.h[p]
		i = p
	}
}

func (t *timerHeap) pop() timerEntry {
	top := t.h[0]
	last := len(t.h) - 1
	t.h[0] = t.h[last]
	t.h[last] = timerEntry{}
	t.h = t.h[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && t.h[l].at < t.h[m].at {
			m = l
		}
		if r < last && t.h[r].at < t.h[m].at {
			m = r
		}
		if m == i {
			return top
		}
		t.h[i], t.h[m] = t.h[m], t.h[i]
		i = m
	}
}

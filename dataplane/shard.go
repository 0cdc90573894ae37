package dataplane

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/link"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
)

// Config configures a Shard.
type Config struct {
	// Link is the network. The shard owns it from New on and closes it.
	Link link.Link
	// Engine configures the endpoint. Defaults: LocalAddrs are the Link's
	// addresses, TCP.MSS is the Link's MTU less the IP and TCP headers, and
	// Rand is a ChaCha8 generator seeded from crypto/rand.
	Engine mptcp.Config
	// BusyPoll makes the shard spin on Link.Wait(0) instead of sleeping
	// when it has nothing to do: lower latency, one busy core.
	BusyPoll bool
	// Batch is the most packets per Receive and per Transmit; default 64.
	Batch int
	// LockOSThread locks the shard goroutine to its OS thread (for CPU
	// pinning). BusyPoll implies it. Off by default: waking a locked
	// goroutine costs an OS thread switch, 25–70 µs per hand-over against
	// 0.4–3 µs unlocked (BenchmarkHandOff, docs/api.md).
	LockOSThread bool
}

// SourceChooser is implemented by Links that know which local address
// reaches a destination (a route lookup, or the path of an in-memory
// pipe). Dial uses it when the caller gives no local address.
type SourceChooser interface {
	Source(dst netip.Addr) (netip.Addr, bool)
}

// ErrCanceled is returned by the blocking calls when their cancel channel
// closes (the caller's deadline passed).
var ErrCanceled = errors.New("dataplane: canceled")

// Stats counts what the shard did.
type Stats struct {
	Loops     uint64 // loop iterations
	Sleeps    uint64 // Link.Wait calls that could block
	RxPackets uint64
	RxBatches uint64 // Receive calls that returned packets
	TxPackets uint64
	TxBatches uint64 // Transmit calls with packets
	TxStalls  uint64 // times the Link had no transmit buffer for a ready packet
	Requests  uint64 // application requests served (read, write, close, ...)
	Calls     uint64 // control calls run (dial, listen, statistics, ...)
	Events    uint64 // engine events dispatched
	// AcceptOverflows counts connections reset because their listener's
	// backlog was full.
	AcceptOverflows uint64
	Conns           int // connections the shard tracks
	Link            link.Stats
	Endpoint        mptcp.EndpointStats
}

// Shard drives one Endpoint over one Link from its own goroutine.
type Shard struct {
	link   link.Link
	chains link.ChainReceiver // the Link's, if its packets may come in chains
	ep     *mptcp.Endpoint
	start  time.Time
	busy   bool // BusyPoll
	lock   bool // LockOSThread
	lo     uint16
	hi     uint16 // the engine's ephemeral port range

	// Owned by the shard goroutine.
	rx        [][]byte
	tx        [][]byte
	lens      []int
	park      []byte // a packet the Link had no buffer for
	parkLen   int
	conns     map[*mptcp.Conn]*Conn
	listeners map[uint16]*Listener
	stats     Stats
	batch     []*Conn
	batchFns  []func()
	down      bool // shutting down
	handed    bool // this step ended an application's wait (Read, Write, Dial, Accept)

	// Shared with application goroutines, guarded by mu.
	mu       sync.Mutex
	pending  []*Conn  // connections with requests
	calls    []func() // control calls
	stopping bool     // Close was called
	stopped  bool     // the loop has ended: no more requests
	lastStat Stats    // statistics when the loop ended

	sleeping atomic.Bool // the shard may be blocked in Link.Wait
	done     chan struct{}
	loopErr  error // why the loop ended on its own (a broken Link)
}

// New builds a shard over cfg.Link and starts its goroutine. On error the
// Link is left to the caller.
func New(cfg Config) (*Shard, error) {
	s, err := newShard(cfg)
	if err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

// newShard builds a shard without starting its goroutine (tests step it).
func newShard(cfg Config) (*Shard, error) {
	if cfg.Link == nil {
		return nil, errors.New("dataplane: Config.Link is nil")
	}
	l := cfg.Link
	ec := cfg.Engine
	if len(ec.LocalAddrs) == 0 {
		ec.LocalAddrs = l.Addrs()
	}
	if len(ec.LocalAddrs) == 0 {
		return nil, errors.New("dataplane: the Link has no addresses and Config.Engine.LocalAddrs is empty")
	}
	if ec.TCP.MSS == 0 {
		hdr := 40
		for _, a := range ec.LocalAddrs {
			if !a.Unmap().Is4() {
				hdr = 60
			}
		}
		ec.TCP.MSS = l.MTU() - hdr
		if ec.TCP.MSS < 536 {
			return nil, fmt.Errorf("dataplane: the Link's MTU %d leaves an MSS of %d, below 536", l.MTU(), ec.TCP.MSS)
		}
	}
	start := time.Now()
	if ec.Rand == nil && ec.ClockSecret == ([16]byte{}) {
		// Production: one ISN and timestamp sequence per 4-tuple across
		// this host's processes (clock.go). A seeded Rand means a
		// reproducible run: keep the engine's own secret then.
		if secret, err := hostClockSecret(); err == nil {
			ec.ClockSecret, ec.ClockBase = secret, sinceBoot()
		}
	}
	if ec.Rand == nil {
		var seed [32]byte
		if _, err := crand.Read(seed[:]); err != nil {
			return nil, fmt.Errorf("dataplane: seeding the engine's random source: %w", err)
		}
		ec.Rand = rand.NewChaCha8(seed)
	}
	ep, err := mptcp.NewEndpoint(ec)
	if err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	ec = ep.Config()
	batch := cfg.Batch
	if batch <= 0 {
		batch = 64
	}
	s := &Shard{
		link: l, ep: ep, start: start, busy: cfg.BusyPoll, lock: cfg.LockOSThread || cfg.BusyPoll,
		lo: ec.EphemeralPorts[0], hi: ec.EphemeralPorts[1],
		rx: make([][]byte, batch), tx: make([][]byte, batch), lens: make([]int, 0, batch),
		conns: map[*mptcp.Conn]*Conn{}, listeners: map[uint16]*Listener{},
		done: make(chan struct{}),
	}
	s.chains, _ = l.(link.ChainReceiver)
	need := tcp.MaxHeaderLen + ec.TCP.MSS
	s.park = make([]byte, need)
	if k := l.Reserve(s.tx[:1]); k == 1 {
		got := len(s.tx[0])
		s.tx[0] = nil
		l.Transmit(nil)
		if got < need {
			return nil, fmt.Errorf("dataplane: the Link's transmit buffers hold %d bytes; the engine needs %d (tcp.MaxHeaderLen + MSS %d)", got, need, ec.TCP.MSS)
		}
	}
	if po, ok := l.(link.PortOwner); ok {
		for p := uint32(s.lo); p <= uint32(s.hi); p++ {
			if err := po.ClaimPort(uint16(p)); err != nil {
				return nil, fmt.Errorf("dataplane: claiming ephemeral port %d: %w", p, err)
			}
		}
	}
	return s, nil
}

// Endpoint configuration with defaults applied.
func (s *Shard) EngineConfig() mptcp.Config { return s.ep.Config() }

// Link returns the shard's link. Only its Wake, Addrs and MTU may be
// called from outside the shard.
func (s *Shard) Link() link.Link { return s.link }

func (s *Shard) now() time.Duration { return time.Since(s.start) }

func (s *Shard) run() {
	if s.lock {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	defer close(s.done)
	for {
		more, stalled := s.step()
		s.mu.Lock()
		stop := s.stopping
		s.mu.Unlock()
		if stop {
			s.shutdown()
			return
		}
		if more {
			continue
		}
		if err := s.sleep(stalled); err != nil {
			s.loopErr = err
			s.mu.Lock()
			s.stopping = true
			s.mu.Unlock()
			s.shutdown()
			return
		}
	}
}

// stallWait is how long the shard sleeps when the Link has no transmit
// buffer (Link.Wait does not report transmit space).
const stallWait = 50 * time.Microsecond

// sleep waits in Link.Wait until a packet, a wake-up or the next timer.
func (s *Shard) sleep(stalled bool) error {
	timeout := time.Duration(-1)
	if t, ok := s.ep.NextTimeout(); ok {
		timeout = max(t-s.now(), 0)
	}
	if stalled && (timeout < 0 || timeout > stallWait) {
		// The Link had no transmit buffer: look again soon.
		timeout = stallWait
	}
	if s.busy {
		timeout = 0
	}
	if timeout != 0 {
		s.sleeping.Store(true)
		s.mu.Lock()
		work := len(s.pending) > 0 || len(s.calls) > 0 || s.stopping
		s.mu.Unlock()
		if work {
			s.sleeping.Store(false)
			return nil
		}
		s.stats.Sleeps++
	}
	err := s.link.Wait(timeout)
	s.sleeping.Store(false)
	return err
}

// kick wakes the shard if it may be sleeping. Callers have queued their
// request under s.mu first: either the shard sees it before it sleeps,
// or it has set sleeping and this call wakes it.
func (s *Shard) kick() {
	if s.sleeping.Load() && s.sleeping.Swap(false) {
		s.link.Wake()
	}
}

// rest returns the buffers after the first of received packet i, if it
// came in a chain.
func (s *Shard) rest(i int) [][]byte {
	if s.chains == nil {
		return nil
	}
	return s.chains.Rest(i)
}

// step runs one iteration of the loop. more: the Link may hold more
// received packets; stalled: a packet waits for a transmit buffer.
func (s *Shard) step() (more, stalled bool) {
	s.stats.Loops++
	now := s.now()
	n := s.link.Receive(s.rx)
	for i := 0; i < n; i++ {
		if rest := s.rest(i); rest != nil {
			s.ep.HandleSegmentChain(now, s.rx[i], rest)
		} else {
			s.ep.HandleSegment(now, s.rx[i])
		}
		s.rx[i] = nil
	}
	if n > 0 {
		s.stats.RxPackets += uint64(n)
		s.stats.RxBatches++
	}
	if t, ok := s.ep.NextTimeout(); ok && t <= now {
		s.ep.HandleTimeout(now)
	}
	s.serve()
	for i := 0; i < 8; i++ {
		ev := s.events()
		if s.handed {
			s.handOver()
		}
		sent, st := s.flush(now)
		stalled = st
		if ev == 0 && sent == 0 || stalled {
			break
		}
	}
	return n == len(s.rx), stalled
}

// handOver lets the application goroutines this step woke run before the
// step transmits, and serves what they asked for. A goroutine woken from a
// channel waits on this P's run queue; yielding runs it here at once
// instead of on another thread woken for it (tens of µs), and its answer
// (a response Write) leaves with this batch, carrying the ACK that would
// otherwise go alone; an AF_XDP shard no longer sleeps in ppoll(2) until
// the application's eventfd kick in between (mpbench --rr, docs/mpbench.md
// Known issues). A shard locked to its thread does not yield: its thread
// would have to be handed over (Config.LockOSThread).
func (s *Shard) handOver() {
	s.handed = false
	if s.lock {
		return
	}
	runtime.Gosched()
	s.serve()
}

// serve runs the control calls and the connections' requests posted since
// the last step.
func (s *Shard) serve() {
	s.mu.Lock()
	s.batch, s.pending = s.pending, s.batch[:0]
	s.batchFns, s.calls = s.calls, s.batchFns[:0]
	for _, c := range s.batch {
		c.queued = false
	}
	s.mu.Unlock()
	for i, f := range s.batchFns {
		f()
		s.batchFns[i] = nil
		s.stats.Calls++
	}
	for i, c := range s.batch {
		c.serve()
		s.batch[i] = nil
		s.stats.Requests++
	}
}

// events dispatches the engine's events and returns how many there were.
func (s *Shard) events() int {
	n := 0
	for {
		ev, ok := s.ep.PollEvent()
		if !ok {
			return n
		}
		n++
		s.stats.Events++
		if ev.Kind == mptcp.EventAccepted {
			s.accepted(ev.Conn)
			continue
		}
		c := s.conns[ev.Conn]
		if c == nil {
			continue
		}
		switch ev.Kind {
		case mptcp.EventEstablished:
			c.established()
		case mptcp.EventReadable, mptcp.EventWritable:
			c.serve()
		case mptcp.EventFallback:
			c.mu.Lock()
			c.fallback, _ = ev.Err.(*mptcp.FallbackError)
			c.mu.Unlock()
		case mptcp.EventClosed:
			delete(s.conns, ev.Conn)
			c.engineClosed(ev.Err)
		}
	}
}

// flush sends what the engine has to send, one Transmit per batch.
func (s *Shard) flush(now time.Duration) (sent int, stalled bool) {
	for {
		k := s.link.Reserve(s.tx)
		if k == 0 {
			if s.parkLen == 0 {
				s.parkLen = s.ep.PollTransmit(now, s.park)
			}
			if s.parkLen > 0 {
				s.stats.TxStalls++
				return sent, true
			}
			return sent, false
		}
		lens := s.lens[:0]
		i := 0
		if s.parkLen > 0 {
			lens = append(lens, copy(s.tx[0], s.park[:s.parkLen]))
			s.parkLen = 0
			i = 1
		}
		drained := false
		for ; i < k; i++ {
			m := s.ep.PollTransmit(now, s.tx[i])
			if m == 0 {
				drained = true
				break
			}
			lens = append(lens, m)
		}
		clear(s.tx[:k])
		s.link.Transmit(lens)
		if len(lens) > 0 {
			s.stats.TxPackets += uint64(len(lens))
			s.stats.TxBatches++
			sent += len(lens)
		}
		if drained {
			return sent, false
		}
	}
}

// call runs f on the shard goroutine and waits for it. It returns
// net.ErrClosed if the shard has stopped.
func (s *Shard) call(f func()) error {
	done := make(chan struct{})
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.calls = append(s.calls, func() { f(); close(done) })
	s.mu.Unlock()
	s.kick()
	<-done
	return nil
}

// post queues c for serving; false if the shard has stopped.
func (s *Shard) post(c *Conn) bool {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return false
	}
	if !c.queued {
		c.queued = true
		s.pending = append(s.pending, c)
	}
	s.mu.Unlock()
	s.kick()
	return true
}

// Do runs f on the shard goroutine with the Endpoint, for tools and tests
// that need the engine itself (path management, counters). f must not
// block.
func (s *Shard) Do(f func(ep *mptcp.Endpoint)) error {
	return s.call(func() { f(s.ep) })
}

// Stats returns the shard's counters (the last ones after Close).
func (s *Shard) Stats() Stats {
	var st Stats
	if err := s.call(func() { st = s.snapshot() }); err != nil {
		s.mu.Lock()
		st = s.lastStat
		s.mu.Unlock()
	}
	return st
}

func (s *Shard) snapshot() Stats {
	st := s.stats
	st.Conns = len(s.conns)
	st.Link = s.link.Stats()
	st.Endpoint = s.ep.Stats
	return st
}

// Close stops the shard: every connection is aborted (RSTs go out),
// blocked calls return net.ErrClosed, listeners close, and the Link is
// closed. It waits for the shard goroutine to end and returns the Link's
// error, or the error that stopped the loop.
func (s *Shard) Close() error {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.link.Wake()
	<-s.done
	return s.loopErr
}

// Done is closed when the shard goroutine has ended.
func (s *Shard) Done() <-chan struct{} { return s.done }

// shutdown tears everything down on the shard goroutine.
func (s *Shard) shutdown() {
	now := s.now()
	s.down = true
	for _, l := range s.listeners {
		l.shutClose()
	}
	for ec := range s.conns {
		ec.Abort()
	}
	s.events()
	s.flush(now)
	// Refuse new requests, then serve what was queued: calls run against
	// the stopped endpoint, requests complete with errors.
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.serve()
	s.events()
	for _, c := range s.conns {
		c.engineClosed(net.ErrClosed)
	}
	clear(s.conns)
	st := s.snapshot()
	if err := s.link.Close(); err != nil && s.loopErr == nil {
		s.loopErr = err
	}
	s.mu.Lock()
	s.lastStat = st
	s.mu.Unlock()
}

// source picks the local address for a connection to dst.
func (s *Shard) source(dst netip.Addr) netip.Addr {
	if sc, ok := s.link.(SourceChooser); ok {
		if a, ok := sc.Source(dst); ok {
			return a
		}
	}
	for _, a := range s.ep.Config().LocalAddrs {
		if a.Is4() == dst.Is4() {
			return a
		}
	}
	return s.ep.Config().LocalAddrs[0]
}

// Dial opens a connection from local (an invalid address: the Link's
// choice; port 0: an ephemeral port) to remote and waits until the
// handshake completes, fails (mptcp.ErrRefused, mptcp.ErrTimeout, a
// *mptcp.ResetError), or ctx ends.
func (s *Shard) Dial(ctx context.Context, local, remote netip.AddrPort) (*Conn, error) {
	if !remote.Addr().IsValid() || remote.Port() == 0 {
		return nil, fmt.Errorf("dataplane: cannot dial %v", remote)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := newConn(s)
	c.dialDone = make(chan error, 1)
	var derr error
	err := s.call(func() {
		la := local.Addr()
		if !la.IsValid() || la.IsUnspecified() {
			la = s.source(remote.Addr())
		}
		ec, err := s.ep.Dial(s.now(), netip.AddrPortFrom(la, local.Port()), remote)
		if err != nil {
			derr = err
			return
		}
		c.ec = ec
		c.dialing = true
		if sf := ec.Subflows(); len(sf) > 0 {
			c.local, c.remote = sf[0].Local, sf[0].Remote
		}
		s.conns[ec] = c
	})
	if err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	select {
	case err := <-c.dialDone:
		if err != nil {
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		c.Abort()
		return nil, ctx.Err()
	}
}

// Listen accepts connections to port on every local address; port 0
// picks a free one from the engine's ephemeral range. backlog bounds the
// established connections waiting for Accept (default 128); beyond it new
// connections are reset.
func (s *Shard) Listen(port uint16, backlog int) (*Listener, error) {
	if backlog <= 0 {
		backlog = 128
	}
	l := &Listener{s: s, q: make(chan *Conn, backlog), closed: make(chan struct{})}
	var lerr error
	err := s.call(func() {
		if port == 0 {
			port = s.freePort()
			if port == 0 {
				lerr = syscall.EADDRINUSE
				return
			}
		}
		if s.listeners[port] != nil {
			lerr = syscall.EADDRINUSE
			return
		}
		if po, ok := s.link.(link.PortOwner); ok && !s.ephemeral(port) {
			if err := po.ClaimPort(port); err != nil {
				lerr = err
				return
			}
		}
		l.port = port
		s.listeners[port] = l
		s.ep.Listen(port)
	})
	if err != nil {
		return nil, err
	}
	if lerr != nil {
		return nil, lerr
	}
	return l, nil
}

func (s *Shard) ephemeral(p uint16) bool { return p >= s.lo && p <= s.hi }

// freePort returns a port of the ephemeral range without a listener.
func (s *Shard) freePort() uint16 {
	n := uint32(s.hi) - uint32(s.lo) + 1
	off := uint32(s.ep.Config().Rand.Uint64() % uint64(n))
	for i := uint32(0); i < n; i++ {
		p := uint16(uint32(s.lo) + (off+i)%n)
		if s.listeners[p] == nil {
			return p
		}
	}
	return 0
}

// accepted registers a connection a listener accepted; it reaches the
// accept queue once established (EventEstablished follows EventAccepted).
func (s *Shard) accepted(ec *mptcp.Conn) {
	sf := ec.Subflows()
	if len(sf) == 0 {
		ec.Abort()
		return
	}
	l := s.listeners[sf[0].Local.Port()]
	if l == nil {
		ec.Abort()
		return
	}
	c := newConn(s)
	c.ec = ec
	c.ln = l
	c.local, c.remote = sf[0].Local, sf[0].Remote
	s.conns[ec] = c
	if ec.Established() {
		c.established() // the engine may report the accept with the third ACK
	}
}

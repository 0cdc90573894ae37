package mptcp

import (
	"fmt"
	"io"

	"github.com/mpxdp/mpxdp/cksum"
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/cc"
	"github.com/mpxdp/mpxdp/mptcp/pm"
	"github.com/mpxdp/mpxdp/mptcp/sched"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// linearMap maps subflow offsets to data sequence numbers one to one: the
// whole stream of a plain TCP connection, or what follows an infinite
// mapping after a fallback (RFC 8684 §3.7).
type linearMap struct{ off, dsn uint64 }

// ConnStats counts what happened on a connection.
type ConnStats struct {
	BytesSent, BytesReceived uint64 // application bytes
	BytesInPlace             uint64 // of BytesReceived, copied straight into a buffer the reader lent (LendReadBuffer)
	Reinjected               uint64 // bytes resent on another subflow
	DuplicateData            uint64 // bytes received that the connection already held
	RcvPruned                uint64 // out-of-order bytes dropped, the queue out of nodes; the peer resends them at the data level
	MappingMismatch          uint64
	UnmappedBytes            uint64
	ChecksumFailures         uint64
	DataWithoutDSS           uint64
	JoinHMACFailures         uint64
	JoinsRejected            uint64
	AddAddrBadHMAC           uint64
	MPFailSent, MPFailRecv   uint64
	InfiniteMappings         uint64
	StaleSubflows            uint64
	SubflowsOpened           uint64
	SubflowsClosed           uint64
}

// Conn is one MPTCP connection: a reliable byte stream over one or more
// subflows. Its methods are non-blocking and must be called from the
// goroutine that drives the Endpoint.
type Conn struct {
	ep     *Endpoint
	client bool
	// plainTCP: MPTCP was never negotiated; fallback: it was, then fell
	// back to TCP (RFC 8684 §3.7). Both run one subflow as plain TCP.
	plainTCP    bool
	fallback    bool
	fallbackErr *FallbackError

	localKey, remoteKey     uint64
	localAddr, remoteAddr   netip.AddrPort // of the initial subflow
	connIndex               int            // in the endpoint's conns, for O(1) removal
	localToken, remoteToken uint32
	localIDSN, remoteIDSN   uint64
	csum                    bool
	denyJoinInitial         bool
	mpcAckSent              bool
	mpcDropped              bool // Dial's SYN was resent without MP_CAPABLE (blackhole.go)
	portChosen              bool // Dial picked the initial subflow's port (blackhole.go)
	portMoved               bool // the initial SYN was resent from a new port (blackhole.go)
	fullyEstablished        bool
	established             bool
	everJoined              bool // a subflow was ever added: no infinite-mapping fallback any more

	snd    sendBuffer
	una    uint64 // the DATA_ACK: oldest DSN the peer has not acknowledged
	sndNxt uint64 // next DSN to hand to a subflow
	sndMax uint64 // highest DSN handed out
	wndEnd uint64 // peer's window right edge (INTEROP B.10); only grows
	// peerDataAcked: a DATA_ACK arrived. Before it Linux takes only
	// in-order data (its window opens with the first DSS ack it sends), so
	// one subflow, solo, carries all data (INTEROP B.10).
	peerDataAcked bool
	solo          *subflow

	rcv   recvBuffer
	sndFB linearMap
	rcvFB linearMap
	// rcvLinear: rcvFB is known (the peer's data is linear); until the
	// peer's infinite mapping arrives after a mid-stream fallback, its
	// data still follows its mappings.
	rcvLinear        bool
	announceInfinite bool // send infinite mappings until the linear part is acked

	// Closing (RFC 8684 §3.3.3, INTEROP B.7).
	writeClosed  bool   // the application will write no more
	finDSN       uint64 // our DATA_FIN's DSN
	dataFINSent  bool
	dataFINAcked bool
	finRetries   int
	peerFIN      bool // the peer's DATA_FIN is known
	peerFINDSN   uint64
	peerFINDone  bool // ... and everything before it arrived
	subflowsShut bool // TCP FINs sent on every subflow
	// activeCloser: our DATA_FIN was acknowledged before the peer's
	// arrived, so we close the subflows first and take the TIME-WAITs;
	// the passive side answers the subflow FINs (INTEROP B.7, RFC 8041
	// §3.6).
	activeCloser      bool
	pmToldEstablished bool
	shutAt            time.Duration
	fastClosing       bool
	fastCloseFromPeer bool
	mpFailOutstanding bool // we sent MP_FAIL and wait for the peer's answer
	closed            bool
	closeErr          error
	appClosed         bool

	subflows  []*subflow
	nextSubID int
	sched     sched.Scheduler
	ccGroup   cc.Group
	pm        pm.Manager
	reinject  []span

	// Timers.
	now          time.Duration
	lastActivity time.Duration
	rtxAt        time.Duration // MPTCP-level retransmission (DATA_FIN)
	emptySince   time.Duration // when the last subflow closed (make-after-break)
	dirty        bool
	timerAt      time.Duration
	timerGen     uint64

	// Addresses (RFC 8684 §3.4).
	remoteAddrs []pm.RemoteAddr
	announce    []announcement

	// Notifications to the application, reported once each until reset.
	notedReadable, notedWritable bool

	schedSubs []sched.Subflow
	schedPick []int
	replicate bool // the scheduler is a sched.Replicator
	pmState   pm.State
	pmActions []pm.Action

	Stats ConnStats
}

// announcement is an ADD_ADDR we send and retransmit until echoed.
type announcement struct {
	a      wire.AddAddr
	sent   int
	nextAt time.Duration // when the next retransmission is due
	pokeAt time.Duration // when to ask a subflow again for the ACK that carries it
	echoed bool
	onSF   *subflow
}

func newConn(ep *Endpoint, client bool) *Conn {
	c := &Conn{ep: ep, client: client}
	c.snd = newSendBuffer(ep.cfg.SendBuffer)
	c.rcv = newRecvBuffer(ep.cfg.RecvBuffer)
	c.rcv.gaps, c.rcv.serial = &ep.rxGaps, &ep.segSerial
	c.snd.cache, c.rcv.cache = &ep.rings, &ep.rings
	// The names were checked by NewEndpoint (Config.withDefaults).
	c.sched, _ = sched.New(ep.cfg.Scheduler)
	_, c.replicate = c.sched.(sched.Replicator)
	alg, _ := cc.Lookup(ep.cfg.CC)
	c.ccGroup = alg.NewGroup()
	c.pm, _ = pm.New(ep.cfg.PathManager, ep.cfg.Subflows)
	return c
}

// ofoCapacity sizes the out-of-order queue: one node per 512 bytes of
// receive buffer, within bounds.
func (c *Conn) ofoCapacity() int { return min(max(c.rcv.size/512, 64), 1<<16) }

// mpcFlags returns the MP_CAPABLE flags we send: H always, A when we want
// checksums (or, on the third ACK and first data, when they were
// negotiated: INTEROP B.3), C when the peer must not join our initial
// address.
func (c *Conn) mpcFlags(afterSYN bool) uint8 { return mpcFlags(&c.ep.cfg, afterSYN && c.csum) }

// mpcFlags are the MP_CAPABLE flags: HMAC-SHA256, A when we want checksums
// (or, after the SYN, when they were negotiated), C when peers must not
// join our initial address.
func mpcFlags(cfg *Config, csum bool) uint8 {
	f := uint8(wire.MPCHMACSHA256)
	if cfg.Checksum || csum {
		f |= wire.MPCChecksumRequired
	}
	if cfg.DenyJoinInitial {
		f |= wire.MPCDenyJoinID0
	}
	return f
}

// --- Application interface -------------------------------------------------

// Write copies as much of p as the send buffer holds and returns the
// count; 0 with a nil error means the buffer is full (wait for
// EventWritable). After CloseWrite or a reset it returns an error.
func (c *Conn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, c.err()
	}
	if c.writeClosed {
		return 0, ErrClosed
	}
	n := c.snd.write(p)
	c.Stats.BytesSent += uint64(n)
	if n < len(p) {
		c.notedWritable = false
	}
	if n > 0 {
		c.wake()
	}
	return n, nil
}

// Read copies in-order received bytes into p. It returns 0, nil when
// nothing is buffered yet (wait for EventReadable), io.EOF once the peer's
// DATA_FIN (or FIN, for plain TCP) has been reached, and the connection's
// error after a reset.
func (c *Conn) Read(p []byte) (int, error) {
	if c.rcv.tgt != nil {
		return 0, ErrReadBufferLent
	}
	if c.rcv.started {
		if n := c.rcv.readInto(p); n > 0 {
			c.Stats.BytesReceived += uint64(n)
			c.windowOpened()
			if c.rcv.buffered() == 0 {
				for _, sf := range c.subflows {
					if !sf.closed {
						sf.tcp.Consumed(true)
					}
				}
			}
			return n, nil
		}
	}
	c.notedReadable = false
	if c.peerFINDone {
		return 0, io.EOF
	}
	if c.closed {
		return 0, c.err()
	}
	return 0, nil
}

// LendReadBuffer lends p to the connection for the next in-order bytes,
// which are then copied from the frame straight into p (with the checksum,
// as into the receive buffer) instead of into the receive buffer and from
// there by Read: a reader that waits for data gets it with one copy. It
// reports whether the loan was taken: only when nothing is buffered or
// queued out of order, and not with DSS checksums (a mapping's bytes must
// stay in the receive buffer until its checksum verifies). While p is
// lent, Read must not be called and p must not be touched; an
// EventReadable says bytes arrived. ReturnReadBuffer ends the loan.
func (c *Conn) LendReadBuffer(p []byte) bool {
	if c.csum || c.closed || c.peerFINDone {
		return false
	}
	return c.rcv.lend(p)
}

// ReturnReadBuffer ends the loan of LendReadBuffer and returns how many
// bytes at the start of the lent buffer hold data, which count as read.
// Without a loan it returns 0.
func (c *Conn) ReturnReadBuffer() int {
	n := c.rcv.take()
	if n > 0 {
		c.Stats.BytesReceived += uint64(n)
		c.Stats.BytesInPlace += uint64(n)
		c.windowOpened()
	}
	if c.rcv.started && c.rcv.buffered() == 0 {
		c.notedReadable = false
		if n > 0 {
			for _, sf := range c.subflows {
				if !sf.closed {
					sf.tcp.Consumed(true)
				}
			}
		}
	}
	return n
}

// Buffered returns the bytes ready to Read.
func (c *Conn) Buffered() int {
	if !c.rcv.started {
		return 0
	}
	return c.rcv.buffered()
}

// WriteSpace returns how many bytes Write would take now.
func (c *Conn) WriteSpace() int { return c.snd.space() }

// CloseWrite sends a DATA_FIN after the data written so far (for a plain
// TCP connection, a FIN).
func (c *Conn) CloseWrite() {
	if c.writeClosed || c.closed {
		return
	}
	c.writeClosed = true
	c.finDSN = c.snd.end
	c.wake()
}

// Close closes the connection. Unread received data makes it an abortive
// close with MP_FASTCLOSE, as Linux does (INTEROP B.8); otherwise the
// DATA_FIN exchange runs to completion in the background.
func (c *Conn) Close() {
	if c.closed {
		return
	}
	c.appClosed = true
	if c.Buffered() > 0 {
		c.Abort()
		return
	}
	c.CloseWrite()
}

// Abort resets the connection at once: RSTs with MP_FASTCLOSE on every
// subflow (RFC 8684 §3.5), or a plain RST.
func (c *Conn) Abort() {
	if c.closed {
		return
	}
	c.fastClosing = true
	for _, sf := range c.subflows {
		if !sf.closed {
			sf.tcp.Abort(c.now)
		}
	}
	c.finish(c.now, ErrClosed)
}

// Established reports whether the initial handshake completed.
func (c *Conn) Established() bool { return c.established }

// MPTCP reports whether the connection speaks MPTCP (not plain TCP or
// fallen back).
func (c *Conn) MPTCP() bool { return !c.plainTCP && !c.fallback }

// Fallback returns why the connection fell back to TCP, or nil.
func (c *Conn) Fallback() *FallbackError { return c.fallbackErr }

// Checksums reports whether DSS checksums are in use.
func (c *Conn) Checksums() bool { return c.csum }

// Closed reports whether the connection is closed, and its error (nil for
// an orderly close).
func (c *Conn) Closed() (bool, error) { return c.closed, c.closeErr }

// Done reports whether both directions finished in order: our DATA_FIN
// was acknowledged and the peer's was received.
func (c *Conn) Done() bool { return c.dataFINAcked && c.peerFINDone }

// LocalIDSN returns our initial data sequence number (the first data byte
// is LocalIDSN()+1).
func (c *Conn) LocalIDSN() uint64 { return c.localIDSN }

// LocalAddr returns the local address and port of the initial subflow,
// which names the connection (as net.Conn.LocalAddr does).
func (c *Conn) LocalAddr() netip.AddrPort { return c.localAddr }

// RemoteAddr returns the peer's address and port of the initial subflow.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remoteAddr }

// LocalToken returns our token (RFC 8684 §3.2).
func (c *Conn) LocalToken() uint32 { return c.localToken }

// SubflowInfo describes one subflow for applications and tools.
type SubflowInfo struct {
	ID                 int
	Local, Remote      netip.AddrPort
	LocalID, RemoteID  uint8
	Backup, PeerBackup bool
	Initial, Join      bool
	State              tcp.State
	Usable             bool
	SRTT, RTO          time.Duration
	Window, InFlight   int
	Stats              tcp.Stats
}

// Subflows describes the connection's subflows, closed ones included.
func (c *Conn) Subflows() []SubflowInfo {
	out := make([]SubflowInfo, 0, len(c.subflows))
	for _, sf := range c.subflows {
		out = append(out, SubflowInfo{
			ID: sf.id, Local: sf.local, Remote: sf.remote, LocalID: sf.localID, RemoteID: sf.remoteID,
			Backup: sf.backup, PeerBackup: sf.remoteBackup, Initial: sf.initial, Join: sf.join,
			State: sf.tcp.State(), Usable: c.usable(sf), SRTT: sf.tcp.SRTT(), RTO: sf.tcp.RTO(),
			Window: sf.tcp.Window(), InFlight: sf.tcp.InFlight(), Stats: sf.tcp.Stats,
		})
	}
	return out
}

func (c *Conn) err() error {
	if c.closeErr != nil {
		return c.closeErr
	}
	return ErrClosed
}

// wake marks the connection for polling.
func (c *Conn) wake() { c.ep.markDirty(c) }

// windowOpened lets every subflow announce the larger window.
func (c *Conn) windowOpened() {
	for _, sf := range c.subflows {
		if !sf.closed {
			sf.tcp.WindowOpened()
		}
	}
	c.wake()
}

// --- Subflows ------------------------------------------------------------

func (c *Conn) newSubflow(local, remote netip.AddrPort, initial bool) *subflow {
	sf := &subflow{c: c, id: c.nextSubID, local: local, remote: remote, initial: initial}
	if initial {
		c.localAddr, c.remoteAddr = local, remote
	}
	c.nextSubID++
	c.subflows = append(c.subflows, sf)
	c.Stats.SubflowsOpened++
	if !initial {
		c.everJoined = true
	}
	return sf
}

// tcpConfig is the subflow configuration: the endpoint's template, a
// controller from the connection's group, and the shared window.
func (c *Conn) tcpConfig(now time.Duration) tcp.Config {
	cfg := c.ep.cfg.TCP
	cfg.CC = c.ccGroup.NewController(now, max(cfg.MSS, 536))
	cfg.SharedWindow = !c.plainTCP
	cfg.Scratch = &c.ep.scratch
	return cfg
}

// usable reports whether the scheduler may give new data to sf.
func (c *Conn) usable(sf *subflow) bool {
	if sf.closed || !sf.established || sf.stale || sf.tcp.Closing() {
		return false
	}
	switch sf.tcp.State() {
	case tcp.Established, tcp.CloseWait:
	default:
		return false
	}
	if sf.join && sf.joiner && !sf.joinConfirmed {
		return false // no data before the 4th ACK (RFC 8684 §3.2)
	}
	return true
}

func (c *Conn) activeSubflows() int {
	n := 0
	for _, sf := range c.subflows {
		if !sf.closed {
			n++
		}
	}
	return n
}

// subflowEstablished: a subflow's TCP handshake completed.
func (c *Conn) subflowEstablished(now time.Duration, sf *subflow) {
	if sf.initial {
		c.established = true
		// Until the first DATA_ACK, the window the handshake announced
		// stands for the data-level window, for in-order data on one
		// subflow (soloPick; INTEROP B.10).
		if right := c.una + uint64(sf.tcp.PeerWindow()); right > c.wndEnd {
			c.wndEnd = right
		}
		if c.plainTCP || c.fallback {
			c.fullyEstablished = true
		}
		c.ep.emit(Event{Kind: EventEstablished, Conn: c})
	}
	if sf.initial && !c.client && c.fullyEstablished {
		c.becameFullyEstablished(now)
	}
	if !sf.initial && (!sf.joiner || sf.joinConfirmed) {
		c.subflowUsable(now, sf)
	}
	c.wake()
}

// subflowUsable: a joined subflow can carry data.
func (c *Conn) subflowUsable(now time.Duration, sf *subflow) {
	c.pmEvent(now, pm.Event{Kind: pm.SubflowOpened, SubflowID: sf.id, Addr: sf.remote})
	c.wake()
}

// becameFullyEstablished: joins may start (INTEROP B.5).
func (c *Conn) becameFullyEstablished(now time.Duration) {
	if c.plainTCP || c.fallback || c.pmToldEstablished {
		return // the path manager hears it once
	}
	c.pmToldEstablished = true
	c.pmEvent(now, pm.Event{Kind: pm.Established})
}

// subflowRTO: the subflow's retransmission timer fired. The mapping it is
// retransmitting, if the DATA_ACK does not cover it yet, is also sent on
// another subflow (ALGORITHMS §7.2, limited to the head: the rest stays
// with the subflow, which is recovering, and the MPTCP-level timer covers
// a subflow that does not).
func (c *Conn) subflowRTO(now time.Duration, sf *subflow) {
	if c.fallback || c.plainTCP || c.activeSubflows() < 2 || sf.mapCount == 0 {
		return
	}
	m := &sf.maps[sf.mapHead]
	if end := m.dsn + uint64(m.len); end > c.una {
		c.queueReinject(max(m.dsn, c.una), end)
		c.wake()
	}
}

// reinjectFrom queues for resending the DATA-unacknowledged ranges that
// sf carries.
func (c *Conn) reinjectFrom(sf *subflow) {
	sf.unackedMappings(func(m *sendMapping) {
		start, end := m.dsn, m.dsn+uint64(m.len)
		if end <= c.una {
			return
		}
		start = max(start, c.una)
		c.queueReinject(start, end)
	})
}

// queueReinject adds [start, end) to the reinjection queue, merging.
func (c *Conn) queueReinject(start, end uint64) {
	for i := range c.reinject {
		r := &c.reinject[i]
		if start <= r.end && r.start <= end {
			r.start, r.end = min(r.start, start), max(r.end, end)
			return
		}
	}
	c.reinject = append(c.reinject, span{start, end})
}

// subflowFIN: the peer closed a subflow's sending direction.
func (c *Conn) subflowFIN(now time.Duration, sf *subflow) {
	if c.plainTCP || c.fallback {
		// The TCP FIN is the end of the stream.
		if c.rcvLinear {
			c.peerDataFIN(c.rcvFB.dsn + (sf.tcp.ReceiveNext() - 1 - c.rcvFB.off))
		} else if c.rcv.started {
			c.peerDataFIN(c.rcv.nxt())
		}
		return
	}
	// A FIN without DATA_FIN closes only that subflow (INTEROP B.7);
	// after both DATA_FINs it is the peer closing first, answered at once.
	if !c.peerFINDone || c.dataFINAcked {
		sf.tcp.Close()
	}
	c.wake()
}

// subflowClosed: a subflow reached CLOSED.
func (c *Conn) subflowClosed(now time.Duration, sf *subflow) {
	if sf.closed {
		return
	}
	sf.closed = true
	c.Stats.SubflowsClosed++
	// Pieces waiting for a mapping's checksum never complete now; other
	// subflows carry the reinjected copies of those bytes.
	sf.rmaps = sf.rmaps[:0]
	c.ep.removeSubflow(sf)
	c.ccGroup.Remove(sf.tcp.CC())
	if c.fastCloseFromPeer {
		c.fastCloseReceived(now)
		return
	}
	if !c.closed && !c.Done() {
		// Its unacknowledged data goes to the others (INTEROP B.9).
		c.reinjectFrom(sf)
	}
	c.pmEvent(now, pm.Event{Kind: pm.SubflowClosed, SubflowID: sf.id, Addr: sf.remote})
	if c.activeSubflows() == 0 && !c.closed {
		switch {
		case c.Done() || c.plainTCP || c.fallback:
			err := sf.closeErr
			if c.Done() || c.peerFINDone && c.dataFINAcked {
				err = nil
			}
			if err == nil && !(c.Done() || c.plainTCP && c.peerFINDone && c.writeClosed || c.fallback && c.peerFINDone && c.writeClosed) {
				err = sf.closeErr
				if err == nil {
					err = ErrClosed
				}
			}
			c.finish(now, mapTCPErr(err))
		case !c.established:
			c.finish(now, mapTCPErr(sf.closeErr))
		default:
			// Make-after-break: wait for a new subflow (INTEROP B.7).
			c.emptySince = now
		}
	}
	c.wake()
}

// mapTCPErr turns a subflow's closing error into the connection's.
func mapTCPErr(err error) error {
	switch err {
	case nil:
		return nil
	case tcp.ErrReset:
		return &ResetError{}
	case tcp.ErrRefused:
		return ErrRefused
	case tcp.ErrTimeout, tcp.ErrKeepalive:
		return ErrTimeout
	case tcp.ErrAborted:
		return ErrClosed
	}
	return err
}

// finish closes the connection and reports it.
func (c *Conn) finish(now time.Duration, err error) {
	if c.closed {
		return
	}
	c.closed, c.closeErr = true, err
	for _, sf := range c.subflows {
		if !sf.closed && sf.tcp.State() != tcp.TimeWait {
			switch {
			case err != nil:
				sf.tcp.Abort(now)
			default:
				sf.tcp.Close()
			}
		}
	}
	c.ep.emit(Event{Kind: EventClosed, Conn: c, Err: err})
	c.wake()
}

// --- Data -----------------------------------------------------------------

// commitData records [dsn, dsn+n) as received and delivers what became in
// order.
func (c *Conn) commitData(sf *subflow, dsn uint64, n int) {
	if n <= 0 || !c.rcv.started {
		return
	}
	before := c.rcv.nxt()
	h, stored, full := c.rcv.commit(dsn, n, sf.hint)
	sf.hint = h
	switch {
	case full:
		c.Stats.RcvPruned += uint64(n)
	case !stored:
		c.Stats.DuplicateData += uint64(n)
	}
	if c.rcv.nxt() != before {
		c.dataArrived()
	}
	c.maybePeerFINDone()
}

// dataArrived: in-order data grew; tell the application, and ACK promptly
// at the data level (INTEROP B.10).
func (c *Conn) dataArrived() {
	if c.rcv.buffered() > 0 && !c.notedReadable {
		c.notedReadable = true
		c.ep.emit(Event{Kind: EventReadable, Conn: c})
	}
	c.wake()
}

// evictPending withdraws [start, end) from the pieces that mappings other
// than keep hold while their checksums are unverified, because a newer
// copy of those bytes is about to overwrite them in the receive buffer.
// Those mappings then commit only what they alone wrote; the bytes
// withdrawn are committed by the newer copy's mapping if it verifies, or
// retransmitted at the data level if it does not. Refusing the newcomer
// instead would deadlock when the older mapping never completes (its
// subflow has a hole that a proactive-ACKing middlebox hid from the
// sender, NSDI'12 §3.3.5).
func (c *Conn) evictPending(start, end uint64, keep *recvMapping) {
	for _, sf := range c.subflows {
		if sf.closed {
			continue
		}
		for i := range sf.rmaps {
			if m := &sf.rmaps[i]; m != keep && m.npend > 0 {
				m.removePending(start, end)
			}
		}
	}
}

// peerDataFIN records the peer's DATA_FIN at dsn.
func (c *Conn) peerDataFIN(dsn uint64) {
	if !c.peerFIN {
		c.peerFIN, c.peerFINDSN = true, dsn
	}
	c.maybePeerFINDone()
	c.wake()
}

// maybePeerFINDone consumes the peer's DATA_FIN once every byte before it
// arrived: the DATA_ACK moves past it and reads end with EOF.
func (c *Conn) maybePeerFINDone() {
	if !c.peerFIN || c.peerFINDone || !c.rcv.started || c.rcv.nxt() != c.peerFINDSN {
		return
	}
	c.peerFINDone = true
	c.rcv.finDSN, c.rcv.finSet = c.peerFINDSN, true
	c.rcv.skipTo(c.peerFINDSN + 1)
	for _, sf := range c.subflows {
		if !sf.closed {
			sf.tcp.RequestACK()
		}
	}
	if !c.notedReadable {
		c.notedReadable = true
		c.ep.emit(Event{Kind: EventReadable, Conn: c})
	}
	c.maybeShutSubflows()
}

// dataAcked processes a DATA_ACK with the window of the segment that
// carried it (RFC 8684 §3.3.2, INTEROP B.10).
func (c *Conn) dataAcked(now time.Duration, ack uint64, wnd int) {
	if ack > c.sndMax+1 || ack < c.una && c.una-ack > 1<<31 {
		return // beyond what was sent: ignored, as Linux does
	}
	c.peerDataAcked = true
	if right := ack + uint64(wnd); right > c.wndEnd {
		c.wndEnd = right
	}
	if ack <= c.una {
		return
	}
	if c.dataFINSent && ack == c.finDSN+1 {
		if !c.dataFINAcked {
			c.dataFINAcked = true
			c.activeCloser = !c.peerFINDone
		}
		ack = c.finDSN
		c.maybeShutSubflows()
	}
	c.una = min(ack, c.snd.end)
	c.releaseSendBuffer()
	c.finRetries = 0
	c.armRetransmit(now)
	// Drop reinjections that are now acknowledged.
	k := 0
	for _, r := range c.reinject {
		if r.end > c.una {
			r.start = max(r.start, c.una)
			c.reinject[k] = r
			k++
		}
	}
	c.reinject = c.reinject[:k]
	c.wake()
}

// releaseSendBuffer frees the send buffer up to the DATA_ACK, but not
// past bytes a subflow may still retransmit at the TCP level: a mapping
// keeps its bytes until its subflow's TCP acknowledges it, even when the
// data level already has them (through another subflow), because TCP
// retransmissions must repeat the original bytes (INTEROP A.13).
func (c *Conn) releaseSendBuffer() {
	keep := c.una
	for _, sf := range c.subflows {
		if sf.closed || sf.stale {
			continue // a stale subflow that needs released bytes is reset instead
		}
		sf.unackedMappings(func(m *sendMapping) {
			if m.end() > sf.tcp.SendUnacked() && m.dsn < keep {
				keep = m.dsn
			}
		})
	}
	c.snd.dataAck(c.una)
	if keep > c.snd.una {
		c.snd.ack(keep)
	}
	if c.snd.space() > 0 && !c.notedWritable && !c.writeClosed {
		c.notedWritable = true
		c.ep.emit(Event{Kind: EventWritable, Conn: c})
	}
}

// maybeShutSubflows sends TCP FINs on the subflows once both DATA_FINs
// are done (INTEROP B.7): at once if we closed first (the kernel's
// FIN_WAIT2 side); otherwise after a round trip in which the peer's
// subflow FINs are expected, each answered as it comes, so that the
// passive side ends without TIME-WAIT (RFC 8041 §3.6).
func (c *Conn) maybeShutSubflows() {
	if c.subflowsShut || !(c.dataFINAcked && c.peerFINDone) {
		return
	}
	if !c.activeCloser {
		if c.shutAt == 0 {
			wait := 200 * time.Millisecond
			for _, sf := range c.subflows {
				if !sf.closed {
					wait = max(wait, 2*sf.tcp.SRTT())
				}
			}
			c.shutAt = c.now + wait
			c.wake()
		}
		return
	}
	c.shutSubflows()
}

func (c *Conn) shutSubflows() {
	c.subflowsShut = true
	for _, sf := range c.subflows {
		if !sf.closed {
			sf.tcp.Close()
		}
	}
	c.wake()
}

// checkFinished closes the connection once both DATA_FINs are done and
// every subflow is closed or in TIME-WAIT (the endpoint keeps TIME-WAIT
// subflows for their 2MSL, the application is done).
func (c *Conn) checkFinished() {
	if c.closed {
		return
	}
	if (c.plainTCP || c.fallback) && c.dataFINSent && !c.dataFINAcked {
		// The TCP FIN stands for the DATA_FIN.
		for _, sf := range c.subflows {
			if sf.tcp.FINAcked() {
				c.dataFINAcked = true
			}
		}
	}
	if !c.Done() {
		return
	}
	if !c.subflowsShut {
		for _, sf := range c.subflows {
			if !sf.closed && sf.tcp.State() != tcp.TimeWait && sf.tcp.State() != tcp.Closed {
				return
			}
		}
	}
	// Both directions are complete: the application is done even if a
	// subflow on a dead path is still closing at the TCP level (the
	// endpoint keeps it until it is).
	c.finish(c.now, nil)
}

// --- Sending ---------------------------------------------------------------

// push hands data to subflows: reinjections first, then new data, as the
// scheduler decides, in mappings of up to MaxMapping bytes; then the
// DATA_FIN.
func (c *Conn) push(now time.Duration) {
	if c.closed || !c.established {
		return
	}
	if c.plainTCP || c.fallback {
		c.pushLinear()
		return
	}
	for len(c.reinject) > 0 {
		r := &c.reinject[0]
		if r.start >= r.end || r.end <= c.una {
			c.reinject = c.reinject[1:]
			continue
		}
		subs := c.schedInfo()
		i := sched.SelectRetransmit(subs, -1)
		if i < 0 {
			break
		}
		sf := c.subflowByID(subs[i].ID)
		n := min(int(r.end-r.start), subs[i].Room+subs[i].MSS, c.ep.cfg.MaxMapping)
		c.assign(sf, r.start, n, false)
		c.Stats.Reinjected += uint64(n)
		r.start += uint64(n)
	}
	finSent := false
	for {
		limit := min(c.snd.end, c.wndEnd)
		if limit <= c.sndNxt && !c.replicate {
			break
		}
		subs := c.schedInfo()
		c.schedPick = c.sched.Select(subs, c.schedPick[:0])
		if !c.peerDataAcked {
			c.schedPick = c.soloPick(subs, c.schedPick)
		}
		if len(c.schedPick) == 0 {
			break
		}
		progress := false
		for _, i := range c.schedPick {
			sf := c.subflowByID(subs[i].ID)
			start := c.sndNxt
			if c.replicate {
				start = max(sf.replNxt, c.una)
			}
			if start >= limit {
				continue
			}
			// A mapping covers what the window allows now, at least eight
			// segments, at most MaxMapping (Linux sends 64 KiB bursts).
			k := min(int(limit-start), max(subs[i].Room, 8*subs[i].MSS), c.ep.cfg.MaxMapping)
			if seg := sf.segPayload(); k > seg {
				// Whole segments only, as Linux cuts TSO bursts in
				// multiples of mss_now: a short tail per mapping would
				// cost a packet slot per mapping in every queue.
				k -= k % seg
			}
			mpcData := sf.initial && c.client && !c.fullyEstablished && start == c.snd.base
			if mpcData {
				// The first mapping rides alone in the MP_CAPABLE data
				// segment: one segment's worth (RFC 8684 §3.1).
				k = min(k, sf.tcp.SendMSS()-wire.LenMPCapableDataCsum-12)
			}
			// The last mapping after CloseWrite carries the DATA_FIN, as
			// Linux's does when it closes with data still to send
			// (mptcp_write_data_fin): a Linux peer then takes the DATA_FIN
			// with the data, where a payload-less one waits for its MPTCP
			// worker (RFC 8684 §3.3.3).
			fin := c.writeClosed && !c.dataFINSent && !mpcData && start+uint64(k) == c.snd.end
			if !c.assign(sf, start, k, fin) {
				continue
			}
			finSent = finSent || fin
			progress = true
			sf.replNxt = start + uint64(k)
			c.sndNxt = max(c.sndNxt, sf.replNxt)
		}
		if !progress {
			break
		}
		c.sndMax = max(c.sndMax, c.sndNxt)
		if c.rtxAt == 0 {
			c.armRetransmit(now)
		}
	}
	if finSent {
		c.dataFINSent = true
		c.armRetransmit(now)
	}
	c.pushDataFIN(now)
}

// soloPick keeps, of the scheduler's picks, only the subflow that carries
// the data sent before the peer's first DATA_ACK. Until that DATA_ACK Linux
// drops data beyond its ack_seq (its MPTCP-level window is still closed,
// MPTcpExtNoDSSInWindow) after its subflow's TCP has acknowledged it, so a
// second subflow's data would wait for the MPTCP-level timer; one subflow
// delivers in order (RFC 8684 §3.3.4, INTEROP B.10).
func (c *Conn) soloPick(subs []sched.Subflow, picks []int) []int {
	if c.solo != nil && c.solo.closed {
		c.solo = nil
	}
	for _, i := range picks {
		sf := c.subflowByID(subs[i].ID)
		if c.solo == nil {
			c.solo = sf
		}
		if sf == c.solo {
			picks[0] = i
			return picks[:1]
		}
	}
	return picks[:0]
}

// assign gives sf the data [dsn, dsn+n) under a new mapping, reporting
// whether sf took it.
func (c *Conn) assign(sf *subflow, dsn uint64, n int, fin bool) bool {
	ssn := sf.tcp.SendEnd()
	if !sf.tcp.Push(n) {
		return false
	}
	m := sendMapping{ssn: ssn, dsn: dsn, len: uint32(n), fin: fin}
	if c.csum {
		dl := n
		if fin {
			dl++
		}
		ph := cksum.DSSPseudoHeader(dsn, uint32(ssn), uint16(dl))
		m.csum = cksum.Combine(ph, c.snd.rangeSum(dsn, n)).Checksum()
	}
	sf.addSendMapping(m)
	return true
}

// pushDataFIN sends the payload-less DATA_FIN on every subflow once all
// data is handed out (INTEROP B.7), and arms its retransmission.
func (c *Conn) pushDataFIN(now time.Duration) {
	if !c.writeClosed || c.dataFINAcked || c.sndNxt != c.snd.end || len(c.reinject) > 0 || c.dataFINSent {
		return
	}
	c.dataFINSent = true
	c.sendDataFIN()
	c.armRetransmit(now)
}

// sendDataFIN puts the DATA_FIN on every subflow that can carry it.
func (c *Conn) sendDataFIN() {
	for _, sf := range c.subflows {
		switch sf.tcp.State() {
		case tcp.Established, tcp.CloseWait:
			sf.dataFINPending = true
			// On a pure ACK ahead of any data still queued on the subflow:
			// a data segment would take a plain ACK request, and the
			// DATA_FIN would wait for the MPTCP-level timer.
			sf.tcp.RequestPureACK()
		}
	}
}

// armRetransmit (re)starts the MPTCP-level retransmission timer while data
// or the DATA_FIN is outstanding: the largest subflow RTO, at least 200 ms
// (Linux's TCP_RTO_MIN), doubled per unanswered expiry (ALGORITHMS §7.5).
//
// The timer also runs while a subflow's TCP holds bytes the data level
// already acknowledged (the send buffer cannot release them): a subflow on
// a dead path would otherwise keep the buffer full for good once another
// subflow delivered its data, as with the redundant scheduler. When those
// bytes hold the writer back, the expiry finds the subflow stale and
// releases them (checkStalePinning).
func (c *Conn) armRetransmit(now time.Duration) {
	if c.sndNxt == c.una && !(c.dataFINSent && !c.dataFINAcked) && c.snd.una >= c.una {
		c.rtxAt = 0
		return
	}
	// The largest base RTO of the subflows that are not stale: a subflow
	// in deep backoff must not hold up the connection (ALGORITHMS §7.5).
	d := 200 * time.Millisecond
	for _, sf := range c.subflows {
		if !sf.closed && !sf.stale {
			d = max(d, sf.tcp.BaseRTO())
		}
	}
	c.rtxAt = now + min(d<<min(c.finRetries, 9), 120*time.Second)
}

// retransmitTimeout handles the MPTCP-level timer. Data not DATA_ACKed
// that no live subflow still holds at the TCP level (its subflow died, or
// its bytes were acknowledged at the TCP level without reaching the
// connection) is reinjected; data a subflow is still retransmitting is left
// to it, so a slow DATA_ACK is not mistaken for loss (INTEROP B.10).
func (c *Conn) retransmitTimeout(now time.Duration) {
	c.rtxAt = 0
	if c.dataFINSent && !c.dataFINAcked && c.una == c.finDSN {
		c.sendDataFIN()
	} else if c.sndNxt > c.una {
		c.checkStale(now)
		if !c.heldBySubflow(c.una) {
			end := min(c.sndNxt, c.una+uint64(c.ep.cfg.MaxMapping))
			c.queueReinject(c.una, end)
		}
	} else if c.snd.una < c.una {
		c.checkStalePinning(now)
	}
	c.finRetries++
	c.armRetransmit(now)
}

// staleLimit is how many MPTCP-level timeouts a subflow holding the
// oldest unacknowledged data may pass without receiving anything before
// it is declared stale (Linux's stale_loss_cnt is 4 timer periods; ours
// are each at least the largest RTO).
const staleLimit = 2

// checkStale marks as stale the subflows that hold unacknowledged data and
// whose TCP acknowledged nothing for staleLimit timer periods, provided
// another subflow can take over, and reinjects all their data (ALGORITHMS
// §7.5: __mptcp_retransmit_pending_data). Progress, not just reception, is
// the test: a subflow whose forward path is a black hole still receives
// the peer's data. A stale subflow gets no new data until its TCP
// acknowledges something again.
func (c *Conn) checkStale(now time.Duration) {
	for _, sf := range c.subflows {
		if sf.closed || sf.stale || sf.tcp.Unacked() == 0 {
			continue
		}
		if una := sf.tcp.SendUnacked(); una != sf.staleUna {
			sf.staleUna, sf.staleCount = una, 0
			continue
		}
		sf.staleCount++
		if sf.staleCount < staleLimit || !c.otherUsable(sf) {
			continue
		}
		sf.stale = true
		c.Stats.StaleSubflows++
		c.reinjectFrom(sf)
	}
}

// checkStalePinning runs when the peer has all the data but a subflow's
// TCP still holds some of it unacknowledged, keeping it in the send
// buffer. If that holds the writer back, a subflow whose retransmission
// timed out without progress is stale at once (no data is at risk; a
// redundant subflow on a dead path would otherwise hold the writer back
// for staleLimit timer periods), and the others as checkStale decides;
// their bytes are released. Otherwise nothing is done: a stale subflow
// that must retransmit released bytes is reset, which a subflow that is
// merely recovering from a loss should not be.
func (c *Conn) checkStalePinning(now time.Duration) {
	if !c.snd.heldBack() {
		return
	}
	for _, sf := range c.subflows {
		if sf.closed || sf.stale || sf.tcp.Unacked() == 0 || sf.tcp.RTO() <= sf.tcp.BaseRTO() || !c.otherUsable(sf) {
			continue
		}
		sf.stale = true
		c.Stats.StaleSubflows++
	}
	c.checkStale(now)
	c.releaseSendBuffer()
}

// otherUsable reports whether a subflow other than sf can carry data.
func (c *Conn) otherUsable(sf *subflow) bool {
	for _, o := range c.subflows {
		if o != sf && c.usable(o) {
			return true
		}
	}
	return false
}

// heldBySubflow reports whether a live subflow still has dsn unacknowledged
// at the TCP level.
func (c *Conn) heldBySubflow(dsn uint64) bool {
	for _, sf := range c.subflows {
		if sf.closed || sf.stale {
			continue
		}
		held := false
		sf.unackedMappings(func(m *sendMapping) {
			// The byte itself, not just its mapping: bytes a middlebox
			// acknowledged for the peer are held by nobody.
			if dsn >= m.dsn && dsn < m.dsn+uint64(m.len) && m.ssn+(dsn-m.dsn) >= sf.tcp.SendUnacked() {
				held = true
			}
		})
		if held {
			return true
		}
	}
	return false
}

// pushLinear feeds the single subflow of a plain or fallen-back
// connection.
func (c *Conn) pushLinear() {
	var sf *subflow
	for _, s := range c.subflows {
		if !s.closed {
			sf = s
			break
		}
	}
	if sf == nil {
		return
	}
	if n := int(c.snd.end - c.sndNxt); n > 0 && sf.tcp.Push(n) {
		c.sndNxt += uint64(n)
		c.sndMax = c.sndNxt
	}
	if c.writeClosed && c.sndNxt == c.snd.end && !c.dataFINSent {
		c.dataFINSent = true
		sf.tcp.Close()
	}
}

// schedInfo describes the subflows to the scheduler.
func (c *Conn) schedInfo() []sched.Subflow {
	c.schedSubs = c.schedSubs[:0]
	for _, sf := range c.subflows {
		if sf.closed {
			continue
		}
		t := sf.tcp
		room := t.SendRoom()
		c.schedSubs = append(c.schedSubs, sched.Subflow{
			ID: sf.id, SRTT: t.SRTT(), Backup: sf.backup || sf.remoteBackup,
			Usable: c.usable(sf), Room: room, MSS: t.SendMSS(),
		})
	}
	return c.schedSubs
}

func (c *Conn) subflowByID(id int) *subflow {
	for _, sf := range c.subflows {
		if sf.id == id {
			return sf
		}
	}
	return nil
}

// pollTransmit writes the next packet of any subflow.
func (c *Conn) pollTransmit(now time.Duration, buf []byte) int {
	c.now = now
	c.push(now)
	c.checkFinished()
	for _, sf := range c.subflows {
		// Closed subflows are polled too: a RST may be pending.
		if n := sf.tcp.PollTransmit(now, buf); n > 0 {
			return n
		}
		if sf.resetPending {
			sf.resetPending = false
			sf.reset(RstUnspecified)
			if n := sf.tcp.PollTransmit(now, buf); n > 0 {
				return n
			}
		}
	}
	return 0
}

// nextTimeout is the earliest deadline of the connection and its subflows.
func (c *Conn) nextTimeout() (time.Duration, bool) {
	var next time.Duration
	found := false
	consider := func(t time.Duration) {
		if !found || t < next {
			next, found = t, true
		}
	}
	for _, sf := range c.subflows {
		if sf.closed {
			continue
		}
		if t, ok := sf.tcp.NextTimeout(); ok {
			consider(t)
		}
		if sf.join && sf.joiner && sf.joinAckSent && !sf.joinConfirmed {
			consider(sf.joinAckAt + sf.tcp.RTO())
		}
	}
	if c.rtxAt != 0 {
		consider(c.rtxAt)
	}
	if c.shutAt != 0 && !c.subflowsShut {
		consider(c.shutAt)
	}
	if c.emptySince != 0 && !c.closed {
		consider(c.emptySince + c.ep.cfg.CloseTimeout)
	}
	for i := range c.announce {
		a := &c.announce[i]
		if !a.echoed && a.sent > 0 && a.sent < 4 {
			consider(max(a.nextAt, a.pokeAt))
		}
	}
	if found && next < c.now {
		next = c.now // never report a deadline in the past twice
	}
	return next, found
}

// handleTimeout runs the connection's and its subflows' due timers.
func (c *Conn) handleTimeout(now time.Duration) {
	c.now = now
	for _, sf := range c.subflows {
		if sf.closed {
			continue
		}
		if t, ok := sf.tcp.NextTimeout(); ok && t <= now {
			sf.tcp.HandleTimeout(now)
			c.maybeMovePort(now, sf)
		}
		if sf.join && sf.joiner && sf.joinAckSent && !sf.joinConfirmed && now >= sf.joinAckAt+sf.tcp.RTO() {
			sf.tcp.RequestACK() // the MP_JOIN third ACK is repeated until acked
			sf.joinAckAt = now
		}
	}
	if c.emptySince != 0 && !c.closed && now >= c.emptySince+c.ep.cfg.CloseTimeout {
		if c.activeSubflows() == 0 {
			c.finish(now, ErrTimeout)
		} else {
			c.emptySince = 0 // a new subflow came in time
		}
	}
	if c.rtxAt != 0 && now >= c.rtxAt {
		c.retransmitTimeout(now)
	}
	if c.shutAt != 0 && now >= c.shutAt && !c.subflowsShut {
		c.shutSubflows()
	}
	for i := range c.announce {
		a := &c.announce[i]
		if !a.echoed && a.sent > 0 && a.sent < 4 && now >= max(a.nextAt, a.pokeAt) {
			// The retransmission rides on the next pure ACK; if no subflow
			// can send one now, ask again later rather than at once.
			c.requestSignal()
			a.pokeAt = now + max(c.ep.cfg.AddAddrTimeout/8, 100*time.Millisecond)
		}
	}
	c.wake()
}

// --- Fallback and failures -----------------------------------------------

// canFallback: an infinite-mapping fallback is possible only while the
// connection never had more than its initial subflow and no data was
// reinjected (RFC 8684 §3.7, Linux's allow_infinite_fallback).
func (c *Conn) canFallback() bool {
	return !c.everJoined && c.Stats.Reinjected == 0
}

// fallbackStart makes the connection plain TCP on sf at the handshake
// (RFC 8684 §3.7, INTEROP B.2): the peer or a middlebox removed
// MP_CAPABLE. Both directions are linear from the first byte.
func (c *Conn) fallbackStart(why *FallbackError, sf *subflow) {
	if c.fallback {
		return
	}
	if !c.rcv.started {
		c.rcv.start(1, c.ofoCapacity())
	}
	c.rcvFB, c.rcvLinear = linearMap{off: 1, dsn: c.rcv.nxt()}, true
	c.enterFallback(why, sf, false)
}

// enterFallback makes the connection plain TCP on sf from now on. The
// data it still has to send continues linearly after the last mapping (or
// from sndNxt); with announce, the next data segments carry an infinite
// mapping (a DSS with data-level length 0) saying where the linear part
// starts, so that the peer can follow (RFC 8684 §3.3.1, §3.7). The
// receive side turns linear when the peer's infinite mapping arrives
// (or at once, if the caller set rcvFB).
func (c *Conn) enterFallback(why *FallbackError, sf *subflow, announce bool) {
	if c.fallback {
		return
	}
	c.fallback = true
	c.fallbackErr = why
	c.fullyEstablished = true
	if !c.rcv.started {
		c.rcv.start(1, c.ofoCapacity())
	}
	off := sf.tcp.SendEnd()
	if sf.mapCount > 0 {
		last := &sf.maps[(sf.mapHead+sf.mapCount-1)%len(sf.maps)]
		if last.end() == off {
			c.sndNxt = max(c.sndNxt, last.dsn+uint64(last.len))
		}
	}
	c.sndFB = linearMap{off: off, dsn: c.sndNxt}
	c.announceInfinite = announce
	if c.dataFINSent && !c.dataFINAcked {
		// A DATA_FIN means nothing to a fallen-back peer: the TCP FIN
		// carries the end of the stream now (pushLinear sends it).
		c.dataFINSent = false
	}
	for _, o := range c.subflows {
		if o != sf && !o.closed {
			o.reset(RstMiddlebox)
		}
	}
	c.ep.emit(Event{Kind: EventFallback, Conn: c, Err: why})
	c.wake()
}

// infiniteMappingReceived: the peer fell back (RFC 8684 §3.7); from
// subflow offset ssn its data maps linearly to dsn.
func (c *Conn) infiniteMappingReceived(sf *subflow, ssn, dsn uint64) {
	if c.rcvLinear {
		return
	}
	c.rcvFB, c.rcvLinear = linearMap{off: ssn, dsn: dsn}, true
	c.Stats.InfiniteMappings++
	c.enterFallback(&FallbackError{Reason: "peer sent an infinite mapping"}, sf, true)
}

// checksumFailed reacts to a mapping whose DSS checksum failed (RFC 8684
// §3.7, INTEROP B.2): with other subflows, reset this one with MP_FAIL
// and MP_TCPRST reason 6 (the peer reinjects its data); on the only
// subflow, MP_FAIL with the DATA_ACK (where the failed data starts), then
// the peer answers and both sides fall back with infinite mappings.
func (c *Conn) checksumFailed(sf *subflow, dsn uint64) {
	c.Stats.MPFailSent++
	if c.activeSubflows() > 1 || !c.canFallback() {
		sf.mpFailDSN, sf.mpFailPending = dsn, true
		sf.reset(RstMiddlebox)
		return
	}
	sf.mpFailDSN, sf.mpFailPending = c.rcv.nxt(), true
	c.mpFailOutstanding = true
	sf.tcp.RequestACK()
}

// mpFailReceived: the peer found a bad checksum in our data (RFC 8684
// §3.7). On the only subflow we resend from the DSN it names, linearly,
// announced by an infinite mapping, and answer with MP_FAIL if we have
// not sent one. With several subflows the peer resets the subflow and the
// data is reinjected.
func (c *Conn) mpFailReceived(sf *subflow, dsn uint64) {
	c.Stats.MPFailRecv++
	if c.activeSubflows() > 1 || !c.canFallback() || c.fallback {
		return
	}
	if !c.mpFailOutstanding {
		sf.mpFailDSN, sf.mpFailPending = c.rcv.nxt(), true
		c.Stats.MPFailSent++
	}
	if dsn >= c.una && dsn < c.sndNxt {
		// Everything from dsn goes again, as new subflow bytes.
		c.enterFallback(&FallbackError{Reason: "DSS checksum failure (MP_FAIL)"}, sf, true)
		c.sndFB.dsn = dsn
		c.sndNxt = dsn
		return
	}
	c.enterFallback(&FallbackError{Reason: "DSS checksum failure (MP_FAIL)"}, sf, true)
}

// fastCloseReceived: MP_FASTCLOSE with our key (RFC 8684 §3.5): reset
// every subflow and report the reset.
func (c *Conn) fastCloseReceived(now time.Duration) {
	for _, sf := range c.subflows {
		if !sf.closed {
			sf.tcp.Abort(now)
		}
	}
	c.finish(now, &ResetError{FastClose: true})
}

// --- Path management -------------------------------------------------------

// pmEvent runs the path manager and carries out its actions.
func (c *Conn) pmEvent(now time.Duration, ev pm.Event) {
	if c.pm == nil || c.closed || c.plainTCP || c.fallback {
		return
	}
	st := &c.pmState
	st.Client = c.client
	st.MaxSubflows = c.ep.cfg.MaxSubflows
	st.DenyJoinInitial = c.denyJoinInitial
	st.LocalAddrs = c.ep.cfg.LocalAddrs
	st.Subflows = st.Subflows[:0]
	for _, sf := range c.subflows {
		if sf.initial {
			st.InitialLocal, st.InitialRemote = sf.local, sf.remote
		}
		if !sf.closed {
			st.Subflows = append(st.Subflows, pm.Subflow{ID: sf.id, Local: sf.local, Remote: sf.remote, Backup: sf.backup})
		}
	}
	st.RemoteAddrs = append(st.RemoteAddrs[:0], pm.RemoteAddr{ID: 0, Addr: st.InitialRemote})
	st.RemoteAddrs = append(st.RemoteAddrs, c.remoteAddrs...)
	c.pmActions = c.pm.Handle(ev, st, c.pmActions[:0])
	for _, a := range c.pmActions {
		c.act(now, a)
	}
}

func (c *Conn) act(now time.Duration, a pm.Action) {
	switch a.Kind {
	case pm.OpenSubflow:
		_, _ = c.OpenSubflow(now, a.Local, a.Remote, a.Backup)
	case pm.CloseSubflow:
		c.CloseSubflow(a.SubflowID)
	case pm.Announce:
		c.Announce(now, a.AddrID, a.Local)
	case pm.Withdraw:
		c.Withdraw(a.AddrID)
	case pm.SetBackup:
		c.SetBackup(a.SubflowID, a.Backup)
	}
}

// String summarises the connection's state, for logs and test failures.
func (c *Conn) String() string {
	return fmt.Sprintf("conn{client %v mptcp %v fully %v csum %v snd una %d nxt %d end %d wndEnd %d | rcv nxt %d | fin: sent %v acked %v dsn %d peer %v@%d done %v shut %v | closed %v %v}",
		c.client, c.MPTCP(), c.fullyEstablished, c.csum, c.una, c.sndNxt, c.snd.end, c.wndEnd,
		func() uint64 {
			if !c.rcv.started {
				return 0
			}
			return c.rcv.nxt()
		}(), c.dataFINSent, c.dataFINAcked, c.finDSN, c.peerFIN, c.peerFINDSN, c.peerFINDone, c.subflowsShut, c.closed, c.closeErr)
}

package tcp

import (
	"errors"
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/cc"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// State is a TCP connection state (RFC 9293 §3.3.2).
type State uint8

// The connection states. LISTEN belongs to the endpoint that owns
// listeners; a Conn starts in SynSent (active open) or SynReceived
// (passive open).
const (
	Closed State = iota
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
)

var stateNames = [...]string{"CLOSED", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "INVALID"
}

// synchronized reports whether the state is past the handshake (RFC 9293
// §3.10.7.4 uses the term for the checks of RFC 5961).
func (s State) synchronized() bool { return s >= Established }

// Errors reported in EventClosed.
var (
	ErrReset     = errors.New("tcp: connection reset by peer")
	ErrRefused   = errors.New("tcp: connection refused")
	ErrTimeout   = errors.New("tcp: connection timed out")
	ErrAborted   = errors.New("tcp: connection aborted")
	ErrKeepalive = errors.New("tcp: keepalive timed out")
)

// Verdict is what an Owner decides about a received segment.
type Verdict uint8

const (
	// VerdictAccept processes the segment normally.
	VerdictAccept Verdict = iota
	// VerdictDrop discards the segment as if it had not arrived.
	VerdictDrop
	// VerdictReset discards the segment, sends a RST (the owner adds its options
	// to it through SegmentOptions) and closes the connection.
	VerdictReset
)

// EventKind says what happened on a connection.
type EventKind uint8

// The events a Conn reports to its Owner.
const (
	// EventEstablished: the handshake completed.
	EventEstablished EventKind = iota + 1
	// EventAcked: Bytes of data were newly acknowledged; RTT is a sample
	// or 0.
	EventAcked
	// EventLoss: loss recovery started (fast retransmit).
	EventLoss
	// EventRTO: the retransmission timer expired.
	EventRTO
	// EventFIN: the peer's FIN arrived in order; no more data will come.
	EventFIN
	// EventClosed: the connection reached CLOSED. Err is nil after an
	// orderly close, else ErrReset, ErrRefused, ErrTimeout, ErrAborted or
	// ErrKeepalive.
	EventClosed
)

// Event is one notification to the Owner.
type Event struct {
	Kind  EventKind
	Bytes int
	RTT   time.Duration
	Err   error
}

// Outgoing describes a segment being built, so that the owner can add its
// options (MPTCP suboptions) to it.
type Outgoing struct {
	Flags      uint8
	Off        uint64 // send offset of the first payload byte (the SYN is offset 0, data starts at 1)
	Len        int    // payload length; SegmentOptions may shorten it
	Retransmit bool
	// Options holds the TCP options already chosen (timestamps, SACK, the
	// SYN options). The owner adds MPTCP suboptions to it.
	Options *wire.Options
}

// Owner is the data side of a connection: a plain byte stream (Stream) or
// an MPTCP connection, which owns the buffers of all its subflows. The
// Conn keeps only sequence state; payload goes straight from the frame to
// the owner and from the owner to the frame, with the checksum computed in
// the same pass.
//
// Offsets count bytes of the sequence space from the ISN: the SYN is 0, the
// first data byte 1 (the "relative subflow sequence number" of RFC 8684
// §3.3.1), in 64 bits so that they never wrap.
type Owner interface {
	// ReceiveData copies data, which starts at receive offset off, into the
	// owner's storage and returns its sum. The segment's checksum is not
	// verified yet: the owner must not overwrite bytes it has committed
	// and must not act on them until CommitData. accept false means "do
	// not acknowledge these bytes" (the peer will retransmit them); the sum
	// must still be returned.
	ReceiveData(off uint64, data []byte, opts *wire.Options) (sum cksum.Partial, accept bool)
	// CommitData confirms [off, off+n): verified, new at the TCP level,
	// and now acknowledged. sum is the value ReceiveData returned.
	CommitData(off uint64, n int, sum cksum.Partial, opts *wire.Options)
	// SegmentReceived sees every segment that passed the checksum and the
	// acceptability tests, RSTs included, before its data is committed.
	SegmentReceived(now time.Duration, seg *wire.Segment) Verdict
	// ReceiveWindow returns the receive window to announce, in bytes.
	ReceiveWindow() int
	// SendData copies len(dst) bytes from send offset off into dst and
	// returns their sum.
	SendData(off uint64, dst []byte) cksum.Partial
	// SegmentOptions adds the owner's options to a segment being built.
	SegmentOptions(now time.Duration, out *Outgoing)
	// Event reports a state change.
	Event(now time.Duration, ev Event)
}

// Config holds a connection's parameters. The zero value gives Linux-like
// defaults (see withDefaults).
type Config struct {
	MSS           int // the MSS we announce and the largest payload we send; default 1460
	MaxWindow     int // the largest receive window the owner will announce; chooses the window scale; default 4 MiB
	NoSACK        bool
	NoTimestamps  bool
	NoWindowScale bool

	InitialRTO time.Duration // RFC 6298 §2.1: 1 s
	MinRTO     time.Duration // Linux: 200 ms
	MaxRTO     time.Duration // Linux: 120 s
	DelayedAck time.Duration // Linux's minimum delayed-ACK timeout: 40 ms
	QuickAcks  int           // segments acknowledged at once after the handshake; default 16

	SYNRetries int // Linux tcp_syn_retries: 6
	// SYNLinearTimeouts: an active open's first SYNLinearTimeouts
	// retransmissions keep the initial RTO, and SYNRetries more follow
	// with exponential backoff, as Linux does (tcp_syn_linear_timeouts,
	// 4 by default since 6.x): SYNs at 0, 1, 2, 3, 4, 5, 7, 11 ... s.
	// Negative: backoff from the first retransmission (RFC 6298 §5.5).
	SYNLinearTimeouts int
	Retries           int           // Linux tcp_retries2: 15
	TimeWait          time.Duration // Linux: 60 s

	KeepaliveIdle     time.Duration // 0 disables keepalive
	KeepaliveInterval time.Duration // default 75 s
	KeepaliveCount    int           // default 9

	// ChallengeACKs limits RFC 5961 challenge ACKs per second; default 10.
	ChallengeACKs int

	// SharedWindow: the owner enforces the peer's receive window across
	// all its subflows (MPTCP, RFC 8684 §3.3.4, INTEROP B.10), so the
	// connection does not limit sending by its own view of the window.
	SharedWindow bool

	// Nagle enables RFC 896 coalescing of small writes (off by default,
	// as in Go's net package).
	Nagle bool

	// CC is the congestion controller; nil means NewReno.
	CC cc.Controller

	// Scratch, if set, is shared working space (see Scratch); all the
	// connections sharing it must be driven by one goroutine.
	Scratch *Scratch
}

func (cfg Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if cfg.MSS == 0 {
		cfg.MSS = 1460
	}
	if cfg.MaxWindow == 0 {
		cfg.MaxWindow = 4 << 20
	}
	def(&cfg.InitialRTO, time.Second)
	def(&cfg.MinRTO, 200*time.Millisecond)
	def(&cfg.MaxRTO, 120*time.Second)
	def(&cfg.DelayedAck, 40*time.Millisecond)
	def(&cfg.TimeWait, 60*time.Second)
	def(&cfg.KeepaliveInterval, 75*time.Second)
	if cfg.QuickAcks == 0 {
		cfg.QuickAcks = 16
	}
	if cfg.SYNRetries == 0 {
		cfg.SYNRetries = 6
	}
	if cfg.SYNLinearTimeouts == 0 {
		cfg.SYNLinearTimeouts = 4
	}
	if cfg.Retries == 0 {
		cfg.Retries = 15
	}
	if cfg.KeepaliveCount == 0 {
		cfg.KeepaliveCount = 9
	}
	if cfg.ChallengeACKs == 0 {
		cfg.ChallengeACKs = 10
	}
	return cfg
}

// windowShift returns the window scale for a receive window of max bytes
// (RFC 7323 §2.3: at most 14).
func windowShift(max int) uint8 {
	var s uint8
	for max>>s > 0xffff && s < 14 {
		s++
	}
	return s
}

// Stats counts what happened on one connection.
type Stats struct {
	SegsIn, SegsOut   uint64
	BytesIn, BytesOut uint64 // payload, retransmissions included
	Retransmits       uint64 // segments retransmitted
	FastRecoveries    uint64
	RTOs              uint64
	DupAcks           uint64
	BadChecksum       uint64
	OutOfOrder        uint64 // segments that arrived above rcv.nxt
	DuplicateData     uint64 // segments with no new data
	Unacceptable      uint64 // segments outside the window (RFC 9293 §3.10.7.4)
	PAWSDrops         uint64
	ChallengeACKs     uint64
	ResetsIn          uint64
	AckBeyondSent     uint64
	OwnerDrops        uint64
	OOORangesFull     uint64
}

// Timers (RFC 9293 §3.8, RFC 6298): a fixed table with one deadline each.
type timerKind uint8

const (
	timerRetransmit timerKind = iota // RTO, SYN retransmission
	timerDelayedAck
	timerPersist
	timerKeepalive
	timerClose // TIME-WAIT
	numTimers
)

// Conn is one TCP connection (an MPTCP subflow, or a plain TCP connection
// with a Stream owner). It is a sans-IO state machine: segments come in
// through Handle, go out through PollTransmit, time through HandleTimeout;
// it never blocks, reads a clock, or allocates per segment.
type Conn struct {
	cfg    Config
	owner  Owner
	cc     cc.Controller
	state  State
	local  netip.AddrPort
	remote netip.AddrPort

	iss, irs Seq
	// Send sequence space, as 64-bit offsets from the ISS.
	sndUna, sndNxt, sndMax uint64
	sndEnd                 uint64 // offset after the last byte the owner has pushed
	finQueued              bool   // the owner closed: a FIN follows sndEnd
	sndWnd                 int    // peer's window in bytes (scaled)
	maxSndWnd              int
	sndWl1                 Seq
	sndWl2                 uint64
	sndShift               uint8 // peer's window scale
	peerMSS                int
	sndMSS                 int // largest payload without options

	// Receive sequence space.
	rcvNxt   uint64 // offset of the next byte expected (1 after the SYN)
	rcvAdv   uint64 // right edge we last announced
	rcvShift uint8  // our window scale, if negotiated
	ooo      spanSet
	oooLast  span // the most recently received out-of-order range, for SACK order
	finRcvd  bool
	finOff   uint64 // offset of the peer's FIN, once seen (possibly out of order)
	finSeen  bool

	sackOK, tsOK, wsOK bool
	tsOffset           uint32
	tsRecent           uint32
	lastAckSent        uint64

	rtt       rttEstimator
	rttTiming bool
	rttOff    uint64 // timing ends when this offset is acknowledged
	rttStart  time.Duration

	sacked         spanSet // SACKed ranges above sndUna
	inRecovery     bool
	recoveryPoint  uint64
	highRxt        uint64 // highest offset retransmitted in this recovery (exclusive)
	rtoRecovery    bool
	dupAcks        int
	retries        int // consecutive RTO expiries
	synRetries     int
	persistBackoff uint
	kaProbes       int
	lastRecv       time.Duration

	ackNow      bool // send an ACK at the next poll
	pureACKNow  bool // send a segment without payload at the next poll, before any data
	ackPending  bool // an ACK is owed (delayed)
	rcvMSS      int  // the largest payload received: a segment shorter than it was "pushed"
	pushed      bool // a short or PSH segment arrived since the last ACK
	unackedSegs int
	quickAcks   int
	rstPending  bool
	// hasResetReply: the pending RST answers an unacceptable ACK with
	// <SEQ=SEG.ACK> (RFC 9293 §3.10.7.3) rather than aborting.
	hasResetReply bool
	resetReply    Seq
	rxmitNow      bool // retransmit the segment at SND.UNA at once
	probePending  bool // send a window or keepalive probe
	synPending    bool // (re)send SYN or SYN/ACK
	appLimited    bool

	challengeCount int
	challengeStart time.Duration
	lastOOWAck     time.Duration // last ACK answering an out-of-window segment

	deadline [numTimers]time.Duration
	armed    uint8

	closedReported bool
	scratch        *Scratch
	Stats          Stats
}

// Scratch is the working space a connection builds outgoing segments in.
// Connections driven by the same goroutine may share one (Config.Scratch),
// which keeps each connection small; by default each has its own.
type Scratch struct {
	out      wire.Options
	outgoing Outgoing
	plan     wire.Plan
}

// Dial starts an active open: a SYN to remote from local, with initial
// sequence number iss (RFC 6528: from the endpoint's ISN generator).
func Dial(now time.Duration, cfg Config, local, remote netip.AddrPort, iss Seq, tsOffset uint32, owner Owner) *Conn {
	c := newConn(now, cfg, local, remote, iss, tsOffset, owner)
	c.state = SynSent
	c.synPending = true
	return c
}

// Redial restarts an active open still in SYN-SENT from local with a new
// ISN, as a new Dial would, and sends the SYN at once. It keeps the SYN
// retransmission count, the backed-off RTO and the statistics, so that the
// retransmission schedule and the point of giving up go on as before. The
// MPTCP layer uses it to leave a 4-tuple that the peer's stale state may
// hold (mptcp/blackhole.go). It reports false, and changes nothing, in any
// other state.
func (c *Conn) Redial(now time.Duration, local netip.AddrPort, iss Seq, tsOffset uint32) bool {
	if c.state != SynSent {
		return false
	}
	retries, rtt, stats := c.synRetries, c.rtt, c.Stats
	initConn(c, now, c.cfg, local, c.remote, iss, tsOffset, c.owner)
	c.state, c.synPending = SynSent, true
	c.synRetries, c.rtt, c.Stats = retries, rtt, stats
	return true
}

// SynParams is what a passive opener needs of a SYN: enough to answer it
// and, later, to build the connection, so that a listener can keep a small
// record per half-open connection instead of a Conn (as Linux keeps
// request sockets until the third ACK).
type SynParams struct {
	IRS    Seq
	Window uint16 // never scaled in a SYN (RFC 7323 §2.2)
	MSS    uint16 // 0: the SYN had none
	WScale int8   // -1: the SYN had none
	SACK   bool
	TS     bool
	TSVal  uint32
}

// SynParamsOf extracts a SYN's parameters.
func SynParamsOf(syn *wire.Segment) SynParams {
	o := &syn.Options
	p := SynParams{IRS: Seq(syn.TCP.Seq()), Window: syn.TCP.Window(), WScale: -1,
		SACK: o.Has.Has(wire.OptSACKPermitted), TS: o.Has.Has(wire.OptTimestamps)}
	if o.Has.Has(wire.OptMSS) {
		p.MSS = o.MSS
	}
	if o.Has.Has(wire.OptWindowScale) {
		p.WScale = int8(min(o.WindowScale, 14))
	}
	if p.TS {
		p.TSVal = o.TSVal
	}
	return p
}

// Accept starts a passive open from a received SYN (already checked by
// the endpoint: checksum, no ACK, a listener). The SYN/ACK is sent at the
// next PollTransmit.
func Accept(now time.Duration, cfg Config, syn *wire.Segment, iss Seq, tsOffset uint32, owner Owner) *Conn {
	local := netip.AddrPortFrom(syn.DstAddr(), syn.TCP.DstPort())
	remote := netip.AddrPortFrom(syn.SrcAddr(), syn.TCP.SrcPort())
	return AcceptParams(now, cfg, local, remote, SynParamsOf(syn), iss, tsOffset, owner)
}

// AcceptParams is Accept from a SYN's parameters.
func AcceptParams(now time.Duration, cfg Config, local, remote netip.AddrPort, p SynParams, iss Seq, tsOffset uint32, owner Owner) *Conn {
	c := new(Conn)
	AcceptInto(c, now, cfg, local, remote, p, iss, tsOffset, owner)
	return c
}

// AcceptInto is AcceptParams into c, whatever c held before: a listener
// builds the SYN/ACKs of its half-open connections in one scratch Conn.
func AcceptInto(c *Conn, now time.Duration, cfg Config, local, remote netip.AddrPort, p SynParams, iss Seq, tsOffset uint32, owner Owner) {
	initConn(c, now, cfg, local, remote, iss, tsOffset, owner)
	c.state = SynReceived
	c.irs = p.IRS
	c.rcvNxt = 1
	c.negotiateParams(p)
	c.sndWnd = int(p.Window)
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = c.irs, 0
	if c.tsOK {
		c.tsRecent = p.TSVal
	}
	c.synPending = true
}

// SynAckSent tells a connection from AcceptParams that its SYN/ACK already
// left, first at sentAt (retransmitted: it was sent again since, so the
// handshake gives no RTT sample, RFC 6298 §3): no SYN/ACK is sent now.
func (c *Conn) SynAckSent(now, sentAt time.Duration, retransmitted bool) {
	c.synPending = false
	c.sndMax, c.sndNxt = 1, 1
	// What sending it would have recorded: the window it offered (never
	// scaled in a SYN) and the acknowledgment it carried.
	c.rcvAdv = max(c.rcvAdv, c.rcvNxt+uint64(min(c.announceableWindow(), 0xffff)))
	c.lastAckSent = c.rcvNxt
	c.rttTiming, c.rttOff, c.rttStart = !retransmitted, 1, sentAt
	c.arm(timerRetransmit, now+c.rtt.current())
}

func newConn(now time.Duration, cfg Config, local, remote netip.AddrPort, iss Seq, tsOffset uint32, owner Owner) *Conn {
	c := new(Conn)
	initConn(c, now, cfg, local, remote, iss, tsOffset, owner)
	return c
}

func initConn(c *Conn, now time.Duration, cfg Config, local, remote netip.AddrPort, iss Seq, tsOffset uint32, owner Owner) {
	cfg = cfg.withDefaults()
	*c = Conn{cfg: cfg, owner: owner, local: local, remote: remote, iss: iss, tsOffset: tsOffset}
	c.cc = cfg.CC
	if c.cc == nil {
		c.cc = cc.NewReno(cfg.MSS)
	}
	c.rtt = newRTTEstimator(cfg.InitialRTO, cfg.MinRTO, cfg.MaxRTO)
	c.sndEnd = 1 // data starts after the SYN
	c.peerMSS = defaultPeerMSS(remote.Addr())
	c.sndMSS = min(cfg.MSS, c.peerMSS)
	c.quickAcks = cfg.QuickAcks
	c.lastRecv = now
	c.scratch = cfg.Scratch
	if c.scratch == nil {
		c.scratch = new(Scratch)
	}
}

// defaultPeerMSS is the MSS assumed when the peer sends none (RFC 9293
// §3.7.1: 536 for IPv4, RFC 8200 §5: 1220 for IPv6).
func defaultPeerMSS(a netip.Addr) int {
	if a.Is4() || a.Is4In6() {
		return 536
	}
	return 1220
}

// negotiate applies the SYN options of the peer (RFC 7323 §2.2, RFC 2018
// §2: window scaling, timestamps and SACK need both sides' SYN).
func (c *Conn) negotiate(o *wire.Options) {
	p := SynParams{WScale: -1, SACK: o.Has.Has(wire.OptSACKPermitted), TS: o.Has.Has(wire.OptTimestamps)}
	if o.Has.Has(wire.OptMSS) {
		p.MSS = o.MSS
	}
	if o.Has.Has(wire.OptWindowScale) {
		p.WScale = int8(min(o.WindowScale, 14))
	}
	c.negotiateParams(p)
}

func (c *Conn) negotiateParams(p SynParams) {
	if p.MSS > 0 {
		c.peerMSS = int(p.MSS)
	}
	c.sndMSS = max(min(c.cfg.MSS, c.peerMSS), 64)
	c.sackOK = !c.cfg.NoSACK && p.SACK
	c.tsOK = !c.cfg.NoTimestamps && p.TS
	c.wsOK = !c.cfg.NoWindowScale && p.WScale >= 0
	if c.wsOK {
		c.sndShift = uint8(p.WScale)
		c.rcvShift = windowShift(c.cfg.MaxWindow)
	}
	c.cc.SetMSS(c.sndMSS)
}

// State returns the connection state.
func (c *Conn) State() State { return c.state }

// SYNRetransmits is how many times the SYN (or SYN/ACK) has been resent,
// until the handshake completes: the SYN being sent is the first one when
// it is 0.
func (c *Conn) SYNRetransmits() int { return c.synRetries }

// LocalAddr and RemoteAddr return the connection's endpoints.
func (c *Conn) LocalAddr() netip.AddrPort  { return c.local }
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// ISS returns our initial sequence number; IRS the peer's.
func (c *Conn) ISS() Seq { return c.iss }
func (c *Conn) IRS() Seq { return c.irs }

// SendUnacked returns the offset of the first unacknowledged byte.
func (c *Conn) SendUnacked() uint64 { return c.sndUna }

// SendNext returns the offset of the next new byte to send.
func (c *Conn) SendNext() uint64 { return c.sndNxt }

// SendEnd returns the offset after the last byte the owner has pushed.
func (c *Conn) SendEnd() uint64 { return c.sndEnd }

// ReceiveNext returns the offset of the next in-order byte expected.
func (c *Conn) ReceiveNext() uint64 { return c.rcvNxt }

// SRTT returns the smoothed RTT (0 before the first sample); MinRTT the
// smallest sample; RTO the current retransmission timeout.
func (c *Conn) SRTT() time.Duration   { return c.rtt.srtt }
func (c *Conn) MinRTT() time.Duration { return c.rtt.minRTT }
func (c *Conn) RTO() time.Duration    { return c.rtt.current() }

// BaseRTO returns the retransmission timeout without the backoff of
// consecutive expiries.
func (c *Conn) BaseRTO() time.Duration { return c.rtt.rto }

// Window returns the congestion window in bytes.
func (c *Conn) Window() int { return c.cc.Window() }

// CC returns the connection's congestion controller.
func (c *Conn) CC() cc.Controller { return c.cc }

// PeerWindowScale returns the shift the peer applies to its window field
// (0 when window scaling was not negotiated).
func (c *Conn) PeerWindowScale() uint8 {
	if !c.wsOK {
		return 0
	}
	return c.sndShift
}

// SendQueued returns the bytes pushed but not yet sent.
func (c *Conn) SendQueued() int {
	if c.sndEnd > c.sndNxt {
		return int(c.sndEnd - c.sndNxt)
	}
	return 0
}

// SendRoom returns how many more bytes the congestion window admits now
// beyond what is queued and not yet sent: cwnd less the bytes in the
// network (RFC 6675's pipe, which during SACK recovery leaves out what
// was SACKed or judged lost) less SendEnd − SND.NXT. An owner that feeds
// the connection in pieces (MPTCP) uses it to keep the connection sending
// during recovery, as a connection with all its data queued would.
func (c *Conn) SendRoom() int {
	room := c.cc.Window() - c.pipe()
	if c.sndEnd > c.sndNxt {
		room -= int(c.sndEnd - c.sndNxt)
	}
	return max(room, 0)
}

// Unacked returns the bytes pushed and not yet acknowledged.
func (c *Conn) Unacked() int {
	if c.sndEnd > c.sndUna {
		return int(c.sndEnd - c.sndUna)
	}
	return 0
}

// Closing reports whether Close was called: no more data is taken.
func (c *Conn) Closing() bool { return c.finQueued }

// FINAcked reports whether our FIN was sent and acknowledged.
func (c *Conn) FINAcked() bool { return c.finAcked() }

// InRecovery reports whether the connection is recovering from a loss or
// a retransmission timeout.
func (c *Conn) InRecovery() bool { return c.inRecovery || c.rtoRecovery }

// LastReceived returns when a segment last arrived (for stale-subflow
// detection).
func (c *Conn) LastReceived() time.Duration { return c.lastRecv }

// SendMSS returns the largest payload of a segment without options.
func (c *Conn) SendMSS() int { return c.sndMSS }

// PeerWindow returns the peer's advertised receive window in bytes.
func (c *Conn) PeerWindow() int { return c.sndWnd }

// InFlight returns the bytes sent and not yet acknowledged (SACKed bytes
// included).
func (c *Conn) InFlight() int { return int(c.sndMax - c.sndUna) }

// SACKPermitted, Timestamps and WindowScaling report what was negotiated.
func (c *Conn) SACKPermitted() bool { return c.sackOK }
func (c *Conn) Timestamps() bool    { return c.tsOK }
func (c *Conn) WindowScaling() bool { return c.wsOK }

// Push tells the connection that the owner has n more bytes to send at the
// end of its send space. It reports false, taking nothing, once Close was
// called.
func (c *Conn) Push(n int) bool {
	if n <= 0 || c.finQueued || c.state == Closed {
		return false
	}
	c.sndEnd += uint64(n)
	return true
}

// Close queues a FIN after the data pushed so far (RFC 9293 §3.10.4).
func (c *Conn) Close() {
	switch c.state {
	case SynSent:
		c.enterClosed(0, nil)
	case SynReceived, Established, CloseWait:
		c.finQueued = true
	}
}

// Abort resets the connection: a RST is sent at the next poll and the
// connection closes with ErrAborted (RFC 9293 §3.10.5).
func (c *Conn) Abort(now time.Duration) {
	if c.state == Closed {
		return
	}
	if c.state != SynSent && c.state != TimeWait {
		c.rstPending = true
	}
	c.enterClosed(now, ErrAborted)
}

// ReuseTimeWait ends TIME-WAIT early, as its timer would, once the
// connection has been in it for at least minAge, so that a new connection
// may take its 4-tuple (Linux's tcp_tw_reuse for outgoing connections).
// The new incarnation's ISN and timestamps come from clocks keyed by the
// 4-tuple (RFC 6528, RFC 7323 §7.1), so they are newer than the old ones
// and the peer's TIME-WAIT or PAWS check accepts its SYN.
func (c *Conn) ReuseTimeWait(now, minAge time.Duration) bool {
	if c.state != TimeWait || now < c.deadline[timerClose]-c.cfg.TimeWait+minAge {
		return false
	}
	c.enterClosed(now, nil)
	return true
}

// AcceptsNewIncarnation reports whether seg, a SYN for this connection's
// 4-tuple, may end its TIME-WAIT and open a new connection (RFC 6191, as
// Linux's tcp_timewait_state_process): its timestamp is newer than the
// last one seen or, without timestamps, it starts beyond what this
// incarnation received.
func (c *Conn) AcceptsNewIncarnation(seg *wire.Segment) bool {
	if c.state != TimeWait {
		return false
	}
	if c.tsOK && seg.Options.Has.Has(wire.OptTimestamps) {
		return int32(seg.Options.TSVal-c.tsRecent) > 0
	}
	return Seq(seg.TCP.Seq()).GT(c.irs.Add(int(uint32(c.rcvNxt))))
}

// RequestACK asks for an ACK to be sent at the next poll, for owners that
// need to send options on a pure ACK (a DATA_ACK, an ADD_ADDR, the
// acknowledgment of an MP_JOIN third ACK). In SYN-RECEIVED the ACK waits
// for the handshake to complete: an MP_JOIN peer would take an earlier one
// for the acknowledgment of its third ACK (RFC 8684 §3.2).
func (c *Conn) RequestACK() {
	if c.state.synchronized() || c.state == SynReceived {
		c.ackNow = true
	}
}

// RequestPureACK asks for an ACK without payload ahead of any data, for
// owner options that may not ride on data (ADD_ADDR and its echo, RFC
// 8684 §3.4.1), which Linux sends on a dedicated ACK at once.
func (c *Conn) RequestPureACK() {
	if c.state.synchronized() || c.state == SynReceived {
		c.ackNow, c.pureACKNow = true, true
	}
}

// WindowOpened tells the connection that the owner's receive window has
// grown (the application read data). An update is sent when the announced
// window would grow by at least two segments or half the maximum window
// (RFC 9293 §3.8.6.2.2, receiver-side SWS avoidance).
func (c *Conn) WindowOpened() {
	switch c.state {
	case Established, FinWait1, FinWait2:
	default:
		// After the peer's FIN no more data can come: an update would
		// only draw a RST from a peer that closed (TIME-WAIT, LAST-ACK).
		return
	}
	newEdge := c.rcvNxt + uint64(c.announceableWindow())
	if newEdge > c.rcvAdv && int(newEdge-c.rcvAdv) >= min(2*c.cfg.MSS, c.cfg.MaxWindow/2) {
		c.ackNow = true
	}
}

// Consumed tells the connection that the application read data; drained
// means it read everything received in order. A delayed ACK then goes out
// at once, as Linux's tcp_cleanup_rbuf sends it, when more than a segment
// is unacknowledged, or when the reader emptied the queue and the data
// ended with a pushed segment (a short one, as Linux judges it, or one
// with PSH: the sender had nothing more queued), so that the sender does
// not wait out the delayed-ACK timer. An MPTCP sender would otherwise
// hold, for the timer's 40 ms, the bytes its other subflows carried
// meanwhile, since a subflow's TCP retransmission repeats them.
func (c *Conn) Consumed(drained bool) {
	if !c.ackPending || !c.state.synchronized() {
		return
	}
	if c.rcvNxt-c.lastAckSent > uint64(max(c.rcvMSS, 1)) || drained && c.pushed {
		c.ackNow = true
	}
}

func (c *Conn) announceableWindow() int {
	w := min(max(c.owner.ReceiveWindow(), 0), c.cfg.MaxWindow)
	return min(w, 0xffff<<c.rcvShift)
}

// enterClosed moves to CLOSED and reports it once.
func (c *Conn) enterClosed(now time.Duration, err error) {
	c.state = Closed
	c.armed = 0
	if !c.closedReported {
		c.closedReported = true
		c.owner.Event(now, Event{Kind: EventClosed, Err: err})
	}
}

func (c *Conn) seqOf(off uint64) Seq { return c.iss.Add(int(uint32(off))) }

// ackOffset converts an acknowledgment number to a send offset near sndUna.
func (c *Conn) ackOffset(ack Seq) (uint64, bool) {
	d := ack.Sub(c.seqOf(c.sndUna))
	if d < 0 && uint64(-d) > c.sndUna {
		return 0, false
	}
	return uint64(int64(c.sndUna) + int64(d)), true
}

// rcvOffset converts a received sequence number to a receive offset near
// rcvNxt.
func (c *Conn) rcvOffset(s Seq) (uint64, bool) {
	d := s.Sub(c.irs.Add(int(uint32(c.rcvNxt))))
	if d < 0 && uint64(-d) > c.rcvNxt {
		return 0, false
	}
	return uint64(int64(c.rcvNxt) + int64(d)), true
}

func (c *Conn) rcvSeq(off uint64) Seq { return c.irs.Add(int(uint32(off))) }

func (c *Conn) tsNow(now time.Duration) uint32 {
	return uint32(now/time.Millisecond) + c.tsOffset
}

// Timers.

func (c *Conn) arm(t timerKind, at time.Duration) {
	c.deadline[t] = at
	c.armed |= 1 << t
}

func (c *Conn) disarm(t timerKind) { c.armed &^= 1 << t }

func (c *Conn) isArmed(t timerKind) bool { return c.armed&(1<<t) != 0 }

// NextTimeout returns the earliest armed timer, and whether there is one.
// A pending transmission (an ACK to send, for example) is not a timer: the
// driver polls after every input anyway.
func (c *Conn) NextTimeout() (time.Duration, bool) {
	var next time.Duration
	found := false
	for t := timerKind(0); t < numTimers; t++ {
		if c.isArmed(t) && (!found || c.deadline[t] < next) {
			next, found = c.deadline[t], true
		}
	}
	return next, found
}

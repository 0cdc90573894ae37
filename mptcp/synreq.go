package mptcp

import (
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/cc"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// A listener answers a SYN with a small request record and builds the
// connection only when the third ACK arrives, as Linux keeps request
// sockets: a half-open connection costs about 150 bytes instead of a
// connection with its subflow (2.6 KB), so a SYN is cheap, a SYN flood is
// bounded by Config.MaxSynBacklog, and the garbage collector has little to
// trace. The SYN/ACKs are built in one scratch tcp.Conn, so they are the
// bytes the connection itself would send.

// synAckRetries is how often a SYN/ACK is retransmitted before the request
// is dropped (Linux tcp_synack_retries).
const synAckRetries = 5

// synRequest is one half-open passive connection.
type synRequest struct {
	k        fourTuple
	p        tcp.SynParams
	iss      tcp.Seq
	tsOffset uint32
	sentAt   time.Duration // the first SYN/ACK
	sent     bool
	queued   bool // a SYN/ACK is waiting for PollTransmit
	retries  uint8
	gone     bool // answered, reset or expired; the queues skip it
	// MP_CAPABLE: our key, and whether the peer asked for checksums.
	mpc          bool
	peerCsum     bool
	key          uint64
	token        uint32
	idsn         uint64
	localID      uint8
	join         bool
	conn         *Conn // the connection an MP_JOIN joins
	localNonce   uint32
	remoteNonce  uint32
	remoteID     uint8
	remoteBackup bool
}

// reqTimers holds the requests' deadlines: level r lists, in the order
// they were filed, the requests waiting for their (r+1)th SYN/ACK
// retransmission, all with the same delay (the initial RTO << r), so each
// level is ordered and every operation is O(1).
type reqTimers [synAckRetries + 1]struct {
	q    []reqTimer
	head int
}

type reqTimer struct {
	at time.Duration
	r  *synRequest
}

func (t *reqTimers) push(level int, at time.Duration, r *synRequest) {
	l := &t[level]
	if l.head > 0 && l.head == len(l.q) {
		l.q, l.head = l.q[:0], 0
	}
	l.q = append(l.q, reqTimer{at, r})
}

// live reports whether an entry of level still stands for its request.
func live(e reqTimer, level int) bool { return !e.r.gone && int(e.r.retries) == level }

// next returns the earliest live deadline.
func (t *reqTimers) next() (time.Duration, bool) {
	var at time.Duration
	found := false
	for level := range t {
		l := &t[level]
		for l.head < len(l.q) && !live(l.q[l.head], level) {
			l.q[l.head] = reqTimer{}
			l.head++
		}
		if l.head < len(l.q) && (!found || l.q[l.head].at < at) {
			at, found = l.q[l.head].at, true
		}
	}
	return at, found
}

// synAckRTO is the first SYN/ACK retransmission timeout (RFC 6298 §2.1).
func (ep *Endpoint) synAckRTO() time.Duration {
	if d := ep.cfg.TCP.InitialRTO; d > 0 {
		return d
	}
	return time.Second
}

// tokenInUse reports whether a connection or a request holds the token.
func (ep *Endpoint) tokenInUse(t uint32) bool {
	if _, ok := ep.tokens[t]; ok {
		return true
	}
	_, ok := ep.reqTokens[t]
	return ok
}

// synReceived answers a SYN to a listening port (an MP_JOIN SYN to any
// port): a new request, or the SYN/ACK again for a retransmitted SYN.
func (ep *Endpoint) synReceived(now time.Duration, seg *wire.Segment, k fourTuple) {
	o := &seg.Options
	if r := ep.requests[k]; r != nil {
		if tcp.Seq(seg.TCP.Seq()) == r.p.IRS {
			if r.mpc && !o.Has.Has(wire.OptMPCapableSYN) {
				// The client gave MP_CAPABLE up on its SYN (blackhole.go):
				// perhaps the path drops our SYN/ACKs that carry it. It
				// takes any answer as plain TCP now, so answer as such
				// (Linux repeats the MP_CAPABLE SYN/ACK until the request
				// expires, a minute later).
				r.mpc = false
				if ep.reqTokens[r.token] == r {
					delete(ep.reqTokens, r.token)
				}
				ep.Stats.SynRequestsDowngraded++
			}
			ep.queueSynAck(r) // our SYN/ACK was lost
			return
		}
		ep.dropRequest(r) // a new attempt on the same 4-tuple
	}
	join := o.Has.Has(wire.OptMPJoinSYN) && !ep.cfg.DisableMPTCP
	if !join && !ep.listen[k.local.Port()] {
		ep.Stats.NoConnection++
		ep.reply(seg, 0, false)
		return
	}
	if len(ep.requests) >= ep.cfg.MaxSynBacklog {
		ep.Stats.SynBacklogDrops++ // the client retransmits its SYN
		return
	}
	r := &synRequest{k: k, p: tcp.SynParamsOf(seg), localID: ep.addrID(k.local.Addr())}
	r.iss, r.tsOffset = ep.isn.Initial(now, k.local, k.remote)
	switch {
	case join:
		c, ok := ep.tokens[o.MPJoin.Token]
		if !ok || c.closed || c.plainTCP || c.fallback {
			ep.Stats.JoinUnknownToken++
			ep.reply(seg, RstMPTCPError, true)
			return
		}
		r.join, r.conn = true, c
		r.remoteNonce, r.remoteID, r.remoteBackup = o.MPJoin.Nonce, o.MPJoin.AddrID, o.MPJoin.Backup
		r.localNonce = uint32(ep.rng.Uint64())
	case !ep.cfg.DisableMPTCP && o.Has.Has(wire.OptMPCapableSYN):
		key, token, idsn, ok := wire.GenerateKey(ep.cfg.Rand, ep.tokenInUse)
		if !ok {
			ep.reply(seg, RstNoResources, false)
			return
		}
		r.mpc, r.key, r.token, r.idsn = true, key, token, idsn
		r.peerCsum = o.MPCapable.Flags&wire.MPCChecksumRequired != 0
		ep.reqTokens[token] = r
	}
	ep.requests[k] = r
	ep.Stats.SynRequests++
	ep.reqTimers.push(0, now+ep.synAckRTO(), r)
	ep.queueSynAck(r)
}

func (ep *Endpoint) queueSynAck(r *synRequest) {
	if !r.queued {
		r.queued = true
		ep.synAcks = append(ep.synAcks, r)
	}
}

// dropRequest forgets a request.
func (ep *Endpoint) dropRequest(r *synRequest) {
	r.gone = true
	if ep.requests[r.k] == r {
		delete(ep.requests, r.k)
	}
	if r.mpc && ep.reqTokens[r.token] == r {
		delete(ep.reqTokens, r.token)
	}
}

// requestSegment handles a segment, other than a SYN, for a half-open
// connection (RFC 9293 §3.10.7.4 in SYN-RECEIVED).
func (ep *Endpoint) requestSegment(now time.Duration, seg *wire.Segment, r *synRequest) {
	flags := seg.TCP.Flags()
	switch {
	case flags&wire.FlagRST != 0:
		// Only an exact RST ends it (RFC 5961 §3: no blind resets).
		if tcp.Seq(seg.TCP.Seq()) == r.p.IRS.Add(1) {
			ep.dropRequest(r)
			ep.Stats.SynRequestsReset++
		}
	case flags&wire.FlagACK == 0:
		// Nothing to act on before the handshake completes.
	case tcp.Seq(seg.TCP.Ack()) != r.iss.Add(1):
		ep.reply(seg, 0, false) // an unacceptable ACK: <SEQ=SEG.ACK><CTL=RST>
	default:
		ep.promote(now, seg, r)
	}
}

// promote builds the connection (or the joined subflow) of a request
// whose SYN/ACK the peer acknowledged, and hands it the segment, which
// completes the handshake as it would have on a connection made at the
// SYN.
func (ep *Endpoint) promote(now time.Duration, seg *wire.Segment, r *synRequest) {
	ep.dropRequest(r)
	k := r.k
	var c *Conn
	var sf *subflow
	if r.join {
		c = r.conn
		if c.closed || c.plainTCP || c.fallback {
			ep.Stats.JoinUnknownToken++
			ep.reply(seg, RstMPTCPError, true)
			return
		}
		sf = c.newSubflow(k.local, k.remote, false)
		sf.join = true
		sf.remoteNonce, sf.remoteID, sf.remoteBackup = r.remoteNonce, r.remoteID, r.remoteBackup
		sf.localNonce = r.localNonce
	} else {
		c = newConn(ep, false)
		if !r.mpc {
			c.plainTCP = true
			c.snd.start(1)
			c.una, c.sndNxt, c.sndMax = 1, 1, 1
			c.sndFB = linearMap{off: 1, dsn: 1}
			c.rcv.start(1, c.ofoCapacity())
			c.rcvFB, c.rcvLinear = linearMap{off: 1, dsn: 1}, true
			ep.Stats.PlainAccepted++
		} else {
			ep.setKey(c, r.key, r.token, r.idsn)
			c.csum = ep.cfg.Checksum || r.peerCsum
		}
		sf = c.newSubflow(k.local, k.remote, true)
	}
	sf.localID = r.localID
	sf.tcp = tcp.AcceptParams(now, c.tcpConfig(now), k.local, k.remote, r.p, r.iss, r.tsOffset, sf)
	sf.tcp.SynAckSent(now, r.sentAt, r.retries > 0)
	if !r.join {
		ep.addConn(c)
		ep.Stats.Accepted++
		ep.emit(Event{Kind: EventAccepted, Conn: c})
	}
	ep.addSubflow(sf)
	c.now = now
	sf.tcp.Handle(now, seg)
	ep.markDirty(c)
}

// requestTimeouts retransmits due SYN/ACKs and drops requests that had
// all their retransmissions.
func (ep *Endpoint) requestTimeouts(now time.Duration) {
	for level := range ep.reqTimers {
		l := &ep.reqTimers[level]
		for l.head < len(l.q) {
			e := l.q[l.head]
			if live(e, level) && e.at > now {
				break
			}
			l.q[l.head] = reqTimer{}
			l.head++
			if !live(e, level) {
				continue
			}
			r := e.r
			if int(r.retries) == synAckRetries {
				ep.dropRequest(r)
				ep.Stats.SynRequestsExpired++
				continue
			}
			r.retries++
			ep.Stats.SynAckRetransmits++
			ep.reqTimers.push(int(r.retries), now+ep.synAckRTO()<<r.retries, r)
			ep.queueSynAck(r)
		}
	}
}

// writeSynAck builds r's SYN/ACK into buf in the scratch connection: the
// same bytes a connection made at the SYN would send.
func (ep *Endpoint) writeSynAck(now time.Duration, r *synRequest, buf []byte) int {
	cfg := ep.cfg.TCP
	cfg.CC = ep.synCC
	cfg.Scratch = &ep.scratch
	cfg.SharedWindow = r.mpc || r.join
	ep.synOwner = synAckOwner{ep: ep, r: r}
	tcp.AcceptInto(&ep.synConn, now, cfg, r.k.local, r.k.remote, r.p, r.iss, r.tsOffset, &ep.synOwner)
	n := ep.synConn.PollTransmit(now, buf)
	if n > 0 && !r.sent {
		r.sent, r.sentAt = true, now
	}
	return n
}

// synAckOwner supplies the request's options and window to the scratch
// connection; nothing else is ever asked of it.
type synAckOwner struct {
	ep *Endpoint
	r  *synRequest
}

func (o *synAckOwner) ReceiveData(uint64, []byte, *wire.Options) (cksum.Partial, bool) {
	return 0, false
}
func (o *synAckOwner) CommitData(uint64, int, cksum.Partial, *wire.Options) {}
func (o *synAckOwner) SegmentReceived(time.Duration, *wire.Segment) tcp.Verdict {
	return tcp.VerdictDrop
}
func (o *synAckOwner) ReceiveWindow() int                    { return o.ep.cfg.RecvBuffer }
func (o *synAckOwner) SendData(uint64, []byte) cksum.Partial { return 0 }
func (o *synAckOwner) Event(time.Duration, tcp.Event)        {}

// SegmentOptions writes MP_CAPABLE or MP_JOIN on the SYN/ACK, as a
// connection's subflow does (synOptions).
func (o *synAckOwner) SegmentOptions(_ time.Duration, out *tcp.Outgoing) {
	r, cfg := o.r, &o.ep.cfg
	opts := out.Options
	switch {
	case r.join:
		c := r.conn
		opts.Has |= wire.OptMPJoinSYNACK
		opts.MPJoin = wire.MPJoin{AddrID: r.localID, Nonce: r.localNonce,
			TruncatedHMAC: wire.JoinHMAC64(c.localKey, c.remoteKey, r.localNonce, r.remoteNonce)}
	case r.mpc:
		opts.Has |= wire.OptMPCapableSYNACK
		opts.MPCapable = wire.MPCapable{Version: wire.MPTCPVersion, Flags: mpcFlags(cfg, false), SenderKey: r.key}
	}
}

// newSynCC is the scratch connection's congestion controller: never used
// to send data, but a Conn must have one.
func newSynCC(cfg Config) cc.Controller { return cc.NewReno(max(cfg.TCP.MSS, 536)) }

package mptcp

import (
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/tcp"
)

// Middleboxes that drop SYNs carrying MP_CAPABLE (RFC 8684 §3.1: "It is
// expected that a sender will eventually fall back to single-path TCP
// ... in order to work around middleboxes that may drop packets with
// unknown options"). As Linux does (INTEROP B.1):
//
//   - Dial's SYN is resent with MP_CAPABLE SYNRetransBeforeFallback times,
//     then without it (mpcDropped; MPCapableSYNTXDrop);
//   - if the first SYN without it is answered, MPTCP was what the path
//     dropped: a blackhole (Blackholes). For BlackholeTimeout, doubled for
//     each blackhole found in a row up to 64 times, Dial opens plain TCP
//     connections (MPCapableSYNTXDisabled); a SYN/ACK with MP_CAPABLE
//     ends the series. If that SYN needed a retransmission too, the path
//     was merely slow to come up, and nothing is recorded.
//
// Beyond Linux: if the SYN without MP_CAPABLE goes unanswered too, and Dial
// chose the port, the next retransmission leaves the 4-tuple (SYNPortMoves):
// a Linux listener holds an MPTCP request for it and answers every SYN on it
// with an MP_CAPABLE SYN/ACK until the request expires, a minute later, so a
// path that drops MPTCP SYN/ACKs would connect only then. From a new port
// the SYN makes a plain request. An answer to that first SYN is a blackhole
// too. The SYN schedule and the point of giving up go on unchanged
// (tcp.Conn.Redial).

// errActiveDisabled is the Fallback reason of a connection Dial opened as
// plain TCP in blackhole mode.
var errActiveDisabled = &FallbackError{Reason: "MP_CAPABLE not tried: a recent connection's SYNs with it were dropped (blackhole mode)"}

// maxBlackholeShift caps the doubling of the blackhole period (Linux: 2^6).
const maxBlackholeShift = 6

// activeDisabled reports whether Dial must leave MP_CAPABLE out.
func (ep *Endpoint) activeDisabled(now time.Duration) bool {
	if ep.cfg.BlackholeTimeout <= 0 || ep.blackholes == 0 {
		return false
	}
	period := ep.cfg.BlackholeTimeout << min(ep.blackholes-1, maxBlackholeShift)
	return now-ep.blackholeAt < period
}

// dropMPCapable reports whether the initial SYN being sent goes without
// MP_CAPABLE, and counts the connection the first time.
func (c *Conn) dropMPCapable(sf *subflow) bool {
	n := c.ep.cfg.SYNRetransBeforeFallback
	if n < 0 || sf.tcp.SYNRetransmits() <= n {
		return false
	}
	if !c.mpcDropped {
		c.mpcDropped = true
		c.ep.Stats.MPCapableSYNTXDrop++
	}
	return true
}

// synAckAfterDrop handles the SYN/ACK of a connection whose SYN went out
// without MP_CAPABLE, and returns the connection's fallback reason. Only
// an answer to the first such SYN marks a blackhole: a later one means
// SYNs without MP_CAPABLE were lost too.
func (c *Conn) synAckAfterDrop(now time.Duration, sf *subflow) *FallbackError {
	first := c.ep.cfg.SYNRetransBeforeFallback + 1 // the first SYN without MP_CAPABLE
	if c.portMoved {
		first++ // the first SYN from the new port
	}
	if sf.tcp.SYNRetransmits() == first && c.ep.cfg.BlackholeTimeout > 0 {
		c.ep.blackholes++
		c.ep.blackholeAt = now
		c.ep.Stats.Blackholes++
		if c.portMoved {
			return &FallbackError{Reason: "no SYN/ACK to SYNs with MP_CAPABLE nor to the SYN without it on their 4-tuple; a SYN from a new port was answered (blackhole)"}
		}
		return &FallbackError{Reason: "SYNs with MP_CAPABLE were dropped; the SYN without it was answered (blackhole)"}
	}
	return &FallbackError{Reason: "SYNs with MP_CAPABLE went unanswered; connected without it"}
}

// mptcpWorked ends a series of blackholes: a SYN/ACK with MP_CAPABLE came
// back. Over loopback it says nothing about the network's middleboxes.
func (c *Conn) mptcpWorked() {
	if !c.remoteAddr.Addr().IsLoopback() {
		c.ep.blackholes = 0
	}
}

// maybeMovePort resends Dial's SYN from a new port when the SYN without
// MP_CAPABLE went unanswered too (see above). It runs after the subflow's
// timer, before the retransmitted SYN goes out.
func (c *Conn) maybeMovePort(now time.Duration, sf *subflow) {
	if !sf.initial || !c.client || !c.mpcDropped || !c.portChosen || c.portMoved ||
		sf.tcp.State() != tcp.SynSent || sf.tcp.SYNRetransmits() != c.ep.cfg.SYNRetransBeforeFallback+2 {
		return
	}
	ep := c.ep
	p, err := ep.ephemeralPort(now, sf.local.Addr(), sf.remote)
	if err != nil {
		return // the SYN goes out from the old port
	}
	ep.removeSubflow(sf)
	local := netip.AddrPortFrom(sf.local.Addr(), p)
	iss, tsOffset := ep.isn.Initial(now, local, sf.remote)
	sf.tcp.Redial(now, local, iss, tsOffset)
	sf.local, c.localAddr = local, local
	ep.addSubflow(sf)
	c.portMoved = true
	ep.Stats.SYNPortMoves++
}

package mptcp

import (
	"errors"
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/pm"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// Errors of the path-management methods.
var (
	ErrNotMPTCP        = errors.New("mptcp: the connection does not speak MPTCP")
	ErrNotEstablished  = errors.New("mptcp: the connection is not fully established yet")
	ErrTooManySubflows = errors.New("mptcp: subflow limit reached")
	ErrNoSuchSubflow   = errors.New("mptcp: no such subflow")
)

// OpenSubflow joins a new subflow from local (port 0 picks an ephemeral
// port) to remote with MP_JOIN (RFC 8684 §3.2). It returns the subflow's
// ID. The subflow carries data once the peer acknowledges the third ACK.
func (c *Conn) OpenSubflow(now time.Duration, local, remote netip.AddrPort, backup bool) (int, error) {
	switch {
	case c.plainTCP || c.fallback:
		return 0, ErrNotMPTCP
	case !c.fullyEstablished:
		return 0, ErrNotEstablished
	case c.activeSubflows() >= c.ep.cfg.MaxSubflows:
		return 0, ErrTooManySubflows
	}
	if local.Port() == 0 {
		p, err := c.ep.ephemeralPort(now, local.Addr(), remote)
		if err != nil {
			return 0, err
		}
		local = netip.AddrPortFrom(local.Addr(), p)
	}
	sf := c.newSubflow(local, remote, false)
	sf.join, sf.joiner, sf.backup = true, true, backup
	sf.localNonce = uint32(c.ep.rng.Uint64())
	sf.localID = c.ep.addrID(local.Addr())
	cfg := c.tcpConfig(now)
	iss, tsOffset := c.ep.isn.Initial(now, local, remote)
	sf.tcp = tcp.Dial(now, cfg, local, remote, iss, tsOffset, sf)
	c.ep.addSubflow(sf)
	c.wake()
	return sf.id, nil
}

// CloseSubflow closes one subflow with a FIN; its unacknowledged data is
// resent on the others.
func (c *Conn) CloseSubflow(id int) error {
	sf := c.subflowByID(id)
	if sf == nil || sf.closed {
		return ErrNoSuchSubflow
	}
	c.reinjectFrom(sf)
	sf.stale = true // no new data
	sf.tcp.Close()
	c.wake()
	return nil
}

// ResetSubflow aborts one subflow with a RST carrying MP_TCPRST (reason
// 0, unspecified, as Linux's `ss -K` does); its unacknowledged data is
// resent on the others and the connection continues (INTEROP B.9).
func (c *Conn) ResetSubflow(id int) error {
	sf := c.subflowByID(id)
	if sf == nil || sf.closed {
		return ErrNoSuchSubflow
	}
	c.reinjectFrom(sf)
	sf.reset(RstUnspecified)
	c.wake()
	return nil
}

// SetBackup changes our priority for a subflow and tells the peer with
// MP_PRIO (RFC 8684 §3.3.8).
func (c *Conn) SetBackup(id int, backup bool) error {
	sf := c.subflowByID(id)
	if sf == nil || sf.closed {
		return ErrNoSuchSubflow
	}
	if sf.backup != backup {
		sf.backup = backup
		sf.prioPending = true
		sf.tcp.RequestACK()
		c.wake()
	}
	return nil
}

// Announce advertises a local address (port 0: the connection's port)
// with ADD_ADDR (RFC 8684 §3.4.1), retransmitted until echoed, at most 4
// times (INTEROP B.6).
func (c *Conn) Announce(now time.Duration, id uint8, addr netip.AddrPort) error {
	if c.plainTCP || c.fallback {
		return ErrNotMPTCP
	}
	a := wire.AddAddr{ID: id, Addr: addr.Addr(), Port: addr.Port(), HasPort: addr.Port() != 0}
	a.HMAC = wire.AddAddrHMAC(c.localKey, c.remoteKey, id, a.Addr, a.Port)
	c.announce = append(c.announce, announcement{a: a})
	c.requestSignal()
	return nil
}

// Withdraw removes an announced address with REMOVE_ADDR (RFC 8684
// §3.4.2) and closes our subflows from it.
func (c *Conn) Withdraw(id uint8) error {
	if c.plainTCP || c.fallback {
		return ErrNotMPTCP
	}
	for _, sf := range c.subflows {
		if sf.closed {
			continue
		}
		if sf.localID == id && !sf.initial {
			c.reinjectFrom(sf)
			sf.stale = true
			sf.tcp.Close()
		}
	}
	for _, sf := range c.subflows {
		if c.usable(sf) {
			if sf.nremove < len(sf.removeIDs) {
				sf.removeIDs[sf.nremove] = id
				sf.nremove++
			}
			sf.removePending = true
			sf.tcp.RequestACK()
			break
		}
	}
	c.wake()
	return nil
}

// requestSignal asks a usable subflow to send a pure ACK that can carry
// the pending signals.
func (c *Conn) requestSignal() {
	for _, sf := range c.subflows {
		if c.usable(sf) {
			sf.tcp.RequestPureACK()
			break
		}
	}
	c.wake()
}

// addAddrOut returns the ADD_ADDR to send now on sf, if one is due.
func (c *Conn) addAddrOut(sf *subflow) *wire.AddAddr {
	for i := range c.announce {
		a := &c.announce[i]
		if a.echoed || a.sent >= 4 || (a.sent > 0 && c.now < a.nextAt) {
			continue
		}
		a.onSF = sf
		return &a.a
	}
	return nil
}

// addAddrSent records that the due ADD_ADDR left on sf, and schedules its
// retransmission (RTT-based, capped by AddAddrTimeout; INTEROP B.6).
func (c *Conn) addAddrSent(sf *subflow) {
	for i := range c.announce {
		a := &c.announce[i]
		if a.onSF == sf && !a.echoed && a.sent < 4 && (a.sent == 0 || c.now >= a.nextAt) {
			a.sent++
			d := min(max(2*sf.tcp.SRTT(), 200*time.Millisecond)<<(a.sent-1), c.ep.cfg.AddAddrTimeout)
			a.nextAt = c.now + d
			return
		}
	}
}

// addAddrReceived handles ADD_ADDR: an echo ends our retransmissions; an
// announcement with a valid HMAC is echoed and given to the path manager
// (an invalid HMAC is ignored silently, INTEROP A.10).
func (c *Conn) addAddrReceived(now time.Duration, sf *subflow, a *wire.AddAddr) {
	if a.Echo {
		for i := range c.announce {
			an := &c.announce[i]
			if an.a.ID == a.ID && an.a.Addr == a.Addr {
				an.echoed = true
			}
		}
		return
	}
	if a.HMAC != wire.AddAddrHMAC(c.remoteKey, c.localKey, a.ID, a.Addr, a.Port) {
		c.Stats.AddAddrBadHMAC++
		return
	}
	sf.echo = wire.AddAddr{Echo: true, ID: a.ID, Addr: a.Addr, Port: a.Port, HasPort: a.HasPort}
	sf.echoPending = true
	sf.tcp.RequestPureACK()
	if c.client && !c.fullyEstablished {
		c.fullyEstablished = true // a valid ADD_ADDR counts as the 4th ACK (INTEROP B.6)
		c.becameFullyEstablished(now)
	}
	port := a.Port
	if !a.HasPort {
		port = c.initialRemotePort()
	}
	ra := pm.RemoteAddr{ID: a.ID, Addr: netip.AddrPortFrom(a.Addr, port)}
	for _, r := range c.remoteAddrs {
		if r == ra {
			return
		}
	}
	if len(c.remoteAddrs) >= c.ep.cfg.MaxAddAddrAccepted {
		return
	}
	c.remoteAddrs = append(c.remoteAddrs, ra)
	c.pmEvent(now, pm.Event{Kind: pm.AddrAnnounced, AddrID: a.ID, Addr: ra.Addr})
}

// removeAddrReceived handles REMOVE_ADDR: subflows to those addresses
// close with a FIN, the connection continues (INTEROP B.9).
func (c *Conn) removeAddrReceived(now time.Duration, ids []uint8) {
	for _, id := range ids {
		for _, sf := range c.subflows {
			if !sf.closed && sf.remoteID == id && !sf.initial {
				c.reinjectFrom(sf)
				sf.stale = true
				sf.tcp.Close()
			}
		}
		k := 0
		for _, r := range c.remoteAddrs {
			if r.ID != id {
				c.remoteAddrs[k] = r
				k++
			}
		}
		c.remoteAddrs = c.remoteAddrs[:k]
		c.pmEvent(now, pm.Event{Kind: pm.AddrRemoved, AddrID: id})
	}
	c.wake()
}

func (c *Conn) initialRemotePort() uint16 {
	for _, sf := range c.subflows {
		if sf.initial {
			return sf.remote.Port()
		}
	}
	return 0
}

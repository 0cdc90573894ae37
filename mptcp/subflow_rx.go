package mptcp

import (
	"sort"
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// --- tcp.Owner: receiving -----------------------------------------------

// ReceiveWindow implements tcp.Owner: the connection-level window,
// relative to the DATA_ACK and shared by all subflows (RFC 8684 §3.3.5).
func (sf *subflow) ReceiveWindow() int { return sf.c.rcv.window() }

func (sf *subflow) piece(off uint64) *rxPiece {
	ep := sf.c.ep
	for k := 0; k < len(ep.pieces); k++ {
		p := &ep.pieces[(ep.npieces-1-k+len(ep.pieces))%len(ep.pieces)]
		if p.sf != sf {
			continue
		}
		if p.off == off {
			return p
		}
	}
	return nil
}

func (sf *subflow) newPiece(off uint64, n int) *rxPiece {
	ep := sf.c.ep
	p := &ep.pieces[ep.npieces%len(ep.pieces)]
	ep.npieces++
	*p = rxPiece{sf: sf, off: off, n: n}
	return p
}

// ReceiveData implements tcp.Owner: place the payload at the data
// sequence numbers its mapping gives (RFC 8684 §3.3.1), copying only what
// the connection does not hold yet, and return the sum of all of it (which
// serves the TCP checksum and, accumulated, the DSS checksum).
//
// The segment is not verified yet (its checksum is computed from this very
// sum), so nothing here may change the connection's state: the mapping the
// segment announces is only used to place the bytes, and registered, or
// acted upon (a fallback, an infinite mapping, a conflict), in CommitData.
func (sf *subflow) ReceiveData(off uint64, data []byte, opts *wire.Options) (cksum.Partial, bool) {
	c := sf.c
	p := sf.newPiece(off, len(data))
	if c.plainTCP || c.rcvLinear && off >= c.rcvFB.off {
		dsn := c.rcvFB.dsn + (off - c.rcvFB.off)
		sum, ok := c.rcv.copyIn(dsn, data)
		p.linear, p.mapped, p.dsn, p.msum, p.stored = true, len(data), dsn, sum, ok
		return sum, ok
	}
	if !c.rcv.started {
		if !opts.Has.Any(wire.OptMPCapableACK | wire.OptMPCapableData) {
			return cksum.Sum(data, 0), false // no key yet: nowhere to put the data
		}
		// The first data completes the handshake: the receive side starts
		// from the key it carries (start is idempotent for the right key,
		// and nothing is committed before the checksum verifies).
		_, idsn := wire.TokenAndIDSN(opts.MPCapable.SenderKey)
		c.rcv.start(idsn+1, c.ofoCapacity())
	}
	if d := &opts.DSS; opts.Has.Has(wire.OptDSS) && d.HasMap() && d.DataLen == 0 {
		// An infinite mapping: the peer fell back, and this data is linear
		// from the subflow and data sequence numbers the option gives.
		p.infinite = true
		p.infSSN, p.infDSN = expandOff(off, d.SubflowSeq), sf.expandDSN(d)
		if off < p.infSSN {
			return cksum.Sum(data, 0), false
		}
		dsn := p.infDSN + (off - p.infSSN)
		sum, ok := c.rcv.copyIn(dsn, data)
		p.mapped, p.dsn, p.msum, p.stored = len(data), dsn, sum, ok
		return sum, ok
	}
	var m *recvMapping
	if om, ok := sf.optionMapping(opts, off); ok {
		switch i, conflict := sf.findMapping(&om); {
		case conflict:
			p.conflict = true
			return cksum.Sum(data, 0), true // acted upon once verified
		case i >= 0:
			m = &sf.rmaps[i]
			p.finJoins, p.finCsum = om.fin && !m.fin, om.csum
		case len(sf.rmaps) >= maxRecvMappings:
			return cksum.Sum(data, 0), false // too many open mappings: the peer resends later
		default:
			p.newMap, p.hasNewMap = om, true
			m = &p.newMap
		}
	} else if i := sf.recvMappingAt(off); i >= 0 {
		m = &sf.rmaps[i]
	}
	if m == nil || off < m.ssn || off >= m.end() {
		return sf.unmappedData(p, off, data)
	}
	mapped := min(len(data), int(m.end()-off))
	if mapped < len(data) && !c.csum {
		// The segment runs past its mapping (a middlebox coalesced it with
		// the next one, whose mapping is lost): take the mapped part only
		// when the rest can be left to the data level; with checksums the
		// next mapping would never complete, so the whole is refused.
	} else if mapped < len(data) {
		return sf.unmappedData(p, off, data)
	}
	sf.unmapped = 0
	dsn := m.dsn + (off - m.ssn)
	if c.csum && !m.pendingFits(dsn, dsn+uint64(mapped)) {
		// Too many separate pieces wait for this mapping's checksum: do
		// not take this one now (the peer resends it once the holes fill).
		return cksum.Sum(data, 0), false
	}
	if c.csum {
		c.evictPending(dsn, dsn+uint64(mapped), m)
	}
	msum, stored := c.rcv.copyIn(dsn, data[:mapped])
	sum := msum
	if mapped < len(data) {
		sum = cksum.CombineAt(sum, cksum.Sum(data[mapped:], 0), mapped)
	}
	p.mapped, p.mssn, p.hasMap, p.dsn, p.msum, p.stored = mapped, m.ssn, true, dsn, msum, stored
	if !stored {
		// No room: do not acknowledge, the peer resends. With checksums too:
		// Linux's MPTCP retransmission resends a whole fragment, past the
		// announced window (INTEROP B.10), and bytes acknowledged at the
		// TCP level but not stored would be lost to the data level.
		return sum, false
	}
	return sum, true
}

// CommitData implements tcp.Owner: the segment verified. Its mapping is
// registered (or its fallback, infinite mapping or conflict acted upon),
// and its bytes belong to the connection — at once without DSS checksums,
// once the whole mapping verifies with them.
func (sf *subflow) CommitData(off uint64, n int, _ cksum.Partial, _ *wire.Options) {
	c := sf.c
	p := sf.piece(off)
	if p == nil || p.n != n {
		return
	}
	switch {
	case p.conflict:
		c.Stats.MappingMismatch++
		sf.invalidMapping("a different mapping for bytes already mapped")
		return
	case p.unmapped:
		c.Stats.UnmappedBytes += uint64(n)
		return
	case p.resetNoDSS:
		sf.reset(RstMiddlebox)
		return
	case p.fallbackStart:
		if !c.fallback {
			c.rcvFB, c.rcvLinear = linearMap{off: off, dsn: p.dsn}, true
			c.enterFallback(&FallbackError{Reason: "data without a DSS mapping"}, sf, false)
		}
		if p.stored {
			c.commitData(sf, p.dsn, p.mapped)
		}
		return
	case p.infinite:
		c.infiniteMappingReceived(sf, p.infSSN, p.infDSN)
		if p.stored {
			c.commitData(sf, p.dsn, p.mapped)
		}
		return
	case p.linear:
		if p.stored {
			c.commitData(sf, p.dsn, p.mapped)
		}
		return
	}
	if p.hasNewMap && !sf.registerMapping(&p.newMap) {
		return
	}
	if !p.hasMap {
		return
	}
	mi := sf.recvMappingAt(p.mssn)
	if mi < 0 {
		return
	}
	m := &sf.rmaps[mi]
	if p.finJoins && !m.fin {
		// The DATA_FIN joined the mapping: it ends the stream once the
		// mapping completes, and with checksums the length it adds is in
		// the checksum of the announcement that carried it (§3.3.1).
		m.fin, m.csum = true, p.finCsum
	}
	c.Stats.UnmappedBytes += uint64(p.n - p.mapped)
	if !c.csum {
		if p.stored {
			c.commitData(sf, p.dsn, p.mapped)
		}
		m.got += uint32(p.mapped)
		if m.got >= m.dataLen {
			sf.mappingDone(m)
		}
		return
	}
	m.sum = cksum.CombineAt(m.sum, p.msum, int(off-m.ssn))
	m.got += uint32(p.mapped)
	if p.stored && p.mapped > 0 {
		m.addPending(p.dsn, p.dsn+uint64(p.mapped)) // room was checked in ReceiveData
	}
	if m.got >= m.dataLen {
		sf.verifyMapping(m)
	}
}

// unmappedLimit is how often the same bytes may arrive without a mapping
// before the subflow is judged broken: a middlebox strips or loses the
// DSS options (coalescing two segments keeps only the first's).
const unmappedLimit = 3

// unmappedData handles payload that no mapping covers (RFC 8684 §3.3.1,
// §3.7). Before any mapping, the peer or a middlebox does not speak MPTCP
// on this path: fall back at once (INTEROP B.2, MPCapableDataFallback).
// Later, the bytes are refused — not acknowledged, so the peer resends
// them, and the mapping usually comes with the resent segment (reordered
// or split segments) — until unmappedLimit refusals show the mapping is
// lost for good: then fall back while that is allowed, with the data
// continuing linearly after the last mapping (a single subflow's mappings
// are contiguous), else reset the subflow with MP_TCPRST reason 6, as
// Linux does for MAPPING_NODSS, and the peer resends its data elsewhere.
func (sf *subflow) unmappedData(p *rxPiece, off uint64, data []byte) (cksum.Partial, bool) {
	c := sf.c
	fallbackOK := sf.initial && c.canFallback() && !c.fallback
	if fallbackOK && (!sf.sawMapping || sf.unmapped >= unmappedLimit && off == sf.tcp.ReceiveNext()) {
		dsn := c.rcv.nxt()
		if i := sort.Search(len(sf.rmaps), func(i int) bool { return sf.rmaps[i].ssn > off }); i > 0 {
			prev := &sf.rmaps[i-1]
			dsn = prev.dsn + (off - prev.ssn)
		} else if sf.sawMapping && sf.lastMapEnd == off {
			dsn = sf.lastMapDSNEnd
		}
		p.fallbackStart = true
		sum, ok := c.rcv.copyIn(dsn, data)
		p.mapped, p.dsn, p.msum, p.stored = len(data), dsn, sum, ok
		return sum, ok
	}
	sf.unmapped++
	if sf.unmapped > unmappedLimit && !fallbackOK {
		p.resetNoDSS = true
		return cksum.Sum(data, 0), true
	}
	return cksum.Sum(data, 0), false
}

// findMapping looks a mapping up in the table: its index if the same
// mapping is registered, -1 if it is new, and conflict if it contradicts
// a registered one (INTEROP A.13).
func (sf *subflow) findMapping(m *recvMapping) (int, bool) {
	i := sort.Search(len(sf.rmaps), func(i int) bool { return sf.rmaps[i].ssn > m.ssn })
	if i > 0 {
		o := &sf.rmaps[i-1]
		if o.ssn == m.ssn {
			return i - 1, !o.same(m)
		}
		if o.end() > m.ssn && !o.finished {
			return -1, true
		}
	}
	if i < len(sf.rmaps) && m.end() > sf.rmaps[i].ssn {
		return -1, true
	}
	return -1, false
}

// optionMapping extracts the mapping a segment announces, with the subflow
// sequence widened to 64 bits near off and a 32-bit DSN widened near the
// DATA_ACK (INTEROP A.12).
func (sf *subflow) optionMapping(o *wire.Options, off uint64) (recvMapping, bool) {
	c := sf.c
	var m recvMapping
	switch {
	case o.Has.Has(wire.OptDSS) && o.DSS.HasMap():
		d := &o.DSS
		if d.DataLen == 0 {
			return m, false // an infinite mapping: handled in SegmentReceived
		}
		m.dsn = d.DSN
		if d.Flags&wire.DSSDSN64 == 0 {
			m.dsn = wire.ExpandSeq32(c.rcv.nxt(), uint32(d.DSN))
		}
		m.ssn = expandOff(off, d.SubflowSeq)
		m.fin = d.DataFIN()
		m.dataLen = uint32(d.DataLen)
		if m.fin {
			m.dataLen--
		}
		m.hasCsum, m.csum = d.HasChecksum, d.Checksum
	case o.Has.Has(wire.OptMPCapableData):
		// The client's first data carries the implicit mapping DSN =
		// IDSN+1 of the key it carries, subflow sequence 1 (INTEROP A.1).
		_, idsn := wire.TokenAndIDSN(o.MPCapable.SenderKey)
		m.dsn, m.ssn, m.dataLen = idsn+1, 1, uint32(o.MPCapable.DataLen)
		m.hasCsum, m.csum = o.MPCapable.HasChecksum, o.MPCapable.Checksum
	default:
		return m, false
	}
	return m, true
}

// expandOff widens a 32-bit relative subflow sequence number to the 64-bit
// offset nearest ref.
func expandOff(ref uint64, v uint32) uint64 {
	d := int64(int32(v - uint32(ref)))
	if d < 0 && uint64(-d) > ref {
		return uint64(v)
	}
	return uint64(int64(ref) + d)
}

// registerMapping records a mapping the peer announced. Re-announcing the
// same mapping is normal (every segment of it repeats it); a different
// mapping for bytes already mapped is invalid (INTEROP A.13,
// DSSNotMatching). It reports whether the segment's data may be taken.
func (sf *subflow) registerMapping(m *recvMapping) bool {
	c := sf.c
	if c.csum != m.hasCsum {
		// Checksum presence different from what was negotiated: treated as
		// an invalid mapping (INTEROP B.2).
		c.Stats.MappingMismatch++
		sf.invalidMapping("DSS checksum presence does not match the negotiation")
		return false
	}
	sf.sawMapping = true
	switch i, conflict := sf.findMapping(m); {
	case conflict:
		c.Stats.MappingMismatch++
		sf.invalidMapping("a different mapping for bytes already mapped")
		return false
	case i >= 0:
		return true
	}
	// The first mapping starting after m.ssn.
	i := sort.Search(len(sf.rmaps), func(i int) bool { return sf.rmaps[i].ssn > m.ssn })
	if m.end() <= sf.tcp.ReceiveNext() && !c.csum {
		return true // old bytes: a retransmission of a mapping already done
	}
	if len(sf.rmaps) >= maxRecvMappings {
		sf.pruneMappings()
		i = sort.Search(len(sf.rmaps), func(i int) bool { return sf.rmaps[i].ssn > m.ssn })
		if len(sf.rmaps) >= maxRecvMappings {
			return false // too many open mappings: let the peer resend later
		}
	}
	sf.rmaps = append(sf.rmaps, recvMapping{})
	copy(sf.rmaps[i+1:], sf.rmaps[i:])
	sf.rmaps[i] = *m
	return true
}

// recvMappingAt returns the index of the open mapping covering off, or -1.
func (sf *subflow) recvMappingAt(off uint64) int {
	i := sort.Search(len(sf.rmaps), func(i int) bool { return sf.rmaps[i].end() > off })
	if i < len(sf.rmaps) && sf.rmaps[i].ssn <= off && !sf.rmaps[i].finished {
		return i
	}
	return -1
}

// pruneMappings forgets finished mappings.
func (sf *subflow) pruneMappings() {
	k := 0
	for i := range sf.rmaps {
		if sf.rmaps[i].finished {
			continue
		}
		if k != i {
			sf.rmaps[k] = sf.rmaps[i]
		}
		k++
	}
	sf.rmaps = sf.rmaps[:k]
}

// mappingDone finishes a mapping whose bytes all arrived (and verified).
func (sf *subflow) mappingDone(m *recvMapping) {
	m.finished = true
	if e := m.end(); e >= sf.lastMapEnd {
		sf.lastMapEnd, sf.lastMapDSNEnd = e, m.dsn+uint64(m.dataLen)
	}
	if m.fin {
		sf.c.peerDataFIN(m.dsn + uint64(m.dataLen))
	}
	// Finished mappings at the front go at once; the others when the
	// table fills.
	k := 0
	for k < len(sf.rmaps) && sf.rmaps[k].finished {
		k++
	}
	if k > 0 {
		n := copy(sf.rmaps, sf.rmaps[k:])
		sf.rmaps = sf.rmaps[:n]
	}
}

// verifyMapping checks the DSS checksum of a complete mapping (RFC 8684
// §3.3.1, INTEROP A.11) and either hands its bytes to the connection or
// handles the failure (§3.7).
func (sf *subflow) verifyMapping(m *recvMapping) {
	c := sf.c
	n := m.dataLen
	if m.fin {
		n++
	}
	ph := cksum.DSSPseudoHeader(m.dsn, uint32(m.ssn), uint16(n)).Add16(m.csum)
	if cksum.Combine(ph, m.sum).Fold() != 0xffff {
		c.Stats.ChecksumFailures++
		m.npend = 0
		m.finished = true
		c.checksumFailed(sf, m.dsn)
		return
	}
	for i := 0; i < m.npend; i++ {
		c.commitData(sf, m.pend[i].start, int(m.pend[i].end-m.pend[i].start))
	}
	m.npend = 0
	sf.mappingDone(m)
}

// invalidMapping handles a protocol violation in the peer's mappings:
// fallback while it is still allowed, else a reset of the subflow with
// reason "MPTCP-specific error" (INTEROP B.2).
func (sf *subflow) invalidMapping(why string) {
	c := sf.c
	if sf.initial && c.canFallback() && !c.fallback {
		c.rcvFB, c.rcvLinear = linearMap{off: sf.tcp.ReceiveNext(), dsn: c.rcv.nxt()}, true
		c.enterFallback(&FallbackError{Reason: why}, sf, true)
		return
	}
	sf.reset(RstMPTCPError)
}

// --- tcp.Owner: options of received segments ------------------------------

// SegmentReceived implements tcp.Owner: act on the MPTCP options of a
// verified, acceptable segment.
func (sf *subflow) SegmentReceived(now time.Duration, seg *wire.Segment) tcp.Verdict {
	c := sf.c
	o := &seg.Options
	flags := seg.TCP.Flags()
	c.lastActivity = now
	if c.plainTCP {
		return tcp.VerdictAccept
	}
	if flags&wire.FlagRST != 0 {
		sf.resetReceived(o)
		return tcp.VerdictAccept
	}
	if flags&wire.FlagSYN != 0 {
		return sf.synAckReceived(now, o)
	}
	if c.fallback && c.rcvLinear && !c.announceInfinite {
		return tcp.VerdictAccept
	}
	// A repeated MP_JOIN third ACK: our acknowledgment of it was lost.
	if sf.join && !sf.joiner && sf.joinConfirmed && o.Has.Has(wire.OptMPJoinACK) {
		sf.tcp.RequestPureACK()
	}
	// Handshake completion on the passive side.
	if sf.tcp.State() == tcp.SynReceived {
		if v := sf.thirdAckReceived(now, o, seg.PayloadLen() > 0); v != tcp.VerdictAccept {
			return v
		}
		if c.fallback {
			return tcp.VerdictAccept
		}
	}
	if sf.join && sf.joiner && !sf.joinConfirmed && sf.joinAckSent {
		sf.joinConfirmed = true // the "4th ACK" (RFC 8684 §3.2)
		c.subflowUsable(now, sf)
	}
	if o.Has.Has(wire.OptFastClose) {
		if o.FastClose.ReceiverKey == c.localKey {
			c.fastCloseReceived(now)
			return tcp.VerdictDrop
		}
	}
	if o.Has.Has(wire.OptDSS) {
		sf.dssReceived(now, seg)
	}
	if o.Has.Has(wire.OptMPFail) {
		c.mpFailReceived(sf, o.MPFail.DSN)
	}
	if o.Has.Has(wire.OptAddAddr) {
		c.addAddrReceived(now, sf, &o.AddAddr)
	}
	if o.Has.Has(wire.OptRemoveAddr) {
		c.removeAddrReceived(now, o.RemoveAddr.List())
	}
	if o.Has.Has(wire.OptMPPrio) {
		sf.remoteBackup = o.MPPrio.Backup
	}
	if !o.Has.Has(wire.OptDSS) && seg.PayloadLen() > 0 && !o.Has.Has(wire.OptMPCapableData) {
		c.Stats.DataWithoutDSS++
	}
	return tcp.VerdictAccept
}

// dssReceived handles the DATA_ACK and the payload-less signals of a DSS.
func (sf *subflow) dssReceived(now time.Duration, seg *wire.Segment) {
	c := sf.c
	d := &seg.Options.DSS
	if c.client && !c.fullyEstablished {
		c.fullyEstablished = true // the server's first DSS (INTEROP B.1)
		c.becameFullyEstablished(now)
	}
	if d.HasMap() {
		sf.use64Ack = d.Flags&wire.DSSDSN64 != 0
		if d.DataLen == 0 {
			c.infiniteMappingReceived(sf, expandOff(sf.tcp.ReceiveNext(), d.SubflowSeq), sf.expandDSN(d))
			return
		}
		if d.DataFIN() && d.DataLen == 1 && d.SubflowSeq == 0 {
			dsn := d.DSN
			if d.Flags&wire.DSSDSN64 == 0 {
				dsn = wire.ExpandSeq32(c.rcv.nxt(), uint32(d.DSN))
			}
			if c.csum {
				ph := cksum.DSSPseudoHeader(dsn, 0, 1).Add16(d.Checksum)
				if !d.HasChecksum || ph.Fold() != 0xffff {
					c.Stats.ChecksumFailures++
					return
				}
			}
			c.peerDataFIN(dsn)
		}
	}
	if d.HasAck() {
		ack := d.DataAck
		if d.Flags&wire.DSSAck64 == 0 {
			ack = wire.ExpandSeq32(c.una, uint32(d.DataAck))
		}
		wnd := int(seg.TCP.Window()) << sf.tcp.PeerWindowScale()
		c.dataAcked(now, ack, wnd)
	}
}

// synAckReceived handles the SYN/ACK on the active side: MP_CAPABLE with
// the server's key, or MP_JOIN with its truncated HMAC (RFC 8684 §3.1,
// §3.2).
func (sf *subflow) synAckReceived(now time.Duration, o *wire.Options) tcp.Verdict {
	c := sf.c
	if !sf.join {
		if c.fallback {
			return tcp.VerdictAccept
		}
		if !o.Has.Has(wire.OptMPCapableSYNACK) {
			why := &FallbackError{Reason: "SYN/ACK without MP_CAPABLE"}
			if c.mpcDropped {
				why = c.synAckAfterDrop(now, sf)
			}
			c.fallbackStart(why, sf)
			return tcp.VerdictAccept
		}
		// MPTCP works on this path, even if the answer is to a SYN sent
		// before MP_CAPABLE was given up (the same ISN): use it.
		c.mptcpWorked()
		c.remoteKey = o.MPCapable.SenderKey
		c.remoteToken, c.remoteIDSN = wire.TokenAndIDSN(c.remoteKey)
		c.csum = c.ep.cfg.Checksum || o.MPCapable.Flags&wire.MPCChecksumRequired != 0
		c.denyJoinInitial = o.MPCapable.Flags&wire.MPCDenyJoinID0 != 0
		c.rcv.start(c.remoteIDSN+1, c.ofoCapacity())
		return tcp.VerdictAccept
	}
	if !o.Has.Has(wire.OptMPJoinSYNACK) ||
		o.MPJoin.TruncatedHMAC != wire.JoinHMAC64(c.remoteKey, c.localKey, o.MPJoin.Nonce, sf.localNonce) {
		c.Stats.JoinHMACFailures++
		sf.rstReason = RstMPTCPError
		return tcp.VerdictReset
	}
	sf.remoteNonce = o.MPJoin.Nonce
	sf.remoteID = o.MPJoin.AddrID
	sf.remoteBackup = o.MPJoin.Backup
	return tcp.VerdictAccept
}

// thirdAckReceived completes the passive side of a handshake.
func (sf *subflow) thirdAckReceived(now time.Duration, o *wire.Options, data bool) tcp.Verdict {
	c := sf.c
	if sf.join {
		if !o.Has.Has(wire.OptMPJoinACK) {
			sf.rstReason = RstMPTCPError
			return tcp.VerdictReset
		}
		if o.MPJoin.HMAC != wire.JoinHMAC160(c.remoteKey, c.localKey, sf.remoteNonce, sf.localNonce) {
			c.Stats.JoinHMACFailures++
			sf.rstReason = RstProhibited // Linux 6.18: MPJoinAckHMacFailure → reason 3
			return tcp.VerdictReset
		}
		// Join limits are enforced at the third ACK, as Linux does
		// (INTEROP A.14).
		if !c.fullyEstablished || c.activeSubflows() > c.ep.cfg.MaxSubflows {
			c.Stats.JoinsRejected++
			sf.rstReason = RstProhibited
			return tcp.VerdictReset
		}
		sf.joinConfirmed = true
		// The "4th ACK" that lets the joiner send data (RFC 8684 §3.2):
		// Linux sends it at once, whether or not it has data to send.
		sf.tcp.RequestPureACK()
		return tcp.VerdictAccept
	}
	switch {
	case o.Has.Has(wire.OptMPCapableACK), o.Has.Has(wire.OptMPCapableData):
		// The key is read from whatever carries MP_CAPABLE first; the
		// echoed server key is not compared (INTEROP A.14).
		c.remoteKey = o.MPCapable.SenderKey
		c.remoteToken, c.remoteIDSN = wire.TokenAndIDSN(c.remoteKey)
		c.csum = c.ep.cfg.Checksum || o.MPCapable.Flags&wire.MPCChecksumRequired != 0
		c.rcv.start(c.remoteIDSN+1, c.ofoCapacity())
		c.fullyEstablished = true
		c.becameFullyEstablished(now)
	default:
		c.fallbackStart(&FallbackError{Reason: "third ACK without MP_CAPABLE"}, sf)
	}
	_ = data
	return tcp.VerdictAccept
}

// resetReceived notes the reason of a RST (MP_TCPRST) and MP_FASTCLOSE.
func (sf *subflow) resetReceived(o *wire.Options) {
	c := sf.c
	if o.Has.Has(wire.OptTCPRST) {
		sf.closeErr = &ResetError{Reason: o.TCPRST.Reason}
	}
	if o.Has.Has(wire.OptFastClose) && o.FastClose.ReceiverKey == c.localKey {
		c.fastCloseFromPeer = true
	}
}

// --- tcp.Owner: events ---------------------------------------------------

// Event implements tcp.Owner.
func (sf *subflow) Event(now time.Duration, ev tcp.Event) {
	c := sf.c
	switch ev.Kind {
	case tcp.EventEstablished:
		sf.established = true
		c.subflowEstablished(now, sf)
	case tcp.EventAcked:
		sf.releaseMappings()
		sf.stale, sf.staleCount = false, 0 // progress again
		if (c.plainTCP || c.fallback) && sf.tcp.SendUnacked() > c.sndFB.off {
			// Without DSS the TCP acknowledgment is the data-level one.
			c.una = max(c.una, min(c.sndFB.dsn+(sf.tcp.SendUnacked()-c.sndFB.off), c.snd.end))
		}
		c.releaseSendBuffer()
		c.wake()
	case tcp.EventRTO:
		c.subflowRTO(now, sf)
	case tcp.EventFIN:
		c.subflowFIN(now, sf)
	case tcp.EventClosed:
		if sf.closeErr == nil {
			sf.closeErr = ev.Err
		}
		c.subflowClosed(now, sf)
		c.releaseSendBuffer()
	}
}

// reset closes the subflow with a RST carrying MP_TCPRST(reason).
func (sf *subflow) reset(reason uint8) {
	if sf.closed {
		return
	}
	sf.rstReason = reason
	sf.tcp.Abort(sf.c.now)
}

// expandDSN returns a DSS mapping's DSN in 64 bits (INTEROP A.12).
func (sf *subflow) expandDSN(d *wire.DSS) uint64 {
	if d.Flags&wire.DSSDSN64 != 0 {
		return d.DSN
	}
	ref := sf.c.una
	if sf.c.rcv.started {
		ref = sf.c.rcv.nxt()
	}
	return wire.ExpandSeq32(ref, uint32(d.DSN))
}

// pendingFits reports whether [start, end) can be recorded among the
// mapping's pieces awaiting the checksum: it touches one of them, or a
// slot is free.
func (m *recvMapping) pendingFits(start, end uint64) bool {
	if m.npend < maxPending {
		return true
	}
	for i := 0; i < m.npend; i++ {
		if start <= m.pend[i].end && m.pend[i].start <= end {
			return true
		}
	}
	return false
}

// addPending records [start, end), merging touching pieces, so that a
// mapping received in order needs one slot whatever its length.
func (m *recvMapping) addPending(start, end uint64) {
	for i := 0; i < m.npend; i++ {
		p := &m.pend[i]
		if start <= p.end && p.start <= end {
			p.start, p.end = min(p.start, start), max(p.end, end)
			// Absorb any other piece the merge now touches.
			for j := 0; j < m.npend; j++ {
				if j != i && m.pend[j].start <= p.end && p.start <= m.pend[j].end {
					p.start, p.end = min(p.start, m.pend[j].start), max(p.end, m.pend[j].end)
					m.pend[j] = m.pend[m.npend-1]
					m.npend--
					if i == m.npend {
						i = j
						p = &m.pend[i]
					}
					j = -1
				}
			}
			return
		}
	}
	if m.npend < maxPending {
		m.pend[m.npend] = span{start, end}
		m.npend++
	}
}

// removePending withdraws [start, end) from the mapping's pending pieces:
// a piece it covers goes, one it cuts is trimmed, and one it splits in
// two keeps both halves if a slot is free, else only the larger half.
func (m *recvMapping) removePending(start, end uint64) {
	for i := 0; i < m.npend; i++ {
		p := &m.pend[i]
		if end <= p.start || p.end <= start {
			continue
		}
		left, right := span{p.start, start}, span{end, p.end}
		switch {
		case left.start < left.end && right.start < right.end:
			*p = left
			if m.npend < maxPending {
				m.pend[m.npend] = right
				m.npend++
			} else if right.end-right.start > left.end-left.start {
				*p = right
			}
		case left.start < left.end:
			*p = left
		case right.start < right.end:
			*p = right
		default:
			m.npend--
			m.pend[i] = m.pend[m.npend]
			i--
		}
	}
}

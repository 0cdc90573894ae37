package mptcp

import (
	"net/netip"
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
	"github.com/mpxdp/mpxdp/ofo"
)

// sendMapping is a DSS mapping the subflow sent (RFC 8684 §3.3.1): data
// [dsn, dsn+len) at subflow offsets [ssn, ssn+len). Every segment that
// carries part of it repeats it whole, retransmissions included
// (INTEROP A.13: a different mapping for bytes already covered is invalid).
type sendMapping struct {
	ssn  uint64
	dsn  uint64
	len  uint32
	csum uint16
	fin  bool // the DATA_FIN follows the data (data-level length len+1)
}

func (m *sendMapping) end() uint64 { return m.ssn + uint64(m.len) }

// maxPending bounds the pieces of one mapping awaiting checksum
// verification; beyond it, further pieces are summed but not stored.
const maxPending = 8

// recvMapping is a mapping the peer announced on this subflow, with the
// state of its DSS checksum when checksums are in use.
type recvMapping struct {
	ssn      uint64
	dsn      uint64
	dataLen  uint32 // data bytes (the DATA_FIN's one is not data)
	fin      bool
	csum     uint16
	hasCsum  bool
	sum      cksum.Partial // payload sum so far, for the checksum
	got      uint32        // payload bytes summed so far
	pend     [maxPending]span
	npend    int
	finished bool
}

func (m *recvMapping) end() uint64 { return m.ssn + uint64(m.dataLen) }

// same reports whether o announces the same data as m. The DATA_FIN may
// differ: Linux adds it to a mapping whose first segments left before the
// application closed (mptcp_write_data_fin), and its byte is not data
// (RFC 8684 §3.3.1).
func (m *recvMapping) same(o *recvMapping) bool {
	return m.ssn == o.ssn && m.dsn == o.dsn && m.dataLen == o.dataLen
}

// span is a range of data sequence numbers.
type span struct{ start, end uint64 }

// maxRecvMappings bounds the mappings a subflow tracks at once (those not
// yet complete: holes at the subflow level keep several open). Segments
// announcing a mapping beyond it are not acknowledged; the peer resends.
const maxRecvMappings = 1024

// subflow is one TCP connection of an MPTCP connection. It is the Owner of
// its tcp.Conn: payload moves between the frame and the connection's
// buffers at data sequence numbers given by the DSS mappings, and the
// subflow writes and reads the MPTCP options of every segment.
type subflow struct {
	c             *Conn
	tcp           *tcp.Conn
	id            int
	local, remote netip.AddrPort
	localID       uint8
	remoteID      uint8
	initial       bool
	backup        bool // we asked for backup (MP_JOIN B flag or MP_PRIO)
	remoteBackup  bool // the peer asked us to treat it as backup (MP_PRIO)
	established   bool
	closed        bool
	closeErr      error

	// MP_JOIN state (RFC 8684 §3.2).
	join          bool
	joiner        bool // this side sent the MP_JOIN SYN
	localNonce    uint32
	remoteNonce   uint32
	joinConfirmed bool // the joiner got the ACK of its third ACK ("4th ACK")
	joinAckSent   bool
	joinAckAt     time.Duration

	// Send side.
	replNxt  uint64        // the end of the data this subflow carried (sched.Replicator)
	maps     []sendMapping // ring of mappings not yet acknowledged at TCP level
	mapHead  int
	mapCount int
	// Receive side.
	rmaps    []recvMapping // sorted by ssn, disjoint
	unmapped int           // refusals of bytes without a mapping since the last mapped ones
	// lastMapEnd and lastMapDSNEnd are where the last finished mapping
	// ended, in subflow and data sequence numbers: a fallback continues
	// the data linearly from there.
	lastMapEnd, lastMapDSNEnd uint64
	use64Ack                  bool // the peer's mappings use 64-bit DSNs (INTEROP A.12)
	segPayloadMSS             int  // segPayload's cache: the MSS and checksum setting it was computed for
	segPayloadCsum            bool
	segPayloadLen             int
	sawMapping                bool
	hint                      ofo.Hint

	// Signals to put on the next suitable segment.
	dataFINPending bool
	mpFailPending  bool
	mpFailDSN      uint64
	rstReason      uint8
	prioPending    bool
	echoPending    bool
	echo           wire.AddAddr
	removePending  bool
	removeIDs      [8]uint8
	nremove        int

	// Stale detection (ALGORITHMS §7.5).
	staleCount   int
	staleUna     uint64
	stale        bool
	resetPending bool // reset at the next poll: it must resend bytes already released
}

// rxPiece is what ReceiveData learned about a piece of payload, kept for
// CommitData of the same segment.
type rxPiece struct {
	sf     *subflow
	off    uint64
	n      int
	mapped int    // bytes covered by the mapping (from the start)
	mssn   uint64 // the mapping's ssn (its key)
	hasMap bool
	// finJoins: the segment announces its registered mapping again with
	// the DATA_FIN (and finCsum, the checksum of that announcement).
	finJoins bool
	finCsum  uint16
	// Decisions taken once the segment verifies (see ReceiveData).
	newMap                                    recvMapping
	hasNewMap, conflict, unmapped, resetNoDSS bool
	linear, infinite, fallbackStart           bool
	infSSN, infDSN                            uint64
	dsn                                       uint64
	msum                                      cksum.Partial // sum of the mapped bytes
	stored                                    bool
}

// --- Mappings ---------------------------------------------------------

func (sf *subflow) addSendMapping(m sendMapping) {
	if sf.mapCount == len(sf.maps) {
		grown := make([]sendMapping, max(16, 2*len(sf.maps)))
		for i := 0; i < sf.mapCount; i++ {
			grown[i] = sf.maps[(sf.mapHead+i)%len(sf.maps)]
		}
		sf.maps, sf.mapHead = grown, 0
	}
	sf.maps[(sf.mapHead+sf.mapCount)%len(sf.maps)] = m
	sf.mapCount++
}

// sendMappingAt returns the mapping that covers subflow offset off.
func (sf *subflow) sendMappingAt(off uint64) *sendMapping {
	for i := 0; i < sf.mapCount; i++ {
		m := &sf.maps[(sf.mapHead+i)%len(sf.maps)]
		if off >= m.ssn && off < m.end() {
			return m
		}
	}
	return nil
}

// releaseMappings drops the mappings the subflow's TCP has acknowledged.
func (sf *subflow) releaseMappings() {
	una := sf.tcp.SendUnacked()
	for sf.mapCount > 0 {
		m := &sf.maps[sf.mapHead]
		if m.end() > una {
			break
		}
		sf.mapHead = (sf.mapHead + 1) % len(sf.maps)
		sf.mapCount--
	}
}

// unackedMappings calls f for every mapping with bytes not acknowledged
// at the TCP level.
func (sf *subflow) unackedMappings(f func(m *sendMapping)) {
	for i := 0; i < sf.mapCount; i++ {
		f(&sf.maps[(sf.mapHead+i)%len(sf.maps)])
	}
}

// --- tcp.Owner: sending -------------------------------------------------

// SendData implements tcp.Owner: copy from the connection's send buffer at
// the data sequence number the mapping gives.
func (sf *subflow) SendData(off uint64, dst []byte) cksum.Partial {
	c := sf.c
	if c.fallback && off >= c.sndFB.off {
		return c.snd.copyOut(c.sndFB.dsn+(off-c.sndFB.off), dst)
	}
	var sum cksum.Partial
	at := 0
	for at < len(dst) {
		m := sf.sendMappingAt(off + uint64(at))
		if m == nil {
			// Past the mappings: only after an infinite mapping.
			n := len(dst) - at
			sum = cksum.CombineAt(sum, c.snd.copyOut(c.sndFB.dsn+(off+uint64(at)-c.sndFB.off), dst[at:]), at)
			at += n
			break
		}
		n := min(len(dst)-at, int(m.end()-(off+uint64(at))))
		dsn := m.dsn + (off + uint64(at) - m.ssn)
		sum = cksum.CombineAt(sum, c.snd.copyOut(dsn, dst[at:at+n]), at)
		at += n
	}
	return sum
}

// SegmentOptions implements tcp.Owner: the MPTCP suboptions of an outgoing
// segment (RFC 8684 §3; the kernel's choices, INTEROP Part A and B).
func (sf *subflow) SegmentOptions(now time.Duration, out *tcp.Outgoing) {
	c := sf.c
	o := out.Options
	flags := out.Flags
	if flags&wire.FlagRST != 0 {
		sf.rstOptions(o)
		return
	}
	if c.plainTCP {
		return
	}
	if flags&wire.FlagSYN != 0 {
		sf.synOptions(o, flags)
		return
	}
	if c.fallback {
		sf.fallbackOptions(o, out)
		return
	}
	// The client's third ACK carries both keys (RFC 8684 §3.1, INTEROP B.1).
	if sf.initial && c.client && !c.mpcAckSent && out.Len == 0 {
		c.mpcAckSent = true
		o.Has |= wire.OptMPCapableACK
		o.MPCapable = wire.MPCapable{Version: wire.MPTCPVersion, Flags: c.mpcFlags(true),
			SenderKey: c.localKey, ReceiverKey: c.remoteKey}
		return
	}
	// The joiner's third ACK carries the 160-bit HMAC until it is acked.
	if sf.join && sf.joiner && !sf.joinConfirmed && out.Len == 0 {
		sf.joinAckSent = true
		sf.joinAckAt = now
		o.Has |= wire.OptMPJoinACK
		o.MPJoin = wire.MPJoin{HMAC: wire.JoinHMAC160(c.localKey, c.remoteKey, sf.localNonce, sf.remoteNonce)}
		return
	}
	if out.Len > 0 {
		m := sf.sendMappingAt(out.Off)
		if m == nil {
			return // impossible: data is only pushed with a mapping
		}
		if m.dsn+(out.Off-m.ssn) < c.snd.una {
			// A stale subflow resending bytes the connection delivered
			// elsewhere and released: it cannot repeat them, so it goes.
			out.Len = 0
			sf.resetPending = true
			return
		}
		out.Len = min(out.Len, int(m.end()-out.Off))
		// Until the client is fully established, the first data segment
		// carries MP_CAPABLE with both keys instead of a DSS (§3.1).
		if sf.initial && c.client && !c.fullyEstablished && m.ssn == 1 {
			o.Has |= wire.OptMPCapableData
			o.MPCapable = wire.MPCapable{Version: wire.MPTCPVersion, Flags: c.mpcFlags(true),
				SenderKey: c.localKey, ReceiverKey: c.remoteKey, DataLen: uint16(m.len)}
			if c.csum {
				o.MPCapable.Checksum = m.csum
				o.MPCapable.HasChecksum = true
			}
			return
		}
		sf.dss(o, m.dsn, m.ssn, m.len, m.fin, m.csum)
	} else {
		sf.dss(o, 0, 0, 0, false, 0)
		if sf.dataFINPending && flags&wire.FlagFIN == 0 && !c.dataFINAcked {
			// The payload-less DATA_FIN: DSN after the data, subflow
			// sequence 0, data-level length 1 (INTEROP A.3). It goes out
			// once per subflow; the MPTCP-level timer repeats it.
			sf.setDataFIN(o)
			sf.signals(o, out)
			if wire.PlanOptions(o, flags, false).Placed.Has(wire.OptDSS) {
				sf.dataFINPending = false
			} else {
				// An ADD_ADDR took this ACK alone (RFC 8684 §3.4.1): the
				// DATA_FIN goes on the next one.
				sf.tcp.RequestPureACK()
			}
			return
		}
	}
	sf.signals(o, out)
}

// fallbackOptions writes what a fallen-back subflow still sends: the
// mappings of data sent before the fallback, the infinite mapping on
// linear data until it is acknowledged, and MP_FAIL (RFC 8684 §3.7).
func (sf *subflow) fallbackOptions(o *wire.Options, out *tcp.Outgoing) {
	c := sf.c
	if out.Len > 0 && out.Off < c.sndFB.off {
		if m := sf.sendMappingAt(out.Off); m != nil {
			out.Len = min(out.Len, int(m.end()-out.Off))
			sf.dss(o, m.dsn, m.ssn, m.len, m.fin, m.csum)
		}
	} else if out.Len > 0 && c.announceInfinite {
		if sf.tcp.SendUnacked() > c.sndFB.off {
			c.announceInfinite = false
		} else {
			sf.dss(o, 0, 0, 0, false, 0)
			d := &o.DSS
			d.Flags |= wire.DSSMap | wire.DSSDSN64
			d.DSN, d.SubflowSeq, d.DataLen = c.sndFB.dsn+(out.Off-c.sndFB.off), uint32(out.Off), 0
			if c.csum {
				d.HasChecksum, d.Checksum = true, 0 // Linux writes 0 (INTEROP A.11)
			}
		}
	}
	if sf.mpFailPending {
		if !o.Has.Has(wire.OptDSS) {
			sf.dss(o, 0, 0, 0, false, 0)
		}
		o.Has |= wire.OptMPFail
		o.MPFail = wire.MPFail{DSN: sf.mpFailDSN}
		sf.mpFailPending = false
	}
}

// dss fills the DSS option: the DATA_ACK always, and a mapping when len or
// fin says so.
func (sf *subflow) dss(o *wire.Options, dsn, ssn uint64, n uint32, fin bool, csum uint16) {
	c := sf.c
	d := &o.DSS
	*d = wire.DSS{}
	if c.rcv.started { // no DATA_ACK before the peer's key is known
		o.Has |= wire.OptDSS
		d.Flags = wire.DSSDataAck
		d.DataAck = c.rcv.nxt()
		if sf.use64Ack {
			d.Flags |= wire.DSSAck64
		}
	}
	if n > 0 || fin {
		// Linux sends 64-bit DSNs only (INTEROP A.12).
		o.Has |= wire.OptDSS
		d.Flags |= wire.DSSMap | wire.DSSDSN64
		d.DSN, d.SubflowSeq = dsn, uint32(ssn)
		d.DataLen = uint16(n)
		if fin {
			d.Flags |= wire.DSSDataFIN
			d.DataLen++
		}
		if c.csum {
			d.HasChecksum, d.Checksum = true, csum
		}
	}
}

// active reports whether we opened the subflow (its local port is ours to
// choose), not the peer.
func (sf *subflow) active() bool { return sf.initial && sf.c.client || sf.joiner }

// segPayload returns the payload of a full data segment: the MSS less the
// options every data segment carries (timestamps and a DSS with a 64-bit
// mapping, its checksum if negotiated, and the DATA_ACK), padded as the
// option planner lays them out (RFC 6691: the MSS does not count options).
func (sf *subflow) segPayload() int {
	mss := sf.tcp.SendMSS()
	if sf.segPayloadMSS == mss && sf.segPayloadCsum == sf.c.csum {
		return sf.segPayloadLen
	}
	var o wire.Options
	o.Has = wire.OptDSS
	o.DSS = wire.DSS{Flags: wire.DSSDataAck | wire.DSSMap | wire.DSSDSN64, HasChecksum: sf.c.csum}
	if sf.use64Ack {
		o.DSS.Flags |= wire.DSSAck64
	}
	if sf.tcp.Timestamps() {
		o.Has |= wire.OptTimestamps
	}
	opts := wire.PlanOptions(&o, wire.FlagACK, true).Len
	sf.segPayloadMSS, sf.segPayloadCsum = mss, sf.c.csum
	sf.segPayloadLen = max(mss-opts, 1)
	return sf.segPayloadLen
}

// setDataFIN turns the DSS into the payload-less DATA_FIN mapping.
func (sf *subflow) setDataFIN(o *wire.Options) {
	c := sf.c
	d := &o.DSS
	d.Flags |= wire.DSSMap | wire.DSSDSN64 | wire.DSSDataFIN
	d.DSN, d.SubflowSeq, d.DataLen = c.finDSN, 0, 1
	if c.csum {
		d.HasChecksum = true
		d.Checksum = cksum.DSSPseudoHeader(c.finDSN, 0, 1).Checksum()
	}
}

// signals adds the address and priority suboptions waiting to be sent,
// and clears those the planner places.
func (sf *subflow) signals(o *wire.Options, out *tcp.Outgoing) {
	c := sf.c
	want := false
	if sf.mpFailPending {
		o.Has |= wire.OptMPFail
		o.MPFail = wire.MPFail{DSN: sf.mpFailDSN}
		want = true
	}
	if sf.prioPending {
		o.Has |= wire.OptMPPrio
		o.MPPrio = wire.MPPrio{Backup: sf.backup}
		want = true
	}
	if sf.removePending {
		o.Has |= wire.OptRemoveAddr
		o.RemoveAddr = wire.RemoveAddr{N: uint8(sf.nremove)}
		copy(o.RemoveAddr.IDs[:], sf.removeIDs[:sf.nremove])
		want = true
	}
	if out.Len == 0 && out.Flags&wire.FlagFIN == 0 {
		if sf.echoPending {
			o.Has |= wire.OptAddAddr
			o.AddAddr = sf.echo
			want = true
		} else if a := c.addAddrOut(sf); a != nil {
			o.Has |= wire.OptAddAddr
			o.AddAddr = *a
			want = true
		}
	}
	if !want {
		return
	}
	plan := wire.PlanOptions(o, out.Flags, out.Len > 0)
	if plan.Placed.Has(wire.OptMPFail) {
		sf.mpFailPending = false
	}
	if plan.Placed.Has(wire.OptMPPrio) {
		sf.prioPending = false
	}
	if plan.Placed.Has(wire.OptRemoveAddr) {
		sf.removePending = false
	}
	if plan.Placed.Has(wire.OptAddAddr) {
		if sf.echoPending && o.AddAddr.Echo {
			sf.echoPending = false
		} else {
			c.addAddrSent(sf)
		}
	}
}

// synOptions writes MP_CAPABLE or MP_JOIN on a SYN or SYN/ACK.
func (sf *subflow) synOptions(o *wire.Options, flags uint8) {
	c := sf.c
	synack := flags&wire.FlagACK != 0
	if !sf.join {
		if c.fallback {
			return // the peer's SYN had no MP_CAPABLE: plain TCP
		}
		if synack {
			o.Has |= wire.OptMPCapableSYNACK
			o.MPCapable = wire.MPCapable{Version: wire.MPTCPVersion, Flags: c.mpcFlags(false), SenderKey: c.localKey}
		} else if !c.dropMPCapable(sf) {
			o.Has |= wire.OptMPCapableSYN
			o.MPCapable = wire.MPCapable{Version: wire.MPTCPVersion, Flags: c.mpcFlags(false)}
		}
		return
	}
	if synack {
		o.Has |= wire.OptMPJoinSYNACK
		o.MPJoin = wire.MPJoin{Backup: sf.backup, AddrID: sf.localID, Nonce: sf.localNonce,
			TruncatedHMAC: wire.JoinHMAC64(c.localKey, c.remoteKey, sf.localNonce, sf.remoteNonce)}
	} else {
		o.Has |= wire.OptMPJoinSYN
		o.MPJoin = wire.MPJoin{Backup: sf.backup, AddrID: sf.localID, Token: c.remoteToken, Nonce: sf.localNonce}
	}
}

// rstOptions writes MP_FASTCLOSE and MP_TCPRST on a RST (RFC 8684 §3.5,
// §3.6; INTEROP A.8, A.9), or MP_FAIL with MP_TCPRST.
func (sf *subflow) rstOptions(o *wire.Options) {
	c := sf.c
	if c.plainTCP || c.fallback && !c.fastClosing {
		return
	}
	if c.fastClosing && c.remoteKey != 0 {
		o.Has |= wire.OptFastClose
		o.FastClose = wire.FastClose{ReceiverKey: c.remoteKey}
	} else if sf.mpFailPending {
		o.Has |= wire.OptMPFail
		o.MPFail = wire.MPFail{DSN: sf.mpFailDSN}
	}
	o.Has |= wire.OptTCPRST
	o.TCPRST = wire.TCPRST{Reason: sf.rstReason}
}

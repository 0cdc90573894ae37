package wire

// Aligned sizes of the TCP options as Linux writes them (tcp_options_write):
// every option is padded with NOPs to a 4-byte boundary.
const (
	alignedMSS       = 4  // MSS
	alignedTS        = 12 // NOP NOP TS, or SACKOK TS on a SYN
	alignedWS        = 4  // NOP WS
	alignedSACKPerm  = 4  // NOP NOP SACKOK (SYN without timestamps)
	alignedSACKBase  = 4  // NOP NOP SACK len
	minSACKOptionLen = alignedSACKBase + optLenSACKBlock
)

// Plan is the option layout PlanOptions chose for one segment.
type Plan struct {
	// Len is the number of option bytes Encode writes: a multiple of 4,
	// at most MaxTCPOptionLen. Pass it to TCPHeader.Encode.
	Len int
	// Placed lists the members of Options.Has that Encode writes.
	Placed OptionSet
	// Dropped lists the requested members that were not placed: they did
	// not fit, or Linux never sends them on such a segment (see
	// PlanOptions). OptSACK is dropped only when no block fit at all.
	Dropped OptionSet
	// SACK is the number of SACK blocks placed: the first SACK of
	// Options.SACK, which may be fewer than NumSACK.
	SACK int

	syn bool
}

// room returns the option bytes still free.
func (p *Plan) room() int { return MaxTCPOptionLen - p.Len }

// take places m with n bytes if it fits, else drops it.
func (p *Plan) take(m OptionSet, n int) bool {
	if n <= 0 || n > p.room() {
		p.Dropped |= m
		return false
	}
	p.Placed |= m
	p.Len += n
	return true
}

// PlanOptions decides which of the options requested in o.Has one segment
// with the given TCP flags, carrying payload or not (data), carries, with
// the rules and in the order Linux 6.18 uses (tcp_syn_options,
// tcp_established_options, mptcp_established_options), so that an mpxdp
// segment looks like a Linux one:
//
//   - SYN and SYN/ACK: MSS, timestamps (SACK-permitted folded into the
//     same word), window scale, SACK-permitted alone when there are no
//     timestamps, then MP_CAPABLE or MP_JOIN — the SYN variants on a SYN,
//     the SYN/ACK variants on a SYN/ACK; nothing else.
//   - Other segments: timestamps first (12 bytes), then the MPTCP
//     suboptions, then as many SACK blocks as the remaining space holds
//     (MPTCP options take precedence over SACK: a missing MPTCP option
//     would force a fallback, a missing SACK block costs nothing). MSS,
//     window scale and SACK-permitted are dropped.
//   - RST: MP_FASTCLOSE (or, if that is not requested or does not fit,
//     MP_FAIL), then MP_TCPRST if there is room; no other MPTCP option.
//     MP_FASTCLOSE and MP_TCPRST are never placed without RST.
//   - MP_CAPABLE (the 20-byte variant without payload, the 22/24-byte
//     variant with payload) and the MP_JOIN ACK are exclusive with DSS
//     (RFC 8684 §3.1: the MP_CAPABLE data parameters replace the DSS).
//   - DSS may take MP_FAIL after it; then nothing else follows.
//   - ADD_ADDR rides only on a pure ACK (no payload, no SYN, FIN or RST)
//     and alone: when it fits, the DSS (and MP_FAIL) requested for the
//     same segment are dropped, to be sent on the next ACK (INTEROP A.4).
//     It is never placed with MP_CAPABLE or MP_JOIN.
//   - REMOVE_ADDR (when ADD_ADDR is not placed) and MP_PRIO (not with
//     MP_CAPABLE) follow if they fit.
//
// Options of unknown kinds are never placed. The result says what was
// placed and what was dropped; it never exceeds 40 bytes.
func PlanOptions(o *Options, flags uint8, data bool) Plan {
	want := o.Has
	p := Plan{syn: flags&FlagSYN != 0}
	if p.syn {
		if want.Has(OptMSS) {
			p.take(OptMSS, alignedMSS)
		}
		if want.Has(OptTimestamps) {
			p.take(OptTimestamps, alignedTS)
			if want.Has(OptSACKPermitted) {
				p.Placed |= OptSACKPermitted // shares the timestamp word
			}
		}
		if want.Has(OptWindowScale) {
			p.take(OptWindowScale, alignedWS)
		}
		if want.Has(OptSACKPermitted) && !p.Placed.Has(OptSACKPermitted) {
			p.take(OptSACKPermitted, alignedSACKPerm)
		}
		// mptcp_syn_options / mptcp_synack_options: one handshake option.
		mpc, mpj := OptMPCapableSYN, OptMPJoinSYN
		if flags&FlagACK != 0 {
			mpc, mpj = OptMPCapableSYNACK, OptMPJoinSYNACK
		}
		switch {
		case want.Has(mpc):
			p.take(mpc, MPTCPOptionLen(o, mpc))
		case want.Has(mpj):
			p.take(mpj, MPTCPOptionLen(o, mpj))
		}
		p.Dropped |= want &^ p.Placed
		return p
	}

	if want.Has(OptTimestamps) {
		p.take(OptTimestamps, alignedTS)
	}
	if flags&FlagRST != 0 {
		p.planRST(want)
	} else {
		p.planEstablished(o, want, flags, data)
	}
	if want.Has(OptSACK) && o.NumSACK > 0 {
		if room := p.room(); room >= minSACKOptionLen {
			p.SACK = min(int(o.NumSACK), MaxSACKBlocks, (room-alignedSACKBase)/optLenSACKBlock)
			p.Placed |= OptSACK
			p.Len += alignedSACKBase + p.SACK*optLenSACKBlock
		}
	}
	p.Dropped |= want &^ p.Placed
	return p
}

// planRST follows mptcp_established_options for a RST: MP_FASTCLOSE or
// MP_FAIL, then MP_TCPRST when there is room (RFC 8684 §3.5, §3.6;
// INTEROP A.8).
func (p *Plan) planRST(want OptionSet) {
	placed := false
	if want.Has(OptFastClose) {
		placed = p.take(OptFastClose, LenFastClose)
	}
	if !placed && want.Has(OptMPFail) {
		p.take(OptMPFail, LenMPFail)
	}
	if want.Has(OptTCPRST) {
		p.take(OptTCPRST, LenTCPRST)
	}
}

// planEstablished follows mptcp_established_options for segments other
// than SYN and RST.
func (p *Plan) planEstablished(o *Options, want OptionSet, flags uint8, data bool) {
	handshake := OptionSet(0)
	switch {
	case want.Has(OptMPCapableData) && data:
		handshake = OptMPCapableData
	case want.Has(OptMPCapableACK) && !data:
		handshake = OptMPCapableACK
	case want.Has(OptMPJoinACK):
		handshake = OptMPJoinACK
	}
	failOnly := false // MP_FAIL placed: the kernel writes nothing after it
	if handshake != 0 {
		if !p.take(handshake, MPTCPOptionLen(o, handshake)) {
			handshake = 0
		}
	}
	if handshake == 0 && want.Has(OptDSS) {
		if p.take(OptDSS, MPTCPOptionLen(o, OptDSS)) && want.Has(OptMPFail) {
			failOnly = p.take(OptMPFail, LenMPFail)
		}
	} else if handshake == 0 && want.Has(OptMPFail) {
		failOnly = p.take(OptMPFail, LenMPFail)
	}
	if failOnly {
		return
	}

	addAddr := false
	pureACK := !data && flags&(FlagSYN|FlagFIN|FlagRST) == 0
	if want.Has(OptAddAddr) && handshake == 0 && pureACK {
		// "drop other suboptions": the ADD_ADDR goes alone on this pure
		// ACK; the DATA_ACK rides on the normal ACK (INTEROP A.4). MP_FAIL
		// is not placed here: with it placed we returned above.
		other, freed := p.Placed&OptDSS, 0
		if other != 0 {
			freed = MPTCPOptionLen(o, OptDSS)
		}
		if n := MPTCPOptionLen(o, OptAddAddr); n <= p.room()+freed {
			p.Placed &^= other
			p.Len -= freed
			p.Dropped |= other
			addAddr = p.take(OptAddAddr, n)
		}
	}
	if want.Has(OptRemoveAddr) && !addAddr {
		p.take(OptRemoveAddr, MPTCPOptionLen(o, OptRemoveAddr))
	}
	if want.Has(OptMPPrio) && !handshake.Any(OptMPCapable) {
		p.take(OptMPPrio, MPTCPOptionLen(o, OptMPPrio))
	}
}

// Encode writes the planned options of o into b (at least p.Len bytes) in
// Linux's order and padding, and returns p.Len. o must be the value the
// plan was made from.
func (p *Plan) Encode(b []byte, o *Options) int {
	b = b[:p.Len]
	i := 0
	if p.syn {
		if p.Placed.Has(OptMSS) {
			b[0], b[1] = OptionKindMSS, optLenMSS
			put16(b[2:], o.MSS)
			i = alignedMSS
		}
		if p.Placed.Has(OptTimestamps) {
			i += encodeTS(b[i:], o, p.Placed.Has(OptSACKPermitted))
		}
		if p.Placed.Has(OptWindowScale) {
			b[i], b[i+1], b[i+2], b[i+3] = OptionKindNOP, OptionKindWindowScale, optLenWindowScale, o.WindowScale
			i += alignedWS
		}
		if p.Placed.Has(OptSACKPermitted) && !p.Placed.Has(OptTimestamps) {
			b[i], b[i+1], b[i+2], b[i+3] = OptionKindNOP, OptionKindNOP, OptionKindSACKPermitted, optLenSACKPerm
			i += alignedSACKPerm
		}
		for _, m := range [...]OptionSet{OptMPCapableSYN, OptMPCapableSYNACK, OptMPJoinSYN, OptMPJoinSYNACK} {
			if p.Placed.Has(m) {
				i += EncodeMPTCPOption(b[i:], o, m)
			}
		}
		return i
	}
	if p.Placed.Has(OptTimestamps) {
		i += encodeTS(b[i:], o, false)
	}
	if p.SACK > 0 {
		b[i], b[i+1], b[i+2] = OptionKindNOP, OptionKindNOP, OptionKindSACK
		b[i+3] = uint8(optLenSACKBase + p.SACK*optLenSACKBlock)
		i += alignedSACKBase
		for k := range p.SACK {
			put32(b[i:], o.SACK[k].Left)
			put32(b[i+4:], o.SACK[k].Right)
			i += optLenSACKBlock
		}
	}
	// mptcp_write_options: the first of DSS (with MP_FAIL), MP_CAPABLE,
	// MP_JOIN, ADD_ADDR, MP_FASTCLOSE (with MP_TCPRST), MP_FAIL (with
	// MP_TCPRST) or MP_TCPRST; then MP_PRIO (not after MP_CAPABLE); then
	// REMOVE_ADDR.
	for _, m := range [...]OptionSet{
		OptDSS, OptMPCapableACK, OptMPCapableData, OptMPJoinACK, OptAddAddr,
		OptFastClose, OptMPFail, OptTCPRST, OptMPPrio, OptRemoveAddr,
	} {
		if p.Placed.Has(m) {
			i += EncodeMPTCPOption(b[i:], o, m)
		}
	}
	return i
}

// encodeTS writes NOP NOP TS (or SACKOK TS on a SYN that advertises SACK)
// and returns 12.
func encodeTS(b []byte, o *Options, sackOK bool) int {
	if sackOK {
		b[0], b[1] = OptionKindSACKPermitted, optLenSACKPerm
	} else {
		b[0], b[1] = OptionKindNOP, OptionKindNOP
	}
	b[2], b[3] = OptionKindTimestamps, optLenTimestamps
	put32(b[4:], o.TSVal)
	put32(b[8:], o.TSEcr)
	return alignedTS
}

// EncodeOptions plans the options of o for a segment with the given flags
// and payload presence and writes them into b (at least 40 bytes). It
// returns the plan; plan.Len bytes were written.
func EncodeOptions(b []byte, o *Options, flags uint8, data bool) Plan {
	p := PlanOptions(o, flags, data)
	p.Encode(b, o)
	return p
}

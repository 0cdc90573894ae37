package wire

import "net/netip"

// MPTCP option subtypes (RFC 8684 §8 "MPTCP Option Subtypes"; INTEROP A.0).
const (
	SubtypeMPCapable  = 0x0
	SubtypeMPJoin     = 0x1
	SubtypeDSS        = 0x2
	SubtypeAddAddr    = 0x3
	SubtypeRemoveAddr = 0x4
	SubtypeMPPrio     = 0x5
	SubtypeMPFail     = 0x6
	SubtypeFastClose  = 0x7
	SubtypeTCPRST     = 0x8
	// NumSubtypes is the number of defined subtypes (0..8).
	NumSubtypes = 9
)

// MPTCPVersion is the only MPTCP version the stack speaks (RFC 8684 is
// version 1). A SYN with a higher version is answered with version 1; a
// SYN with version 0 (RFC 6824) is ignored (INTEROP A.1).
const MPTCPVersion = 1

// MP_CAPABLE flag bits (RFC 8684 §3.1: A B C D E F G H).
const (
	MPCChecksumRequired = 0x80 // A
	MPCExtensibility    = 0x40 // B: must be 0; Linux ignores the option if set
	MPCDenyJoinID0      = 0x20 // C: do not join my initial address and port
	MPCHMACSHA256       = 0x01 // H
	// MPCCryptoMask covers D–H; (flags & MPCCryptoMask) must equal
	// MPCHMACSHA256 (INTEROP A.1: no other algorithm is negotiated).
	MPCCryptoMask = 0x1f
)

// DSS flag bits (RFC 8684 §3.3: byte 3 = rrr F m M a A).
const (
	DSSDataAck  = 0x01 // A: DATA_ACK present
	DSSAck64    = 0x02 // a: DATA_ACK is 8 bytes
	DSSMap      = 0x04 // M: mapping present
	DSSDSN64    = 0x08 // m: DSN is 8 bytes
	DSSDataFIN  = 0x10 // F: DATA_FIN
	dssFlagMask = 0x1f // the upper three bits are reserved and masked off (INTEROP A.0)
)

// ADD_ADDR and MP_TCPRST flag bits.
const (
	AddAddrEcho     = 0x01 // E (RFC 8684 §3.4.1)
	TCPRSTTransient = 0x01 // T (RFC 8684 §3.6)
)

// MaxRemoveAddrIDs is the most address IDs one REMOVE_ADDR carries: Linux
// sends and accepts 1..8 (MPTCP_RM_IDS_MAX, INTEROP A.5); the RFC sets no
// limit below what the option space allows.
const MaxRemoveAddrIDs = 8

const (
	joinBackup         = 0x01 // B of MP_JOIN and MP_PRIO
	joinHMACLen        = 20   // bytes of the HMAC in the MP_JOIN third ACK
	joinTruncHMACBytes = 8    // bytes of the HMAC in the MP_JOIN SYN/ACK
)

// MPTCP option lengths Linux sends and accepts (kind and length included;
// INTEROP A.1–A.9).
const (
	LenMPCapableSYN      = 4
	LenMPCapableSYNACK   = 12
	LenMPCapableACK      = 20
	LenMPCapableData     = 22
	LenMPCapableDataCsum = 24
	LenMPJoinSYN         = 12
	LenMPJoinSYNACK      = 16
	LenMPJoinACK         = 24
	LenMPPrio            = 3
	LenMPFail            = 12
	LenFastClose         = 12
	LenTCPRST            = 4
	lenDSSBase           = 4
	lenAddAddrBase       = 4 // kind, length, subtype|E, address ID
)

// MPCapable is the MP_CAPABLE option (RFC 8684 §3.1). Which fields are on
// the wire depends on the variant (OptMPCapableSYN … OptMPCapableData).
type MPCapable struct {
	Version     uint8  // low nibble of byte 2
	Flags       uint8  // MPCChecksumRequired, MPCDenyJoinID0, MPCHMACSHA256 …
	SenderKey   uint64 // SYN/ACK, ACK and data variants
	ReceiverKey uint64 // ACK and data variants (the echoed key)
	DataLen     uint16 // data variant: data-level length of the implicit mapping
	Checksum    uint16 // data variant with HasChecksum
	HasChecksum bool   // data variant is 24 bytes
}

// MPJoin is the MP_JOIN option (RFC 8684 §3.2).
type MPJoin struct {
	Backup        bool     // SYN, SYN/ACK: B
	AddrID        uint8    // SYN, SYN/ACK: sender's address ID
	Token         uint32   // SYN: the receiver's token
	Nonce         uint32   // SYN, SYN/ACK: the sender's random number
	TruncatedHMAC uint64   // SYN/ACK: leftmost 64 bits of the HMAC
	HMAC          [20]byte // ACK: leftmost 160 bits of the HMAC
}

// DSS is the Data Sequence Signal option (RFC 8684 §3.3). 32-bit DATA_ACK
// and DSN values are held zero-extended, as they were on the wire; widen
// them with ExpandSeq32.
type DSS struct {
	Flags       uint8 // DSSDataAck, DSSAck64, DSSMap, DSSDSN64, DSSDataFIN
	DataAck     uint64
	DSN         uint64
	SubflowSeq  uint32 // relative to the subflow's initial sequence number
	DataLen     uint16 // 0: infinite mapping (RFC 8684 §3.3.1)
	Checksum    uint16 // with HasChecksum
	HasChecksum bool   // a mapping with a checksum (+2 bytes)
}

// HasAck reports the DATA_ACK flag.
func (d *DSS) HasAck() bool { return d.Flags&DSSDataAck != 0 }

// HasMap reports the mapping flag.
func (d *DSS) HasMap() bool { return d.Flags&DSSMap != 0 }

// DataFIN reports the DATA_FIN flag.
func (d *DSS) DataFIN() bool { return d.Flags&DSSDataFIN != 0 }

// Len returns the option length (without alignment padding).
func (d *DSS) Len() int {
	n := lenDSSBase
	if d.Flags&DSSDataAck != 0 {
		n += 4
		if d.Flags&DSSAck64 != 0 {
			n += 4
		}
	}
	if d.Flags&DSSMap != 0 {
		n += 4 + 4 + 2 // DSN, subflow sequence number, data-level length
		if d.Flags&DSSDSN64 != 0 {
			n += 4
		}
		if d.HasChecksum {
			n += 2
		}
	}
	return n
}

// AddAddr is the ADD_ADDR option (RFC 8684 §3.4.1). Version 1 has no
// IPVer field: the family follows from the length (INTEROP A.4).
type AddAddr struct {
	Echo    bool
	ID      uint8
	Addr    netip.Addr // IPv6 (16 bytes on the wire) when Is6, else IPv4 (the zero Addr is 0.0.0.0)
	Port    uint16     // with HasPort
	HasPort bool
	HMAC    uint64 // rightmost 64 bits of the HMAC; absent when Echo
}

// Len returns the option length (without alignment padding).
func (a *AddAddr) Len() int {
	n := lenAddAddrBase + 4
	if a.Addr.Is6() {
		n = lenAddAddrBase + 16
	}
	if a.HasPort {
		n += 2
	}
	if !a.Echo {
		n += 8
	}
	return n
}

// RemoveAddr is the REMOVE_ADDR option (RFC 8684 §3.4.2) with 1..8
// address IDs.
type RemoveAddr struct {
	IDs [MaxRemoveAddrIDs]uint8
	N   uint8
}

// List returns the address IDs (a slice of r.IDs).
func (r *RemoveAddr) List() []uint8 { return r.IDs[:min(int(r.N), MaxRemoveAddrIDs)] }

// MPPrio is the 3-byte MP_PRIO option (RFC 8684 §3.3.8; the kernel only
// sends and accepts the form without address ID, INTEROP A.6).
type MPPrio struct{ Backup bool }

// MPFail is the MP_FAIL option (RFC 8684 §3.7).
type MPFail struct{ DSN uint64 }

// FastClose is the MP_FASTCLOSE option (RFC 8684 §3.5).
type FastClose struct{ ReceiverKey uint64 }

// TCPRST is the MP_TCPRST option (RFC 8684 §3.6).
type TCPRST struct {
	Flags  uint8 // U V W T; TCPRSTTransient
	Reason uint8 // 0 unspecified … 6 middlebox interference
}

// MP_TCPRST reason codes (RFC 8684 §3.6).
const (
	TCPRSTUnspecified    = 0
	TCPRSTMPTCPError     = 1
	TCPRSTNoResources    = 2
	TCPRSTProhibited     = 3
	TCPRSTTooMuchData    = 4
	TCPRSTBadPerformance = 5
	TCPRSTMiddlebox      = 6
)

// parseMPTCP parses one kind-30 option (opt includes kind and length)
// exactly as Linux's mptcp_parse_option: any length the kernel would not
// accept means the option is ignored and counted.
func parseMPTCP(opt []byte, flags uint8, data bool, o *Options, c *Counters) {
	n := len(opt)
	if n < 3 {
		c.MPTCPTooShort++
		return
	}
	sub := opt[2] >> 4
	var bit OptionSet
	switch sub {
	case SubtypeMPCapable:
		// RFC 8684 §3.1; INTEROP A.1: the length is fixed by the segment.
		want, variant := LenMPCapableACK, OptMPCapableACK
		switch {
		case flags&FlagSYN != 0 && flags&FlagACK != 0:
			want, variant = LenMPCapableSYNACK, OptMPCapableSYNACK
		case flags&FlagSYN != 0:
			want, variant = LenMPCapableSYN, OptMPCapableSYN
		case data:
			want, variant = LenMPCapableData, OptMPCapableData
		}
		if n != want && !(want == LenMPCapableData && n == LenMPCapableDataCsum) {
			c.MPTCPBadLength[sub]++
			return
		}
		// Linux is gentle with future versions on the SYN only (it then
		// answers with version 1); everywhere else the version must be 1.
		ver := opt[2] & 0x0f
		if (n == LenMPCapableSYN && ver < MPTCPVersion) || (n != LenMPCapableSYN && ver != MPTCPVersion) {
			c.MPCapableBadVersion++
			return
		}
		f := opt[3]
		if f&MPCCryptoMask != MPCHMACSHA256 || f&MPCExtensibility != 0 {
			c.MPCapableBadFlags++
			return
		}
		m := MPCapable{Version: ver, Flags: f}
		if n >= LenMPCapableSYNACK {
			m.SenderKey = be64(opt[4:])
		}
		if n >= LenMPCapableACK {
			m.ReceiverKey = be64(opt[12:])
		}
		if n >= LenMPCapableData {
			m.DataLen = be16(opt[20:])
		}
		if n == LenMPCapableDataCsum {
			m.Checksum = be16(opt[22:])
			m.HasChecksum = true
		}
		if o.Has.Any(OptMPCapable) {
			c.MPTCPDuplicate++
		}
		o.Has &^= OptMPCapable
		o.Has |= variant
		o.MPCapable = m
		return

	case SubtypeMPJoin:
		// RFC 8684 §3.2; INTEROP A.2: the length alone selects the
		// variant (Linux does not look at the flags).
		var j MPJoin
		switch n {
		case LenMPJoinSYN:
			bit = OptMPJoinSYN
			j = MPJoin{Backup: opt[2]&joinBackup != 0, AddrID: opt[3], Token: be32(opt[4:]), Nonce: be32(opt[8:])}
		case LenMPJoinSYNACK:
			bit = OptMPJoinSYNACK
			j = MPJoin{Backup: opt[2]&joinBackup != 0, AddrID: opt[3], TruncatedHMAC: be64(opt[4:]), Nonce: be32(opt[12:])}
		case LenMPJoinACK:
			bit = OptMPJoinACK
			j = MPJoin{HMAC: [20]byte(opt[4:24])}
		default:
			c.MPTCPBadLength[sub]++
			return
		}
		if o.Has.Any(OptMPJoin) {
			c.MPTCPDuplicate++
		}
		o.Has &^= OptMPJoin
		o.MPJoin = j

	case SubtypeDSS:
		// RFC 8684 §3.3; INTEROP A.3: the expected length follows from the
		// flags; Linux accepts it with or without the 2-byte checksum and
		// checks checksum presence later (the checksum is only read when
		// a mapping is present).
		if n < lenDSSBase {
			c.MPTCPBadLength[sub]++
			return
		}
		d := DSS{Flags: opt[3] & dssFlagMask}
		want := d.Len()
		if n != want && n != want+2 {
			c.MPTCPBadLength[sub]++
			return
		}
		p := opt[4:]
		if d.Flags&DSSDataAck != 0 {
			if d.Flags&DSSAck64 != 0 {
				d.DataAck, p = be64(p), p[8:]
			} else {
				d.DataAck, p = uint64(be32(p)), p[4:]
			}
		}
		if d.Flags&DSSMap != 0 {
			if d.Flags&DSSDSN64 != 0 {
				d.DSN, p = be64(p), p[8:]
			} else {
				d.DSN, p = uint64(be32(p)), p[4:]
			}
			d.SubflowSeq = be32(p)
			d.DataLen = be16(p[4:])
			if n == want+2 {
				d.Checksum = be16(p[6:])
				d.HasChecksum = true
			}
		}
		bit = OptDSS
		if o.Has&bit != 0 {
			c.MPTCPDuplicate++
		}
		o.DSS = d

	case SubtypeAddAddr:
		// RFC 8684 §3.4.1; INTEROP A.4: family and port follow from the
		// length, which depends on the echo flag.
		a := AddAddr{Echo: opt[2]&AddAddrEcho != 0}
		base := n
		if !a.Echo {
			base -= 8
		}
		v6 := false
		switch base {
		case lenAddAddrBase + 4:
		case lenAddAddrBase + 4 + 2:
			a.HasPort = true
		case lenAddAddrBase + 16:
			v6 = true
		case lenAddAddrBase + 16 + 2:
			v6, a.HasPort = true, true
		default:
			c.MPTCPBadLength[sub]++
			return
		}
		a.ID = opt[3]
		p := opt[4:]
		if v6 {
			a.Addr, p = netip.AddrFrom16([16]byte(p[:16])), p[16:]
		} else {
			a.Addr, p = netip.AddrFrom4([4]byte(p[:4])), p[4:]
		}
		if a.HasPort {
			a.Port, p = be16(p), p[2:]
		}
		if !a.Echo {
			a.HMAC = be64(p)
		}
		bit = OptAddAddr
		if o.Has&bit != 0 {
			c.MPTCPDuplicate++
		}
		o.AddAddr = a

	case SubtypeRemoveAddr:
		// RFC 8684 §3.4.2; INTEROP A.5: 1..8 IDs.
		ids := n - 3
		if ids < 1 || ids > MaxRemoveAddrIDs {
			c.MPTCPBadLength[sub]++
			return
		}
		r := RemoveAddr{N: uint8(ids)}
		copy(r.IDs[:], opt[3:])
		bit = OptRemoveAddr
		if o.Has&bit != 0 {
			c.MPTCPDuplicate++
		}
		o.RemoveAddr = r

	case SubtypeMPPrio:
		// INTEROP A.6: only the 3-byte form.
		if n != LenMPPrio {
			c.MPTCPBadLength[sub]++
			return
		}
		bit = OptMPPrio
		if o.Has&bit != 0 {
			c.MPTCPDuplicate++
		}
		o.MPPrio = MPPrio{Backup: opt[2]&joinBackup != 0}

	case SubtypeMPFail:
		if n != LenMPFail {
			c.MPTCPBadLength[sub]++
			return
		}
		bit = OptMPFail
		if o.Has&bit != 0 {
			c.MPTCPDuplicate++
		}
		o.MPFail = MPFail{DSN: be64(opt[4:])}

	case SubtypeFastClose:
		if n != LenFastClose {
			c.MPTCPBadLength[sub]++
			return
		}
		bit = OptFastClose
		if o.Has&bit != 0 {
			c.MPTCPDuplicate++
		}
		o.FastClose = FastClose{ReceiverKey: be64(opt[4:])}

	case SubtypeTCPRST:
		if n != LenTCPRST {
			c.MPTCPBadLength[sub]++
			return
		}
		// INTEROP A.9: Linux parses MP_TCPRST only on RST segments.
		if flags&FlagRST == 0 {
			c.TCPRSTWithoutRST++
			return
		}
		bit = OptTCPRST
		if o.Has&bit != 0 {
			c.MPTCPDuplicate++
		}
		o.TCPRST = TCPRST{Flags: opt[2] & 0x0f, Reason: opt[3]}

	default:
		c.MPTCPUnknownSubtype++
		return
	}
	o.Has |= bit
}

// nop pads b with NOP options and returns len(b).
func nop(b []byte) int {
	for i := range b {
		b[i] = OptionKindNOP
	}
	return len(b)
}

// align4 rounds n up to a multiple of 4.
func align4(n int) int { return (n + 3) &^ 3 }

// MPTCPOptionLen returns the bytes EncodeMPTCPOption writes for the one
// suboption sub (a single MPTCP member of OptionSet): the option and the
// NOP padding Linux puts after it to keep 4-byte alignment. It returns 0
// when o cannot be encoded as sub (REMOVE_ADDR without 1..8 IDs, or sub not
// a single MPTCP member).
func MPTCPOptionLen(o *Options, sub OptionSet) int {
	switch sub {
	case OptMPCapableSYN:
		return LenMPCapableSYN
	case OptMPCapableSYNACK:
		return LenMPCapableSYNACK
	case OptMPCapableACK:
		return LenMPCapableACK
	case OptMPCapableData:
		return LenMPCapableDataCsum // 22 + 2 NOPs, or 24 with the checksum
	case OptMPJoinSYN:
		return LenMPJoinSYN
	case OptMPJoinSYNACK:
		return LenMPJoinSYNACK
	case OptMPJoinACK:
		return LenMPJoinACK
	case OptDSS:
		return align4(o.DSS.Len())
	case OptAddAddr:
		return align4(o.AddAddr.Len())
	case OptRemoveAddr:
		if o.RemoveAddr.N < 1 || o.RemoveAddr.N > MaxRemoveAddrIDs {
			return 0
		}
		return align4(3 + int(o.RemoveAddr.N))
	case OptMPPrio:
		return align4(LenMPPrio)
	case OptMPFail:
		return LenMPFail
	case OptFastClose:
		return LenFastClose
	case OptTCPRST:
		return LenTCPRST
	}
	return 0
}

// EncodeMPTCPOption writes the one suboption sub of o into b, followed by
// the NOPs Linux writes after it (mptcp_write_options): two after a DSS
// mapping without checksum, after an MP_CAPABLE with data and no checksum
// and after an ADD_ADDR with a port; one after MP_PRIO; REMOVE_ADDR padded
// to a multiple of 4. It returns MPTCPOptionLen(o, sub) (0 if sub cannot be
// encoded). b must hold 40 bytes or that length.
func EncodeMPTCPOption(b []byte, o *Options, sub OptionSet) int {
	total := MPTCPOptionLen(o, sub)
	if total == 0 {
		return 0
	}
	b = b[:total]
	b[0] = OptionKindMPTCP
	var n int
	switch sub {
	case OptMPCapableSYN, OptMPCapableSYNACK, OptMPCapableACK, OptMPCapableData:
		m := &o.MPCapable
		n = LenMPCapableSYN
		b[2] = SubtypeMPCapable<<4 | m.Version&0x0f
		b[3] = m.Flags
		if sub != OptMPCapableSYN {
			put64(b[4:], m.SenderKey)
			n = LenMPCapableSYNACK
		}
		if sub == OptMPCapableACK || sub == OptMPCapableData {
			put64(b[12:], m.ReceiverKey)
			n = LenMPCapableACK
		}
		if sub == OptMPCapableData {
			put16(b[20:], m.DataLen)
			n = LenMPCapableData
			if m.HasChecksum {
				put16(b[22:], m.Checksum)
				n = LenMPCapableDataCsum
			}
		}
	case OptMPJoinSYN:
		j := &o.MPJoin
		b[2], b[3] = mpjFirst(j), j.AddrID
		put32(b[4:], j.Token)
		put32(b[8:], j.Nonce)
		n = LenMPJoinSYN
	case OptMPJoinSYNACK:
		j := &o.MPJoin
		b[2], b[3] = mpjFirst(j), j.AddrID
		put64(b[4:], j.TruncatedHMAC)
		put32(b[12:], j.Nonce)
		n = LenMPJoinSYNACK
	case OptMPJoinACK:
		b[2], b[3] = SubtypeMPJoin<<4, 0
		copy(b[4:24], o.MPJoin.HMAC[:])
		n = LenMPJoinACK
	case OptDSS:
		d := &o.DSS
		b[2] = SubtypeDSS << 4
		b[3] = d.Flags & dssFlagMask
		p := 4
		if d.Flags&DSSDataAck != 0 {
			if d.Flags&DSSAck64 != 0 {
				put64(b[p:], d.DataAck)
				p += 8
			} else {
				put32(b[p:], uint32(d.DataAck))
				p += 4
			}
		}
		if d.Flags&DSSMap != 0 {
			if d.Flags&DSSDSN64 != 0 {
				put64(b[p:], d.DSN)
				p += 8
			} else {
				put32(b[p:], uint32(d.DSN))
				p += 4
			}
			put32(b[p:], d.SubflowSeq)
			put16(b[p+4:], d.DataLen)
			p += 6
			if d.HasChecksum {
				put16(b[p:], d.Checksum)
				p += 2
			}
		}
		n = p
	case OptAddAddr:
		a := &o.AddAddr
		b[2] = SubtypeAddAddr << 4
		if a.Echo {
			b[2] |= AddAddrEcho
		}
		b[3] = a.ID
		p := 4
		p += putAddr(b[p:], a.Addr)
		if a.HasPort {
			put16(b[p:], a.Port)
			p += 2
		}
		if !a.Echo {
			put64(b[p:], a.HMAC)
			p += 8
		}
		n = p
	case OptRemoveAddr:
		r := &o.RemoveAddr
		b[2] = SubtypeRemoveAddr << 4
		n = 3 + copy(b[3:], r.IDs[:r.N])
	case OptMPPrio:
		b[2] = SubtypeMPPrio << 4
		if o.MPPrio.Backup {
			b[2] |= joinBackup
		}
		n = LenMPPrio
	case OptMPFail:
		b[2], b[3] = SubtypeMPFail<<4, 0
		put64(b[4:], o.MPFail.DSN)
		n = LenMPFail
	case OptFastClose:
		b[2], b[3] = SubtypeFastClose<<4, 0
		put64(b[4:], o.FastClose.ReceiverKey)
		n = LenFastClose
	case OptTCPRST:
		b[2] = SubtypeTCPRST<<4 | o.TCPRST.Flags&0x0f
		b[3] = o.TCPRST.Reason
		n = LenTCPRST
	}
	b[1] = uint8(n)
	nop(b[n:total])
	return total
}

func mpjFirst(j *MPJoin) uint8 {
	if j.Backup {
		return SubtypeMPJoin<<4 | joinBackup
	}
	return SubtypeMPJoin << 4
}

// putAddr writes addr as 16 bytes when it is IPv6 and as 4 otherwise (the
// zero Addr as 0.0.0.0), and returns the bytes written.
func putAddr(b []byte, addr netip.Addr) int {
	switch {
	case addr.Is6():
		v := addr.As16()
		return copy(b, v[:])
	case addr.Is4():
		v := addr.As4()
		return copy(b, v[:])
	}
	clear(b[:4])
	return 4
}

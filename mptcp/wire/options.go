package wire

// TCP option kinds (IANA "TCP Option Kind Numbers").
const (
	OptionKindEOL           = 0
	OptionKindNOP           = 1
	OptionKindMSS           = 2
	OptionKindWindowScale   = 3
	OptionKindSACKPermitted = 4
	OptionKindSACK          = 5
	OptionKindTimestamps    = 8
	OptionKindMPTCP         = 30 // RFC 8684 §3, INTEROP A.0
)

// TCP option lengths (kind and length bytes included).
const (
	optLenMSS         = 4
	optLenWindowScale = 3
	optLenSACKPerm    = 2
	optLenTimestamps  = 10
	optLenSACKBase    = 2
	optLenSACKBlock   = 8
)

// MaxSACKBlocks is the number of SACK blocks a 40-byte option space can
// hold ((40-2)/8).
const MaxSACKBlocks = 4

// MaxUnknownOptions is how many options of unknown kinds Options keeps;
// further ones are counted in Counters.UnknownOverflow.
const MaxUnknownOptions = 8

// OptionSet is a presence bitmask over the TCP options and MPTCP
// suboptions of one segment (Linux's mptcp_options_received.suboptions,
// extended to the TCP options).
type OptionSet uint32

// The members of an OptionSet. The MP_CAPABLE and MP_JOIN variants are
// distinct members because their layouts differ (INTEROP A.1, A.2).
const (
	OptMSS OptionSet = 1 << iota
	OptWindowScale
	OptSACKPermitted
	OptSACK
	OptTimestamps
	OptUnknown         // at least one option of another kind (kept raw)
	OptMPCapableSYN    // MP_CAPABLE, 4 bytes, on a SYN
	OptMPCapableSYNACK // MP_CAPABLE, 12 bytes, on a SYN/ACK
	OptMPCapableACK    // MP_CAPABLE, 20 bytes, on the third ACK
	OptMPCapableData   // MP_CAPABLE, 22 or 24 bytes, on the first data segment
	OptMPJoinSYN       // MP_JOIN, 12 bytes
	OptMPJoinSYNACK    // MP_JOIN, 16 bytes
	OptMPJoinACK       // MP_JOIN, 24 bytes
	OptDSS
	OptAddAddr
	OptRemoveAddr
	OptMPPrio
	OptMPFail
	OptFastClose
	OptTCPRST
)

// Unions of OptionSet members.
const (
	OptMPCapable = OptMPCapableSYN | OptMPCapableSYNACK | OptMPCapableACK | OptMPCapableData
	OptMPJoin    = OptMPJoinSYN | OptMPJoinSYNACK | OptMPJoinACK
	OptMPTCP     = OptMPCapable | OptMPJoin | OptDSS | OptAddAddr | OptRemoveAddr |
		OptMPPrio | OptMPFail | OptFastClose | OptTCPRST
	OptTCP = OptMSS | OptWindowScale | OptSACKPermitted | OptSACK | OptTimestamps | OptUnknown
)

// Has reports whether every member of m is in s.
func (s OptionSet) Has(m OptionSet) bool { return s&m == m }

// Any reports whether some member of m is in s.
func (s OptionSet) Any(m OptionSet) bool { return s&m != 0 }

var optionNames = [...]string{
	"MSS", "WS", "SACKOK", "SACK", "TS", "UNKNOWN",
	"MPC-SYN", "MPC-SYNACK", "MPC-ACK", "MPC-DATA",
	"MPJ-SYN", "MPJ-SYNACK", "MPJ-ACK", "DSS", "ADD_ADDR", "REMOVE_ADDR",
	"MP_PRIO", "MP_FAIL", "MP_FASTCLOSE", "MP_TCPRST",
}

// String lists the members, for test failures and logs (it allocates).
func (s OptionSet) String() string {
	out := ""
	for i, n := range optionNames {
		if s&(1<<i) != 0 {
			if out != "" {
				out += ","
			}
			out += n
		}
	}
	if out == "" {
		return "none"
	}
	return out
}

// SACKBlock is one SACK block: [Left, Right) in sequence space.
type SACKBlock struct{ Left, Right uint32 }

// Options is the flat value of every TCP option and MPTCP suboption of one
// segment. ParseOptions fills it; PlanOptions and Plan.Encode read it. A
// field is meaningful only when its member is in Has. When a suboption
// appears twice in a segment, the last one wins (as in Linux).
type Options struct {
	Has OptionSet

	MSS         uint16
	WindowScale uint8 // the raw shift; RFC 7323 §2.3 caps it at 14, the engine clamps
	TSVal       uint32
	TSEcr       uint32
	NumSACK     uint8 // blocks in SACK (1..4)
	SACK        [MaxSACKBlocks]SACKBlock
	NumUnknown  uint8 // options in Unknown
	// Unknown holds options of other kinds (TCP-MD5, TCP-AO, Fast Open,
	// AccECN, experimental…) as raw bytes, kind and length included. The
	// slices alias the parsed segment. The planner does not write them.
	Unknown [MaxUnknownOptions][]byte

	MPCapable  MPCapable
	MPJoin     MPJoin
	DSS        DSS
	AddAddr    AddAddr
	RemoveAddr RemoveAddr
	MPPrio     MPPrio
	MPFail     MPFail
	FastClose  FastClose
	TCPRST     TCPRST
}

// Counters counts options that parsing ignored, by reason. The caller owns
// it (one per stack, shard or test) and passes it to ParseOptions or
// ParseSegment; nothing in the package is global. A nil *Counters counts
// nothing.
type Counters struct {
	// OptionTruncated counts segments whose option list ended in an
	// option with a length below 2 or beyond the header: Linux stops
	// parsing there ("silly" and partial options), and so do we.
	OptionTruncated uint64
	// OptionBadLength counts MSS, window-scale, SACK-permitted, SACK and
	// timestamp options with a length other than the standard one.
	OptionBadLength uint64
	// UnknownOverflow counts unknown-kind options beyond
	// MaxUnknownOptions.
	UnknownOverflow uint64

	// MPTCPTooShort counts kind-30 options too short to hold a subtype.
	MPTCPTooShort uint64
	// MPTCPBadLength counts, per subtype (index = subtype, 0..8), MPTCP
	// options whose length is not one Linux accepts for that subtype and
	// segment (INTEROP A.0: "silently ignores any MPTCP option whose
	// length is not one of the exact lengths").
	MPTCPBadLength [NumSubtypes]uint64
	// MPTCPUnknownSubtype counts subtypes 9..15.
	MPTCPUnknownSubtype uint64
	// MPCapableBadVersion counts MP_CAPABLE with version 0 on a SYN, or a
	// version other than 1 elsewhere (INTEROP A.1).
	MPCapableBadVersion uint64
	// MPCapableBadFlags counts MP_CAPABLE whose flags fail
	// (flags&0x1F) == 0x01 or have B set (INTEROP A.1).
	MPCapableBadFlags uint64
	// TCPRSTWithoutRST counts MP_TCPRST on a segment without RST, which
	// Linux ignores (INTEROP A.9).
	TCPRSTWithoutRST uint64
	// MPTCPDuplicate counts suboptions repeated in one segment (the last
	// one is kept).
	MPTCPDuplicate uint64
}

// Ignored returns the total of all counters.
func (c *Counters) Ignored() uint64 {
	n := c.OptionTruncated + c.OptionBadLength + c.UnknownOverflow + c.MPTCPTooShort +
		c.MPTCPUnknownSubtype + c.MPCapableBadVersion + c.MPCapableBadFlags +
		c.TCPRSTWithoutRST + c.MPTCPDuplicate
	for _, v := range c.MPTCPBadLength {
		n += v
	}
	return n
}

// ParseOptions parses the TCP option bytes b (TCP.Options) of a segment
// with the given flags, carrying payload or not (data), into o, which it
// resets first. Like Linux's tcp_parse_options and mptcp_get_options it
// stops at EOL or at an option whose length is below 2 or runs past b; an
// option with a wrong length is ignored and counted in c (which may be
// nil). It never fails and never panics.
//
// The MPTCP option lengths depend on the segment: MP_CAPABLE is 4 bytes on
// a SYN, 12 on a SYN/ACK, 20 on an ACK without data and 22 or 24 on one
// with data (RFC 8684 §3.1; INTEROP A.1), and MP_TCPRST is accepted only
// with RST (INTEROP A.9). MSS, window scale and SACK-permitted are parsed
// on any segment; the engine decides whether to use them.
func ParseOptions(b []byte, flags uint8, data bool, o *Options, c *Counters) {
	var scratch Counters
	if c == nil {
		c = &scratch
	}
	*o = Options{}
	for i := 0; i < len(b); {
		kind := b[i]
		if kind == OptionKindEOL {
			return
		}
		if kind == OptionKindNOP {
			i++
			continue
		}
		if i+1 >= len(b) {
			c.OptionTruncated++
			return
		}
		n := int(b[i+1])
		if n < 2 || i+n > len(b) {
			c.OptionTruncated++
			return
		}
		opt := b[i : i+n]
		i += n
		switch kind {
		case OptionKindMSS:
			if n != optLenMSS {
				c.OptionBadLength++
				continue
			}
			o.Has |= OptMSS
			o.MSS = be16(opt[2:])
		case OptionKindWindowScale:
			if n != optLenWindowScale {
				c.OptionBadLength++
				continue
			}
			o.Has |= OptWindowScale
			o.WindowScale = opt[2]
		case OptionKindSACKPermitted:
			if n != optLenSACKPerm {
				c.OptionBadLength++
				continue
			}
			o.Has |= OptSACKPermitted
		case OptionKindSACK:
			nb := (n - optLenSACKBase) / optLenSACKBlock
			if n < optLenSACKBase+optLenSACKBlock || (n-optLenSACKBase)%optLenSACKBlock != 0 || nb > MaxSACKBlocks {
				c.OptionBadLength++
				continue
			}
			o.Has |= OptSACK
			o.NumSACK = uint8(nb)
			for k := range nb {
				p := opt[optLenSACKBase+k*optLenSACKBlock:]
				o.SACK[k] = SACKBlock{Left: be32(p), Right: be32(p[4:])}
			}
		case OptionKindTimestamps:
			if n != optLenTimestamps {
				c.OptionBadLength++
				continue
			}
			o.Has |= OptTimestamps
			o.TSVal = be32(opt[2:])
			o.TSEcr = be32(opt[6:])
		case OptionKindMPTCP:
			parseMPTCP(opt, flags, data, o, c)
		default:
			if int(o.NumUnknown) == MaxUnknownOptions {
				c.UnknownOverflow++
				continue
			}
			o.Has |= OptUnknown
			o.Unknown[o.NumUnknown] = opt
			o.NumUnknown++
		}
	}
}

// Blocks returns the parsed SACK blocks (a slice of o.SACK).
func (o *Options) Blocks() []SACKBlock { return o.SACK[:o.NumSACK] }

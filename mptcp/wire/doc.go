// Package wire reads and writes everything the mpxdp engine puts on or takes
// off the wire: Ethernet (with VLAN tags), ARP, IPv4, IPv6, TCP, the TCP
// options, every MPTCP option of RFC 8684, the option-space planner that
// decides what one segment carries, and the MPTCP keys, tokens, IDSNs and
// HMACs. The byte layouts are those Linux 6.18 sends and accepts
// (../shared/INTEROP.md Part A), proven against kernel captures in testdata
// and against tshark.
//
// # Contract
//
//   - Views ([Ethernet], [ARP], [IPv4], [IPv6], [TCP]) are built only by
//     their Parse function, which checks every length once. After that no
//     accessor panics. A view aliases the caller's buffer: it copies nothing
//     and must not be kept after the buffer is reused. The zero value of a
//     view is not a valid view.
//   - Parsing never panics on any input (fuzzed: FuzzParseSegment). Header
//     damage that makes a packet unusable is reported with a sentinel error
//     (no allocation). Option damage is not an error: like Linux
//     (net/mptcp/options.c), an option with a length the kernel would not
//     accept is ignored, the rest of the segment is processed, and the
//     reason is counted in a caller-owned [Counters] (no globals).
//   - [ParseOptions] fills one flat [Options] value per segment: TCP options
//     and every MPTCP suboption, with a presence bitmask ([OptionSet]).
//     Semantic checks (is this key ours, is this mapping in window) belong
//     to the engine, not to this package; the only semantic rules applied
//     here are the ones Linux applies while parsing (MP_CAPABLE version and
//     flags, MP_TCPRST only on RST).
//   - Encoders write into the caller's buffer and return the number of
//     bytes written. They do not check the buffer: a buffer shorter than
//     the documented maximum (60 bytes for a TCP header with options, 20 or
//     40 for an IP header) is a programming error and panics like a slice
//     index. The planner ([PlanOptions]) never produces more than 40 option
//     bytes.
//   - Nothing in the package allocates: parsing and encoding every segment
//     type, the planner, the HMACs (computed with crypto/sha256 over stack
//     arrays, not crypto/hmac) and the checksums are proven with
//     testing.AllocsPerRun. The package does no I/O, reads no clock, starts
//     no goroutine and takes randomness only as an injected
//     math/rand/v2 Source ([GenerateKey]).
//
// # Receiving a segment
//
// The caller hands an IP packet (a view into its frame) to [ParseSegment],
// which fills a [Segment]: the IP and TCP views and the [Options]. While it
// copies the payload into the connection's buffer with cksum.CopyAndSum it
// gets the payload's partial sum for free; [Segment.ChecksumOK] finishes the
// TCP checksum from that partial, and [DSSChecksumOK] checks a DSS mapping
// from the partials of all its segments combined with cksum.CombineAt.
// [Options.Mapping] turns a DSS or MP_CAPABLE-with-data option into one
// mapping; [ExpandSeq32] widens 32-bit DSNs and DATA_ACKs (INTEROP A.12).
//
// # Sending a segment
//
// The caller fills an [Options] value with what the segment should carry
// and calls [PlanOptions], which applies the kernel's combination rules
// (MP_CAPABLE and MP_JOIN exclusive with DSS, ADD_ADDR alone on a pure ACK,
// MP_FASTCLOSE only on RST with MP_TCPRST when there is room, SACK blocks
// dropped first) and reports what did not fit. Then, into a frame buffer
// that leaves room for the link-layer header:
//
//	ip := frame[l2:]                                   // l2: room for the link-layer header
//	tcp := ip[wire.IPv4HeaderLen:]
//	plan := wire.PlanOptions(&opts, flags, len(payload) > 0)
//	plan.Encode(tcp[wire.TCPHeaderLen:], &opts)        // options, NOP-padded as Linux pads them
//	hl := tcpHdr.Encode(tcp, plan.Len)                 // TCP header (a wire.TCPHeader), checksum zero
//	sum := cksum.CopyAndSum(tcp[hl:], payload)         // the payload starts at an even offset
//	ipHdr.PayloadLen = hl + len(payload)               // ipHdr is a wire.IPv4Header
//	ipHdr.Encode(ip)                                   // IPv4 header with its checksum
//	pseudo := cksum.IPv4PseudoHeader(ipHdr.Src, ipHdr.Dst, wire.ProtocolTCP, uint16(hl+len(payload)))
//	wire.SetTCPChecksum(tcp[:hl], pseudo, sum)
//
// The same payload partial, combined over a mapping, gives the DSS checksum
// ([DSSChecksum]).
//
// RFC 8684 sections are cited at each decision point; the compliance matrix
// is in docs/compliance.md.
package wire

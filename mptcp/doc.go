// Package mptcp is mpxdp's Multipath TCP v1 engine (RFC 8684), speaking
// the protocol as Linux 6.18 does (../shared/INTEROP.md): the connection
// level that glues TCP subflows (package mptcp/tcp) into one reliable byte
// stream.
//
// # Contract (sans-IO)
//
// An [Endpoint] owns listeners, connections and the demultiplexing of
// segments to subflows (by 4-tuple, or by token for an MP_JOIN SYN). It is
// driven by one goroutine at a time and does no I/O: no goroutines, locks,
// clocks, syscalls or global randomness (a random source comes in through
// [Config]; `now` is an argument).
//
//	ep.HandleSegment(now, ipPacket)  // input: a view into a frame, used only during the call
//	ep.HandleSegmentChain(now, head, rest) // the same for a packet in several buffers (jumbo multi-buffer)
//	n := ep.PollTransmit(now, buf)   // output: call until it returns 0
//	t, ok := ep.NextTimeout()        // then ep.HandleTimeout(now) when due
//	ev, ok := ep.PollEvent()         // Accepted, Established, Readable, Writable, Fallback, Closed
//	c.Write(p); c.Read(p)            // non-blocking application I/O on a *Conn
//	c.LendReadBuffer(p); n := c.ReturnReadBuffer() // or in-order bytes copied straight into p
//
// Protocol violations never surface as Go errors from HandleSegment: they
// become counters, RSTs (with MP_TCPRST reasons), MP_FAIL, fallback to
// TCP, and, when fatal, an EventClosed with a typed error ([ResetError],
// [ErrTimeout], ...). [FallbackError] says why a connection left MPTCP.
//
// # Data path
//
// Payload is copied once in each direction with the checksum fused in
// (cksum.CopyAndSum): the application's bytes go into the send buffer by
// data sequence number (DSN), keeping per-block sums; a subflow takes a
// mapping of up to 64 KiB (TSO-aware, RFC 8684 §3.3.1), every segment of
// which repeats the same DSS option, and copies its payload straight from
// the send buffer into the frame. The DSS checksum of a mapping comes from
// the stored block sums; the TCP checksum from the copy. On receive, each
// segment's payload is copied from the frame to its DSN in the receive
// buffer, only where the connection does not hold those bytes yet (so a
// duplicate from another subflow never overwrites accepted data); the sum
// of that copy verifies the TCP checksum and, accumulated over the
// mapping, the DSS checksum. The ofo queue (package ofo, with one shortcut
// hint per subflow) records what is held beyond the DATA_ACK.
//
// # Behaviour (see docs/compliance.md for the section-by-section list)
//
//   - MP_CAPABLE v1 in both roles: the key echo of the third ACK, the
//     client's MP_CAPABLE on its first data until the first DSS arrives,
//     checksum negotiation as Linux (either side's A flag), the C flag.
//   - DSS with 64-bit DSNs; DATA_ACK width mirroring the peer's mappings;
//     one receive window shared by all subflows, relative to the DATA_ACK,
//     whose announced right edge never moves left; the send window is the
//     DATA_ACK plus the window of the segment that carried it.
//   - DATA_FIN on every subflow, retransmitted by the MPTCP-level timer;
//     TCP FINs once both DATA_FINs are done, the side that closed first
//     taking the TIME-WAITs (RFC 8041 §3.6); MP_FASTCLOSE on abort or close
//     with unread data; make-after-break while no subflow is left.
//   - MP_JOIN in both roles with HMACs, no data before the fourth ACK,
//     limits enforced at the third ACK as Linux does; ADD_ADDR with HMAC,
//     echo and up to 4 transmissions; REMOVE_ADDR; MP_PRIO.
//   - Fallback to TCP (§3.7) when MP_CAPABLE is stripped from the SYN/ACK
//     or third ACK, when data arrives without a mapping before any
//     mapping, on invalid mappings early on, and after a DSS checksum
//     failure on the only subflow (MP_FAIL, infinite mappings); a checksum
//     failure with other subflows resets that subflow (MP_TCPRST reason 6)
//     and its data is reinjected. The application never sees corrupted
//     bytes.
//   - Middleboxes that drop MPTCP SYNs (§3.1, blackhole.go): Dial's SYN
//     goes without MP_CAPABLE after two retransmissions and, if that is
//     what got through, later Dials skip MPTCP for Config.BlackholeTimeout;
//     a listener answers a client's SYN that came again without
//     MP_CAPABLE as plain TCP, and a Dial whose SYN without MP_CAPABLE
//     goes unanswered too resends it from a new port.
//   - Reinjection: data a dead or reset subflow did not deliver, the head
//     mapping of a subflow in RTO, and data the MPTCP-level timer finds
//     held by no live subflow go to other subflows.
//
// Policies are pluggable per connection: schedulers (mptcp/sched),
// congestion control (mptcp/cc, coupled or not), path managers
// (mptcp/pm). The simulator harness is mptcp/mptcptest.
package mptcp

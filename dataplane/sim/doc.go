// Package sim is mpxdp's deterministic discrete-event network simulator.
// Hosts run real protocol engines (through the small [Endpoint] interface:
// packets in, packets out, one timer), links have a rate, a propagation
// delay, a drop-tail queue in bytes or packets, and seeded random loss,
// reordering, duplication and corruption. Virtual time only advances from
// event to event, so a transfer that would take minutes runs in
// milliseconds, and every run is reproducible from its seed.
//
// # Contract
//
//   - Single goroutine: the caller drives the simulation with Run, RunUntil
//     or Step; nothing runs in the background and nothing reads the wall
//     clock. Events at the same virtual time run in scheduling order.
//   - The simulator carries IP packets and knows nothing of TCP: a host
//     routes a packet to the interface that owns its source address (one
//     address per path), and a link delivers to the interface at its other
//     end. That keeps the package below the protocol engines (layer 30 in
//     docs/architecture.md), so their tests can use it.
//   - After every event the simulator polls each host the event touched for
//     output (PollTransmit until it returns 0) and re-arms its timer
//     (NextTimeout). Code that changes an endpoint from outside an event
//     (a test writing application data) calls Host.Wake.
//   - Packets are copied into pooled buffers when they enter a link; steady
//     state allocates nothing per packet.
//   - Any link can write a pcap file of what it delivers (raw IP), for
//     tshark or Wireshark.
//
// Switches with ECMP hashing (and CFLB) and middleboxes plug in as further
// packet receivers; they arrive with the issues that need them.
package sim

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
// # Middleboxes
//
// A middlebox from dataplane/mbox (a NAT, ISN rewriting, option
// stripping, segment splitting and coalescing, payload rewriting,
// proactive ACKs, dropping by predicate, or a chain of them) sits on a
// link (Link.SetMiddlebox) or on both links of a path (Path.Middlebox,
// Sim.AttachMiddlebox), with one state for both directions so that a NAT
// maps replies back. Packets pass through it when they are sent, before
// the link's queue; what it emits enters the queue of the link for the
// direction it names, so a proactive ACK goes back on the reverse link.
// A middlebox that holds packets (mbox.Timed) gets timer events like a
// host. Emitted packets are copied into the pooled buffers like any
// other, so middleboxes add no allocation per packet.
//
// # Routers
//
// A Router forwards by destination address, longest prefix first, and
// decrements the TTL. A route may list several equal-cost ports; the
// router then hashes each flow's 5-tuple with a per-router seed
// (Router.Hash, FlowHash by default) so that a flow keeps its port and
// flows spread over the ports (ECMP, the FatTree experiments). Hosts join
// routers with ConnectHost (which adds a host route), routers join each
// other with ConnectRouters. Sim.Dumbbell builds the shared-bottleneck
// topology of the fairness experiments: left hosts (one may have two
// addresses, so that both of its subflows cross the bottleneck), right
// hosts, two routers and the bottleneck link between them.
package sim

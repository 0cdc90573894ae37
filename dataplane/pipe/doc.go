// Package pipe is an in-memory, real-time network for the runtime: a pair
// of link.Link values joined by one or more paths, each direction of which
// may be impaired (rate, propagation delay, drop-tail queue, random loss
// and reordering). It is the backend when AF_XDP is not available (no root,
// no NIC) and the one the API tests use.
//
// # Contract
//
//   - Addressing. Path i (from 0) gives side A the address 10.0.{i+1}.1 and
//     side B 10.0.{i+1}.2, unless the Path names its own addresses. A
//     packet leaves on the path whose local address is its source, as a
//     host with one address per interface does (dataplane/sim routes the
//     same way), so a subflow from path 1's address to path 2's peer
//     address crosses path 1. A packet whose source is no local address,
//     or whose destination is no address of the other side, is dropped
//     and counted (link.Stats.NoRoute).
//   - Real time. Delays, serialisation at the path's rate and queueing
//     follow the monotonic clock; Wait sleeps until the next packet is due,
//     Wake is called, or the timeout passes.
//   - Zero copy. Buffers come from a pool shared by the pair: Transmit hands
//     the reserved buffer itself to the other side, which gives it back to
//     the pool on its next Receive. The pool grows in chunks up to
//     Config.MaxBuffers and never shrinks, so the steady state allocates
//     nothing.
//   - Impairments draw from a random source seeded by Config.Seed; which
//     packets are lost depends on the seed and on the real-time interleaving
//     of the two sides, so runs are random but not reproducible.
//   - Drops by loss or a full queue are counted on the sending side
//     (link.Stats.TxDropped) and per path (Link.PathStats).
//   - Concurrency. As link.Link: one goroutine per side calls every method
//     but Wake. The two sides run in different goroutines.
package pipe

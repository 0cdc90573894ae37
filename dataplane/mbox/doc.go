// Package mbox models what middleboxes do to TCP and MPTCP traffic, as
// pure, deterministic transforms on IP packets (IPv4 and IPv6, TCP). The
// transforms are the Click elements of the NSDI'12 MPTCP paper (§4.1,
// "Supporting middleboxes"): NAT, sequence-number rewriting, segment
// splitting and coalescing, option stripping, payload rewriting and
// proactive ACKing, plus dropping by predicate. The simulator
// (dataplane/sim) runs them on links and paths; the AF_XDP bridge runs the
// same code on real frames. The engine's robustness tests use them to show
// that every middlebox ends in MPTCP or in a clean fallback to TCP, never
// in corrupted data (RFC 8684 §3.7, ../shared/INTEROP.md B.2).
//
// # Contract
//
//   - A [Middlebox] sees every packet of a path in both directions
//     ([Forward] and [Reverse]) through Process, and passes on what it
//     lets through by calling the [Emit] it is given: once with the packet
//     (possibly modified in place) to forward it, never to drop it,
//     several times to split it, or later — from HandleTimeout, for the
//     middleboxes that implement [Timed] — to hold it and merge it with
//     the next one. It may emit in the opposite direction (a proactive
//     ACK goes back to the sender). The packet handed to Process and to
//     Emit is valid only during the call; Emit copies it, and may first
//     modify it in place (the next stage of a [Chain] does).
//   - Deterministic: no clocks (time comes in as now), no goroutines, no
//     global randomness (random offsets come from a seed), no map
//     iteration where order matters. The same packets at the same times
//     give the same output.
//   - Checksums stay right: after every transform the IPv4 header
//     checksum and the TCP checksum verify if they verified before. Field
//     rewrites use RFC 1624 incremental updates (cksum.Update16,
//     Update32, or the same equation over a span of changed bytes), which
//     carry a wrong checksum through unchanged, as a real NAT does;
//     transforms that resize a packet recompute the checksums only after
//     checking the old ones and pass a damaged packet on untouched, so
//     that no middlebox ever launders corruption into a valid packet.
//   - Packets that are not TCP, or that wire.ParseSegment rejects
//     (fragments, truncated headers), pass through unchanged.
//   - Per-flow state (a NAT mapping, an ISN offset, a held segment) is
//     allocated when a flow first appears; after that, processing a packet
//     allocates nothing (proven with testing.AllocsPerRun).
//
// The DSS option's subflow sequence number is relative to the subflow's
// initial sequence number (RFC 8684 §3.3.1) precisely so that
// [RewriteISN] cannot break it, and its data-level length and checksum
// make [Split] harmless and [ModifyPayload] detectable (NSDI'12 §3.3.4,
// §3.3.6). Without DSS checksums a payload-rewriting middlebox corrupts
// an MPTCP connection exactly as it corrupts a TCP one.
package mbox

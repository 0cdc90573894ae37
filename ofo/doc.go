// Package ofo is the connection-level out-of-order queue of an MPTCP
// receiver: data that arrived in order on its subflow but ahead of the
// connection's next expected data sequence number (DSN). It implements the
// NSDI'12 design (§4.3; ALGORITHMS.md Part I §1.2): per-subflow shortcuts
// that place a subflow's next segment in O(1), and runs of contiguous
// segments ("batches") so that a search visits runs, not segments.
//
// # Contract
//
//   - A [Seg] refers to payload; the queue never reads, copies or frees the
//     bytes. Trimming a segment advances DSN and Off and shortens Len. The
//     payload may live in a receive ring (Handle unused) or in a frame.
//   - Ownership: every segment given to Insert comes back exactly once,
//     either from [Queue.Pop] (delivered in order) or through
//     [Config.Release] (rejected, evicted, passed by Advance, left at
//     Reset, or delivered by [Queue.PopRun]), so the caller can recycle
//     frames.
//   - Delivery: Pop hands out one in-order segment; [Queue.PopRun]
//     delivers everything in order at once (the first run) and returns its
//     range, for a caller whose payload already sits at its DSN. A queue
//     created with Release == nil frees that run wholesale, in O(1),
//     without visiting its nodes; with a Release function PopRun hands each
//     segment to it, in order.
//   - Bytes are never lost or duplicated. Queued segments never overlap.
//     A newcomer is trimmed to the bytes not yet queued; a queued run that
//     lies wholly inside it is evicted (released) instead, so that no
//     segment is ever split; a queued segment is never cut because of a
//     newcomer. Concretely, s = [a, b) is stored as [a', b') where a' is the
//     first byte at or after a that is not queued, and b' is b, or the start
//     of the queued run holding byte b if there is one. If every byte is
//     queued, s is a Duplicate. The fuzz model in the tests states these
//     rules on a byte map.
//   - The left edge ([Queue.Next], rcv_nxt) only moves forward: by Pop, or
//     by [Queue.Advance] for data the caller took in order by itself, which
//     releases or trims what lies below it. Data wholly below the edge is
//     Old; data partly below is trimmed. An optional right edge
//     ([Queue.SetLimit]) bounds data beyond the advertised window.
//   - DSNs are compared by signed 64-bit distance, so they may wrap; every
//     queued byte and the limit must lie within 2^63 of the left edge.
//   - Bounded memory: all nodes are allocated by New; Insert, Pop, Drain and
//     Advance never allocate. When no node is free, an insert that would
//     need one is rejected as Full and the queue is unchanged (a newcomer
//     that evicts something always fits).
//   - No I/O, clocks, goroutines or locks (the engine rules in
//     docs/architecture.md). A queue is used by one goroutine at a time.
//
// # Shortcuts
//
// The caller keeps a [Hint] per subflow and passes it to Insert, which
// returns the updated one: the last segment of the run that now holds the
// subflow's data. If the next segment of that subflow starts where that
// segment ends and nothing queued follows it, Insert places it there
// without a search. A hint is a node index and a generation; freeing a node
// bumps its generation, so a hint whose segment was delivered or evicted is
// detected with one comparison. Any hint, even a forged one, is checked
// against the live structure before use, so a bad hint costs a search and
// never misplaces data. PopRun frees a run without touching its nodes, so
// their generations stay odd: a hint to one is recognised as stale by its
// segment lying below the left edge, where nothing queued ever is.
//
// Two exceptions serve striped subflows (segments dealt one at a time, so
// that a subflow's next segment never continues its own last one). Once two
// of a subflow's segments in a row were placed after the run that followed
// its hint, the hint predicts: it names the last segment of the run after
// the newcomer's, where the subflow's next segment starts if the subflows
// keep taking turns, so that segment is an ordinary hint hit. And an
// in-order insert returns the caller's hint unchanged: the data is
// delivered next, and a retransmission a subflow carries should not cost
// it its shortcut. Both are only hints; a wrong one costs a search.
//
// # Structure and cost
//
// Nodes sit in one slice and link by int32 index (no pointers for the
// garbage collector to trace). They form a doubly linked list sorted by
// DSN. A run is a maximal chain of contiguous nodes; only its first and
// last nodes carry its bounds (each links to the other; for the first run
// the queue holds them, so that Pop touches only the node it removes), so
// joining runs is O(1). Insert tries, in order: the left edge (in-order data, TCP's fast
// path), the hint, the run right after the hint's (where a subflow's
// segment lands when segments are striped one at a time and the faster
// subflows have filled in what was sent between its last one and this),
// the two ends of the queue, an index of run ends (a
// direct-mapped table from a DSN to a node that ended a run there, which
// stands in for every other subflow's shortcut, the paper's AllShortcuts,
// and is checked like a hint), and then a walk over runs from the nearest
// known run boundary. Within a run there are no holes, so a newcomer only
// ever meets run boundaries: the walk never visits the segments inside a
// run.
//
//   - Insert: O(1) for in-order data, hint hits, the run after the hint's,
//     either end and index hits;
//     otherwise O(runs walked). Evictions cost O(1) per evicted segment, and a segment
//     is evicted at most once.
//   - Pop: O(1). PopRun: O(1) without Release, else O(segments). Advance:
//     O(1) per segment released. Holes, Blocks: O(runs).
//   - Memory: 48 bytes per node of capacity, and 4 to 8 for the index of
//     run ends (a power of two entries, at least the capacity).
//
// # Baselines
//
// [List] (a sorted list searched from the tail, with a tail fast path, as
// Linux TCP's queue was) and [Tree] (a red-black tree with a fast path after
// the last segment, as upstream Linux's tcp_data_queue_ofo and
// mptcp_data_queue_ofo) implement the same [Interface] with the same
// semantics and the same O(1) path for in-order data. They exist for the comparison in docs/ofo.md and for
// reproducing NSDI'12 Figure 8; the engine uses [Queue].
//
// # Tags and checksums
//
// Seg has no tag field: Go keeps structs of at most four fields in
// registers, and with six an in-order insert and pop took three times as
// long (docs/ofo.md). A caller that wants to carry, say, the subflow id packs it
// into Handle. A partial checksum cannot be carried usefully anyway: it
// cannot be adjusted cheaply when a segment is trimmed. In mpxdp the TCP
// and DSS checksums are verified on arrival, in subflow order, before data
// reaches this queue, so nothing needs to be re-summed; a caller that does
// keep a sum per Handle must treat it as stale once Insert returns Trimmed
// or the segment comes out of Pop with a different DSN or Len.
package ofo

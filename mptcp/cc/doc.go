// Package cc implements congestion control for mpxdp's subflows: NewReno
// (RFC 5681, RFC 6582) and CUBIC (RFC 9438), both with appropriate byte
// counting (RFC 3465), behind an interface through which a coupled
// controller can see every subflow of its connection.
//
// # Contract
//
//   - Sans-IO: every callback receives `now` (time since an arbitrary
//     epoch chosen by the driver); controllers never read a clock and hold
//     no goroutines or locks. A controller belongs to one subflow and is
//     called from one goroutine at a time.
//   - Windows are in bytes. The TCP engine decides when loss recovery
//     starts and ends and calls OnCongestion once per episode, OnRTO on a
//     timeout, OnAck for progress outside fast recovery (after a timeout
//     too: the window restarts in slow start).
//   - An MPTCP connection makes one [Group] from an [Algorithm] and one
//     [Controller] per subflow from it. Uncoupled algorithms (reno, cubic)
//     ignore the group; coupled ones (LIA, OLIA, BALIA) keep their shared
//     state there.
//   - Per-ACK callbacks allocate nothing.
//
// Algorithms register themselves by name ([Register], [Lookup], [Names]).
package cc

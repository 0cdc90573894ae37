// Package cksum computes the Internet checksum (RFC 1071) the way a
// TCP/MPTCP stack needs it: as unfolded partial sums that can be started,
// continued, combined across segments (including parts that begin at an odd
// byte offset), fused with the copy that moves payload in and out of the
// stack, and extended with the IPv4, IPv6 and MPTCP DSS pseudo-headers.
//
// # Contract
//
//   - A [Partial] is an unfolded one's-complement accumulator. It is congruent
//     modulo 0xFFFF to the sum of the covered bytes read as big-endian 16-bit
//     words (a trailing odd byte is padded with a zero low byte), and it is
//     zero only when every covered byte is zero, so folding distinguishes the
//     two one's-complement zeros exactly as RFC 1071's reference loop does.
//   - [Sum], [CopyAndSum] and every helper are pure functions: no allocation,
//     no I/O, no clocks, no goroutines, no locks. The package is part of the
//     sans-IO engine (see docs/architecture.md).
//   - The implementation is chosen once at start-up from the CPU's features
//     (AVX-512BW, AVX2, else the portable 64-bit loop); [Use] forces one for
//     tests and benchmarks. All implementations return identical folds; the
//     differential tests in this package prove it against [Reference].
//
// Odd offsets: the bytes of a part that starts at an odd offset within the
// checksummed region sit in the other half of each 16-bit word. [CombineAt]
// accounts for that, which is what a DSS mapping spanning segments of odd
// length needs (RFC 8684 §3.3.1, RFC 1071 §2(B) byte-order independence).
//
// Incremental updates (RFC 1624, eqn. 3) fix a checksum after a header field
// is rewritten without summing the packet again: [Update16], [Update32].
package cksum

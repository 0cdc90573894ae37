// Package interop holds mpxdp's interoperability tests against the Linux
// kernel's MPTCP (RFC 8684 v1) over real AF_XDP sockets on the veth bed of
// INTEROP C.1/C.2 (internal/testbed, scripts/testbed.sh). It has no API:
// the tests (package interop_test) need root, skip with a message without
// it, and run in CI, which is root.
//
// Every test builds its own bed with fresh mpxX-prefixed names, deletes it
// when it ends, and sends traffic only inside it. A test asserts the bytes
// (SHA-256 of random data each way), the subflows used, the kernel's nstat
// MPTcpExt counters (no fallback, checksum, mapping or HMAC error) and,
// with tshark, that no captured segment is malformed. docs/interop.md
// describes the matrix and the numbers.
package interop

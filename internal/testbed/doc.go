// Package testbed builds the two-namespace veth bed of INTEROP C.1/C.2 for
// tests and benchmarks, and drives the Linux kernel's MPTCP in it.
//
// The contract:
//
//   - One bed definition. New runs scripts/testbed.sh, the same script users
//     run by hand, so the Go tests and the documented bed never drift apart.
//   - Names. Every bed gets fresh names ("mpxX" and six random hex digits,
//     then a and b for the namespaces, m for the optional middle one, and
//     a1, b1, ... for the veths), and t.Cleanup deletes the namespaces by
//     name, also when the test fails.
//     Nothing outside the bed's namespaces is touched; test traffic goes only
//     to addresses inside them.
//   - Privileges. Helpers skip the test with a message when the process is
//     not root or a tool is missing, except under CI (CI set), where a
//     missing tool fails the test: CI must not go green by skipping.
//   - Kernel peers run inside the test process: Do enters a namespace on a
//     locked OS thread that is discarded afterwards, so a socket made there
//     belongs to that namespace and no other goroutine strays into it.
//   - Observation: nstat counters per namespace, tcpdump captures checked
//     by tshark, and Exchange, which moves seeded random bytes both ways
//     and compares SHA-256 digests.
//
// testbed sits in layer 0 (internal/...): it imports no other package of
// the module, so every layer's tests may use it.
package testbed

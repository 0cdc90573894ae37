// Mpbench measures Multipath TCP between two hosts, like iperf3, with the
// Linux kernel's MPTCP and TCP as built-in baselines.
//
//	mpbench demo                  a two-path test bed and a side-by-side table (as root)
//	mpbench server [options]      answer tests
//	mpbench client HOST [options] run a test against a server
//
// The contract:
//
//   - Stacks. --stack chooses the data connections' stack: xdp (mpxdp over
//     AF_XDP on --dev NICs), kernel (Linux MPTCP sockets), tcp (Linux TCP),
//     mem (mpxdp over in-memory emulated paths, both ends in one process).
//     The control connection always uses the kernel's TCP (or an in-memory
//     pipe with mem), so that it never competes with the stack under test
//     for its port.
//   - Control protocol (proto.go): JSON lines on the control port, one test
//     at a time per server, versioned; data connections on the next port
//     open with a 16-byte header carrying the test's cookie. Anything else on
//     either port is answered with an error or closed, and counted.
//   - Results. Each side measures its own application bytes per connection,
//     per interval and at the end, its subflows' counters (mpxdp's engine;
//     the kernel's MPTCP_TCPINFO and MPTCP_SUBFLOW_ADDRS, or TCP_INFO), and
//     its process's CPU time; the server returns its side to the client,
//     which prints both (text, or one JSON document with --json).
//   - Modes: bulk (-t or -n, -R, -P), --latency (8 KiB blocks stamped at the
//     sender; one-way delays across hosts are corrected by an NTP-style
//     clock offset measured on the control connection), --rr SIZE (closed-
//     loop request/response over a new connection per request).
//   - Ctrl-C ends a test early and prints what was measured (exit status
//     130); a second Ctrl-C ends the process. At the server it asks the
//     client to end the test, so that both reports cover the same bytes.
//   - demo builds the bed of scripts/testbed.sh in namespaces named mpxB…,
//     runs one server and one client process per row, and deletes the
//     namespaces on every way out but SIGKILL. Without root it runs mpxdp
//     over emulated paths instead and says why.
//
// docs/mpbench.md describes the output, the JSON fields and the demo.
package main

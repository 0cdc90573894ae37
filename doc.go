// Package mpxdp is a userspace Multipath TCP (RFC 8684, MPTCP v1)
// transport: a Stack runs the sans-IO engine (package mptcp) on a runtime
// shard (package dataplane) over a network Link (AF_XDP NICs, or
// in-memory pipes), and hands out connections that implement net.Conn and
// listeners that implement net.Listener. A Stack speaks the wire protocol
// as Linux does, so its peer may be another Stack or a Linux host.
//
//	s, err := mpxdp.NewStack(mpxdp.Config{Link: l})
//	ln, err := s.Listen("tcp", ":5001")
//	c, err := s.Dial("tcp", "10.0.1.2:5001")
//
// # Contract
//
//   - Conn follows net.Conn: Read blocks until data, the end of the stream
//     (io.EOF) or an error; Write blocks until every byte is taken; both
//     honour deadlines (os.ErrDeadlineExceeded); every method may be
//     called from any goroutine. CloseWrite half-closes (a DATA_FIN).
//   - Errors other than io.EOF are *net.OpError values. Their Err matches
//     with errors.Is or errors.As: syscall.ECONNREFUSED (dial to a port
//     nobody listens on), syscall.ECONNRESET and *ResetError (the peer
//     reset the connection), syscall.ETIMEDOUT (the connection timed out),
//     syscall.EPIPE (a write after CloseWrite or after the connection
//     ended), net.ErrClosed (use after Close, or after Stack.Close),
//     os.ErrDeadlineExceeded (a deadline passed). A fallback to plain TCP
//     is not an error; Conn.Fallback says why it happened (*FallbackError).
//   - Setup errors (NewStack) say what failed and how to fix it.
//   - Stack.Close aborts every connection, closes listeners and the Link,
//     and stops the shard goroutine.
//
// NewPipePair builds two Stacks joined by impaired in-memory paths, for
// tests and for machines without AF_XDP. docs/api.md describes the
// concurrency model, the error mapping and measured throughput.
package mpxdp

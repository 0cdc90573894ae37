// Package dataplane is mpxdp's runtime: a shard that drives one
// mptcp.Endpoint over one link.Link, and the blocking connection and
// listener handles that application goroutines use.
//
// # The shard
//
// One goroutine per Shard owns the Endpoint and the Link; nothing else
// touches either. It is locked to its OS thread with Config.LockOSThread
// or Config.BusyPoll only: a locked goroutine is woken by an OS thread
// switch, which made every hand-over 10–60 times slower on the measured
// machine (docs/api.md). Its loop:
//
//  1. Receive a batch of IP packets from the Link and hand each to
//     Endpoint.HandleSegment with the same `now` (HandleSegmentChain for
//     a packet that came in several buffers: link.ChainReceiver);
//  2. run the engine's timers when due (HandleTimeout);
//  3. serve the requests application goroutines posted (reads, writes,
//     closes, dials, listens);
//  4. dispatch the engine's events (accepted, established, readable,
//     writable, closed) to the waiting goroutines;
//  5. reserve transmit buffers, fill them with Endpoint.PollTransmit until
//     it returns 0, and Transmit them as one batch;
//  6. when there is nothing left to do, sleep in Link.Wait until a packet
//     arrives, an application goroutine calls Link.Wake, or the engine's
//     next timer is due; Config.BusyPoll spins instead.
//
// `now` for the engine is the monotonic time since the shard started; the
// engine itself never reads a clock. Unless the engine's random source is
// given (a reproducible run), the shard keys the engine's ISNs and TCP
// timestamps with a per-boot secret (/run/mpxdp/clock-secret, created by
// the first stack after boot, readable by root only) and counts their
// clock from the boot, so that all of a host's processes form one
// sequence per 4-tuple, as the kernel's do (clock.go).
//
// # Handing data across (one copy per direction)
//
// Conn.Read and Conn.Write post the application's slice to the shard and
// block. The shard calls the engine's non-blocking Conn.Read or Conn.Write
// with that slice directly, so bytes are copied once between the
// application's memory and the engine's buffers, with no ring in between.
// A Write stays posted, and is continued on every EventWritable, until the
// engine has taken all of it; a Read completes as soon as it got bytes, the
// end of the stream or an error. A cancel channel (closed by the caller's
// deadline) withdraws a request; the per-connection lock guarantees that
// the shard never touches the slice once the call has returned.
// docs/api.md has the measurements behind this design.
//
// # Plugging in a Link
//
// Any link.Link works (dataplane/pipe, dataplane/afxdp). The shard owns it
// from New on and closes it in Close. Optional interfaces:
//
//   - link.PortOwner: the shard claims the engine's ephemeral port range
//     at start and each listening port, and releases listening ports when
//     their listener closes.
//   - SourceChooser: Dial without a local address asks it for the source
//     address that reaches the destination; without it, the Link's first
//     address is used.
//
// Reserve must return buffers of at least tcp.MaxHeaderLen plus the MSS
// (the MSS defaults to the Link's MTU less 40 bytes of IPv4 and TCP
// headers, 60 when an address is IPv6); New checks one and fails otherwise.
//
// # Allocation
//
// In steady state the loop, Read and Write allocate nothing (alloc_test.go
// proves it with testing.AllocsPerRun). Dial, Listen, Accept, Close and
// statistics may allocate.
package dataplane

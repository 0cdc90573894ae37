// Package link defines how the runtime's shard moves IP packets to and from
// the network: the Link interface that AF_XDP (dataplane/afxdp) and the
// in-memory pipe (dataplane/pipe) implement.
//
// The contract:
//
//   - Layer 3. A Link carries whole IP packets (IPv4 or IPv6). Ethernet,
//     VLAN tags, neighbour resolution and the choice of NIC for a packet
//     are the Link's business; the engine above sees IP only.
//   - Ownership. The Link owns every buffer. Views from Receive stay valid
//     until the next Receive or Close; buffers from Reserve belong to the
//     shard until the next Transmit, which sends some and takes the rest
//     back. Nothing is retained by the shard across those calls.
//   - Batches. Receive, Reserve and Transmit move batches; an
//     implementation makes at most one system call (a kick) per batch and
//     none when the kernel does not ask for one.
//   - Concurrency. One goroutine (the shard) calls every method except
//     Wake, which any goroutine may call at any time.
//   - Steady state. No method allocates after set-up.
package link

import (
	"net/netip"
	"time"
)

// Link is one shard's network: every NIC queue or in-memory path it reads
// and writes.
type Link interface {
	// Receive gives back the previous batch's buffers, then puts views of
	// up to len(pkts) received IP packets into pkts and returns how many.
	Receive(pkts [][]byte) int
	// Reserve puts up to len(bufs) transmit buffers of at least MTU()
	// bytes into bufs and returns how many; the shard writes one IP packet
	// at the start of each.
	Reserve(bufs [][]byte) int
	// Transmit sends the first len(lens) reserved buffers in order, buffer
	// i holding an IP packet of lens[i] bytes, and takes back the rest of
	// the reservation. A packet the Link cannot route is dropped and
	// counted (Stats.NoRoute).
	Transmit(lens []int)
	// Wait blocks until Receive may return packets, Wake is called, or
	// timeout passes; a negative timeout waits without limit, zero only
	// checks. It returns an error only when the Link is broken or closed.
	Wait(timeout time.Duration) error
	// Wake makes the current Wait return, or the next one if none is in
	// progress. It is safe for concurrent use.
	Wake()
	// Addrs returns the local addresses whose traffic the Link carries.
	Addrs() []netip.Addr
	// MTU returns the largest IP packet the Link carries.
	MTU() int
	// Stats returns the Link's counters.
	Stats() Stats
	// Close releases everything the Link holds (sockets, XDP programs,
	// memory). It is idempotent.
	Close() error
}

// ChainReceiver is implemented by Links whose received packets may arrive
// in several buffers (AF_XDP multi-buffer, for frames larger than a UMEM
// chunk): the buffer Receive returns holds the IP and TCP headers, and
// the packet continues in the buffers Rest returns, viewed in place and
// valid as long as the first (mptcp.Endpoint.HandleSegmentChain).
type ChainReceiver interface {
	// Rest returns the buffers after the first of packet i of the last
	// Receive, or nil if the packet is in one buffer.
	Rest(i int) [][]byte
}

// PortOwner is implemented by Links that must be told which local TCP
// ports belong to the stack, such as AF_XDP, whose XDP filter steers only
// those to the stack and passes the rest to the kernel.
type PortOwner interface {
	// ClaimPort steers TCP segments to local port p to the stack.
	ClaimPort(p uint16) error
	// ReleasePort gives local port p back to the kernel.
	ReleasePort(p uint16) error
}

// Stats counts what a Link moved and dropped.
type Stats struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	RxDropped          uint64 // lost before the shard saw them (ring full, impairment)
	TxDropped          uint64 // reserved and submitted, but not sent (ring full, impairment)
	NoRoute            uint64 // no NIC, source address or neighbour for the packet
	Malformed          uint64 // frames that were not IP packets for us
}

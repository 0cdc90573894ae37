package xsk

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Desc is an RX or TX descriptor (struct xdp_desc): a frame's address in
// the UMEM, the length of the data there, and options. In multi-buffer
// mode a packet is a chain of descriptors in which every one but the last
// has PktContd set (af_xdp.rst, "Multi-Buffer Support").
type Desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

// PktContd in Desc.Options says that the packet continues in the next
// descriptor (XDP_PKT_CONTD).
const PktContd = unix.XDP_PKT_CONTD

// Continues reports whether the packet continues in the next descriptor.
func (d Desc) Continues() bool { return d.Options&PktContd != 0 }

// ring is one of the four single-producer single-consumer rings shared
// with the kernel. The producer and consumer words are free-running 32-bit
// indices; an entry's slot is its index masked by size-1. Each side keeps
// cached copies so that the shared words, and the cache lines that hold
// them, are touched once per batch rather than once per entry (the scheme
// of libxdp's xsk.h and gVisor's pkg/xdp).
type ring struct {
	mem      []byte
	producer *atomic.Uint32
	consumer *atomic.Uint32
	flags    *atomic.Uint32
	size     uint32
	mask     uint32

	// For the rings that the kernel produces (RX, completion): cachedProd
	// is the producer index last read, cachedCons our consumer index, which
	// is also the published one.
	//
	// For the rings that we produce (fill, TX): prod is the published
	// producer index, cachedProd is prod plus the reserved entries, and
	// cachedCons the consumer index last read.
	cachedProd uint32
	cachedCons uint32
	prod       uint32
}

// needWakeup reports whether the kernel asks to be woken by a system call
// (XDP_RING_NEED_WAKEUP, set only when the socket was bound with
// XDP_USE_NEED_WAKEUP).
func (r *ring) needWakeup() bool {
	return r.flags.Load()&unix.XDP_RING_NEED_WAKEUP != 0
}

// free returns the number of free entries of a ring we produce, reading the
// kernel's consumer index only when the cached one shows fewer than want.
func (r *ring) free(want uint32) uint32 {
	n := r.size - (r.cachedProd - r.cachedCons)
	if n < want {
		r.cachedCons = r.consumer.Load()
		n = r.size - (r.cachedProd - r.cachedCons)
	}
	return n
}

func (r *ring) reserve(n int) int {
	if n <= 0 {
		return 0
	}
	k := r.free(uint32(min(n, int(r.size))))
	if uint32(n) < k {
		k = uint32(n)
	}
	r.cachedProd += k
	return int(k)
}

// slot returns the ring slot of the i-th reserved, unsubmitted entry.
func (r *ring) slot(i int) uint32 {
	if uint(i) >= uint(r.cachedProd-r.prod) {
		panic("xsk: ring slot outside the reservation")
	}
	return (r.prod + uint32(i)) & r.mask
}

func (r *ring) cancel(n int) {
	if uint(n) > uint(r.cachedProd-r.prod) {
		panic("xsk: cancel of more entries than reserved")
	}
	r.cachedProd -= uint32(n)
}

// submit publishes the reserved entries. The atomic store orders the
// entries' writes before the index (the write barrier of af_xdp.rst).
func (r *ring) submit() {
	if r.cachedProd != r.prod {
		r.prod = r.cachedProd
		r.producer.Store(r.prod)
	}
}

// avail returns the number of entries of a ring the kernel produces,
// reading the kernel's producer index only when the cached one shows fewer
// than want. The atomic load orders it before the entries' reads (the read
// barrier of af_xdp.rst).
func (r *ring) avail(want uint32) uint32 {
	n := r.cachedProd - r.cachedCons
	if n < want {
		r.cachedProd = r.producer.Load()
		n = r.cachedProd - r.cachedCons
	}
	return n
}

func (r *ring) release(n int) {
	if n <= 0 {
		if n < 0 {
			panic("xsk: negative release")
		}
		return
	}
	if uint(n) > uint(r.cachedProd-r.cachedCons) {
		panic("xsk: release of more entries than peeked")
	}
	r.cachedCons += uint32(n)
	r.consumer.Store(r.cachedCons)
}

// FillRing lends frames to the kernel for receiving (the UMEM fill ring).
// The entries are frame addresses.
type FillRing struct {
	ring
	addrs []uint64
}

// Reserve reserves up to n entries and returns how many it reserved. Write
// them with Set and publish them with Submit.
func (f *FillRing) Reserve(n int) int { return f.reserve(n) }

// Set writes the i-th reserved entry, counting from the first reserved
// entry not yet submitted.
func (f *FillRing) Set(i int, addr uint64) { f.addrs[f.slot(i)] = addr }

// Cancel gives back the last n reserved entries.
func (f *FillRing) Cancel(n int) { f.cancel(n) }

// Submit hands the reserved entries to the kernel.
func (f *FillRing) Submit() { f.submit() }

// Push reserves, writes and submits as many of addrs as fit, and returns
// how many it pushed.
func (f *FillRing) Push(addrs []uint64) int {
	k := f.reserve(len(addrs))
	for i, a := range addrs[:k] {
		f.addrs[(f.prod+uint32(i))&f.mask] = a
	}
	f.submit()
	return k
}

// Free returns the number of entries that can be reserved now.
func (f *FillRing) Free() int { return int(f.free(f.size)) }

// Size returns the number of entries of the ring.
func (f *FillRing) Size() int { return int(f.size) }

// NeedWakeup reports whether the kernel needs a system call (poll or
// recvfrom, see Socket.KickRX) before it takes more frames: the driver ran
// out of buffers and stopped (af_xdp.rst, XDP_USE_NEED_WAKEUP).
func (f *FillRing) NeedWakeup() bool { return f.needWakeup() }

// TXRing carries descriptors of frames to transmit.
type TXRing struct {
	ring
	descs []Desc
}

// Reserve reserves up to n entries and returns how many it reserved. Write
// them with Set and publish them with Submit.
func (t *TXRing) Reserve(n int) int { return t.reserve(n) }

// Set writes the i-th reserved entry, counting from the first reserved
// entry not yet submitted.
func (t *TXRing) Set(i int, d Desc) { t.descs[t.slot(i)] = d }

// Cancel gives back the last n reserved entries.
func (t *TXRing) Cancel(n int) { t.cancel(n) }

// Submit hands the reserved entries to the kernel. In copy mode, and
// whenever NeedWakeup says so, the kernel sends them only after a kick
// (Socket.KickTX).
func (t *TXRing) Submit() { t.submit() }

// Push reserves, writes and submits as many of descs as fit, and returns
// how many it pushed. It never splits a chain of multi-buffer descriptors:
// when the ring has room for part of one only, the chain waits whole
// (the kernel would drop a partial chain as invalid, af_xdp.rst).
func (t *TXRing) Push(descs []Desc) int {
	k := t.reserve(len(descs))
	if k < len(descs) {
		c := k
		for c > 0 && descs[c-1].Continues() {
			c--
		}
		t.cancel(k - c)
		k = c
	}
	for i, d := range descs[:k] {
		t.descs[(t.prod+uint32(i))&t.mask] = d
	}
	t.submit()
	return k
}

// Free returns the number of entries that can be reserved now.
func (t *TXRing) Free() int { return int(t.free(t.size)) }

// Pending returns the number of submitted entries that the kernel has not
// yet consumed.
func (t *TXRing) Pending() int { return int(t.prod - t.consumer.Load()) }

// Size returns the number of entries of the ring.
func (t *TXRing) Size() int { return int(t.size) }

// NeedWakeup reports whether the kernel needs a sendto (Socket.KickTX) to
// process the ring. It is always set in copy mode.
func (t *TXRing) NeedWakeup() bool { return t.needWakeup() }

// RXRing carries descriptors of received frames.
type RXRing struct {
	ring
	descs []Desc
}

// Peek copies up to len(descs) received descriptors, oldest first, without
// consuming them, and returns how many it copied. Until Release, Peek
// returns the same descriptors again. In multi-buffer mode a batch may end
// inside a chain; the rest of the packet comes first in the next batch
// (af_xdp.rst, "Usage Multi-Buffer Rx").
func (r *RXRing) Peek(descs []Desc) int {
	n := int(r.avail(uint32(min(len(descs), int(r.size)))))
	n = min(n, len(descs))
	c := r.cachedCons
	for i := range descs[:n] {
		descs[i] = r.descs[(c+uint32(i))&r.mask]
	}
	return n
}

// Release consumes the n oldest peeked descriptors. Their frames now belong
// to the caller, who returns them to the kernel through the fill ring or
// to the UMEM.
func (r *RXRing) Release(n int) { r.release(n) }

// Size returns the number of entries of the ring.
func (r *RXRing) Size() int { return int(r.size) }

// CompRing returns the addresses of transmitted frames (the UMEM
// completion ring).
type CompRing struct {
	ring
	addrs []uint64
}

// Peek copies up to len(addrs) completed frame addresses, oldest first,
// without consuming them, and returns how many it copied.
func (c *CompRing) Peek(addrs []uint64) int {
	n := int(c.avail(uint32(min(len(addrs), int(c.size)))))
	n = min(n, len(addrs))
	k := c.cachedCons
	for i := range addrs[:n] {
		addrs[i] = c.addrs[(k+uint32(i))&c.mask]
	}
	return n
}

// Release consumes the n oldest peeked addresses; their frames now belong
// to the caller.
func (c *CompRing) Release(n int) { c.release(n) }

// Size returns the number of entries of the ring.
func (c *CompRing) Size() int { return int(c.size) }

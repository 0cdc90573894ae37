package xsk

// Every use of package unsafe in xsk is in this file: views of the rings
// that the kernel maps into the process, and the socket options and system
// calls whose arguments are C structs.

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Compile-time checks that the Go mirrors match the kernel's layouts
// (include/uapi/linux/if_xdp.h).
var (
	_ [16 - unsafe.Sizeof(Desc{})]struct{}
	_ [unsafe.Sizeof(Desc{}) - 16]struct{}
	_ [48 - unsafe.Sizeof(unix.XDPStatistics{})]struct{}
)

// ringView points r into mem, the mapping of one ring, at the offsets that
// the kernel reported for it (XDP_MMAP_OFFSETS). Producer, consumer and
// flags are 32-bit words that the kernel reads and writes concurrently, so
// they are only touched atomically.
func ringView(r *ring, mem []byte, off unix.XDPRingOffset, size uint32) {
	r.mem = mem
	r.producer = (*atomic.Uint32)(unsafe.Pointer(&mem[off.Producer]))
	r.consumer = (*atomic.Uint32)(unsafe.Pointer(&mem[off.Consumer]))
	r.flags = (*atomic.Uint32)(unsafe.Pointer(&mem[off.Flags]))
	r.size = size
	r.mask = size - 1
	r.cachedProd = r.producer.Load()
	r.cachedCons = r.consumer.Load()
	r.prod = r.cachedProd
}

// addrRing views the descriptor area of a fill or completion ring.
func addrRing(mem []byte, off unix.XDPRingOffset, size uint32) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(&mem[off.Desc])), size)
}

// descRing views the descriptor area of an RX or TX ring.
func descRing(mem []byte, off unix.XDPRingOffset, size uint32) []Desc {
	return unsafe.Slice((*Desc)(unsafe.Pointer(&mem[off.Desc])), size)
}

// ringBytes is the length to map for a ring of size entries of entry bytes.
func ringBytes(off unix.XDPRingOffset, size uint32, desc bool) int {
	entry := uint64(unsafe.Sizeof(uint64(0)))
	if desc {
		entry = uint64(unsafe.Sizeof(Desc{}))
	}
	return int(off.Desc + uint64(size)*entry)
}

// testRingOffsets lays a ring out in ordinary memory the way the kernel
// does (producer, consumer, flags on separate cache lines, then the
// descriptors), so that the ring logic is testable without a socket.
func testRingOffsets() unix.XDPRingOffset {
	return unix.XDPRingOffset{Producer: 0, Consumer: 64, Flags: 128, Desc: 192}
}

// testRingMem allocates 8-byte aligned memory for a ring laid out by
// testRingOffsets.
func testRingMem(size uint32, desc bool) []byte {
	n := ringBytes(testRingOffsets(), size, desc)
	words := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), n)
}

// memAddr is the address of the first byte of mem, for XDP_UMEM_REG.
func memAddr(mem []byte) uint64 {
	return uint64(uintptr(unsafe.Pointer(&mem[0])))
}

// setsockoptUMEMReg registers a UMEM (XDP_UMEM_REG).
func setsockoptUMEMReg(fd int, reg *unix.XDPUmemReg) error {
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(reg)), unsafe.Sizeof(*reg), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// getsockoptMmapOffsets reads the ring layout (XDP_MMAP_OFFSETS). Kernels
// before 5.4 report a shorter struct without the flags words, which xsk
// does not support (it needs need_wakeup).
func getsockoptMmapOffsets(fd int) (unix.XDPMmapOffsets, error) {
	var off unix.XDPMmapOffsets
	size := uint32(unsafe.Sizeof(off))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return off, errno
	}
	if size != uint32(unsafe.Sizeof(off)) {
		return off, unix.EPROTO
	}
	return off, nil
}

// getsockoptStatistics reads XDP_STATISTICS. Older kernels fill only the
// first three counters; the rest stay zero.
func getsockoptStatistics(fd int, st *unix.XDPStatistics) error {
	size := uint32(unsafe.Sizeof(*st))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(st)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// sendtoKick is sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0): it makes the
// kernel process the TX ring (af_xdp.rst, XDP_USE_NEED_WAKEUP).
func sendtoKick(fd int) unix.Errno {
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return errno
}

// recvfromKick is recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL): it wakes
// the driver's RX processing, or busy-polls it when busy polling is on.
func recvfromKick(fd int) unix.Errno {
	_, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return errno
}

// Offset returns where b starts in the UMEM, and false if b is not a view
// into it (for checks that a buffer is used in place, not copied).
func (u *UMEM) Offset(b []byte) (uint64, bool) {
	if len(b) == 0 || len(u.mem) == 0 {
		return 0, false
	}
	p, base := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&u.mem[0]))
	if p < base || p >= base+uintptr(len(u.mem)) {
		return 0, false
	}
	return uint64(p - base), true
}

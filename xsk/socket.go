package xsk

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ZeroCopy chooses between the kernel's zero-copy and copy modes.
type ZeroCopy int

const (
	// ZeroCopyAuto tries zero-copy and falls back to copy mode (the
	// kernel's default for a bind without XDP_COPY or XDP_ZEROCOPY,
	// af_xdp.rst); Socket.Mode reports which one it got.
	ZeroCopyAuto ZeroCopy = iota
	// ZeroCopyRequire fails unless the driver binds in zero-copy mode
	// (XDP_ZEROCOPY).
	ZeroCopyRequire
	// ZeroCopyNever forces copy mode (XDP_COPY).
	ZeroCopyNever
)

// Mode is the mode a socket is bound in.
type Mode int

const (
	// ModeCopy: the kernel copies packets between its buffers and the
	// UMEM. The only mode on veth and most virtual devices.
	ModeCopy Mode = iota + 1
	// ModeZeroCopy: the driver DMAs straight into and out of the UMEM.
	ModeZeroCopy
)

func (m Mode) String() string {
	switch m {
	case ModeCopy:
		return "copy"
	case ModeZeroCopy:
		return "zero-copy"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// BusyPoll configures busy polling of the queue's NAPI context from the
// application (SO_PREFER_BUSY_POLL, SO_BUSY_POLL, SO_BUSY_POLL_BUDGET).
// With busy polling on, the kernel does RX work only when the application
// asks: call KickRX (or Poll) on every loop, not only when NeedWakeup says
// so. It also needs the device's napi_defer_hard_irqs and
// gro_flush_timeout settings to pay off.
type BusyPoll struct {
	// Timeout is how long one system call may busy-poll. Zero turns busy
	// polling off.
	Timeout time.Duration
	// Budget is the number of packets one busy poll may process. Zero keeps
	// the kernel's default (8).
	Budget int
}

// SocketConfig configures a socket.
type SocketConfig struct {
	// RXSize, TXSize, FillSize and CompSize are the numbers of entries of
	// the rings, powers of two. Zero means 2048. A negative RXSize or
	// TXSize leaves that ring out (a TX-only or RX-only socket).
	RXSize, TXSize, FillSize, CompSize int
	// ZeroCopy chooses the bind mode.
	ZeroCopy ZeroCopy
	// MultiBuffer binds with XDP_USE_SG: packets larger than a frame are
	// received and sent as descriptor chains (Desc.Continues). The XDP
	// program must be loaded with frags support (FilterConfig.MultiBuffer).
	MultiBuffer bool
	// BusyPoll turns on busy polling.
	BusyPoll BusyPoll
	// TXBudget is the largest number of descriptors one kick sends in copy
	// mode (XDP_MAX_TX_SKB_BUDGET, Linux 6.17; from 32 to TXSize). Zero
	// keeps the kernel's default of 32, so that a batch of 64 takes two
	// kicks.
	TXBudget int
	// BindTimeout bounds how long Open retries a bind that fails with
	// EBUSY: the kernel releases a closed socket's queue asynchronously,
	// so a rebind right after Close can fail for a few tens of
	// milliseconds. Zero means one second; a negative value does not
	// retry.
	BindTimeout time.Duration
}

// Stats are the kernel's counters of a socket (XDP_STATISTICS).
type Stats struct {
	// RXDropped counts packets dropped for reasons other than invalid
	// descriptors, such as a packet larger than a frame without
	// MultiBuffer, or a full RX ring.
	RXDropped uint64
	// RXInvalidDescs counts invalid fill-ring entries.
	RXInvalidDescs uint64
	// TXInvalidDescs counts invalid TX descriptors (out of the UMEM,
	// crossing a frame, bad options, or a broken chain).
	TXInvalidDescs uint64
	// RXRingFull counts packets dropped because the RX ring was full.
	RXRingFull uint64
	// RXFillRingEmpty counts the times the kernel found the fill ring
	// empty.
	RXFillRingEmpty uint64
	// TXRingEmpty counts the kicks that found the TX ring empty.
	TXRingEmpty uint64
}

// Socket is an AF_XDP socket bound to one queue of one network device: its
// four rings and the UMEM it uses. One socket serves one queue.
//
// The rings are the batch interface: RX.Peek and RX.Release, Fill.Reserve,
// Set and Submit, and the same on TX and Comp. Receive, Refill, Transmit
// and Complete combine them with the UMEM's free stack for the common
// loop. Nothing here allocates after Open.
type Socket struct {
	// Fill lends the kernel frames to receive into.
	Fill FillRing
	// RX returns received frames.
	RX RXRing
	// TX carries frames to send.
	TX TXRing
	// Comp returns sent frames.
	Comp CompRing

	fd        int
	umem      *UMEM
	ifindex   int
	queue     int
	mode      Mode
	busyPoll  bool
	mbuf      bool
	maps      [4][]byte
	scratch   [64]uint64
	closed    bool
	bindTries int
}

// The value of XDP_MAX_TX_SKB_BUDGET (include/uapi/linux/if_xdp.h, Linux
// 6.17), not yet in golang.org/x/sys.
const xdpMaxTXSkbBudget = 9

// Open opens an AF_XDP socket on queue queue of the device ifindex, in the
// calling thread's network namespace, with frames from umem. The first
// socket on a UMEM registers it (XDP_UMEM_REG); later ones share it
// (XDP_SHARED_UMEM), inherit its mode and flags, and must be on other
// queues or devices. Each socket has its own fill and completion rings.
//
// The socket is bound with XDP_USE_NEED_WAKEUP, so the kernel needs a
// system call only when a ring's NeedWakeup says so (af_xdp.rst: "We
// recommend that you always enable this mode").
func Open(ifindex, queue int, umem *UMEM, cfg SocketConfig) (*Socket, error) {
	if umem == nil || umem.closed {
		return nil, errors.New("xsk: Open on a nil or closed UMEM")
	}
	for _, p := range []*int{&cfg.RXSize, &cfg.TXSize, &cfg.FillSize, &cfg.CompSize} {
		if *p == 0 {
			*p = 2048
		}
	}
	if cfg.RXSize < 0 && cfg.TXSize < 0 {
		return nil, errors.New("xsk: a socket needs an RX ring, a TX ring or both")
	}
	for _, n := range []int{cfg.RXSize, cfg.TXSize, cfg.FillSize, cfg.CompSize} {
		if n > 0 && (bits.OnesCount(uint(n)) != 1 || n > 1<<20) {
			return nil, fmt.Errorf("xsk: ring size %d: must be a power of two up to 1<<20", n)
		}
	}
	if cfg.FillSize < 0 || cfg.CompSize < 0 {
		return nil, errors.New("xsk: fill and completion rings are mandatory")
	}
	if cfg.TXBudget != 0 && (cfg.TXSize < 0 || cfg.TXBudget < 32 || cfg.TXBudget > cfg.TXSize) {
		return nil, fmt.Errorf("xsk: TX budget %d: must be between 32 and the TX ring size %d", cfg.TXBudget, cfg.TXSize)
	}
	if cfg.BindTimeout == 0 {
		cfg.BindTimeout = time.Second
	}
	flags := uint16(unix.XDP_USE_NEED_WAKEUP)
	if cfg.MultiBuffer {
		flags |= unix.XDP_USE_SG
	}
	switch cfg.ZeroCopy {
	case ZeroCopyRequire:
		flags |= unix.XDP_ZEROCOPY
	case ZeroCopyNever:
		flags |= unix.XDP_COPY
	}
	s, err := openRetry(ifindex, queue, umem, &cfg, flags)
	if err != nil && cfg.ZeroCopy == ZeroCopyAuto && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)) {
		// A driver may offer zero-copy but not with these flags (say,
		// without multi-buffer): fall back to copy mode explicitly.
		s, err = openRetry(ifindex, queue, umem, &cfg, flags|unix.XDP_COPY)
	}
	if err != nil {
		return nil, err
	}
	umem.attach(s)
	return s, nil
}

// openRetry opens and binds a socket, and starts over while the bind fails
// with EBUSY and the timeout allows. Each try uses a fresh socket: a failed
// bind may leave the old one's rings released.
func openRetry(ifindex, queue int, umem *UMEM, cfg *SocketConfig, flags uint16) (*Socket, error) {
	deadline := time.Now().Add(cfg.BindTimeout)
	wait := time.Millisecond
	for tries := 1; ; tries++ {
		s, err := open(ifindex, queue, umem, cfg, flags)
		if err == nil {
			s.bindTries = tries
			return s, nil
		}
		if !errors.Is(err, unix.EBUSY) || cfg.BindTimeout < 0 || time.Now().Add(wait).After(deadline) {
			var se *SetupError
			if tries > 1 && errors.As(err, &se) {
				se.Hint = fmt.Sprintf("%s (after %d tries in %v)", se.Hint, tries, cfg.BindTimeout)
			}
			return nil, err
		}
		time.Sleep(wait)
		wait = min(2*wait, 32*time.Millisecond)
	}
}

// open runs the set-up sequence of af_xdp.rst: socket, UMEM registration
// (or sharing), ring sizes, ring mappings, bind.
func open(ifindex, queue int, umem *UMEM, cfg *SocketConfig, flags uint16) (_ *Socket, err error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, setupError("socket(AF_XDP)", err)
	}
	s := &Socket{fd: fd, umem: umem, ifindex: ifindex, queue: queue, mbuf: cfg.MultiBuffer}
	defer func() {
		if err != nil {
			s.release()
		}
	}()

	reg := umem.registrar()
	if reg != nil && reg.mbuf != cfg.MultiBuffer {
		return nil, errors.New("xsk: sockets sharing a UMEM must agree on MultiBuffer")
	}
	if reg != nil && cfg.ZeroCopy == ZeroCopyRequire && reg.mode != ModeZeroCopy {
		return nil, errors.New("xsk: ZeroCopyRequire on a UMEM whose first socket is in copy mode")
	}
	if reg == nil {
		r := unix.XDPUmemReg{
			Addr:     memAddr(umem.mem),
			Len:      uint64(len(umem.mem)),
			Size:     uint32(umem.frameSize),
			Headroom: umem.headroom,
		}
		if err := setsockoptUMEMReg(fd, &r); err != nil {
			return nil, setupError("setsockopt(XDP_UMEM_REG)", err)
		}
	}
	opts := []struct {
		name string
		opt  int
		size int
	}{
		{"setsockopt(XDP_UMEM_FILL_RING)", unix.XDP_UMEM_FILL_RING, cfg.FillSize},
		{"setsockopt(XDP_UMEM_COMPLETION_RING)", unix.XDP_UMEM_COMPLETION_RING, cfg.CompSize},
		{"setsockopt(XDP_RX_RING)", unix.XDP_RX_RING, cfg.RXSize},
		{"setsockopt(XDP_TX_RING)", unix.XDP_TX_RING, cfg.TXSize},
	}
	for _, o := range opts {
		if o.size < 0 {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, o.opt, o.size); err != nil {
			return nil, setupError(o.name, err)
		}
	}
	off, err := getsockoptMmapOffsets(fd)
	if err != nil {
		return nil, setupError("getsockopt(XDP_MMAP_OFFSETS)", err)
	}
	type mapping struct {
		name  string
		pgoff int64
		off   unix.XDPRingOffset
		size  int
		desc  bool
	}
	maps := []mapping{
		{"mmap(fill ring)", unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, cfg.FillSize, false},
		{"mmap(completion ring)", unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, cfg.CompSize, false},
		{"mmap(RX ring)", unix.XDP_PGOFF_RX_RING, off.Rx, cfg.RXSize, true},
		{"mmap(TX ring)", unix.XDP_PGOFF_TX_RING, off.Tx, cfg.TXSize, true},
	}
	for i, m := range maps {
		if m.size < 0 {
			continue
		}
		mem, err := unix.Mmap(fd, m.pgoff, ringBytes(m.off, uint32(m.size), m.desc),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil, setupError(m.name, err)
		}
		s.maps[i] = mem
		n := uint32(m.size)
		switch i {
		case 0:
			ringView(&s.Fill.ring, mem, m.off, n)
			s.Fill.addrs = addrRing(mem, m.off, n)
		case 1:
			ringView(&s.Comp.ring, mem, m.off, n)
			s.Comp.addrs = addrRing(mem, m.off, n)
		case 2:
			ringView(&s.RX.ring, mem, m.off, n)
			s.RX.descs = descRing(mem, m.off, n)
		case 3:
			ringView(&s.TX.ring, mem, m.off, n)
			s.TX.descs = descRing(mem, m.off, n)
		}
	}

	sa := unix.SockaddrXDP{Flags: flags, Ifindex: uint32(ifindex), QueueID: uint32(queue)}
	if reg != nil {
		// A socket sharing a UMEM inherits the mode, need_wakeup and
		// multi-buffer flags of the first one and may not pass any.
		sa.Flags = unix.XDP_SHARED_UMEM
		sa.SharedUmemFD = uint32(reg.fd)
	}
	if err := unix.Bind(fd, &sa); err != nil {
		return nil, setupError("bind", err)
	}
	xo, err := unix.GetsockoptInt(fd, unix.SOL_XDP, unix.XDP_OPTIONS)
	if err != nil {
		return nil, setupError("getsockopt(XDP_OPTIONS)", err)
	}
	s.mode = ModeCopy
	if xo&unix.XDP_OPTIONS_ZEROCOPY != 0 {
		s.mode = ModeZeroCopy
	}
	if cfg.TXBudget != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, xdpMaxTXSkbBudget, cfg.TXBudget); err != nil {
			return nil, setupError("setsockopt(XDP_MAX_TX_SKB_BUDGET)", err)
		}
	}
	if bp := cfg.BusyPoll; bp.Timeout > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PREFER_BUSY_POLL, 1); err != nil {
			return nil, setupError("setsockopt(SO_PREFER_BUSY_POLL)", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL, int(bp.Timeout/time.Microsecond)); err != nil {
			return nil, setupError("setsockopt(SO_BUSY_POLL)", err)
		}
		if bp.Budget > 0 {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL_BUDGET, bp.Budget); err != nil {
				return nil, setupError("setsockopt(SO_BUSY_POLL_BUDGET)", err)
			}
		}
		s.busyPoll = true
	}
	return s, nil
}

// release unmaps the rings and closes the descriptor. The kernel releases
// the queue when the last of them goes: a ring left mapped keeps the socket,
// and so the queue, bound.
func (s *Socket) release() error {
	var first error
	for i, m := range s.maps {
		if m != nil {
			if err := unix.Munmap(m); err != nil && first == nil {
				first = setupError("munmap(ring)", err)
			}
			s.maps[i] = nil
		}
	}
	s.Fill, s.RX, s.TX, s.Comp = FillRing{}, RXRing{}, TXRing{}, CompRing{}
	if s.fd >= 0 {
		if err := unix.Close(s.fd); err != nil && first == nil {
			first = setupError("close", err)
		}
		s.fd = -1
	}
	return first
}

// FD returns the socket's file descriptor, for poll(2) and for XSKMAP
// entries.
func (s *Socket) FD() int { return s.fd }

// Mode returns the mode the socket is bound in.
func (s *Socket) Mode() Mode { return s.mode }

// Ifindex returns the device the socket is bound to.
func (s *Socket) Ifindex() int { return s.ifindex }

// Queue returns the queue the socket is bound to.
func (s *Socket) Queue() int { return s.queue }

// UMEM returns the socket's UMEM.
func (s *Socket) UMEM() *UMEM { return s.umem }

// MultiBuffer reports whether the socket was bound with XDP_USE_SG.
func (s *Socket) MultiBuffer() bool { return s.mbuf }

// BindTries returns how many binds Open needed (more than one when it
// waited out EBUSY).
func (s *Socket) BindTries() int { return s.bindTries }

// Refill moves up to n frames from the UMEM's free stack to the fill ring
// and returns how many it moved.
func (s *Socket) Refill(n int) int {
	u := s.umem
	k := s.Fill.reserve(min(n, u.n))
	for i := range k {
		a, _ := u.Alloc()
		s.Fill.addrs[(s.Fill.prod+uint32(i))&s.Fill.mask] = a
	}
	s.Fill.submit()
	return k
}

// Receive consumes up to len(descs) received descriptors into descs and
// returns how many. Their frames belong to the caller until it frees them
// (UMEM.Free) or lends them again.
func (s *Socket) Receive(descs []Desc) int {
	n := s.RX.Peek(descs)
	s.RX.Release(n)
	return n
}

// Transmit puts as many of descs on the TX ring as fit, kicks the kernel
// if it needs it, and returns how many it queued; their frames belong to
// the kernel until Complete returns them. The error is the kick's.
func (s *Socket) Transmit(descs []Desc) (int, error) {
	n := s.TX.Push(descs)
	if n == 0 && s.TX.Pending() == 0 {
		return 0, nil
	}
	return n, s.KickTX()
}

// Complete returns every completed TX frame to the UMEM's free stack and
// returns how many it returned.
func (s *Socket) Complete() int {
	total := 0
	for {
		n := s.Comp.Peek(s.scratch[:])
		if n == 0 {
			return total
		}
		s.umem.FreeN(s.scratch[:n])
		s.Comp.Release(n)
		total += n
		if n < len(s.scratch) {
			return total
		}
	}
}

// NeedWakeup reports whether the kernel waits for a kick on either the fill
// ring (KickRX) or the TX ring (KickTX).
func (s *Socket) NeedWakeup() bool { return s.Fill.needWakeup() || s.TX.needWakeup() }

// transient reports whether a kick's errno only means "try again later".
func transient(e unix.Errno) bool {
	// EAGAIN: the copy-mode budget ran out or the completion ring is full;
	// EBUSY: another kick is in progress or the driver queue is busy;
	// ENOBUFS: the driver dropped the packet (copy mode), already
	// completed; EINTR: a signal.
	return e == 0 || e == unix.EAGAIN || e == unix.EBUSY || e == unix.ENOBUFS || e == unix.EINTR
}

// KickTX makes the kernel process the TX ring (sendto with MSG_DONTWAIT)
// when the ring asks for it or busy polling is on. "Try again" errnos
// return nil; a kick that finds the device down returns its
// *os.SyscallError (ENETDOWN, ENXIO).
func (s *Socket) KickTX() error {
	if s.TX.mem == nil || (!s.busyPoll && !s.TX.needWakeup()) {
		return nil
	}
	if e := sendtoKick(s.fd); !transient(e) {
		return os.NewSyscallError("sendto", e)
	}
	return nil
}

// KickRX wakes the driver's receive processing (recvfrom with
// MSG_DONTWAIT) when the fill ring asks for it, or busy-polls the queue
// when busy polling is on.
func (s *Socket) KickRX() error {
	if !s.busyPoll && !s.Fill.needWakeup() {
		return nil
	}
	if e := recvfromKick(s.fd); !transient(e) {
		return os.NewSyscallError("recvfrom", e)
	}
	return nil
}

// Kick is KickRX then KickTX.
func (s *Socket) Kick() error {
	if err := s.KickRX(); err != nil {
		return err
	}
	return s.KickTX()
}

// Poll waits up to timeout (negative: forever) until the RX ring has
// descriptors, and reports whether it has. In copy mode poll also drives
// the TX ring when it needs a wakeup.
func (s *Socket) Poll(timeout time.Duration) (bool, error) {
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	fds := [1]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds[:], ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, os.NewSyscallError("poll", err)
		}
		return n > 0 && fds[0].Revents&unix.POLLIN != 0, nil
	}
}

// Stats reads the kernel's counters of the socket.
func (s *Socket) Stats() (Stats, error) {
	var st unix.XDPStatistics
	if err := getsockoptStatistics(s.fd, &st); err != nil {
		return Stats{}, setupError("getsockopt(XDP_STATISTICS)", err)
	}
	return Stats{
		RXDropped:       st.Rx_dropped,
		RXInvalidDescs:  st.Rx_invalid_descs,
		TXInvalidDescs:  st.Tx_invalid_descs,
		RXRingFull:      st.Rx_ring_full,
		RXFillRingEmpty: st.Rx_fill_ring_empty_descs,
		TXRingEmpty:     st.Tx_ring_empty_descs,
	}, nil
}

// Close returns to the UMEM's free stack the frames that the rings show
// are not in the caller's hands (unconsumed fill, TX and completion
// entries, and RX descriptors not yet released, peeked or not), unmaps the
// rings and closes the socket, which unbinds the queue. Frames that the kernel held at that moment (in-flight copy-mode
// transmissions, a zero-copy driver's hardware ring) are not returned; when
// every socket of the UMEM is closed, UMEM.Reset returns them.
//
// The order of the reads makes each frame counted at most once: the
// kernel moves a frame from fill to RX (and from TX to completion), so the
// RX (completion) producer is read before the fill (TX) consumer.
func (s *Socket) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	u := s.umem
	if s.RX.mem != nil {
		for i, end := s.RX.cachedCons, s.RX.producer.Load(); i != end; i++ {
			u.reclaim(s.RX.descs[i&s.RX.mask].Addr)
		}
	}
	for i, end := s.Fill.consumer.Load(), s.Fill.prod; i != end; i++ {
		u.reclaim(s.Fill.addrs[i&s.Fill.mask])
	}
	for i, end := s.Comp.cachedCons, s.Comp.producer.Load(); i != end; i++ {
		u.reclaim(s.Comp.addrs[i&s.Comp.mask])
	}
	if s.TX.mem != nil {
		for i, end := s.TX.consumer.Load(), s.TX.prod; i != end; i++ {
			u.reclaim(s.TX.descs[i&s.TX.mask].Addr)
		}
	}
	u.detach(s)
	return s.release()
}

// reclaim frees the frame holding addr unless it is already free.
func (u *UMEM) reclaim(addr uint64) {
	i := addr >> u.shift
	if i < uint64(u.frames) && u.inStack[i/64]&(1<<(i%64)) == 0 {
		u.Free(addr)
	}
}

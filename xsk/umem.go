package xsk

import (
	"errors"
	"fmt"
	"math/bits"

	"golang.org/x/sys/unix"
)

// UMEMConfig sizes a UMEM.
type UMEMConfig struct {
	// FrameSize is the size of each frame (chunk): 2048 or 4096, the only
	// sizes the kernel accepts in aligned mode (af_xdp.rst, XDP_UMEM_REG;
	// larger chunks are rejected). Zero means 4096. Packets larger than a
	// frame need SocketConfig.MultiBuffer.
	FrameSize int
	// Frames is the number of frames. Zero means 4096.
	Frames int
	// Headroom is the number of bytes the kernel leaves free at the start
	// of each frame before received data. Zero is the default.
	Headroom int
	// Runs sets aside Runs runs of RunFrames consecutive frames at the end
	// of the UMEM for packets larger than a frame: a run is one contiguous
	// buffer (Span) that goes out as a descriptor chain of its frames, so
	// that a jumbo packet is written in place instead of copied into
	// separate frames. Alloc never returns a run's frames; AllocRun does.
	Runs, RunFrames int
}

// UMEM is the packet memory shared by the kernel and one or more sockets:
// Frames frames of FrameSize bytes, mapped once, a stack of the frames
// that no ring and no caller holds, and optionally a stack of free runs
// (UMEMConfig.Runs).
//
// A UMEM and every socket on it are used by one goroutine at a time.
type UMEM struct {
	mem       []byte
	frameSize uint64
	shift     uint
	frames    int
	headroom  uint32

	stack   []uint64 // free frame addresses; the top is stack[n-1]
	n       int
	inStack []uint64 // bit i set: frame i is on the stack (or free in its run)

	// Runs: frames from runBase on, runFrames each; a run is on runStack
	// when all its frames are free.
	runBase   uint64 // index of the first run frame (frames when no runs)
	runFrames uint64
	runStack  []uint64 // addresses of free runs
	runN      int

	sockets []*Socket // open sockets, in opening order
	closed  bool
}

// NewUMEM maps the memory of a UMEM. It is registered with the kernel by
// the first socket opened on it (Open).
func NewUMEM(cfg UMEMConfig) (*UMEM, error) {
	if cfg.FrameSize == 0 {
		cfg.FrameSize = 4096
	}
	if cfg.Frames == 0 {
		cfg.Frames = 4096
	}
	if cfg.FrameSize != 2048 && cfg.FrameSize != 4096 {
		return nil, fmt.Errorf("xsk: frame size %d: must be 2048 or 4096 (the kernel rejects larger chunks; use MultiBuffer for jumbo frames)", cfg.FrameSize)
	}
	if cfg.Frames < 1 || cfg.Frames > 1<<22 {
		return nil, fmt.Errorf("xsk: %d frames: must be between 1 and %d", cfg.Frames, 1<<22)
	}
	if cfg.Headroom < 0 || cfg.Headroom > cfg.FrameSize-unix.XDP_PACKET_HEADROOM-128 {
		return nil, fmt.Errorf("xsk: headroom %d too large for %d-byte frames", cfg.Headroom, cfg.FrameSize)
	}
	if cfg.Runs < 0 || cfg.RunFrames < 0 || (cfg.Runs > 0) != (cfg.RunFrames > 0) || cfg.Runs*cfg.RunFrames > cfg.Frames {
		return nil, fmt.Errorf("xsk: %d runs of %d frames do not fit %d frames", cfg.Runs, cfg.RunFrames, cfg.Frames)
	}
	mem, err := unix.Mmap(-1, 0, cfg.Frames*cfg.FrameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, setupError("mmap(UMEM)", err)
	}
	u := &UMEM{
		mem:       mem,
		frameSize: uint64(cfg.FrameSize),
		shift:     uint(bits.TrailingZeros(uint(cfg.FrameSize))),
		frames:    cfg.Frames,
		headroom:  uint32(cfg.Headroom),
		stack:     make([]uint64, cfg.Frames-cfg.Runs*cfg.RunFrames),
		inStack:   make([]uint64, (cfg.Frames+63)/64),
		runBase:   uint64(cfg.Frames - cfg.Runs*cfg.RunFrames),
		runFrames: uint64(max(cfg.RunFrames, 1)),
		runStack:  make([]uint64, cfg.Runs),
	}
	u.reset()
	return u, nil
}

// reset puts every single frame on the stack, frame 0 on top, and every
// run on the run stack, the first on top.
func (u *UMEM) reset() {
	n := len(u.stack)
	for i := range u.stack {
		u.stack[i] = uint64(n-1-i) << u.shift
	}
	u.n = n
	for i := range u.runStack {
		u.runStack[i] = (u.runBase + uint64(len(u.runStack)-1-i)*u.runFrames) << u.shift
	}
	u.runN = len(u.runStack)
	for i := range u.inStack {
		u.inStack[i] = ^uint64(0)
	}
	if r := u.frames % 64; r != 0 {
		u.inStack[len(u.inStack)-1] = 1<<r - 1
	}
}

// FrameSize returns the size of a frame.
func (u *UMEM) FrameSize() int { return int(u.frameSize) }

// Frames returns the number of frames.
func (u *UMEM) Frames() int { return u.frames }

// Headroom returns the configured headroom.
func (u *UMEM) Headroom() int { return int(u.headroom) }

// Available returns the number of frames on the free stack.
func (u *UMEM) Available() int { return u.n }

// Alloc takes a frame off the free stack and returns its address.
func (u *UMEM) Alloc() (addr uint64, ok bool) {
	if u.n == 0 {
		return 0, false
	}
	u.n--
	addr = u.stack[u.n]
	i := addr >> u.shift
	u.inStack[i/64] &^= 1 << (i % 64)
	return addr, true
}

// AllocN fills addrs with frames from the free stack and returns how many
// it took.
func (u *UMEM) AllocN(addrs []uint64) int {
	k := min(len(addrs), u.n)
	for j := range addrs[:k] {
		u.n--
		a := u.stack[u.n]
		i := a >> u.shift
		u.inStack[i/64] &^= 1 << (i % 64)
		addrs[j] = a
	}
	return k
}

// Free returns the frame that holds addr (any address inside it) to the
// free stack; a run's frame goes back to its run, which is free again once
// all its frames are (they may be freed one by one, in any order, as the
// kernel completes a chain). Freeing a frame that is already free panics:
// two owners of one frame corrupt packets (af_xdp.rst, FAQ).
func (u *UMEM) Free(addr uint64) {
	i := addr >> u.shift
	if i >= uint64(u.frames) {
		panic(fmt.Sprintf("xsk: free of address %#x outside the UMEM", addr))
	}
	w, b := i/64, uint64(1)<<(i%64)
	if u.inStack[w]&b != 0 {
		panic(fmt.Sprintf("xsk: double free of frame %#x", i<<u.shift))
	}
	u.inStack[w] |= b
	if i >= u.runBase {
		u.freeRunFrame(i)
		return
	}
	u.stack[u.n] = i << u.shift
	u.n++
}

// freeRunFrame puts frame i's run on the run stack if all its frames are
// free now.
func (u *UMEM) freeRunFrame(i uint64) {
	first := i - (i-u.runBase)%u.runFrames
	for f := first; f < first+u.runFrames; f++ {
		if u.inStack[f/64]&(1<<(f%64)) == 0 {
			return
		}
	}
	u.runStack[u.runN] = first << u.shift
	u.runN++
}

// AllocRun takes a free run (UMEMConfig.Runs) and returns the address of
// its first frame. Each of its frames is then the caller's to free.
func (u *UMEM) AllocRun() (addr uint64, ok bool) {
	if u.runN == 0 {
		return 0, false
	}
	u.runN--
	addr = u.runStack[u.runN]
	for f := addr >> u.shift; f < addr>>u.shift+u.runFrames; f++ {
		u.inStack[f/64] &^= 1 << (f % 64)
	}
	return addr, true
}

// Runs returns the number of runs (UMEMConfig.Runs).
func (u *UMEM) Runs() int { return len(u.runStack) }

// RunsAvailable returns the number of free runs.
func (u *UMEM) RunsAvailable() int { return u.runN }

// RunFrames returns the number of frames of a run (UMEMConfig.RunFrames;
// 1 without runs).
func (u *UMEM) RunFrames() int { return int(u.runFrames) }

// Span returns the n bytes at addr, in place, inside one run: unlike
// Frame, the range may cross the run's frames, which are consecutive in
// memory. A range outside a run, or across its end, panics.
func (u *UMEM) Span(addr uint64, n int) []byte {
	i := addr >> u.shift
	if n < 0 || i < u.runBase || addr >= uint64(len(u.mem)) {
		panic(fmt.Sprintf("xsk: %d bytes at %#x are not in a run", n, addr))
	}
	end := (i - (i-u.runBase)%u.runFrames + u.runFrames) << u.shift
	if addr+uint64(n) > end {
		panic(fmt.Sprintf("xsk: %d bytes at %#x cross the end of a run", n, addr))
	}
	return u.mem[addr : addr+uint64(n) : end]
}

// FreeN frees every frame in addrs.
func (u *UMEM) FreeN(addrs []uint64) {
	for _, a := range addrs {
		u.Free(a)
	}
}

// Base returns the address of the frame that holds addr.
func (u *UMEM) Base(addr uint64) uint64 { return addr &^ (u.frameSize - 1) }

// Frame returns the n bytes at addr, in place. A range that crosses the end
// of a frame panics: in aligned mode no descriptor may cross a frame.
func (u *UMEM) Frame(addr uint64, n int) []byte {
	off := addr & (u.frameSize - 1)
	if n < 0 || off+uint64(n) > u.frameSize || addr >= uint64(len(u.mem)) {
		panic(fmt.Sprintf("xsk: %d bytes at %#x cross a %d-byte frame", n, addr, u.frameSize))
	}
	return u.mem[addr : addr+uint64(n) : addr-off+u.frameSize]
}

// Reset returns every frame to the free stack. It is for reuse after all
// sockets are closed: frames that were lent to the kernel at a socket's
// close, and that Close could not account for, come back (see
// Socket.Close). The caller must hold no frame.
func (u *UMEM) Reset() error {
	if len(u.sockets) != 0 {
		return fmt.Errorf("xsk: UMEM reset with %d open sockets", len(u.sockets))
	}
	u.reset()
	return nil
}

// ErrUMEMInUse is returned by UMEM.Close while sockets are open on it.
var ErrUMEMInUse = errors.New("xsk: UMEM still has open sockets")

// Close unmaps the UMEM. Every socket on it must be closed first.
func (u *UMEM) Close() error {
	if u.closed {
		return nil
	}
	if len(u.sockets) != 0 {
		return ErrUMEMInUse
	}
	u.closed = true
	mem := u.mem
	u.mem = nil
	u.n = 0
	if err := unix.Munmap(mem); err != nil {
		return setupError("munmap(UMEM)", err)
	}
	return nil
}

// registrar returns an open socket whose UMEM registration new sockets
// share (XDP_SHARED_UMEM), or nil when none is open.
func (u *UMEM) registrar() *Socket {
	if len(u.sockets) == 0 {
		return nil
	}
	return u.sockets[0]
}

func (u *UMEM) attach(s *Socket) { u.sockets = append(u.sockets, s) }

func (u *UMEM) detach(s *Socket) {
	for i, x := range u.sockets {
		if x == s {
			u.sockets = append(u.sockets[:i], u.sockets[i+1:]...)
			return
		}
	}
}

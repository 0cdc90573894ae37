// Package xsk is mpxdp's AF_XDP layer: UMEMs, sockets and their four rings,
// and the XDP program that steers the stack's TCP segments to them. It is
// built directly on the kernel's interface (Documentation/networking/
// af_xdp.rst) through golang.org/x/sys/unix, and the program on
// github.com/cilium/ebpf, with no C toolchain.
//
// The contract:
//
//   - Ownership. Every frame of a UMEM has exactly one owner at a time:
//     the UMEM's free stack, the caller, or the kernel (through the fill or
//     TX ring). RX.Release and Comp.Release hand frames to the caller;
//     Fill.Submit and TX.Submit hand them to the kernel; UMEM.Free returns
//     them to the stack. One descriptor per frame: the free stack counts
//     frames, and freeing a free frame panics. Runs (UMEMConfig.Runs) are
//     groups of consecutive frames kept apart for packets larger than a
//     frame: AllocRun hands out a whole run, Span views it as one buffer,
//     and its frames are freed one by one as the kernel completes them.
//   - Batches. The rings are peeked and released, reserved and submitted
//     in batches; the shared producer and consumer indices are read and
//     written atomically once per batch, with cached copies in between.
//     Nothing allocates after set-up, and the only system calls in the
//     data path are the kicks, made only when the kernel sets need_wakeup
//     (or when busy polling asks for them).
//   - Concurrency. A UMEM and its sockets belong to one goroutine at a
//     time; nothing here locks.
//   - Modes. Sockets bind in zero-copy mode when the driver offers it and
//     fall back to copy mode (veth is copy only); Socket.Mode says which.
//     MultiBuffer (XDP_USE_SG) carries packets larger than a frame as
//     chains of descriptors flagged PktContd.
//   - Lifetime. Close unmaps the rings before closing the socket, so that
//     the kernel unbinds the queue; Open retries the brief EBUSY of a
//     rebind. The Filter is attached through a bpf_link, so a crashed
//     process leaves no program behind.
//   - Errors. Set-up errors are *SetupError values that name the system
//     call, wrap its errno and give a hint for the fix.
//
// All use of package unsafe is in unsafe.go.
package xsk

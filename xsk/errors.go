package xsk

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// SetupError is an error of a set-up step: the system call (or bpf
// operation) that failed, the errno, and what to do about it.
type SetupError struct {
	Op   string // the system call, as in "setsockopt(XDP_UMEM_REG)"
	Err  error  // usually an *os.SyscallError wrapping a unix.Errno
	Hint string // the likely cause and fix; may be empty
}

func (e *SetupError) Error() string {
	s := "xsk: " + e.Err.Error()
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// Unwrap returns the underlying error, so that errors.Is(err, unix.EBUSY)
// works.
func (e *SetupError) Unwrap() error { return e.Err }

// setupError wraps err, an errno or an error that wraps one, from op.
func setupError(op string, err error) error {
	if err == nil {
		return nil
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		if _, ok := err.(unix.Errno); ok {
			err = os.NewSyscallError(op, errno)
		}
	}
	return &SetupError{Op: op, Err: err, Hint: hint(op, errno)}
}

const hintPerm = "run as root, or grant CAP_NET_RAW and CAP_NET_ADMIN (AF_XDP sockets), CAP_BPF and CAP_NET_ADMIN (the XDP program) and CAP_IPC_LOCK (UMEM pages)"

// hint names the likely cause of errno from op and its fix.
func hint(op string, errno unix.Errno) string {
	switch errno {
	case unix.EPERM, unix.EACCES:
		if op == "setsockopt(XDP_MAX_TX_SKB_BUDGET)" {
			return "the budget must be between 32 and the TX ring size"
		}
		return hintPerm
	case unix.EAFNOSUPPORT:
		return "the kernel has no AF_XDP (CONFIG_XDP_SOCKETS)"
	case unix.ENOMEM, unix.ENOBUFS:
		switch op {
		case "setsockopt(XDP_UMEM_REG)", "mmap(UMEM)":
			return "without CAP_IPC_LOCK the UMEM is charged to RLIMIT_MEMLOCK: raise it (ulimit -l) or use fewer frames"
		case "bpf(BPF_MAP_CREATE)", "bpf(BPF_PROG_LOAD)":
			return "raise RLIMIT_MEMLOCK (ulimit -l) on kernels before 5.11, or lower the map sizes"
		}
		return "out of memory: use fewer frames or smaller rings"
	case unix.EBUSY:
		if op == "bind" {
			return "the queue already has an AF_XDP socket or UMEM (another process, or a socket closed moments ago that the kernel is still releasing: raise SocketConfig.BindTimeout)"
		}
		return "the interface already has an XDP program that was not attached by this process; detach it (ip link set dev IF xdp off) or use its XSKMAP"
	case unix.EOPNOTSUPP:
		switch op {
		case "bind":
			return "the driver cannot bind in this mode: zero-copy needs driver support (veth and most virtual devices are copy only; use ZeroCopy Auto or Never), and MultiBuffer needs XDP multi-buffer support"
		case "bpf(BPF_LINK_CREATE)":
			return "the driver has no native XDP: attach in generic mode (AttachGeneric)"
		}
	case unix.EINVAL:
		switch op {
		case "bind":
			return "invalid queue (see ethtool -l), ring sizes, or flags for this device (MultiBuffer on a driver without multi-buffer XDP)"
		case "setsockopt(XDP_UMEM_REG)":
			return "invalid UMEM: frame size must be 2048 or 4096 and the area page aligned"
		case "bpf(BPF_LINK_CREATE)":
			return "the program does not fit this device: an MTU above about 3500 bytes on native XDP needs FilterConfig.MultiBuffer"
		}
		if len(op) > 11 && op[:11] == "setsockopt(" {
			return "ring sizes must be powers of two"
		}
	case unix.ENODEV, unix.ENXIO:
		return "no such interface in this network namespace"
	case unix.ENOPROTOOPT:
		if op == "setsockopt(XDP_MAX_TX_SKB_BUDGET)" {
			return "the kernel predates XDP_MAX_TX_SKB_BUDGET (Linux 6.17): leave SocketConfig.TXBudget zero"
		}
		return "the kernel does not know this option; it is too old for this feature"
	}
	return ""
}

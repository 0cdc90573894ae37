package testbed

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ListenMPTCP opens a kernel MPTCP listener on addr (for example
// "0.0.0.0:5201": INTEROP B.4, joins to other addresses need it) inside ns.
func ListenMPTCP(ns, addr string) (net.Listener, error) {
	var ln net.Listener
	err := Do(ns, func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		ln, err = lc.Listen(context.Background(), "tcp", addr)
		return err
	})
	return ln, err
}

// DialMPTCP connects a kernel MPTCP socket from inside ns to raddr,
// optionally from laddr ("" lets the kernel choose).
func DialMPTCP(ns, laddr, raddr string, timeout time.Duration) (*net.TCPConn, error) {
	var c net.Conn
	err := Do(ns, func() (err error) {
		d := net.Dialer{Timeout: timeout}
		d.SetMultipathTCP(true)
		if laddr != "" {
			if d.LocalAddr, err = net.ResolveTCPAddr("tcp", laddr); err != nil {
				return err
			}
		}
		c, err = d.Dial("tcp", raddr)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// MPTCPInfo is the part of the kernel's struct mptcp_info (getsockopt
// SOL_MPTCP, MPTCP_INFO) that the tests look at.
type MPTCPInfo struct {
	Subflows     int  // extra subflows (the initial one is not counted)
	Fallback     bool // MPTCP_INFO_FLAG_FALLBACK
	Token        uint32
	CsumEnabled  bool
	SubflowsMax  int
	AddrSignal   int
	AddrAccepted int
}

// Info reads MPTCP_INFO from a kernel MPTCP socket. It fails with ENOPROTOOPT
// on a plain TCP socket and with EOPNOTSUPP when MPTCP fell back early.
func Info(c *net.TCPConn) (MPTCPInfo, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return MPTCPInfo{}, err
	}
	var buf [96]byte
	n := uint32(len(buf))
	var serr error
	err = raw.Control(func(fd uintptr) {
		// getsockopt with a struct larger than the kernel's is fine: the
		// kernel writes its own size back into n.
		serr = getsockopt(int(fd), unix.SOL_MPTCP, mptcpInfoOpt, buf[:], &n)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return MPTCPInfo{}, err
	}
	if n < 43 {
		return MPTCPInfo{}, fmt.Errorf("testbed: MPTCP_INFO returned %d bytes", n)
	}
	flags := binary.NativeEndian.Uint32(buf[8:])
	return MPTCPInfo{
		Subflows: int(buf[0]), AddrSignal: int(buf[1]), AddrAccepted: int(buf[2]), SubflowsMax: int(buf[3]),
		Fallback: flags&1 != 0, Token: binary.NativeEndian.Uint32(buf[12:]), CsumEnabled: buf[42] != 0,
	}, nil
}

const mptcpInfoOpt = 1 // MPTCP_INFO, include/uapi/linux/mptcp.h

var errShort = errors.New("testbed: empty getsockopt buffer")

func getsockopt(fd, level, opt int, buf []byte, n *uint32) error {
	if len(buf) == 0 {
		return errShort
	}
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(n)), 0)
	if e != 0 {
		return e
	}
	return nil
}

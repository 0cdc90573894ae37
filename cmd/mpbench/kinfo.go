package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's per-subflow getsockopts on an MPTCP socket (Linux ≥ 5.16,
// include/uapi/linux/mptcp.h): a struct mptcp_subflow_data header followed
// by one element per subflow, in the same order for both options.
const (
	mptcpInfo         = 1 // MPTCP_INFO: struct mptcp_info
	mptcpTCPInfo      = 2 // MPTCP_TCPINFO: struct tcp_info per subflow
	mptcpSubflowAddrs = 3 // MPTCP_SUBFLOW_ADDRS: struct mptcp_subflow_addrs per subflow
	subflowDataLen    = 16
	subflowAddrsLen   = 256 // two struct __kernel_sockaddr_storage
	maxKernelSubflows = 16
)

// kernelSubflows reads the subflows of a kernel MPTCP socket.
func kernelSubflows(c *net.TCPConn) ([]subflowSample, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var infos, addrs []byte
	var ni, na int
	var serr error
	err = raw.Control(func(fd uintptr) {
		infos, ni, serr = subflowData(int(fd), mptcpTCPInfo, unix.SizeofTCPInfo)
		if serr == nil {
			addrs, na, serr = subflowData(int(fd), mptcpSubflowAddrs, subflowAddrsLen)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	// A subflow opened or closed between the two calls: keep the common part.
	n := min(ni, na)
	out := make([]subflowSample, 0, n)
	for i := range n {
		var ti unix.TCPInfo
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&ti)), unix.SizeofTCPInfo), infos[i*unix.SizeofTCPInfo:])
		a := addrs[i*subflowAddrsLen:]
		out = append(out, subflowFromTCPInfo(&ti, sockaddr(a[:128]), sockaddr(a[128:256])))
	}
	return out, nil
}

// kernelChecksums reports whether a kernel MPTCP socket uses DSS checksums
// (struct mptcp_info's mptcpi_csum_enabled, Linux ≥ 5.14); false when the
// kernel does not say.
func kernelChecksums(c *net.TCPConn) bool {
	const csumOff = 42 // after six u8, flags, token and three u64, two u8
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var buf [64]byte
	n := uint32(len(buf))
	var e syscall.Errno
	raw.Control(func(fd uintptr) {
		_, _, e = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_MPTCP, mptcpInfo,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	})
	return e == 0 && n > csumOff && buf[csumOff] != 0
}

// subflowData runs one of the per-subflow getsockopts and returns the
// elements (elem bytes each) and their number.
func subflowData(fd, opt, elem int) ([]byte, int, error) {
	buf := make([]byte, subflowDataLen+maxKernelSubflows*elem)
	binary.NativeEndian.PutUint32(buf[0:], subflowDataLen)
	binary.NativeEndian.PutUint32(buf[12:], uint32(elem))
	n := uint32(len(buf))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_MPTCP, uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return nil, 0, fmt.Errorf("getsockopt(SOL_MPTCP, %d): %w", opt, e)
	}
	if n < subflowDataLen {
		return nil, 0, fmt.Errorf("getsockopt(SOL_MPTCP, %d): %d bytes", opt, n)
	}
	count := int(binary.NativeEndian.Uint32(buf[4:]))
	kernelElem := int(binary.NativeEndian.Uint32(buf[8:]))
	if kernelElem < elem {
		// An older kernel's element is shorter: the tail stays zero.
		elem = kernelElem
	}
	count = min(count, maxKernelSubflows, (int(n)-subflowDataLen)/max(elem, 1))
	return buf[subflowDataLen:], count, nil
}

// sockaddr decodes a struct sockaddr_in or sockaddr_in6.
func sockaddr(b []byte) netip.AddrPort {
	port := binary.BigEndian.Uint16(b[2:])
	switch binary.NativeEndian.Uint16(b) {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])).Unmap(), port)
	}
	return netip.AddrPort{}
}

// tcpSubflow reads TCP_INFO of a plain TCP socket as its one "subflow".
func tcpSubflow(c *net.TCPConn) ([]subflowSample, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var ti *unix.TCPInfo
	var serr error
	err = raw.Control(func(fd uintptr) { ti, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	l, _ := netip.ParseAddrPort(c.LocalAddr().String())
	r, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return []subflowSample{subflowFromTCPInfo(ti, l, r)}, nil
}

func subflowFromTCPInfo(ti *unix.TCPInfo, l, r netip.AddrPort) subflowSample {
	return subflowSample{
		Local: l.String(), Remote: r.String(),
		BytesOut: ti.Bytes_sent, BytesIn: ti.Bytes_received,
		Retrans: uint64(ti.Total_retrans),
		RTT:     ms(int64(time.Duration(ti.Rtt) * time.Microsecond)),
		Cwnd:    int(ti.Snd_cwnd) * int(ti.Snd_mss),
	}
}

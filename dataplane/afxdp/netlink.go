package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// The kernel's routing and neighbour tables, through rtnetlink
// (rtnetlink(7)): request/response on one socket, change notifications on
// another. No third-party netlink library: the Link needs four message
// types, each a fixed header plus a few attributes.

const (
	nlmsgHdrLen = unix.SizeofNlMsghdr // 16
	rtmsgLen    = unix.SizeofRtMsg    // 12
	ndmsgLen    = unix.SizeofNdMsg    // 12
	ifinfoLen   = unix.SizeofIfInfomsg
	ifaddrLen   = unix.SizeofIfAddrmsg
)

// nudValid are the neighbour states whose link-layer address may be used
// (include/net/neighbour.h NUD_VALID).
const nudValid = unix.NUD_PERMANENT | unix.NUD_NOARP | unix.NUD_REACHABLE | unix.NUD_PROBE | unix.NUD_STALE | unix.NUD_DELAY

// routeInfo is the kernel's answer to "how does a packet from src to dst
// leave": RTM_GETROUTE, as `ip route get DST from SRC`.
type routeInfo struct {
	ifindex int
	gateway netip.Addr // invalid when dst is on-link
	prefSrc netip.Addr // the kernel's preferred source, if it gave one
	typ     uint8      // RTN_UNICAST, RTN_LOCAL, ...
}

// neighInfo is one neighbour-table entry.
type neighInfo struct {
	ifindex int
	addr    netip.Addr
	mac     [6]byte
	hasMAC  bool
	state   uint16 // NUD_*
}

// rtnl is a request/response rtnetlink socket. Its methods are safe for
// concurrent use (the shard resolves routes; Dial asks for sources).
type rtnl struct {
	mu  sync.Mutex
	fd  int
	seq uint32
	buf []byte // receive buffer
	req []byte // request being built
}

func openRtnl() (*rtnl, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, setupErr("socket(AF_NETLINK, NETLINK_ROUTE)", err, "")
	}
	// Strict checking makes the kernel reject malformed get requests
	// instead of silently dumping (NETLINK_GET_STRICT_CHK, Linux 4.20).
	unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1)
	unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, setupErr("bind(AF_NETLINK)", err, "")
	}
	return &rtnl{fd: fd, buf: make([]byte, 64<<10), req: make([]byte, 0, 256)}, nil
}

func (r *rtnl) close() error { return unix.Close(r.fd) }

// begin starts a request of type typ with flags and a fixed body of
// bodyLen zero bytes, and returns the body.
func (r *rtnl) begin(typ, flags uint16, bodyLen int) []byte {
	r.seq++
	r.req = r.req[:nlmsgHdrLen+bodyLen]
	clear(r.req)
	binary.NativeEndian.PutUint16(r.req[4:], typ)
	binary.NativeEndian.PutUint16(r.req[6:], flags|unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(r.req[8:], r.seq)
	return r.req[nlmsgHdrLen:]
}

// attr appends a route attribute.
func (r *rtnl) attr(typ uint16, data []byte) {
	l := unix.SizeofRtAttr + len(data)
	var h [4]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(l))
	binary.NativeEndian.PutUint16(h[2:], typ)
	r.req = append(r.req, h[:]...)
	r.req = append(r.req, data...)
	for len(r.req)%4 != 0 {
		r.req = append(r.req, 0)
	}
}

// roundTrip sends the request and calls each with every answer message
// (type and payload) until the reply is complete: the one answer of a get,
// the ACK of a change, NLMSG_DONE of a dump. An NLMSG_ERROR with a nonzero
// code is returned as its errno.
func (r *rtnl) roundTrip(each func(typ uint16, body []byte)) error {
	binary.NativeEndian.PutUint32(r.req[0:], uint32(len(r.req)))
	flags := binary.NativeEndian.Uint16(r.req[6:])
	single := flags&unix.NLM_F_ACK == 0 && flags&unix.NLM_F_DUMP != unix.NLM_F_DUMP
	if err := unix.Sendto(r.fd, r.req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("sendto(netlink)", err)
	}
	for {
		n, _, err := unix.Recvfrom(r.fd, r.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("recvfrom(netlink)", err)
		}
		done := false
		var rerr error
		perr := walkMessages(r.buf[:n], func(typ uint16, seq uint32, body []byte) {
			if seq != r.seq || done {
				return // a late answer to an earlier request, or trailing parts
			}
			switch typ {
			case unix.NLMSG_DONE:
				done = true
			case unix.NLMSG_ERROR:
				done = true
				if len(body) >= 4 {
					if code := int32(binary.NativeEndian.Uint32(body)); code < 0 {
						rerr = unix.Errno(-code)
					}
				}
			default:
				each(typ, body)
				done = single
			}
		})
		if perr != nil {
			return perr
		}
		if done {
			return rerr
		}
	}
}

// walkMessages calls f for each netlink message in b.
func walkMessages(b []byte, f func(typ uint16, seq uint32, body []byte)) error {
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b[0:]))
		if l < nlmsgHdrLen || l > len(b) {
			return errBadNetlink
		}
		f(binary.NativeEndian.Uint16(b[4:]), binary.NativeEndian.Uint32(b[8:]), b[nlmsgHdrLen:l])
		l = (l + 3) &^ 3
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return nil
}

var errBadNetlink = errors.New("afxdp: malformed netlink message")

// walkAttrs calls f for each route attribute in b.
func walkAttrs(b []byte, f func(typ uint16, data []byte)) {
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:]))
		if l < unix.SizeofRtAttr || l > len(b) {
			return
		}
		f(binary.NativeEndian.Uint16(b[2:])&^unix.NLA_F_NESTED, b[unix.SizeofRtAttr:l])
		l = (l + 3) &^ 3
		if l > len(b) {
			return
		}
		b = b[l:]
	}
}

func family(a netip.Addr) (uint8, int) {
	if a.Is4() {
		return unix.AF_INET, 32
	}
	return unix.AF_INET6, 128
}

func addrFrom(data []byte) (netip.Addr, bool) {
	switch len(data) {
	case 4:
		return netip.AddrFrom4([4]byte(data)), true
	case 16:
		return netip.AddrFrom16([16]byte(data)), true
	}
	return netip.Addr{}, false
}

// route asks the kernel how a packet from src (invalid: any) to dst leaves
// (RTM_GETROUTE; policy rules that select by source apply).
func (r *rtnl) route(src, dst netip.Addr) (routeInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dst = dst.Unmap()
	fam, bits := family(dst)
	body := r.begin(unix.RTM_GETROUTE, 0, rtmsgLen)
	body[0] = fam
	body[1] = uint8(bits)
	r.attr(unix.RTA_DST, dst.AsSlice())
	if src.IsValid() {
		src = src.Unmap()
		r.req[nlmsgHdrLen+2] = uint8(bits) // rtm_src_len
		r.attr(unix.RTA_SRC, src.AsSlice())
	}
	var ri routeInfo
	got := false
	err := r.roundTrip(func(typ uint16, b []byte) {
		if typ != unix.RTM_NEWROUTE || len(b) < rtmsgLen {
			return
		}
		got = true
		ri.typ = b[7]
		walkAttrs(b[rtmsgLen:], func(t uint16, d []byte) {
			switch t {
			case unix.RTA_OIF:
				if len(d) >= 4 {
					ri.ifindex = int(binary.NativeEndian.Uint32(d))
				}
			case unix.RTA_GATEWAY:
				ri.gateway, _ = addrFrom(d)
			case unix.RTA_PREFSRC:
				ri.prefSrc, _ = addrFrom(d)
			}
		})
	})
	if err != nil {
		return ri, err
	}
	if !got {
		return ri, errBadNetlink
	}
	return ri, nil
}

// neigh reads the neighbour entry for addr on ifindex (RTM_GETNEIGH
// without NLM_F_DUMP, Linux 5.0). A missing entry is unix.ENOENT.
func (r *rtnl) neigh(ifindex int, addr netip.Addr) (neighInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	addr = addr.Unmap()
	fam, _ := family(addr)
	body := r.begin(unix.RTM_GETNEIGH, 0, ndmsgLen)
	body[0] = fam
	binary.NativeEndian.PutUint32(body[4:], uint32(ifindex))
	r.attr(unix.NDA_DST, addr.AsSlice())
	var ni neighInfo
	got := false
	err := r.roundTrip(func(typ uint16, b []byte) {
		if typ == unix.RTM_NEWNEIGH {
			ni, got = parseNeigh(b)
		}
	})
	if err != nil {
		return ni, err
	}
	if !got {
		return ni, errBadNetlink
	}
	return ni, nil
}

// parseNeigh decodes the body of an RTM_NEWNEIGH or RTM_DELNEIGH.
func parseNeigh(b []byte) (neighInfo, bool) {
	var ni neighInfo
	if len(b) < ndmsgLen {
		return ni, false
	}
	ni.ifindex = int(int32(binary.NativeEndian.Uint32(b[4:])))
	ni.state = binary.NativeEndian.Uint16(b[8:])
	walkAttrs(b[ndmsgLen:], func(t uint16, d []byte) {
		switch t {
		case unix.NDA_DST:
			ni.addr, _ = addrFrom(d)
		case unix.NDA_LLADDR:
			if len(d) == 6 {
				ni.mac = [6]byte(d)
				ni.hasMAC = true
			}
		}
	})
	return ni, ni.addr.IsValid()
}

// use asks the kernel to resolve addr on ifindex: RTM_NEWNEIGH with
// NTF_USE creates the entry if needed and runs neigh_event_send, which
// starts ARP or neighbour solicitation for an entry without a valid
// address and re-probes a stale one, exactly as if the kernel had a packet
// to send. The requested state is ignored with NTF_USE, but NTF_USE on a
// PERMANENT entry would strip PERMANENT, so callers use it only on
// entries that are missing or neither PERMANENT nor NOARP.
func (r *rtnl) use(ifindex int, addr netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	addr = addr.Unmap()
	fam, _ := family(addr)
	body := r.begin(unix.RTM_NEWNEIGH, unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_REPLACE, ndmsgLen)
	body[0] = fam
	binary.NativeEndian.PutUint32(body[4:], uint32(ifindex))
	binary.NativeEndian.PutUint16(body[8:], unix.NUD_NONE)
	body[10] = unix.NTF_USE
	r.attr(unix.NDA_DST, addr.AsSlice())
	return r.roundTrip(func(uint16, []byte) {})
}

// addrs lists the addresses of ifindex with their prefix lengths
// (RTM_GETADDR dump), link-local ones included.
func (r *rtnl) addrs(ifindex int) ([]netip.Prefix, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	body := r.begin(unix.RTM_GETADDR, unix.NLM_F_DUMP, ifaddrLen)
	body[0] = unix.AF_UNSPEC
	var out []netip.Prefix
	err := r.roundTrip(func(typ uint16, b []byte) {
		if typ != unix.RTM_NEWADDR || len(b) < ifaddrLen {
			return
		}
		if int(binary.NativeEndian.Uint32(b[4:])) != ifindex {
			return
		}
		plen := int(b[1])
		var local, address netip.Addr
		walkAttrs(b[ifaddrLen:], func(t uint16, d []byte) {
			switch t {
			case unix.IFA_LOCAL:
				local, _ = addrFrom(d)
			case unix.IFA_ADDRESS:
				address, _ = addrFrom(d)
			}
		})
		// IFA_LOCAL is the local address on point-to-point links, where
		// IFA_ADDRESS is the peer's (rtnetlink(7)).
		a := local
		if !a.IsValid() {
			a = address
		}
		if a.IsValid() {
			out = append(out, netip.PrefixFrom(a, plen))
		}
	})
	return out, err
}

// link reads a device's index, MAC, MTU, RX queue count and up state
// (RTM_GETLINK by name).
type linkInfo struct {
	index    int
	mac      [6]byte
	mtu      int
	rxQueues int
	up       bool
}

func (r *rtnl) link(name string) (linkInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.begin(unix.RTM_GETLINK, 0, ifinfoLen)
	r.attr(unix.IFLA_IFNAME, append([]byte(name), 0))
	var li linkInfo
	got := false
	err := r.roundTrip(func(typ uint16, b []byte) {
		if typ != unix.RTM_NEWLINK || len(b) < ifinfoLen {
			return
		}
		got = true
		li.index = int(int32(binary.NativeEndian.Uint32(b[4:])))
		li.up = binary.NativeEndian.Uint32(b[8:])&unix.IFF_UP != 0
		walkAttrs(b[ifinfoLen:], func(t uint16, d []byte) {
			switch t {
			case unix.IFLA_ADDRESS:
				if len(d) == 6 {
					li.mac = [6]byte(d)
				}
			case unix.IFLA_MTU:
				if len(d) >= 4 {
					li.mtu = int(binary.NativeEndian.Uint32(d))
				}
			case unix.IFLA_NUM_RX_QUEUES:
				if len(d) >= 4 {
					li.rxQueues = int(binary.NativeEndian.Uint32(d))
				}
			}
		})
	})
	if err == nil && !got {
		err = errBadNetlink
	}
	return li, err
}

// monitor receives the kernel's neighbour, route and link change
// notifications. It is non-blocking and read only by the shard.
type monitor struct {
	fd  int
	buf []byte
}

func openMonitor() (*monitor, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, setupErr("socket(AF_NETLINK, NETLINK_ROUTE)", err, "")
	}
	// A large buffer so that a burst of changes does not overflow it
	// (ENOBUFS makes the Link forget everything and ask again).
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	// Policy rules too: a rule decides the route of a source-bound
	// subflow as much as a route does (the groups' bits are 1 << (group
	// - 1); IPv6 rules have no RTMGRP_ name).
	groups := uint32(unix.RTMGRP_NEIGH | unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE | unix.RTMGRP_LINK |
		unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR |
		1<<(unix.RTNLGRP_IPV4_RULE-1) | 1<<(unix.RTNLGRP_IPV6_RULE-1))
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, setupErr("bind(AF_NETLINK, RTMGRP_NEIGH|ROUTE|RULE|LINK|IFADDR)", err, "")
	}
	return &monitor{fd: fd, buf: make([]byte, 64<<10)}, nil
}

func (m *monitor) close() error { return unix.Close(m.fd) }

// drain reads every queued notification and calls f for each message. It
// returns overflow when the kernel dropped notifications (ENOBUFS): the
// caller must then forget what it learned from them.
func (m *monitor) drain(f func(typ uint16, body []byte)) (overflow bool, err error) {
	for {
		n, _, err := unix.Recvfrom(m.fd, m.buf, unix.MSG_DONTWAIT)
		switch err {
		case nil:
		case unix.EAGAIN:
			return overflow, nil
		case unix.EINTR:
			continue
		case unix.ENOBUFS:
			overflow = true
			continue
		default:
			return overflow, os.NewSyscallError("recvfrom(netlink monitor)", err)
		}
		if err := walkMessages(m.buf[:n], func(typ uint16, _ uint32, body []byte) { f(typ, body) }); err != nil {
			return overflow, err
		}
	}
}

func (n neighInfo) String() string {
	return fmt.Sprintf("%v dev %d lladdr %x state %#x", n.addr, n.ifindex, n.mac, n.state)
}

package xsk

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// needRoot skips t unless the process can make network namespaces, load
// XDP programs and open AF_XDP sockets.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF) for network namespaces, XDP and AF_XDP; CI runs as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip command")
	}
}

// inNS runs f on an OS thread that has entered the named network
// namespace. The thread stays locked and is discarded when f returns, so
// no other goroutine ever runs in the namespace by accident.
func inNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// bed is a veth pair va <-> vb between two private network namespaces,
// named mpxk-<random>-a and -b, with IPv4 and IPv6 addresses.
type bed struct {
	t              testing.TB
	nsA, nsB       string
	ifA, ifB       int
	macA, macB     net.HardwareAddr
	ip4A, ip4B     netip.Addr
	ip6A, ip6B     netip.Addr
	mtu, numQueues int
}

type bedConfig struct {
	mtu    int // 0: 1500
	queues int // 0: 1
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newBed(t testing.TB, cfg bedConfig) *bed {
	t.Helper()
	needRoot(t)
	if cfg.mtu == 0 {
		cfg.mtu = 1500
	}
	if cfg.queues == 0 {
		cfg.queues = 1
	}
	var r [4]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	b := &bed{t: t, nsA: "mpxk-" + id + "-a", nsB: "mpxk-" + id + "-b", mtu: cfg.mtu, numQueues: cfg.queues,
		ip4A: netip.MustParseAddr("10.0.77.1"), ip4B: netip.MustParseAddr("10.0.77.2"),
		ip6A: netip.MustParseAddr("fd00:77::1"), ip6B: netip.MustParseAddr("fd00:77::2")}
	for _, ns := range []string{b.nsA, b.nsB} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Skipf("cannot create a network namespace (%v: %s); needs CAP_SYS_ADMIN", err, strings.TrimSpace(string(out)))
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	q := strconv.Itoa(cfg.queues)
	run(t, "ip", "-n", b.nsA, "link", "add", "va", "numtxqueues", q, "numrxqueues", q, "type", "veth",
		"peer", "name", "vb", "netns", b.nsB, "numtxqueues", q, "numrxqueues", q)
	for _, s := range []struct{ ns, dev, ip4, ip6 string }{
		{b.nsA, "va", "10.0.77.1/24", "fd00:77::1/64"},
		{b.nsB, "vb", "10.0.77.2/24", "fd00:77::2/64"},
	} {
		run(t, "ip", "-n", s.ns, "link", "set", s.dev, "mtu", strconv.Itoa(cfg.mtu))
		run(t, "ip", "-n", s.ns, "addr", "add", s.ip4, "dev", s.dev)
		run(t, "ip", "-n", s.ns, "addr", "add", s.ip6, "dev", s.dev, "nodad")
		run(t, "ip", "-n", s.ns, "link", "set", s.dev, "up")
		run(t, "ip", "-n", s.ns, "link", "set", "lo", "up")
		// Complete checksums from the kernel side (INTEROP C.2).
		run(t, "ip", "netns", "exec", s.ns, "ethtool", "-K", s.dev, "tx", "off")
	}
	b.ifA, b.macA = b.link(b.nsA, "va")
	b.ifB, b.macB = b.link(b.nsB, "vb")
	return b
}

func (b *bed) link(ns, dev string) (int, net.HardwareAddr) {
	var ifi *net.Interface
	err := inNS(ns, func() (err error) {
		ifi, err = net.InterfaceByName(dev)
		return err
	})
	if err != nil {
		b.t.Fatalf("interface %s in %s: %v", dev, ns, err)
	}
	return ifi.Index, ifi.HardwareAddr
}

// do runs f inside ns and fails the test on error.
func (b *bed) do(ns string, f func() error) {
	b.t.Helper()
	if err := inNS(ns, f); err != nil {
		b.t.Fatal(err)
	}
}

// packetSocket is an AF_PACKET socket on dev in ns, for injecting frames
// and capturing them.
type packetSocket struct {
	fd      int
	ifindex int
}

func (b *bed) packetSocket(ns string, ifindex int) *packetSocket {
	b.t.Helper()
	p := &packetSocket{ifindex: ifindex}
	b.do(ns, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		p.fd = fd
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex})
	})
	b.t.Cleanup(func() { unix.Close(p.fd) })
	return p
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (p *packetSocket) send(t testing.TB, frame []byte) {
	t.Helper()
	if err := unix.Sendto(p.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: p.ifindex, Halen: 6}); err != nil {
		t.Fatalf("AF_PACKET send: %v", err)
	}
}

// recv returns the next incoming frame that match accepts, or nil after
// the timeout.
func (p *packetSocket) recv(t testing.TB, timeout time.Duration, match func([]byte) bool) []byte {
	t.Helper()
	buf := make([]byte, 65536)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(fds, 50); n == 0 {
			continue
		}
		n, from, err := unix.Recvfrom(p.fd, buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			t.Fatalf("AF_PACKET recv: %v", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if match(buf[:n]) {
			return append([]byte(nil), buf[:n]...)
		}
	}
	return nil
}

// Frame builders. Checksums are complete, so the kernel accepts what it
// is passed.

func ethernet(dst, src net.HardwareAddr, etherType uint16, payload []byte) []byte {
	f := make([]byte, 14, 14+len(payload))
	copy(f, dst)
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], etherType)
	return append(f, payload...)
}

func vlan(frame []byte, id uint16) []byte {
	f := append([]byte(nil), frame[:12]...)
	f = binary.BigEndian.AppendUint16(f, 0x8100)
	f = binary.BigEndian.AppendUint16(f, id)
	return append(f, frame[12:]...)
}

func sum16(b []byte, s uint32) uint32 {
	for len(b) > 1 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// ipv4 builds an IPv4 packet; options must be a multiple of 4 bytes.
func ipv4(src, dst netip.Addr, proto byte, options []byte, fragField uint16, payload []byte) []byte {
	hl := 20 + len(options)
	p := make([]byte, hl, hl+len(payload))
	p[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(p[2:], uint16(hl+len(payload)))
	binary.BigEndian.PutUint16(p[6:], fragField)
	p[8] = 64
	p[9] = proto
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	copy(p[20:], options)
	binary.BigEndian.PutUint16(p[10:], fold(sum16(p[:hl], 0)))
	if proto == unix.IPPROTO_TCP || proto == unix.IPPROTO_UDP {
		payload = append([]byte(nil), payload...)
		pseudo := sum16(s[:], 0) + sum16(d[:], 0) + uint32(proto) + uint32(len(payload))
		off := 16
		if proto == unix.IPPROTO_UDP {
			off = 6
		}
		binary.BigEndian.PutUint16(payload[off:], 0)
		binary.BigEndian.PutUint16(payload[off:], fold(sum16(payload, pseudo)))
	}
	return append(p, payload...)
}

func ipv6(src, dst netip.Addr, next byte, payload []byte) []byte {
	p := make([]byte, 40, 40+len(payload))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(len(payload)))
	p[6] = next
	p[7] = 64
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	if next == unix.IPPROTO_TCP {
		payload = append([]byte(nil), payload...)
		pseudo := sum16(s[:], 0) + sum16(d[:], 0) + uint32(next) + uint32(len(payload))
		binary.BigEndian.PutUint16(payload[16:], 0)
		binary.BigEndian.PutUint16(payload[16:], fold(sum16(payload, pseudo)))
	}
	return append(p, payload...)
}

// tcp builds a TCP segment (ACK|PSH) with no options.
func tcp(sport, dport uint16, payload []byte) []byte {
	s := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(s[0:], sport)
	binary.BigEndian.PutUint16(s[2:], dport)
	binary.BigEndian.PutUint32(s[4:], 1000)
	binary.BigEndian.PutUint32(s[8:], 2000)
	s[12] = 5 << 4
	s[13] = 0x18
	binary.BigEndian.PutUint16(s[14:], 65535)
	return append(s, payload...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	s := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(s[0:], sport)
	binary.BigEndian.PutUint16(s[2:], dport)
	binary.BigEndian.PutUint16(s[4:], uint16(8+len(payload)))
	return append(s, payload...)
}

// tcpFrame4 is an Ethernet frame from b's B side to its A side carrying
// TCP to dport.
func (b *bed) tcpFrame4(dport uint16, payload []byte) []byte {
	return ethernet(b.macA, b.macB, unix.ETH_P_IP, ipv4(b.ip4B, b.ip4A, unix.IPPROTO_TCP, nil, 0x4000, tcp(40000, dport, payload)))
}

func (b *bed) tcpFrame6(dport uint16, payload []byte) []byte {
	return ethernet(b.macA, b.macB, unix.ETH_P_IPV6, ipv6(b.ip6B, b.ip6A, unix.IPPROTO_TCP, tcp(40000, dport, payload)))
}

// pattern returns n bytes of a recognisable pattern seeded by seed.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7) + seed
	}
	return p
}

// ping sends one ICMP or ICMPv6 echo request to dst from inside ns with a
// raw socket and waits for the reply. The kernel resolves dst with ARP or
// NDP first, so a reply also shows that those got through.
func ping(ns string, dst netip.Addr) error {
	return inNS(ns, func() error {
		fam, proto, req, rep := unix.AF_INET, unix.IPPROTO_ICMP, byte(8), byte(0)
		if dst.Is6() {
			fam, proto, req, rep = unix.AF_INET6, unix.IPPROTO_ICMPV6, 128, 129
		}
		fd, err := unix.Socket(fam, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		msg := []byte{req, 0, 0, 0, 0x12, 0x34, 0, 1, 'm', 'p', 'x', 'k'}
		var sa unix.Sockaddr
		if dst.Is6() {
			sa = &unix.SockaddrInet6{Addr: dst.As16()} // the kernel sums ICMPv6
		} else {
			binary.BigEndian.PutUint16(msg[2:], fold(sum16(msg, 0)))
			sa = &unix.SockaddrInet4{Addr: dst.As4()}
		}
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		buf := make([]byte, 1500)
		for try := 0; try < 10; try++ {
			if err := unix.Sendto(fd, msg, 0, sa); err != nil {
				return err
			}
			for {
				n, _, err := unix.Recvfrom(fd, buf, 0)
				if err != nil {
					break // timeout: send again
				}
				icmp := buf[:n]
				if !dst.Is6() && n > 20 {
					icmp = buf[int(buf[0]&0x0f)*4 : n]
				}
				if len(icmp) >= 8 && icmp[0] == rep && icmp[4] == 0x12 && icmp[5] == 0x34 {
					return nil
				}
			}
		}
		return errors.New("no echo reply from " + dst.String())
	})
}

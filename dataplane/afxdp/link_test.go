package afxdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mpxdp/mpxdp/internal/testbed"
	"github.com/mpxdp/mpxdp/xsk"
)

// openLink opens a Link on side A's veths of b, inside namespace A.
func openLink(t *testing.T, b *testbed.Bed, cfg Config) *Link {
	t.Helper()
	if cfg.Interfaces == nil {
		cfg.Interfaces = b.Devs(b.NSA)
	}
	var l *Link
	b.Do(b.NSA, func() (err error) {
		l, err = Open(cfg)
		return err
	})
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func csum(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

const (
	fFIN = 0x01
	fSYN = 0x02
	fRST = 0x04
	fPSH = 0x08
	fACK = 0x10
)

// tcpPacket builds an IPv4 or IPv6 TCP segment with valid checksums.
func tcpPacket(src, dst netip.AddrPort, flags uint8, seq, ack uint32, payload []byte) []byte {
	tcp := make([]byte, 20+len(payload))
	binary.BigEndian.PutUint16(tcp[0:], src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12] = 5 << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[20:], payload)
	var pseudo uint32
	pseudo = csum(src.Addr().AsSlice(), pseudo)
	pseudo = csum(dst.Addr().AsSlice(), pseudo)
	pseudo += 6 + uint32(len(tcp))
	binary.BigEndian.PutUint16(tcp[16:], fold(csum(tcp, pseudo)))
	if src.Addr().Is4() {
		ip := make([]byte, 20, 20+len(tcp))
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(tcp)))
		ip[6] = 0x40 // DF
		ip[8] = 64
		ip[9] = 6
		copy(ip[12:], src.Addr().AsSlice())
		copy(ip[16:], dst.Addr().AsSlice())
		binary.BigEndian.PutUint16(ip[10:], fold(csum(ip, 0)))
		return append(ip, tcp...)
	}
	ip := make([]byte, 40, 40+len(tcp))
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(tcp)))
	ip[6] = 6
	ip[7] = 64
	copy(ip[8:], src.Addr().AsSlice())
	copy(ip[24:], dst.Addr().AsSlice())
	return append(ip, tcp...)
}

type segment struct {
	src, dst netip.AddrPort
	flags    uint8
	seq, ack uint32
	payload  int
}

func parseTCP(p []byte) (segment, bool) {
	var s segment
	var off int
	switch {
	case len(p) >= 40 && p[0]>>4 == 4 && p[9] == 6:
		off = int(p[0]&15) * 4
		s.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[12:16])), 0)
		s.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[16:20])), 0)
	case len(p) >= 60 && p[0]>>4 == 6 && p[6] == 6:
		off = 40
		s.src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(p[8:24])), 0)
		s.dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(p[24:40])), 0)
	default:
		return s, false
	}
	t := p[off:]
	s.src = netip.AddrPortFrom(s.src.Addr(), binary.BigEndian.Uint16(t[0:]))
	s.dst = netip.AddrPortFrom(s.dst.Addr(), binary.BigEndian.Uint16(t[2:]))
	s.seq = binary.BigEndian.Uint32(t[4:])
	s.ack = binary.BigEndian.Uint32(t[8:])
	s.flags = t[13]
	s.payload = len(t) - int(t[12]>>4)*4
	return s, true
}

// send transmits one packet through l.
func send(t *testing.T, l *Link, pkt []byte) {
	t.Helper()
	var bufs [1][]byte
	if l.Reserve(bufs[:]) != 1 {
		t.Fatal("Reserve gave no buffer")
	}
	if len(bufs[0]) < len(pkt) {
		t.Fatalf("buffer of %d bytes for a %d-byte packet", len(bufs[0]), len(pkt))
	}
	copy(bufs[0], pkt)
	l.Transmit([]int{len(pkt)})
}

// recv receives from l until match accepts a packet or d passes; it
// returns a copy of that packet.
func recv(t *testing.T, l *Link, d time.Duration, match func(segment) bool) ([]byte, bool) {
	t.Helper()
	var pkts [64][]byte
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		n := l.Receive(pkts[:])
		for i, p := range pkts[:n] {
			if s, ok := parseTCP(p); ok && match(s) {
				out := append([]byte(nil), p...)
				for _, r := range l.Rest(i) {
					out = append(out, r...)
				}
				return out, true
			}
		}
		if n == 0 {
			if err := l.Wait(10 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
	}
	return nil, false
}

// TestLink moves raw TCP segments through the Link against the kernel of
// namespace B, on both paths, IPv4 and IPv6: a SYN leaves (its next hop
// resolved by the kernel's ARP/NDP while it waits), B's SYN/ACK to an
// ephemeral port comes back to the Link, a data segment arrives whole (B
// acknowledges its length in a RST), the kernel of A never sees the
// stack's segments and so never resets them; a claimed port outside the
// range works the same, and once released the kernel of A does reset,
// which shows that the check can fail. Kernel traffic to another port of
// A (ARP included) keeps working while the filter is attached.
func TestLink(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 2})
	l := openLink(t, b, Config{})
	if l.Mode() != xsk.ModeCopy || l.multi || l.jumbo || l.MTU() != 1500 {
		t.Fatalf("%v: want copy mode, no multi-buffer at MTU 1500", l)
	}
	if got := len(l.Addrs()); got != 4 {
		t.Errorf("Addrs %v: want both paths' IPv4 and IPv6 addresses", l.Addrs())
	}
	// Kernel listeners in B.
	var lns []net.Listener
	for _, p := range b.Paths {
		for _, a := range []netip.Addr{p.B4, p.B6} {
			var ln net.Listener
			b.Do(b.NSB, func() (err error) {
				ln, err = net.Listen("tcp", netip.AddrPortFrom(a, 7001).String())
				return err
			})
			lns = append(lns, ln)
		}
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	port := uint16(61000)
	for i, p := range b.Paths {
		for _, pair := range [][2]netip.Addr{{p.A4, p.B4}, {p.A6, p.B6}} {
			port++
			local := netip.AddrPortFrom(pair[0], port)
			remote := netip.AddrPortFrom(pair[1], 7001)
			handshake(t, l, local, remote)
			// A data segment without ACK to a closed port: B's kernel
			// answers with a RST acknowledging its whole length.
			remote = netip.AddrPortFrom(pair[1], 7002)
			data := make([]byte, 1400)
			for j := range data {
				data[j] = byte(j + i)
			}
			send(t, l, tcpPacket(local, remote, fPSH, 5000, 0, data))
			if _, ok := recv(t, l, 3*time.Second, func(s segment) bool {
				return s.dst == local && s.flags&fRST != 0 && s.ack == 5000+1400
			}); !ok {
				t.Errorf("%v -> %v: no RST acknowledging 1400 bytes", local, remote)
			}
		}
	}
	// A claimed port outside the ephemeral range.
	if err := l.ClaimPort(5201); err != nil {
		t.Fatal(err)
	}
	p1 := b.Paths[0]
	claimed := netip.AddrPortFrom(p1.A4, 5201)
	handshake(t, l, claimed, netip.AddrPortFrom(p1.B4, 7001))
	if rst := b.Nstat(b.NSA)["TcpOutRsts"]; rst != 0 {
		t.Errorf("the kernel of A sent %d RSTs while the stack owned the ports", rst)
	}
	// Released: B's SYN/ACK now reaches A's kernel, which resets it.
	if err := l.ReleasePort(5201); err != nil {
		t.Fatal(err)
	}
	send(t, l, tcpPacket(claimed, netip.AddrPortFrom(p1.B4, 7001), fSYN, 9000, 0, nil))
	if _, ok := recv(t, l, 300*time.Millisecond, func(s segment) bool { return s.dst == claimed }); ok {
		t.Error("a segment to a released port reached the stack")
	}
	if !testbed.WaitFor(3*time.Second, func() bool { return b.Nstat(b.NSA)["TcpOutRsts"] > 0 }) {
		t.Error("the kernel of A did not reset a SYN/ACK to a released port: the RST check cannot fail")
	}

	// Kernel TCP to an unowned port of A, from B (ARP from B answered by
	// A's kernel).
	var kln net.Listener
	b.Do(b.NSA, func() (err error) {
		kln, err = net.Listen("tcp", ":7000")
		return err
	})
	defer kln.Close()
	go func() {
		c, err := kln.Accept()
		if err == nil {
			c.Write([]byte("kernel"))
			c.Close()
		}
	}()
	var kc net.Conn
	b.Do(b.NSB, func() (err error) {
		kc, err = net.DialTimeout("tcp", netip.AddrPortFrom(b.Paths[1].A4, 7000).String(), 3*time.Second)
		return err
	})
	buf := make([]byte, 16)
	kc.SetDeadline(time.Now().Add(3 * time.Second))
	n, _ := kc.Read(buf)
	kc.Close()
	if string(buf[:n]) != "kernel" {
		t.Errorf("kernel connection beside the stack: read %q", buf[:n])
	}

	// In: 4 SYN/ACKs, 4 RSTs, the claimed port's SYN/ACK. Out: 4 × (SYN,
	// RST, data), the claimed port's SYN and RST, the released port's SYN,
	// and the link's own neighbour solicitation on each path (IPv6).
	st := l.Stats()
	if st.NoRoute != 0 || st.Malformed != 0 || st.RxDropped != 0 || st.TxDropped != 0 || st.RxPackets != 9 || st.TxPackets != 17 {
		t.Errorf("stats %+v", st)
	}
	rs := l.ResolverStats()
	if rs.NeighRequests != 4 || rs.Resolved != 4 || rs.Solicitations != 2 {
		t.Errorf("resolver %+v: want 4 neighbours resolved (2 paths, IPv4 and IPv6), 2 solicitations (IPv6)", rs)
	}
	if ss := l.SocketStats(); len(ss) != 2 || ss[0].Mode != xsk.ModeCopy {
		t.Errorf("socket stats %+v", ss)
	}
}

// TestLinkSolicitsIPv6 removes A's IPv6 link-local address, from which
// the kernel sends the neighbour solicitations that NTF_USE asks for: the
// kernel alone then never resolves B (it would for its own packets, from
// their source address). The Link's own solicitation, from the SYN's
// source address, completes the kernel's entry, and the SYN leaves. The
// SYN is sent again after 1.2 s, as TCP would, since B's kernel drops
// solicitations from a global address during about a second after its
// link comes up. The frame itself is checked in TestWriteSolicitation.
func TestLinkSolicitsIPv6(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 1})
	p := b.Paths[0]
	b.Run(b.NSA, "ip", "-6", "addr", "flush", "dev", p.DevA, "scope", "link")
	if out := b.Run(b.NSA, "ip", "-6", "addr", "show", "dev", p.DevA, "scope", "link"); strings.Contains(out, "fe80") {
		t.Fatalf("link-local address left:\n%s", out)
	}
	l := openLink(t, b, Config{})
	var ln net.Listener
	b.Do(b.NSB, func() (err error) {
		ln, err = net.Listen("tcp", ":7001")
		return err
	})
	defer ln.Close()
	local, remote := netip.AddrPortFrom(p.A6, 61001), netip.AddrPortFrom(p.B6, 7001)
	answered := false
	for try := 0; try < 3 && !answered; try++ {
		send(t, l, tcpPacket(local, remote, fSYN, 1000, 0, nil))
		_, answered = recv(t, l, 1200*time.Millisecond, func(s segment) bool {
			return s.dst == local && s.src == remote && s.flags == fSYN|fACK && s.ack == 1001
		})
	}
	rs := l.ResolverStats()
	if !answered {
		t.Fatalf("no SYN/ACK to three SYNs: resolver %+v, neighbours of A:\n%s", rs, b.Run(b.NSA, "ip", "-6", "neigh"))
	}
	send(t, l, tcpPacket(local, remote, fRST, 1001, 0, nil))
	if rs.Solicitations < 1 || rs.Solicitations > 3 || rs.Resolved != 1 {
		t.Errorf("resolver %+v: want a solicitation of our own per SYN until resolved, and the neighbour resolved", rs)
	}
	// Resolved: no more solicitations; and IPv4 needs none.
	handshake(t, l, netip.AddrPortFrom(p.A6, 61002), remote)
	handshake(t, l, netip.AddrPortFrom(p.A4, 61003), netip.AddrPortFrom(p.B4, 7001))
	if got := l.ResolverStats().Solicitations; got != rs.Solicitations {
		t.Errorf("%d solicitations after the neighbour was resolved, want %d", got, rs.Solicitations)
	}
}

// TestWriteSolicitation checks the neighbour solicitation frame against
// RFC 4861 §4.3 and §7.1.1 and the multicast mappings of RFC 4291 §2.7.1
// and RFC 2464 §7.
func TestWriteSolicitation(t *testing.T) {
	mac := [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	target := netip.MustParseAddr("fd00:1::12:3456")
	src := netip.MustParseAddr("fd00:1::2")
	f := make([]byte, ethLen+nsLen)
	for i := range f {
		f[i] = 0xee // writeSolicitation must clear what it does not set
	}
	writeSolicitation(f, mac, target, src)
	if got, want := f[:6], []byte{0x33, 0x33, 0xff, 0x12, 0x34, 0x56}; !bytes.Equal(got, want) {
		t.Errorf("destination MAC %x, want %x", got, want)
	}
	if !bytes.Equal(f[6:12], mac[:]) || binary.BigEndian.Uint16(f[12:]) != 0x86dd {
		t.Errorf("Ethernet header %x", f[:14])
	}
	ip := f[ethLen:]
	if ip[0] != 0x60 || binary.BigEndian.Uint16(ip[4:]) != 32 || ip[6] != 58 || ip[7] != 255 {
		t.Errorf("IPv6 header %x: want version 6, payload 32, ICMPv6, hop limit 255", ip[:8])
	}
	if netip.AddrFrom16([16]byte(ip[8:24])) != src || netip.AddrFrom16([16]byte(ip[24:40])) != netip.MustParseAddr("ff02::1:ff12:3456") {
		t.Errorf("addresses %x -> %x", ip[8:24], ip[24:40])
	}
	icmp := ip[40:]
	if icmp[0] != 135 || icmp[1] != 0 || binary.BigEndian.Uint32(icmp[4:]) != 0 || netip.AddrFrom16([16]byte(icmp[8:24])) != target {
		t.Errorf("solicitation %x", icmp[:24])
	}
	if icmp[24] != 1 || icmp[25] != 1 || !bytes.Equal(icmp[26:32], mac[:]) {
		t.Errorf("source link-layer address option %x", icmp[24:])
	}
	// The checksum over the pseudo-header and the message folds to zero.
	s := csum(ip[8:40], 0)
	s = csum(icmp, s+32+58)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	if s != 0xffff {
		t.Errorf("ICMPv6 checksum does not verify: sum %#x", s)
	}
}

// handshake sends a SYN from local to remote through l, expects B's
// SYN/ACK, and resets the half-open connection.
func handshake(t *testing.T, l *Link, local, remote netip.AddrPort) {
	t.Helper()
	send(t, l, tcpPacket(local, remote, fSYN, 1000, 0, nil))
	p, ok := recv(t, l, 5*time.Second, func(s segment) bool { return s.dst == local })
	if !ok {
		t.Fatalf("%v -> %v: no answer to the SYN", local, remote)
	}
	s, _ := parseTCP(p)
	if s.src != remote || s.flags != fSYN|fACK || s.ack != 1001 {
		t.Fatalf("%v -> %v: answer %+v, want SYN/ACK acknowledging 1001", local, remote, s)
	}
	send(t, l, tcpPacket(local, remote, fRST, 1001, 0, nil))
}

// TestLinkJumbo runs MTU 9000: a 9014-byte frame from B arrives as one IP
// packet (a descriptor chain assembled by Receive), and a 9000-byte packet
// leaves as a chain that B's kernel receives whole.
func TestLinkJumbo(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 1, MTU: 9000})
	l := openLink(t, b, Config{})
	if !l.multi || !l.jumbo || l.MTU() != 9000 {
		t.Fatalf("%v: want multi-buffer and jumbo runs", l)
	}
	p := b.Paths[0]
	var ln net.Listener
	b.Do(b.NSB, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(p.B4, 7001).String())
		return err
	})
	defer ln.Close()
	local := netip.AddrPortFrom(p.A4, 61010)
	remote := netip.AddrPortFrom(p.B4, 7001)
	handshake(t, l, local, remote)
	data := make([]byte, 9000-40)
	for i := range data {
		data[i] = byte(i * 7)
	}
	// To a closed port, so that B resets it, acknowledging its length.
	send(t, l, tcpPacket(local, netip.AddrPortFrom(p.B4, 7002), fPSH, 5000, 0, data))
	if _, ok := recv(t, l, 3*time.Second, func(s segment) bool {
		return s.dst == local && s.flags&fRST != 0 && s.ack == 5000+uint32(len(data))
	}); !ok {
		t.Fatal("no RST acknowledging the 8960-byte segment")
	}

	// Every run came back: the chains completed, the unused frames of
	// each run (the SYN's, the RST's) were freed at once.
	l.complete()
	if got, want := l.umem.RunsAvailable(), l.umem.Runs(); got != want || want == 0 {
		t.Errorf("%d of %d UMEM runs free after the transmits completed", got, want)
	}

	// RX: B sends a 9014-byte frame from an AF_PACKET socket.
	pkt := tcpPacket(netip.AddrPortFrom(p.B4, 7001), netip.AddrPortFrom(p.A4, 61011), fACK|fPSH, 1, 1, data)
	inject(t, b, 0, 0x0800, pkt)
	got, ok := recv(t, l, 3*time.Second, func(s segment) bool { return s.dst.Port() == 61011 })
	if !ok {
		t.Fatalf("the 9014-byte frame did not arrive (stats %+v, sockets %+v)", l.Stats(), l.SocketStats())
	}
	if string(got) != string(pkt) {
		t.Errorf("received %d bytes, want the %d-byte packet byte for byte", len(got), len(pkt))
	}

	// The chain is handed over in place: its first frame from Receive, the
	// others from Rest, all views into the UMEM, held until the next
	// Receive; a one-frame packet has no Rest.
	inject(t, b, 0, 0x0800, pkt)
	small := tcpPacket(netip.AddrPortFrom(p.B4, 7001), netip.AddrPortFrom(p.A4, 61011), fACK, 2, 1, nil)
	inject(t, b, 0, 0x0800, small)
	var pkts [64][]byte
	found := 0
	for deadline := time.Now().Add(3 * time.Second); found < 2 && time.Now().Before(deadline); {
		n := l.Receive(pkts[:])
		for i := range pkts[:n] {
			s, ok := parseTCP(pkts[i])
			if !ok || s.dst.Port() != 61011 {
				continue
			}
			rest := l.Rest(i)
			if s.seq == 2 {
				if rest != nil {
					t.Errorf("a one-frame packet has %d more buffers", len(rest))
				}
				found++
				continue
			}
			total := len(pkts[i])
			for _, r := range rest {
				if _, in := l.umem.Offset(r); !in {
					t.Errorf("a chain buffer is not a view into the UMEM")
				}
				total += len(r)
			}
			if _, in := l.umem.Offset(pkts[i]); len(rest) < 2 || total != len(pkt) || !in {
				t.Errorf("the 9014-byte frame came as %d + %d buffers, %d IP bytes; want 3 UMEM frames, %d bytes", 1, len(rest), total, len(pkt))
			}
			found++
		}
		if n == 0 {
			l.Wait(10 * time.Millisecond)
		}
	}
	if found != 2 {
		t.Fatalf("%d of 2 injected packets arrived", found)
	}
}

// inject sends an Ethernet frame from B's end of path i to A's, with an
// 802.1Q tag when vlan is not zero, through an AF_PACKET socket.
func inject(t *testing.T, b *testbed.Bed, i int, vlan uint16, ip []byte) {
	t.Helper()
	p := b.Paths[i]
	_, macA := b.Interface(b.NSA, p.DevA)
	ifB, macB := b.Interface(b.NSB, p.DevB)
	frame := append(append([]byte{}, macA...), macB...)
	if vlan != 0 {
		frame = append(frame, 0x81, 0x00, byte(vlan>>8), byte(vlan))
	}
	et := []byte{0x08, 0x00}
	if ip[0]>>4 == 6 {
		et = []byte{0x86, 0xdd}
	}
	frame = append(append(frame, et...), ip...)
	b.Do(b.NSB, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifB, Halen: 6, Addr: [8]byte(append(append([]byte{}, macA...), 0, 0))})
	})
}

// TestLinkVLAN: a frame with an 802.1Q tag reaches the stack as its IP
// packet, the tag stripped.
func TestLinkVLAN(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 1})
	l := openLink(t, b, Config{})
	p := b.Paths[0]
	for _, src := range []netip.AddrPort{netip.AddrPortFrom(p.B4, 7001), netip.AddrPortFrom(p.B6, 7001)} {
		dst := netip.AddrPortFrom(p.A4, 61040)
		if src.Addr().Is6() {
			dst = netip.AddrPortFrom(p.A6, 61040)
		}
		pkt := tcpPacket(src, dst, fACK|fPSH, 1, 1, []byte("tagged"))
		inject(t, b, 0, 7, pkt)
		got, ok := recv(t, l, 3*time.Second, func(s segment) bool { return s.dst == dst })
		if !ok || string(got) != string(pkt) {
			t.Errorf("tagged frame to %v: received %v, %x", dst, ok, got)
		}
	}
	if st := l.Stats(); st.Malformed != 0 || st.RxPackets != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestLinkQueues binds one socket per queue of a two-queue veth, all on one
// UMEM: B's kernel spreads its connections over its TX queues, which arrive
// on A's RX queues of the same number, and every queue's socket delivers.
func TestLinkQueues(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 1, Queues: 2})
	l := openLink(t, b, Config{})
	if q := l.Interfaces()[b.Paths[0].DevA]; q != 2 {
		t.Fatalf("bound %d queues, want the veth's 2 (ethtool channels)", q)
	}
	p := b.Paths[0]
	var ln net.Listener
	b.Do(b.NSB, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(p.B4, 7001).String())
		return err
	})
	defer ln.Close()
	for i := range 32 {
		local := netip.AddrPortFrom(p.A4, uint16(61100+i))
		handshake(t, l, local, netip.AddrPortFrom(p.B4, 7001))
	}
	ss := l.SocketStats()
	if len(ss) != 2 || ss[0].RxDescs == 0 || ss[1].RxDescs == 0 || ss[0].RxDescs+ss[1].RxDescs != 32 {
		t.Errorf("32 SYN/ACKs over the queues: %+v", ss)
	}
}

// TestWholeChains: a TX ring never gets half a chain.
func TestWholeChains(t *testing.T) {
	c := xsk.Desc{Options: xsk.PktContd}
	e := xsk.Desc{}
	descs := []xsk.Desc{e, c, c, e, c, e}
	for room, want := range []int{0, 1, 1, 1, 4, 4, 6, 6} {
		if got := len(wholeChains(descs, room)); got != want {
			t.Errorf("room %d: %d descriptors, want %d", room, got, want)
		}
	}
}

// TestLinkAllocs proves that the steady-state data path allocates
// nothing: Reserve, Transmit to a resolved neighbour, Receive; at MTU 9000
// too, where packets go out as chains of UMEM runs.
func TestLinkAllocs(t *testing.T) {
	for _, mtu := range []int{1500, 9000} {
		t.Run(fmt.Sprint(mtu), func(t *testing.T) {
			b := testbed.New(t, testbed.Config{Paths: 1, MTU: mtu})
			l := openLink(t, b, Config{})
			p := b.Paths[0]
			local := netip.AddrPortFrom(p.A4, 61020)
			remote := netip.AddrPortFrom(p.B4, 9)
			// Resolve the neighbour first (B answers the segment with a RST).
			send(t, l, tcpPacket(local, remote, fPSH, 1, 0, make([]byte, 100)))
			if _, ok := recv(t, l, 3*time.Second, func(s segment) bool { return s.dst == local }); !ok {
				t.Fatal("no RST from B")
			}
			pkt := tcpPacket(local, remote, fPSH, 1, 0, make([]byte, mtu-100))
			var bufs, rx [16][]byte
			lens := make([]int, 8)
			allocs := testing.AllocsPerRun(200, func() {
				k := l.Reserve(bufs[:8])
				for i := range k {
					lens[i] = copy(bufs[i], pkt)
				}
				l.Transmit(lens[:k])
				l.Receive(rx[:])
			})
			if allocs != 0 {
				t.Errorf("%v allocations per batch", allocs)
			}
			if st := l.Stats(); st.TxPackets < 1600 || st.NoRoute != 0 {
				t.Errorf("stats %+v", st)
			}
			// Buffers a Transmit did not use stay reserved, in order: the
			// next Reserve hands them out first and takes no frame.
			if k := l.Reserve(bufs[:8]); k != 8 {
				t.Fatalf("reserved %d of 8", k)
			}
			next := &bufs[1][0]
			lens[0] = copy(bufs[0], pkt)
			l.Transmit(lens[:1])
			l.complete()
			free := l.umem.Available() + l.umem.RunsAvailable()
			l.Reserve(bufs[:8])
			if &bufs[0][0] != next || l.umem.Available()+l.umem.RunsAvailable() != free-1 {
				t.Errorf("the unused buffers were not kept (free %d, was %d)", l.umem.Available()+l.umem.RunsAvailable(), free)
			}
			l.Transmit(nil)
		})
	}
}

// TestPortCheck: Open refuses an ephemeral range the kernel may use for
// its own connections, names the sysctl, and accepts it once reserved.
func TestPortCheck(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 1})
	b.Sysctl(b.NSA, "net.ipv4.ip_local_port_range", "32768 62000")
	err := testbed.Do(b.NSA, func() error {
		l, err := Open(Config{Interfaces: b.Devs(b.NSA)})
		if err == nil {
			l.Close()
		}
		return err
	})
	var pe *portError
	if !errors.As(err, &pe) || pe.n != 1001 || !strings.Contains(err.Error(), "ip_local_reserved_ports=61000-65535") {
		t.Fatalf("Open with an overlapping kernel range: %v", err)
	}
	b.Sysctl(b.NSA, "net.ipv4.ip_local_reserved_ports", "61000-65535")
	openLink(t, b, Config{})
}

// TestOpenErrors: set-up errors say what is wrong.
func TestOpenErrors(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 1})
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Interfaces is empty"},
		{Config{Interfaces: []string{"mpxXnone"}}, "no such interface"},
		{Config{Interfaces: b.Devs(b.NSA), Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, "not on interfaces"},
		{Config{Interfaces: b.Devs(b.NSA), RingSize: 100}, "power of two"},
	} {
		err := testbed.Do(b.NSA, func() error {
			l, err := Open(c.cfg)
			if err == nil {
				l.Close()
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%+v): %v; want an error containing %q", c.cfg, err, c.want)
		}
	}
	b.SetLink(b.NSA, b.Paths[0].DevA, false)
	err := testbed.Do(b.NSA, func() error {
		_, err := Open(Config{Interfaces: b.Devs(b.NSA)})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "ip link set "+b.Paths[0].DevA+" up") {
		t.Errorf("Open on a down interface: %v", err)
	}
}

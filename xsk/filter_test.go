package xsk

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// newTestFilter loads a filter, or skips when the process may not.
func newTestFilter(t *testing.T, cfg FilterConfig) *Filter {
	t.Helper()
	f, err := NewFilter(cfg)
	if errors.Is(err, unix.EPERM) {
		t.Skipf("cannot load XDP programs: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestFilterVerdicts runs the filter with BPF_PROG_TEST_RUN on crafted
// frames. A socket bound to the A side's queue 0 sits in the XSKMAP, so
// that steering shows as XDP_REDIRECT (with no socket, bpf_redirect_map
// falls back to XDP_PASS, which the last cases check).
func TestFilterVerdicts(t *testing.T) {
	b := newBed(t, bedConfig{})
	for _, mb := range []bool{false, true} {
		name := "linear"
		if mb {
			name = "frags"
		}
		t.Run(name, func(t *testing.T) { testFilterVerdicts(t, b, mb) })
	}
}

func testFilterVerdicts(t *testing.T, b *bed, mb bool) {
	f := newTestFilter(t, FilterConfig{Ephemeral: PortRange{61000, 61999}, MultiBuffer: mb})
	u, err := NewUMEM(UMEMConfig{Frames: 64})
	if err != nil {
		t.Fatal(err)
	}
	var s *Socket
	b.do(b.nsA, func() (err error) {
		s, err = Open(b.ifA, 0, u, SocketConfig{RXSize: 64, TXSize: 64, FillSize: 64, CompSize: 64, MultiBuffer: mb})
		return err
	})
	t.Cleanup(func() { s.Close(); u.Close() })
	if err := f.Register(0, s); err != nil {
		t.Fatal(err)
	}
	mapped := netip.MustParseAddr("::ffff:10.0.77.3")
	for _, err := range []error{
		f.Own(netip.AddrPortFrom(b.ip4A, 5000)),
		f.Own(netip.AddrPortFrom(b.ip6A, 5000)),
		f.Own(netip.AddrPortFrom(mapped, 7000)),
		f.OwnAddr(b.ip4A),
		f.OwnAddr(b.ip6A),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	other4 := netip.MustParseAddr("10.0.77.9")
	other6 := netip.MustParseAddr("fd00:77::9")
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	eth4 := func(ip []byte) []byte { return ethernet(b.macA, b.macB, unix.ETH_P_IP, ip) }
	eth6 := func(ip []byte) []byte { return ethernet(b.macA, b.macB, unix.ETH_P_IPV6, ip) }
	tcp4to := func(dst netip.Addr, dport uint16) []byte {
		return eth4(ipv4(b.ip4B, dst, unix.IPPROTO_TCP, nil, 0x4000, tcp(40000, dport, []byte("x"))))
	}
	tcp6to := func(dst netip.Addr, dport uint16) []byte {
		return eth6(ipv6(b.ip6B, dst, unix.IPPROTO_TCP, tcp(40000, dport, []byte("x"))))
	}
	// Options whose bytes 2 and 3 read as port 5000: a filter that ignored
	// IHL would take them for the destination port.
	decoy := []byte{1, 1, 0x13, 0x88, 1, 1, 1, 1, 1, 1, 1, 0}
	arp := ethernet(bcast, b.macB, unix.ETH_P_ARP, make([]byte, 28))
	icmp := eth4(ipv4(b.ip4B, b.ip4A, unix.IPPROTO_ICMP, nil, 0, []byte{8, 0, 0, 0, 0, 1, 0, 1}))
	ns := eth6(ipv6(b.ip6B, b.ip6A, unix.IPPROTO_ICMPV6, []byte{135, 0, 0, 0, 0, 0, 0, 0}))
	hopByHop := eth6(ipv6(b.ip6B, b.ip6A, 0, append([]byte{unix.IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0}, tcp(40000, 5000, nil)...)))
	badVersion := tcp4to(b.ip4A, 5000)
	badVersion[14] = 0x65
	shortIHL := tcp4to(b.ip4A, 5000)
	shortIHL[14] = 0x44
	qinq := vlan(vlan(tcp4to(b.ip4A, 5000), 10), 20)
	binary.BigEndian.PutUint16(qinq[12:], 0x88a8)

	cases := []struct {
		name  string
		frame []byte
		want  Action
	}{
		{"ARP", arp, XDPPass},
		{"ICMP", icmp, XDPPass},
		{"NDP", ns, XDPPass},
		{"TCP4 owned", tcp4to(b.ip4A, 5000), XDPRedirect},
		{"TCP4 unowned port", tcp4to(b.ip4A, 5001), XDPPass},
		{"TCP4 unowned address", tcp4to(other4, 5000), XDPPass},
		{"TCP4 IPv4-mapped owned", tcp4to(netip.MustParseAddr("10.0.77.3"), 7000), XDPRedirect},
		{"TCP4 options owned", eth4(ipv4(b.ip4B, b.ip4A, unix.IPPROTO_TCP, decoy, 0x4000, tcp(40000, 5000, nil))), XDPRedirect},
		{"TCP4 options unowned", eth4(ipv4(b.ip4B, b.ip4A, unix.IPPROTO_TCP, decoy, 0x4000, tcp(40000, 5001, nil))), XDPPass},
		{"TCP4 max options owned", eth4(ipv4(b.ip4B, b.ip4A, unix.IPPROTO_TCP, make([]byte, 40), 0, tcp(40000, 5000, nil))), XDPRedirect},
		{"TCP4 ephemeral low", tcp4to(b.ip4A, 61000), XDPRedirect},
		{"TCP4 ephemeral high", tcp4to(b.ip4A, 61999), XDPRedirect},
		{"TCP4 below ephemeral", tcp4to(b.ip4A, 60999), XDPPass},
		{"TCP4 above ephemeral", tcp4to(b.ip4A, 62000), XDPPass},
		{"TCP4 ephemeral other address", tcp4to(other4, 61500), XDPPass},
		{"UDP4 owned port", eth4(ipv4(b.ip4B, b.ip4A, unix.IPPROTO_UDP, nil, 0, udp(40000, 5000, nil))), XDPPass},
		{"TCP4 first fragment", eth4(ipv4(b.ip4B, b.ip4A, unix.IPPROTO_TCP, nil, 0x2000, tcp(40000, 5000, nil))), XDPPass},
		{"TCP4 later fragment", eth4(ipv4(b.ip4B, b.ip4A, unix.IPPROTO_TCP, nil, 0x0010, tcp(40000, 5000, nil))), XDPPass},
		{"IPv4 bad version", badVersion, XDPPass},
		{"IPv4 IHL 4", shortIHL, XDPPass},
		{"Ethernet only", tcp4to(b.ip4A, 5000)[:14], XDPPass},
		{"IPv4 truncated", tcp4to(b.ip4A, 5000)[:14+19], XDPPass},
		{"TCP4 truncated", tcp4to(b.ip4A, 5000)[:14+20+10], XDPPass},
		{"TCP4 options truncated", eth4(ipv4(b.ip4B, b.ip4A, unix.IPPROTO_TCP, decoy, 0, tcp(40000, 5000, nil)))[:14+32+19], XDPPass},
		{"TCP6 owned", tcp6to(b.ip6A, 5000), XDPRedirect},
		{"TCP6 unowned port", tcp6to(b.ip6A, 5001), XDPPass},
		{"TCP6 unowned address", tcp6to(other6, 5000), XDPPass},
		{"TCP6 ephemeral", tcp6to(b.ip6A, 61234), XDPRedirect},
		{"TCP6 above ephemeral", tcp6to(b.ip6A, 62000), XDPPass},
		{"TCP6 truncated", tcp6to(b.ip6A, 5000)[:14+40+19], XDPPass},
		{"TCP6 hop-by-hop header", hopByHop, XDPPass},
		{"UDP6", eth6(ipv6(b.ip6B, b.ip6A, unix.IPPROTO_UDP, udp(40000, 5000, nil))), XDPPass},
		{"VLAN TCP4 owned", vlan(tcp4to(b.ip4A, 5000), 10), XDPRedirect},
		{"VLAN TCP6 owned", vlan(tcp6to(b.ip6A, 5000), 10), XDPRedirect},
		{"VLAN ARP", vlan(arp, 10), XDPPass},
		{"VLAN truncated", vlan(tcp4to(b.ip4A, 5000), 10)[:17], XDPPass},
		{"QinQ TCP4 owned", qinq, XDPPass},
	}
	if mb {
		// A jumbo frame: with frags, BPF_PROG_TEST_RUN puts what does not fit
		// in the first page into fragments; the headers are in the first.
		cases = append(cases, struct {
			name  string
			frame []byte
			want  Action
		}{"TCP4 owned 9000 bytes", tcp4to(b.ip4A, 5000)[:0:0], XDPRedirect})
		j := &cases[len(cases)-1]
		j.frame = eth4(ipv4(b.ip4B, b.ip4A, unix.IPPROTO_TCP, nil, 0x4000, tcp(40000, 5000, pattern(9000-40, 1))))
	}
	for _, c := range cases {
		got, err := f.Run(c.frame)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}

	// Disown, and an empty XSKMAP slot, both pass.
	if err := f.Disown(netip.AddrPortFrom(b.ip4A, 5000)); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Run(tcp4to(b.ip4A, 5000)); got != XDPPass {
		t.Errorf("after Disown: got %v, want XDP_PASS", got)
	}
	if err := f.DisownAddr(b.ip6A); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Run(tcp6to(b.ip6A, 61234)); got != XDPPass {
		t.Errorf("after DisownAddr: got %v, want XDP_PASS", got)
	}
	if err := f.Unregister(0); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Run(tcp6to(b.ip6A, 5000)); got != XDPPass {
		t.Errorf("owned with no socket on the queue: got %v, want XDP_PASS", got)
	}
}

func TestFilterConfig(t *testing.T) {
	for _, cfg := range []FilterConfig{
		{Ephemeral: PortRange{2000, 1000}},
		{Ephemeral: PortRange{0, 1000}},
		{Queues: -1},
	} {
		if _, err := NewFilter(cfg); err == nil {
			t.Errorf("NewFilter(%+v) accepted", cfg)
		}
	}
}

// TestFilterSize keeps the program small: it runs for every frame.
func TestFilterSize(t *testing.T) {
	for _, eph := range []PortRange{{}, {61000, 61999}} {
		p := filterProgram(eph)
		if n := len(p); n > 120 {
			t.Errorf("ephemeral %v: %d instructions", eph, n)
		}
		t.Logf("ephemeral %v: %d instructions", eph, len(p))
	}
}

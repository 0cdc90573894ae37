package sim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/mbox"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// TestDumbbell: an MPTCP-style host with two addresses and a TCP host on
// the left reach the right host through one bottleneck, from every
// address, and the replies come back; an overload drops at the
// bottleneck's queue only.
func TestDumbbell(t *testing.T) {
	s := New(1)
	d := s.Dumbbell(DumbbellConfig{
		Left:       []int{2, 1},
		Right:      []int{1},
		Access:     Symmetric(LinkConfig{Rate: 1e9, Delay: 100 * time.Microsecond}),
		Bottleneck: Path{Forward: LinkConfig{Rate: 10e6, Delay: 5 * time.Millisecond, QueuePackets: 20}},
	})
	want := [][]netip.Addr{
		{netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("10.1.1.2")},
		{netip.MustParseAddr("10.1.2.1")},
	}
	if len(d.LeftAddrs) != 2 || d.LeftAddrs[0][1] != want[0][1] || d.LeftAddrs[1][0] != want[1][0] ||
		d.RightAddrs[0][0] != netip.MustParseAddr("10.2.1.1") || d.Left[1].Name != "l1" || d.Right[0].Name != "r0" {
		t.Fatalf("addresses %v %v", d.LeftAddrs, d.RightAddrs)
	}
	if d.Reverse.Config() != d.Forward.Config() {
		t.Error("a zero bottleneck Reverse did not default to Forward")
	}
	mp, tcp, srv := &tcpHost{keep: true}, &tcpHost{keep: true}, &tcpHost{echo: true}
	d.Left[0].SetEndpoint(mp)
	d.Left[1].SetEndpoint(tcp)
	d.Right[0].SetEndpoint(srv)
	server := netip.AddrPortFrom(d.RightAddrs[0][0], 80)
	for i, a := range d.LeftAddrs[0] { // two subflows
		mp.out = append(mp.out, tcpPacket(netip.AddrPortFrom(a, uint16(1000+i)), server, wire.FlagSYN, 1, 0, nil))
	}
	tcp.out = append(tcp.out, tcpPacket(netip.AddrPortFrom(d.LeftAddrs[1][0], 2000), server, wire.FlagSYN, 1, 0, nil))
	d.Left[0].Wake()
	d.Left[1].Wake()
	s.Run(time.Second)
	if len(mp.got) != 2 || len(tcp.got) != 1 || mp.bad+tcp.bad+srv.bad != 0 {
		t.Fatalf("replies: mptcp host %d, tcp host %d", len(mp.got), len(tcp.got))
	}
	for i, a := range d.LeftAddrs[0] {
		if mp.segment(t, i).DstAddr() != a {
			t.Errorf("reply %d went to %v", i, mp.segment(t, i).DstAddr())
		}
		if d.LeftUp[0][i].Stats.Delivered != 1 || d.LeftDown[0][i].Stats.Delivered != 1 {
			t.Errorf("access link %d: %+v", i, d.LeftUp[0][i].Stats)
		}
	}
	if d.Forward.Stats.Delivered != 3 || d.Reverse.Stats.Delivered != 3 {
		t.Errorf("bottleneck carried %d and %d, want 3 each way", d.Forward.Stats.Delivered, d.Reverse.Stats.Delivered)
	}
	// Overload: 3 × 100 packets of 1000 bytes at once into a 20-packet
	// queue at 10 Mbit/s.
	for _, h := range []*tcpHost{mp, tcp} {
		h.keep = false
	}
	for k := range 100 {
		for i, a := range d.LeftAddrs[0] {
			mp.out = append(mp.out, tcpPacket(netip.AddrPortFrom(a, uint16(1000+i)), server, wire.FlagACK, uint32(k), 1, make([]byte, 960)))
		}
		tcp.out = append(tcp.out, tcpPacket(netip.AddrPortFrom(d.LeftAddrs[1][0], 2000), server, wire.FlagACK, uint32(k), 1, make([]byte, 960)))
	}
	d.Left[0].Wake()
	d.Left[1].Wake()
	s.Run(2 * time.Second)
	st := d.Forward.Stats
	if st.DropQueue == 0 || st.Delivered+st.DropQueue != 303 {
		t.Errorf("bottleneck %+v", st)
	}
	for _, ls := range [][][]*Link{d.LeftUp, d.LeftDown, d.RightUp, d.RightDown} {
		for _, l := range ls {
			for _, x := range l {
				if x.Stats.DropQueue != 0 {
					t.Errorf("access link %s dropped %d", x.Name, x.Stats.DropQueue)
				}
			}
		}
	}
}

// TestDumbbellMiddlebox: the bottleneck's middlebox sees both directions.
func TestDumbbellMiddlebox(t *testing.T) {
	s := New(1)
	nat := &mbox.NAT{Outside: netip.MustParseAddr("10.1.9.9")} // an outside address the right router routes back
	d := s.Dumbbell(DumbbellConfig{Bottleneck: Path{Middlebox: nat}})
	c, srv := &tcpHost{keep: true}, &tcpHost{keep: true, echo: true}
	d.Left[0].SetEndpoint(c)
	d.Right[0].SetEndpoint(srv)
	c.out = append(c.out, tcpPacket(netip.AddrPortFrom(d.LeftAddrs[0][0], 5), netip.AddrPortFrom(d.RightAddrs[0][0], 80), wire.FlagSYN, 1, 0, nil))
	d.Left[0].Wake()
	s.Run(time.Second)
	if len(srv.got) != 1 || srv.segment(t, 0).SrcAddr() != nat.Outside || len(c.got) != 1 || c.segment(t, 0).DstAddr() != d.LeftAddrs[0][0] {
		t.Errorf("server got %d, client %d", len(srv.got), len(c.got))
	}
}

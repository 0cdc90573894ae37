package mbox

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// TestRewriteISN: sequence numbers of the rewritten side move by the
// offset, the other side's acknowledgments and SACK blocks move back,
// and the DSS's relative subflow sequence number is left alone.
func TestRewriteISN(t *testing.T) {
	const off = 0x10000000
	for _, tc := range []struct {
		name           string
		dirs           Dirs
		fwdOff, revOff uint32
	}{
		{"forward only", ForwardOnly, off, 0},
		{"reverse only", ReverseOnly, 0, off},
		{"both", BothDirs, off, off},
	} {
		for _, v6 := range []bool{false, true} {
			c, s := client4, server4
			if v6 {
				c, s = client6, server6
			}
			syn, synack, ack3 := opening(c, s)
			dat := data(c, s, 1, pattern(100, 1), false)
			sack := build(tseg{src: s, dst: c, flags: wire.FlagACK, seq: sISN + 1, ack: cISN + 1,
				opts: sackOpts(wire.SACKBlock{Left: cISN + 201, Right: cISN + 301}, wire.SACKBlock{Left: cISN + 401, Right: cISN + 501})})
			fin := build(tseg{src: s, dst: c, flags: wire.FlagFIN | wire.FlagACK, seq: sISN + 1, ack: cISN + 101})
			pkts := [][]byte{syn, synack, ack3, dat, sack, fin}
			dirs := []Direction{Forward, Reverse, Forward, Forward, Reverse, Reverse}
			r := &RewriteISN{Dirs: tc.dirs, Offset: off}
			got := run(r, dirs, pkts...)
			if len(got) != len(pkts) {
				t.Fatalf("%s: %d packets out", tc.name, len(got))
			}
			for i, o := range got {
				in, outSeg := parsed(t, pkts[i]), parsed(t, o.b)
				seqOff, ackOff := tc.fwdOff, tc.revOff
				if dirs[i] == Reverse {
					seqOff, ackOff = tc.revOff, tc.fwdOff
				}
				if outSeg.TCP.Seq() != in.TCP.Seq()+seqOff {
					t.Errorf("%s v6=%v packet %d: seq %d, want %d", tc.name, v6, i, outSeg.TCP.Seq(), in.TCP.Seq()+seqOff)
				}
				wantAck := in.TCP.Ack()
				if in.TCP.Flags()&wire.FlagACK != 0 {
					wantAck -= ackOff
				}
				if outSeg.TCP.Ack() != wantAck {
					t.Errorf("%s packet %d: ack %d, want %d", tc.name, i, outSeg.TCP.Ack(), wantAck)
				}
				for k, b := range outSeg.Options.Blocks() {
					w := in.Options.SACK[k]
					if b.Left != w.Left-ackOff || b.Right != w.Right-ackOff {
						t.Errorf("%s: SACK block %d is %v, want %v shifted by -%#x", tc.name, k, b, w, ackOff)
					}
				}
				if in.Options.Has.Has(wire.OptDSS) && outSeg.Options.DSS != in.Options.DSS {
					t.Errorf("%s: the DSS changed: %+v", tc.name, outSeg.Options.DSS)
				}
			}
		}
	}
}

// TestRewriteISNRandomOffsets: offsets are random per connection, the same
// for the same seed, and connections whose handshake was missed pass.
func TestRewriteISNRandomOffsets(t *testing.T) {
	offsets := func(seed uint64) []uint32 {
		r := &RewriteISN{Seed: seed}
		var res []uint32
		for port := uint16(1); port <= 3; port++ {
			c := netip.AddrPortFrom(client4.Addr(), port)
			syn, _, _ := opening(c, server4)
			got := run(r, fwd(), syn)
			res = append(res, parsed(t, got[0].b).TCP.Seq()-cISN)
		}
		return res
	}
	a, b, c := offsets(1), offsets(1), offsets(2)
	if a[0] == a[1] || a[1] == a[2] || a[0] == 0 {
		t.Errorf("offsets %x are not random per connection", a)
	}
	if a[0] != b[0] || a[2] != b[2] || a[0] == c[0] {
		t.Errorf("seed 1 gave %x and %x, seed 2 %x", a, b, c)
	}
	r := &RewriteISN{Seed: 1}
	p := data(client4, server4, 1, []byte("x"), false)
	if got := run(r, fwd(), p); !bytes.Equal(got[0].b, p) || r.Rewritten != 0 {
		t.Error("a connection without a seen handshake was rewritten")
	}
}

// TestNAT: the inside endpoint is mapped to the outside address on the
// way out and back on the way in, with ports allocated deterministically;
// unsolicited inbound packets are dropped; idle mappings expire.
func TestNAT(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		c, s, outside := client4, server4, netip.MustParseAddr("192.0.2.1")
		if v6 {
			c, s, outside = client6, server6, netip.MustParseAddr("2001:db8::1")
		}
		n := &NAT{Outside: outside, FirstPort: 30000, Idle: time.Second}
		var k sink
		syn, synack, _ := opening(c, s)
		n.Process(0, Forward, bytes.Clone(syn), k.emit)
		mapped := netip.AddrPortFrom(outside, 30000)
		if got, ok := n.Mapping(c); !ok || got != mapped {
			t.Fatalf("mapping %v %v, want %v", got, ok, mapped)
		}
		out := parsed(t, k.got[0].b)
		if f := FlowOf(out); f.Src != mapped || f.Dst != s {
			t.Errorf("v6=%v outbound flow %v", v6, f)
		}
		// The reply goes to the mapped endpoint; the NAT maps it back.
		reply := build(tseg{src: s, dst: mapped, flags: wire.FlagSYN | wire.FlagACK, seq: sISN, ack: cISN + 1, opts: synOpts(wire.OptMPCapableSYNACK)})
		n.Process(time.Millisecond, Reverse, bytes.Clone(reply), k.emit)
		back := parsed(t, k.got[1].b)
		if f := FlowOf(back); f.Src != s || f.Dst != c {
			t.Errorf("inbound flow %v", f)
		}
		if o := parsed(t, synack); back.Options.Has != o.Options.Has || back.Options.MPCapable != o.Options.MPCapable || back.TCP.Seq() != o.TCP.Seq() {
			t.Error("the NAT changed more than addresses and ports")
		}
		// A second inside endpoint gets the next port.
		c2 := netip.AddrPortFrom(c.Addr(), c.Port()+1)
		n.Process(2*time.Millisecond, Forward, build(tseg{src: c2, dst: s, flags: wire.FlagSYN, seq: 1}), k.emit)
		if got, _ := n.Mapping(c2); got.Port() != 30001 {
			t.Errorf("second mapping %v", got)
		}
		// Unsolicited: dropped. Not for the outside address: passed.
		n.Process(3*time.Millisecond, Reverse, build(tseg{src: s, dst: netip.AddrPortFrom(outside, 999), flags: wire.FlagACK}), k.emit)
		other := build(tseg{src: s, dst: c, flags: wire.FlagACK})
		n.Process(3*time.Millisecond, Reverse, other, k.emit)
		if n.Dropped != 1 || len(k.got) != 4 || !bytes.Equal(k.got[3].b, other) {
			t.Errorf("dropped %d, emitted %d", n.Dropped, len(k.got))
		}
		// After Idle without traffic the mapping is gone: the reply is
		// dropped and the next outbound packet gets a new port.
		n.Process(2*time.Second, Reverse, bytes.Clone(reply), k.emit)
		n.Process(2*time.Second, Forward, bytes.Clone(syn), k.emit)
		if got, _ := n.Mapping(c); n.Dropped != 2 || got.Port() != 30002 {
			t.Errorf("after expiry: dropped %d, mapping %v", n.Dropped, got)
		}
		// Another family passes untouched.
		alien := build(tseg{src: client4, dst: server4, flags: wire.FlagSYN})
		if v6 {
			n.Process(0, Forward, alien, k.emit)
			if !bytes.Equal(k.got[len(k.got)-1].b, alien) {
				t.Error("an IPv4 packet went through an IPv6 NAT changed")
			}
		}
	}
}

// TestNATPreservesPortsAndCorruption: with Preserve the inside port is
// kept when free; a corrupted packet stays corrupted.
func TestNATPreservesPortsAndCorruption(t *testing.T) {
	n := &NAT{Outside: netip.MustParseAddr("192.0.2.1"), Preserve: true}
	p := build(tseg{src: client4, dst: server4, flags: wire.FlagSYN, badTCPCsum: true})
	got := run(n, fwd(), p)
	var s wire.Segment
	if wire.ParseSegment(got[0].b, &s, nil) != nil || s.TCP.SrcPort() != client4.Port() {
		t.Fatalf("port not preserved")
	}
	if checksumsOK(&s) {
		t.Error("the NAT repaired a corrupted checksum")
	}
	if !s.IPv4.HeaderChecksumOK() {
		t.Error("the IPv4 header checksum is wrong")
	}
}

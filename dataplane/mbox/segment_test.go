package mbox

import (
	"bytes"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// TestSplit: a segment is cut into pieces of at most MaxPayload bytes
// that carry consecutive sequence numbers and together the payload; every
// piece carries the options (TSO, NSDI'12 §3.3.4) unless OptionsOnFirst;
// FIN and PSH go on the last piece, CWR on the first; the IPv4 ID counts.
func TestSplit(t *testing.T) {
	payload := pattern(2500, 9)
	for _, tc := range []struct {
		name    string
		v6      bool
		first   bool
		max     int
		flags   uint8
		pieces  int
		unsplit bool
	}{
		{"v4 three pieces", false, false, 1000, wire.FlagACK | wire.FlagPSH | wire.FlagFIN | wire.FlagCWR, 3, false},
		{"v6 three pieces", true, false, 1000, wire.FlagACK | wire.FlagPSH, 3, false},
		{"options on first", false, true, 1000, wire.FlagACK, 3, false},
		{"odd sizes", false, false, 999, wire.FlagACK, 3, false},
		{"fits", false, false, 2500, wire.FlagACK, 1, true},
		{"URG not split", false, false, 1000, wire.FlagACK | wire.FlagURG, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := client4, server4
			if tc.v6 {
				c, s = client6, server6
			}
			in := build(tseg{src: c, dst: s, flags: tc.flags, seq: cISN + 1, ack: sISN + 1,
				opts: dssOpts(100, 1, payload, true), payload: payload})
			m := &Split{MaxPayload: tc.max, OptionsOnFirst: tc.first}
			got := run(m, fwd(), in)
			if len(got) != tc.pieces {
				t.Fatalf("%d pieces, want %d", len(got), tc.pieces)
			}
			if tc.unsplit {
				if !bytes.Equal(got[0].b, in) || m.Splits != 0 {
					t.Error("a segment that should pass whole changed")
				}
				return
			}
			orig := parsed(t, in)
			var joined []byte
			for i, o := range got {
				p := parsed(t, o.b)
				if p.TCP.Seq() != cISN+1+uint32(len(joined)) || len(p.Payload()) > tc.max {
					t.Errorf("piece %d: seq %d, %d bytes", i, p.TCP.Seq(), len(p.Payload()))
				}
				joined = append(joined, p.Payload()...)
				last := i == len(got)-1
				wantFlags := tc.flags
				if !last {
					wantFlags &^= wire.FlagFIN | wire.FlagPSH
				}
				if i > 0 {
					wantFlags &^= wire.FlagCWR
				}
				if p.TCP.Flags() != wantFlags {
					t.Errorf("piece %d flags %#x, want %#x", i, p.TCP.Flags(), wantFlags)
				}
				wantOpts := !tc.first || i == 0
				if wantOpts != (p.Options.Has == orig.Options.Has && p.Options.DSS == orig.Options.DSS) {
					t.Errorf("piece %d options %v", i, p.Options.Has)
				}
				if !wantOpts && p.TCP.HeaderLen() != wire.TCPHeaderLen {
					t.Errorf("piece %d header %d bytes", i, p.TCP.HeaderLen())
				}
				if !tc.v6 && p.IPv4.ID() != orig.IPv4.ID()+uint16(i) {
					t.Errorf("piece %d IPv4 ID %d", i, p.IPv4.ID())
				}
			}
			if !bytes.Equal(joined, payload) {
				t.Error("the pieces do not add up to the payload")
			}
			// The DSS checksum covers the mapping, not a segment: the
			// receiver verifies it over the reassembled pieces.
			d := orig.Options.DSS
			if !wire.DSSChecksumOK(d.DSN, d.SubflowSeq, d.DataLen, d.Checksum, cksum.Sum(joined, 0)) {
				t.Error("the mapping's checksum does not verify over the pieces")
			}
		})
	}
}

// TestCoalesce: the merge rule, release on a non-continuation and on the
// hold timer, and per-flow holding.
func TestCoalesce(t *testing.T) {
	p1, p2 := pattern(300, 1), pattern(200, 2)
	d1 := data(client4, server4, 1, p1, false)
	d2 := build(tseg{src: client4, dst: server4, flags: wire.FlagACK | wire.FlagPSH, seq: cISN + 301, ack: sISN + 9, win: 777,
		opts: dssOpts(401, 301, p2, false), payload: p2})
	gap := build(tseg{src: client4, dst: server4, flags: wire.FlagACK, seq: cISN + 1000, ack: sISN + 1, payload: p2})
	other := data(client6, server6, 1, p2, false)

	t.Run("merge", func(t *testing.T) {
		m := &Coalesce{}
		got := run(m, fwd(), d1, d2)
		if len(got) != 1 || m.Merges != 1 {
			t.Fatalf("%d packets, %d merges", len(got), m.Merges)
		}
		s, a := parsed(t, got[0].b), parsed(t, d1)
		if !bytes.Equal(s.Payload(), append(bytes.Clone(p1), p2...)) || s.TCP.Seq() != cISN+1 {
			t.Error("merged payload or sequence number wrong")
		}
		if s.Options.DSS != a.Options.DSS || s.TCP.Ack() != sISN+9 || s.TCP.Window() != 777 || s.TCP.Flags() != wire.FlagACK|wire.FlagPSH {
			t.Errorf("merged header: DSS %+v ack %d window %d flags %#x", s.Options.DSS, s.TCP.Ack(), s.TCP.Window(), s.TCP.Flags())
		}
		if _, ok := m.NextTimeout(); ok {
			t.Error("a timer is armed with nothing held")
		}
	})
	t.Run("gap releases", func(t *testing.T) {
		m := &Coalesce{}
		got := run(m, fwd(), d1, gap)
		if len(got) != 1 || !bytes.Equal(got[0].b, d1) {
			t.Fatalf("the held segment was not released unchanged first")
		}
		var k sink
		dl, ok := m.NextTimeout()
		if !ok || dl != 1+DefaultHold {
			t.Fatalf("deadline %v %v", dl, ok)
		}
		m.HandleTimeout(dl-1, k.emit)
		if len(k.got) != 0 {
			t.Error("released early")
		}
		m.HandleTimeout(dl, k.emit)
		if len(k.got) != 1 || !bytes.Equal(k.got[0].b, gap) || m.Released != 2 {
			t.Errorf("timer released %d, Released %d", len(k.got), m.Released)
		}
	})
	t.Run("flows are independent", func(t *testing.T) {
		m := &Coalesce{Hold: 5 * time.Millisecond}
		got := run(m, fwd(), d1, other, d2)
		if len(got) != 1 || m.Merges != 1 {
			t.Fatalf("%d packets out, %d merges", len(got), m.Merges)
		}
		var k sink
		m.HandleTimeout(time.Second, k.emit)
		if len(k.got) != 1 || !bytes.Equal(k.got[0].b, other) {
			t.Error("the other flow's segment was not released")
		}
	})
	t.Run("too long", func(t *testing.T) {
		m := &Coalesce{MaxLen: len(d1) + 100}
		if got := run(m, fwd(), d1, d2); len(got) != 1 || !bytes.Equal(got[0].b, d1) || m.Merges != 0 {
			t.Error("merged past MaxLen")
		}
	})
	t.Run("pure ACK releases", func(t *testing.T) {
		m := &Coalesce{}
		ack := build(tseg{src: client4, dst: server4, flags: wire.FlagACK, seq: cISN + 301, ack: sISN + 1})
		got := run(m, fwd(), d1, ack)
		if len(got) != 2 || !bytes.Equal(got[0].b, d1) || !bytes.Equal(got[1].b, ack) {
			t.Error("a pure ACK did not release the held segment before itself")
		}
	})
}

// TestModifyPayloadOverwrite: the TCP checksum still verifies, the DSS
// checksum does not (RFC 8684 §3.3.1), and First limits it to one packet.
func TestModifyPayloadOverwrite(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		c, s := client4, server4
		if v6 {
			c, s = client6, server6
		}
		pl := pattern(101, 5)
		d := data(c, s, 1, pl, true)
		for _, at := range []int{0, 7, 97} { // even and odd offsets, near the end
			m := &ModifyPayload{At: at, Set: []byte{0xde, 0xad, 0xbe, 0xef}, Select: Selector{First: 1}}
			got := run(m, fwd(), d, d)
			a, b := parsed(t, got[0].b), parsed(t, got[1].b)
			want := bytes.Clone(pl)
			copy(want[at:], m.Set)
			if !bytes.Equal(a.Payload(), want) || !bytes.Equal(got[1].b, d) || m.Modified != 1 {
				t.Errorf("at %d: payload %x…, second changed %v", at, a.Payload()[:8], !bytes.Equal(got[1].b, d))
			}
			dss := a.Options.DSS
			if wire.DSSChecksumOK(dss.DSN, dss.SubflowSeq, dss.DataLen, dss.Checksum, cksum.Sum(a.Payload(), 0)) {
				t.Errorf("at %d: the DSS checksum still verifies", at)
			}
			if !wire.DSSChecksumOK(dss.DSN, dss.SubflowSeq, dss.DataLen, dss.Checksum, cksum.Sum(b.Payload(), 0)) {
				t.Error("the untouched copy fails its DSS checksum")
			}
		}
		short := &ModifyPayload{At: 100, Set: []byte{1, 2}}
		if got := run(short, fwd(), d); !bytes.Equal(got[0].b, d) {
			t.Error("a payload too short to hold Set was changed")
		}
	}
}

// TestModifyPayloadReplace: an ALG replaces a string; when the length
// changes, the rest of the connection's sequence numbers are shifted one
// way and the acknowledgments and SACK blocks the other way (as
// nf_conntrack_seqadj does), and a retransmission is rewritten again.
func TestModifyPayloadReplace(t *testing.T) {
	msg := []byte("PORT 10,0,1,2,156,64\r\n") // 22 bytes
	old, repl := []byte("10,0,1,2"), []byte("192,0,2,1")
	for _, tc := range []struct {
		name  string
		new   []byte
		delta int
	}{{"same length", []byte("10,0,9,9"), 0}, {"longer", repl, 1}, {"shorter", []byte("1,1,1,1"), -1}} {
		t.Run(tc.name, func(t *testing.T) {
			m := &ModifyPayload{Old: old, New: tc.new, Select: Selector{First: 1}}
			d1 := build(tseg{src: client4, dst: server4, flags: wire.FlagACK | wire.FlagPSH, seq: cISN + 1, ack: sISN + 1, payload: msg})
			d2 := build(tseg{src: client4, dst: server4, flags: wire.FlagACK, seq: cISN + 23, ack: sISN + 1, payload: []byte("NEXT\r\n")})
			ack := build(tseg{src: server4, dst: client4, flags: wire.FlagACK, seq: sISN + 1, ack: cISN + 29 + uint32(tc.delta),
				opts: sackOpts(wire.SACKBlock{Left: cISN + 23 + uint32(tc.delta), Right: cISN + 29 + uint32(tc.delta)})})
			early := build(tseg{src: server4, dst: client4, flags: wire.FlagACK, seq: sISN + 1, ack: cISN + 1})
			got := run(m, []Direction{Forward, Forward, Reverse, Forward, Reverse}, d1, d2, ack, d1, early)
			if len(got) != 5 {
				t.Fatalf("%d packets", len(got))
			}
			a := parsed(t, got[0].b)
			want := bytes.Replace(msg, old, tc.new, 1)
			if !bytes.Equal(a.Payload(), want) || a.TCP.Seq() != cISN+1 {
				t.Errorf("first segment %q seq %d", a.Payload(), a.TCP.Seq())
			}
			if b := parsed(t, got[1].b); b.TCP.Seq() != cISN+23+uint32(tc.delta) {
				t.Errorf("next segment seq %d, want shifted by %d", b.TCP.Seq(), tc.delta)
			}
			r := parsed(t, got[2].b)
			if r.TCP.Ack() != cISN+29 || r.Options.SACK[0] != (wire.SACKBlock{Left: cISN + 23, Right: cISN + 29}) {
				t.Errorf("ACK %d SACK %v not mapped back", r.TCP.Ack(), r.Options.SACK[0])
			}
			// First 1: a same-length rewrite happens once; a resize is
			// repeated on the retransmission, or the sequence space breaks.
			wantRe := want
			if tc.delta == 0 {
				wantRe = msg
			}
			if re := parsed(t, got[3].b); !bytes.Equal(re.Payload(), wantRe) || re.TCP.Seq() != cISN+1 {
				t.Errorf("retransmission %q seq %d", re.Payload(), re.TCP.Seq())
			}
			if e := parsed(t, got[4].b); e.TCP.Ack() != cISN+1 {
				t.Errorf("an ACK before the correction moved to %d", e.TCP.Ack())
			}
		})
	}
}

// TestProactiveACK: the middlebox acknowledges in-order data itself, from
// the receiver's endpoint, with the receiver's timestamps and a window that
// keeps the receiver's right edge.
func TestProactiveACK(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		c, s := client4, server4
		if v6 {
			c, s = client6, server6
		}
		syn, synack, ack3 := opening(c, s)
		srvACK := build(tseg{src: s, dst: c, flags: wire.FlagACK, seq: sISN + 1, ack: cISN + 1, win: 4321, opts: tsOpt(900, 2)})
		d1 := data(c, s, 1, pattern(100, 1), false)
		d3 := data(c, s, 301, pattern(100, 1), false) // a gap: not acknowledged
		m := &ProactiveACK{}
		got := run(m, []Direction{Forward, Reverse, Forward, Reverse, Forward, Forward}, syn, synack, ack3, srvACK, d1, d3)
		if len(got) != 7 || m.ACKs != 1 {
			t.Fatalf("v6=%v: %d packets, %d ACKs", v6, len(got), m.ACKs)
		}
		if !bytes.Equal(got[4].b, d1) || got[5].dir != Reverse {
			t.Fatal("the data must pass first, then the ACK go back")
		}
		a := parsed(t, got[5].b)
		if f := FlowOf(a); f.Src != s || f.Dst != c {
			t.Errorf("ACK flow %v", f)
		}
		// The receiver offered 4321<<7 bytes from cISN+1 (both SYNs carry
		// window scale 7); acknowledging 100 more leaves 4321<<7-100.
		if a.TCP.Ack() != cISN+101 || a.TCP.Seq() != sISN+1 || a.TCP.Window() != (4321<<7-100)>>7 || a.TCP.Flags() != wire.FlagACK || len(a.Payload()) != 0 {
			t.Errorf("ACK seq %d ack %d window %d flags %#x", a.TCP.Seq(), a.TCP.Ack(), a.TCP.Window(), a.TCP.Flags())
		}
		if !a.Options.Has.Has(wire.OptTimestamps) || a.Options.TSVal != 900 || a.Options.TSEcr != 3 || a.Options.Has.Any(wire.OptMPTCP) {
			t.Errorf("ACK options %v TS %d/%d", a.Options.Has, a.Options.TSVal, a.Options.TSEcr)
		}
		// Before the receiver sent anything but its SYN/ACK, the edge
		// comes from there, unscaled (RFC 7323 §2.2): 1000 bytes from
		// cISN+1, of which 900 remain, 7 in scaled units.
		m = &ProactiveACK{}
		got = run(m, []Direction{Forward, Reverse, Forward, Forward}, syn, synack, ack3, d1)
		if len(got) != 5 || parsed(t, got[4].b).TCP.Window() != 900>>7 {
			t.Errorf("v6=%v: %d packets; window from the SYN/ACK wrong", v6, len(got))
		}
	}
}

// TestDrop: by option, by time and connection.
func TestDrop(t *testing.T) {
	syn, synack, ack3 := opening(client4, server4)
	join := build(tseg{src: client4, dst: server4, flags: wire.FlagSYN, seq: 9,
		opts: wire.Options{Has: wire.OptMPJoinSYN, MPJoin: wire.MPJoin{Token: 1, Nonce: 2}}})
	d := &Drop{Select: Selector{Options: wire.OptMPJoin}}
	if got := run(d, fwd(), syn, join, ack3); len(got) != 2 || d.Dropped != 1 {
		t.Errorf("MP_JOIN filter: %d out, %d dropped", len(got), d.Dropped)
	}
	bh := &Drop{Select: Selector{From: 2, Where: OfConnection(client4, server4)}}
	other := build(tseg{src: client6, dst: server6, flags: wire.FlagACK})
	got := run(bh, []Direction{Forward, Reverse, Forward, Forward}, syn, synack, ack3, other)
	if len(got) != 3 || !bytes.Equal(got[2].b, other) || bh.Dropped != 1 {
		t.Errorf("blackhole from t=2: %d out, %d dropped", len(got), bh.Dropped)
	}
}

// TestChain: stages apply in wire order each way, and what a stage emits
// backwards crosses the stages before it.
func TestChain(t *testing.T) {
	nat := &NAT{Outside: netip4("192.0.2.1"), FirstPort: 30000}
	isn := &RewriteISN{Offset: 1 << 20}
	pep := &ProactiveACK{}
	ch := NewChain(nat, isn, pep)
	syn, _, ack3 := opening(client4, server4)
	mapped := netipAP("192.0.2.1:30000")
	synack := build(tseg{src: server4, dst: mapped, flags: wire.FlagSYN | wire.FlagACK, seq: sISN, ack: cISN + 1 + 1<<20, opts: synOpts(wire.OptMPCapableSYNACK)})
	srvACK := build(tseg{src: server4, dst: mapped, flags: wire.FlagACK, seq: sISN + 1, ack: cISN + 1 + 1<<20})
	d := data(client4, server4, 1, pattern(10, 1), false)
	got := run(ch, []Direction{Forward, Reverse, Forward, Reverse, Forward}, syn, synack, ack3, srvACK, d)
	if len(got) != 6 {
		t.Fatalf("%d packets out", len(got))
	}
	s0, s1 := parsed(t, got[0].b), parsed(t, got[1].b)
	if FlowOf(s0).Src != mapped || s0.TCP.Seq() != cISN+1<<20 {
		t.Errorf("SYN out: %v seq %d", FlowOf(s0), s0.TCP.Seq())
	}
	if FlowOf(s1).Dst != client4 || s1.TCP.Ack() != cISN+1 {
		t.Errorf("SYN/ACK in: %v ack %d", FlowOf(s1), s1.TCP.Ack())
	}
	// The proactive ACK sits after the NAT and the ISN rewriter: on its
	// way back it is un-NATed and its ack number mapped back.
	a := parsed(t, got[5].b)
	if got[5].dir != Reverse || FlowOf(a).Dst != client4 || a.TCP.Ack() != cISN+11 {
		t.Errorf("proactive ACK: %v %v ack %d", got[5].dir, FlowOf(a), a.TCP.Ack())
	}
}

package mbox

import (
	"bytes"
	"testing"

	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// TestStripOption runs a connection's opening, a data segment and a pure
// ACK through stripping middleboxes and checks which segments lost which
// options, and that everything else is untouched.
func TestStripOption(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		c, s := client4, server4
		if v6 {
			c, s = client6, server6
		}
		syn, synack, ack3 := opening(c, s)
		payload := pattern(500, 1)
		dat := data(c, s, 1, payload, true)
		pureACK := build(tseg{src: s, dst: c, flags: wire.FlagACK, seq: sISN + 1, ack: cISN + 501, opts: dssOpts(0, 0, nil, false)})
		// Ordinary segments plus one whose MPTCP option sits at an odd
		// offset (after a single NOP), as no planner writes it.
		odd := build(tseg{src: c, dst: s, flags: wire.FlagACK, seq: cISN + 501, ack: sISN + 1,
			raw: []byte{1, 30, 3, 0x50, 1, 1, 1, 1}})
		dirs := []Direction{Forward, Reverse, Forward, Forward, Reverse, Forward}
		pkts := [][]byte{syn, synack, ack3, dat, pureACK, odd}
		mptcpOn := []wire.OptionSet{wire.OptMPCapableSYN, wire.OptMPCapableSYNACK, wire.OptMPCapableACK, wire.OptDSS, wire.OptDSS, wire.OptMPPrio}

		tests := []struct {
			name     string
			m        *StripOption
			stripped []bool // per packet
		}{
			{"MPTCP on SYN", StripMPTCP(Selector{On: OnSYN}), []bool{true, false, false, false, false, false}},
			{"MPTCP on SYN/ACK", StripMPTCP(Selector{On: OnSYNACK}), []bool{false, true, false, false, false, false}},
			{"MPTCP on third ACK", StripMPTCP(Selector{On: OnThirdACK}), []bool{false, false, true, false, false, false}},
			{"MPTCP on data", StripMPTCP(Selector{On: OnData}), []bool{false, false, false, true, false, false}},
			{"MPTCP on all", StripMPTCP(Selector{}), []bool{true, true, true, true, true, true}},
			{"MPTCP first 2", StripMPTCP(Selector{First: 2}), []bool{true, true, false, false, false, false}},
			{"MPTCP reverse only", StripMPTCP(Selector{Dirs: ReverseOnly}), []bool{false, true, false, false, true, false}},
			{"MPTCP removed", &StripOption{Kind: wire.OptionKindMPTCP, Remove: true}, []bool{true, true, true, true, true, true}},
			{"DSS only", &StripOption{Kind: wire.OptionKindMPTCP, Subtypes: 1 << wire.SubtypeDSS}, []bool{false, false, false, true, true, false}},
			{"only segments with DSS", StripMPTCP(Selector{Options: wire.OptDSS}), []bool{false, false, false, true, true, false}},
			{"timestamps", &StripOption{Kind: wire.OptionKindTimestamps, Select: Selector{On: OnSYN | OnSYNACK}}, []bool{true, true, false, false, false, false}},
		}
		for _, tc := range tests {
			t.Run(tc.name+map[bool]string{false: " v4", true: " v6"}[v6], func(t *testing.T) {
				got := run(tc.m, dirs, pkts...)
				if len(got) != len(pkts) {
					t.Fatalf("emitted %d packets, want %d", len(got), len(pkts))
				}
				n := 0
				for i, o := range got {
					if o.dir != dirs[i] {
						t.Errorf("packet %d emitted %v", i, o.dir)
					}
					before, after := parsed(t, pkts[i]), parsed(t, o.b)
					if !tc.stripped[i] {
						if !bytes.Equal(o.b, pkts[i]) {
							t.Errorf("packet %d changed", i)
						}
						continue
					}
					n++
					kind := tc.m.Kind
					if kind == wire.OptionKindMPTCP {
						want := before.Options.Has &^ mptcpOn[i]
						if after.Options.Has != want {
							t.Errorf("packet %d: options %v, want %v", i, after.Options.Has, want)
						}
					} else if after.Options.Has.Has(wire.OptTimestamps) {
						t.Errorf("packet %d kept its timestamps", i)
					}
					if !bytes.Equal(after.Payload(), before.Payload()) || after.TCP.Seq() != before.TCP.Seq() ||
						after.TCP.Ack() != before.TCP.Ack() || after.TCP.Flags() != before.TCP.Flags() {
						t.Errorf("packet %d: more than options changed", i)
					}
					if tc.m.Remove {
						if len(o.b) > len(pkts[i]) || (i < 5 && len(o.b) == len(pkts[i])) {
							t.Errorf("packet %d: removal left %d of %d bytes", i, len(o.b), len(pkts[i]))
						}
					} else if len(o.b) != len(pkts[i]) {
						t.Errorf("packet %d: NOP stripping changed the length", i)
					}
				}
				if tc.m.Stripped != uint64(n) {
					t.Errorf("Stripped %d, want %d", tc.m.Stripped, n)
				}
			})
		}
	}
}

// TestStripKeepsCorruption: NOP stripping carries a wrong checksum
// through (RFC 1624 update), and removal does not resize a damaged
// packet, so neither turns a corrupted segment into a valid one.
func TestStripKeepsCorruption(t *testing.T) {
	bad := build(tseg{src: client4, dst: server4, flags: wire.FlagACK, seq: 1, opts: dssOpts(1, 1, nil, false), badTCPCsum: true})
	for _, remove := range []bool{false, true} {
		m := &StripOption{Kind: wire.OptionKindMPTCP, Remove: remove}
		got := run(m, fwd(), bad)
		var s wire.Segment
		if len(got) != 1 || wire.ParseSegment(got[0].b, &s, nil) != nil || checksumsOK(&s) {
			t.Errorf("remove=%v: a corrupted segment came out valid", remove)
		}
		if remove && !bytes.Equal(got[0].b, bad) {
			t.Error("removal changed a corrupted segment")
		}
	}
}

// TestStripNonTCPPassesThrough: what is not a TCP segment passes as is.
func TestStripNonTCPPassesThrough(t *testing.T) {
	udp := build(tseg{src: client4, dst: server4, flags: wire.FlagSYN, opts: synOpts(wire.OptMPCapableSYN)})
	udp[9] = 17
	for _, p := range [][]byte{nil, {0x45}, udp, bytes.Repeat([]byte{0xff}, 60)} {
		got := run(StripMPTCP(Selector{}), fwd(), p)
		if len(got) != 1 || !bytes.Equal(got[0].b, p) {
			t.Errorf("%x: not passed through", p)
		}
	}
}

// TestIPHeaderVariants: IPv4 options and IPv6 extension headers keep the
// TCP header where the transforms find it.
func TestIPHeaderVariants(t *testing.T) {
	for _, s := range []tseg{
		{src: client4, dst: server4, ipOptions: true},
		{src: client6, dst: server6, hopByHop: true},
	} {
		s.flags, s.seq, s.ack = wire.FlagACK, cISN+1, sISN+1
		s.payload = pattern(300, 3)
		s.opts = dssOpts(1, 1, s.payload, true)
		p := build(s)
		for _, m := range []Middlebox{
			&StripOption{Kind: wire.OptionKindMPTCP, Remove: true},
			&Split{MaxPayload: 100},
		} {
			got := run(m, fwd(), p)
			if len(got) == 0 {
				t.Fatalf("%T emitted nothing", m)
			}
			total := 0
			for _, o := range got {
				total += len(parsed(t, o.b).Payload())
			}
			if total != 300 {
				t.Errorf("%T: %d payload bytes out of 300", m, total)
			}
		}
	}
}

package mbox

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// zoo returns one fresh instance of every transform, in the settings that
// reach most of their code.
func zoo() []Middlebox {
	return []Middlebox{
		StripMPTCP(Selector{On: OnThirdACK | OnData}),
		&StripOption{Kind: wire.OptionKindMPTCP, Remove: true, Subtypes: 1<<wire.SubtypeDSS | 1<<wire.SubtypeMPCapable},
		&StripOption{Kind: wire.OptionKindTimestamps, Remove: true},
		&RewriteISN{Seed: 1},
		&NAT{Outside: netip.MustParseAddr("192.0.2.1"), Idle: 3 * time.Millisecond},
		&NAT{Outside: netip.MustParseAddr("2001:db8::1"), Preserve: true},
		&Split{MaxPayload: 7},
		&Split{MaxPayload: 100, OptionsOnFirst: true},
		&Coalesce{MaxLen: 3000},
		&ModifyPayload{At: 1, Set: []byte{0xff}},
		&ModifyPayload{Old: []byte("ab"), New: []byte("xyz")},
		&ModifyPayload{Old: []byte("abc"), New: []byte("z")},
		&ProactiveACK{},
		&Drop{Select: Selector{Options: wire.OptMPJoin}},
		NewChain(&NAT{Outside: netip.MustParseAddr("192.0.2.1")}, &RewriteISN{Offset: 9},
			&Split{MaxPayload: 50}, &Coalesce{}, &ModifyPayload{Old: []byte("ab"), New: []byte("b")}, &ProactiveACK{}),
	}
}

// conversation is a connection in both directions: the handshake, data
// with mappings (one with the string the ALGs look for), a SACK, an
// MP_JOIN, FINs.
func conversation(c, s netip.AddrPort) (pkts [][]byte, dirs []Direction) {
	syn, synack, ack3 := opening(c, s)
	add := func(d Direction, p []byte) { pkts, dirs = append(pkts, p), append(dirs, d) }
	add(Forward, syn)
	add(Reverse, synack)
	add(Forward, ack3)
	add(Reverse, build(tseg{src: s, dst: c, flags: wire.FlagACK, seq: sISN + 1, ack: cISN + 1, opts: tsOpt(5, 2)}))
	p1 := append([]byte("xxabcab"), pattern(250, 3)...)
	add(Forward, data(c, s, 1, p1, true))
	add(Forward, data(c, s, 1+uint32(len(p1)), pattern(120, 4), true))
	add(Reverse, build(tseg{src: s, dst: c, flags: wire.FlagACK, seq: sISN + 1, ack: cISN + 1,
		opts: sackOpts(wire.SACKBlock{Left: cISN + 258, Right: cISN + 378})}))
	add(Reverse, build(tseg{src: s, dst: c, flags: wire.FlagACK | wire.FlagPSH, seq: sISN + 1, ack: cISN + 378,
		opts: dssOpts(7, 1, []byte("reply"), false), payload: []byte("reply")}))
	add(Forward, build(tseg{src: netip.AddrPortFrom(c.Addr(), c.Port()+1), dst: s, flags: wire.FlagSYN, seq: 77,
		opts: wire.Options{Has: wire.OptMPJoinSYN, MPJoin: wire.MPJoin{Token: 1, Nonce: 2}}}))
	add(Forward, build(tseg{src: c, dst: s, flags: wire.FlagFIN | wire.FlagACK, seq: cISN + 378, ack: sISN + 6}))
	add(Reverse, build(tseg{src: s, dst: c, flags: wire.FlagFIN | wire.FlagACK, seq: sISN + 6, ack: cISN + 379}))
	return pkts, dirs
}

// valid reports whether b parses and its checksums verify, and whether it
// parses at all.
func valid(b []byte) (ok, parses bool) {
	var s wire.Segment
	if wire.ParseSegment(b, &s, nil) != nil {
		return false, false
	}
	return checksumsOK(&s), true
}

// TestEveryOutputParses runs a conversation over IPv4 and IPv6 through
// every transform: every packet that comes out parses with
// wire.ParseSegment and its checksums verify.
func TestEveryOutputParses(t *testing.T) {
	for _, ends := range [][2]netip.AddrPort{{client4, server4}, {client6, server6}} {
		pkts, dirs := conversation(ends[0], ends[1])
		for _, m := range zoo() {
			var k sink
			for i, p := range pkts {
				m.Process(time.Duration(i)*time.Millisecond, dirs[i], bytes.Clone(p), k.emit)
			}
			if tm, ok := m.(Timed); ok {
				tm.HandleTimeout(time.Hour, k.emit)
			}
			if len(k.got) == 0 {
				t.Errorf("%T emitted nothing", m)
			}
			for i, o := range k.got {
				if ok, _ := valid(o.b); !ok {
					t.Errorf("%T, %v: output %d does not parse or verify", m, ends[0].Addr(), i)
				}
			}
		}
	}
}

// encodeRecords writes packets in the fuzz input format: per packet a
// control byte (bit 0 the direction, bit 1 keep the checksums as they
// are, the rest a time step in ms) and a 16-bit length.
func encodeRecords(pkts [][]byte, dirs []Direction) []byte {
	var b []byte
	for i, p := range pkts {
		b = append(b, byte(dirs[i])|byte(i%4)<<2)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return b
}

// FuzzMiddleboxes feeds arbitrary packet sequences through every
// transform. Nothing may panic; a packet that parses with good checksums
// comes out (however transformed) parsing with good checksums; one that
// does not parse comes out unchanged; and a damaged one is never turned
// into a valid one — only held segments released and packets the
// middlebox makes itself (coalesced, proactive ACKs) may be valid then.
// Unless a record asks to keep them, the harness fixes the checksums of
// each input so that the fuzzer reaches the transforms' inner paths.
func FuzzMiddleboxes(f *testing.F) {
	for _, ends := range [][2]netip.AddrPort{{client4, server4}, {client6, server6}} {
		pkts, dirs := conversation(ends[0], ends[1])
		f.Add(encodeRecords(pkts, dirs))
		for i := range pkts {
			f.Add(encodeRecords(pkts[i:i+1], dirs[i:i+1]))
		}
	}
	f.Fuzz(checkMiddleboxes)
}

// checkMiddleboxes is FuzzMiddleboxes's property check on one input.
func checkMiddleboxes(t *testing.T, in []byte) {
	type record struct {
		dir  Direction
		at   time.Duration
		pkt  []byte
		keep bool
	}
	var recs []record
	now := time.Duration(0)
	for len(in) >= 3 && len(recs) < 16 {
		ctl, n := in[0], int(binary.BigEndian.Uint16(in[1:]))
		in = in[3:]
		n = min(n, len(in))
		now += time.Duration(ctl>>2) * time.Millisecond
		r := record{dir: Direction(ctl & 1), at: now, pkt: bytes.Clone(in[:n]), keep: ctl&2 != 0}
		in = in[n:]
		var p packet
		if !r.keep && p.parse(r.pkt) {
			r.pkt = r.pkt[:len(p.b)]
			finish(r.pkt, p.v6(), p.l4)
		}
		recs = append(recs, r)
	}
	for _, m := range zoo() {
		_, generates := m.(*Coalesce)
		if _, ok := m.(*ProactiveACK); ok {
			generates = true
		}
		_, chain := m.(*Chain)
		for _, r := range recs {
			inOK, inParses := valid(r.pkt)
			var k sink
			m.Process(r.at, r.dir, bytes.Clone(r.pkt), k.emit)
			for _, o := range k.got {
				ok, parses := valid(o.b)
				same := bytes.Equal(o.b, r.pkt)
				switch {
				case inOK && !ok:
					t.Fatalf("%T: a valid packet came out invalid\nin  %x\nout %x", m, r.pkt, o.b)
				case !inParses && !same && !ok:
					t.Fatalf("%T: an unparsable packet came out changed and invalid", m)
				case inParses && !inOK && !same && !chain && ok != generates && parses:
					t.Fatalf("%T: a damaged packet came out valid (or a made one invalid)\nin  %x\nout %x", m, r.pkt, o.b)
				}
			}
		}
		if tm, ok := m.(Timed); ok {
			var k sink
			tm.HandleTimeout(time.Hour, k.emit)
			for _, o := range k.got {
				if ok, _ := valid(o.b); !ok {
					t.Fatalf("%T released an invalid packet", m)
				}
			}
		}
	}
}

package mbox

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// TestNoAllocationsPerPacket: once a flow's state exists, every transform
// processes packets without allocating. Each round feeds two data
// segments forward, in order (so that the coalescer merges them and the
// proactive ACK answers both), and an ACK back, all copied into reused
// buffers; the counters show that each transform acted.
func TestNoAllocationsPerPacket(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		c, s := client4, server4
		if v6 {
			c, s = client6, server6
		}
		pkts, dirs := conversation(c, s)
		pl := append([]byte("xxabcab"), pattern(1000, 3)...)
		dat := data(c, s, 1, pl, true)
		ack := build(tseg{src: s, dst: c, flags: wire.FlagACK, seq: sISN + 1, ack: cISN + 1, opts: sackOpts(wire.SACKBlock{Left: cISN + 9, Right: cISN + 99})})
		for _, m := range zoo() {
			n := 0
			emit := func(Direction, []byte) { n++ }
			for i, p := range pkts {
				m.Process(time.Duration(i), dirs[i], bytes.Clone(p), emit)
			}
			work := make([]byte, len(dat))
			workACK := make([]byte, len(ack))
			seq := uint32(cISN + 378) // where the conversation's data ended
			now := time.Second
			round := func() {
				now += time.Millisecond
				for range 2 { // two in a row: the coalescer merges them
					copy(work, dat)
					set32(work[lenIP(v6):], 4, seq) // the next segment
					seq += uint32(len(pl))
					m.Process(now, Forward, work, emit)
				}
				copy(workACK, ack)
				m.Process(now, Reverse, workACK, emit)
				if tm, ok := m.(Timed); ok {
					tm.HandleTimeout(now+time.Hour, emit)
				}
			}
			for range 100 {
				round()
			}
			before := counters(m)
			if a := testing.AllocsPerRun(200, round); a != 0 {
				t.Errorf("%T v6=%v: %v allocations per round", m, v6, a)
			}
			if n == 0 {
				t.Errorf("%T emitted nothing", m)
			}
			if before != idle && counters(m)-before < 200 {
				t.Errorf("%T v6=%v acted %d times in 200 rounds", m, v6, counters(m)-before)
			}
		}
	}
}

func lenIP(v6 bool) int {
	if v6 {
		return wire.IPv6HeaderLen
	}
	return wire.IPv4HeaderLen
}

// BenchmarkTransforms measures one data segment through each transform.
func BenchmarkTransforms(b *testing.B) {
	pl := pattern(1400, 3)
	dat := data(client4, server4, 1, pl, true)
	syn, synack, ack3 := opening(client4, server4)
	for i, m := range zoo() {
		b.Run(fmt.Sprintf("%02d-%T", i, m), func(b *testing.B) {
			emit := func(Direction, []byte) {}
			for i, p := range [][]byte{syn, synack, ack3} {
				m.Process(0, Direction(i%2), bytes.Clone(p), emit)
			}
			work := make([]byte, len(dat))
			b.SetBytes(int64(len(dat)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				copy(work, dat)
				m.Process(time.Duration(i), Forward, work, emit)
			}
		})
	}
}

const idle = 1 << 62

// counters returns how often m acted, by its counters; for the transforms
// that have nothing to do in TestNoAllocationsPerPacket's rounds (a
// filter of MP_JOIN, a NAT of the other family, a chain) it returns a
// large number.
func counters(m Middlebox) uint64 {
	switch m := m.(type) {
	case *StripOption:
		return m.Stripped
	case *RewriteISN:
		return m.Rewritten
	case *NAT:
		if m.Translated == 0 {
			return idle
		}
		return m.Translated
	case *Split:
		return m.Splits
	case *Coalesce:
		return m.Merges
	case *ModifyPayload:
		return m.Modified
	case *ProactiveACK:
		return m.ACKs
	}
	return idle
}

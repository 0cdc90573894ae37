package tcp_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// FuzzEstablished feeds arbitrary segments (any flags, sequence and
// acknowledgment numbers near and far from the window, any window, payload
// length, SACK blocks and timestamps) and application actions to an
// established connection with data in flight. The connection must never
// panic, its sequence variables must stay ordered, and everything it
// sends must parse and carry a valid checksum.
func FuzzEstablished(f *testing.F) {
	f.Add([]byte{0x10, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0x75, 0x30, 0, 100, 0, 5, 0})
	f.Add([]byte{0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0x02, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x11, 0, 0, 0, 0, 0, 0, 0x07, 0xd0, 0xff, 0xff, 0x03, 0xe8, 2, 200, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		cv := established(t, tcp.Config{})
		cv.s.Write(data(20000, 'd'))
		drain(t, cv)
		peerNext := uint32(remoteISS + 1)
		lastRcv := cv.c.ReceiveNext()
		for len(ops) >= 16 {
			op := ops[:16]
			ops = ops[16:]
			s := seg{
				flags: op[0],
				seq:   peerNext + binary.BigEndian.Uint32(op[1:5]),
				ack:   uint32(localISS) + uint32(cv.c.SendUnacked()) + binary.BigEndian.Uint32(op[5:9]),
				win:   binary.BigEndian.Uint16(op[9:11]),
			}
			s.payload = data(int(binary.BigEndian.Uint16(op[11:13]))%3000, 'p')
			switch op[13] % 4 {
			case 1:
				s.ts = &[2]uint32{binary.BigEndian.Uint32(op[1:5]), 0}
			case 2:
				base := uint32(localISS) + uint32(cv.c.SendUnacked())
				s.sack = []wire.SACKBlock{{Left: base + uint32(op[14])*100, Right: base + uint32(op[14])*100 + uint32(op[15])*10}}
			}
			if s.flags&wire.FlagSYN == 0 {
				s.mss = 0
			}
			cv.now += time.Duration(op[14]) * time.Millisecond
			if dl, ok := cv.c.NextTimeout(); ok && dl <= cv.now {
				cv.c.HandleTimeout(cv.now)
			}
			cv.send(s)
			switch op[15] % 4 {
			case 0:
				cv.s.Write(data(int(op[14])*50, 'w'))
			case 1:
				var b [4096]byte
				cv.s.Read(b[:])
			case 2:
				cv.c.Close()
			}
			drain(t, cv)
			// Invariants.
			c := cv.c
			if !(c.SendUnacked() <= c.SendNext() && c.SendNext() <= c.SendEnd()+1) {
				t.Fatalf("send sequence disordered: una %d nxt %d end %d", c.SendUnacked(), c.SendNext(), c.SendEnd())
			}
			if c.InFlight() < 0 || c.InFlight() > int(c.SendEnd()+1) {
				t.Fatalf("in flight %d", c.InFlight())
			}
			if c.ReceiveNext() < lastRcv {
				t.Fatalf("RCV.NXT moved back from %d to %d", lastRcv, c.ReceiveNext())
			}
			lastRcv = c.ReceiveNext()
			if cv.s.Buffered() < 0 || cv.s.Buffered() > 64<<10 {
				t.Fatalf("buffered %d", cv.s.Buffered())
			}
			if c.State() == tcp.Closed {
				return
			}
		}
	})
}

// drain takes everything the connection wants to send, checking each.
func drain(t *testing.T, cv *convo) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		n := cv.c.PollTransmit(cv.now, cv.buf)
		if n == 0 {
			return
		}
		var p wire.Segment
		if err := wire.ParseSegment(cv.buf[:n], &p, nil); err != nil {
			t.Fatalf("sent an unparsable segment: %v", err)
		}
	}
	t.Fatal("the connection never stops sending")
}

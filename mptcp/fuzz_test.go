package mptcp_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// rawSegment builds a segment whose TCP options are arbitrary bytes.
func rawSegment(from, to netip.AddrPort, flags uint8, seq, ack uint32, win uint16, opts, payload []byte) []byte {
	optLen := (min(len(opts), 40) + 3) &^ 3
	pkt := make([]byte, wire.IPv4HeaderLen+wire.TCPHeaderLen+optLen+len(payload))
	tcpb := pkt[wire.IPv4HeaderLen:]
	copy(tcpb[wire.TCPHeaderLen:], opts[:min(len(opts), 40)])
	h := wire.TCPHeader{SrcPort: from.Port(), DstPort: to.Port(), Seq: seq, Ack: ack, Flags: flags, Window: win}
	hl := h.Encode(tcpb, optLen)
	copy(tcpb[hl:], payload)
	ip := wire.IPv4Header{TTL: 64, Protocol: wire.ProtocolTCP, Src: from.Addr().As4(), Dst: to.Addr().As4(), PayloadLen: len(tcpb)}
	ip.Encode(pkt)
	wire.SetTCPChecksum(tcpb[:hl], cksum.IPv4PseudoHeader(ip.Src, ip.Dst, wire.ProtocolTCP, uint16(len(tcpb))), cksum.Sum(payload, 0))
	return pkt
}

// FuzzEngine feeds arbitrary segments — any flags, sequence and
// acknowledgment numbers near the connection's, any window, arbitrary TCP
// and MPTCP option bytes, payloads, in one buffer or as a chain of three —
// and timer jumps into an endpoint that has an established MPTCP client
// connection and a listener. Nothing may panic, every segment sent must parse with a valid checksum, the endpoint
// must not grow without bound, and the connection's data must stay intact.
func FuzzEngine(f *testing.F) {
	dssAck := []byte{30, 8, 0x20, 0x01, 0, 0, 0, 1}
	f.Add(append([]byte{0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0, 10, 8}, dssAck...))
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 12, 30, 12, 0x10, 0x01, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 30, 12, 0x70, 0, 1, 2, 3, 4, 5, 6, 7, 8, 30, 4, 0x80, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, c, _ := dial(t, mptcp.Config{Checksum: len(in) > 0 && in[0]&0x80 != 0})
		p.ep.Listen(5001)
		c.Write(make([]byte, 5000))
		for p.ep.PollTransmit(p.now, p.buf) > 0 {
		}
		var sent []byte
		for len(in) >= 14 {
			flags := in[0]
			seqOff := binary.BigEndian.Uint32(in[1:5])
			ackOff := binary.BigEndian.Uint32(in[5:9])
			win := binary.BigEndian.Uint16(in[9:11])
			plen := int(in[11]) * 8
			jump := time.Duration(in[12]&0x7f) * time.Millisecond
			chained := in[12]&0x80 != 0 // delivered as a chain of three buffers
			olen := int(in[13])
			in = in[14:]
			olen = min(olen, len(in))
			opts := in[:olen]
			in = in[olen:]
			from, to := peerAddr, ourAddr
			if flags&0x40 != 0 { // to the listener from a new client
				from, to = netip.MustParseAddrPort("10.0.9.9:40000"), netip.MustParseAddrPort("10.0.1.2:5001")
			}
			pkt := rawSegment(from, to, flags&0x3f|flags&0x80, p.seq+seqOff, p.ack+ackOff, win, opts, make([]byte, plen))
			p.now += jump
			if hdr := len(pkt) - plen; chained && plen > 0 {
				cut := hdr + plen/2
				p.ep.HandleSegmentChain(p.now, pkt[:hdr], [][]byte{pkt[hdr:cut], pkt[cut:]})
			} else {
				p.ep.HandleSegment(p.now, pkt)
			}
			if dl, ok := p.ep.NextTimeout(); ok && dl <= p.now {
				p.ep.HandleTimeout(p.now)
			}
			for k := 0; k < 10000; k++ {
				n := p.ep.PollTransmit(p.now, p.buf)
				if n == 0 {
					break
				}
				var s wire.Segment
				if err := wire.ParseSegment(p.buf[:n], &s, nil); err != nil {
					t.Fatalf("sent an unparsable segment: %v", err)
				}
				if !s.ChecksumOK(cksum.Sum(s.Payload(), 0)) {
					t.Fatal("sent a segment with a bad checksum")
				}
				if k == 9999 {
					t.Fatal("the endpoint never stops sending")
				}
			}
			for {
				ev, ok := p.ep.PollEvent()
				if !ok {
					break
				}
				_ = ev
			}
			buf := make([]byte, 4096)
			n, _ := c.Read(buf)
			sent = append(sent, buf[:n]...)
			if len(p.ep.Conns()) > 64 {
				t.Fatalf("%d connections", len(p.ep.Conns()))
			}
		}
		for _, b := range sent {
			if b != 0 {
				t.Fatal("the application read bytes nobody sent")
			}
		}
	})
}

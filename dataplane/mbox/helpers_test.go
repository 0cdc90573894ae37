package mbox

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// Endpoints of the test connection: the client on the A side (Forward
// sends from it), the server on the B side.
var (
	client4 = netip.MustParseAddrPort("10.0.1.2:40000")
	server4 = netip.MustParseAddrPort("10.0.1.1:80")
	client6 = netip.MustParseAddrPort("[fd00:1::2]:40000")
	server6 = netip.MustParseAddrPort("[fd00:1::1]:80")
)

const (
	keyA = 0x0102030405060708
	keyB = 0x1112131415161718
	cISN = 1000
	sISN = 5000
)

// tseg describes a segment for build.
type tseg struct {
	src, dst   netip.AddrPort
	flags      uint8
	seq, ack   uint32
	win        uint16
	opts       wire.Options
	raw        []byte // option bytes (a multiple of 4) used instead of opts
	payload    []byte
	ipOptions  bool // an IPv4 header with 4 bytes of options (NOP NOP NOP EOL)
	hopByHop   bool // an IPv6 hop-by-hop extension header before TCP
	badTCPCsum bool
}

// build encodes s with the wire encoders the way the engine does.
func build(s tseg) []byte {
	v6 := s.src.Addr().Is6()
	b := make([]byte, 128+len(s.payload))
	l4 := wire.IPv4HeaderLen
	if v6 {
		l4 = wire.IPv6HeaderLen
		if s.hopByHop {
			l4 += 8
		}
	} else if s.ipOptions {
		l4 += 4
	}
	tcp := b[l4:]
	optLen := len(s.raw)
	if s.raw != nil {
		copy(tcp[wire.TCPHeaderLen:], s.raw)
	} else {
		plan := wire.PlanOptions(&s.opts, s.flags, len(s.payload) > 0)
		if plan.Dropped != 0 {
			panic("test segment options do not fit: " + plan.Dropped.String())
		}
		optLen = plan.Encode(tcp[wire.TCPHeaderLen:], &s.opts)
	}
	win := s.win
	if win == 0 {
		win = 1000
	}
	h := wire.TCPHeader{SrcPort: s.src.Port(), DstPort: s.dst.Port(), Seq: s.seq, Ack: s.ack, Flags: s.flags, Window: win}
	hl := h.Encode(tcp, optLen)
	copy(tcp[hl:], s.payload)
	n := l4 + hl + len(s.payload)
	b = b[:n]
	if v6 {
		ih := wire.IPv6Header{NextHeader: wire.ProtocolTCP, HopLimit: 64, Src: s.src.Addr().As16(), Dst: s.dst.Addr().As16(), PayloadLen: n - wire.IPv6HeaderLen}
		ih.Encode(b)
		if s.hopByHop {
			b[6] = 0 // hop-by-hop, then TCP
			copy(b[40:48], []byte{wire.ProtocolTCP, 0, 1, 4, 0, 0, 0, 0})
		}
	} else {
		ih := wire.IPv4Header{ID: 7, DontFragment: true, TTL: 64, Protocol: wire.ProtocolTCP, Src: s.src.Addr().As4(), Dst: s.dst.Addr().As4(), PayloadLen: n - wire.IPv4HeaderLen}
		ih.Encode(b)
		if s.ipOptions {
			b[0] = 0x46
			copy(b[20:24], []byte{1, 1, 1, 0})
			wire.SetIPv4Checksum(b[:24])
		}
	}
	finish(b, v6, l4)
	if s.badTCPCsum {
		b[l4+16] ^= 0x55
	}
	return b
}

// Option sets for the handshake and data segments.
func tsOpt(val, ecr uint32) wire.Options {
	return wire.Options{Has: wire.OptTimestamps, TSVal: val, TSEcr: ecr}
}

func synOpts(sub wire.OptionSet) wire.Options {
	o := tsOpt(1, 0)
	o.Has |= wire.OptMSS | wire.OptSACKPermitted | wire.OptWindowScale | sub
	o.MSS, o.WindowScale = 1460, 7
	o.MPCapable = wire.MPCapable{Version: 1, Flags: wire.MPCHMACSHA256}
	if sub == wire.OptMPCapableSYNACK {
		o.MPCapable.SenderKey = keyB
	}
	return o
}

func mpcACKOpts() wire.Options {
	o := tsOpt(2, 1)
	o.Has |= wire.OptMPCapableACK
	o.MPCapable = wire.MPCapable{Version: 1, Flags: wire.MPCHMACSHA256, SenderKey: keyA, ReceiverKey: keyB}
	return o
}

// dssOpts maps payload at subflow sequence ssn to dsn, with a DSS checksum
// over payload when csum.
func dssOpts(dsn uint64, ssn uint32, payload []byte, csum bool) wire.Options {
	o := tsOpt(3, 2)
	o.Has |= wire.OptDSS
	o.DSS = wire.DSS{Flags: wire.DSSDataAck | wire.DSSMap | wire.DSSDSN64, DataAck: 77, DSN: dsn, SubflowSeq: ssn, DataLen: uint16(len(payload))}
	if csum {
		o.DSS.HasChecksum = true
		o.DSS.Checksum = wire.DSSChecksum(dsn, ssn, uint16(len(payload)), cksum.Sum(payload, 0))
	}
	return o
}

func sackOpts(blocks ...wire.SACKBlock) wire.Options {
	o := tsOpt(4, 3)
	o.Has |= wire.OptSACK
	o.NumSACK = uint8(copy(o.SACK[:], blocks))
	return o
}

// opening returns the SYN, SYN/ACK and third ACK of an MPTCP connection
// between client and server.
func opening(c, s netip.AddrPort) (syn, synack, ack3 []byte) {
	syn = build(tseg{src: c, dst: s, flags: wire.FlagSYN, seq: cISN, opts: synOpts(wire.OptMPCapableSYN)})
	synack = build(tseg{src: s, dst: c, flags: wire.FlagSYN | wire.FlagACK, seq: sISN, ack: cISN + 1, opts: synOpts(wire.OptMPCapableSYNACK)})
	ack3 = build(tseg{src: c, dst: s, flags: wire.FlagACK, seq: cISN + 1, ack: sISN + 1, opts: mpcACKOpts()})
	return
}

// data returns a client data segment at subflow offset off (from 1) with
// a DSS mapping of its own.
func data(c, s netip.AddrPort, off uint32, payload []byte, csum bool) []byte {
	return build(tseg{src: c, dst: s, flags: wire.FlagACK | wire.FlagPSH, seq: cISN + off, ack: sISN + 1,
		opts: dssOpts(100+uint64(off), off, payload, csum), payload: payload})
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// out is one emitted packet.
type out struct {
	dir Direction
	b   []byte
}

// sink collects what a middlebox emits.
type sink struct{ got []out }

func (k *sink) emit(dir Direction, b []byte) { k.got = append(k.got, out{dir, bytes.Clone(b)}) }

// run passes the packets through m, in the given directions, at time 0.
func run(m Middlebox, dir []Direction, pkts ...[]byte) []out {
	var k sink
	for i, p := range pkts {
		m.Process(time.Duration(i), dir[i%len(dir)], bytes.Clone(p), k.emit)
	}
	return k.got
}

// parsed parses a packet the test expects to be valid, with its checksums.
func parsed(t testing.TB, b []byte) *wire.Segment {
	t.Helper()
	var s wire.Segment
	if err := wire.ParseSegment(b, &s, nil); err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	if !checksumsOK(&s) {
		t.Fatalf("output checksums do not verify")
	}
	return &s
}

func checksumsOK(s *wire.Segment) bool {
	if s.Version == 4 && !s.IPv4.HeaderChecksumOK() {
		return false
	}
	return s.ChecksumOK(cksum.Sum(s.Payload(), 0))
}

func fwd() []Direction { return []Direction{Forward} }

func netip4(s string) netip.Addr      { return netip.MustParseAddr(s) }
func netipAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

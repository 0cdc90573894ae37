package mptcp_test

import (
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// Conversation tests: one Endpoint under test and a scripted peer that
// sends what the Linux kernel sends (INTEROP Part A/B, the captures), with
// literal timestamps; every segment the endpoint sends is parsed and its
// MPTCP options compared with what Linux would accept.

var (
	ourAddr  = netip.MustParseAddrPort("10.0.1.2:61001")
	peerAddr = netip.MustParseAddrPort("10.0.1.1:5001")
)

const peerKey = 7474274384433719489 // the server key of INTEROP A.10

type peer struct {
	t   *testing.T
	ep  *mptcp.Endpoint
	now time.Duration
	buf []byte
	seq uint32 // the peer's next sequence number
	ack uint32 // what the peer acknowledges
}

func newPeer(t *testing.T, cfg mptcp.Config) *peer {
	t.Helper()
	if cfg.Rand == nil {
		cfg.Rand = rand.NewPCG(1, 2)
	}
	cfg.LocalAddrs = []netip.Addr{ourAddr.Addr()}
	cfg.PathManager = "manual"
	ep, err := mptcp.NewEndpoint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &peer{t: t, ep: ep, buf: make([]byte, 65536)}
}

// send delivers a segment from the peer.
func (p *peer) send(from, to netip.AddrPort, flags uint8, seq, ack uint32, o *wire.Options, payload []byte) {
	p.t.Helper()
	if o == nil {
		o = &wire.Options{}
	}
	plan := wire.PlanOptions(o, flags, len(payload) > 0)
	pkt := make([]byte, wire.IPv4HeaderLen+wire.TCPHeaderLen+plan.Len+len(payload))
	tcpb := pkt[wire.IPv4HeaderLen:]
	plan.Encode(tcpb[wire.TCPHeaderLen:], o)
	h := wire.TCPHeader{SrcPort: from.Port(), DstPort: to.Port(), Seq: seq, Ack: ack, Flags: flags, Window: 60000}
	hl := h.Encode(tcpb, plan.Len)
	copy(tcpb[hl:], payload)
	ip := wire.IPv4Header{TTL: 64, Protocol: wire.ProtocolTCP, Src: from.Addr().As4(), Dst: to.Addr().As4(), PayloadLen: len(tcpb)}
	ip.Encode(pkt)
	wire.SetTCPChecksum(tcpb[:hl], cksum.IPv4PseudoHeader(ip.Src, ip.Dst, wire.ProtocolTCP, uint16(len(tcpb))), cksum.Sum(payload, 0))
	p.ep.HandleSegment(p.now, pkt)
}

// recv returns the next segment the endpoint sends.
func (p *peer) recv() *wire.Segment {
	p.t.Helper()
	n := p.ep.PollTransmit(p.now, p.buf)
	if n == 0 {
		p.t.Fatalf("at %v: expected a segment, got nothing", p.now)
	}
	pkt := append([]byte(nil), p.buf[:n]...)
	seg := new(wire.Segment) // each call returns its own segment
	if err := wire.ParseSegment(pkt, seg, nil); err != nil {
		p.t.Fatalf("unparsable segment: %v", err)
	}
	if !seg.ChecksumOK(cksum.Sum(seg.Payload(), 0)) {
		p.t.Fatal("bad TCP checksum")
	}
	return seg
}

func (p *peer) nothing() {
	p.t.Helper()
	if n := p.ep.PollTransmit(p.now, p.buf); n != 0 {
		var s wire.Segment
		_ = wire.ParseSegment(p.buf[:n], &s, nil)
		p.t.Fatalf("at %v: expected nothing, got flags %#x options %v", p.now, s.TCP.Flags(), s.Options.Has)
	}
}

func hasOnly(t *testing.T, s *wire.Segment, want wire.OptionSet) {
	t.Helper()
	if got := s.Options.Has & wire.OptMPTCP; got != want {
		t.Fatalf("MPTCP options %v, want %v", got, want)
	}
}

// dial runs the client handshake against a kernel-like server.
func dial(t *testing.T, cfg mptcp.Config) (*peer, *mptcp.Conn, uint64) {
	t.Helper()
	p := newPeer(t, cfg)
	c, err := p.ep.Dial(0, ourAddr, peerAddr)
	if err != nil {
		t.Fatal(err)
	}
	syn := p.recv()
	hasOnly(t, syn, wire.OptMPCapableSYN)
	mpc := syn.Options.MPCapable
	if mpc.Version != 1 || mpc.Flags&wire.MPCCryptoMask != wire.MPCHMACSHA256 {
		t.Fatalf("SYN MP_CAPABLE version %d flags %#x", mpc.Version, mpc.Flags)
	}
	p.ack = syn.TCP.Seq() + 1
	p.seq = 5000
	p.now = time.Millisecond
	o := &wire.Options{Has: wire.OptMSS | wire.OptSACKPermitted | wire.OptMPCapableSYNACK, MSS: 1460,
		MPCapable: wire.MPCapable{Version: 1, Flags: wire.MPCHMACSHA256, SenderKey: peerKey}}
	p.send(peerAddr, ourAddr, wire.FlagSYN|wire.FlagACK, p.seq, p.ack, o, nil)
	p.seq++
	third := p.recv()
	hasOnly(t, third, wire.OptMPCapableACK)
	if third.Options.MPCapable.ReceiverKey != peerKey || third.Options.MPCapable.SenderKey == 0 {
		t.Fatalf("third ACK keys %+v", third.Options.MPCapable)
	}
	if !c.Established() || !c.MPTCP() {
		t.Fatal("not established")
	}
	return p, c, third.Options.MPCapable.SenderKey
}

// TestClientHandshakeAsLinux: SYN with MP_CAPABLE(4), third ACK with both
// keys (20), MP_CAPABLE with data (22) on the first data segment until
// the server's DSS arrives, then DSS mappings with 64-bit DSNs (INTEROP
// B.1, cf-1path.pcap).
func TestClientHandshakeAsLinux(t *testing.T) {
	p, c, key := dial(t, mptcp.Config{})
	_, idsn := wire.TokenAndIDSN(key)
	p.now = 2 * time.Millisecond
	if n, _ := c.Write(make([]byte, 3000)); n != 3000 {
		t.Fatal("write")
	}
	first := p.recv()
	hasOnly(t, first, wire.OptMPCapableData)
	mpc := first.Options.MPCapable
	if mpc.ReceiverKey != peerKey || int(mpc.DataLen) != len(first.Payload()) || first.Options.MPCapable.HasChecksum {
		t.Fatalf("first data MP_CAPABLE %+v with %d bytes", mpc, len(first.Payload()))
	}
	if first.TCP.Seq() != p.ack {
		t.Fatalf("first data at seq %d, want ISN+1 %d", first.TCP.Seq(), p.ack)
	}
	// The rest of the data before the DSS ack: normal 64-bit mappings.
	second := p.recv()
	hasOnly(t, second, wire.OptDSS)
	d := second.Options.DSS
	if !d.HasMap() || d.Flags&wire.DSSDSN64 == 0 || d.DSN != idsn+1+uint64(len(first.Payload())) {
		t.Fatalf("second segment DSS %+v, want a 64-bit mapping at IDSN+1+%d", d, len(first.Payload()))
	}
	// The server's DSS ack (64-bit, mirroring the client's mapping).
	p.ack += uint32(len(first.Payload()) + len(second.Payload()))
	_, peerIDSN := wire.TokenAndIDSN(peerKey)
	o := &wire.Options{Has: wire.OptDSS, DSS: wire.DSS{Flags: wire.DSSDataAck | wire.DSSAck64, DataAck: idsn + 1 + 3000}}
	p.send(peerAddr, ourAddr, wire.FlagACK, p.seq, p.ack, o, nil)
	// Server data: the client acknowledges it at the data level.
	payload := []byte("hello from the server")
	o = &wire.Options{Has: wire.OptDSS, DSS: wire.DSS{Flags: wire.DSSDataAck | wire.DSSAck64 | wire.DSSMap | wire.DSSDSN64,
		DataAck: idsn + 1 + 3000, DSN: peerIDSN + 1, SubflowSeq: 1, DataLen: uint16(len(payload))}}
	p.send(peerAddr, ourAddr, wire.FlagACK|wire.FlagPSH, p.seq, p.ack, o, payload)
	ack := p.recv()
	hasOnly(t, ack, wire.OptDSS)
	if ack.Options.DSS.DataAck != peerIDSN+1+uint64(len(payload)) || ack.Options.DSS.Flags&wire.DSSAck64 == 0 {
		t.Fatalf("DATA_ACK %+v, want 64-bit %d", ack.Options.DSS, peerIDSN+1+uint64(len(payload)))
	}
	buf := make([]byte, 100)
	if n, _ := c.Read(buf); string(buf[:n]) != string(payload) {
		t.Fatalf("read %q", buf[:n])
	}
}

// TestServerHandshakeAsLinux: the SYN/ACK carries our key (12 bytes), the
// third ACK completes, and our first data carries a DSS with a 32-bit
// DATA_ACK of the client's IDSN+1 and a 64-bit mapping at our IDSN+1
// (INTEROP B.1, sf-1path.pcap: 0x0d).
func TestServerHandshakeAsLinux(t *testing.T) {
	p := newPeer(t, mptcp.Config{})
	p.ep.Listen(5001)
	client := netip.MustParseAddrPort("10.0.1.9:40000")
	server := netip.AddrPortFrom(ourAddr.Addr(), 5001)
	o := &wire.Options{Has: wire.OptMSS | wire.OptSACKPermitted | wire.OptMPCapableSYN, MSS: 1460,
		MPCapable: wire.MPCapable{Version: 1, Flags: wire.MPCHMACSHA256}}
	p.send(client, server, wire.FlagSYN, 100, 0, o, nil)
	synack := p.recv()
	hasOnly(t, synack, wire.OptMPCapableSYNACK)
	ourKey := synack.Options.MPCapable.SenderKey
	_, ourIDSN := wire.TokenAndIDSN(ourKey)
	// Until the third ACK only a request record exists, as Linux's
	// request sockets: no connection to accept yet.
	if ev, ok := p.ep.PollEvent(); ok || len(p.ep.Conns()) != 0 {
		t.Fatalf("event %v and %d connections after the SYN", ev, len(p.ep.Conns()))
	}
	const clientKey = 0x1122334455667788
	_, clientIDSN := wire.TokenAndIDSN(clientKey)
	o = &wire.Options{Has: wire.OptMPCapableACK, MPCapable: wire.MPCapable{Version: 1, Flags: wire.MPCHMACSHA256,
		SenderKey: clientKey, ReceiverKey: ourKey}}
	p.send(client, server, wire.FlagACK, 101, synack.TCP.Seq()+1, o, nil)
	ev, ok := p.ep.PollEvent()
	if !ok || ev.Kind != mptcp.EventAccepted {
		t.Fatalf("event %v after the third ACK", ev)
	}
	c := ev.Conn
	if !c.Established() {
		t.Fatal("not established after the third ACK")
	}
	c.Write([]byte("server first"))
	data := p.recv()
	hasOnly(t, data, wire.OptDSS)
	d := data.Options.DSS
	if d.Flags != wire.DSSDataAck|wire.DSSMap|wire.DSSDSN64 || d.DataAck != uint64(uint32(clientIDSN+1)) ||
		d.DSN != ourIDSN+1 || d.SubflowSeq != 1 || int(d.DataLen) != len("server first") {
		t.Fatalf("first server DSS %+v", d)
	}
}

// TestChecksumFlags: the A flag in the SYN when we want checksums, and in
// the third ACK when either side asked (INTEROP B.3).
func TestChecksumFlags(t *testing.T) {
	p := newPeer(t, mptcp.Config{Checksum: true})
	if _, err := p.ep.Dial(0, ourAddr, peerAddr); err != nil {
		t.Fatal(err)
	}
	syn := p.recv()
	if syn.Options.MPCapable.Flags&wire.MPCChecksumRequired == 0 {
		t.Fatal("SYN without the A flag")
	}
	// A server that does not ask: checksums are still on (either side).
	o := &wire.Options{Has: wire.OptMPCapableSYNACK, MPCapable: wire.MPCapable{Version: 1, Flags: wire.MPCHMACSHA256, SenderKey: peerKey}}
	p.send(peerAddr, ourAddr, wire.FlagSYN|wire.FlagACK, 5000, syn.TCP.Seq()+1, o, nil)
	third := p.recv()
	if third.Options.MPCapable.Flags&wire.MPCChecksumRequired == 0 {
		t.Fatal("third ACK without the A flag")
	}
}

// TestFallbackOnSYNACKWithoutMPTCP (INTEROP B.2, fallback-synack.pcap).
func TestFallbackOnSYNACKWithoutMPTCP(t *testing.T) {
	p := newPeer(t, mptcp.Config{})
	c, _ := p.ep.Dial(0, ourAddr, peerAddr)
	syn := p.recv()
	p.send(peerAddr, ourAddr, wire.FlagSYN|wire.FlagACK, 5000, syn.TCP.Seq()+1, &wire.Options{Has: wire.OptMSS, MSS: 1460}, nil)
	ack := p.recv()
	hasOnly(t, ack, 0)
	if c.MPTCP() || c.Fallback() == nil {
		t.Fatal("did not fall back")
	}
	c.Write([]byte("plain"))
	d := p.recv()
	hasOnly(t, d, 0)
	if string(d.Payload()) != "plain" {
		t.Fatalf("payload %q", d.Payload())
	}
}

// TestJoinAsLinux: MP_JOIN SYN (12) with the peer's token, the SYN/ACK's
// truncated HMAC verified, the third ACK (24) with the 160-bit HMAC, and
// no data until the peer acknowledges it (RFC 8684 §3.2, INTEROP A.2, B.4).
func TestJoinAsLinux(t *testing.T) {
	p, c, ourKey := dial(t, mptcp.Config{})
	_, idsn := wire.TokenAndIDSN(ourKey)
	// Full establishment: the server's DSS ack.
	o := &wire.Options{Has: wire.OptDSS, DSS: wire.DSS{Flags: wire.DSSDataAck, DataAck: uint64(uint32(idsn + 1))}}
	p.send(peerAddr, ourAddr, wire.FlagACK, p.seq, p.ack, o, nil)
	p.nothing()
	local := netip.MustParseAddrPort("10.0.2.2:61002")
	remote := netip.MustParseAddrPort("10.0.2.1:5001")
	id, err := c.OpenSubflow(p.now, local, remote, true)
	if err != nil {
		t.Fatal(err)
	}
	syn := p.recv()
	hasOnly(t, syn, wire.OptMPJoinSYN)
	j := syn.Options.MPJoin
	if j.Token != wire.Token(peerKey) || !j.Backup {
		t.Fatalf("MP_JOIN SYN %+v, want token %d and backup", j, wire.Token(peerKey))
	}
	const peerNonce = 969048346
	good := wire.JoinHMAC64(peerKey, ourKey, peerNonce, j.Nonce)
	o = &wire.Options{Has: wire.OptMPJoinSYNACK, MPJoin: wire.MPJoin{AddrID: 1, TruncatedHMAC: good, Nonce: peerNonce}}
	p.send(remote, local, wire.FlagSYN|wire.FlagACK, 9000, syn.TCP.Seq()+1, o, nil)
	third := p.recv()
	hasOnly(t, third, wire.OptMPJoinACK)
	if third.Options.MPJoin.HMAC != wire.JoinHMAC160(ourKey, peerKey, j.Nonce, peerNonce) {
		t.Fatal("third ACK HMAC wrong")
	}
	// Data written now goes to the initial subflow only: the join is not
	// confirmed yet.
	c.Write(make([]byte, 100))
	if s := p.recv(); s.DstAddr() == remote.Addr() {
		t.Fatalf("data on the joined subflow before the 4th ACK")
	}
	p.nothing()
	// The peer's ACK of the third ACK confirms the join: its data flows.
	p.send(remote, local, wire.FlagACK, 9001, third.TCP.Seq(), &wire.Options{Has: wire.OptDSS,
		DSS: wire.DSS{Flags: wire.DSSDataAck, DataAck: uint64(uint32(c.LocalIDSN() + 1))}}, nil)
	count := func() (onJoin, prio int) {
		for n := p.ep.PollTransmit(p.now, p.buf); n > 0; n = p.ep.PollTransmit(p.now, p.buf) {
			var s wire.Segment
			if err := wire.ParseSegment(p.buf[:n], &s, nil); err == nil && s.DstAddr() == remote.Addr() {
				if len(s.Payload()) > 0 {
					onJoin++
				}
				if s.Options.Has.Has(wire.OptMPPrio) && !s.Options.MPPrio.Backup {
					prio++
				}
			}
		}
		return
	}
	c.Write(make([]byte, 20000))
	if n, _ := count(); n != 0 {
		t.Errorf("%d data segments on a backup subflow while the initial one works (INTEROP B.9)", n)
	}
	// Back to a regular subflow: MP_PRIO(B=0) tells the peer, data flows.
	if err := c.SetBackup(id, false); err != nil {
		t.Fatal(err)
	}
	c.Write(make([]byte, 20000))
	if n, prio := count(); n == 0 || prio != 1 {
		t.Errorf("after SetBackup(false): %d data segments, %d MP_PRIO on the joined subflow", n, prio)
	}
}

// TestJoinBadHMACIsReset: a wrong truncated HMAC in the SYN/ACK gets a RST
// with MP_TCPRST reason 1 (INTEROP A.10).
func TestJoinBadHMACIsReset(t *testing.T) {
	p, c, ourKey := dial(t, mptcp.Config{})
	_, idsn := wire.TokenAndIDSN(ourKey)
	o := &wire.Options{Has: wire.OptDSS, DSS: wire.DSS{Flags: wire.DSSDataAck, DataAck: uint64(uint32(idsn + 1))}}
	p.send(peerAddr, ourAddr, wire.FlagACK, p.seq, p.ack, o, nil)
	local := netip.MustParseAddrPort("10.0.2.2:61002")
	remote := netip.MustParseAddrPort("10.0.2.1:5001")
	c.OpenSubflow(p.now, local, remote, false)
	syn := p.recv()
	o = &wire.Options{Has: wire.OptMPJoinSYNACK, MPJoin: wire.MPJoin{AddrID: 1, TruncatedHMAC: 12345, Nonce: 1}}
	p.send(remote, local, wire.FlagSYN|wire.FlagACK, 9000, syn.TCP.Seq()+1, o, nil)
	rst := p.recv()
	if rst.TCP.Flags()&wire.FlagRST == 0 || !rst.Options.Has.Has(wire.OptTCPRST) || rst.Options.TCPRST.Reason != 1 {
		t.Fatalf("flags %#x options %v %+v, want RST with MP_TCPRST reason 1", rst.TCP.Flags(), rst.Options.Has, rst.Options.TCPRST)
	}
	if c.Stats.JoinHMACFailures != 1 || !c.MPTCP() {
		t.Errorf("HMAC failures %d; the connection must survive", c.Stats.JoinHMACFailures)
	}
}

// TestJoinUnknownTokenIsReset: a listener answers an MP_JOIN SYN with an
// unknown token with RST + MP_TCPRST reason 1 (INTEROP B.4).
func TestJoinUnknownTokenIsReset(t *testing.T) {
	p := newPeer(t, mptcp.Config{})
	o := &wire.Options{Has: wire.OptMPJoinSYN, MPJoin: wire.MPJoin{Token: 42, Nonce: 7}}
	p.send(netip.MustParseAddrPort("10.0.2.9:40000"), netip.AddrPortFrom(ourAddr.Addr(), 5001), wire.FlagSYN, 1, 0, o, nil)
	rst := p.recv()
	if rst.TCP.Flags()&wire.FlagRST == 0 || rst.Options.TCPRST.Reason != 1 {
		t.Fatalf("flags %#x %+v", rst.TCP.Flags(), rst.Options.TCPRST)
	}
}

// TestAddAddrEcho: a valid ADD_ADDR is echoed; a bad HMAC is ignored
// silently (INTEROP A.10, B.6).
func TestAddAddrEcho(t *testing.T) {
	p, _, ourKey := dial(t, mptcp.Config{})
	addr := netip.MustParseAddr("10.0.2.1")
	bad := &wire.Options{Has: wire.OptAddAddr, AddAddr: wire.AddAddr{ID: 1, Addr: addr, HMAC: 99}}
	p.send(peerAddr, ourAddr, wire.FlagACK, p.seq, p.ack, bad, nil)
	p.nothing()
	good := &wire.Options{Has: wire.OptAddAddr, AddAddr: wire.AddAddr{ID: 1, Addr: addr,
		HMAC: wire.AddAddrHMAC(peerKey, ourKey, 1, addr, 0)}}
	p.send(peerAddr, ourAddr, wire.FlagACK, p.seq, p.ack, good, nil)
	echo := p.recv()
	hasOnly(t, echo, wire.OptAddAddr)
	if a := echo.Options.AddAddr; !a.Echo || a.ID != 1 || a.Addr != addr {
		t.Fatalf("echo %+v", a)
	}
}

// TestFastCloseReceived: MP_FASTCLOSE with our key resets the connection
// (RFC 8684 §3.5, INTEROP B.8); with another key it is ignored.
func TestFastCloseReceived(t *testing.T) {
	p, c, ourKey := dial(t, mptcp.Config{CloseTimeout: 10 * time.Second})
	o := &wire.Options{Has: wire.OptFastClose | wire.OptTCPRST, FastClose: wire.FastClose{ReceiverKey: ourKey + 1}}
	p.send(peerAddr, ourAddr, wire.FlagRST, p.seq, 0, o, nil)
	// A RST at exactly RCV.NXT resets the subflow anyway; without our key
	// it is not a fast close: the connection waits for a new subflow
	// (make-after-break, INTEROP B.9), then times out.
	if closed, _ := c.Closed(); closed {
		t.Fatal("closed at once by a RST without MP_FASTCLOSE")
	}
	p.nothing()
	p.now = 12 * time.Second
	p.ep.HandleTimeout(p.now)
	closed, err := c.Closed()
	var re *mptcp.ResetError
	if !closed || !errors.Is(err, mptcp.ErrTimeout) {
		t.Fatalf("after the close timeout: closed %v err %v", closed, err)
	}
	p2, c2, key2 := dial(t, mptcp.Config{})
	o = &wire.Options{Has: wire.OptFastClose | wire.OptTCPRST, FastClose: wire.FastClose{ReceiverKey: key2}}
	p2.send(peerAddr, ourAddr, wire.FlagRST, p2.seq, 0, o, nil)
	if closed, err := c2.Closed(); !closed || !errors.As(err, &re) || !re.FastClose {
		t.Fatalf("closed %v err %v, want a fast close", closed, err)
	}
}

// TestCloseWithUnreadDataSendsFastClose: RST + MP_FASTCLOSE (the peer's
// key) + MP_TCPRST, as Linux on close() with unread data (INTEROP B.8,
// linger0.pcap).
func TestCloseWithUnreadDataSendsFastClose(t *testing.T) {
	p, c, ourKey := dial(t, mptcp.Config{})
	_, idsn := wire.TokenAndIDSN(ourKey)
	_, peerIDSN := wire.TokenAndIDSN(peerKey)
	o := &wire.Options{Has: wire.OptDSS, DSS: wire.DSS{Flags: wire.DSSDataAck | wire.DSSMap | wire.DSSDSN64,
		DataAck: uint64(uint32(idsn + 1)), DSN: peerIDSN + 1, SubflowSeq: 1, DataLen: 5}}
	p.send(peerAddr, ourAddr, wire.FlagACK, p.seq, p.ack, o, []byte("12345"))
	p.recv() // the DATA_ACK
	c.Close()
	rst := p.recv()
	if rst.TCP.Flags()&wire.FlagRST == 0 || !rst.Options.Has.Has(wire.OptFastClose|wire.OptTCPRST) ||
		rst.Options.FastClose.ReceiverKey != peerKey {
		t.Fatalf("flags %#x options %v key %d", rst.TCP.Flags(), rst.Options.Has, rst.Options.FastClose.ReceiverKey)
	}
}

// TestDataFINEncoding: after CloseWrite, a payload-less DSS with F, a
// 64-bit DSN after the data, subflow sequence 0 and data-level length 1
// (INTEROP A.3).
func TestDataFINEncoding(t *testing.T) {
	p, c, ourKey := dial(t, mptcp.Config{})
	_, idsn := wire.TokenAndIDSN(ourKey)
	o := &wire.Options{Has: wire.OptDSS, DSS: wire.DSS{Flags: wire.DSSDataAck | wire.DSSAck64, DataAck: idsn + 1}}
	p.send(peerAddr, ourAddr, wire.FlagACK, p.seq, p.ack, o, nil)
	c.CloseWrite()
	fin := p.recv()
	d := fin.Options.DSS
	if len(fin.Payload()) != 0 || !d.DataFIN() || d.Flags&wire.DSSDSN64 == 0 || d.DSN != idsn+1 || d.SubflowSeq != 0 || d.DataLen != 1 {
		t.Fatalf("DATA_FIN segment: %d bytes, DSS %+v", len(fin.Payload()), d)
	}
	if fin.TCP.Flags()&wire.FlagFIN != 0 {
		t.Fatal("TCP FIN before the DATA_FIN exchange")
	}
}

// TestDataFINRidesLastMapping: data written and CloseWrite called before
// it is sent: the DATA_FIN goes in the last data segment's mapping (F, the
// data-level length one more than the data), as Linux's does when it
// closes with data to send, and no payload-less DATA_FIN follows; a Linux
// peer takes that DATA_FIN with the data instead of in its MPTCP worker.
func TestDataFINRidesLastMapping(t *testing.T) {
	for _, csum := range []bool{false, true} {
		p, c, ourKey := dial(t, mptcp.Config{Checksum: csum})
		_, idsn := wire.TokenAndIDSN(ourKey)
		o := &wire.Options{Has: wire.OptDSS, DSS: wire.DSS{Flags: wire.DSSDataAck | wire.DSSAck64, DataAck: idsn + 1}}
		p.send(peerAddr, ourAddr, wire.FlagACK, p.seq, p.ack, o, nil)
		data := make([]byte, 3000)
		if n, _ := c.Write(data); n != len(data) {
			t.Fatalf("wrote %d", n)
		}
		c.CloseWrite()
		var last *wire.Segment
		sent := 0
		for sent < len(data) {
			last = p.recv()
			sent += len(last.Payload())
		}
		d := last.Options.DSS
		if !d.DataFIN() || d.DSN+uint64(d.DataLen)-1 != idsn+1+uint64(len(data)) || int(d.DataLen) != len(last.Payload())+1 {
			t.Fatalf("checksums %v: the last data segment (%d bytes) has DSS %+v, want F and the data-level length one more than the mapping's data",
				csum, len(last.Payload()), d)
		}
		if csum {
			ph := cksum.DSSPseudoHeader(d.DSN, d.SubflowSeq, d.DataLen)
			if cksum.Combine(ph, cksum.Sum(data[d.DSN-idsn-1:], 0)).Checksum() != d.Checksum {
				t.Fatalf("DSS checksum %#x does not cover the DATA_FIN's length", d.Checksum)
			}
		}
		p.nothing() // no payload-less DATA_FIN after the one in the mapping
	}
}

// joinSecondPath opens a regular subflow from 10.0.2.2:61002 to
// 10.0.2.1:5001 and completes MP_JOIN as a Linux peer does (SYN/ACK with
// its truncated HMAC, then the ACK of our third ACK carrying dataAck), so
// the subflow is usable. The peer's sequence numbers on it start at
// joinPeerISN+1; ack is what the peer acknowledges there.
func joinSecondPath(t *testing.T, p *peer, c *mptcp.Conn, ourKey uint64, dataAck *wire.Options) (local, remote netip.AddrPort, ack uint32) {
	t.Helper()
	local = netip.MustParseAddrPort("10.0.2.2:61002")
	remote = netip.MustParseAddrPort("10.0.2.1:5001")
	if _, err := c.OpenSubflow(p.now, local, remote, false); err != nil {
		t.Fatal(err)
	}
	syn := p.recv()
	const peerNonce = 969048346
	o := &wire.Options{Has: wire.OptMPJoinSYNACK, MPJoin: wire.MPJoin{AddrID: 1,
		TruncatedHMAC: wire.JoinHMAC64(peerKey, ourKey, peerNonce, syn.Options.MPJoin.Nonce), Nonce: peerNonce}}
	p.send(remote, local, wire.FlagSYN|wire.FlagACK, joinPeerISN, syn.TCP.Seq()+1, o, nil)
	ack = p.recv().TCP.Seq() // our third ACK
	p.send(remote, local, wire.FlagACK, joinPeerISN+1, ack, dataAck, nil)
	return local, remote, ack
}

const joinPeerISN = 9000

// TestChecksumBytesPastBufferNotAcked: with DSS checksums, bytes that the
// receive ring cannot store are not acknowledged at the TCP level either,
// so the peer resends them. While a data-level hole waits for another
// subflow, a subflow's TCP window keeps moving with its own sequence
// numbers, and Linux's MPTCP retransmission resends whole fragments past
// the announced window when checksums are on: acking bytes the data level
// dropped lost them until the next MPTCP-level timeout.
func TestChecksumBytesPastBufferNotAcked(t *testing.T) {
	const bufSize = 16 << 10
	p, c, ourKey := dial(t, mptcp.Config{Checksum: true, RecvBuffer: bufSize})
	_, ourIDSN := wire.TokenAndIDSN(ourKey)
	_, peerIDSN := wire.TokenAndIDSN(peerKey)
	dataAck := &wire.Options{Has: wire.OptDSS, DSS: wire.DSS{Flags: wire.DSSDataAck | wire.DSSAck64, DataAck: ourIDSN + 1}}
	p.send(peerAddr, ourAddr, wire.FlagACK, p.seq, p.ack, dataAck, nil)
	// A second subflow, joined as Linux does (TestJoinAsLinux).
	local, remote, ack2 := joinSecondPath(t, p, c, ourKey, dataAck)

	data := make([]byte, 48000)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	// Mappings of 1000 bytes. The first waits on the initial subflow (a
	// slow path); the second subflow carries the others, mapping k at its
	// stream offset (k-1)*1000. A segment may start anywhere in a mapping
	// (a resend from the acknowledged byte) and repeats it, as Linux does.
	const mapLen = 1000
	mapping := func(k int) *wire.Options {
		start, ssn := k*mapLen, uint32((k-1)*mapLen+1)
		if k == 0 {
			ssn = 1
		}
		dsn := peerIDSN + 1 + uint64(start)
		return &wire.Options{Has: wire.OptDSS, DSS: wire.DSS{
			Flags:   wire.DSSDataAck | wire.DSSAck64 | wire.DSSMap | wire.DSSDSN64,
			DataAck: ourIDSN + 1, DSN: dsn, SubflowSeq: ssn, DataLen: mapLen, HasChecksum: true,
			Checksum: cksum.Sum(data[start:start+mapLen], cksum.DSSPseudoHeader(dsn, ssn, mapLen)).Checksum()}}
	}
	sendOn2 := func(off int) int { // off: offset in the second subflow's stream
		k := off/mapLen + 1 // mapping k: stream [(k-1)*mapLen, k*mapLen), data one mapping further
		p.send(remote, local, wire.FlagACK, joinPeerISN+1+uint32(off), ack2, mapping(k), data[off+mapLen:(k+1)*mapLen])
		return k * mapLen
	}
	acked2 := 0 // second subflow's bytes acknowledged at the TCP level
	drain := func() {
		for n := p.ep.PollTransmit(p.now, p.buf); n > 0; n = p.ep.PollTransmit(p.now, p.buf) {
			var s wire.Segment
			if err := wire.ParseSegment(p.buf[:n], &s, nil); err != nil {
				t.Fatal(err)
			}
			if s.DstAddr() == remote.Addr() && s.TCP.Flags()&wire.FlagACK != 0 {
				acked2 = max(acked2, int(s.TCP.Ack()-joinPeerISN-1))
			}
		}
	}
	stream2 := len(data) - mapLen
	for off := 0; off < stream2; {
		off = sendOn2(off)
		drain()
	}
	p.now += time.Second // past any delayed ACK
	p.ep.HandleTimeout(p.now)
	drain()
	// The ring holds the buffer and a slack; what lies past it was not
	// stored and must not be acknowledged.
	if acked2 >= stream2 || acked2 < bufSize {
		t.Fatalf("second subflow: %d of %d bytes acknowledged with a %d-byte buffer behind a hole", acked2, stream2, bufSize)
	}
	// The hole fills; the application reads; the second subflow resends
	// from its acknowledged byte (as TCP does): every byte arrives once.
	p.send(peerAddr, ourAddr, wire.FlagACK, p.seq, p.ack, mapping(0), data[:mapLen])
	got := make([]byte, 0, len(data))
	rb := make([]byte, 4096)
	for round := 0; len(got) < len(data); round++ {
		if round > 1000 {
			t.Fatalf("stuck at %d of %d bytes read, %d acknowledged on the second subflow", len(got), len(data), acked2)
		}
		for n, _ := c.Read(rb); n > 0; n, _ = c.Read(rb) {
			got = append(got, rb[:n]...)
		}
		drain()
		for off := acked2; off < min(stream2, acked2+bufSize); {
			off = sendOn2(off)
		}
		p.now += 10 * time.Millisecond
		p.ep.HandleTimeout(p.now)
		drain()
	}
	if string(got) != string(data) {
		t.Fatal("the bytes read differ from the bytes sent")
	}
	if c.Stats.ChecksumFailures != 0 || c.Fallback() != nil {
		t.Fatalf("checksum failures %d, fallback %v", c.Stats.ChecksumFailures, c.Fallback())
	}
}

// TestDataFINJoinsMappingInFlight: Linux adds the DATA_FIN to the mapping
// of the segment it is writing when that mapping ends where the DATA_FIN
// goes (mptcp_write_data_fin: the flag set, the data-level length one
// more), so the last segments of a mapping whose first ones left before
// the application closed announce it again with the DATA_FIN. That is the
// same mapping (RFC 8684 §3.3.1: the DATA_FIN's byte is not data, Linux's
// receiver compares the length without it), not a conflicting one: seen
// with mpbench --rr, where resetting the subflow for it lost the response's
// tail and its DATA_FIN.
func TestDataFINJoinsMappingInFlight(t *testing.T) {
	for _, csum := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "checksums"}[csum], func(t *testing.T) {
			p, c, ourKey := dial(t, mptcp.Config{Checksum: csum})
			_, ourIDSN := wire.TokenAndIDSN(ourKey)
			_, peerIDSN := wire.TokenAndIDSN(peerKey)
			dataAck := &wire.Options{Has: wire.OptDSS, DSS: wire.DSS{Flags: wire.DSSDataAck | wire.DSSAck64, DataAck: ourIDSN + 1}}
			p.send(peerAddr, ourAddr, wire.FlagACK, p.seq, p.ack, dataAck, nil)
			// A joined subflow, as mpbench's client opens one: fallback is
			// no way out any more (RFC 8684 §3.7).
			joinSecondPath(t, p, c, ourKey, dataAck)

			data := make([]byte, 3500)
			rng := rand.New(rand.NewPCG(5, 6))
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			// Mapping 1: [0, 2000); mapping 2: [2000, 3500), whose last
			// segment carries the DATA_FIN in the same mapping.
			mapping := func(start, n int, fin bool) *wire.Options {
				dsn, ssn, l := peerIDSN+1+uint64(start), uint32(start+1), uint16(n)
				flags := uint8(wire.DSSDataAck | wire.DSSAck64 | wire.DSSMap | wire.DSSDSN64)
				if fin {
					flags |= wire.DSSDataFIN
					l++
				}
				return &wire.Options{Has: wire.OptDSS, DSS: wire.DSS{Flags: flags, DataAck: ourIDSN + 1,
					DSN: dsn, SubflowSeq: ssn, DataLen: l, HasChecksum: csum,
					Checksum: cksum.Sum(data[start:start+n], cksum.DSSPseudoHeader(dsn, ssn, l)).Checksum()}}
			}
			seg := func(off, n int, m *wire.Options) {
				p.send(peerAddr, ourAddr, wire.FlagACK, p.seq+uint32(off), p.ack, m, data[off:off+n])
			}
			seg(0, 1000, mapping(0, 2000, false))
			seg(1000, 1000, mapping(0, 2000, false))
			seg(2000, 1000, mapping(2000, 1500, false))
			seg(3000, 500, mapping(2000, 1500, true)) // the application closed meanwhile
			p.now += time.Second
			p.ep.HandleTimeout(p.now)
			var ack uint64
			for n := p.ep.PollTransmit(p.now, p.buf); n > 0; n = p.ep.PollTransmit(p.now, p.buf) {
				var s wire.Segment
				if err := wire.ParseSegment(p.buf[:n], &s, nil); err != nil {
					t.Fatal(err)
				}
				if s.TCP.Flags()&wire.FlagRST != 0 {
					t.Fatalf("RST to %v (MP_TCPRST reason %d)", s.DstAddr(), s.Options.TCPRST.Reason)
				}
				if s.Options.Has.Has(wire.OptDSS) && s.Options.DSS.HasAck() {
					ack = max(ack, s.Options.DSS.DataAck)
				}
			}
			if want := peerIDSN + 1 + uint64(len(data)) + 1; ack != want {
				t.Errorf("DATA_ACK %d, want %d (the data and the DATA_FIN)", ack-peerIDSN-1, want-peerIDSN-1)
			}
			got := make([]byte, 8192)
			n, err := c.Read(got)
			if string(got[:n]) != string(data) {
				t.Fatalf("read %d of %d bytes (%v)", n, len(data), err)
			}
			if _, err := c.Read(got); err != io.EOF {
				t.Errorf("after the data: %v, want EOF", err)
			}
			if c.Stats.MappingMismatch != 0 || c.Stats.ChecksumFailures != 0 || c.Fallback() != nil || !c.MPTCP() {
				t.Errorf("mismatches %d, checksum failures %d, fallback %v", c.Stats.MappingMismatch, c.Stats.ChecksumFailures, c.Fallback())
			}
		})
	}
}

// TestRedialTimestampsNewer: each new connection on a 4-tuple starts with
// a TSval newer than the last one its previous incarnation sent. A Linux
// server holds the TIME-WAIT of every --rr response (it closes first) and
// answers a SYN with an older TSval by an ACK (PAWS, RFC 7323 §5): with a
// random offset per connection, half the reused ports cost a RST and a
// one-second SYN timeout.
func TestRedialTimestampsNewer(t *testing.T) {
	p := newPeer(t, mptcp.Config{})
	var last uint32
	for i := range 16 {
		c, err := p.ep.Dial(p.now, ourAddr, peerAddr)
		if err != nil {
			t.Fatal(err)
		}
		syn := p.recv()
		if i > 0 && int32(syn.Options.TSVal-last) <= 0 {
			t.Fatalf("incarnation %d: SYN TSval %d, the previous one sent %d", i, syn.Options.TSVal, last)
		}
		last = syn.Options.TSVal
		c.Abort()
		for n := p.ep.PollTransmit(p.now, p.buf); n > 0; n = p.ep.PollTransmit(p.now, p.buf) {
			var s wire.Segment
			if wire.ParseSegment(p.buf[:n], &s, nil) == nil && s.Options.Has.Has(wire.OptTimestamps) {
				last = s.Options.TSVal
			}
		}
		p.now += 10 * time.Millisecond
	}
}

// TestServerInOrderUntilDataAck: a Linux client's MPTCP-level receive
// window starts closed (rcv_wnd_sent = its ack_seq) and opens only with its
// first DSS DATA_ACK; until then it drops data beyond its ack_seq
// (MPTcpExtNoDSSInWindow) that its subflow's TCP has acknowledged, so only
// the MPTCP-level timer could resend it. A server answering at once (the
// request came with the MP_CAPABLE data segment, a join already
// established) must therefore send only in order, on one subflow, until the
// client's first DATA_ACK (RFC 8684 §3.3.4; INTEROP B.10).
func TestServerInOrderUntilDataAck(t *testing.T) {
	p := newPeer(t, mptcp.Config{})
	p.ep.Listen(5001)
	client := netip.MustParseAddrPort("10.0.1.9:40000")
	client2 := netip.MustParseAddrPort("10.0.2.9:40001")
	server := netip.AddrPortFrom(ourAddr.Addr(), 5001)
	o := &wire.Options{Has: wire.OptMSS | wire.OptSACKPermitted | wire.OptMPCapableSYN, MSS: 1460,
		MPCapable: wire.MPCapable{Version: 1, Flags: wire.MPCHMACSHA256}}
	p.send(client, server, wire.FlagSYN, 100, 0, o, nil)
	synack := p.recv()
	ourKey := synack.Options.MPCapable.SenderKey
	_, ourIDSN := wire.TokenAndIDSN(ourKey)
	const clientKey = 0x1122334455667788
	sack := synack.TCP.Seq() + 1
	mpc := wire.MPCapable{Version: 1, Flags: wire.MPCHMACSHA256, SenderKey: clientKey, ReceiverKey: ourKey}
	p.send(client, server, wire.FlagACK, 101, sack, &wire.Options{Has: wire.OptMPCapableACK, MPCapable: mpc}, nil)
	ev, ok := p.ep.PollEvent()
	if !ok || ev.Kind != mptcp.EventAccepted {
		t.Fatalf("event %v after the third ACK", ev)
	}
	c := ev.Conn
	// The request rides in the MP_CAPABLE data segment, without a DATA_ACK.
	req := []byte("GET 65536 bytes!")
	mpc.DataLen = uint16(len(req))
	p.now += 200 * time.Microsecond
	p.send(client, server, wire.FlagACK|wire.FlagPSH, 101, sack, &wire.Options{Has: wire.OptMPCapableData, MPCapable: mpc}, req)
	drain := func() (segs []*wire.Segment) {
		for n := p.ep.PollTransmit(p.now, p.buf); n > 0; n = p.ep.PollTransmit(p.now, p.buf) {
			s := new(wire.Segment)
			if err := wire.ParseSegment(append([]byte(nil), p.buf[:n]...), s, nil); err != nil {
				t.Fatal(err)
			}
			segs = append(segs, s)
		}
		return segs
	}
	drain()
	// The client joins from its second address (MP_JOIN SYN, SYN/ACK,
	// third ACK with the HMAC); the server's 4th ACK confirms it.
	const clientNonce = 0x5eed
	p.now += 500 * time.Microsecond
	p.send(client2, server, wire.FlagSYN, 7000, 0, &wire.Options{Has: wire.OptMSS | wire.OptSACKPermitted | wire.OptMPJoinSYN, MSS: 1460,
		MPJoin: wire.MPJoin{AddrID: 2, Token: wire.Token(ourKey), Nonce: clientNonce}}, nil)
	jsa := p.recv()
	hasOnly(t, jsa, wire.OptMPJoinSYNACK)
	hmac := wire.JoinHMAC160(clientKey, ourKey, clientNonce, jsa.Options.MPJoin.Nonce)
	p.send(client2, server, wire.FlagACK, 7001, jsa.TCP.Seq()+1, &wire.Options{Has: wire.OptMPJoinACK, MPJoin: wire.MPJoin{HMAC: hmac}}, nil)
	drain()
	if n := len(c.Subflows()); n != 2 {
		t.Fatalf("%d subflows after the join, want 2", n)
	}
	got := make([]byte, 64)
	if n, _ := c.Read(got); string(got[:n]) != string(req) {
		t.Fatalf("request %q", got[:n])
	}
	// The response, all at once, and the close (an HTTP/1.0 server).
	if n, err := c.Write(make([]byte, 65536)); n != 65536 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	c.CloseWrite()
	next := ourIDSN + 1
	initialBytes := 0
	var lastInitial *wire.Segment
	for _, s := range drain() {
		if len(s.Payload()) == 0 {
			continue
		}
		d := s.Options.DSS
		if s.DstAddr() != client.Addr() {
			t.Fatalf("%d bytes at DSN +%d on the joined subflow before the client's first DATA_ACK: Linux drops them",
				len(s.Payload()), d.DSN-ourIDSN)
		}
		if !s.Options.Has.Has(wire.OptDSS) || d.Flags&wire.DSSMap == 0 {
			t.Fatal("a data segment without its mapping")
		}
		// The segment's DSN: the mapping's plus its offset in the mapping.
		if d.DSN+uint64(s.TCP.Seq()-(sack-1+d.SubflowSeq)) != next {
			t.Fatalf("data at DSN +%d, want +%d: not in order", d.DSN-ourIDSN, next-ourIDSN)
		}
		next += uint64(len(s.Payload()))
		initialBytes += len(s.Payload())
		lastInitial = s
	}
	if initialBytes == 0 {
		t.Fatal("no data sent before the client's first DATA_ACK")
	}
	// The client's first DATA_ACK (on the initial subflow) opens the
	// window: the joined subflow carries data too.
	p.now += 500 * time.Microsecond
	ackSeq := lastInitial.TCP.Seq() + uint32(len(lastInitial.Payload()))
	p.send(client, server, wire.FlagACK, 101+uint32(len(req)), ackSeq, &wire.Options{Has: wire.OptDSS,
		DSS: wire.DSS{Flags: wire.DSSDataAck | wire.DSSAck64, DataAck: next}}, nil)
	onJoin := 0
	for _, s := range drain() {
		if s.DstAddr() == client2.Addr() {
			onJoin += len(s.Payload())
		}
	}
	if onJoin == 0 {
		t.Fatal("no data on the joined subflow after the client's DATA_ACK")
	}
}

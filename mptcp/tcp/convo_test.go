package tcp_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// Conversation tests: one connection under test, a scripted peer, and
// literal timestamps. Every segment the connection sends is parsed and
// compared field by field (smoltcp's send!/recv! style).

const (
	localISS  = 1000
	remoteISS = 5000
	peerMSS   = 1000
)

var (
	localAddr  = netip.MustParseAddrPort("10.0.1.2:40000")
	remoteAddr = netip.MustParseAddrPort("10.0.1.1:5001")
)

// seg describes a segment, sent by the peer or expected from the
// connection. Fields left zero are not compared unless listed in check.
type seg struct {
	flags   uint8
	seq     uint32
	ack     uint32
	win     uint16
	payload []byte
	// options (sent or expected)
	mss    uint16
	ws     int // -1: none
	sackOK bool
	ts     *[2]uint32
	sack   []wire.SACKBlock
}

type convo struct {
	t      *testing.T
	now    time.Duration
	c      *tcp.Conn
	s      *tcp.Stream
	buf    []byte
	parsed wire.Segment
}

func newConvo(t *testing.T, cfg tcp.Config) *convo {
	t.Helper()
	cv := &convo{t: t, buf: make([]byte, 65536)}
	cv.s = tcp.NewStream(64<<10, 64<<10)
	if cfg.MaxWindow == 0 {
		cfg.MaxWindow = 64 << 10
	}
	cv.c = tcp.Dial(0, cfg, localAddr, remoteAddr, localISS, 0, cv.s)
	cv.s.Attach(cv.c)
	return cv
}

// at moves time forward and runs due timers.
func (cv *convo) at(d time.Duration) {
	cv.t.Helper()
	if d < cv.now {
		cv.t.Fatalf("time going backwards: %v after %v", d, cv.now)
	}
	cv.now = d
	if dl, ok := cv.c.NextTimeout(); ok && dl <= d {
		cv.c.HandleTimeout(d)
	}
}

// build encodes a peer segment as an IP packet.
func build(s seg, src, dst netip.AddrPort) []byte {
	var o wire.Options
	if s.mss != 0 {
		o.Has |= wire.OptMSS
		o.MSS = s.mss
	}
	if s.ws >= 0 && s.flags&wire.FlagSYN != 0 && s.ws != 0 {
		o.Has |= wire.OptWindowScale
		o.WindowScale = uint8(s.ws)
	}
	if s.sackOK {
		o.Has |= wire.OptSACKPermitted
	}
	if s.ts != nil {
		o.Has |= wire.OptTimestamps
		o.TSVal, o.TSEcr = s.ts[0], s.ts[1]
	}
	if len(s.sack) > 0 {
		o.Has |= wire.OptSACK
		o.NumSACK = uint8(copy(o.SACK[:], s.sack))
	}
	plan := wire.PlanOptions(&o, s.flags, len(s.payload) > 0)
	pkt := make([]byte, wire.IPv4HeaderLen+wire.TCPHeaderLen+plan.Len+len(s.payload))
	tcpb := pkt[wire.IPv4HeaderLen:]
	plan.Encode(tcpb[wire.TCPHeaderLen:], &o)
	h := wire.TCPHeader{SrcPort: src.Port(), DstPort: dst.Port(), Seq: s.seq, Ack: s.ack, Flags: s.flags, Window: s.win}
	hl := h.Encode(tcpb, plan.Len)
	copy(tcpb[hl:], s.payload)
	ip := wire.IPv4Header{TTL: 64, Protocol: wire.ProtocolTCP, Src: src.Addr().As4(), Dst: dst.Addr().As4(), PayloadLen: len(tcpb)}
	ip.Encode(pkt)
	wire.SetTCPChecksum(tcpb[:hl], cksum.IPv4PseudoHeader(ip.Src, ip.Dst, wire.ProtocolTCP, uint16(len(tcpb))), cksum.Sum(s.payload, 0))
	return pkt
}

// send delivers a peer segment to the connection.
func (cv *convo) send(s seg) {
	cv.t.Helper()
	pkt := build(s, remoteAddr, localAddr)
	cv.deliver(pkt)
}

func (cv *convo) deliver(pkt []byte) {
	cv.t.Helper()
	var p wire.Segment
	if err := wire.ParseSegment(pkt, &p, nil); err != nil {
		cv.t.Fatalf("test built a bad segment: %v", err)
	}
	cv.c.Handle(cv.now, &p)
}

// recv returns the next segment the connection sends, or fails.
func (cv *convo) recv() *wire.Segment {
	cv.t.Helper()
	n := cv.c.PollTransmit(cv.now, cv.buf)
	if n == 0 {
		cv.t.Fatalf("at %v: expected a segment, got nothing (state %v)", cv.now, cv.c.State())
	}
	pkt := append([]byte(nil), cv.buf[:n]...)
	if err := wire.ParseSegment(pkt, &cv.parsed, nil); err != nil {
		cv.t.Fatalf("connection sent a bad segment: %v", err)
	}
	if !cv.parsed.ChecksumOK(cksum.Sum(cv.parsed.Payload(), 0)) {
		cv.t.Fatalf("connection sent a segment with a bad checksum")
	}
	return &cv.parsed
}

// expect checks the next segment against want: flags, seq, ack and
// payload always; window, options when set in want.
func (cv *convo) expect(want seg) *wire.Segment {
	cv.t.Helper()
	got := cv.recv()
	tt := got.TCP
	if tt.Flags() != want.flags || tt.Seq() != want.seq || (want.flags&wire.FlagACK != 0 && tt.Ack() != want.ack) {
		cv.t.Fatalf("at %v: got flags %#x seq %d ack %d, want flags %#x seq %d ack %d",
			cv.now, tt.Flags(), tt.Seq(), tt.Ack(), want.flags, want.seq, want.ack)
	}
	if !bytes.Equal(got.Payload(), want.payload) {
		cv.t.Fatalf("at %v: payload of %d bytes, want %d", cv.now, len(got.Payload()), len(want.payload))
	}
	if want.win != 0 && tt.Window() != want.win {
		cv.t.Fatalf("at %v: window %d, want %d", cv.now, tt.Window(), want.win)
	}
	o := &got.Options
	if want.mss != 0 && (!o.Has.Has(wire.OptMSS) || o.MSS != want.mss) {
		cv.t.Fatalf("MSS option %v %d, want %d", o.Has.Has(wire.OptMSS), o.MSS, want.mss)
	}
	if want.sack != nil {
		if !o.Has.Has(wire.OptSACK) || !equalBlocks(o.Blocks(), want.sack) {
			cv.t.Fatalf("at %v: SACK blocks %v, want %v", cv.now, o.Blocks(), want.sack)
		}
	}
	if want.ts != nil && (!o.Has.Has(wire.OptTimestamps) || o.TSEcr != want.ts[1]) {
		cv.t.Fatalf("at %v: timestamps %v echo %d, want echo %d", cv.now, o.Has.Has(wire.OptTimestamps), o.TSEcr, want.ts[1])
	}
	return got
}

func equalBlocks(a, b []wire.SACKBlock) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (cv *convo) expectNothing() {
	cv.t.Helper()
	if n := cv.c.PollTransmit(cv.now, cv.buf); n != 0 {
		var p wire.Segment
		_ = wire.ParseSegment(cv.buf[:n], &p, nil)
		cv.t.Fatalf("at %v: expected nothing, got flags %#x seq %d ack %d len %d", cv.now,
			p.TCP.Flags(), p.TCP.Seq(), p.TCP.Ack(), len(p.Payload()))
	}
}

// established runs the handshake: our SYN at 0, the peer's SYN/ACK at
// 10 ms (MSS 1000, SACK, no timestamps, no window scaling), our ACK.
func established(t *testing.T, cfg tcp.Config) *convo {
	t.Helper()
	cfg.NoTimestamps = true
	cv := newConvo(t, cfg)
	cv.expect(seg{flags: wire.FlagSYN, seq: localISS})
	cv.at(10 * time.Millisecond)
	cv.send(seg{flags: wire.FlagSYN | wire.FlagACK, seq: remoteISS, ack: localISS + 1, win: 30000, mss: peerMSS, sackOK: true})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 1})
	if cv.c.State() != tcp.Established {
		t.Fatalf("state %v after the handshake", cv.c.State())
	}
	return cv
}

func data(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }

func TestActiveOpenSYNOptions(t *testing.T) {
	cv := newConvo(t, tcp.Config{MSS: 1460, MaxWindow: 1 << 20})
	got := cv.expect(seg{flags: wire.FlagSYN, seq: localISS, mss: 1460})
	o := &got.Options
	want := wire.OptMSS | wire.OptSACKPermitted | wire.OptTimestamps | wire.OptWindowScale
	if o.Has&wire.OptTCP != want {
		t.Fatalf("SYN options %v, want %v", o.Has, want)
	}
	if o.WindowScale != 5 { // 1 MiB >> 5 fits 16 bits
		t.Errorf("window scale %d, want 5", o.WindowScale)
	}
	if got.TCP.Window() != 0xffff {
		t.Errorf("SYN window %d, want 65535 (never scaled)", got.TCP.Window())
	}
	// Linux's layout: MSS, SACK-permitted folded with TS, NOP + WS.
	opts := got.TCP.Options()
	if opts[0] != wire.OptionKindMSS || opts[4] != wire.OptionKindSACKPermitted || opts[6] != wire.OptionKindTimestamps ||
		opts[16] != wire.OptionKindNOP || opts[17] != wire.OptionKindWindowScale {
		t.Errorf("SYN option bytes % x, want Linux's order", opts)
	}
	cv.expectNothing()
}

func TestHandshakeNegotiatesAndMeasuresRTT(t *testing.T) {
	cv := established(t, tcp.Config{})
	if !cv.c.SACKPermitted() || cv.c.Timestamps() || cv.c.WindowScaling() {
		t.Errorf("negotiated SACK %v TS %v WS %v; want SACK only", cv.c.SACKPermitted(), cv.c.Timestamps(), cv.c.WindowScaling())
	}
	if cv.c.SendMSS() != peerMSS {
		t.Errorf("send MSS %d, want the peer's %d", cv.c.SendMSS(), peerMSS)
	}
	if cv.c.SRTT() != 10*time.Millisecond {
		t.Errorf("SRTT %v, want the 10 ms of the SYN exchange", cv.c.SRTT())
	}
	// RFC 6298: RTO = SRTT + 4·RTTVAR = 30 ms, raised to the 200 ms minimum.
	if cv.c.RTO() != 200*time.Millisecond {
		t.Errorf("RTO %v, want 200ms", cv.c.RTO())
	}
	if !cv.s.Established() {
		t.Error("owner not told of the established connection")
	}
}

func TestPassiveOpenEchoesOnlyOfferedOptions(t *testing.T) {
	s := tcp.NewStream(1<<16, 1<<16)
	syn := build(seg{flags: wire.FlagSYN, seq: remoteISS, win: 64000, mss: 1400, ts: &[2]uint32{777, 0}}, remoteAddr, localAddr)
	var p wire.Segment
	if err := wire.ParseSegment(syn, &p, nil); err != nil {
		t.Fatal(err)
	}
	c := tcp.Accept(0, tcp.Config{}, &p, localISS, 0, s)
	s.Attach(c)
	cv := &convo{t: t, c: c, s: s, buf: make([]byte, 65536)}
	got := cv.expect(seg{flags: wire.FlagSYN | wire.FlagACK, seq: localISS, ack: remoteISS + 1, ts: &[2]uint32{0, 777}})
	if got.Options.Has.Any(wire.OptSACKPermitted | wire.OptWindowScale) {
		t.Errorf("SYN/ACK carries %v, but the SYN offered neither SACK nor window scaling", got.Options.Has)
	}
	cv.at(5 * time.Millisecond)
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: localISS + 1, win: 64000, ts: &[2]uint32{778, got.Options.TSVal}})
	if c.State() != tcp.Established || !s.Established() {
		t.Fatalf("state %v after the third ACK", c.State())
	}
	if c.SendMSS() != 1400 {
		t.Errorf("send MSS %d, want 1400", c.SendMSS())
	}
}

func TestSimultaneousOpen(t *testing.T) {
	cv := newConvo(t, tcp.Config{NoTimestamps: true})
	cv.expect(seg{flags: wire.FlagSYN, seq: localISS})
	cv.at(time.Millisecond)
	cv.send(seg{flags: wire.FlagSYN, seq: remoteISS, win: 20000, mss: peerMSS})
	if cv.c.State() != tcp.SynReceived {
		t.Fatalf("state %v after a crossing SYN, want SYN-RECEIVED", cv.c.State())
	}
	cv.expect(seg{flags: wire.FlagSYN | wire.FlagACK, seq: localISS, ack: remoteISS + 1})
	cv.send(seg{flags: wire.FlagSYN | wire.FlagACK, seq: remoteISS, ack: localISS + 1, win: 20000, mss: peerMSS})
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: localISS + 1, win: 20000})
	if cv.c.State() != tcp.Established {
		t.Fatalf("state %v, want ESTABLISHED", cv.c.State())
	}
}

// TestSYNRetransmissionBacksOffAndGivesUp: an active open's SYN is resent
// at the initial RTO SYNLinearTimeouts times (Linux's default 4), then with
// exponential backoff SYNRetries more times; with SYNLinearTimeouts < 0,
// with backoff from the first (RFC 6298 §5.5). Then the Dial times out.
func TestSYNRetransmissionBacksOffAndGivesUp(t *testing.T) {
	for _, c := range []struct {
		linear int
		at     []time.Duration // the retransmissions, in seconds
		closed time.Duration
	}{
		{0, []time.Duration{1, 2, 3, 4, 5, 7, 11}, 19},
		{-1, []time.Duration{1, 3, 7}, 15},
	} {
		cv := newConvo(t, tcp.Config{SYNRetries: 3, SYNLinearTimeouts: c.linear})
		cv.expect(seg{flags: wire.FlagSYN, seq: localISS})
		for _, at := range c.at {
			at *= time.Second
			cv.at(at - time.Millisecond)
			cv.expectNothing()
			cv.at(at)
			cv.expect(seg{flags: wire.FlagSYN, seq: localISS})
		}
		cv.at(c.closed*time.Second - time.Millisecond)
		if closed, _ := cv.s.Closed(); closed {
			t.Errorf("linear %d: closed before %v s", c.linear, c.closed)
		}
		cv.at(c.closed * time.Second)
		cv.expectNothing()
		if closed, err := cv.s.Closed(); !closed || err != tcp.ErrTimeout {
			t.Errorf("linear %d: after the retries: closed %v err %v, want ErrTimeout", c.linear, closed, err)
		}
	}
}

// TestRedialKeepsSchedule: Redial in SYN-SENT sends the SYN at once from
// the new port with the new ISN, and the retransmissions and the give-up
// point go on as if the SYN had never moved (0, 1, 2, 3, 4, 5, 7, 11 s,
// closed at 19 s with 3 retries after the 4 linear ones).
func TestRedialKeepsSchedule(t *testing.T) {
	const newISS = localISS + 1000
	moved := netip.AddrPortFrom(localAddr.Addr(), localAddr.Port()+1)
	cv := newConvo(t, tcp.Config{SYNRetries: 3})
	cv.expect(seg{flags: wire.FlagSYN, seq: localISS})
	for _, at := range []time.Duration{1, 2, 3} {
		cv.at(at * time.Second)
		cv.expect(seg{flags: wire.FlagSYN, seq: localISS})
	}
	cv.at(4 * time.Second) // the fourth retransmission is due
	if !cv.c.Redial(cv.now, moved, newISS, 0) {
		t.Fatal("Redial in SYN-SENT refused")
	}
	got := cv.expect(seg{flags: wire.FlagSYN, seq: newISS})
	if p := got.TCP.SrcPort(); p != moved.Port() || cv.c.LocalAddr() != moved || cv.c.SYNRetransmits() != 4 {
		t.Fatalf("SYN from port %d, LocalAddr %v, %d retransmissions; want port %d, 4", p, cv.c.LocalAddr(), cv.c.SYNRetransmits(), moved.Port())
	}
	cv.expectNothing() // one SYN, not the old one as well
	for _, at := range []time.Duration{5, 7, 11} {
		cv.at(at*time.Second - time.Millisecond)
		cv.expectNothing()
		cv.at(at * time.Second)
		cv.expect(seg{flags: wire.FlagSYN, seq: newISS})
	}
	cv.at(19 * time.Second)
	if closed, err := cv.s.Closed(); !closed || err != tcp.ErrTimeout {
		t.Errorf("after the retries: closed %v err %v, want ErrTimeout", closed, err)
	}
	if cv.c.Redial(cv.now, localAddr, localISS, 0) {
		t.Error("Redial of a closed connection accepted")
	}
}

func TestResetInSynSent(t *testing.T) {
	cv := newConvo(t, tcp.Config{})
	cv.expect(seg{flags: wire.FlagSYN, seq: localISS})
	// A RST whose ACK does not acknowledge our SYN is ignored.
	cv.send(seg{flags: wire.FlagRST | wire.FlagACK, seq: 0, ack: localISS + 7})
	if cv.c.State() != tcp.SynSent {
		t.Fatalf("state %v after a RST with a bad ACK", cv.c.State())
	}
	cv.send(seg{flags: wire.FlagRST | wire.FlagACK, seq: 0, ack: localISS + 1})
	if closed, err := cv.s.Closed(); !closed || err != tcp.ErrRefused {
		t.Errorf("closed %v err %v, want ErrRefused", closed, err)
	}
}

// TestRFC5961ResetAndSYN: a RST is honoured only at exactly RCV.NXT; an
// in-window RST or any SYN gets a challenge ACK; the challenge ACKs are
// rate-limited.
func TestRFC5961ResetAndSYN(t *testing.T) {
	cv := established(t, tcp.Config{ChallengeACKs: 2})
	cv.send(seg{flags: wire.FlagRST, seq: remoteISS + 100})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 1})
	cv.send(seg{flags: wire.FlagSYN, seq: remoteISS + 50, win: 1000})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 1})
	cv.send(seg{flags: wire.FlagSYN, seq: remoteISS + 50, win: 1000})
	cv.expectNothing() // over the limit of 2 per second
	cv.at(1100 * time.Millisecond)
	cv.send(seg{flags: wire.FlagRST, seq: remoteISS + 1 + 70000}) // outside the window: silently dropped
	cv.expectNothing()
	if cv.c.State() != tcp.Established {
		t.Fatalf("state %v", cv.c.State())
	}
	cv.send(seg{flags: wire.FlagRST, seq: remoteISS + 1})
	if closed, err := cv.s.Closed(); !closed || err != tcp.ErrReset {
		t.Errorf("exact RST: closed %v err %v, want ErrReset", closed, err)
	}
}

func TestAckBeyondSentIsAnsweredAndDropped(t *testing.T) {
	cv := established(t, tcp.Config{})
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: localISS + 500, win: 30000, payload: data(10, 'x')})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 1})
	if cv.s.Buffered() != 0 {
		t.Error("data of a segment with an ACK beyond SND.NXT was accepted")
	}
}

// TestDelayedAndImmediateACKs: quick-ACK mode first, then every second
// full segment at once and a single one after the 40 ms delayed-ACK timer;
// out-of-order data is ACKed at once with a SACK block; filling the hole
// is ACKed at once.
func TestDelayedAndImmediateACKs(t *testing.T) {
	cv := established(t, tcp.Config{QuickAcks: 1})
	seq := uint32(remoteISS + 1)
	cv.send(seg{flags: wire.FlagACK, seq: seq, ack: localISS + 1, win: 30000, payload: data(1000, 'a')})
	seq += 1000
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: seq}) // quick ACK
	cv.at(20 * time.Millisecond)
	cv.send(seg{flags: wire.FlagACK, seq: seq, ack: localISS + 1, win: 30000, payload: data(1000, 'b')})
	seq += 1000
	cv.expectNothing() // delayed
	cv.at(59 * time.Millisecond)
	cv.expectNothing()
	cv.at(60 * time.Millisecond)
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: seq})
	cv.send(seg{flags: wire.FlagACK, seq: seq, ack: localISS + 1, win: 30000, payload: data(1000, 'c')})
	cv.expectNothing()
	cv.send(seg{flags: wire.FlagACK, seq: seq + 1000, ack: localISS + 1, win: 30000, payload: data(1000, 'd')})
	seq += 2000
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: seq}) // second full segment
	// A hole: the segment after next arrives first.
	cv.send(seg{flags: wire.FlagACK, seq: seq + 1000, ack: localISS + 1, win: 30000, payload: data(1000, 'f')})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: seq,
		sack: []wire.SACKBlock{{Left: seq + 1000, Right: seq + 2000}}})
	cv.send(seg{flags: wire.FlagACK, seq: seq, ack: localISS + 1, win: 30000, payload: data(1000, 'e')})
	seq += 2000
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: seq})
	got := make([]byte, 10000)
	n := cv.s.Read(got)
	if want := string(data(1000, 'a')) + string(data(1000, 'b')) + string(data(1000, 'c')) + string(data(1000, 'd')) +
		string(data(1000, 'e')) + string(data(1000, 'f')); string(got[:n]) != want {
		t.Errorf("read %d bytes in the wrong order", n)
	}
}

// TestRetransmissionTimeout: RFC 6298 with the 200 ms minimum, doubling on
// each expiry, and a go-back-N resend from SND.UNA.
func TestRetransmissionTimeout(t *testing.T) {
	cv := established(t, tcp.Config{})
	cv.s.Write(data(2000, 'x'))
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 1, payload: data(1000, 'x')})
	cv.expect(seg{flags: wire.FlagACK | wire.FlagPSH, seq: localISS + 1001, ack: remoteISS + 1, payload: data(1000, 'x')})
	cv.expectNothing()
	cv.at(209 * time.Millisecond)
	cv.expectNothing()
	cv.at(210 * time.Millisecond) // sent at 10 ms + 200 ms
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 1, payload: data(1000, 'x')})
	cv.expectNothing() // the window collapsed to one segment
	cv.at(610 * time.Millisecond)
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 1, payload: data(1000, 'x')})
	cv.at(700 * time.Millisecond)
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: localISS + 1001, win: 30000})
	cv.expect(seg{flags: wire.FlagACK | wire.FlagPSH, seq: localISS + 1001, ack: remoteISS + 1, payload: data(1000, 'x')})
	if cv.c.Stats.RTOs != 2 {
		t.Errorf("RTOs %d, want 2", cv.c.Stats.RTOs)
	}
}

// sendWindow pushes n segments of data and drains what the connection
// sends, returning the segments' sequence numbers.
func (cv *convo) sendSegments(n int) {
	cv.t.Helper()
	cv.s.Write(data(n*1000, 'z'))
	for i := 0; i < n; i++ {
		cv.recv()
	}
}

// TestFastRetransmitOnThreeDupAcks (RFC 5681 §3.2 with SACK off).
func TestFastRetransmitOnThreeDupAcks(t *testing.T) {
	cv := newConvo(t, tcp.Config{NoTimestamps: true, NoSACK: true})
	cv.expect(seg{flags: wire.FlagSYN, seq: localISS})
	cv.at(10 * time.Millisecond)
	cv.send(seg{flags: wire.FlagSYN | wire.FlagACK, seq: remoteISS, ack: localISS + 1, win: 60000, mss: peerMSS})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 1})
	cv.sendSegments(10)
	w := cv.c.Window()
	una := uint32(localISS + 1)
	for i := 0; i < 2; i++ {
		cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: una, win: 60000})
		cv.expectNothing()
	}
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: una, win: 60000})
	cv.expect(seg{flags: wire.FlagACK, seq: una, ack: remoteISS + 1, payload: data(1000, 'z')})
	// RFC 5681 eq. 4: ssthresh = max(FlightSize/2, 2·SMSS) with 10 segments in flight.
	if w != 10*peerMSS || cv.c.Window() != 5*peerMSS {
		t.Errorf("window %d → %d after fast retransmit, want %d → %d", w, cv.c.Window(), 10*peerMSS, 5*peerMSS)
	}
	// A partial ACK retransmits the next hole at once (RFC 6582).
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: una + 3000, win: 60000})
	cv.expect(seg{flags: wire.FlagACK, seq: una + 3000, ack: remoteISS + 1, payload: data(1000, 'z')})
}

// TestSACKRecovery: SACK blocks above a hole mark it lost (RFC 6675
// IsLost) and only the hole is retransmitted.
func TestSACKRecovery(t *testing.T) {
	cv := established(t, tcp.Config{})
	cv.sendSegments(10)
	una := uint32(localISS + 1)
	// Segment 2 (una+1000) is lost; 3..5 arrive.
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: una + 1000, win: 30000})
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: una + 1000, win: 30000,
		sack: []wire.SACKBlock{{Left: una + 2000, Right: una + 3000}}})
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: una + 1000, win: 30000,
		sack: []wire.SACKBlock{{Left: una + 2000, Right: una + 4000}}})
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: una + 1000, win: 30000,
		sack: []wire.SACKBlock{{Left: una + 2000, Right: una + 5000}}})
	cv.expect(seg{flags: wire.FlagACK, seq: una + 1000, ack: remoteISS + 1, payload: data(1000, 'z')})
	if cv.c.Stats.FastRecoveries != 1 {
		t.Fatalf("fast recoveries %d", cv.c.Stats.FastRecoveries)
	}
	// The retransmission fills the hole: the ACK jumps over the SACKed data.
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: una + 5000, win: 30000})
	if cv.c.SendUnacked() != 5001 {
		t.Errorf("SND.UNA offset %d, want 5001", cv.c.SendUnacked())
	}
}

// TestZeroWindowProbe: a zero window stops sending, the persist timer
// probes with an ACK at SND.UNA-1, and a window update resumes sending.
func TestZeroWindowProbe(t *testing.T) {
	cv := established(t, tcp.Config{})
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: localISS + 1, win: 0})
	cv.s.Write(data(500, 'q'))
	cv.expectNothing()
	cv.at(210 * time.Millisecond) // one RTO
	cv.expect(seg{flags: wire.FlagACK, seq: localISS, ack: remoteISS + 1})
	cv.at(300 * time.Millisecond)
	cv.expectNothing()
	cv.at(610 * time.Millisecond) // backed off: twice the RTO
	cv.expect(seg{flags: wire.FlagACK, seq: localISS, ack: remoteISS + 1})
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: localISS + 1, win: 4000})
	cv.expect(seg{flags: wire.FlagACK | wire.FlagPSH, seq: localISS + 1, ack: remoteISS + 1, payload: data(500, 'q')})
}

// TestPAWS: a segment with an older timestamp is dropped and answered
// with an ACK (RFC 7323 §5.3).
func TestPAWS(t *testing.T) {
	cv := newConvo(t, tcp.Config{})
	cv.expect(seg{flags: wire.FlagSYN, seq: localISS})
	cv.send(seg{flags: wire.FlagSYN | wire.FlagACK, seq: remoteISS, ack: localISS + 1, win: 30000, mss: peerMSS, ts: &[2]uint32{1000, 0}})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 1, ts: &[2]uint32{0, 1000}})
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: localISS + 1, win: 30000, payload: data(100, 'n'), ts: &[2]uint32{1005, 0}})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 101, ts: &[2]uint32{0, 1005}})
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 101, ack: localISS + 1, win: 30000, payload: data(100, 'o'), ts: &[2]uint32{999, 0}})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 101})
	if cv.c.Stats.PAWSDrops != 1 || cv.s.Buffered() != 100 {
		t.Errorf("PAWS drops %d, buffered %d; want the old segment dropped", cv.c.Stats.PAWSDrops, cv.s.Buffered())
	}
}

// TestActiveClose: FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED after 60 s,
// re-ACKing a retransmitted FIN in TIME-WAIT.
func TestActiveClose(t *testing.T) {
	cv := established(t, tcp.Config{})
	cv.c.Close()
	cv.expect(seg{flags: wire.FlagACK | wire.FlagFIN, seq: localISS + 1, ack: remoteISS + 1})
	if cv.c.State() != tcp.FinWait1 {
		t.Fatalf("state %v", cv.c.State())
	}
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: localISS + 2, win: 30000})
	if cv.c.State() != tcp.FinWait2 {
		t.Fatalf("state %v, want FIN-WAIT-2", cv.c.State())
	}
	cv.at(time.Second)
	cv.send(seg{flags: wire.FlagACK | wire.FlagFIN, seq: remoteISS + 1, ack: localISS + 2, win: 30000})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 2, ack: remoteISS + 2})
	if cv.c.State() != tcp.TimeWait {
		t.Fatalf("state %v, want TIME-WAIT", cv.c.State())
	}
	cv.at(2 * time.Second)
	cv.send(seg{flags: wire.FlagACK | wire.FlagFIN, seq: remoteISS + 1, ack: localISS + 2, win: 30000})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 2, ack: remoteISS + 2})
	cv.at(61 * time.Second)
	if cv.c.State() != tcp.Closed {
		t.Fatalf("state %v 60 s after entering TIME-WAIT", cv.c.State())
	}
	if closed, err := cv.s.Closed(); !closed || err != nil {
		t.Errorf("closed %v err %v", closed, err)
	}
}

// TestReaderDrainingSendsDelayedACK: as Linux's tcp_cleanup_rbuf, a
// delayed ACK goes out when the application empties the queue after a
// pushed segment (short, or with PSH), the tail of a write; a read that
// leaves data, or a drained queue after a full-sized segment without PSH,
// leaves it delayed.
func TestReaderDrainingSendsDelayedACK(t *testing.T) {
	cv := established(t, tcp.Config{QuickAcks: 1})
	seq := uint32(remoteISS + 1)
	cv.send(seg{flags: wire.FlagACK, seq: seq, ack: localISS + 1, win: 30000, payload: data(1000, 'a')})
	seq += 1000
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: seq}) // quick ACK
	cv.send(seg{flags: wire.FlagACK, seq: seq, ack: localISS + 1, win: 30000, payload: data(1000, 'b')})
	seq += 1000
	cv.expectNothing() // delayed
	if n := cv.s.Read(make([]byte, 4096)); n != 2000 {
		t.Fatalf("read %d", n)
	}
	cv.expectNothing() // drained, but the pending segment was full-sized
	cv.at(cv.now + 40*time.Millisecond)
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: seq}) // the timer
	cv.send(seg{flags: wire.FlagACK | wire.FlagPSH, seq: seq, ack: localISS + 1, win: 30000, payload: data(600, 'c')})
	seq += 600
	cv.expectNothing() // delayed
	if n := cv.s.Read(make([]byte, 100)); n != 100 {
		t.Fatalf("read %d", n)
	}
	cv.expectNothing() // 500 bytes left
	if n := cv.s.Read(make([]byte, 4096)); n != 500 {
		t.Fatalf("read %d", n)
	}
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: seq}) // drained after a short segment
	// A full-sized segment with PSH: the sender has nothing more queued.
	cv.send(seg{flags: wire.FlagACK | wire.FlagPSH, seq: seq, ack: localISS + 1, win: 30000, payload: data(1000, 'd')})
	seq += 1000
	cv.expectNothing()
	if n := cv.s.Read(make([]byte, 4096)); n != 1000 {
		t.Fatalf("read %d", n)
	}
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: seq})
}

// TestNoWindowUpdateAfterPeerFIN: data read after the peer's FIN opens the
// window, but no update goes out (TIME-WAIT here): the peer has closed
// and would answer an ACK with a RST.
func TestNoWindowUpdateAfterPeerFIN(t *testing.T) {
	cv := established(t, tcp.Config{})
	for i := range 4 {
		cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1 + uint32(i)*1000, ack: localISS + 1, win: 30000, payload: data(1000, 'a')})
	}
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 4001})
	cv.c.Close()
	cv.expect(seg{flags: wire.FlagACK | wire.FlagFIN, seq: localISS + 1, ack: remoteISS + 4001})
	cv.send(seg{flags: wire.FlagACK | wire.FlagFIN, seq: remoteISS + 4001, ack: localISS + 2, win: 30000})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 2, ack: remoteISS + 4002})
	if cv.c.State() != tcp.TimeWait {
		t.Fatalf("state %v, want TIME-WAIT", cv.c.State())
	}
	// 4,000 bytes read reopen more than two segments of window: enough
	// for an update in ESTABLISHED (RFC 9293 §3.8.6.2.2), none here.
	if n := cv.s.Read(make([]byte, 8192)); n != 4000 {
		t.Fatalf("read %d bytes, want 4000", n)
	}
	cv.expectNothing()
}

// TestPassiveCloseAndSimultaneousClose.
func TestPassiveCloseAndSimultaneousClose(t *testing.T) {
	cv := established(t, tcp.Config{})
	cv.send(seg{flags: wire.FlagACK | wire.FlagFIN, seq: remoteISS + 1, ack: localISS + 1, win: 30000})
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 2})
	if cv.c.State() != tcp.CloseWait || !cv.s.EOF() {
		t.Fatalf("state %v EOF %v", cv.c.State(), cv.s.EOF())
	}
	cv.c.Close()
	cv.expect(seg{flags: wire.FlagACK | wire.FlagFIN, seq: localISS + 1, ack: remoteISS + 2})
	if cv.c.State() != tcp.LastAck {
		t.Fatalf("state %v, want LAST-ACK", cv.c.State())
	}
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 2, ack: localISS + 2, win: 30000})
	if cv.c.State() != tcp.Closed {
		t.Fatalf("state %v, want CLOSED", cv.c.State())
	}

	cv = established(t, tcp.Config{})
	cv.c.Close()
	cv.expect(seg{flags: wire.FlagACK | wire.FlagFIN, seq: localISS + 1, ack: remoteISS + 1})
	cv.send(seg{flags: wire.FlagACK | wire.FlagFIN, seq: remoteISS + 1, ack: localISS + 1, win: 30000})
	if cv.c.State() != tcp.Closing {
		t.Fatalf("state %v, want CLOSING", cv.c.State())
	}
	cv.expect(seg{flags: wire.FlagACK, seq: localISS + 2, ack: remoteISS + 2})
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 2, ack: localISS + 2, win: 30000})
	if cv.c.State() != tcp.TimeWait {
		t.Fatalf("state %v, want TIME-WAIT", cv.c.State())
	}
}

func TestKeepalive(t *testing.T) {
	cv := established(t, tcp.Config{KeepaliveIdle: 10 * time.Second, KeepaliveInterval: time.Second, KeepaliveCount: 2})
	cv.at(10*time.Second + 9*time.Millisecond)
	cv.expectNothing()
	cv.at(10*time.Second + 10*time.Millisecond)
	cv.expect(seg{flags: wire.FlagACK, seq: localISS, ack: remoteISS + 1})
	cv.at(11*time.Second + 10*time.Millisecond)
	cv.expect(seg{flags: wire.FlagACK, seq: localISS, ack: remoteISS + 1})
	cv.at(12*time.Second + 10*time.Millisecond)
	cv.expect(seg{flags: wire.FlagRST | wire.FlagACK, seq: localISS + 1, ack: remoteISS + 1})
	if closed, err := cv.s.Closed(); !closed || err != tcp.ErrKeepalive {
		t.Errorf("closed %v err %v, want ErrKeepalive", closed, err)
	}
}

// TestWindowScalingAndMSS: data segments respect the peer's MSS minus the
// option bytes, and the window field is scaled after the SYN.
func TestWindowScalingAndMSS(t *testing.T) {
	cv := newConvo(t, tcp.Config{MaxWindow: 1 << 20})
	cv.expect(seg{flags: wire.FlagSYN, seq: localISS})
	cv.send(seg{flags: wire.FlagSYN | wire.FlagACK, seq: remoteISS, ack: localISS + 1, win: 1000, mss: peerMSS, ws: 2,
		sackOK: true, ts: &[2]uint32{1, 0}})
	got := cv.expect(seg{flags: wire.FlagACK, seq: localISS + 1, ack: remoteISS + 1})
	if w := int(got.TCP.Window()) << 5; w < 60000 || w > 70000 {
		t.Errorf("scaled window %d (field %d), want the 64 KiB stream buffer", w, got.TCP.Window())
	}
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: localISS + 1, win: 1000, ts: &[2]uint32{2, 0}}) // 4000 bytes
	cv.s.Write(data(5000, 'm'))
	var total int
	for i := 0; i < 4; i++ {
		p := cv.recv()
		if len(p.Payload()) != peerMSS-12 {
			t.Fatalf("segment %d: %d bytes of payload, want MSS 1000 − 12 bytes of timestamps", i, len(p.Payload()))
		}
		total += len(p.Payload())
	}
	cv.expectNothing() // 3952 of the 4000-byte window used; 48 left is a runt
	_ = total
}

func TestBadChecksumIsIgnored(t *testing.T) {
	cv := established(t, tcp.Config{})
	pkt := build(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: localISS + 1, win: 30000, payload: data(100, 'c')}, remoteAddr, localAddr)
	pkt[len(pkt)-1] ^= 0x40
	cv.deliver(pkt)
	cv.expectNothing()
	if cv.c.Stats.BadChecksum != 1 || cv.s.Buffered() != 0 {
		t.Errorf("bad checksums %d, buffered %d", cv.c.Stats.BadChecksum, cv.s.Buffered())
	}
}

func TestNagle(t *testing.T) {
	cv := established(t, tcp.Config{Nagle: true})
	cv.s.Write(data(10, 'a'))
	cv.expect(seg{flags: wire.FlagACK | wire.FlagPSH, seq: localISS + 1, ack: remoteISS + 1, payload: data(10, 'a')})
	cv.s.Write(data(10, 'b'))
	cv.expectNothing() // held while the first is unacknowledged
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: localISS + 11, win: 30000})
	cv.expect(seg{flags: wire.FlagACK | wire.FlagPSH, seq: localISS + 11, ack: remoteISS + 1, payload: data(10, 'b')})
}

// TestIPv6Connection: the handshake and a data segment over IPv6, with the
// IPv6 pseudo-header in both checksums.
func TestIPv6Connection(t *testing.T) {
	local := netip.MustParseAddrPort("[2001:db8::2]:40000")
	remote := netip.MustParseAddrPort("[2001:db8::1]:5001")
	s := tcp.NewStream(1<<16, 1<<16)
	c := tcp.Dial(0, tcp.Config{}, local, remote, localISS, 0, s)
	s.Attach(c)
	buf := make([]byte, 65536)
	n := c.PollTransmit(0, buf)
	var p wire.Segment
	if err := wire.ParseSegment(buf[:n], &p, nil); err != nil || p.Version != 6 {
		t.Fatalf("SYN: version %d, err %v", p.Version, err)
	}
	if !p.ChecksumOK(cksum.Sum(p.Payload(), 0)) {
		t.Fatal("SYN over IPv6 has a bad checksum")
	}
	if p.Options.MSS != 1460 {
		t.Errorf("MSS %d", p.Options.MSS)
	}
	reply := func(flags uint8, seq, ack uint32, payload []byte) {
		var o wire.Options
		if flags&wire.FlagSYN != 0 {
			o.Has, o.MSS = wire.OptMSS, 1200
		}
		plan := wire.PlanOptions(&o, flags, len(payload) > 0)
		pkt := make([]byte, wire.IPv6HeaderLen+wire.TCPHeaderLen+plan.Len+len(payload))
		tcpb := pkt[wire.IPv6HeaderLen:]
		plan.Encode(tcpb[wire.TCPHeaderLen:], &o)
		h := wire.TCPHeader{SrcPort: remote.Port(), DstPort: local.Port(), Seq: seq, Ack: ack, Flags: flags, Window: 30000}
		hl := h.Encode(tcpb, plan.Len)
		copy(tcpb[hl:], payload)
		ip := wire.IPv6Header{NextHeader: wire.ProtocolTCP, HopLimit: 64, Src: remote.Addr().As16(), Dst: local.Addr().As16(), PayloadLen: len(tcpb)}
		ip.Encode(pkt)
		wire.SetTCPChecksum(tcpb[:hl], cksum.IPv6PseudoHeader(ip.Src, ip.Dst, wire.ProtocolTCP, uint32(len(tcpb))), cksum.Sum(payload, 0))
		var in wire.Segment
		if err := wire.ParseSegment(pkt, &in, nil); err != nil {
			t.Fatal(err)
		}
		c.Handle(time.Millisecond, &in)
	}
	reply(wire.FlagSYN|wire.FlagACK, remoteISS, localISS+1, nil)
	if c.State() != tcp.Established || c.SendMSS() != 1200 {
		t.Fatalf("state %v MSS %d", c.State(), c.SendMSS())
	}
	reply(wire.FlagACK, remoteISS+1, localISS+1, data(300, 'v'))
	if s.Buffered() != 300 {
		t.Fatalf("buffered %d, want 300", s.Buffered())
	}
	s.Write(data(100, 'w'))
	n = c.PollTransmit(time.Millisecond, buf) // the third ACK leaves first, alone
	if err := wire.ParseSegment(buf[:n], &p, nil); err != nil || len(p.Payload()) != 0 {
		t.Fatalf("expected the pure third ACK first: %v, %d bytes", err, len(p.Payload()))
	}
	n = c.PollTransmit(time.Millisecond, buf)
	if err := wire.ParseSegment(buf[:n], &p, nil); err != nil || len(p.Payload()) != 100 || !p.ChecksumOK(cksum.Sum(p.Payload(), 0)) {
		t.Fatalf("data segment over IPv6: %v, %d bytes", err, len(p.Payload()))
	}
}

// TestSlowStartAfterRTO: after a timeout the window restarts from one
// segment and grows with every ACK of the resend (RFC 5681 §3.1), and the
// go-back-N resend skips what the receiver SACKed before the timeout
// (RFC 6675 §5.1).
func TestSlowStartAfterRTO(t *testing.T) {
	cv := established(t, tcp.Config{})
	cv.sendSegments(10)
	una := uint32(localISS + 1)
	// Segments 9 and 10 arrived; 1..8 were lost. Two SACKed segments are
	// below the duplicate threshold: no fast retransmit, the timer fires.
	tail := []wire.SACKBlock{{Left: una + 8000, Right: una + 10000}}
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: una, win: 30000, sack: tail})
	cv.expectNothing()
	cv.at(cv.now + 250*time.Millisecond)
	cv.expect(seg{flags: wire.FlagACK, seq: una, ack: remoteISS + 1, payload: data(1000, 'z')})
	cv.expectNothing()
	if cv.c.Stats.RTOs != 1 || cv.c.Window() != peerMSS {
		t.Fatalf("RTOs %d, window %d; want 1 and one segment", cv.c.Stats.RTOs, cv.c.Window())
	}
	// The ACK of the resend grows the window: two segments go out.
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: una + 1000, win: 30000, sack: tail})
	cv.expect(seg{flags: wire.FlagACK, seq: una + 1000, ack: remoteISS + 1, payload: data(1000, 'z')})
	cv.expect(seg{flags: wire.FlagACK, seq: una + 2000, ack: remoteISS + 1, payload: data(1000, 'z')})
	cv.expectNothing()
	if w := cv.c.Window(); w != 2*peerMSS {
		t.Errorf("window %d after the first ACK of the resend, want %d", w, 2*peerMSS)
	}
	// Everything up to the SACKed tail is acknowledged: the tail is not
	// sent again, and the window kept growing.
	cv.send(seg{flags: wire.FlagACK, seq: remoteISS + 1, ack: una + 8000, win: 30000, sack: tail})
	for {
		n := cv.c.PollTransmit(cv.now, cv.buf)
		if n == 0 {
			break
		}
		var sg wire.Segment
		if err := wire.ParseSegment(cv.buf[:n], &sg, nil); err != nil {
			t.Fatal(err)
		}
		if seq := sg.TCP.Seq(); seq-una >= 8000 && len(sg.Payload()) > 0 {
			t.Fatalf("resent SACKed data at offset %d", seq-una)
		}
	}
	if w := cv.c.Window(); w <= 2*peerMSS {
		t.Errorf("window %d after more of the resend was acknowledged, want more than %d", w, 2*peerMSS)
	}
}

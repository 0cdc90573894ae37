package mptcp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

var (
	synClient = netip.MustParseAddrPort("10.0.1.9:40000")
	// listenAddr is the endpoint's own address, where its listener is.
	listenAddr = netip.AddrPortFrom(ourAddr.Addr(), 5001)
)

func mpcSYN() *wire.Options {
	return &wire.Options{Has: wire.OptMSS | wire.OptSACKPermitted | wire.OptMPCapableSYN, MSS: 1460,
		MPCapable: wire.MPCapable{Version: 1, Flags: wire.MPCHMACSHA256}}
}

// TestSynRequestRetransmitsAndExpires: a half-open connection is a request,
// not a connection; a repeated SYN gets the same SYN/ACK again; the
// SYN/ACK is retransmitted after 1, 2, 4, 8 and 16 s (RFC 6298 backoff,
// Linux's tcp_synack_retries of 5) and the request is then forgotten.
func TestSynRequestRetransmitsAndExpires(t *testing.T) {
	p := newPeer(t, mptcp.Config{})
	p.ep.Listen(listenAddr.Port())
	p.send(synClient, listenAddr, wire.FlagSYN, 100, 0, mpcSYN(), nil)
	first := p.recv()
	if first.TCP.Flags() != wire.FlagSYN|wire.FlagACK || first.TCP.Ack() != 101 {
		t.Fatalf("flags %#x ack %d", first.TCP.Flags(), first.TCP.Ack())
	}
	p.nothing()
	if n := len(p.ep.Conns()); n != 0 {
		t.Fatalf("%d connections for a half-open one", n)
	}
	p.send(synClient, listenAddr, wire.FlagSYN, 100, 0, mpcSYN(), nil)
	again := p.recv()
	if again.TCP.Seq() != first.TCP.Seq() || again.Options.MPCapable.SenderKey != first.Options.MPCapable.SenderKey {
		t.Fatalf("a repeated SYN got another SYN/ACK: seq %d key %#x, first %d %#x",
			again.TCP.Seq(), again.Options.MPCapable.SenderKey, first.TCP.Seq(), first.Options.MPCapable.SenderKey)
	}
	at := time.Duration(0)
	for i, gap := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second} {
		at += gap
		deadline, ok := p.ep.NextTimeout()
		if !ok || deadline != at {
			t.Fatalf("retransmission %d: next timeout %v %v, want %v", i+1, deadline, ok, at)
		}
		p.now = at
		p.ep.HandleTimeout(p.now)
		if s := p.recv(); s.TCP.Seq() != first.TCP.Seq() || s.TCP.Flags() != wire.FlagSYN|wire.FlagACK {
			t.Fatalf("retransmission %d: flags %#x seq %d", i+1, s.TCP.Flags(), s.TCP.Seq())
		}
	}
	p.now = at + 32*time.Second
	p.ep.HandleTimeout(p.now)
	p.nothing()
	if st := p.ep.Stats; st.SynAckRetransmits != 5 || st.SynRequestsExpired != 1 {
		t.Fatalf("retransmits %d, expired %d; want 5 and 1", st.SynAckRetransmits, st.SynRequestsExpired)
	}
	if _, ok := p.ep.NextTimeout(); ok {
		t.Error("a timer is left after the request expired")
	}
	// The late third ACK finds nothing: a RST.
	p.send(synClient, listenAddr, wire.FlagACK, 101, first.TCP.Seq()+1, nil, nil)
	if s := p.recv(); s.TCP.Flags()&wire.FlagRST == 0 {
		t.Fatalf("flags %#x, want a RST", s.TCP.Flags())
	}
}

// TestSynRequestResetAndBadACK: only an exact RST ends a request (RFC 5961
// §3); an ACK of something we did not send gets <SEQ=SEG.ACK><CTL=RST>
// and leaves the request; the right third ACK then makes the connection.
func TestSynRequestResetAndBadACK(t *testing.T) {
	p := newPeer(t, mptcp.Config{})
	p.ep.Listen(listenAddr.Port())
	p.send(synClient, listenAddr, wire.FlagSYN, 100, 0, mpcSYN(), nil)
	synack := p.recv()
	p.send(synClient, listenAddr, wire.FlagRST, 105, 0, nil, nil)
	p.nothing()
	p.send(synClient, listenAddr, wire.FlagACK, 101, synack.TCP.Seq()+7, nil, nil)
	if rst := p.recv(); rst.TCP.Flags() != wire.FlagRST || rst.TCP.Seq() != synack.TCP.Seq()+7 {
		t.Fatalf("bad ACK answered with flags %#x seq %d", rst.TCP.Flags(), rst.TCP.Seq())
	}
	o := &wire.Options{Has: wire.OptMPCapableACK, MPCapable: wire.MPCapable{Version: 1, Flags: wire.MPCHMACSHA256,
		SenderKey: 0x1122334455667788, ReceiverKey: synack.Options.MPCapable.SenderKey}}
	p.send(synClient, listenAddr, wire.FlagACK, 101, synack.TCP.Seq()+1, o, nil)
	if cs := p.ep.Conns(); len(cs) != 1 || !cs[0].Established() || !cs[0].MPTCP() {
		t.Fatalf("after the third ACK: %v", cs)
	}

	// A second request, ended by an exact RST.
	other := netip.MustParseAddrPort("10.0.1.9:40001")
	p.send(other, listenAddr, wire.FlagSYN, 500, 0, mpcSYN(), nil)
	synack = p.recv()
	p.send(other, listenAddr, wire.FlagRST, 501, 0, nil, nil)
	if p.ep.Stats.SynRequestsReset != 1 {
		t.Fatalf("requests reset %d, want 1", p.ep.Stats.SynRequestsReset)
	}
	p.send(other, listenAddr, wire.FlagACK, 501, synack.TCP.Seq()+1, nil, nil)
	if s := p.recv(); s.TCP.Flags()&wire.FlagRST == 0 || len(p.ep.Conns()) != 1 {
		t.Fatalf("a third ACK after the RST: flags %#x, %d connections", s.TCP.Flags(), len(p.ep.Conns()))
	}
}

// TestSynBacklog: SYNs beyond MaxSynBacklog are dropped and counted, and
// the backlog frees as handshakes complete.
func TestSynBacklog(t *testing.T) {
	p := newPeer(t, mptcp.Config{MaxSynBacklog: 3})
	p.ep.Listen(listenAddr.Port())
	var synacks []*wire.Segment
	for i := range 4 {
		from := netip.AddrPortFrom(synClient.Addr(), uint16(41000+i))
		p.send(from, listenAddr, wire.FlagSYN, 100, 0, mpcSYN(), nil)
		if i < 3 {
			synacks = append(synacks, p.recv())
		}
	}
	p.nothing()
	if p.ep.Stats.SynBacklogDrops != 1 {
		t.Fatalf("backlog drops %d, want 1", p.ep.Stats.SynBacklogDrops)
	}
	// The first handshake completes (plain ACK: fallback to TCP); now the
	// fourth client's retransmitted SYN fits.
	p.send(netip.AddrPortFrom(synClient.Addr(), 41000), listenAddr, wire.FlagACK, 101, synacks[0].TCP.Seq()+1, nil, nil)
	p.send(netip.AddrPortFrom(synClient.Addr(), 41003), listenAddr, wire.FlagSYN, 100, 0, mpcSYN(), nil)
	if s := p.recv(); s.TCP.Flags() != wire.FlagSYN|wire.FlagACK {
		t.Fatalf("flags %#x, want a SYN/ACK", s.TCP.Flags())
	}
}

// TestSegmentsToOtherAddresses: a SYN (or anything else without a
// subflow) to an address the endpoint does not have is dropped and
// counted, not answered: another host owns it.
func TestSegmentsToOtherAddresses(t *testing.T) {
	p := newPeer(t, mptcp.Config{})
	p.ep.Listen(5001)
	other := netip.MustParseAddrPort("10.0.1.77:5001")
	p.send(synClient, other, wire.FlagSYN, 100, 0, mpcSYN(), nil)
	p.send(synClient, other, wire.FlagACK, 100, 5, nil, nil)
	p.nothing()
	if st := p.ep.Stats; st.NotLocal != 2 || st.SynRequests != 0 {
		t.Fatalf("not local %d, requests %d; want 2 and 0", st.NotLocal, st.SynRequests)
	}
}

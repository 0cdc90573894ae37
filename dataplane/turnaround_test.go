package dataplane_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane"
	"github.com/mpxdp/mpxdp/dataplane/pipe"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
)

// TestResponseCarriesACK: a server that answers each request at once sends
// one packet per request, the response with the request's ACK on it. The
// shard lets the reader it woke run before it transmits (Shard.handOver);
// without that the ACK left alone and the response followed after the
// application's goroutine had been scheduled elsewhere, the turn-around
// that slowed mpbench --rr against an AF_XDP server (docs/mpbench.md).
// Quick ACKs for every segment make the engine acknowledge each request at
// once, as Linux does at the start of a connection.
func TestResponseCarriesACK(t *testing.T) {
	const rounds = 300
	eng := mptcp.Config{TCP: tcp.Config{QuickAcks: 1 << 30}}
	sa, sb := newPair(t, pipe.Config{}, dataplane.Config{Engine: eng}, dataplane.Config{Engine: eng})
	ln, err := sb.Listen(5001, 0)
	if err != nil {
		t.Fatal(err)
	}
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept(nil)
		if err != nil {
			srvErr <- err
			return
		}
		req, resp := make([]byte, 16), make([]byte, 1024)
		for {
			if err := readFull(c, req); err != nil {
				srvErr <- err
				return
			}
			if _, err := c.Write(resp, nil); err != nil {
				srvErr <- err
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sa.Dial(ctx, netip.AddrPort{}, netip.MustParseAddrPort("10.0.1.2:5001"))
	if err != nil {
		t.Fatal(err)
	}
	req, resp := make([]byte, 16), make([]byte, 1024)
	round := func() {
		t.Helper()
		if _, err := c.Write(req, nil); err != nil {
			t.Fatal(err)
		}
		if err := readFull(c, resp); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 { // past the handshake and the join
		round()
	}
	before := sb.Stats()
	for range rounds {
		round()
	}
	after := sb.Stats()
	sent := after.TxPackets - before.TxPackets
	perRound := float64(sent) / rounds
	t.Logf("server: %d packets in %d request/response rounds (%.2f per round), %d loops, %d sleeps",
		sent, rounds, perRound, after.Loops-before.Loops, after.Sleeps-before.Sleeps)
	// One packet per round when the response carries the ACK, two when
	// the ACK goes alone. A goroutine another processor steals now and
	// then may still miss the batch: allow a quarter of the rounds.
	if perRound > 1.25 {
		t.Errorf("the server sent %.2f packets per request/response round, want at most 1.25 (the ACK should ride on the response)", perRound)
	}
	c.Abort()
	select {
	case <-srvErr:
	case <-time.After(5 * time.Second):
		t.Error("server goroutine did not end after the client's abort")
	}
}

package mptcp_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/mbox"
	"github.com/mpxdp/mpxdp/dataplane/sim"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/mptcptest"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// subflowOf returns the subflow of c from local address a, or fails.
func subflowOf(t *testing.T, c *mptcp.Conn, local netip.Addr) mptcp.SubflowInfo {
	t.Helper()
	for _, sf := range c.Subflows() {
		if sf.Local.Addr() == local {
			return sf
		}
	}
	t.Fatalf("no subflow from %v among %+v", local, c.Subflows())
	return mptcp.SubflowInfo{}
}

// TestBackupAndMPPrio (RFC 8684 §3.3.8, INTEROP B.9): a subflow joined as
// backup carries no data while a regular subflow is usable, and the peer
// sees its B flag; once the regular path is cut the backup carries the
// transfer; SetBackup(false) tells the peer with MP_PRIO.
func TestBackupAndMPPrio(t *testing.T) {
	cfg := mptcp.Config{PathManager: "manual"}
	bed, err := mptcptest.NewBed(31, []sim.Path{path(20e6, 5*time.Millisecond), path(20e6, 5*time.Millisecond)}, cfg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, b := bed.Topo.AddrsA, bed.Topo.AddrsB
	tr := mptcptest.NewTransfer(bed, 31, 12<<20, 0)
	bed.Sim.At(200*time.Millisecond, func() {
		if _, err := tr.Cc.OpenSubflow(bed.Sim.Now(), netip.AddrPortFrom(a[1], 0), netip.AddrPortFrom(b[1], 5001), true); err != nil {
			t.Error(err)
		}
		bed.Topo.A.Wake()
	})
	var backupBefore uint64
	bed.Sim.At(time.Second, func() {
		cb, sb := subflowOf(t, tr.Cc, a[1]), subflowOf(t, tr.Sc, b[1])
		if !cb.Backup || !sb.PeerBackup || cb.State != tcp.Established {
			t.Errorf("backup subflow: ours %+v, the peer's view %+v", cb, sb)
		}
		backupBefore = cb.Stats.BytesOut
		if backupBefore > 0 {
			t.Errorf("the backup subflow carried %d bytes while the regular one was usable", backupBefore)
		}
		bed.Topo.Forward[0].SetDown(true)
		bed.Topo.Reverse[0].SetDown(true)
	})
	bed.Sim.At(3*time.Second, func() {
		cb := subflowOf(t, tr.Cc, a[1])
		if cb.Stats.BytesOut < 1<<20 {
			t.Errorf("after the regular path was cut the backup carried only %d bytes", cb.Stats.BytesOut)
		}
		if err := tr.Cc.SetBackup(cb.ID, false); err != nil {
			t.Error(err)
		}
		bed.Topo.A.Wake()
	})
	bed.Sim.At(3500*time.Millisecond, func() {
		if sb := subflowOf(t, tr.Sc, b[1]); sb.PeerBackup {
			t.Errorf("MP_PRIO did not reach the peer: %+v", sb)
		}
	})
	if msg := tr.Run(5 * time.Minute); msg != "" {
		t.Fatal(msg)
	}
}

// TestAddAddrRetransmission (RFC 8684 §3.4.1, INTEROP B.6): an ADD_ADDR
// whose echo is lost is sent again, four times in all; one that is echoed
// is sent once.
func TestAddAddrRetransmission(t *testing.T) {
	for _, loseEchoes := range []bool{false, true} {
		sent := 0
		countAnnouncements := func(_ time.Duration, dir mbox.Direction, seg *wire.Segment) bool {
			if dir == mbox.Reverse && seg.Options.Has.Has(wire.OptAddAddr) && !seg.Options.AddAddr.Echo {
				sent++
			}
			return false
		}
		paths := []sim.Path{path(20e6, 5*time.Millisecond), path(20e6, 5*time.Millisecond)}
		paths[0].Middlebox = &mbox.Drop{Select: mbox.Selector{Where: countAnnouncements}}
		if loseEchoes {
			paths[0].Middlebox = chain(paths[0].Middlebox, &mbox.Drop{Select: mbox.Selector{Options: wire.OptAddAddr, Dirs: mbox.ForwardOnly}})
		}
		cfg := mptcp.Config{PathManager: "manual"}
		bed, err := mptcptest.NewBed(32, paths, cfg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		tr := mptcptest.NewTransfer(bed, 32, 8<<20, 0) // long enough to outlive the retransmissions
		bed.Sim.At(100*time.Millisecond, func() {
			if err := tr.Sc.Announce(bed.Sim.Now(), 1, netip.AddrPortFrom(bed.Topo.AddrsB[1], 0)); err != nil {
				t.Error(err)
			}
			bed.Topo.B.Wake()
		})
		bed.Sim.Run(20 * time.Second)
		want := 1
		if loseEchoes {
			want = 4
		}
		if sent != want {
			t.Errorf("echoes lost %v: ADD_ADDR sent %d times, want %d", loseEchoes, sent, want)
		}
	}
}

// chained runs two middleboxes in series.
type chained struct{ first, second mbox.Middlebox }

func chain(a, b mbox.Middlebox) mbox.Middlebox { return &chained{a, b} }

func (c *chained) Process(now time.Duration, dir mbox.Direction, pkt []byte, emit mbox.Emit) {
	c.first.Process(now, dir, pkt, func(d mbox.Direction, p []byte) { c.second.Process(now, d, p, emit) })
}

// TestRemoveAddrClosesSubflows (RFC 8684 §3.4.2): the server announces a
// second address, the fullmesh client joins it, and when the server
// withdraws it the subflows to it close while the transfer goes on.
func TestRemoveAddrClosesSubflows(t *testing.T) {
	bed, err := mptcptest.NewBed(33, []sim.Path{path(20e6, 5*time.Millisecond), path(20e6, 5*time.Millisecond)},
		mptcp.Config{PathManager: "fullmesh"}, mptcp.Config{PathManager: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	b1 := bed.Topo.AddrsB[1]
	tr := mptcptest.NewTransfer(bed, 33, 16<<20, 0)
	bed.Sim.At(100*time.Millisecond, func() {
		if err := tr.Sc.Announce(bed.Sim.Now(), 1, netip.AddrPortFrom(b1, 0)); err != nil {
			t.Error(err)
		}
		bed.Topo.B.Wake()
	})
	toB1 := func() (live, all int) {
		for _, sf := range tr.Cc.Subflows() {
			if sf.Remote.Addr() == b1 {
				all++
				if sf.State == tcp.Established {
					live++
				}
			}
		}
		return
	}
	bed.Sim.At(time.Second, func() {
		if live, _ := toB1(); live != 2 {
			t.Errorf("%d established subflows to the announced address, want 2 (one from each client address)", live)
		}
		if err := tr.Sc.Withdraw(1); err != nil {
			t.Error(err)
		}
		bed.Topo.B.Wake()
	})
	bed.Sim.At(2*time.Second, func() {
		if live, all := toB1(); live != 0 || all != 2 {
			t.Errorf("after REMOVE_ADDR: %d of %d subflows to the withdrawn address still established", live, all)
		}
	})
	if msg := tr.Run(5 * time.Minute); msg != "" {
		t.Fatal(msg)
	}
}

// TestCloseOrderTimeWait (RFC 8041 §3.6, INTEROP B.7): the side that sends
// its DATA_FIN first takes the TIME-WAIT states of the subflows; the
// passive closer's subflows go straight to CLOSED.
func TestCloseOrderTimeWait(t *testing.T) {
	bed, err := mptcptest.NewBed(34, []sim.Path{path(20e6, 5*time.Millisecond), path(20e6, 5*time.Millisecond)},
		mptcp.Config{}, mptcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// The client has nothing to send: it closes at once, the server after
	// its 1 MiB, so the client is the active closer.
	tr := mptcptest.NewTransfer(bed, 34, 0, 1<<20)
	if msg := tr.Run(time.Minute); msg != "" {
		t.Fatal(msg)
	}
	bed.Sim.Run(tr.DoneAt + 5*time.Second) // the subflows' FIN exchanges
	for _, sf := range tr.Cc.Subflows() {
		if sf.State != tcp.TimeWait {
			t.Errorf("active closer's subflow %d in %v, want TIME-WAIT", sf.ID, sf.State)
		}
	}
	for _, sf := range tr.Sc.Subflows() {
		if sf.State != tcp.Closed {
			t.Errorf("passive closer's subflow %d in %v, want CLOSED", sf.ID, sf.State)
		}
	}
}

// TestJoinLimit: joins beyond the listener's MaxSubflows are refused with
// MP_TCPRST reason 3 ("administratively prohibited") and the connection
// carries on with the subflows it has.
func TestJoinLimit(t *testing.T) {
	bed, err := mptcptest.NewBed(35, []sim.Path{path(20e6, 5*time.Millisecond), path(20e6, 5*time.Millisecond)},
		mptcp.Config{PathManager: "ndiffports", Subflows: 4}, mptcp.Config{MaxSubflows: 2})
	if err != nil {
		t.Fatal(err)
	}
	tr := mptcptest.NewTransfer(bed, 35, 4<<20, 0)
	if msg := tr.Run(time.Minute); msg != "" {
		t.Fatal(msg)
	}
	refused := 0
	for _, sf := range tr.Cc.Subflows() {
		if sf.Join && sf.Stats.ResetsIn > 0 {
			refused++
		}
	}
	if tr.Sc.Stats.JoinsRejected != 2 || refused != 2 {
		t.Errorf("server rejected %d joins, client saw %d refused; want 2 and 2", tr.Sc.Stats.JoinsRejected, refused)
	}
}

// TestMakeAfterBreak (RFC 8684 §3.3.3, INTEROP B.7): when every subflow is
// gone the connection waits up to CloseTimeout for a new one. A subflow
// opened in time resumes the transfer; without one the connection closes
// with ErrTimeout.
func TestMakeAfterBreak(t *testing.T) {
	for _, reopen := range []bool{true, false} {
		cfg := mptcp.Config{PathManager: "manual", CloseTimeout: 5 * time.Second}
		bed, err := mptcptest.NewBed(36, []sim.Path{path(20e6, 5*time.Millisecond), path(20e6, 5*time.Millisecond)}, cfg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		tr := mptcptest.NewTransfer(bed, 36, 4<<20, 0)
		bed.Sim.At(300*time.Millisecond, func() {
			sf := subflowOf(t, tr.Cc, bed.Topo.AddrsA[0])
			_ = tr.Cc.ResetSubflow(sf.ID)
			bed.Topo.A.Wake()
		})
		if reopen {
			bed.Sim.At(2*time.Second, func() {
				if _, err := tr.Cc.OpenSubflow(bed.Sim.Now(), netip.AddrPortFrom(bed.Topo.AddrsA[1], 0),
					netip.AddrPortFrom(bed.Topo.AddrsB[0], 5001), false); err != nil {
					t.Error(err)
				}
				bed.Topo.A.Wake()
			})
			if msg := tr.Run(time.Minute); msg != "" {
				t.Fatalf("reopened: %s", msg)
			}
			continue
		}
		bed.Sim.Run(time.Minute)
		closed, err := tr.Cc.Closed()
		if !closed || err != mptcp.ErrTimeout {
			t.Errorf("without a new subflow: closed %v with %v, want ErrTimeout", closed, err)
		}
	}
}

// sendTap records every packet an endpoint sends, in order.
type sendTap struct {
	*mptcptest.Host
	sent [][]byte
}

func (s *sendTap) PollTransmit(now time.Duration, buf []byte) int {
	n := s.Host.PollTransmit(now, buf)
	if n > 0 {
		s.sent = append(s.sent, append([]byte(nil), buf[:n]...))
	}
	return n
}

// TestReceiveWindowRightEdgeNeverShrinks (RFC 8684 §3.3.4, INTEROP B.10):
// the connection-level window every subflow announces is relative to the
// DATA_ACK, and its right edge never moves back, although the receiver's
// small buffer fills and drains many times and the subflows take turns.
func TestReceiveWindowRightEdgeNeverShrinks(t *testing.T) {
	bed, err := mptcptest.NewBed(37, []sim.Path{path(20e6, 5*time.Millisecond), path(20e6, 8*time.Millisecond)},
		mptcp.Config{}, mptcp.Config{RecvBuffer: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	tap := &sendTap{Host: bed.ServerHost}
	bed.Topo.B.SetEndpoint(tap)
	tr := mptcptest.NewTransfer(bed, 37, 4<<20, 0)
	if msg := tr.Run(time.Minute); msg != "" {
		t.Fatal(msg)
	}
	shift := map[uint16]uint8{} // window scale by client port, from the SYN/ACKs
	var right uint64
	var seg wire.Segment
	checked := 0
	for _, pkt := range tap.sent {
		if err := wire.ParseSegment(pkt, &seg, nil); err != nil {
			t.Fatal(err)
		}
		o := &seg.Options
		port := seg.TCP.DstPort()
		if seg.TCP.Flags()&wire.FlagSYN != 0 {
			shift[port] = o.WindowScale
			continue
		}
		if !o.Has.Has(wire.OptDSS) || o.DSS.Flags&wire.DSSDataAck == 0 || seg.TCP.Flags()&wire.FlagRST != 0 {
			continue
		}
		ack := o.DSS.DataAck
		if o.DSS.Flags&wire.DSSAck64 == 0 {
			ack = wire.ExpandSeq32(right, uint32(ack))
		}
		edge := ack + uint64(seg.TCP.Window())<<shift[port]
		if right != 0 && edge < right {
			t.Fatalf("segment %d to port %d: right edge %d moved back by %d bytes", checked, port, edge, right-edge)
		}
		right = max(right, edge)
		checked++
	}
	if checked < 100 {
		t.Fatalf("only %d segments with a DATA_ACK checked", checked)
	}
	t.Logf("%d segments checked on %d subflows", checked, len(shift))
}

// TestAddAddrAcceptLimit: a client accepts at most MaxAddAddrAccepted
// announced addresses (Linux add_addr_accepted) and joins only those;
// every announcement is still echoed, so the server stops repeating it.
func TestAddAddrAcceptLimit(t *testing.T) {
	sent := 0
	p := path(20e6, 5*time.Millisecond)
	p0 := p
	p0.Middlebox = &mbox.Drop{Select: mbox.Selector{Where: func(_ time.Duration, dir mbox.Direction, seg *wire.Segment) bool {
		if dir == mbox.Reverse && seg.Options.Has.Has(wire.OptAddAddr) && !seg.Options.AddAddr.Echo {
			sent++
		}
		return false
	}}}
	bed, err := mptcptest.NewBed(38, []sim.Path{p0, p, p},
		mptcp.Config{PathManager: "fullmesh", MaxAddAddrAccepted: 1}, mptcp.Config{PathManager: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	b := bed.Topo.AddrsB
	tr := mptcptest.NewTransfer(bed, 38, 8<<20, 0)
	bed.Sim.At(100*time.Millisecond, func() {
		for id := uint8(1); id <= 2; id++ {
			if err := tr.Sc.Announce(bed.Sim.Now(), id, netip.AddrPortFrom(b[id], 0)); err != nil {
				t.Error(err)
			}
		}
		bed.Topo.B.Wake()
	})
	if msg := tr.Run(time.Minute); msg != "" {
		t.Fatal(msg)
	}
	remotes := map[netip.Addr]int{}
	for _, sf := range tr.Cc.Subflows() {
		remotes[sf.Remote.Addr()]++
	}
	if remotes[b[1]] == 0 || remotes[b[2]] != 0 {
		t.Errorf("subflows by remote address %v: want joins to the first announced address only", remotes)
	}
	if sent != 2 {
		t.Errorf("ADD_ADDR sent %d times for two announcements: the ignored one was not echoed", sent)
	}
}

// TestDataFINNotDelayed: an application that writes and closes at once,
// while mappings are still queued on the subflow, gets its DATA_FIN out
// with the data, not 200 ms later when the MPTCP-level timer would resend
// it (mpbench --rr saw that).
func TestDataFINNotDelayed(t *testing.T) {
	bed, err := mptcptest.NewBed(39, []sim.Path{path(100e6, time.Millisecond)}, mptcp.Config{}, mptcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr := mptcptest.NewTransfer(bed, 39, 256<<10, 0)
	if msg := tr.Run(time.Minute); msg != "" {
		t.Fatal(msg)
	}
	// Two round trips for the handshake, a few for 256 KiB at 100 Mbit/s:
	// well under the 200 ms of a DATA_FIN retransmission.
	t.Logf("done at %v", tr.DoneAt)
	if tr.DoneAt > 100*time.Millisecond {
		t.Errorf("done at %v: a DATA_FIN waited for a retransmission", tr.DoneAt)
	}
}

// TestEphemeralPortsExhausted: with every port of Config.EphemeralPorts
// used towards a destination, Dial fails with ErrNoPort instead of taking
// a 4-tuple in use; a port is shared with other destinations; a subflow in
// TIME-WAIT gives its 4-tuple to a new connection after a second
// (tcp_tw_reuse), and that connection works.
func TestEphemeralPortsExhausted(t *testing.T) {
	bed, err := mptcptest.NewBed(36, []sim.Path{path(20e6, 5*time.Millisecond)},
		mptcp.Config{PathManager: "ndiffports", Subflows: 1, EphemeralPorts: [2]uint16{61000, 61000}}, mptcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// The client closes first (nothing to send), so its subflow on the
	// only port ends in TIME-WAIT (TestCloseOrderTimeWait).
	tr := mptcptest.NewTransfer(bed, 36, 0, 64<<10)
	if msg := tr.Run(time.Minute); msg != "" {
		t.Fatal(msg)
	}
	bed.Sim.Run(tr.DoneAt + 200*time.Millisecond)
	sfs := tr.Cc.Subflows()
	if len(sfs) != 1 || sfs[0].State != tcp.TimeWait || sfs[0].Local.Port() != 61000 {
		t.Fatalf("client subflows %+v, want one on port 61000 in TIME-WAIT", sfs)
	}
	local := netip.AddrPortFrom(bed.Topo.AddrsA[0], 0)
	server := netip.AddrPortFrom(bed.Topo.AddrsB[0], 5001)
	now := bed.Sim.Now()
	if _, err := bed.Client.Dial(now, local, server); !errors.Is(err, mptcp.ErrNoPort) {
		t.Fatalf("Dial with the only 4-tuple in TIME-WAIT for %v: %v, want ErrNoPort", now-tr.DoneAt, err)
	}
	// Another destination may use the same local port.
	other := netip.AddrPortFrom(bed.Topo.AddrsB[0], 5002)
	c2, err := bed.Client.Dial(now, local, other)
	if err != nil {
		t.Fatalf("Dial to another destination: %v", err)
	}
	if p := c2.Subflows()[0].Local.Port(); p != 61000 {
		t.Fatalf("second destination got port %d", p)
	}
	c2.Abort()
	if s := bed.Client.Stats; s.NoPort != 1 || s.TimeWaitReused != 0 {
		t.Fatalf("stats %+v", s)
	}
	// A second later the TIME-WAIT 4-tuple is taken over, and a new
	// transfer on it completes (the server accepts the new incarnation).
	bed.Sim.Run(tr.DoneAt + 1500*time.Millisecond)
	tr2 := mptcptest.NewTransfer(bed, 37, 32<<10, 32<<10)
	if msg := tr2.Run(bed.Sim.Now() + time.Minute); msg != "" {
		t.Fatal(msg)
	}
	if s := bed.Client.Stats; s.TimeWaitReused != 1 {
		t.Fatalf("TIME-WAIT reuses %d, want 1", s.TimeWaitReused)
	}
	if p := tr2.Cc.Subflows()[0].Local.Port(); p != 61000 {
		t.Fatalf("new connection on port %d", p)
	}
}

// TestSYNEndsTimeWait: a SYN with a newer timestamp on a 4-tuple the
// listener holds in TIME-WAIT opens a new connection at once (RFC 6191, as
// Linux), instead of drawing an ACK, the client's RST and a SYN timeout.
func TestSYNEndsTimeWait(t *testing.T) {
	bed, err := mptcptest.NewBed(38, []sim.Path{path(20e6, 5*time.Millisecond)},
		mptcp.Config{PathManager: "ndiffports", Subflows: 1, EphemeralPorts: [2]uint16{61000, 61000}}, mptcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// The server has nothing to send and closes first: its subflow ends in
	// TIME-WAIT, the client's in CLOSED, so the client's port is free.
	tr := mptcptest.NewTransfer(bed, 38, 64<<10, 0)
	if msg := tr.Run(time.Minute); msg != "" {
		t.Fatal(msg)
	}
	bed.Sim.Run(tr.DoneAt + 200*time.Millisecond)
	if sfs := tr.Sc.Subflows(); len(sfs) != 1 || sfs[0].State != tcp.TimeWait {
		t.Fatalf("server subflows %+v, want one in TIME-WAIT", sfs)
	}
	start := bed.Sim.Now()
	tr2 := mptcptest.NewTransfer(bed, 39, 16<<10, 16<<10)
	if msg := tr2.Run(start + time.Minute); msg != "" {
		t.Fatal(msg)
	}
	sf := tr2.Cc.Subflows()[0]
	if sf.Local.Port() != 61000 {
		t.Fatalf("new connection on port %d, want the old 4-tuple", sf.Local.Port())
	}
	if d := tr2.DoneAt - start; d > 500*time.Millisecond || sf.Stats.Retransmits != 0 || bed.Server.Stats.TimeWaitReused != 1 {
		t.Fatalf("second transfer took %v, client retransmits %d, server TIME-WAIT reuses %d (want well under the 1 s SYN timeout, 0, 1)",
			d, sf.Stats.Retransmits, bed.Server.Stats.TimeWaitReused)
	}
}

package mptcp_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/sim"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/mptcptest"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
)

func path(rate float64, delay time.Duration) sim.Path {
	return sim.Symmetric(sim.LinkConfig{Rate: rate, Delay: delay, QueuePackets: 200})
}

func TestSinglePathTransfer(t *testing.T) {
	bed, err := mptcptest.NewBed(1, []sim.Path{path(100e6, 5*time.Millisecond)}, mptcp.Config{}, mptcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr := mptcptest.NewTransfer(bed, 1, 1<<20, 256<<10)
	if msg := tr.Run(time.Minute); msg != "" {
		t.Fatal(msg)
	}
	if !tr.Cc.MPTCP() || !tr.Sc.MPTCP() {
		t.Errorf("fell back: %v %v", tr.Cc.Fallback(), tr.Sc.Fallback())
	}
	t.Logf("done at %v; %s", tr.DoneAt, tr.Describe())
}

func TestTwoPathFullMesh(t *testing.T) {
	bed, err := mptcptest.NewBed(2, []sim.Path{path(10e6, 10*time.Millisecond), path(10e6, 10*time.Millisecond)},
		mptcp.Config{}, mptcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr := mptcptest.NewTransfer(bed, 2, 4<<20, 64<<10)
	if msg := tr.Run(time.Minute); msg != "" {
		t.Fatal(msg)
	}
	subs := tr.Cc.Subflows()
	t.Logf("done at %v; %d subflows; client %+v", tr.DoneAt, len(subs), tr.Cc.Stats)
	for _, sf := range subs {
		t.Logf("  %d %v→%v %v bytes out %d rtx %d", sf.ID, sf.Local, sf.Remote, sf.State, sf.Stats.BytesOut, sf.Stats.Retransmits)
	}
	if len(subs) < 2 {
		t.Errorf("only %d subflows", len(subs))
	}
	// 4 MiB over 20 Mbit/s takes 1.7 s; one path alone would take 3.4 s.
	if tr.DoneAt > 3*time.Second {
		t.Errorf("took %v: the second path was not used", tr.DoneAt)
	}
}

func TestChecksumNegotiation(t *testing.T) {
	for _, tc := range []struct{ client, server, want bool }{
		{false, false, false}, {true, false, true}, {false, true, true}, {true, true, true},
	} {
		bed, err := mptcptest.NewBed(3, []sim.Path{path(100e6, time.Millisecond)},
			mptcp.Config{Checksum: tc.client}, mptcp.Config{Checksum: tc.server})
		if err != nil {
			t.Fatal(err)
		}
		tr := mptcptest.NewTransfer(bed, 3, 300<<10, 100<<10)
		if msg := tr.Run(time.Minute); msg != "" {
			t.Fatalf("client %v server %v: %s", tc.client, tc.server, msg)
		}
		if tr.Cc.Checksums() != tc.want || tr.Sc.Checksums() != tc.want {
			t.Errorf("client %v server %v: checksums %v/%v, want %v", tc.client, tc.server, tr.Cc.Checksums(), tr.Sc.Checksums(), tc.want)
		}
		if !tr.Cc.MPTCP() || tr.Cc.Stats.ChecksumFailures+tr.Sc.Stats.ChecksumFailures != 0 {
			t.Errorf("client %v server %v: %s", tc.client, tc.server, tr.Describe())
		}
	}
}

// TestPlainTCPPeers: an MPTCP endpoint talks plain TCP with a peer that
// does not speak MPTCP, in both roles (RFC 8684 §3.1: the SYN/ACK without
// MP_CAPABLE makes the client fall back; a SYN without it gets plain TCP).
func TestPlainTCPPeers(t *testing.T) {
	for _, tc := range []struct {
		name           string
		client, server mptcp.Config
	}{
		{"plain server", mptcp.Config{}, mptcp.Config{DisableMPTCP: true}},
		{"plain client", mptcp.Config{DisableMPTCP: true}, mptcp.Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bed, err := mptcptest.NewBed(4, []sim.Path{path(50e6, 2*time.Millisecond), path(50e6, 2*time.Millisecond)}, tc.client, tc.server)
			if err != nil {
				t.Fatal(err)
			}
			tr := mptcptest.NewTransfer(bed, 4, 500<<10, 200<<10)
			if msg := tr.Run(time.Minute); msg != "" {
				t.Fatal(msg)
			}
			if tr.Cc.MPTCP() || tr.Sc.MPTCP() || len(tr.Cc.Subflows()) != 1 {
				t.Errorf("MPTCP %v/%v with %d subflows, want plain TCP on one", tr.Cc.MPTCP(), tr.Sc.MPTCP(), len(tr.Cc.Subflows()))
			}
		})
	}
}

// TestPlainTCPLargeTransfer moves more than the buffers hold over a plain
// TCP connection, so that the send buffer must be released by TCP ACKs.
func TestPlainTCPLargeTransfer(t *testing.T) {
	cfg := mptcp.Config{SendBuffer: 64 << 10, RecvBuffer: 64 << 10}
	plain := cfg
	plain.DisableMPTCP = true
	bed, err := mptcptest.NewBed(6, []sim.Path{path(100e6, time.Millisecond)}, cfg, plain)
	if err != nil {
		t.Fatal(err)
	}
	tr := mptcptest.NewTransfer(bed, 6, 1<<20, 1<<20)
	if msg := tr.Run(time.Minute); msg != "" {
		t.Fatal(msg)
	}
}

// TestSubflowFailureMidTransfer: a path cut, a blackholed path and a
// subflow reset in the middle of a transfer; the transfer completes on
// the remaining subflows and closes cleanly.
func TestSubflowFailureMidTransfer(t *testing.T) {
	for _, tc := range []struct{ mode, sched string }{
		{"cut", ""}, {"blackhole", ""}, {"reset", ""},
		{"cut", "roundrobin"}, {"blackhole", "roundrobin"}, {"reset", "roundrobin"},
		{"cut", "redundant"}, {"blackhole", "redundant"}, {"reset", "redundant"},
	} {
		mode := tc.mode
		name := mode
		if tc.sched != "" {
			name += "/" + tc.sched
		}
		t.Run(name, func(t *testing.T) {
			cfg := mptcp.Config{Scheduler: tc.sched}
			bed, err := mptcptest.NewBed(7, []sim.Path{path(20e6, 5*time.Millisecond), path(20e6, 5*time.Millisecond)},
				cfg, cfg)
			if err != nil {
				t.Fatal(err)
			}
			tr := mptcptest.NewTransfer(bed, 7, 8<<20, 2<<20)
			bed.Sim.At(700*time.Millisecond, func() {
				switch mode {
				case "cut": // both directions down, as `ip link set down`
					bed.Topo.Forward[1].SetDown(true)
					bed.Topo.Reverse[1].SetDown(true)
				case "blackhole": // only one direction silently drops
					bed.Topo.Forward[1].SetDown(true)
				case "reset":
					for _, sf := range tr.Cc.Subflows() {
						if sf.Local.Addr() == bed.Topo.AddrsA[1] && sf.State == tcp.Established {
							_ = tr.Cc.ResetSubflow(sf.ID)
						}
					}
					bed.Topo.A.Wake()
				}
			})
			if msg := tr.Run(5 * time.Minute); msg != "" {
				t.Fatal(msg)
			}
			t.Logf("%s: done at %v, reinjected %d, stale %d", mode, tr.DoneAt, tr.Cc.Stats.Reinjected, tr.Cc.Stats.StaleSubflows)
		})
	}
}

// TestConfigPolicyNames: unknown policy names and a subflow count beyond
// the limit fail NewEndpoint with a message naming the field and, for
// names, the known values; they never reach a connection.
func TestConfigPolicyNames(t *testing.T) {
	for _, tc := range []struct {
		cfg  mptcp.Config
		want string
	}{
		{mptcp.Config{Scheduler: "fastest"}, `Config.Scheduler "fastest" (known: lowrtt, redundant, roundrobin)`},
		{mptcp.Config{CC: "bbr"}, `Config.CC "bbr" (known: `},
		{mptcp.Config{PathManager: "binder"}, `Config.PathManager "binder" (known: `},
		{mptcp.Config{Subflows: 9}, "Config.Subflows 9 outside 1..MaxSubflows (8)"},
		{mptcp.Config{Subflows: -1}, "Config.Subflows -1"},
	} {
		tc.cfg.Rand = rand.NewPCG(1, 2)
		_, err := mptcp.NewEndpoint(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.cfg, err, tc.want)
		}
	}
	for _, name := range []string{"lowrtt", "roundrobin", "redundant"} {
		if _, err := mptcp.NewEndpoint(mptcp.Config{Rand: rand.NewPCG(1, 2), Scheduler: name, CC: "lia", PathManager: "ndiffports"}); err != nil {
			t.Errorf("scheduler %s: %v", name, err)
		}
	}
}

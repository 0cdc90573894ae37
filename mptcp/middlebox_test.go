package mptcp_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/mbox"
	"github.com/mpxdp/mpxdp/dataplane/sim"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/mptcptest"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// TestMiddleboxes runs a transfer through every middlebox behaviour of
// dataplane/mbox (the NSDI'12 paper's Click elements), on one path and on
// the second of two paths, with DSS checksums off and on. Each ends in
// MPTCP or in a clean fallback to TCP, with every byte delivered intact,
// except where a rewritten payload cannot be detected without checksums.
func TestMiddleboxes(t *testing.T) {
	type mb struct {
		name string
		make func() mbox.Middlebox
		// corrupts: without DSS checksums the data cannot be intact.
		corrupts bool
		// singlePathQueue, when set, is the queue of a lone path. A
		// proactive-ACKing box that loses a segment after acknowledging
		// it leaves a hole the sender never fills at the subflow level;
		// with no other subflow to carry the data the connection stalls,
		// as a kernel MPTCP or TCP connection does.
		singlePathQueue int
		// fallback: on a lone path the connection falls back to TCP,
		// without and with DSS checksums. On the second of two paths it
		// must stay MPTCP, losing at most that path's subflows.
		fallback [2]bool
	}
	boxes := []mb{
		{"strip SYN", func() mbox.Middlebox { return mbox.StripMPTCP(mbox.Selector{On: mbox.OnSYN}) }, false, 0, [2]bool{true, true}},
		{"strip SYN/ACK", func() mbox.Middlebox { return mbox.StripMPTCP(mbox.Selector{On: mbox.OnSYNACK}) }, false, 0, [2]bool{true, true}},
		{"strip third ACK", func() mbox.Middlebox { return mbox.StripMPTCP(mbox.Selector{On: mbox.OnThirdACK}) }, false, 0, [2]bool{true, true}},
		{"strip data", func() mbox.Middlebox { return mbox.StripMPTCP(mbox.Selector{On: mbox.OnData}) }, false, 0, [2]bool{true, true}},
		{"strip all", func() mbox.Middlebox { return mbox.StripMPTCP(mbox.Selector{}) }, false, 0, [2]bool{true, true}},
		{"strip DSS only", func() mbox.Middlebox {
			return &mbox.StripOption{Kind: wire.OptionKindMPTCP, Subtypes: 1 << wire.SubtypeDSS}
		}, false, 0, [2]bool{true, true}},
		{"rewrite ISN", func() mbox.Middlebox { return &mbox.RewriteISN{Seed: 5} }, false, 0, [2]bool{}},
		{"NAT", func() mbox.Middlebox { return &mbox.NAT{Outside: mustAddr("192.0.2.1"), Preserve: false} }, false, 0, [2]bool{}},
		{"split", func() mbox.Middlebox { return &mbox.Split{MaxPayload: 500} }, false, 0, [2]bool{}},
		{"split, options on first", func() mbox.Middlebox { return &mbox.Split{MaxPayload: 500, OptionsOnFirst: true} }, false, 0, [2]bool{}},
		{"coalesce", func() mbox.Middlebox { return &mbox.Coalesce{MaxLen: 3000} }, false, 0, [2]bool{false, true}},
		{"modify payload once", func() mbox.Middlebox {
			return &mbox.ModifyPayload{Select: mbox.Selector{On: mbox.OnData, From: 20 * time.Millisecond, First: 1}, At: 10, Set: []byte("XYZ")}
		}, true, 0, [2]bool{false, true}},
		{"proactive ACK", func() mbox.Middlebox { return &mbox.ProactiveACK{} }, false, 4000, [2]bool{}},
		{"drop MP_JOIN", func() mbox.Middlebox { return &mbox.Drop{Select: mbox.Selector{Options: wire.OptMPJoin}} }, false, 0, [2]bool{}},
		// The fourth SYN goes without MP_CAPABLE (blackhole.go); on the
		// second path only MP_JOIN SYNs pass the box.
		{"drop MP_CAPABLE SYNs", func() mbox.Middlebox {
			return &mbox.Drop{Select: mbox.Selector{On: mbox.OnSYN, Options: wire.OptMPCapable}}
		}, false, 0, [2]bool{true, true}},
	}
	for _, b := range boxes {
		for _, npaths := range []int{1, 2} {
			for _, csum := range []bool{false, true} {
				if b.corrupts && !csum {
					continue
				}
				t.Run(fmt.Sprintf("%s/paths=%d/csum=%v", b.name, npaths, csum), func(t *testing.T) {
					paths := make([]sim.Path, npaths)
					for i := range paths {
						paths[i] = sim.Symmetric(sim.LinkConfig{Rate: 20e6, Delay: 5 * time.Millisecond, QueuePackets: 100})
					}
					if npaths == 1 && b.singlePathQueue > 0 {
						paths[0].Forward.QueuePackets = b.singlePathQueue
						paths[0].Reverse.QueuePackets = b.singlePathQueue
					}
					paths[npaths-1].Middlebox = b.make()
					cfg := mptcp.Config{Checksum: csum}
					bed, err := mptcptest.NewBed(7, paths, cfg, cfg)
					if err != nil {
						t.Fatal(err)
					}
					bed.Sim.SetMaxPacket(4000)
					if dir := os.Getenv("MPXDP_MBOX_PCAP"); dir != "" {
						for i := range bed.Topo.Forward {
							for j, l := range []*sim.Link{bed.Topo.Forward[i], bed.Topo.Reverse[i]} {
								f, err := os.Create(filepath.Join(dir, fmt.Sprintf("path%d-%d.pcap", i, j)))
								if err != nil {
									t.Fatal(err)
								}
								defer f.Close()
								if err := l.CapturePcap(f, 0); err != nil {
									t.Fatal(err)
								}
							}
						}
					}
					tr := mptcptest.NewTransfer(bed, 7, 1<<20, 256<<10)
					if msg := tr.Run(5 * time.Minute); msg != "" {
						t.Fatal(msg)
					}
					mode := "MPTCP"
					if fb := tr.Cc.Fallback(); fb != nil {
						mode = "fallback: " + fb.Reason
					} else if fb := tr.Sc.Fallback(); fb != nil {
						mode = "server fallback: " + fb.Reason
					}
					csumIdx := 0
					if csum {
						csumIdx = 1
					}
					if wantFB := npaths == 1 && b.fallback[csumIdx]; wantFB != (mode != "MPTCP") {
						t.Errorf("ended in %s; want fallback %v", mode, wantFB)
					}
					t.Logf("%s, %d client subflows, done at %v", mode, len(tr.Cc.Subflows()), tr.DoneAt)
				})
			}
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

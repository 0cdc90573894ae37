package mptcp_test

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/sim"
	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/mptcptest"
)

var seeds = flag.Int("seeds", 100, "seeds for the MPTCP property tests")

// randomScenario draws paths, impairments and policies from the seed.
func randomScenario(seed uint64) ([]sim.Path, mptcp.Config, mptcp.Config, int, int, string) {
	r := rand.New(rand.NewPCG(seed, 99))
	np := 1 + r.IntN(4)
	var paths []sim.Path
	desc := ""
	for i := 0; i < np; i++ {
		rate := []float64{2e6, 10e6, 50e6, 200e6}[r.IntN(4)]
		delay := time.Duration(math.Pow(10, 2*r.Float64())) * time.Millisecond / 2 // 0.5–50 ms
		cfg := sim.LinkConfig{Rate: rate, Delay: delay, QueuePackets: 10 + r.IntN(150), Loss: 0.03 * r.Float64() * r.Float64()}
		if r.IntN(3) == 0 {
			cfg.Reorder, cfg.ReorderDelay = 0.02*r.Float64(), delay/2+time.Millisecond
		}
		if r.IntN(4) == 0 {
			cfg.Duplicate = 0.01 * r.Float64()
		}
		if r.IntN(5) == 0 {
			cfg.Corrupt = 0.005 * r.Float64()
		}
		paths = append(paths, sim.Symmetric(cfg))
		desc += fmt.Sprintf("[%gM %v q%d loss %.3f] ", rate/1e6, delay, cfg.QueuePackets, cfg.Loss)
	}
	common := mptcp.Config{
		Scheduler:   []string{"lowrtt", "roundrobin", "redundant"}[r.IntN(3)],
		CC:          []string{"reno", "cubic", "lia", "olia", "balia"}[r.IntN(5)],
		PathManager: []string{"fullmesh", "ndiffports"}[r.IntN(2)],
		Subflows:    1 + r.IntN(4),
		SendBuffer:  64<<10 + r.IntN(2<<20),
		RecvBuffer:  64<<10 + r.IntN(2<<20),
	}
	client, server := common, common
	client.Checksum = r.IntN(4) == 0
	server.Checksum = r.IntN(4) == 0
	desc += fmt.Sprintf("sched %s cc %s pm %s/%d csum %v/%v buf %d/%d", common.Scheduler, common.CC, common.PathManager,
		common.Subflows, client.Checksum, server.Checksum, common.SendBuffer, common.RecvBuffer)
	return paths, client, server, 1 + r.IntN(1<<20), r.IntN(256 << 10), desc
}

// TestTransferProperty: over many seeds, 1–4 paths with different rates,
// delays, queues, loss, reordering, duplication and corruption, and random
// schedulers, congestion controllers, path managers and checksum settings,
// a third of them receiving packets as chains of buffers, half of them
// lending read buffers:
// every byte arrives exactly once and in order in both directions, both
// sides close cleanly, and nothing hangs.
func TestTransferProperty(t *testing.T) {
	n := *seeds
	if testing.Short() {
		n = min(n, 20)
	}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		paths, client, server, up, down, desc := randomScenario(seed)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			bed, err := mptcptest.NewBed(seed, paths, client, server)
			if err != nil {
				t.Fatal(err)
			}
			if seed%3 == 0 {
				// A third of the runs receive every packet as a chain of
				// buffers (AF_XDP multi-buffer), cut at random points.
				bed.ClientHost.Chains = rand.New(rand.NewPCG(seed, 7))
				bed.ServerHost.Chains = rand.New(rand.NewPCG(seed, 8))
				desc += " chains"
			}
			tr := mptcptest.NewTransfer(bed, seed, up, down)
			if seed%2 == 0 {
				// Half of the runs also lend read buffers.
				tr.LendReads = rand.New(rand.NewPCG(seed, 9))
				desc += " lend"
			}
			if msg := tr.Run(20 * time.Minute); msg != "" {
				t.Fatalf("%s\n%s", desc, msg)
			}
			if tr.LendReads != nil && !client.Checksum && !server.Checksum && up+down > 64<<10 && tr.Lent == 0 {
				t.Errorf("%s: no byte arrived in a lent buffer", desc)
			}
		})
	}
}

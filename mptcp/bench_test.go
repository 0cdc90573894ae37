package mptcp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/mptcptest"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
)

func bulkStep(p *mptcptest.Pair, src, sink []byte) int {
	p.Cc.Write(src)
	p.Step()
	for _, ok := p.Client.PollEvent(); ok; _, ok = p.Client.PollEvent() {
	}
	for _, ok := p.Server.PollEvent(); ok; _, ok = p.Server.PollEvent() {
	}
	n := 0
	for {
		k, _ := p.Sc.Read(sink)
		if k == 0 {
			return n
		}
		n += k
	}
}

func newBulkPair(tb testing.TB, mss, subflows int, csum bool) *mptcptest.Pair {
	cfg := mptcp.Config{TCP: tcp.Config{MSS: mss}, Checksum: csum, SendBuffer: 4 << 20, RecvBuffer: 4 << 20, CC: "reno"}
	p, err := mptcptest.NewPair(cfg, subflows)
	if err != nil {
		tb.Fatal(err)
	}
	if p.Sc == nil || len(p.Cc.Subflows()) != subflows {
		tb.Fatalf("pair has %d subflows, want %d", len(p.Cc.Subflows()), subflows)
	}
	return p
}

// TestEngineZeroAllocations: a steady bulk transfer over 1 and 8 subflows,
// with and without DSS checksums, allocates nothing per segment in either
// direction.
func TestEngineZeroAllocations(t *testing.T) {
	for _, sub := range []int{1, 8} {
		for _, csum := range []bool{false, true} {
			p := newBulkPair(t, 1460, sub, csum)
			src, sink := make([]byte, 256<<10), make([]byte, 1<<20)
			for i := 0; i < 300; i++ {
				bulkStep(p, src, sink)
			}
			moved := 0
			before := p.Packets
			allocs := testing.AllocsPerRun(200, func() { moved += bulkStep(p, src, sink) })
			if moved == 0 || p.Packets[0] == before[0] {
				t.Fatalf("%d subflows, checksums %v: nothing moved", sub, csum)
			}
			if allocs != 0 {
				t.Errorf("%d subflows, checksums %v: %v allocations per step (%d segments per step)",
					sub, csum, allocs, (p.Packets[0]-before[0])/201)
			}
		}
	}
}

// BenchmarkEngine: two MPTCP endpoints back to back in memory, one bulk
// connection over 1 or 8 subflows (ndiffports), MSS 1460 or 8960, DSS
// checksums off or on. Gbit/s is application payload per second of this
// single-threaded loop, i.e. per CPU-second; segs/op the data segments per
// iteration.
func BenchmarkEngine(b *testing.B) {
	for _, mss := range []int{1460, 8960} {
		for _, sub := range []int{1, 8} {
			for _, csum := range []bool{false, true} {
				b.Run(fmt.Sprintf("mss=%d/subflows=%d/csum=%v", mss, sub, csum), func(b *testing.B) {
					p := newBulkPair(b, mss, sub, csum)
					src, sink := make([]byte, 256<<10), make([]byte, 1<<20)
					for i := 0; i < 200; i++ {
						bulkStep(p, src, sink)
					}
					b.ReportAllocs()
					b.ResetTimer()
					start := p.Packets
					total := 0
					for i := 0; i < b.N; i++ {
						total += bulkStep(p, src, sink)
					}
					b.StopTimer()
					b.ReportMetric(float64(total)*8/b.Elapsed().Seconds()/1e9, "Gbit/s")
					b.ReportMetric(float64(p.Packets[0]-start[0])/float64(b.N), "segs/op")
					b.SetBytes(int64(total / b.N))
				})
			}
		}
	}
}

// BenchmarkEngineRatios answers the engine's two relative targets with
// every configuration measured in the same run, interleaved step by step
// so that load from elsewhere on the machine falls on all of them: the
// cost of DSS checksums (csum-cost-%: extra time per byte with checksums,
// 1 subflow; target ≤ 5% at MSS 8960) and the throughput of 8 subflows
// against 1 (x-8sub, per CPU-second; target ≥ 0.8).
func BenchmarkEngineRatios(b *testing.B) {
	for _, mss := range []int{1460, 8960} {
		b.Run(fmt.Sprintf("mss=%d", mss), func(b *testing.B) {
			type cfg struct {
				sub  int
				csum bool
			}
			cfgs := []cfg{{1, false}, {1, true}, {8, false}, {8, true}}
			pairs := make([]*mptcptest.Pair, len(cfgs))
			src, sink := make([]byte, 256<<10), make([]byte, 1<<20)
			for i, c := range cfgs {
				pairs[i] = newBulkPair(b, mss, c.sub, c.csum)
				for range 200 {
					bulkStep(pairs[i], src, sink)
				}
			}
			elapsed := make([]time.Duration, len(cfgs))
			moved := make([]int, len(cfgs))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for k, p := range pairs {
					start := time.Now()
					moved[k] += bulkStep(p, src, sink)
					elapsed[k] += time.Since(start)
				}
			}
			b.StopTimer()
			nsPerByte := func(k int) float64 { return float64(elapsed[k]) / float64(moved[k]) }
			b.ReportMetric(100*(nsPerByte(1)/nsPerByte(0)-1), "csum-cost-%")
			b.ReportMetric(100*(nsPerByte(3)/nsPerByte(2)-1), "csum-cost-8sub-%")
			b.ReportMetric(nsPerByte(0)/nsPerByte(2), "x-8sub")
			b.ReportMetric(8/nsPerByte(0), "Gbit/s-1sub")
		})
	}
}

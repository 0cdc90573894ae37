package tcp_test

import (
	"testing"

	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/tcp/tcptest"
)

// bulkStep writes into the client, moves packets and reads at the server.
func bulkStep(p *tcptest.Pair, src, sink []byte) int {
	p.Cs.Write(src)
	p.Step()
	n := 0
	for {
		k := p.Ss.Read(sink)
		if k == 0 {
			return n
		}
		n += k
	}
}

// TestZeroAllocationsPerSegment: in a steady bulk transfer neither
// direction allocates (data segments one way, ACKs with SACK-capable
// options the other).
func TestZeroAllocationsPerSegment(t *testing.T) {
	for _, mss := range []int{1460, 8960} {
		p := tcptest.NewPair(tcp.Config{MSS: mss, MaxWindow: 4 << 20}, 4<<20, 4<<20)
		src, sink := make([]byte, 256<<10), make([]byte, 1<<20)
		for i := 0; i < 200; i++ { // warm up: slow start, buffers
			bulkStep(p, src, sink)
		}
		before := p.Packets
		moved := 0
		allocs := testing.AllocsPerRun(200, func() { moved += bulkStep(p, src, sink) })
		if moved == 0 || p.Packets[0] == before[0] || p.Packets[1] == before[1] {
			t.Fatalf("MSS %d: nothing moved (%d bytes)", mss, moved)
		}
		if allocs != 0 {
			t.Errorf("MSS %d: %v allocations per step of %d segments", mss, allocs, (p.Packets[0]-before[0])/201)
		}
	}
}

// BenchmarkBulk: two engines back to back in memory, checksums computed and
// verified, one bulk connection. Gbit/s is payload per second of this
// single-threaded loop, i.e. per CPU-second.
func BenchmarkBulk(b *testing.B) {
	for _, mss := range []int{1460, 8960} {
		b.Run(map[int]string{1460: "mss=1460", 8960: "mss=8960"}[mss], func(b *testing.B) {
			p := tcptest.NewPair(tcp.Config{MSS: mss, MaxWindow: 4 << 20}, 4<<20, 4<<20)
			src, sink := make([]byte, 256<<10), make([]byte, 1<<20)
			for i := 0; i < 100; i++ {
				bulkStep(p, src, sink)
			}
			b.ReportAllocs()
			b.ResetTimer()
			startPkts := p.Packets
			total := 0
			for i := 0; i < b.N; i++ {
				total += bulkStep(p, src, sink)
			}
			b.StopTimer()
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(total)*8/secs/1e9, "Gbit/s")
			segs := float64(p.Packets[0] - startPkts[0])
			b.ReportMetric(segs/float64(b.N), "segs/op")
			b.SetBytes(int64(total / b.N))
		})
	}
}

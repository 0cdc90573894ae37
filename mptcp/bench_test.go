package mptcp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/mptcptest"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
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
// with and without DSS checksums, and with jumbo segments received as
// chains of buffers, allocates nothing per segment in either direction.
func TestEngineZeroAllocations(t *testing.T) {
	for _, sub := range []int{1, 8} {
		for _, csum := range []bool{false, true} {
			p := newBulkPair(t, 1460, sub, csum)
			zeroAllocSteps(t, p, fmt.Sprintf("%d subflows, checksums %v", sub, csum))
		}
	}
	// Jumbo segments received as chains of 3840-byte buffers (AF_XDP
	// multi-buffer, HandleSegmentChain).
	for _, csum := range []bool{false, true} {
		p := newBulkPair(t, 8960, 2, csum)
		p.ChainAt = 3840
		zeroAllocSteps(t, p, fmt.Sprintf("chains, checksums %v", csum))
	}
}

// zeroAllocSteps warms the pair up and fails if a bulk step allocates.
func zeroAllocSteps(t *testing.T, p *mptcptest.Pair, name string) {
	t.Helper()
	src, sink := make([]byte, 256<<10), make([]byte, 1<<20)
	for i := 0; i < 300; i++ {
		bulkStep(p, src, sink)
	}
	moved := 0
	before := p.Packets
	allocs := testing.AllocsPerRun(200, func() { moved += bulkStep(p, src, sink) })
	if moved == 0 || p.Packets[0] == before[0] {
		t.Fatalf("%s: nothing moved", name)
	}
	if allocs != 0 {
		t.Errorf("%s: %v allocations per step (%d segments per step)",
			name, allocs, (p.Packets[0]-before[0])/201)
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
			for i, c := range cfgs {
				pairs[i] = newBulkPair(b, mss, c.sub, c.csum)
			}
			elapsed, moved := interleaved(b, pairs)
			nsPerByte := func(k int) float64 { return float64(elapsed[k]) / float64(moved[k]) }
			b.ReportMetric(100*(nsPerByte(1)/nsPerByte(0)-1), "csum-cost-%")
			b.ReportMetric(100*(nsPerByte(3)/nsPerByte(2)-1), "csum-cost-8sub-%")
			b.ReportMetric(nsPerByte(0)/nsPerByte(2), "x-8sub")
			b.ReportMetric(8/nsPerByte(0), "Gbit/s-1sub")
		})
	}
}

// TestChainedSegmentChecksum: a jumbo segment received as a chain of
// buffers whose last buffer is damaged fails the TCP checksum (computed
// over the pieces as they are copied) and delivers nothing; the same
// segment undamaged is delivered whole.
func TestChainedSegmentChecksum(t *testing.T) {
	for _, csum := range []bool{false, true} {
		p := newBulkPair(t, 8960, 1, csum)
		p.Cc.Write(make([]byte, 8960))
		buf := make([]byte, 9100)
		n := p.Client.PollTransmit(p.Now, buf)
		if n < 8960 {
			t.Fatalf("checksums %v: the client sent %d bytes, want a full segment", csum, n)
		}
		pkt := buf[:n]
		head, rest := pkt[:3840], [][]byte{pkt[3840:7680], pkt[7680:]}
		bad := func() uint64 {
			var sum uint64
			for _, sf := range p.Sc.Subflows() {
				sum += sf.Stats.BadChecksum
			}
			return sum
		}
		pkt[n-1] ^= 0x01
		p.Server.HandleSegmentChain(p.Now, head, rest)
		if got, _ := p.Sc.Read(make([]byte, 1<<16)); got != 0 || bad() != 1 {
			t.Fatalf("checksums %v: a damaged chain delivered %d bytes, %d bad checksums counted", csum, got, bad())
		}
		pkt[n-1] ^= 0x01
		p.Server.HandleSegmentChain(p.Now, head, rest)
		var seg wire.Segment
		if err := wire.ParseSegment(pkt, &seg, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := p.Sc.Read(make([]byte, 1<<16)); got != seg.PayloadLen() || got < 8900 {
			t.Fatalf("checksums %v: the chain delivered %d bytes, want %d", csum, got, seg.PayloadLen())
		}
	}
}

// TestLendReadBuffer: bytes that arrive while the reader lends a buffer are
// copied straight into it, in order, and count as read; the loan is
// refused with bytes buffered or with DSS checksums, and Read during a
// loan is an error.
func TestLendReadBuffer(t *testing.T) {
	for _, sub := range []int{1, 8} {
		p := newBulkPair(t, 1460, sub, false)
		ring := make([]byte, 64<<10)
		p.Step() // the byte NewPair wrote to open the connection
		for n, _ := p.Sc.Read(ring); n > 0; n, _ = p.Sc.Read(ring) {
		}
		src := make([]byte, 8<<20)
		for i := range src {
			src[i] = byte(i * 131 >> 7)
		}
		sent, got, viaLoan := 0, 0, 0
		lent := make([]byte, 200<<10)
		for step := 0; got < len(src) && step < 100000; step++ {
			if sent < len(src) {
				n, _ := p.Cc.Write(src[sent:min(sent+64<<10, len(src))])
				sent += n
			}
			size := 1 + (step*7919)%len(lent)
			loan := p.Sc.LendReadBuffer(lent[:size])
			if loan {
				if _, err := p.Sc.Read(ring); err != mptcp.ErrReadBufferLent {
					t.Fatalf("Read during a loan: %v", err)
				}
			}
			p.Step()
			if loan {
				n := p.Sc.ReturnReadBuffer()
				if n > size || string(lent[:n]) != string(src[got:got+n]) {
					t.Fatalf("%d subflows: %d bytes returned from a %d-byte loan at %d do not match", sub, n, size, got)
				}
				got += n
				viaLoan += n
			}
			for {
				n, _ := p.Sc.Read(ring)
				if n == 0 {
					break
				}
				if string(ring[:n]) != string(src[got:got+n]) {
					t.Fatalf("%d subflows: %d bytes read at %d do not match: % x want % x", sub, n, got, ring[:8], src[got:got+8])
				}
				got += n
			}
			for _, ok := p.Server.PollEvent(); ok; _, ok = p.Server.PollEvent() {
			}
			for _, ok := p.Client.PollEvent(); ok; _, ok = p.Client.PollEvent() {
			}
		}
		if got != len(src) || viaLoan < len(src)/2 {
			t.Fatalf("%d subflows: %d of %d bytes, %d through loans", sub, got, len(src), viaLoan)
		}
	}
	p := newBulkPair(t, 1460, 1, true)
	if p.Sc.LendReadBuffer(make([]byte, 100)) {
		t.Error("a loan taken with DSS checksums")
	}
	p = newBulkPair(t, 1460, 1, false)
	p.Cc.Write(make([]byte, 1000))
	p.Step()
	if p.Sc.Buffered() == 0 || p.Sc.LendReadBuffer(make([]byte, 100)) {
		t.Error("a loan taken with bytes buffered")
	}
	if p.Sc.ReturnReadBuffer() != 0 {
		t.Error("bytes returned without a loan")
	}
}

// interleaved warms the pairs up, then runs b.N bulk steps of each in turn,
// so that load from elsewhere falls on all of them, and returns each pair's
// time and application bytes moved.
func interleaved(b *testing.B, pairs []*mptcptest.Pair) ([]time.Duration, []int) {
	src, sink := make([]byte, 256<<10), make([]byte, 1<<20)
	for _, p := range pairs {
		for range 200 {
			bulkStep(p, src, sink)
		}
	}
	elapsed, moved := make([]time.Duration, len(pairs)), make([]int, len(pairs))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, p := range pairs {
			start := time.Now()
			moved[k] += bulkStep(p, src, sink)
			elapsed[k] += time.Since(start)
		}
	}
	b.StopTimer()
	return elapsed, moved
}

// BenchmarkEngineChains: the cost of receiving jumbo segments as chains of
// 3840-byte buffers (AF_XDP multi-buffer, HandleSegmentChain) against the
// same segments in one buffer, 1 subflow, MSS 8960, DSS checksums off and
// on, interleaved step by step (x-flat: chained throughput over flat, per
// CPU-second of the two-endpoint loop).
func BenchmarkEngineChains(b *testing.B) {
	for _, csum := range []bool{false, true} {
		b.Run(fmt.Sprintf("csum=%v", csum), func(b *testing.B) {
			flat, chained := newBulkPair(b, 8960, 1, csum), newBulkPair(b, 8960, 1, csum)
			chained.ChainAt = 3840
			elapsed, moved := interleaved(b, []*mptcptest.Pair{flat, chained})
			gbps := func(k int) float64 { return float64(moved[k]) * 8 / elapsed[k].Seconds() / 1e9 }
			b.ReportMetric(gbps(0), "flat-Gbit/s")
			b.ReportMetric(gbps(1), "chained-Gbit/s")
			b.ReportMetric(gbps(1)/gbps(0), "x-flat")
		})
	}
}

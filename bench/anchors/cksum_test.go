package anchors

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/cksum"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
)

var (
	sizes   = []int{64, 1500, 9000, 64 << 10, 64 << 20}
	sinkU16 uint16
)

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// BenchmarkChecksum times mpxdp's dispatched checksum (the folded sum, as
// gVisor's Checksum returns it) and gVisor's on the same buffer,
// alternating in rounds of about a millisecond so that load from elsewhere
// falls on both; x-gvisor is gVisor's time over mpxdp's.
func BenchmarkChecksum(b *testing.B) {
	for _, n := range sizes {
		b.Run("size="+sizeName(n), func(b *testing.B) {
			buf := randomBytes(n)
			if got, want := cksum.Sum(buf, 0).Fold(), checksum.Checksum(buf, 0); got != want {
				b.Fatalf("mpxdp %#04x, gVisor %#04x", got, want)
			}
			round := max(1, (1<<20)/n)
			var ours, theirs time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += round {
				k := min(round, b.N-done)
				t0 := time.Now()
				for range k {
					sinkU16 += cksum.Sum(buf, 0).Fold()
				}
				t1 := time.Now()
				for range k {
					sinkU16 += checksum.Checksum(buf, 0)
				}
				ours += t1.Sub(t0)
				theirs += time.Since(t1)
			}
			b.StopTimer()
			b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(float64(n)*float64(b.N)/float64(ours.Nanoseconds()), "GB/s")
			b.ReportMetric(float64(n)*float64(b.N)/float64(theirs.Nanoseconds()), "gvisor-GB/s")
			b.ReportMetric(float64(theirs)/float64(ours), "x-gvisor")
		})
	}
}

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
// gVisor's Checksum returns it) and then gVisor's on the same buffer for
// the same number of rounds; x-gvisor is gVisor's time over mpxdp's.
func BenchmarkChecksum(b *testing.B) {
	for _, n := range sizes {
		b.Run("size="+sizeName(n), func(b *testing.B) {
			buf := randomBytes(n)
			if got, want := cksum.Sum(buf, 0).Fold(), checksum.Checksum(buf, 0); got != want {
				b.Fatalf("mpxdp %#04x, gVisor %#04x", got, want)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sinkU16 += cksum.Sum(buf, 0).Fold()
			}
			b.StopTimer()
			ours := b.Elapsed()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				sinkU16 += checksum.Checksum(buf, 0)
			}
			theirs := time.Since(start)
			b.ReportMetric(float64(theirs)/float64(ours), "x-gvisor")
			b.ReportMetric(float64(n)*float64(b.N)/theirs.Seconds()/1e6, "gvisor-MB/s")
			b.ReportMetric(0, "ns/op") // the ns/op of a two-part run is meaningless
		})
	}
}

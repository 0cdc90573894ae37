package mptcp

import (
	"math/rand/v2"
	"testing"

	"github.com/mpxdp/mpxdp/cksum"
)

// TestSendBufferRangeSum: the sums assembled from stored block sums equal
// a fresh sum of the same bytes, across wraps, odd offsets and acks.
func TestSendBufferRangeSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := newSendBuffer(5000)
	b.start(1_000_003)
	var model []byte // bytes from una
	for iter := 0; iter < 20000; iter++ {
		switch rng.IntN(3) {
		case 0:
			p := make([]byte, rng.IntN(1500))
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			n := b.write(p)
			model = append(model, p[:n]...)
		case 1:
			if len(model) > 0 {
				k := rng.IntN(len(model) + 1)
				b.ack(b.una + uint64(k))
				model = model[k:]
			}
		case 2:
			if len(model) == 0 {
				continue
			}
			start := rng.IntN(len(model))
			n := 1 + rng.IntN(len(model)-start)
			dsn := b.una + uint64(start)
			want := cksum.Sum(model[start:start+n], 0).Fold()
			if got := b.rangeSum(dsn, n).Fold(); got != want {
				t.Fatalf("iteration %d: rangeSum(%d, %d) = %#x, want %#x", iter, start, n, got, want)
			}
			dst := make([]byte, n)
			if got := b.copyOut(dsn, dst).Fold(); got != want || string(dst) != string(model[start:start+n]) {
				t.Fatalf("iteration %d: copyOut mismatch", iter)
			}
		}
	}
}

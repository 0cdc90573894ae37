package cksum

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var benchSizes = []int{64, 1500, 9000, 64 << 10, 64 << 20}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 42))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var sink Partial

// measure runs op b.N times alternating, in rounds of about a millisecond
// or less, with the built-in copy() of the same bytes, so that load from
// elsewhere on the machine falls on both alike. It reports op's ns/op and
// GB/s, and x-copy: op's speed as a multiple of copy's (> 1: faster than
// copying the bytes).
func measure(b *testing.B, n int, dst, src []byte, op func()) {
	round := max(1, (1<<20)/n)
	var opTime, copyTime time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		k := min(round, b.N-done)
		t0 := time.Now()
		for range k {
			op()
		}
		t1 := time.Now()
		for range k {
			copy(dst, src)
		}
		opTime += t1.Sub(t0)
		copyTime += time.Since(t1)
	}
	b.StopTimer()
	if opTime > 0 {
		b.ReportMetric(float64(opTime.Nanoseconds())/float64(b.N), "ns/op")
		b.ReportMetric(float64(n)*float64(b.N)/float64(opTime.Nanoseconds()), "GB/s")
		b.ReportMetric(float64(copyTime)/float64(opTime), "x-copy")
	}
}

// BenchmarkSum: every implementation at every size; x-copy is the speed
// relative to copy() of the same bytes, measured interleaved in the same
// run.
func BenchmarkSum(b *testing.B) {
	for _, name := range Implementations() {
		for _, n := range benchSizes {
			if name == "reference" && n > 64<<10 {
				continue
			}
			b.Run("impl="+name+"/size="+sizeName(n), func(b *testing.B) {
				restore, _ := Use(name)
				defer restore()
				src, dst := randomBytes(n), randomBytes(n)
				measure(b, n, dst, src, func() { sink = Sum(src, sink) })
			})
		}
	}
}

// BenchmarkCopyAndSum: the fused copy and sum; x-copy ≥ 0.8 at 1500 B and
// 9000 B is the target.
func BenchmarkCopyAndSum(b *testing.B) {
	for _, name := range Implementations() {
		if name == "reference" {
			continue
		}
		for _, n := range benchSizes {
			b.Run("impl="+name+"/size="+sizeName(n), func(b *testing.B) {
				restore, _ := Use(name)
				defer restore()
				src, dst := randomBytes(n), randomBytes(n)
				measure(b, n, dst, src, func() { sink = CopyAndSum(dst, src) })
			})
		}
	}
}

// BenchmarkCopy is the built-in copy(), the baseline of the table.
func BenchmarkCopy(b *testing.B) {
	for _, n := range benchSizes {
		b.Run("size="+sizeName(n), func(b *testing.B) {
			src, dst := randomBytes(n), make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(dst, src)
			}
		})
	}
}

package main

import (
	"fmt"
	"io"
	"math/bits"
	"strings"
	"time"
)

// hist is a log-linear histogram of durations: exact below 64 ns, then 32
// buckets per power of two (at most 3% relative error), up to about 18
// minutes. Record neither allocates nor locks; one goroutine owns a hist
// and merges it into another when done.
type hist struct {
	n        uint64
	sum      float64
	min, max int64
	b        [histBuckets]uint64
}

const (
	histLinear  = 64
	histSub     = 32
	histBuckets = histLinear + 35*histSub
)

func histIndex(v int64) int {
	if v < histLinear {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - 6
	i := histLinear + (shift-1)*histSub + int(v>>shift) - histSub
	return min(i, histBuckets-1)
}

// histRange returns the smallest and largest value of bucket i.
func histRange(i int) (lo, hi int64) {
	if i < histLinear {
		return int64(i), int64(i)
	}
	shift := (i-histLinear)/histSub + 1
	m := int64((i-histLinear)%histSub + histSub)
	return m << shift, (m+1)<<shift - 1
}

// Record adds one duration.
func (h *hist) Record(d time.Duration) {
	v := int64(d)
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
	h.b[histIndex(v)]++
}

// Merge adds o's samples.
func (h *hist) Merge(o *hist) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
	for i, c := range o.b {
		h.b[i] += c
	}
}

// Quantile returns the value below which a fraction q of the samples lie
// (the middle of its bucket, clamped to the observed range).
func (h *hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.b {
		seen += c
		if seen >= rank {
			lo, hi := histRange(i)
			return time.Duration(min(max((lo+hi)/2, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// histEdges are the bins of the printed histogram: 1-2-5 steps from 1 µs to
// 100 s.
var histEdges = func() []int64 {
	var e []int64
	for d := int64(1000); d <= 100e9; d *= 10 {
		e = append(e, d, 2*d, 5*d)
	}
	return e
}()

// latencyReport is a histogram as the report and the JSON carry it.
type latencyReport struct {
	Count uint64       `json:"count"`
	Min   float64      `json:"min_ms"`
	Mean  float64      `json:"mean_ms"`
	P50   float64      `json:"p50_ms"`
	P90   float64      `json:"p90_ms"`
	P99   float64      `json:"p99_ms"`
	Max   float64      `json:"max_ms"`
	Bins  []latencyBin `json:"bins"`
	// ClockError bounds the error of one-way delays measured across two
	// clocks (half the best control round trip); 0 for round trips.
	ClockError float64 `json:"clock_error_ms"`
}

type latencyBin struct {
	Lo    float64 `json:"lo_ms"`
	Hi    float64 `json:"hi_ms"` // exclusive; 0 means unbounded
	Count uint64  `json:"count"`
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// Report summarises h.
func (h *hist) Report() *latencyReport {
	r := &latencyReport{Count: h.n}
	if h.n == 0 {
		return r
	}
	r.Min, r.Max, r.Mean = ms(h.min), ms(h.max), h.sum/float64(h.n)/1e6
	r.P50, r.P90, r.P99 = ms(int64(h.Quantile(.5))), ms(int64(h.Quantile(.9))), ms(int64(h.Quantile(.99)))
	counts := make([]uint64, len(histEdges)+1)
	for i, c := range h.b {
		if c == 0 {
			continue
		}
		lo, hi := histRange(i)
		mid := (lo + hi) / 2
		j := 0
		for j < len(histEdges) && mid >= histEdges[j] {
			j++
		}
		counts[j] += c
	}
	first, last := -1, -1
	for j, c := range counts {
		if c != 0 {
			if first < 0 {
				first = j
			}
			last = j
		}
	}
	for j := first; j <= last; j++ {
		var b latencyBin
		if j > 0 {
			b.Lo = ms(histEdges[j-1])
		}
		if j < len(histEdges) {
			b.Hi = ms(histEdges[j])
		}
		b.Count = counts[j]
		r.Bins = append(r.Bins, b)
	}
	return r
}

// print writes the quantiles and a bar chart of the bins.
func (r *latencyReport) print(w io.Writer, what string) {
	if r.Count == 0 {
		fmt.Fprintf(w, "%s: no samples\n", what)
		return
	}
	d := func(v float64) string { return fmtDur(time.Duration(v * 1e6)) }
	fmt.Fprintf(w, "%s: %d samples", what, r.Count)
	if r.ClockError > 0 {
		fmt.Fprintf(w, ", clock offset known to ±%s", d(r.ClockError))
	}
	fmt.Fprintf(w, "\n  p50 %s   p90 %s   p99 %s   min %s   mean %s   max %s\n",
		d(r.P50), d(r.P90), d(r.P99), d(r.Min), d(r.Mean), d(r.Max))
	var most uint64
	for _, b := range r.Bins {
		most = max(most, b.Count)
	}
	for _, b := range r.Bins {
		label := ""
		switch {
		case b.Lo == 0:
			label = "< " + d(b.Hi)
		case b.Hi == 0:
			label = ">= " + d(b.Lo)
		default:
			label = d(b.Lo) + " - " + d(b.Hi)
		}
		bar := strings.Repeat("#", int((b.Count*40+most-1)/most))
		if b.Count == 0 {
			bar = ""
		}
		fmt.Fprintf(w, "  %-20s %5.1f%%  %s\n", label, 100*float64(b.Count)/float64(r.Count), bar)
	}
}

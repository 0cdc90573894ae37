package ofo

import (
	"flag"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// benchWorkloads is the benchmark matrix: 2 and 8 subflows, runs of 1, 4,
// 16 and 64 segments, mean depths of 10 to 10,000 segments, 0.5% loss and
// 1% opportunistic duplicates; the 8-subflow, run-16, depth-1000 case again
// at 0.1% and 1% loss; and the single-path references: in order (every
// segment inserted at the left edge and popped at once), and in order but
// appended at the tail of a queue of the same depth.
func benchWorkloads() []workload {
	var ws []workload
	for _, k := range []int{2, 8} {
		for _, n := range []int{1, 4, 16, 64} {
			for _, d := range []int{10, 100, 1000, 10000} {
				ws = append(ws, workload{subflows: k, run: n, depth: d, loss: 0.005, dup: 0.01, seed: 1})
			}
		}
	}
	for _, loss := range []float64{0.001, 0.01} {
		ws = append(ws, workload{subflows: 8, run: 16, depth: 1000, loss: loss, dup: 0.01, seed: 1})
	}
	ws = append(ws, inorder)
	for _, d := range []int{10, 100, 1000, 10000} {
		ws = append(ws, workload{subflows: 1, run: 1, depth: d, seed: 1, append: true})
	}
	return ws
}

// inorder is the reference: one subflow, no loss, no duplicates, so every
// segment is inserted at the left edge and popped at once.
var inorder = workload{subflows: 1, run: 1, seed: 1}

// cursor walks a trace, replaying it shifted by its length each pass. The
// DSNs start just below 2^64, so they wrap during the first pass.
type cursor struct {
	tr    *trace
	pos   int
	base  uint64
	hints []Hint
}

func newCursor(tr *trace) *cursor {
	return &cursor{tr: tr, base: -tr.total / 2, hints: make([]Hint, 256)}
}

func (c *cursor) next() (Seg, uint8) {
	a := c.tr.arr[c.pos]
	s := Seg{DSN: c.base + a.dsn, Len: a.n, Handle: uint64(c.pos)}
	if c.pos++; c.pos == len(c.tr.arr) {
		c.pos, c.base = 0, c.base+c.tr.total
	}
	return s, a.sub
}

// The replay loops are written once per type so that the calls are direct,
// as the engine's are: every arrival is inserted with its subflow's hint,
// then whatever became in order is delivered. The shortcut queue delivers
// as mptcp/recvbuf.go does, with PopRun (a queue without Release frees the
// run wholesale); so do the in-order and append references, which run on
// the same queue. The tree and the list deliver node by node, as Linux's
// mptcp_ofo_queue erases each skb from its rbtree.

func replayQueue(q *Queue, c *cursor, n int) {
	for range n {
		s, sub := c.next()
		c.hints[sub], _ = q.Insert(s, c.hints[sub])
		q.PopRun()
	}
}

// replayQueuePop is the shortcut queue delivering node by node (-ofo.pop),
// for comparing PopRun with Pop.
func replayQueuePop(q *Queue, c *cursor, n int) {
	for range n {
		s, sub := c.next()
		c.hints[sub], _ = q.Insert(s, c.hints[sub])
		for _, ok := q.Pop(); ok; _, ok = q.Pop() {
		}
	}
}

func replayTree(q *Tree, c *cursor, n int) {
	for range n {
		s, sub := c.next()
		c.hints[sub], _ = q.Insert(s, c.hints[sub])
		for _, ok := q.Pop(); ok; _, ok = q.Pop() {
		}
	}
}

func replayList(q *List, c *cursor, n int) {
	for range n {
		s, sub := c.next()
		c.hints[sub], _ = q.Insert(s, c.hints[sub])
		for _, ok := q.Pop(); ok; _, ok = q.Pop() {
		}
	}
}

func replay(q Interface, c *cursor, n int) {
	switch q := q.(type) {
	case *Queue:
		if *popEach {
			replayQueuePop(q, c, n)
		} else {
			replayQueue(q, c, n)
		}
	case *Tree:
		replayTree(q, c, n)
	case *List:
		replayList(q, c, n)
	}
}

// threadCPU returns the CPU time the calling thread has used.
func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

// runBench measures one implementation on one trace: ns/op is per arriving
// segment, including its eventual delivery (PopRun or Pop; see replayQueue). cpu-ns/op is the
// same in the thread's CPU time, which leaves out the time the thread
// waited for a core: on a machine shared with other work it varies far
// less than ns/op (docs/ofo.md).
func runBench(b *testing.B, im impl, tr *trace) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := newCursor(tr)
	q := im.make(Config{Capacity: 2*tr.maxDepth + 1024, Start: c.base})
	replay(q, c, len(tr.arr)/8) // reach the steady-state depth first
	st0 := q.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := threadCPU()
	replay(q, c, b.N)
	cpu = threadCPU() - cpu
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	st := q.Stats()
	if st.Full != 0 {
		b.Fatalf("queue full %d times", st.Full)
	}
	fast := st.HintHits + st.NextHits + st.EdgeHits + st.EndHits - st0.HintHits - st0.NextHits - st0.EdgeHits - st0.EndHits
	ooo := float64(fast + st.Scans - st0.Scans)
	if ooo > 0 {
		b.ReportMetric(100*float64(st.HintHits-st0.HintHits)/ooo, "hit%")
		b.ReportMetric(100*float64(st.NextHits-st0.NextHits)/ooo, "next%")
		b.ReportMetric(100*float64(st.EndHits-st0.EndHits)/ooo, "end%")
		b.ReportMetric(100*float64(fast)/ooo, "fast%")
	}
	steps := st.BatchSteps + st.SegSteps - st0.BatchSteps - st0.SegSteps
	b.ReportMetric(float64(steps)/float64(b.N), "steps/op")
	b.ReportMetric(tr.meanDepth, "depth")
}

// BenchmarkInsert replays each workload through each implementation, e.g.
// BenchmarkInsert/impl=shortcut/subflows=8/run=16/depth=1000/loss=0.5%.
// Workloads whose target depth the subflows' concurrency alone exceeds are
// skipped.
func BenchmarkInsert(b *testing.B) {
	for _, w := range benchWorkloads() {
		var tr *trace
		ok := false
		for _, im := range impls {
			b.Run("impl="+im.name+"/"+w.name(), func(b *testing.B) {
				if tr == nil {
					tr, ok = w.traceFor()
				}
				if !ok {
					b.Skipf("the subflows alone keep %.0f segments queued", tr.meanDepth)
				}
				runBench(b, im, tr)
			})
		}
	}
}

var (
	popEach   = flag.Bool("ofo.pop", false, "benchmarks: the shortcut queue and the references deliver with Pop, node by node, instead of PopRun")
	tableRuns = flag.Int("ofo.table", 0, "TestTable: print the benchmark table from the median of this many interleaved runs")
	tableRows = flag.String("ofo.rows", "", "TestTable: only the workloads whose name matches this regular expression")
)

// TestTable prints the benchmark matrix as a markdown table with ratios
// against the tree, the linear list and the two single-path references,
// all measured in the same run: in order at depth 0 (against the median of
// every row's in-order runs, and of the row's own), and appended at the
// tail of a queue of the nearest depth. Each number is the median of
// -ofo.table runs of the thread's CPU time per segment (cpu-ns/op); within
// each round the references and the three
// implementations take turns, so that load from other work on the machine
// falls on all of them. It also prints every run as a benchmark line, so
// that benchstat can summarise the same data. It runs only when asked:
//
//	go test ./ofo -run TestTable -v -timeout 3h -benchtime 300ms -ofo.table=7
//
// -ofo.rows selects workloads by a regular expression on their names.
func TestTable(t *testing.T) {
	if *tableRuns == 0 {
		t.Skip("run with -ofo.table N")
	}
	median := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		if len(s)%2 == 1 {
			return s[len(s)/2]
		}
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	nsPerOp := func(r testing.BenchmarkResult) float64 { return r.Extra["cpu-ns/op"] }
	traces := map[workload]*trace{}
	traceOf := func(w workload) *trace {
		if traces[w] == nil {
			traces[w], _ = w.traceFor()
		}
		return traces[w]
	}
	// The rows are printed at the end, when the in-order runs of all
	// rows can be pooled: the in-order reference is the same workload in
	// every row, so the median of all its runs estimates its cost better
	// than the few runs of one row (which are kept as the same-row ratio).
	var rowsOut []func(pooledInOrder float64) string
	var allIn []float64
	rows, err := regexp.Compile(*tableRows)
	if err != nil {
		t.Fatalf("-ofo.rows: %v", err)
	}
	for _, w := range benchWorkloads() {
		if w == inorder || w.append || !rows.MatchString(w.name()) {
			continue
		}
		tr, ok := w.traceFor()
		if !ok {
			continue
		}
		ap := workload{subflows: 1, run: 1, seed: 1, append: true, depth: 10}
		for _, d := range []int{100, 1000, 10000} {
			if w.depth >= d {
				ap.depth = d
			}
		}
		var refIn, refAp []float64
		ns := make([][]float64, len(impls))
		res := make([]testing.BenchmarkResult, len(impls))
		run := func(im impl, w workload) testing.BenchmarkResult {
			r := testing.Benchmark(func(b *testing.B) { runBench(b, im, traceOf(w)) })
			// Each run also as a benchmark line, for benchstat.
			fmt.Printf("BenchmarkInsert/impl=%s/%s\t%d\t%.2f ns/op", im.name, w.name(), r.N, float64(r.T.Nanoseconds())/float64(r.N))
			for _, m := range []string{"cpu-ns/op", "hit%", "next%", "fast%", "steps/op"} {
				if v, ok := r.Extra[m]; ok {
					fmt.Printf("\t%.4g %s", v, m)
				}
			}
			fmt.Printf("\t%d allocs/op\n", r.AllocsPerOp())
			return r
		}
		traces[w] = tr
		for range *tableRuns {
			refIn = append(refIn, nsPerOp(run(impls[0], inorder)))
			refAp = append(refAp, nsPerOp(run(impls[0], ap)))
			for i, im := range impls {
				res[i] = run(im, w)
				ns[i] = append(ns[i], nsPerOp(res[i]))
			}
		}
		s, tt, l := median(ns[0]), median(ns[1]), median(ns[2])
		allIn = append(allIn, refIn...)
		name, depth, in, apMed := w.name(), tr.meanDepth, median(refIn), median(refAp)
		rowsOut = append(rowsOut, func(pooled float64) string {
			return fmt.Sprintf("| %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f (%s) | %.1f | %.1f | %.0f/%.0f/%.0f | %.2f/%.2f/%.1f | %d/%d/%d |\n",
				name, depth, s, tt, l, tt/s, l/s, s/pooled, s/in, s/apMed, ap.name(),
				res[0].Extra["hit%"], res[0].Extra["next%"], res[0].Extra["fast%"], res[1].Extra["fast%"], res[2].Extra["fast%"],
				res[0].Extra["steps/op"], res[1].Extra["steps/op"], res[2].Extra["steps/op"],
				res[0].AllocsPerOp(), res[1].AllocsPerOp(), res[2].AllocsPerOp()) +
				fmt.Sprintf("<!-- %s: in-order %.1f ns, %s %.1f ns (medians) -->\n", name, in, ap.name(), apMed)
		})
		t.Logf("%s done", w.name())
	}
	if len(rowsOut) == 0 {
		t.Fatalf("-ofo.rows %q matches no workload", *tableRows)
	}
	pooled := median(allIn)
	var out strings.Builder
	fmt.Fprintf(&out, "| workload | depth | shortcut ns | tree ns | linear ns | x-tree | x-linear | ÷ in-order | ÷ in-order (row) | ÷ append | hit%% | next%% | fast%% s/t/l | steps/op s/t/l | allocs s/t/l |\n")
	fmt.Fprintf(&out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n")
	for _, row := range rowsOut {
		out.WriteString(row(pooled))
	}
	fmt.Fprintf(&out, "<!-- in-order, pooled: median %.1f ns of %d runs -->\n", pooled, len(allIn))
	fmt.Print(out.String())
}

package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// reporter closes intervals on one side as the test runs, prints them, and
// keeps a live progress line on a terminal.
type reporter struct {
	stopc chan time.Time
	done  chan struct{}
}

const progressEvery = 250 * time.Millisecond

func startReporter(m *meter, sp testSpec, p *printer, print, progress bool) *reporter {
	r := &reporter{stopc: make(chan time.Time), done: make(chan struct{})}
	rr := sp.Mode == modeRR
	if print {
		p.intervalHeader(rr)
	}
	p.progress = progress
	go func() {
		defer close(r.done)
		// Intervals end on a timer of their own, so that the progress
		// ticks do not move their boundaries.
		next := m.start.Add(sp.Interval)
		iv := time.NewTimer(time.Until(next))
		defer iv.Stop()
		var tick <-chan time.Time
		if progress && print {
			t := time.NewTicker(progressEvery)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case now := <-iv.C:
				ir := m.interval(now, !rr)
				if print {
					p.interval(ir, rr)
				}
				for !next.After(now) {
					next = next.Add(sp.Interval)
				}
				iv.Reset(time.Until(next))
			case now := <-tick:
				p.progressLine(m, now, rr)
			case end := <-r.stopc:
				// The last, partial interval, so that the intervals add
				// up to every byte moved.
				if end.After(m.last) && (end.Sub(m.last) >= time.Millisecond || m.moved() != m.lastTotal || m.req.Load() != m.lastReq) {
					ir := m.interval(end, !rr)
					if print {
						p.interval(ir, rr)
					}
				}
				return
			}
		}
	}()
	return r
}

// stop closes the last (partial) interval at end and waits for the
// reporter to finish.
func (r *reporter) stop(end time.Time) {
	r.stopc <- end
	<-r.done
}

func (p *printer) progressLine(m *meter, now time.Time, rr bool) {
	el := now.Sub(m.start)
	d := now.Sub(m.last)
	if rr {
		req := m.req.Load()
		fmt.Fprintf(p.w, "\r\x1b[K  %5.1f s  %d requests  %.0f requests/s", el.Seconds(), req,
			float64(req-m.lastReq)/d.Seconds())
		return
	}
	moved := m.moved()
	fmt.Fprintf(p.w, "\r\x1b[K  %5.1f s  %s  %s", el.Seconds(), fmtBytes(moved), fmtRate(rate(moved-m.lastTotal, d)))
}

// describeSpec says what a test does, in one line.
func describeSpec(sp testSpec, client bool) string {
	var b strings.Builder
	switch sp.Mode {
	case modeRR:
		fmt.Fprintf(&b, "request/response of %s, %d clients, closed loop", fmtBytes(uint64(sp.RRSize)), sp.Parallel)
	case modeLatency:
		fmt.Fprintf(&b, "latency of %s blocks, %d connection(s)", fmtBytes(uint64(sp.Block)), sp.Parallel)
	default:
		fmt.Fprintf(&b, "bulk, %d connection(s)", sp.Parallel)
	}
	if sp.Bytes > 0 {
		fmt.Fprintf(&b, ", %s", fmtBytes(uint64(sp.Bytes)))
	} else {
		fmt.Fprintf(&b, ", %v", sp.Duration)
	}
	if sp.Mode != modeRR {
		if sp.Reverse {
			b.WriteString(", reverse (server sends)")
		} else {
			b.WriteString(", client sends")
		}
	}
	if !client {
		fmt.Fprintf(&b, "; client stack %s", sp.Stack)
	}
	return b.String()
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

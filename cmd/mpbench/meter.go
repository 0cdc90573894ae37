package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/mptcp"
)

// subflowSample is one subflow's counters at one moment.
type subflowSample struct {
	Local    string  `json:"local"`
	Remote   string  `json:"remote"`
	BytesOut uint64  `json:"bytes_out"` // payload sent, retransmissions included
	BytesIn  uint64  `json:"bytes_in"`  // payload received
	Retrans  uint64  `json:"retransmits"`
	RTT      float64 `json:"rtt_ms"`
	Cwnd     int     `json:"cwnd_bytes"`
}

func (s *subflowSample) key() string { return s.Local + ">" + s.Remote }

// connInfo is what a connection says about itself.
type connInfo struct {
	MPTCP     bool
	Checksums bool // DSS checksums in use (RFC 8684 §3.3)
	Fallback  string
	Subflows  []subflowSample
	Err       string
}

// inspect reads a data connection's subflows: the engine's for mpxdp, the
// kernel's MPTCP_TCPINFO/MPTCP_SUBFLOW_ADDRS or TCP_INFO for sockets.
func inspect(c net.Conn) connInfo {
	var ci connInfo
	switch c := c.(type) {
	case *mpxdp.Conn:
		ci.MPTCP = c.MPTCP() // false for a plain TCP peer too, which makes no fallback
		if fb := c.Fallback(); fb != nil {
			ci.Fallback = fb.Error()
		}
		sfs, err := c.Subflows()
		if err != nil {
			ci.Err = err.Error()
		}
		c.Engine(func(ec *mptcp.Conn) { ci.Checksums = ec.Checksums() })
		for _, sf := range sfs {
			ci.Subflows = append(ci.Subflows, subflowSample{
				Local: sf.Local.String(), Remote: sf.Remote.String(),
				BytesOut: sf.Stats.BytesOut, BytesIn: sf.Stats.BytesIn, Retrans: sf.Stats.Retransmits,
				RTT: ms(int64(sf.SRTT)), Cwnd: sf.Window,
			})
		}
	case *net.TCPConn:
		var err error
		if mp, _ := c.MultipathTCP(); mp {
			ci.MPTCP = true
			ci.Subflows, err = kernelSubflows(c)
			ci.Checksums = kernelChecksums(c)
		} else {
			ci.Subflows, err = tcpSubflow(c)
		}
		if err != nil {
			ci.Err = err.Error()
		}
	}
	return ci
}

// meterConn is one data connection being measured.
type meterConn struct {
	id         int
	c          net.Conn
	sent, recv atomic.Uint64
	prev       map[string]subflowSample // at the previous interval
	prevBytes  uint64
	final      connInfo
	finalOnce  sync.Once
}

// snapshot records the connection's subflows for the final report; the
// first call wins, so it is taken before the connection closes.
func (mc *meterConn) snapshot() {
	mc.finalOnce.Do(func() { mc.final = inspect(mc.c) })
}

// meter measures one side of a test: application bytes per connection,
// per-interval subflow counters, requests (rr), CPU time.
type meter struct {
	sender  bool
	start   time.Time
	cpu0    cpuSample
	mu      sync.Mutex
	conns   []*meterConn
	req     atomic.Uint64 // requests completed (rr)
	reqFail atomic.Uint64
	reqSent atomic.Uint64 // rr bytes (server: sent, client: received)

	last      time.Time
	lastTotal uint64
	lastReq   uint64
	intervals []intervalReport
}

func newMeter(sender bool) *meter { return &meter{sender: sender} }

func (m *meter) begin(now time.Time) {
	m.start, m.last, m.cpu0 = now, now, cpuNow()
}

func (m *meter) add(id int, c net.Conn) *meterConn {
	mc := &meterConn{id: id, c: c, prev: map[string]subflowSample{}}
	m.mu.Lock()
	m.conns = append(m.conns, mc)
	m.mu.Unlock()
	return mc
}

func (m *meter) list() []*meterConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*meterConn(nil), m.conns...)
}

// moved returns the application bytes this side moved in the test's
// direction (sent by the sender, received by the receiver).
func (m *meter) moved() uint64 {
	var n uint64
	for _, mc := range m.list() {
		if m.sender {
			n += mc.sent.Load()
		} else {
			n += mc.recv.Load()
		}
	}
	return n + m.reqSent.Load()
}

// interval closes the interval that ends now and returns it.
func (m *meter) interval(now time.Time, subflows bool) intervalReport {
	ir := intervalReport{Start: m.last.Sub(m.start).Seconds(), End: now.Sub(m.start).Seconds()}
	d := now.Sub(m.last)
	total := m.moved()
	ir.Bytes = total - m.lastTotal
	ir.BitsPerSecond = rate(ir.Bytes, d)
	req := m.req.Load()
	ir.Requests = req - m.lastReq
	if ir.Requests > 0 {
		ir.RequestsPerSecond = float64(ir.Requests) / d.Seconds()
	}
	m.last, m.lastTotal, m.lastReq = now, total, req
	for _, mc := range m.list() {
		var b uint64
		if m.sender {
			b = mc.sent.Load()
		} else {
			b = mc.recv.Load()
		}
		ci := connInterval{ID: mc.id, Bytes: b - mc.prevBytes}
		ci.BitsPerSecond = rate(ci.Bytes, d)
		mc.prevBytes = b
		if subflows {
			for _, sf := range inspect(mc.c).Subflows {
				p := mc.prev[sf.key()]
				si := subflowInterval{Local: sf.Local, Remote: sf.Remote, RTT: sf.RTT, Cwnd: sf.Cwnd}
				if m.sender {
					si.Bytes = sf.BytesOut - p.BytesOut
				} else {
					si.Bytes = sf.BytesIn - p.BytesIn
				}
				si.Retrans = sf.Retrans - p.Retrans
				si.BitsPerSecond = rate(si.Bytes, d)
				mc.prev[sf.key()] = sf
				ci.Subflows = append(ci.Subflows, si)
			}
		}
		ir.Conns = append(ir.Conns, ci)
	}
	m.intervals = append(m.intervals, ir)
	return ir
}

// cpuSample is the process's CPU time.
type cpuSample struct{ user, sys time.Duration }

func cpuNow() cpuSample {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return cpuSample{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

// cpuReport is the CPU time a side used during the test.
type cpuReport struct {
	User   float64 `json:"user_s"`
	System float64 `json:"system_s"`
	// PerGB is CPU seconds per 10^9 application bytes moved.
	PerGB float64 `json:"seconds_per_gb"`
	// Shared: both ends ran in this process (--stack mem), so the time
	// is theirs together.
	Shared bool `json:"shared_process,omitempty"`
}

func (m *meter) cpu(moved uint64) cpuReport {
	c := cpuNow()
	r := cpuReport{User: (c.user - m.cpu0.user).Seconds(), System: (c.sys - m.cpu0.sys).Seconds()}
	if moved > 0 {
		r.PerGB = (r.User + r.System) / (float64(moved) / 1e9)
	}
	return r
}

package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// intervalReport is one reporting interval of one side.
type intervalReport struct {
	Start             float64        `json:"start_s"`
	End               float64        `json:"end_s"`
	Bytes             uint64         `json:"bytes"` // application bytes moved in the test's direction
	BitsPerSecond     float64        `json:"bits_per_second"`
	Requests          uint64         `json:"requests,omitempty"`
	RequestsPerSecond float64        `json:"requests_per_second,omitempty"`
	Conns             []connInterval `json:"conns,omitempty"`
}

type connInterval struct {
	ID            int               `json:"id"`
	Bytes         uint64            `json:"bytes"`
	BitsPerSecond float64           `json:"bits_per_second"`
	Subflows      []subflowInterval `json:"subflows,omitempty"`
}

// subflowInterval is one subflow in one interval: payload bytes it sent
// (on the sender, retransmissions included) or received (on the receiver).
type subflowInterval struct {
	Local         string  `json:"local"`
	Remote        string  `json:"remote"`
	Bytes         uint64  `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Retrans       uint64  `json:"retransmits"`
	RTT           float64 `json:"rtt_ms"`
	Cwnd          int     `json:"cwnd_bytes"`
}

// connResult is one data connection at the end of the test.
type connResult struct {
	ID            int             `json:"id"`
	Local         string          `json:"local"`
	Remote        string          `json:"remote"`
	MPTCP         bool            `json:"mptcp"`
	Checksums     bool            `json:"dss_checksums"`
	Fallback      string          `json:"fallback,omitempty"`
	BytesSent     uint64          `json:"bytes_sent"`
	BytesReceived uint64          `json:"bytes_received"`
	Subflows      []subflowSample `json:"subflows"`
	Error         string          `json:"error,omitempty"`
}

// sideResult is one side's view of the test.
type sideResult struct {
	Role          string           `json:"role"` // client or server
	Stack         string           `json:"stack"`
	Sender        bool             `json:"sender"`
	Seconds       float64          `json:"seconds"`
	BytesSent     uint64           `json:"bytes_sent"`
	BytesReceived uint64           `json:"bytes_received"`
	BitsPerSecond float64          `json:"bits_per_second"` // of the bytes moved in the test's direction
	Conns         []connResult     `json:"conns,omitempty"`
	Intervals     []intervalReport `json:"intervals"`
	CPU           cpuReport        `json:"cpu"`
	Latency       *latencyReport   `json:"latency,omitempty"`
	Requests      uint64           `json:"requests,omitempty"`
	RequestsFail  uint64           `json:"requests_failed,omitempty"`
	RequestsPerS  float64          `json:"requests_per_second,omitempty"`
	Errors        []string         `json:"errors,omitempty"`
}

// fullReport is the client's JSON document (--json).
type fullReport struct {
	Protocol    int         `json:"mpbench_protocol"`
	Time        string      `json:"time"`
	Host        string      `json:"host"`
	Server      string      `json:"server"`
	Spec        testSpec    `json:"test"`
	Client      *sideResult `json:"client"`
	ServerSide  *sideResult `json:"server_result,omitempty"`
	Summary     summary     `json:"summary"`
	Interrupted bool        `json:"interrupted,omitempty"`
	Error       string      `json:"error,omitempty"`
}

// summary is the test's outcome: what the receiver got.
type summary struct {
	Bytes             uint64  `json:"bytes"` // received by the receiving side
	BytesSent         uint64  `json:"bytes_sent"`
	Seconds           float64 `json:"seconds"`
	BitsPerSecond     float64 `json:"bits_per_second"`
	Retransmits       uint64  `json:"retransmits"` // the sender's subflows
	Requests          uint64  `json:"requests,omitempty"`
	RequestsPerSecond float64 `json:"requests_per_second,omitempty"`
	CPUClientPerGB    float64 `json:"cpu_client_s_per_gb"`
	CPUServerPerGB    float64 `json:"cpu_server_s_per_gb"`
}

func summarize(spec testSpec, cli, srv *sideResult) summary {
	var s summary
	snd, rcv := cli, srv
	if spec.Reverse {
		snd, rcv = srv, cli
	}
	if spec.Mode == modeRR {
		s.Requests, s.RequestsPerSecond, s.Seconds = cli.Requests, cli.RequestsPerS, cli.Seconds
		s.Bytes, s.BitsPerSecond = cli.BytesReceived, cli.BitsPerSecond
	} else {
		if rcv != nil {
			s.Bytes, s.Seconds, s.BitsPerSecond = rcv.BytesReceived, rcv.Seconds, rcv.BitsPerSecond
		}
		if snd != nil {
			s.BytesSent = snd.BytesSent
			for _, c := range snd.Conns {
				for _, sf := range c.Subflows {
					s.Retransmits += sf.Retrans
				}
			}
		}
	}
	s.CPUClientPerGB = cli.CPU.PerGB
	if srv != nil {
		s.CPUServerPerGB = srv.CPU.PerGB
	}
	return s
}

// printer writes the text report.
type printer struct {
	w        io.Writer
	parallel int
	progress bool // a live line is on the terminal and must be cleared first
	sender   bool // interval lines of the sending side: subflow RTT and window too
}

func (p *printer) clearProgress() {
	if p.progress {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func (p *printer) intervalHeader(rr bool) {
	if rr {
		fmt.Fprintf(p.w, "%-14s %10s %14s\n", "interval", "requests", "requests/s")
		return
	}
	sf := "subflows"
	if p.sender {
		sf = "subflows: rate (rtt, cwnd)"
	}
	fmt.Fprintf(p.w, "%-6s %-14s %11s %14s %6s   %s\n", "[ ID]", "interval", "transfer", "bitrate", "retr", sf)
}

func span(a, b float64) string { return fmt.Sprintf("%.2f-%.2f s", a, b) }

// interval prints one interval: a line per connection (and a sum with
// several), each with its subflows' rates.
func (p *printer) interval(ir intervalReport, rr bool) {
	p.clearProgress()
	if rr {
		fmt.Fprintf(p.w, "%-14s %10d %14.1f\n", span(ir.Start, ir.End), ir.Requests, ir.RequestsPerSecond)
		return
	}
	var retr uint64
	for _, c := range ir.Conns {
		var cr uint64
		var sf []string
		for _, s := range c.Subflows {
			cr += s.Retrans
			f := strings.TrimSuffix(fmtRate(s.BitsPerSecond), "/s")
			if p.sender {
				// The sender's view of the path, as iperf3's Cwnd column.
				f += fmt.Sprintf(" (%s, %s)", fmtDur(time.Duration(s.RTT*1e6)), fmtBytes(uint64(s.Cwnd)))
			}
			sf = append(sf, f)
		}
		retr += cr
		if len(ir.Conns) > 1 || p.parallel == 1 {
			fmt.Fprintf(p.w, "[%3d]  %-14s %11s %14s %6d   %d: %s\n", c.ID, span(ir.Start, ir.End),
				fmtBytes(c.Bytes), fmtRate(c.BitsPerSecond), cr, len(c.Subflows), strings.Join(sf, " + "))
		}
	}
	if len(ir.Conns) > 1 {
		fmt.Fprintf(p.w, "[SUM]  %-14s %11s %14s %6d\n", span(ir.Start, ir.End), fmtBytes(ir.Bytes), fmtRate(ir.BitsPerSecond), retr)
	}
}

// final prints the end of a test as the client sees it, with the server's
// side when it came back.
func (p *printer) final(r *fullReport) {
	p.clearProgress()
	w := p.w
	fmt.Fprintln(w, strings.Repeat("- ", 40))
	cli, srv := r.Client, r.ServerSide
	if r.Spec.Mode == modeRR {
		fmt.Fprintf(w, "request/response of %s, %d clients, closed loop: %d requests in %.2f s = %.1f requests/s (%d failed)\n",
			fmtBytes(uint64(r.Spec.RRSize)), r.Spec.Parallel, cli.Requests, cli.Seconds, cli.RequestsPerS, cli.RequestsFail)
		if srv != nil {
			fmt.Fprintf(w, "server: %d responses sent\n", srv.Requests)
		}
		if cli.Latency != nil {
			cli.Latency.print(w, "completion time (connect to last byte)")
		}
	} else {
		fmt.Fprintf(w, "%-6s %-14s %11s %14s %6s\n", "[ ID]", "interval", "transfer", "bitrate", "retr")
		sides := []*sideResult{cli, srv}
		if r.Spec.Reverse {
			sides = []*sideResult{srv, cli}
		}
		for _, s := range sides {
			if s == nil {
				continue
			}
			role := "receiver"
			if s.Sender {
				role = "sender"
			}
			for _, c := range s.Conns {
				b := c.BytesReceived
				var retr uint64
				if s.Sender {
					b = c.BytesSent
					for _, sf := range c.Subflows {
						retr += sf.Retrans
					}
				}
				rs := ""
				if s.Sender {
					rs = fmt.Sprint(retr)
				}
				if len(s.Conns) == 1 || r.Spec.Parallel > 1 {
					fmt.Fprintf(w, "[%3d]  %-14s %11s %14s %6s   %s (%s)\n", c.ID, span(0, s.Seconds), fmtBytes(b),
						fmtRate(rate(b, time.Duration(s.Seconds*1e9))), rs, role, s.Role)
				}
			}
			if len(s.Conns) > 1 {
				b := s.BytesReceived
				if s.Sender {
					b = s.BytesSent
				}
				fmt.Fprintf(w, "[SUM]  %-14s %11s %14s %6s   %s (%s)\n", span(0, s.Seconds), fmtBytes(b), fmtRate(s.BitsPerSecond), "", role, s.Role)
			}
		}
		// Subflows as the sender saw them (its RTT and window).
		snd := cli
		if r.Spec.Reverse {
			snd = srv
		}
		if snd != nil {
			for _, c := range snd.Conns {
				mp := "MPTCP"
				if !c.MPTCP {
					mp = "TCP"
					if c.Fallback != "" {
						mp = "TCP (fell back: " + c.Fallback + ")"
					}
				}
				cs := ""
				if c.Checksums {
					cs = ", DSS checksums"
				}
				fmt.Fprintf(w, "[%3d]  %s %s -> %s, %d subflow(s)%s, seen by the %s:\n", c.ID, mp, c.Local, c.Remote, len(c.Subflows), cs, snd.Role)
				for _, sf := range c.Subflows {
					fmt.Fprintf(w, "         %-22s -> %-22s %11s  retr %-6d rtt %-9s cwnd %s\n", sf.Local, sf.Remote,
						fmtBytes(sf.BytesOut), sf.Retrans, fmtDur(time.Duration(sf.RTT*1e6)), fmtBytes(uint64(sf.Cwnd)))
				}
			}
		}
		if lat := latencyOf(r); lat != nil {
			lat.print(w, fmt.Sprintf("application delay of %s blocks (write at the sender to read at the receiver)", fmtBytes(uint64(r.Spec.Block))))
		}
	}
	p.cpu(r)
	for _, s := range []*sideResult{cli, srv} {
		if s != nil {
			for _, e := range s.Errors {
				fmt.Fprintf(w, "%s: %s\n", s.Role, e)
			}
		}
	}
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: the numbers above cover what was measured until then")
	}
}

func latencyOf(r *fullReport) *latencyReport {
	if r.Spec.Reverse || r.ServerSide == nil {
		return r.Client.Latency
	}
	return r.ServerSide.Latency
}

func (p *printer) cpu(r *fullReport) {
	c := r.Client.CPU
	if c.Shared {
		fmt.Fprintf(p.w, "CPU: %.2f s user + %.2f s system = %.2f s per GB moved (both ends in this process)\n", c.User, c.System, c.PerGB)
		return
	}
	// By role: a server's report without the client's result has its own
	// side in Client.
	var parts []string
	for _, s := range []*sideResult{r.Client, r.ServerSide} {
		if s != nil {
			parts = append(parts, fmt.Sprintf("%s %.2f s user + %.2f s system = %.2f s per GB", s.Role, s.CPU.User, s.CPU.System, s.CPU.PerGB))
		}
	}
	fmt.Fprintf(p.w, "CPU: %s\n", strings.Join(parts, "; "))
}

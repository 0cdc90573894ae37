package cc

import "time"

func init() {
	Register(Algorithm{Name: "reno", NewGroup: func() Group {
		return uncoupled(func(_ time.Duration, mss int) Controller { return NewReno(mss) })
	}})
}

// Reno is NewReno congestion control (RFC 5681, RFC 6582) with appropriate
// byte counting (RFC 3465): slow start grows by the bytes acknowledged, at
// most two segments per ACK; congestion avoidance by one segment per
// window of acknowledged bytes, whatever the ACK pattern.
type Reno struct {
	mss      int
	cwnd     int
	ssthresh int
	acked    int // bytes acknowledged since the last +1 segment in congestion avoidance
}

// NewReno returns a controller with the initial window of RFC 6928.
func NewReno(mss int) *Reno {
	return &Reno{mss: mss, cwnd: InitialWindow(mss), ssthresh: int(^uint(0) >> 1)}
}

// Window returns the congestion window in bytes.
func (r *Reno) Window() int { return r.cwnd }

// SSThresh returns the slow-start threshold in bytes.
func (r *Reno) SSThresh() int { return r.ssthresh }

// SetMSS changes the segment size. The windows keep their size in
// segments, as Linux's (which counts packets) do: the initial window
// stays ten segments when the handshake lowers the MSS.
func (r *Reno) SetMSS(mss int) {
	if mss <= 0 || mss == r.mss {
		return
	}
	r.cwnd = r.cwnd / r.mss * mss
	if r.ssthresh != int(^uint(0)>>1) {
		r.ssthresh = r.ssthresh / r.mss * mss
	}
	r.acked = 0
	r.mss = mss
}

// OnAck grows the window (RFC 5681 §3.1 with RFC 3465 §2.1, L = 2).
func (r *Reno) OnAck(_ time.Duration, a Ack) {
	if a.AppLimited || a.Bytes <= 0 {
		return
	}
	if r.cwnd < r.ssthresh {
		r.cwnd += min(a.Bytes, 2*r.mss)
		return
	}
	r.acked += a.Bytes
	if r.acked >= r.cwnd {
		r.acked -= r.cwnd
		r.cwnd += r.mss
	}
}

// OnCongestion halves the window on entering fast recovery (RFC 5681
// eq. 4: ssthresh = max(FlightSize/2, 2·SMSS); RFC 6675 then paces with
// cwnd = ssthresh).
func (r *Reno) OnCongestion(_ time.Duration, inFlight int) {
	r.ssthresh = max(inFlight/2, minWindow(r.mss))
	r.cwnd = r.ssthresh
	r.acked = 0
}

// OnRecoveryEnd needs no action: the window was set on entry.
func (r *Reno) OnRecoveryEnd(time.Duration) {}

// OnRTO collapses the window to the loss window of one segment (RFC 5681
// §3.1).
func (r *Reno) OnRTO(_ time.Duration, inFlight int) {
	r.ssthresh = max(inFlight/2, minWindow(r.mss))
	r.cwnd = r.mss
	r.acked = 0
}

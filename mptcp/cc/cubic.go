package cc

import (
	"math"
	"time"
)

func init() {
	Register(Algorithm{Name: "cubic", NewGroup: func() Group {
		return uncoupled(func(now time.Duration, mss int) Controller { return NewCubic(mss) })
	}})
}

// CUBIC constants (RFC 9438 §4.1, §4.6).
const (
	cubicC    = 0.4 // segments/s³
	cubicBeta = 0.7
	// αcubic makes the Reno-friendly estimate grow like Reno with β = 0.7
	// (RFC 9438 §4.3).
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)
)

// Cubic is CUBIC congestion control (RFC 9438) with fast convergence and
// the Reno-friendly region; slow start uses byte counting as [Reno] does.
// Window arithmetic is in segments (float64), as in the RFC; Window
// reports bytes.
type Cubic struct {
	mss        int
	cwnd       float64 // segments
	ssthresh   float64 // segments
	wMax       float64 // window before the last reduction
	k          float64 // seconds until W_cubic returns to wMax
	epochStart time.Duration
	inEpoch    bool
	wEst       float64       // Reno-friendly estimate (segments)
	srtt       time.Duration // smoothed RTT from the samples (RFC 6298 gains)
}

// NewCubic returns a controller with the initial window of RFC 6928.
func NewCubic(mss int) *Cubic {
	return &Cubic{mss: mss, cwnd: float64(InitialWindow(mss)) / float64(mss), ssthresh: math.Inf(1)}
}

// Window returns the congestion window in bytes.
func (c *Cubic) Window() int { return int(c.cwnd * float64(c.mss)) }

// SSThresh returns the slow-start threshold in bytes.
func (c *Cubic) SSThresh() int {
	if math.IsInf(c.ssthresh, 1) {
		return int(^uint(0) >> 1)
	}
	return int(c.ssthresh * float64(c.mss))
}

// SetMSS changes the segment size. The windows are kept in segments (as
// Linux's, which count packets), so their size in bytes scales.
func (c *Cubic) SetMSS(mss int) {
	if mss > 0 {
		c.mss = mss
	}
}

// wCubic is W_cubic(t) of RFC 9438 eq. 1.
func (c *Cubic) wCubic(t float64) float64 {
	d := t - c.k
	return float64(cubicC*d*d*d) + c.wMax // no fused multiply-add: the same result on every CPU
}

// OnAck grows the window: slow start below ssthresh, else the cubic
// function of the time since the last reduction (RFC 9438 §4.2–§4.4).
func (c *Cubic) OnAck(now time.Duration, a Ack) {
	if a.RTT > 0 {
		if c.srtt == 0 {
			c.srtt = a.RTT
		} else {
			c.srtt += (a.RTT - c.srtt) / 8
		}
	}
	if a.AppLimited || a.Bytes <= 0 {
		return
	}
	segs := float64(a.Bytes) / float64(c.mss)
	if c.cwnd < c.ssthresh {
		c.cwnd += min(segs, 2)
		return
	}
	if !c.inEpoch {
		c.inEpoch = true
		c.epochStart = now
		if c.cwnd < c.wMax {
			c.k = math.Cbrt((c.wMax - c.cwnd) / cubicC)
		} else {
			c.k = 0
			c.wMax = c.cwnd
		}
		c.wEst = c.cwnd
	}
	t := (now - c.epochStart).Seconds()
	rtt := c.srtt.Seconds()
	// Reno-friendly estimate (RFC 9438 §4.3): αcubic until it reaches
	// wMax, then Reno's 1.
	alpha := cubicAlpha
	if c.wEst >= c.wMax {
		alpha = 1
	}
	c.wEst += alpha * segs / c.cwnd
	if c.wCubic(t) < c.wEst {
		c.cwnd = c.wEst
		return
	}
	// Concave and convex regions (§4.4, §4.5): approach the target one
	// RTT ahead, by at most half a window per window of ACKs.
	target := min(max(c.wCubic(t+rtt), c.cwnd), 1.5*c.cwnd)
	c.cwnd += (target - c.cwnd) * segs / c.cwnd
}

// OnCongestion reduces the window by β and remembers where it was, with
// fast convergence (RFC 9438 §4.6, §4.7).
func (c *Cubic) OnCongestion(_ time.Duration, _ int) {
	c.reduce()
	c.cwnd = c.ssthresh
}

func (c *Cubic) reduce() {
	if c.cwnd < c.wMax {
		c.wMax = c.cwnd * (1 + cubicBeta) / 2
	} else {
		c.wMax = c.cwnd
	}
	c.ssthresh = max(c.cwnd*cubicBeta, 2)
	c.inEpoch = false
}

// OnRecoveryEnd needs no action: the window was set on entry.
func (c *Cubic) OnRecoveryEnd(time.Duration) {}

// OnRTO reduces as for a loss and restarts from one segment in slow start
// (RFC 9438 §4.8).
func (c *Cubic) OnRTO(_ time.Duration, _ int) {
	c.reduce()
	c.cwnd = 1
}

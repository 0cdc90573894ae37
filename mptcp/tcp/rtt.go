package tcp

import "time"

// rttEstimator is the RFC 6298 retransmission-timer computation.
type rttEstimator struct {
	srtt, rttvar time.Duration
	minRTT       time.Duration // smallest sample seen (for diagnostics and schedulers)
	latest       time.Duration
	rto          time.Duration
	backoff      uint // exponent of the current backoff (RFC 6298 §5.5)
	minRTO       time.Duration
	maxRTO       time.Duration
	hasSample    bool
}

// clockGranularity is G of RFC 6298 §2.
const clockGranularity = time.Millisecond

func newRTTEstimator(initial, minRTO, maxRTO time.Duration) rttEstimator {
	return rttEstimator{rto: initial, minRTO: minRTO, maxRTO: maxRTO}
}

// sample feeds one RTT measurement (RFC 6298 §2.2, §2.3).
func (e *rttEstimator) sample(r time.Duration) {
	if r <= 0 {
		r = 1 // a zero sample from a sub-granularity clock still counts
	}
	e.latest = r
	if !e.hasSample || r < e.minRTT {
		e.minRTT = r
	}
	if !e.hasSample {
		e.srtt, e.rttvar, e.hasSample = r, r/2, true
	} else {
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	e.rto = e.srtt + max(clockGranularity, 4*e.rttvar)
	e.rto = min(max(e.rto, e.minRTO), e.maxRTO)
	e.backoff = 0
}

// current returns the RTO with the backoff applied (RFC 6298 §5.5).
func (e *rttEstimator) current() time.Duration {
	r := e.rto
	for i := uint(0); i < e.backoff && r < e.maxRTO; i++ {
		r *= 2
	}
	return min(r, e.maxRTO)
}

// backOff doubles the timeout after an expiry.
func (e *rttEstimator) backOff() {
	if e.current() < e.maxRTO {
		e.backoff++
	}
}

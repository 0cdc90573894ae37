package cc

// Coupled congestion control for MPTCP: LIA (RFC 6356), OLIA (Khalili,
// Gast, Popovic, Upadhyay, Le Boudec, "MPTCP is not Pareto-optimal:
// performance issues and a possible solution", CoNEXT 2012) and BALIA
// (Peng, Walid, Hwang, Low, "Multipath TCP: Analysis, Design, and
// Implementation", IEEE/ACM ToN 24(1), 2016).
//
// The three share one structure, [CoupledGroup], holding the subflows of
// one connection, and one controller type, [Coupled]. They differ only in
// the congestion-avoidance increase (lia.go, olia.go, balia.go) and, for
// BALIA, in the decrease on loss. Common rules, as in the mptcp.org
// implementations (mptcp_coupled.c, mptcp_olia.c, mptcp_balia.c):
//
//   - A subflow takes part in the coupled sums once it has an RTT sample
//     (it "can send"); a subflow without one is left out.
//   - While at most one subflow takes part, every subflow behaves exactly
//     like [Reno]: the same integer arithmetic, bit for bit.
//   - Slow start is uncoupled: RFC 5681 slow start with RFC 3465 byte
//     counting (L = 2), as Reno (RFC 6356 §3 changes only the increase of
//     congestion avoidance).
//   - LIA and OLIA respond to loss as Reno does (RFC 6356 §3: "the same as
//     in standard TCP"); BALIA has its own decrease.
//   - The increase is per acknowledged byte, not per ACK (RFC 3465): each
//     algorithm's per-segment increase is turned into a gain, the bytes of
//     window earned per byte acknowledged, and accumulated in a per-subflow
//     credit that moves the window one MSS at a time. Stretch ACKs and
//     delayed ACKs therefore grow the window as much as per-segment ACKs.
//     (The mptcp.org code counts one unit per ACK in congestion avoidance.)
//
// Arithmetic: windows are integers in bytes, as Reno's; the coupled gains
// are float64. Every product that is added to something is converted
// explicitly (float64(a*b)), which the Go specification defines to round
// and so forbids the compiler to fuse it into an FMA instruction (arm64,
// ppc64le, s390x, riscv64 and amd64 v3 could otherwise differ in the last
// bit): the results are the same on every platform. To check, look for
// FMADD/FMSUB/FNMSUB in `GOARCH=arm64 go build -gcflags=-S ./mptcp/cc`.
//
// Windows in recovery: the TCP engine sets the window to ssthresh when it
// calls OnCongestion and paces by RFC 6675/6937 without inflating it, so
// the sums can use the window as it is (RFC 6356 §4 warns against summing
// inflated windows).

import (
	"math"
	"time"
)

var (
	_ Group      = (*CoupledGroup)(nil)
	_ Controller = (*Coupled)(nil)
)

func init() {
	Register(Algorithm{Name: "lia", Coupled: true, NewGroup: func() Group { return NewLIA() }})
	Register(Algorithm{Name: "olia", Coupled: true, NewGroup: func() Group { return NewOLIA() }})
	Register(Algorithm{Name: "balia", Coupled: true, NewGroup: func() Group { return NewBALIA() }})
}

// coupledKind selects the algorithm of a CoupledGroup.
type coupledKind uint8

const (
	kindLIA coupledKind = iota
	kindOLIA
	kindBALIA
)

// CoupledGroup is the shared state of the coupled controllers of one MPTCP
// connection (RFC 6356 §3: the increase of each subflow depends on the
// windows and RTTs of all of them). Create it with [NewLIA], [NewOLIA] or
// [NewBALIA]; it implements [Group]. Like the controllers, it is used from
// one goroutine at a time.
type CoupledGroup struct {
	kind    coupledKind
	members []*Coupled
	// active counts the members with an RTT sample: the subflows that take
	// part in the coupled sums.
	active int
	// stale is set when a window, an RTT or the membership changed since
	// the cached sums (liaK, sumX, maxX) were computed.
	stale bool
	// liaK is cwnd_total/α of RFC 6356 eq. 2, in bytes:
	// (Σ cwnd_i/rtt_i)² / max(cwnd_i/rtt_i²). cwnd_total cancels out.
	liaK float64
	// BALIA: Σ x_k and max x_k, with x_k = cwnd_k/rtt_k in bytes/s.
	sumX, maxX float64
}

// NewLIA returns an empty group for the Linked Increases Algorithm of
// RFC 6356.
func NewLIA() *CoupledGroup { return &CoupledGroup{kind: kindLIA} }

// NewOLIA returns an empty group for the Opportunistic Linked Increases
// Algorithm (Khalili et al., CoNEXT 2012).
func NewOLIA() *CoupledGroup { return &CoupledGroup{kind: kindOLIA} }

// NewBALIA returns an empty group for the Balanced Linked Adaptation
// algorithm (Peng, Walid, Hwang, Low, IEEE/ACM ToN 2016).
func NewBALIA() *CoupledGroup { return &CoupledGroup{kind: kindBALIA} }

// NewController adds a subflow to the group. It starts in slow start with
// the initial window of RFC 6928 and takes part in the coupled sums after
// its first RTT sample.
func (g *CoupledGroup) NewController(_ time.Duration, mss int) Controller {
	c := &Coupled{g: g, idx: len(g.members), mss: mss, cwnd: InitialWindow(mss), ssthresh: int(^uint(0) >> 1)}
	g.members = append(g.members, c)
	return c
}

// Remove takes a closed subflow's controller out of the group. A
// controller that is not in the group is ignored. The removed controller
// keeps working on its own, as Reno.
func (g *CoupledGroup) Remove(ctl Controller) {
	c, ok := ctl.(*Coupled)
	if !ok || c.g != g {
		return
	}
	last := len(g.members) - 1
	g.members[c.idx] = g.members[last]
	g.members[c.idx].idx = c.idx
	g.members[last] = nil
	g.members = g.members[:last]
	if c.srtt > 0 {
		g.active--
	}
	g.stale = true
	c.g = nil
}

// Coupled is the congestion controller of one subflow in a [CoupledGroup].
// Windows are in bytes. It tracks a smoothed RTT of its own from the
// samples in [Ack] (RFC 6298 §2 gains), because the coupled formulas
// weigh each subflow by its RTT.
type Coupled struct {
	g        *CoupledGroup // nil once removed
	idx      int           // position in g.members
	mss      int
	cwnd     int
	ssthresh int
	acked    int     // Reno's byte counter (uncoupled congestion avoidance)
	credit   float64 // window earned towards the next ±MSS (coupled), in bytes
	srtt     time.Duration
	rttUsed  time.Duration // srtt when the group's sums were last computed
	x        float64       // BALIA: cwnd/srtt in bytes/s at the last computation
	// OLIA's ℓ: bytes acknowledged since the last loss, and between the
	// last two losses.
	sinceLoss, lastInterval int64
}

// coupled reports whether the congestion-avoidance increase of c is
// coupled: c and at least one other subflow have RTT samples. Otherwise
// c behaves as Reno (mptcp.org: cnt_established <= 1).
func (c *Coupled) coupled() bool {
	return c.g != nil && c.g.active > 1 && c.srtt > 0
}

// Window returns the congestion window in bytes.
func (c *Coupled) Window() int { return c.cwnd }

// SSThresh returns the slow-start threshold in bytes.
func (c *Coupled) SSThresh() int { return c.ssthresh }

// SetMSS changes the segment size; the windows keep their size in
// segments, as Reno's do.
func (c *Coupled) SetMSS(mss int) {
	if mss <= 0 || mss == c.mss {
		return
	}
	c.cwnd = c.cwnd / c.mss * mss
	if c.ssthresh != int(^uint(0)>>1) {
		c.ssthresh = c.ssthresh / c.mss * mss
	}
	c.acked, c.credit = 0, 0
	c.mss = mss
	c.changed()
}

// changed marks the group's sums stale after a change of c's window.
func (c *Coupled) changed() {
	if c.g != nil {
		c.g.stale = true
	}
}

// sampleRTT folds an RTT sample into srtt (RFC 6298 §2.2, §2.3: α = 1/8).
// The first sample makes the subflow take part in the sums. Later samples
// mark the sums stale only when srtt has moved by more than an eighth
// since they were computed (RFC 6356 §4 lets α be computed less often
// than per ACK; the engine samples about once per RTT anyway).
func (c *Coupled) sampleRTT(r time.Duration) {
	if c.srtt == 0 {
		c.srtt = r
		if c.g != nil {
			c.g.active++
			c.g.stale = true
		}
		return
	}
	c.srtt += (r - c.srtt) / 8
	if d := c.srtt - c.rttUsed; d > c.rttUsed/8 || -d > c.rttUsed/8 {
		c.changed()
	}
}

// OnAck grows the window: uncoupled slow start (RFC 5681 §3.1, RFC 3465
// L = 2), then the algorithm's coupled increase per acknowledged byte, or
// Reno's while c is alone.
func (c *Coupled) OnAck(_ time.Duration, a Ack) {
	if a.RTT > 0 {
		c.sampleRTT(a.RTT)
	}
	if a.Bytes > 0 {
		c.sinceLoss += int64(a.Bytes)
	}
	if a.AppLimited || a.Bytes <= 0 {
		return
	}
	if c.cwnd < c.ssthresh {
		c.cwnd += min(a.Bytes, 2*c.mss)
		c.changed()
		return
	}
	if !c.coupled() {
		c.renoIncrease(a.Bytes)
		return
	}
	if c.acked != 0 { // carry Reno's progress over into the credit
		c.credit += float64(c.acked) * float64(c.mss) / float64(c.cwnd)
		c.acked = 0
	}
	var gain float64 // bytes of window per byte acknowledged
	switch c.g.kind {
	case kindLIA:
		gain = c.g.liaGain(c)
	case kindOLIA:
		gain = c.g.oliaGain(c)
	default:
		gain = c.g.baliaGain(c)
	}
	c.credit += float64(float64(a.Bytes) * gain)
	c.applyCredit()
}

// renoIncrease is Reno's congestion avoidance (RFC 5681 §3.1 with
// RFC 3465 §2.1): one MSS per window of acknowledged bytes.
func (c *Coupled) renoIncrease(bytes int) {
	if c.credit != 0 { // back from coupled mode: carry the credit over
		c.acked = max(int(c.credit*float64(c.cwnd)/float64(c.mss)), 0)
		c.credit = 0
	}
	c.acked += bytes
	if c.acked >= c.cwnd {
		c.acked -= c.cwnd
		c.cwnd += c.mss
		c.changed()
	}
}

// creditSlack absorbs the rounding of the credit sum (a few ulps of the
// MSS over a window of ACKs), so that a gain of exactly MSS/cwnd moves
// the window after one window of bytes, as Reno does, and not one ACK
// later.
const creditSlack = 1e-6 // bytes

// applyCredit moves the window by whole segments once the credit reaches
// ±MSS. OLIA's increase can be negative; the window then shrinks, but not
// below two segments (RFC 5681 §3.1's floor after a reduction).
func (c *Coupled) applyCredit() {
	mss := float64(c.mss)
	switch {
	case c.credit >= mss-creditSlack:
		n := math.Floor((c.credit + creditSlack) / mss)
		c.cwnd += int(n) * c.mss
		c.credit -= float64(n * mss)
		c.changed()
	case c.credit <= creditSlack-mss:
		n := math.Floor((creditSlack - c.credit) / mss)
		c.credit += float64(n * mss)
		if w := c.cwnd - int(n)*c.mss; w >= minWindow(c.mss) {
			c.cwnd = w
		} else { // stop at the floor (never raise a window already below it)
			c.cwnd = min(c.cwnd, minWindow(c.mss))
			c.credit = 0
		}
		c.changed()
	}
}

// OnCongestion reduces the window on entering fast recovery: Reno's
// halving of FlightSize for LIA and OLIA (RFC 5681 eq. 4), BALIA's
// decrease for BALIA.
func (c *Coupled) OnCongestion(_ time.Duration, inFlight int) {
	c.lossEvent()
	c.ssthresh = c.reducedWindow(inFlight)
	c.cwnd = c.ssthresh
	c.acked, c.credit = 0, 0
	c.changed()
}

// OnRecoveryEnd needs no action: the window was set on entry.
func (c *Coupled) OnRecoveryEnd(time.Duration) {}

// OnRTO reduces ssthresh as for a loss and collapses the window to one
// segment (RFC 5681 §3.1).
func (c *Coupled) OnRTO(_ time.Duration, inFlight int) {
	c.lossEvent()
	c.ssthresh = c.reducedWindow(inFlight)
	c.cwnd = c.mss
	c.acked, c.credit = 0, 0
	c.changed()
}

// reducedWindow is the slow-start threshold after a loss with inFlight
// bytes in flight.
func (c *Coupled) reducedWindow(inFlight int) int {
	if c.g != nil && c.g.kind == kindBALIA && c.coupled() {
		return c.g.baliaReduce(c, inFlight)
	}
	return max(inFlight/2, minWindow(c.mss))
}

// lossEvent ends an inter-loss interval for OLIA's ℓ: the interval is
// remembered if data was acknowledged since the last loss (mptcp.org:
// loss1 ← loss2 ← loss3 only when loss3 ≠ loss2).
func (c *Coupled) lossEvent() {
	if c.sinceLoss > 0 {
		c.lastInterval = c.sinceLoss
		c.sinceLoss = 0
	}
}

// rttSeconds is srtt in seconds, for the rate sums.
func (c *Coupled) rttSeconds() float64 { return c.srtt.Seconds() }

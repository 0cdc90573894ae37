package cc

import (
	"sort"
	"time"
)

// Ack reports the data newly acknowledged by one ACK (cumulatively or by
// SACK) outside loss recovery.
type Ack struct {
	Bytes    int           // newly acknowledged bytes
	RTT      time.Duration // a valid RTT sample (Karn's rule applied), or 0
	InFlight int           // bytes in flight before this ACK
	// AppLimited is set when the sender did not fill its window during the
	// last round trip; the window then does not grow (RFC 9438 §4.10,
	// RFC 7661), so that an idle or request/response flow cannot inflate
	// it without evidence from the network.
	AppLimited bool
}

// Controller is the congestion controller of one subflow. Every callback
// receives the time; controllers never read a clock. Windows are in bytes.
//
// The TCP engine calls OnCongestion once per loss episode (the start of
// fast recovery), OnRTO on a retransmission timeout, OnRecoveryEnd when
// the fast-recovery point is acknowledged, and OnAck for ACKs that
// advance outside fast recovery (including after a timeout, when the
// window grows from one segment in slow start). During recovery the engine paces by its own rules
// (RFC 6675/6937) with Window as the target.
type Controller interface {
	Window() int   // congestion window
	SSThresh() int // slow-start threshold
	OnAck(now time.Duration, a Ack)
	OnCongestion(now time.Duration, inFlight int)
	OnRecoveryEnd(now time.Duration)
	OnRTO(now time.Duration, inFlight int)
	SetMSS(mss int) // the subflow's sender MSS; called before use and on change
}

// Group holds the controllers of one MPTCP connection. Coupled algorithms
// (LIA, OLIA, BALIA) share state through it; uncoupled ones ignore it. The
// connection creates one group, one controller per subflow, and removes a
// controller when its subflow closes.
type Group interface {
	NewController(now time.Duration, mss int) Controller
	Remove(c Controller)
}

// Algorithm is a named congestion-control algorithm.
type Algorithm struct {
	Name    string
	Coupled bool
	// NewGroup returns an empty group for a new connection.
	NewGroup func() Group
}

var registry = map[string]Algorithm{}

// Register adds an algorithm to the registry; call it from an init
// function. It panics on a duplicate name (a programming error).
func Register(a Algorithm) {
	if _, dup := registry[a.Name]; dup {
		panic("cc: algorithm registered twice: " + a.Name)
	}
	registry[a.Name] = a
}

// Lookup returns the named algorithm.
func Lookup(name string) (Algorithm, bool) {
	a, ok := registry[name]
	return a, ok
}

// Names returns the registered algorithm names, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// uncoupled makes a Group of independent controllers.
type uncoupled func(now time.Duration, mss int) Controller

func (u uncoupled) NewController(now time.Duration, mss int) Controller { return u(now, mss) }
func (uncoupled) Remove(Controller)                                     {}

// InitialWindow is RFC 6928's initial window, the one Linux uses: ten
// segments (IW10).
func InitialWindow(mss int) int { return 10 * mss }

// minWindow is the smallest window after a reduction (RFC 5681 §3.1: two
// segments).
func minWindow(mss int) int { return 2 * mss }

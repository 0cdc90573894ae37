// Package sched holds mpxdp's MPTCP packet schedulers: which subflow
// carries the next chunk of data (ALGORITHMS.md Part I §3). The connection
// describes its subflows in a slice of [Subflow] and asks; the scheduler
// keeps whatever state it needs (a round-robin position) and nothing else.
//
// # Contract
//
//   - Sans-IO and allocation-free: Select appends to a caller-owned slice.
//     No clocks, goroutines or locks (docs/architecture.md).
//   - A scheduler sees only usable subflows' numbers; it never sends. The
//     connection cuts a mapping of up to 64 KiB for each subflow chosen.
//   - Backup subflows (RFC 8684 §3.3.8) are chosen only when no non-backup
//     subflow is usable at all, not merely busy (INTEROP B.9).
//   - New data goes where Select says, from the connection's next new
//     byte; a [Replicator]'s subflows each send from their own position
//     instead, skipping only what the peer acknowledged (the v0.90+
//     mptcp.org redundant scheduler's per-subflow pointer).
//   - Schedulers register by name ([Register], [New], [Names]); one
//     instance serves one connection.
package sched

import (
	"sort"
	"time"
)

// Subflow is what a scheduler knows of one subflow.
type Subflow struct {
	ID     int
	SRTT   time.Duration // 0 before the first sample
	Backup bool
	// Usable: established (a joined subflow also confirmed by the peer's
	// ACK of its third ACK), not stale, not closing.
	Usable bool
	// Room is what the congestion window allows to assign now: the window
	// minus the bytes assigned and not yet acknowledged.
	Room int
	MSS  int
}

// Scheduler picks subflows for new data and for reinjected data.
type Scheduler interface {
	// Select appends to dst the indexes (into subs) of the subflows that
	// carry the next chunk of new data, and returns dst. Several indexes
	// mean the same data goes on each (the redundant scheduler); none
	// means wait.
	Select(subs []Subflow, dst []int) []int
}

// Replicator is implemented by schedulers whose subflows each carry the
// whole stream. A subflow Select picks continues from the last byte it
// carried, or from the peer's DATA_ACK if that is further, rather than
// from the connection's next new byte; so a subflow that was full or
// slow sends what it missed and skips only what the peer already has,
// as the mptcp.org redundant scheduler does.
type Replicator interface {
	Scheduler
	Replicate()
}

// hasRoom reports whether s can take at least a segment now.
func hasRoom(s *Subflow) bool { return s.Usable && s.Room >= max(s.MSS, 1)/2 }

// anyUsable reports whether a usable subflow with the given backup flag exists.
func anyUsable(subs []Subflow, backup bool) bool {
	for i := range subs {
		if subs[i].Usable && subs[i].Backup == backup {
			return true
		}
	}
	return false
}

// tier returns which subflows to consider: non-backup ones if any is
// usable, else the backups.
func tier(subs []Subflow) (backup bool) { return !anyUsable(subs, false) }

// SelectRetransmit returns the index of the subflow that should carry data
// being reinjected away from the subflow with ID from: the usable
// non-backup one with room and the lowest RTT other than from. A backup
// takes it only when no non-backup subflow but from is usable at all (as
// Linux's mptcp_subflow_get_retrans uses one only when nothing else makes
// progress); -1 means wait.
func SelectRetransmit(subs []Subflow, from int) int {
	best, regular := -1, false
	for i := range subs {
		s := &subs[i]
		if s.ID == from || s.Backup || !s.Usable {
			continue
		}
		regular = true
		if hasRoom(s) && (best < 0 || s.SRTT < subs[best].SRTT) {
			best = i
		}
	}
	if best >= 0 || regular {
		return best
	}
	for i := range subs {
		s := &subs[i]
		if s.ID != from && s.Backup && hasRoom(s) && (best < 0 || s.SRTT < subs[best].SRTT) {
			best = i
		}
	}
	return best
}

var registry = map[string]func() Scheduler{}

// Register adds a scheduler constructor; call it from an init function.
func Register(name string, f func() Scheduler) {
	if _, dup := registry[name]; dup {
		panic("sched: registered twice: " + name)
	}
	registry[name] = f
}

// New returns a new instance of the named scheduler.
func New(name string) (Scheduler, bool) {
	f, ok := registry[name]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Names lists the registered schedulers.
func Names() []string {
	n := make([]string, 0, len(registry))
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Default is the scheduler a connection uses unless configured otherwise.
const Default = "lowrtt"

func init() {
	Register("lowrtt", func() Scheduler { return LowestRTT{} })
	Register("roundrobin", func() Scheduler { return &RoundRobin{} })
	Register("redundant", func() Scheduler { return Redundant{} })
}

// LowestRTT sends on the subflow with the lowest smoothed RTT that has
// room in its congestion window (mptcp.org's default, ALGORITHMS §3.1). A
// subflow without an RTT sample counts as fastest, so that a new subflow
// is tried. When every usable subflow is merely busy it waits rather than
// overflowing onto a backup.
type LowestRTT struct{}

// Select implements Scheduler.
func (LowestRTT) Select(subs []Subflow, dst []int) []int {
	backup := tier(subs)
	best := -1
	for i := range subs {
		s := &subs[i]
		if s.Backup != backup || !hasRoom(s) {
			continue
		}
		if best < 0 || s.SRTT < subs[best].SRTT {
			best = i
		}
	}
	if best >= 0 {
		dst = append(dst, best)
	}
	return dst
}

// RoundRobin gives chunks to the usable subflows with room in turn
// (mptcp_rr.c with cwnd_limited, ALGORITHMS §3.2).
type RoundRobin struct{ next int }

// Select implements Scheduler.
func (r *RoundRobin) Select(subs []Subflow, dst []int) []int {
	backup := tier(subs)
	for k := 0; k < len(subs); k++ {
		i := (r.next + k) % len(subs)
		s := &subs[i]
		if s.Backup == backup && hasRoom(s) {
			r.next = i + 1
			return append(dst, i)
		}
	}
	return dst
}

// Redundant sends every chunk on every usable subflow that has room
// (ALGORITHMS §3.3): the receiver keeps the first copy of each byte. It
// trades bandwidth for latency and resilience. It is a Replicator: a
// subflow that had no room for a while catches up on what it missed.
type Redundant struct{}

// Replicate implements Replicator.
func (Redundant) Replicate() {}

// Select implements Scheduler.
func (Redundant) Select(subs []Subflow, dst []int) []int {
	backup := tier(subs)
	for i := range subs {
		if subs[i].Backup == backup && hasRoom(&subs[i]) {
			dst = append(dst, i)
		}
	}
	return dst
}

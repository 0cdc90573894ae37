package sim

import (
	"reflect"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/mbox"
)

// middlebox runs one mbox.Middlebox for the links it sits on: it hands
// them what the middlebox emits and keeps its timer.
type middlebox struct {
	sim   *Sim
	index int
	m     mbox.Middlebox
	timed mbox.Timed     // m, if it holds packets
	links [2]*Link       // by direction: where emitted packets continue
	emit  mbox.Emit      // deliver, bound once: no allocation per packet
	armed bool           // a timer event is pending
	at    time.Duration  // its time
	gen   uint64         // cancels stale timer events
	stats MiddleboxStats //
}

// MiddleboxStats counts what the simulator did with a middlebox's output.
type MiddleboxStats struct {
	// NoLink counts packets emitted in a direction the middlebox has no
	// link for (a single link without a reverse).
	NoLink uint64
}

// SetMiddlebox puts m on the link: every packet offered to the link
// passes through m.Process, as travelling in direction dir, and what m
// emits in dir enters the link's queue. What m emits the other way (a
// proactive ACK) enters the reverse link's queue, or the link m has for
// that direction. Attaching the same middlebox to the link of each
// direction (or using AttachMiddlebox, or Path.Middlebox) gives one
// middlebox state for both, so a NAT maps replies back. A nil m removes
// the link's middlebox. Packets pass through the middlebox at the moment
// they are sent, before the queue; a middlebox that holds packets
// (mbox.Timed) gets a timer event.
func (l *Link) SetMiddlebox(m mbox.Middlebox, dir mbox.Direction) {
	if m == nil {
		l.mbox = nil
		return
	}
	s := l.sim
	var mb *middlebox
	if reflect.TypeOf(m).Comparable() {
		for _, x := range s.mboxes {
			if x.m == m {
				mb = x
				break
			}
		}
	}
	if mb == nil {
		mb = &middlebox{sim: s, index: len(s.mboxes), m: m}
		mb.timed, _ = m.(mbox.Timed)
		mb.emit = mb.deliver
		s.mboxes = append(s.mboxes, mb)
	}
	mb.links[dir] = l
	l.mbox, l.mboxDir = mb, dir
}

// AttachMiddlebox puts m on both directions of a path: fwd carries its
// Forward packets and rev its Reverse ones (either may be nil).
func (s *Sim) AttachMiddlebox(m mbox.Middlebox, fwd, rev *Link) {
	if fwd != nil {
		fwd.SetMiddlebox(m, mbox.Forward)
	}
	if rev != nil {
		rev.SetMiddlebox(m, mbox.Reverse)
	}
}

// Middlebox returns the link's middlebox and the direction it sees the
// link's packets in; m is nil when there is none.
func (l *Link) Middlebox() (m mbox.Middlebox, dir mbox.Direction) {
	if l.mbox == nil {
		return nil, 0
	}
	return l.mbox.m, l.mboxDir
}

// MiddleboxStats returns the counters of the link's middlebox runner.
func (l *Link) MiddleboxStats() MiddleboxStats {
	if l.mbox == nil {
		return MiddleboxStats{}
	}
	return l.mbox.stats
}

func (mb *middlebox) process(dir mbox.Direction, pkt []byte) {
	mb.m.Process(mb.sim.now, dir, pkt, mb.emit)
	mb.rearm()
}

// deliver is the middlebox's Emit: the packet enters the queue of the
// link for its direction.
func (mb *middlebox) deliver(dir mbox.Direction, pkt []byte) {
	l := mb.links[dir&1]
	if l == nil {
		if o := mb.links[(dir^1)&1]; o != nil {
			l = o.peer
		}
	}
	if l == nil {
		mb.stats.NoLink++
		return
	}
	l.enqueue(pkt)
}

// rearm schedules the middlebox's timer from NextTimeout, as poll does a
// host's.
func (mb *middlebox) rearm() {
	if mb.timed == nil {
		return
	}
	s := mb.sim
	if dl, ok := mb.timed.NextTimeout(); ok {
		if !mb.armed || dl != mb.at {
			mb.gen++
			mb.armed, mb.at = true, dl
			s.push(event{at: max(dl, s.now), kind: evMbox, link: int32(mb.index), gen: mb.gen})
		}
	} else if mb.armed {
		mb.armed = false
		mb.gen++
	}
}

func (mb *middlebox) timeout(e event) {
	if e.gen != mb.gen {
		return
	}
	mb.armed = false
	mb.timed.HandleTimeout(mb.sim.now, mb.emit)
	mb.rearm()
}

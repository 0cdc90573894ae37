package mbox

import (
	"time"

	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// Kinds is a set of segment kinds a [Selector] picks, by the segment's
// role in the connection. A segment has exactly one kind.
type Kinds uint8

// The segment kinds.
const (
	// OnSYN is a SYN without ACK.
	OnSYN Kinds = 1 << iota
	// OnSYNACK is a SYN/ACK.
	OnSYNACK
	// OnThirdACK is the ACK that completes the three-way handshake: from
	// the SYN's sender, without payload, SYN, FIN or RST, acknowledging
	// exactly the SYN/ACK (seq = its ISN+1, ack = the peer's ISN+1), and
	// its duplicates. It carries MP_CAPABLE's keys or MP_JOIN's HMAC, and
	// a server that misses them falls back (RFC 8684 §3.1; INTEROP B.2).
	// Recognising it needs the handshake, so a selector that has OnThirdACK
	// tracks SYNs and SYN/ACKs per flow.
	OnThirdACK
	// OnData is a non-SYN segment with payload (including the first data
	// segment that repeats MP_CAPABLE).
	OnData
	// OnOther is everything else: pure ACKs after the handshake, FINs and
	// RSTs without payload.
	OnOther
	// OnAll is every kind.
	OnAll = OnSYN | OnSYNACK | OnThirdACK | OnData | OnOther
)

// Selector chooses the segments a transform acts on. Every set criterion
// must hold; the zero value selects every TCP segment.
type Selector struct {
	On      Kinds          // segment kinds; 0 means OnAll
	Dirs    Dirs           // directions; zero means both
	Options wire.OptionSet // only segments carrying one of these options; 0: any
	From    time.Duration  // only at or after this time
	Until   time.Duration  // only before this time; 0: no end
	Where   Predicate      // a further test; nil: none
	// First limits the selection to the first First segments that meet
	// the other criteria, over all flows (INTEROP C.4 corrupts one packet
	// this way); 0 means no limit.
	First int

	// Matched counts the segments selected so far.
	Matched int

	hs map[Flow]*handshake // OnThirdACK: handshakes by the SYN sender's flow
}

// handshake is what a selector remembers of a connection's opening to
// recognise its third ACK.
type handshake struct {
	isn, peerISN uint32
	synACK       bool
}

// kind classifies p, updating the handshake table when the selector needs
// it.
func (s *Selector) kind(p *packet) Kinds {
	fl := p.flags()
	track := s.On&OnThirdACK != 0
	switch {
	case fl&wire.FlagSYN != 0 && fl&wire.FlagACK == 0:
		if track {
			if s.hs == nil {
				s.hs = map[Flow]*handshake{}
			}
			f := p.flow()
			h := s.hs[f]
			if h == nil {
				h = &handshake{}
				s.hs[f] = h
			}
			*h = handshake{isn: p.seq()}
		}
		return OnSYN
	case fl&wire.FlagSYN != 0:
		if track {
			if h := s.hs[p.flow().Reverse()]; h != nil {
				h.peerISN, h.synACK = p.seq(), true
			}
		}
		return OnSYNACK
	case len(p.payload()) > 0:
		return OnData
	}
	if track && fl&(wire.FlagACK|wire.FlagFIN|wire.FlagRST) == wire.FlagACK {
		if h := s.hs[p.flow()]; h != nil && h.synACK && p.seq() == h.isn+1 && p.ack() == h.peerISN+1 {
			return OnThirdACK
		}
	}
	return OnOther
}

// match reports whether the selector picks p, travelling in direction dir
// at now, and counts it if so. applies is the transform's own condition
// (the segment has something to strip, say): a segment it fails is not
// picked and not counted, but the handshake table still sees it.
func (s *Selector) match(now time.Duration, dir Direction, p *packet, applies bool) bool {
	k := s.kind(p)
	on := s.On
	if on == 0 {
		on = OnAll
	}
	switch {
	case !applies, on&k == 0, !s.Dirs.has(dir),
		s.Options != 0 && !p.seg.Options.Has.Any(s.Options),
		now < s.From, s.Until != 0 && now >= s.Until,
		s.First > 0 && s.Matched >= s.First,
		s.Where != nil && !s.Where(now, dir, &p.seg):
		return false
	}
	s.Matched++
	return true
}

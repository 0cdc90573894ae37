package sim

import (
	"io"
	"math/rand/v2"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/mbox"
	"github.com/mpxdp/mpxdp/internal/pcap"
)

// LinkConfig describes one direction of a link. The zero value is an
// infinitely fast, lossless link without delay or queue limit.
type LinkConfig struct {
	Rate  float64       // bits per second; 0 means infinitely fast
	Delay time.Duration // propagation delay
	// Drop-tail queue limits, counting the packet being serialised; 0
	// means unlimited. Both apply when both are set.
	QueueBytes   int
	QueuePackets int
	MTU          int // packets larger than this are dropped; 0: no limit

	Loss         float64       // probability of dropping a packet
	Reorder      float64       // probability of delaying a packet so that later ones overtake it
	ReorderDelay time.Duration // the extra delay of a reordered packet (uniform in (0, ReorderDelay])
	Duplicate    float64       // probability of delivering a packet twice
	Corrupt      float64       // probability of flipping one random bit of a packet
}

// LinkStats counts what happened on a link. Sent counts the packets
// offered to the queue: with a middlebox, what it let through or made.
type LinkStats struct {
	Sent, Delivered, Bytes                 uint64
	DropQueue, DropLoss, DropDown, DropMTU uint64
	Reordered, Duplicated, Corrupted       uint64
	// Middlebox counts the packets handed to the link's middlebox.
	Middlebox uint64
}

// Link is one direction of a point-to-point link: a drop-tail queue, a
// serialiser at Rate, a propagation delay and seeded random impairments.
type Link struct {
	Name  string
	sim   *Sim
	index int
	cfg   LinkConfig
	to    receiver
	rng   *rand.Rand
	down  bool
	peer  *Link // the link back, for what a middlebox sends the other way

	mbox    *middlebox // packets pass through it before the queue
	mboxDir mbox.Direction

	busyUntil time.Duration
	// inQueue holds the departure times and sizes of packets not yet fully
	// serialised, for the drop-tail limits.
	inQueue     fifo
	queuedBytes int
	pcap        *pcap.Writer
	pcapSnapLen int
	Stats       LinkStats
}

// NewLink creates a link that delivers to the interface to. Most callers
// use Connect instead.
func (s *Sim) NewLink(name string, to *Interface, cfg LinkConfig) *Link {
	return s.newLink(name, to, cfg)
}

func (s *Sim) newLink(name string, to receiver, cfg LinkConfig) *Link {
	l := &Link{Name: name, sim: s, index: len(s.links), cfg: cfg, to: to}
	l.rng = s.Rand(uint64(l.index) + 1)
	s.links = append(s.links, l)
	return l
}

// Connect joins two interfaces with a duplex link: ab carries a → b with
// config fwd, ba carries b → a with config rev.
func (s *Sim) Connect(a, b *Interface, fwd, rev LinkConfig) (ab, ba *Link) {
	ab = s.NewLink(a.Host.Name+"->"+b.Host.Name, b, fwd)
	ba = s.NewLink(b.Host.Name+"->"+a.Host.Name, a, rev)
	ab.peer, ba.peer = ba, ab
	a.out, b.out = ab, ba
	return ab, ba
}

// Reverse returns the link that carries traffic the other way, when the
// link was made by Connect, ConnectHost or ConnectRouters; else nil.
func (l *Link) Reverse() *Link { return l.peer }

// Config returns the link's configuration.
func (l *Link) Config() LinkConfig { return l.cfg }

// SetConfig changes the link's configuration from now on; packets already
// in flight keep their schedule.
func (l *Link) SetConfig(cfg LinkConfig) { l.cfg = cfg }

// SetDown cuts (true) or restores (false) the link. A cut link drops every
// packet offered to it; packets already in flight still arrive.
func (l *Link) SetDown(down bool) { l.down = down }

// Down reports whether the link is cut.
func (l *Link) Down() bool { return l.down }

// CapturePcap writes every packet the link delivers to w as a raw-IP pcap
// file, timestamped with its arrival time. snapLen 0 keeps whole packets.
func (l *Link) CapturePcap(w io.Writer, snapLen int) error {
	if snapLen <= 0 {
		snapLen = 65535
	}
	pw, err := pcap.NewWriter(w, pcap.LinkRaw, uint32(snapLen))
	if err != nil {
		return err
	}
	l.pcap, l.pcapSnapLen = pw, snapLen
	return nil
}

// send offers one packet to the link at the current virtual time: to its
// middlebox, if it has one, else to its queue.
func (l *Link) send(pkt []byte) {
	if l.mbox != nil {
		l.Stats.Middlebox++
		l.mbox.process(l.mboxDir, pkt)
		return
	}
	l.enqueue(pkt)
}

// enqueue offers one packet to the link's queue.
func (l *Link) enqueue(pkt []byte) {
	s, cfg := l.sim, &l.cfg
	l.Stats.Sent++
	switch {
	case l.down:
		l.Stats.DropDown++
		return
	case cfg.MTU > 0 && len(pkt) > cfg.MTU, len(pkt) > s.maxPacket:
		l.Stats.DropMTU++
		return
	}
	now := s.now
	for l.inQueue.len() > 0 && l.inQueue.peek().at <= now {
		l.queuedBytes -= int(l.inQueue.pop().size)
	}
	if (cfg.QueueBytes > 0 && l.queuedBytes+len(pkt) > cfg.QueueBytes) ||
		(cfg.QueuePackets > 0 && l.inQueue.len()+1 > cfg.QueuePackets) {
		l.Stats.DropQueue++
		return
	}
	depart := max(now, l.busyUntil)
	if cfg.Rate > 0 {
		depart += time.Duration(float64(len(pkt)) * 8 / cfg.Rate * float64(time.Second))
		l.inQueue.push(queued{at: depart, size: int32(len(pkt))})
		l.queuedBytes += len(pkt)
	}
	l.busyUntil = depart
	// Loss and corruption happen on the wire, after the packet used the
	// queue and the serialiser.
	if cfg.Loss > 0 && l.rng.Float64() < cfg.Loss {
		l.Stats.DropLoss++
		return
	}
	arrive := depart + cfg.Delay
	if cfg.Reorder > 0 && cfg.ReorderDelay > 0 && l.rng.Float64() < cfg.Reorder {
		l.Stats.Reordered++
		arrive += 1 + time.Duration(l.rng.Int64N(int64(cfg.ReorderDelay)))
	}
	l.schedule(arrive, pkt, cfg.Corrupt > 0 && l.rng.Float64() < cfg.Corrupt)
	if cfg.Duplicate > 0 && l.rng.Float64() < cfg.Duplicate {
		l.Stats.Duplicated++
		l.schedule(arrive+1, pkt, false)
	}
}

func (l *Link) schedule(at time.Duration, pkt []byte, corrupt bool) {
	s := l.sim
	idx := s.pool.get(s.maxPacket)
	buf := s.pool.bufs[idx]
	copy(buf, pkt)
	if corrupt {
		l.Stats.Corrupted++
		bit := l.rng.IntN(len(pkt) * 8)
		buf[bit/8] ^= 1 << (bit % 8)
	}
	s.push(event{at: at, kind: evDeliver, link: int32(l.index), buf: int32(idx), n: int32(len(pkt))})
}

func (l *Link) deliver(e event) {
	s := l.sim
	pkt := s.pool.bufs[e.buf][:e.n]
	l.Stats.Delivered++
	l.Stats.Bytes += uint64(len(pkt))
	if l.pcap != nil {
		_ = l.pcap.WritePacket(s.Epoch.Add(s.now), pkt[:min(len(pkt), l.pcapSnapLen)])
	}
	l.to.receive(s.now, pkt)
	s.pool.put(int(e.buf))
}

// queued is a packet in a link's queue.
type queued struct {
	at   time.Duration
	size int32
}

// fifo is a growable ring of queued packets (it stops growing once it has
// reached the largest queue of the run).
type fifo struct {
	buf        []queued
	head, size int
}

func (f *fifo) len() int     { return f.size }
func (f *fifo) peek() queued { return f.buf[f.head] }
func (f *fifo) pop() queued {
	q := f.buf[f.head]
	f.head = (f.head + 1) % len(f.buf)
	f.size--
	return q
}
func (f *fifo) push(q queued) {
	if f.size == len(f.buf) {
		nb := make([]queued, max(16, 2*len(f.buf)))
		for i := 0; i < f.size; i++ {
			nb[i] = f.buf[(f.head+i)%len(f.buf)]
		}
		f.buf, f.head = nb, 0
	}
	f.buf[(f.head+f.size)%len(f.buf)] = q
	f.size++
}

// bufferPool recycles packet buffers by index, so that events stay free of
// pointers to large arrays and steady state allocates nothing.
type bufferPool struct {
	bufs [][]byte
	free []int
}

func (p *bufferPool) get(size int) int {
	if n := len(p.free); n > 0 {
		i := p.free[n-1]
		p.free = p.free[:n-1]
		return i
	}
	p.bufs = append(p.bufs, make([]byte, size))
	return len(p.bufs) - 1
}

func (p *bufferPool) put(i int) { p.free = append(p.free, i) }

package pipe

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/link"
)

// Impairment describes one direction of a path. The zero value is an
// infinitely fast, lossless direction without delay or queue limit.
type Impairment struct {
	Rate  float64       // bits per second; 0 means infinitely fast
	Delay time.Duration // propagation delay
	// Drop-tail limits on the packets waiting to be serialised at Rate,
	// counting the one being serialised; 0 means unlimited. Without a Rate
	// nothing waits, so they have no effect.
	QueueBytes   int
	QueuePackets int
	Loss         float64       // probability of dropping a packet
	Reorder      float64       // probability of delaying a packet so that later ones overtake it
	ReorderDelay time.Duration // the extra delay of a reordered packet, uniform in (0, ReorderDelay]
}

// Path is one path between the two sides.
type Path struct {
	Forward Impairment // A to B
	Reverse Impairment // B to A; the zero value means the same as Forward
	// A and B are the sides' addresses on this path; the zero values give
	// 10.0.{i+1}.1 and 10.0.{i+1}.2 for path i.
	A, B netip.Addr
}

// Config describes a pair of links.
type Config struct {
	// Paths are the paths between the sides; none means one unimpaired
	// path.
	Paths []Path
	// MTU is the largest IP packet a path carries; default 1500.
	MTU int
	// Seed seeds the impairments' random source.
	Seed uint64
	// MaxBuffers bounds the packet buffers of the pair, which bounds the
	// packets in flight on all paths together; default 16 MiB worth, at
	// least 1024. Reserve returns fewer buffers when all are in use.
	MaxBuffers int
}

// Headroom is how much longer than the MTU a buffer from Reserve is: the
// engine asks for room for the largest header (tcp.MaxHeaderLen) on top of
// the MSS, although no packet it writes exceeds the MTU.
const Headroom = 128

// ErrClosed is returned by Wait once the link is closed.
var ErrClosed = errors.New("pipe: link closed")

// PathStats counts what one direction of a path carried and dropped.
type PathStats struct {
	Packets, Bytes uint64 // accepted for delivery
	Lost           uint64 // dropped by the Loss impairment
	QueueDrops     uint64 // dropped by a full queue
	Reordered      uint64 // delayed by the Reorder impairment
}

// pair is what the two sides share: the clock and the buffer pool.
type pair struct {
	start   time.Time
	mtu     int
	bufSize int

	mu        sync.Mutex
	free      [][]byte
	allocated int
	max       int
}

func (p *pair) now() time.Duration { return time.Since(p.start) }

// get appends up to n free buffers (of full length) to dst, growing the
// pool in chunks while it is below its bound.
func (p *pair) get(dst [][]byte, n int) [][]byte {
	p.mu.Lock()
	if len(p.free) < n && p.allocated < p.max {
		chunk := min(max(n, 256), p.max-p.allocated)
		slab := make([]byte, chunk*p.bufSize)
		for i := 0; i < chunk; i++ {
			p.free = append(p.free, slab[i*p.bufSize:(i+1)*p.bufSize:(i+1)*p.bufSize])
		}
		p.allocated += chunk
	}
	k := min(n, len(p.free))
	for i := 0; i < k; i++ {
		last := len(p.free) - 1
		dst = append(dst, p.free[last])
		p.free[last] = nil
		p.free = p.free[:last]
	}
	p.mu.Unlock()
	return dst
}

func (p *pair) put(bufs [][]byte) {
	if len(bufs) == 0 {
		return
	}
	p.mu.Lock()
	for _, b := range bufs {
		p.free = append(p.free, b[:cap(b)])
	}
	p.mu.Unlock()
}

// direction is one direction of one path, owned by the sending side.
type direction struct {
	imp                                         Impairment
	local                                       netip.Addr // the sender's address on this path
	remote                                      netip.Addr
	busy                                        time.Duration // when the last accepted packet finishes serialising
	queue                                       departures    // packets not yet serialised, for the queue limits
	packets, bytes, lost, queueDrops, reordered atomic.Uint64
}

// departures is a FIFO of (finish time, size) of the packets in a queue.
type departures struct {
	at    []time.Duration
	size  []int
	head  int
	n     int
	bytes int
}

func (q *departures) expire(now time.Duration) {
	for q.n > 0 && q.at[q.head] <= now {
		q.bytes -= q.size[q.head]
		q.head = (q.head + 1) % len(q.at)
		q.n--
	}
}

func (q *departures) push(at time.Duration, size int) {
	if q.n == len(q.at) {
		c := max(2*len(q.at), 64)
		at, sz := make([]time.Duration, c), make([]int, c)
		for i := 0; i < q.n; i++ {
			at[i], sz[i] = q.at[(q.head+i)%len(q.at)], q.size[(q.head+i)%len(q.at)]
		}
		q.at, q.size, q.head = at, sz, 0
	}
	i := (q.head + q.n) % len(q.at)
	q.at[i], q.size[i] = at, size
	q.n++
	q.bytes += size
}

// entry is a packet on its way to a side.
type entry struct {
	due time.Duration
	seq uint64
	buf []byte
}

// inbox holds the packets travelling to one side, ordered by arrival
// time (then by sending order): a min-heap, because reordering lets a
// later packet arrive first.
type inbox struct {
	mu  sync.Mutex
	h   []entry
	seq uint64
}

func (in *inbox) less(i, j int) bool {
	if in.h[i].due != in.h[j].due {
		return in.h[i].due < in.h[j].due
	}
	return in.h[i].seq < in.h[j].seq
}

func (in *inbox) push(e entry) {
	e.seq = in.seq
	in.seq++
	in.h = append(in.h, e)
	i := len(in.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !in.less(i, p) {
			break
		}
		in.h[p], in.h[i] = in.h[i], in.h[p]
		i = p
	}
}

func (in *inbox) pop() entry {
	top := in.h[0]
	last := len(in.h) - 1
	in.h[0] = in.h[last]
	in.h[last] = entry{}
	in.h = in.h[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && in.less(l, m) {
			m = l
		}
		if r < last && in.less(r, m) {
			m = r
		}
		if m == i {
			return top
		}
		in.h[i], in.h[m] = in.h[m], in.h[i]
		i = m
	}
}

// Link is one side of a pipe. It implements link.Link.
type Link struct {
	p     *pair
	peer  *Link
	name  string
	addrs []netip.Addr
	out   []*direction
	in    inbox
	rng   *rand.Rand // the sender's impairment draws

	wake  chan struct{}
	done  chan struct{}
	once  sync.Once
	timer *time.Timer

	rxHeld [][]byte // buffers behind the last Receive's views
	txHeld [][]byte // reserved buffers
	sent   []entry  // scratch for Transmit
	drop   [][]byte // scratch for Transmit

	closed atomic.Bool
	stats  link.Stats // written by the owning goroutine
}

var _ link.Link = (*Link)(nil)

// New returns the two sides of a pipe.
func New(cfg Config) (a, b *Link, err error) {
	if len(cfg.Paths) == 0 {
		cfg.Paths = []Path{{}}
	}
	if len(cfg.Paths) > 250 {
		return nil, nil, fmt.Errorf("pipe: %d paths, at most 250", len(cfg.Paths))
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.MTU < 576 || cfg.MTU > 65535 {
		return nil, nil, fmt.Errorf("pipe: MTU %d outside 576–65535", cfg.MTU)
	}
	p := &pair{start: time.Now(), mtu: cfg.MTU, bufSize: (cfg.MTU + Headroom + 63) &^ 63}
	p.max = cfg.MaxBuffers
	if p.max == 0 {
		p.max = max((16<<20)/p.bufSize, 1024)
	}
	a = newLink(p, "A", cfg.Seed, 1)
	b = newLink(p, "B", cfg.Seed, 2)
	a.peer, b.peer = b, a
	seen := map[netip.Addr]bool{}
	for i, path := range cfg.Paths {
		aa, ba := path.A, path.B
		if !aa.IsValid() {
			aa = netip.AddrFrom4([4]byte{10, 0, byte(i + 1), 1})
		}
		if !ba.IsValid() {
			ba = netip.AddrFrom4([4]byte{10, 0, byte(i + 1), 2})
		}
		if aa.Is4() != ba.Is4() {
			return nil, nil, fmt.Errorf("pipe: path %d joins %v and %v of different families", i, aa, ba)
		}
		for _, x := range []netip.Addr{aa, ba} {
			if seen[x] {
				return nil, nil, fmt.Errorf("pipe: address %v used twice", x)
			}
			seen[x] = true
		}
		if err := path.Forward.check(); err != nil {
			return nil, nil, fmt.Errorf("pipe: path %d forward: %w", i, err)
		}
		rev := path.Reverse
		if rev == (Impairment{}) {
			rev = path.Forward
		}
		if err := rev.check(); err != nil {
			return nil, nil, fmt.Errorf("pipe: path %d reverse: %w", i, err)
		}
		a.addrs = append(a.addrs, aa)
		b.addrs = append(b.addrs, ba)
		a.out = append(a.out, &direction{imp: path.Forward, local: aa, remote: ba})
		b.out = append(b.out, &direction{imp: rev, local: ba, remote: aa})
	}
	return a, b, nil
}

func (im Impairment) check() error {
	switch {
	case im.Rate < 0, im.Delay < 0, im.ReorderDelay < 0, im.QueueBytes < 0, im.QueuePackets < 0:
		return errors.New("negative impairment")
	case im.Loss < 0 || im.Loss > 1 || im.Reorder < 0 || im.Reorder > 1:
		return errors.New("probability outside [0, 1]")
	case im.Reorder > 0 && im.ReorderDelay == 0:
		return errors.New("a Reorder probability needs a ReorderDelay")
	}
	return nil
}

func newLink(p *pair, name string, seed, stream uint64) *Link {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Link{
		p: p, name: name,
		rng:    rand.New(rand.NewPCG(seed, stream)),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		timer:  t,
		rxHeld: make([][]byte, 0, 64),
		txHeld: make([][]byte, 0, 64),
		sent:   make([]entry, 0, 64),
		drop:   make([][]byte, 0, 64),
	}
}

// String names the side, for logs.
func (l *Link) String() string { return "pipe " + l.name }

// Receive implements link.Link.
func (l *Link) Receive(pkts [][]byte) int {
	l.p.put(l.rxHeld)
	clear(l.rxHeld)
	l.rxHeld = l.rxHeld[:0]
	if len(pkts) == 0 {
		return 0
	}
	now := l.p.now()
	n, bytes := 0, 0
	l.in.mu.Lock()
	for n < len(pkts) && len(l.in.h) > 0 && l.in.h[0].due <= now {
		e := l.in.pop()
		pkts[n] = e.buf
		l.rxHeld = append(l.rxHeld, e.buf)
		bytes += len(e.buf)
		n++
	}
	l.in.mu.Unlock()
	l.stats.RxPackets += uint64(n)
	l.stats.RxBytes += uint64(bytes)
	return n
}

// Reserve implements link.Link.
func (l *Link) Reserve(bufs [][]byte) int {
	if l.closed.Load() {
		return 0
	}
	before := len(l.txHeld)
	l.txHeld = l.p.get(l.txHeld, len(bufs))
	k := len(l.txHeld) - before
	copy(bufs, l.txHeld[before:])
	return k
}

// Transmit implements link.Link.
func (l *Link) Transmit(lens []int) {
	k := min(len(lens), len(l.txHeld))
	now := l.p.now()
	peer := l.peer
	peerOpen := !peer.closed.Load() && !l.closed.Load()
	for i := 0; i < k; i++ {
		buf, n := l.txHeld[i], lens[i]
		if n <= 0 || n > l.p.mtu || n > len(buf) || !peerOpen {
			l.stats.TxDropped++
			l.drop = append(l.drop, buf)
			continue
		}
		d := l.route(buf[:n])
		if d == nil {
			l.stats.NoRoute++
			l.drop = append(l.drop, buf)
			continue
		}
		due, ok := d.admit(now, n, l.rng)
		if !ok {
			l.stats.TxDropped++
			l.drop = append(l.drop, buf)
			continue
		}
		l.stats.TxPackets++
		l.stats.TxBytes += uint64(n)
		l.sent = append(l.sent, entry{due: due, buf: buf[:n]})
	}
	if len(l.sent) > 0 {
		peer.in.mu.Lock()
		var head time.Duration
		hadHead := len(peer.in.h) > 0
		if hadHead {
			head = peer.in.h[0].due
		}
		for _, e := range l.sent {
			peer.in.push(e)
		}
		newHead := !hadHead || peer.in.h[0].due < head
		peer.in.mu.Unlock()
		clear(l.sent)
		l.sent = l.sent[:0]
		if newHead {
			peer.Wake()
		}
	}
	l.drop = append(l.drop, l.txHeld[k:]...)
	l.p.put(l.drop)
	clear(l.drop)
	l.drop = l.drop[:0]
	clear(l.txHeld)
	l.txHeld = l.txHeld[:0]
}

// route returns the direction whose local address is the packet's
// source, if its destination is one of the other side's addresses.
func (l *Link) route(pkt []byte) *direction {
	src, dst, ok := addrs(pkt)
	if !ok {
		return nil
	}
	var out *direction
	for _, d := range l.out {
		if d.local == src {
			out = d
		}
	}
	if out == nil {
		return nil
	}
	for _, a := range l.peer.addrs {
		if a == dst {
			return out
		}
	}
	return nil
}

// addrs returns an IP packet's source and destination.
func addrs(pkt []byte) (src, dst netip.Addr, ok bool) {
	if len(pkt) < 20 {
		return src, dst, false
	}
	switch pkt[0] >> 4 {
	case 4:
		return netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20])), true
	case 6:
		if len(pkt) < 40 {
			return src, dst, false
		}
		return netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40])), true
	}
	return src, dst, false
}

// admit applies the direction's queue, rate, loss and reordering to a
// packet of n bytes sent at now, and returns when it arrives.
func (d *direction) admit(now time.Duration, n int, rng *rand.Rand) (time.Duration, bool) {
	im := &d.imp
	q := &d.queue
	q.expire(now)
	if im.QueuePackets > 0 && q.n+1 > im.QueuePackets || im.QueueBytes > 0 && q.bytes+n > im.QueueBytes {
		d.queueDrops.Add(1)
		return 0, false
	}
	if im.Loss > 0 && rng.Float64() < im.Loss {
		d.lost.Add(1)
		return 0, false
	}
	depart := now
	if im.Rate > 0 {
		depart = max(now, d.busy) + time.Duration(float64(n)*8/im.Rate*1e9)
		d.busy = depart
		q.push(depart, n)
	}
	due := depart + im.Delay
	if im.Reorder > 0 && rng.Float64() < im.Reorder {
		due += 1 + time.Duration(rng.Int64N(int64(im.ReorderDelay)))
		d.reordered.Add(1)
	}
	d.packets.Add(1)
	d.bytes.Add(uint64(n))
	return due, true
}

// Wait implements link.Link.
func (l *Link) Wait(timeout time.Duration) error {
	if l.closed.Load() {
		return ErrClosed
	}
	l.in.mu.Lock()
	next, any := time.Duration(0), len(l.in.h) > 0
	if any {
		next = l.in.h[0].due
	}
	l.in.mu.Unlock()
	if any {
		d := next - l.p.now()
		if d <= 0 {
			return nil
		}
		if timeout < 0 || d < timeout {
			timeout = d
		}
	}
	switch {
	case timeout == 0:
		select {
		case <-l.wake:
		default:
		}
	case timeout < 0:
		select {
		case <-l.wake:
		case <-l.done:
		}
	default:
		l.timer.Reset(timeout)
		select {
		case <-l.wake:
		case <-l.timer.C:
		case <-l.done:
		}
		l.timer.Stop()
	}
	if l.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Wake implements link.Link.
func (l *Link) Wake() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Addrs implements link.Link.
func (l *Link) Addrs() []netip.Addr { return l.addrs }

// MTU implements link.Link.
func (l *Link) MTU() int { return l.p.mtu }

// Source returns the local address of the path that reaches dst: the
// runtime uses it to pick the source address of a connection.
func (l *Link) Source(dst netip.Addr) (netip.Addr, bool) {
	for _, d := range l.out {
		if d.remote == dst {
			return d.local, true
		}
	}
	return netip.Addr{}, false
}

// Stats implements link.Link. Call it from the goroutine that drives the
// link.
func (l *Link) Stats() link.Stats {
	return l.stats
}

// PathStats returns what path i carried from this side to the other. It
// is safe for concurrent use.
func (l *Link) PathStats(i int) PathStats {
	d := l.out[i]
	return PathStats{Packets: d.packets.Load(), Bytes: d.bytes.Load(), Lost: d.lost.Load(),
		QueueDrops: d.queueDrops.Load(), Reordered: d.reordered.Load()}
}

// Close implements link.Link. Packets on their way to a closed side are
// dropped.
func (l *Link) Close() error {
	l.once.Do(func() {
		l.closed.Store(true)
		close(l.done)
	})
	return nil
}

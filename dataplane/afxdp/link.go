package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/dataplane/link"
	"github.com/mpxdp/mpxdp/xsk"
)

// Config configures a Link.
type Config struct {
	// Interfaces names the NICs, in the calling thread's network namespace.
	// Required.
	Interfaces []string
	// Addrs restricts the local addresses the Link carries; default: every
	// address of the NICs except IPv6 link-local ones.
	Addrs []netip.Addr
	// Queues is the number of queues to bind on each NIC, from queue 0;
	// default: every RX queue the driver runs (ethtool channels), since
	// RSS may put the stack's flows on any of them.
	Queues int
	// RingSize is the number of entries of each socket's four rings, a
	// power of two; default 2048.
	RingSize int
	// Frames is the number of UMEM frames; default: enough for every
	// socket's fill and RX rings plus every NIC's TX ring and the packets
	// waiting for neighbours, so that receiving can never starve sending.
	Frames int
	// ZeroCopy chooses the bind mode; default xsk.ZeroCopyAuto (zero-copy
	// where the driver offers it, else copy).
	ZeroCopy xsk.ZeroCopy
	// Generic attaches the XDP filter in generic (SKB) mode instead of
	// native driver mode.
	Generic bool
	// Ephemeral is the stack's range of local ports, claimed at Open; it
	// must match the engine's mptcp.Config.EphemeralPorts. Default
	// 61000-65535.
	Ephemeral [2]uint16
	// MaxOwned bounds the ports claimed outside the ephemeral range (times
	// the addresses); default 4096.
	MaxOwned int
	// BusyPoll configures busy polling of the queues (see xsk.BusyPoll).
	BusyPoll xsk.BusyPoll
	// TXBudget is the most descriptors one copy-mode kick sends
	// (XDP_MAX_TX_SKB_BUDGET, Linux 6.17); default 256, so that a batch
	// of 64 goes out in one kick. -1 keeps the kernel's default of 32.
	TXBudget int
	// SkipPortCheck skips the check that the kernel never chooses the
	// ephemeral ports itself (for namespaces where it is known not to).
	SkipPortCheck bool
}

// SocketStats are the counters of one AF_XDP socket: the descriptors the
// Link took from its RX ring, and the kernel's counters (XDP_STATISTICS).
type SocketStats struct {
	Interface string
	Queue     int
	Mode      xsk.Mode
	RxDescs   uint64
	xsk.Stats
}

// Link carries IP packets over AF_XDP sockets on one or more NICs. It
// implements link.Link, link.PortOwner and Source (dataplane's
// SourceChooser).
type Link struct {
	umem    *xsk.UMEM
	nics    []*nic
	socks   []*xsk.Socket
	sockNIC []*nic   // the NIC of each socket
	rxDescs []uint64 // descriptors taken from each socket's RX ring
	nl      *rtnl
	mon     *monitor
	rs      *resolver
	efd     int
	pfds    []unix.PollFd
	addrs   []netip.Addr
	mtu     int
	lo      uint16 // ephemeral range
	hi      uint16

	frameSize int
	rxCap     int  // bytes a single RX frame holds
	multi     bool // multi-buffer sockets (XDP_USE_SG)
	jumbo     bool // TX buffers are UMEM runs sent as chains

	// RX
	descs   []xsk.Desc
	held    []uint64   // frames of the last Receive's packets
	rest    [][][]byte // per packet of the last Receive: its chain's frames after the first
	restBuf [][]byte   // the views rest slices
	rxNext  int

	// TX
	res   []uint64 // reserved frames (runs in jumbo mode)
	views [][]byte // their buffers, after room for the Ethernet header
	nres  int
	lent  int // reserved buffers the last Reserve handed out
	now   time.Time

	// Ports claimed outside the ephemeral range, per port.
	owned map[uint16]bool

	lastMon time.Time
	stats   link.Stats
	closed  bool
	mu      sync.Mutex // Source and Close against each other
}

var (
	_ link.Link      = (*Link)(nil)
	_ link.PortOwner = (*Link)(nil)
)

const (
	ethLen       = 14
	xdpHeadroom  = 256 // XDP_PACKET_HEADROOM before received data in a frame
	maxBatch     = 256 // most packets one Receive or Reserve handles
	minMTU       = 1280
	monitorEvery = time.Millisecond // busy-polling shards read notifications this often
)

// ErrClosed is returned by Wait once the Link is closed.
var ErrClosed = errors.New("afxdp: link closed")

// Open opens the NICs in the calling thread's network namespace: it binds
// a socket to each queue, attaches the XDP filters, claims the ephemeral
// range and starts listening to the kernel's neighbour and route changes.
// It needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_IPC_LOCK).
func Open(cfg Config) (_ *Link, err error) {
	if len(cfg.Interfaces) == 0 {
		return nil, errors.New("afxdp: Config.Interfaces is empty")
	}
	if cfg.RingSize == 0 {
		cfg.RingSize = 2048
	}
	if cfg.RingSize < 64 || cfg.RingSize&(cfg.RingSize-1) != 0 {
		return nil, fmt.Errorf("afxdp: RingSize %d: want a power of two, at least 64", cfg.RingSize)
	}
	if cfg.Ephemeral == [2]uint16{} {
		cfg.Ephemeral = [2]uint16{61000, 65535}
	}
	if cfg.Ephemeral[0] == 0 || cfg.Ephemeral[0] > cfg.Ephemeral[1] {
		return nil, fmt.Errorf("afxdp: Ephemeral range %v is empty", cfg.Ephemeral)
	}
	if cfg.TXBudget == 0 {
		cfg.TXBudget = min(256, cfg.RingSize)
	}
	if cfg.TXBudget < 0 {
		cfg.TXBudget = 0
	}
	if !cfg.SkipPortCheck {
		if err := portConflict(cfg.Ephemeral[0], cfg.Ephemeral[1]); err != nil {
			return nil, err
		}
	}
	l := &Link{efd: -1, lo: cfg.Ephemeral[0], hi: cfg.Ephemeral[1], frameSize: 4096, owned: map[uint16]bool{}}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	// The monitor first, so that no change between a read and the
	// subscription is missed.
	if l.mon, err = openMonitor(); err != nil {
		return nil, err
	}
	if l.nl, err = openRtnl(); err != nil {
		return nil, err
	}
	queues := 0
	for _, name := range cfg.Interfaces {
		li, err := l.nl.link(name)
		if err != nil {
			return nil, setupErr("netlink RTM_GETLINK "+name, err, "no such interface in this network namespace")
		}
		if !li.up {
			return nil, fmt.Errorf("afxdp: interface %s is down; fix: ip link set %s up", name, name)
		}
		n := &nic{name: name, index: li.index, mac: li.mac, mtu: li.mtu}
		if n.addrs, err = l.nl.addrs(li.index); err != nil {
			return nil, setupErr("netlink RTM_GETADDR "+name, err, "")
		}
		nq := cfg.Queues
		if nq == 0 {
			if nq, err = rxQueues(name); err != nil || nq == 0 {
				nq = max(li.rxQueues, 1) // drivers without ethtool channels
			}
		}
		n.socks = make([]*xsk.Socket, 0, nq)
		n.txq = make([]xsk.Desc, 0, maxBatch*8)
		l.nics = append(l.nics, n)
		queues += nq
		l.mtu = minPositive(l.mtu, li.mtu)
	}
	if l.mtu < minMTU {
		return nil, fmt.Errorf("afxdp: MTU %d is below %d", l.mtu, minMTU)
	}
	if l.addrs, err = l.chooseAddrs(cfg.Addrs); err != nil {
		return nil, err
	}

	// Frame geometry (INTEROP C.2): received data starts after the XDP
	// headroom, so one frame holds frameSize-256 bytes of a frame; larger
	// frames need multi-buffer chains. A transmitted frame may use the
	// whole chunk; the shard needs tcp.MaxHeaderLen (100) + MSS (MTU - 40)
	// bytes, plus our 14 of Ethernet, else (jumbo) its buffers are runs of
	// consecutive frames, written in place and sent as chains.
	l.rxCap = l.frameSize - xdpHeadroom
	l.multi = l.mtu+ethLen+4 > l.rxCap
	l.jumbo = l.mtu+60+ethLen > l.frameSize
	fragsPerPkt := (l.mtu + ethLen + 4 + l.rxCap - 1) / l.rxCap
	txFrags := (l.mtu + 100 + ethLen + l.frameSize - 1) / l.frameSize
	frames := cfg.Frames
	if frames == 0 {
		frames = queues*2*cfg.RingSize + len(l.nics)*cfg.RingSize + maxPendingTotal*txFrags + maxBatch*txFrags
	}
	ucfg := xsk.UMEMConfig{FrameSize: l.frameSize, Frames: frames}
	if l.jumbo {
		// The TX share of the frames above, as runs; at most half of
		// them, so that the fill rings keep theirs.
		ucfg.RunFrames = txFrags
		ucfg.Runs = max(min(len(l.nics)*cfg.RingSize/txFrags+maxPendingTotal+maxBatch, frames/2/txFrags), 1)
	}
	if l.umem, err = xsk.NewUMEM(ucfg); err != nil {
		return nil, err
	}
	scfg := xsk.SocketConfig{
		RXSize: cfg.RingSize, TXSize: cfg.RingSize, FillSize: cfg.RingSize, CompSize: cfg.RingSize,
		ZeroCopy: cfg.ZeroCopy, MultiBuffer: l.multi, BusyPoll: cfg.BusyPoll, TXBudget: cfg.TXBudget,
	}
	fcfg := xsk.FilterConfig{
		MaxOwned: cfg.MaxOwned, MultiBuffer: l.multi,
		Ephemeral: xsk.PortRange{Lo: cfg.Ephemeral[0], Hi: cfg.Ephemeral[1]},
	}
	mode := xsk.AttachNative
	if cfg.Generic {
		mode = xsk.AttachGeneric
	}
	for _, n := range l.nics {
		nq := cap(n.socks)
		fcfg.Queues = nq
		if n.filter, err = xsk.NewFilter(fcfg); err != nil {
			return nil, err
		}
		for q := range nq {
			s, err := xsk.Open(n.index, q, l.umem, scfg)
			if err != nil {
				return nil, fmt.Errorf("afxdp: %s queue %d: %w", n.name, q, err)
			}
			n.socks = append(n.socks, s)
			l.socks = append(l.socks, s)
			l.sockNIC = append(l.sockNIC, n)
			l.rxDescs = append(l.rxDescs, 0)
			if err := n.filter.Register(q, s); err != nil {
				return nil, err
			}
		}
		// Segments to any of the Link's addresses may arrive on any NIC
		// (the kernel's weak host model, INTEROP B.5).
		for _, a := range l.addrs {
			if err := n.filter.OwnAddr(a); err != nil {
				return nil, err
			}
		}
	}
	for _, s := range l.socks {
		s.Refill(s.Fill.Size())
	}
	for _, n := range l.nics {
		if err := n.filter.Attach(n.index, mode); err != nil {
			return nil, fmt.Errorf("afxdp: %s: %w", n.name, err)
		}
	}
	if l.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return nil, setupErr("eventfd", err, "")
	}
	l.pfds = append(l.pfds, unix.PollFd{Fd: int32(l.efd), Events: unix.POLLIN}, unix.PollFd{Fd: int32(l.mon.fd), Events: unix.POLLIN})
	for _, s := range l.socks {
		l.pfds = append(l.pfds, unix.PollFd{Fd: int32(s.FD()), Events: unix.POLLIN})
	}
	l.rs = newResolver(l.nl, l.mon, l.nics)
	l.rs.send, l.rs.drop = l.sendPending, l.dropPending

	l.descs = make([]xsk.Desc, maxBatch*fragsPerPkt)
	l.held = make([]uint64, 0, maxBatch*fragsPerPkt)
	l.rest = make([][][]byte, maxBatch)
	l.restBuf = make([][]byte, 0, maxBatch*fragsPerPkt)
	l.res = make([]uint64, maxBatch)
	l.views = make([][]byte, maxBatch)
	return l, nil
}

func minPositive(a, b int) int {
	if a == 0 || b < a {
		return b
	}
	return a
}

// chooseAddrs returns the NICs' addresses (without IPv6 link-local ones),
// or want if every one of want is among them.
func (l *Link) chooseAddrs(want []netip.Addr) ([]netip.Addr, error) {
	var all []netip.Addr
	for _, n := range l.nics {
		for _, p := range n.addrs {
			if a := p.Addr(); !a.IsLinkLocalUnicast() && !slices.Contains(all, a) {
				all = append(all, a)
			}
		}
	}
	if len(want) == 0 {
		if len(all) == 0 {
			return nil, fmt.Errorf("afxdp: interfaces %v have no address; the kernel must own the stack's addresses (it answers ARP and NDP for them)", l.names())
		}
		return all, nil
	}
	for _, a := range want {
		if !slices.Contains(all, a.Unmap()) {
			return nil, fmt.Errorf("afxdp: address %v is not on interfaces %v (they have %v); fix: ip addr add %v/PREFIX dev NIC", a, l.names(), all, a)
		}
	}
	return slices.Clone(want), nil
}

func (l *Link) names() []string {
	var s []string
	for _, n := range l.nics {
		s = append(s, n.name)
	}
	return s
}

// Addrs returns the local addresses whose traffic the Link carries.
func (l *Link) Addrs() []netip.Addr { return l.addrs }

// MTU returns the smallest MTU of the NICs.
func (l *Link) MTU() int { return l.mtu }

// Receive gives back the previous batch's frames, then fills pkts with
// views of received IP packets (Ethernet and one VLAN tag stripped).
func (l *Link) Receive(pkts [][]byte) int {
	if l.closed {
		return 0
	}
	if len(l.held) > 0 {
		l.umem.FreeN(l.held)
		l.held = l.held[:0]
	}
	l.restBuf = l.restBuf[:0]
	pkts = pkts[:min(len(pkts), maxBatch)]
	out := 0
	for i := 0; i < len(l.socks) && out < len(pkts); i++ {
		si := (l.rxNext + i) % len(l.socks)
		s := l.socks[si]
		m := s.RX.Peek(l.descs)
		used := 0
		for used < m && out < len(pkts) {
			d := l.descs[used]
			if !d.Continues() {
				used++
				f := l.umem.Frame(d.Addr, int(d.Len))
				if ip := l.strip(f); ip != nil {
					pkts[out], l.rest[out] = ip, nil
					out++
					l.held = append(l.held, d.Addr)
				} else {
					l.umem.Free(d.Addr)
				}
				continue
			}
			// A chain: find its end; a chain cut by the peek waits for
			// the next Receive (af_xdp.rst, multi-buffer RX).
			end := used
			for end < m && l.descs[end].Continues() {
				end++
			}
			if end == m {
				break
			}
			chain := l.descs[used : end+1]
			used = end + 1
			if ip := l.stripChain(chain); ip != nil {
				// Viewed in place: the engine reads the pieces with the one
				// copy (and checksum) every payload gets.
				start := len(l.restBuf)
				for _, c := range chain[1:] {
					l.restBuf = append(l.restBuf, l.umem.Frame(c.Addr, int(c.Len)))
				}
				for _, c := range chain {
					l.held = append(l.held, c.Addr)
				}
				pkts[out], l.rest[out] = ip, l.restBuf[start:len(l.restBuf):len(l.restBuf)]
				out++
				continue
			}
			for _, c := range chain {
				l.umem.Free(c.Addr)
			}
		}
		s.RX.Release(used)
		l.rxDescs[si] += uint64(used)
		if f := s.Fill.Free(); f >= 32 {
			s.Refill(f)
			s.KickRX()
		}
	}
	l.rxNext++
	if l.rxNext >= len(l.socks) {
		l.rxNext = 0
	}
	return out
}

// Rest returns the buffers after the first of packet i of the last
// Receive (a multi-buffer chain), or nil if it arrived in one frame
// (link.ChainReceiver).
func (l *Link) Rest(i int) [][]byte { return l.rest[i] }

// stripChain is strip for a chain of frames: the first holds the Ethernet
// header. A chain longer than the MTU allows is not ours.
func (l *Link) stripChain(chain []xsk.Desc) []byte {
	total := 0
	for _, c := range chain {
		total += int(c.Len)
	}
	if total > l.mtu+ethLen+4 {
		l.stats.Malformed++
		return nil
	}
	ip := l.strip(l.umem.Frame(chain[0].Addr, int(chain[0].Len)))
	if ip != nil {
		l.stats.RxBytes += uint64(total - int(chain[0].Len))
	}
	return ip
}

// strip returns the IP packet inside an Ethernet frame, or nil (counted
// as Malformed) if it is not IPv4 or IPv6.
func (l *Link) strip(f []byte) []byte {
	if len(f) >= ethLen {
		et := binary.BigEndian.Uint16(f[12:])
		off := ethLen
		if (et == 0x8100 || et == 0x88a8) && len(f) >= ethLen+4 {
			et = binary.BigEndian.Uint16(f[16:])
			off += 4
		}
		if (et == 0x0800 && len(f) >= off+20 && f[off]>>4 == 4) || (et == 0x86dd && len(f) >= off+40 && f[off]>>4 == 6) {
			l.stats.RxPackets++
			l.stats.RxBytes += uint64(len(f) - off)
			return f[off:]
		}
	}
	l.stats.Malformed++
	return nil
}

// Reserve puts up to len(bufs) transmit buffers into bufs: UMEM frames
// after room for the Ethernet header, or in jumbo mode runs of consecutive
// frames, so that the packet is written where it is sent from. Buffers a
// Transmit did not use stay reserved for the next call: a shard that sends
// one ACK per batch would otherwise take and free a whole batch each time.
func (l *Link) Reserve(bufs [][]byte) int {
	if l.closed {
		return 0
	}
	want := min(len(bufs), maxBatch)
	if l.nres < want {
		l.reserve(want)
	}
	k := min(want, l.nres)
	copy(bufs, l.views[:k])
	l.lent = k
	return k
}

// reserve takes frames (runs) until want are reserved or none is left.
func (l *Link) reserve(want int) {
	if l.jumbo {
		if l.umem.RunsAvailable() < want-l.nres {
			l.complete()
		}
		for ; l.nres < want; l.nres++ {
			a, ok := l.umem.AllocRun()
			if !ok {
				return
			}
			l.res[l.nres] = a
			l.views[l.nres] = l.umem.Span(a+ethLen, l.umem.RunFrames()*l.frameSize-ethLen)
		}
		return
	}
	if l.umem.Available() < want-l.nres {
		l.complete()
	}
	k := l.umem.AllocN(l.res[l.nres:want])
	for i := l.nres; i < l.nres+k; i++ {
		l.views[i] = l.umem.Frame(l.res[i]+ethLen, l.frameSize-ethLen)
	}
	l.nres += k
}

// freeRes frees a reserved frame, or every frame of a reserved run.
func (l *Link) freeRes(a uint64) {
	if !l.jumbo {
		l.umem.Free(a)
		return
	}
	for f := range l.umem.RunFrames() {
		l.umem.Free(a + uint64(f*l.frameSize))
	}
}

func (l *Link) complete() {
	for _, s := range l.socks {
		s.Complete()
	}
}

// Transmit sends the first len(lens) reserved buffers: it finds each
// packet's NIC and next hop, writes the Ethernet header, and pushes one
// batch per NIC with one kick. The rest of the reservation comes back.
func (l *Link) Transmit(lens []int) {
	if l.closed {
		return
	}
	if len(lens) > l.lent {
		lens = lens[:l.lent]
	}
	l.lent = 0
	if len(lens) > 0 {
		l.now = time.Now()
		// A shard that never idles never calls Wait: read the kernel's
		// notifications here too, once per monitorEvery.
		if l.now.Sub(l.lastMon) >= monitorEvery {
			l.lastMon = l.now
			l.rs.poll(l.now)
		}
	}
	for i, n := range lens {
		addr := l.res[i]
		var pkt []byte
		if l.jumbo {
			pkt = l.umem.Span(addr+ethLen, n)
		} else {
			pkt = l.umem.Frame(addr+ethLen, n)
		}
		r := l.rs.lookup(pkt, l.now)
		switch {
		case r == nil:
			l.stats.TxDropped++
			l.freeRes(addr)
		case r.fail:
			l.stats.NoRoute++
			l.freeRes(addr)
		case !r.nb.valid:
			r.nb.used = true
			// Only packets that fit one frame wait (a SYN does); larger
			// ones are dropped and retransmitted by TCP.
			if ethLen+n > l.frameSize || !l.rs.wait(r.nb, pending{addr: addr, n: uint32(n)}, l.now) {
				l.stats.NoRoute++
				l.freeRes(addr)
				break
			}
			if l.jumbo {
				l.freeTail(addr, 1)
			}
			if pkt[0]>>4 == 6 && l.rs.solicitDue(r.nb, l.now) {
				l.solicit(r.nic, r.nb.key.addr, netip.AddrFrom16([16]byte(pkt[8:24])))
			}
		case l.jumbo:
			r.nb.used = true
			l.frameRun(addr, r.nic, r.nb, n)
		default:
			r.nb.used = true
			l.frame(addr, r.nic, r.nb, n)
		}
	}
	// The rest stays reserved, in order.
	k := len(lens)
	copy(l.res, l.res[k:l.nres])
	copy(l.views, l.views[k:l.nres])
	clear(l.views[l.nres-k : l.nres])
	l.nres -= k
	l.flush()
}

// freeTail frees the frames of the run at addr from its used-th on.
func (l *Link) freeTail(addr uint64, used int) {
	for f := used; f < l.umem.RunFrames(); f++ {
		l.umem.Free(addr + uint64(f*l.frameSize))
	}
}

// writeEthernet fills the Ethernet header at the start of h, in front of
// the IPv4 or IPv6 packet that follows it, from nic n to neighbour nb.
func writeEthernet(h []byte, n *nic, nb *neighbour) {
	copy(h[0:6], nb.mac[:])
	copy(h[6:12], n.mac[:])
	et := uint16(0x0800)
	if h[ethLen]>>4 == 6 {
		et = 0x86dd
	}
	binary.BigEndian.PutUint16(h[12:], et)
}

// frame writes the Ethernet header in front of the packet at addr and
// queues it on the NIC.
func (l *Link) frame(addr uint64, n *nic, nb *neighbour, ipLen int) {
	h := l.umem.Frame(addr, ethLen+ipLen)
	writeEthernet(h, n, nb)
	n.txq = append(n.txq, xsk.Desc{Addr: addr, Len: uint32(ethLen + ipLen)})
	l.stats.TxPackets++
	l.stats.TxBytes += uint64(ipLen)
}

// frameRun writes the Ethernet header in front of the packet in the run
// at addr and queues it on the NIC as a chain of the frames it fills; the
// rest of the run is freed. No copy: the shard wrote the packet in place.
func (l *Link) frameRun(addr uint64, n *nic, nb *neighbour, ipLen int) {
	total := ethLen + ipLen
	h := l.umem.Span(addr, total)
	writeEthernet(h, n, nb)
	nf := (total + l.frameSize - 1) / l.frameSize
	for f := range nf {
		d := xsk.Desc{Addr: addr + uint64(f*l.frameSize), Len: uint32(min(total-f*l.frameSize, l.frameSize))}
		if f < nf-1 {
			d.Options = xsk.PktContd
		}
		n.txq = append(n.txq, d)
	}
	l.freeTail(addr, nf)
	l.stats.TxPackets++
	l.stats.TxBytes += uint64(ipLen)
}

// flush pushes every NIC's queued descriptors to its first socket's TX
// ring and kicks it: one system call per NIC per batch (copy mode always
// asks for one; need_wakeup decides in zero-copy mode).
func (l *Link) flush() {
	for _, n := range l.nics {
		if len(n.txq) == 0 {
			continue
		}
		s := n.socks[0]
		done := s.TX.Push(wholeChains(n.txq, s.TX.Free()))
		if done < len(n.txq) {
			// The ring is full: let the kernel drain it, then retry once.
			s.KickTX()
			s.Complete()
			done += s.TX.Push(wholeChains(n.txq[done:], s.TX.Free()))
		}
		s.KickTX()
		for _, d := range n.txq[done:] {
			l.umem.Free(d.Addr)
			if !d.Continues() {
				l.stats.TxDropped++
				l.stats.TxPackets--
			}
		}
		n.txq = n.txq[:0]
		s.Complete()
	}
}

// wholeChains returns the longest prefix of descs, at most room long, that
// ends with a packet's last descriptor: a ring holding half a chain would
// glue the next packet to it.
func wholeChains(descs []xsk.Desc, room int) []xsk.Desc {
	if room >= len(descs) {
		return descs
	}
	for room > 0 && descs[room-1].Continues() {
		room--
	}
	return descs[:room]
}

// nsLen is an IPv6 neighbour solicitation with the source link-layer
// address option (RFC 4861 §4.3): IPv6 header, ICMPv6 type, code and
// checksum, 4 reserved bytes, the target, and the 8-byte option.
const nsLen = 40 + 8 + 16 + 8

// solicit queues an IPv6 neighbour solicitation for target from src on n
// (see resolver.solicitDue), sent with the packets of this Transmit.
func (l *Link) solicit(n *nic, target, src netip.Addr) {
	addr, ok := l.umem.Alloc()
	if !ok {
		return // the kernel's own probes go on
	}
	writeSolicitation(l.umem.Frame(addr, ethLen+nsLen), n.mac, target, src)
	n.txq = append(n.txq, xsk.Desc{Addr: addr, Len: ethLen + nsLen})
	l.stats.TxPackets++ // flush takes it back if the ring has no room
	l.stats.TxBytes += nsLen
}

// writeSolicitation writes an Ethernet frame carrying a neighbour
// solicitation for target from src and mac into f: to the target's
// solicited-node multicast group (RFC 4291 §2.7.1) and its MAC (RFC 2464
// §7), hop limit 255 (RFC 4861 §7.1.1).
func writeSolicitation(f []byte, mac [6]byte, target, src netip.Addr) {
	t := target.As16()
	group := [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]}
	copy(f[0:6], []byte{0x33, 0x33, 0xff, t[13], t[14], t[15]})
	copy(f[6:12], mac[:])
	binary.BigEndian.PutUint16(f[12:], 0x86dd)
	ip := f[ethLen : ethLen+nsLen]
	clear(ip)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], nsLen-40)
	ip[6], ip[7] = unix.IPPROTO_ICMPV6, 255
	s := src.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], group[:])
	icmp := ip[40:]
	icmp[0] = 135 // neighbour solicitation
	copy(icmp[8:24], t[:])
	icmp[24], icmp[25] = 1, 1 // source link-layer address, 8 bytes
	copy(icmp[26:32], mac[:])
	sum := cksum.Checksum(icmp, cksum.IPv6PseudoHeader(s, group, unix.IPPROTO_ICMPV6, nsLen-40))
	binary.BigEndian.PutUint16(icmp[2:], sum)
}

// sendPending transmits packets whose neighbour the kernel just resolved.
func (l *Link) sendPending(n *nic, nb *neighbour, ps []pending) {
	for _, p := range ps {
		l.frame(p.addr, n, nb, int(p.n))
	}
	l.flush()
}

// dropPending frees packets whose neighbour failed.
func (l *Link) dropPending(ps []pending) {
	for _, p := range ps {
		l.umem.Free(p.addr)
		l.stats.NoRoute++
	}
}

// Wait blocks until a packet arrives, Wake is called, or timeout passes
// (negative: no limit; zero: only checks). It also reads the kernel's
// neighbour and route notifications, which may send packets that waited.
func (l *Link) Wait(timeout time.Duration) error {
	if l.closed {
		return ErrClosed
	}
	for _, s := range l.socks {
		if s.TX.Pending() > 0 {
			s.KickTX()
		}
	}
	if l.rxReady() {
		return nil
	}
	now := time.Now()
	if l.rs.waits > 0 && (timeout < 0 || timeout > 100*time.Millisecond) {
		// Waiting packets have a deadline (pendingTimeout).
		timeout = 100 * time.Millisecond
	}
	if timeout == 0 {
		if now.Sub(l.lastMon) >= monitorEvery {
			l.lastMon = now
			return l.rs.poll(now)
		}
		return nil
	}
	var ts *unix.Timespec
	if timeout > 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	for i := range l.pfds {
		l.pfds[i].Revents = 0
	}
	_, err := unix.Ppoll(l.pfds, ts, nil)
	if err != nil && err != unix.EINTR {
		return os.NewSyscallError("ppoll", err)
	}
	if l.pfds[0].Revents&unix.POLLIN != 0 {
		var b [8]byte
		unix.Read(l.efd, b[:])
	}
	now = time.Now()
	if l.pfds[1].Revents&unix.POLLIN != 0 || l.rs.waits > 0 || now.Sub(l.lastMon) >= refreshEvery {
		l.lastMon = now
		return l.rs.poll(now)
	}
	return nil
}

// rxReady reports whether some RX ring holds descriptors (no system call).
func (l *Link) rxReady() bool {
	var one [1]xsk.Desc
	for _, s := range l.socks {
		if s.RX.Peek(one[:]) > 0 {
			return true
		}
	}
	return false
}

// Wake makes the current or next Wait return. Safe for concurrent use.
func (l *Link) Wake() {
	var one = [8]byte{1}
	// Under the lock, so that a Wake racing with Close never writes to a
	// closed (and perhaps reused) descriptor. The eventfd's counter only
	// grows; EAGAIN (a full counter) still leaves it readable.
	l.mu.Lock()
	if !l.closed {
		unix.Write(l.efd, one[:])
	}
	l.mu.Unlock()
}

// Stats returns the Link's counters, with the sockets' kernel drop
// counters added to RxDropped and TxDropped.
func (l *Link) Stats() link.Stats {
	st := l.stats
	for _, ks := range l.SocketStats() {
		st.RxDropped += ks.RXDropped + ks.RXRingFull
		st.TxDropped += ks.TXInvalidDescs
	}
	return st
}

// SocketStats returns the kernel's counters of every socket.
func (l *Link) SocketStats() []SocketStats {
	var out []SocketStats
	for i, s := range l.socks {
		ks, err := s.Stats()
		if err != nil {
			continue
		}
		out = append(out, SocketStats{Interface: l.sockNIC[i].name, Queue: s.Queue(), Mode: s.Mode(), RxDescs: l.rxDescs[i], Stats: ks})
	}
	return out
}

// ResolverStats returns the route and neighbour resolver's counters.
func (l *Link) ResolverStats() ResolverStats { return l.rs.stats }

// ClaimPort steers TCP segments to local port p on every address of the
// Link to the stack. Ports in the ephemeral range are claimed at Open.
func (l *Link) ClaimPort(p uint16) error {
	if p >= l.lo && p <= l.hi || l.owned[p] {
		return nil
	}
	for _, n := range l.nics {
		for _, a := range l.addrs {
			if err := n.filter.Own(netip.AddrPortFrom(a, p)); err != nil {
				return fmt.Errorf("afxdp: claiming port %d: %w", p, err)
			}
		}
	}
	l.owned[p] = true
	return nil
}

// ReleasePort gives port p back to the kernel (ports outside the
// ephemeral range).
func (l *Link) ReleasePort(p uint16) error {
	if !l.owned[p] {
		return nil
	}
	for _, n := range l.nics {
		for _, a := range l.addrs {
			if err := n.filter.Disown(netip.AddrPortFrom(a, p)); err != nil {
				return fmt.Errorf("afxdp: releasing port %d: %w", p, err)
			}
		}
	}
	delete(l.owned, p)
	return nil
}

// Source returns the Link's address that the kernel's routes choose to
// reach dst (dataplane's SourceChooser). Safe for concurrent use.
func (l *Link) Source(dst netip.Addr) (netip.Addr, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return netip.Addr{}, false
	}
	dst = dst.Unmap()
	src, n, ok := l.rs.source(dst)
	if !ok {
		return netip.Addr{}, false
	}
	if slices.Contains(l.addrs, src) {
		return src, true
	}
	for _, p := range n.addrs {
		if a := p.Addr(); a.Is4() == dst.Is4() && slices.Contains(l.addrs, a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// Close detaches the filters and closes the sockets, the UMEM and the
// netlink sockets. It is idempotent.
func (l *Link) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	for _, n := range l.nics {
		if n.filter != nil {
			errs = append(errs, n.filter.Close())
		}
	}
	for _, s := range l.socks {
		errs = append(errs, s.Close())
	}
	if l.umem != nil {
		errs = append(errs, l.umem.Close())
	}
	if l.nl != nil {
		errs = append(errs, l.nl.close())
	}
	if l.mon != nil {
		errs = append(errs, l.mon.close())
	}
	if l.efd >= 0 {
		errs = append(errs, unix.Close(l.efd))
	}
	return errors.Join(errs...)
}

// Interfaces returns the NICs and the number of queues bound on each.
func (l *Link) Interfaces() map[string]int {
	m := map[string]int{}
	for _, n := range l.nics {
		m[n.name] = len(n.socks)
	}
	return m
}

// Mode returns the bind mode of the sockets (one UMEM, one mode).
func (l *Link) Mode() xsk.Mode {
	if len(l.socks) == 0 {
		return 0
	}
	return l.socks[0].Mode()
}

// String describes the Link.
func (l *Link) String() string {
	return fmt.Sprintf("afxdp %v mtu %d addrs %v mode %v multibuffer %v", l.Interfaces(), l.mtu, l.addrs, l.Mode(), l.multi)
}

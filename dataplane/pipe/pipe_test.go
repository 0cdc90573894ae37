package pipe_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane/pipe"
)

// packet writes a minimal IPv4 packet of n bytes from src to dst, with a
// sequence number in its payload, into buf.
func packet(buf []byte, n int, src, dst netip.Addr, seq uint32) int {
	clear(buf[:n])
	buf[0] = 0x45
	binary.BigEndian.PutUint16(buf[2:], uint16(n))
	s, d := src.As4(), dst.As4()
	copy(buf[12:], s[:])
	copy(buf[16:], d[:])
	binary.BigEndian.PutUint32(buf[20:], seq)
	return n
}

// send transmits count packets of size n from side l, all from src.
func send(t *testing.T, l *pipe.Link, count, n int, src, dst netip.Addr, seq0 uint32) {
	t.Helper()
	bufs := make([][]byte, 16)
	lens := make([]int, 0, 16)
	for sent := 0; sent < count; {
		k := l.Reserve(bufs[:min(16, count-sent)])
		if k == 0 {
			t.Fatalf("no buffers after %d packets", sent)
		}
		lens = lens[:0]
		for i := 0; i < k; i++ {
			lens = append(lens, packet(bufs[i], n, src, dst, seq0+uint32(sent+i)))
		}
		l.Transmit(lens)
		sent += k
	}
}

// drain receives until want packets arrived or limit passed, returning
// their sequence numbers and arrival times.
func drain(t *testing.T, l *pipe.Link, want int, limit time.Duration) ([]uint32, []time.Time) {
	t.Helper()
	var seqs []uint32
	var at []time.Time
	pkts := make([][]byte, 64)
	end := time.Now().Add(limit)
	for len(seqs) < want && time.Now().Before(end) {
		n := l.Receive(pkts)
		now := time.Now()
		for _, p := range pkts[:n] {
			seqs = append(seqs, binary.BigEndian.Uint32(p[20:]))
			at = append(at, now)
		}
		if n == 0 {
			l.Wait(time.Until(end))
		}
	}
	return seqs, at
}

func TestAddressingAndRouting(t *testing.T) {
	a, b, err := pipe.New(pipe.Config{Paths: make([]pipe.Path, 3)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	for i := 0; i < 3; i++ {
		wa := netip.AddrFrom4([4]byte{10, 0, byte(i + 1), 1})
		wb := netip.AddrFrom4([4]byte{10, 0, byte(i + 1), 2})
		if a.Addrs()[i] != wa || b.Addrs()[i] != wb {
			t.Fatalf("path %d: addresses %v, %v", i, a.Addrs()[i], b.Addrs()[i])
		}
		if src, ok := a.Source(wb); !ok || src != wa {
			t.Errorf("Source(%v) = %v, %v", wb, src, ok)
		}
	}
	// A packet from path 2's address leaves on path 2, whatever its
	// destination.
	send(t, a, 5, 100, a.Addrs()[2], b.Addrs()[0], 0)
	if got, _ := drain(t, b, 5, time.Second); len(got) != 5 {
		t.Fatalf("received %d of 5", len(got))
	}
	if ps := a.PathStats(2); ps.Packets != 5 || ps.Bytes != 500 {
		t.Errorf("path 2 stats %+v", ps)
	}
	if ps := a.PathStats(0); ps.Packets != 0 {
		t.Errorf("path 0 carried %d packets", ps.Packets)
	}
	// Unknown source or destination: dropped and counted; too big:
	// dropped.
	send(t, a, 2, 100, netip.MustParseAddr("192.0.2.1"), b.Addrs()[0], 0)
	send(t, a, 1, 100, a.Addrs()[0], a.Addrs()[1], 0)
	send(t, a, 1, 1501, a.Addrs()[0], b.Addrs()[0], 0)
	if st := a.Stats(); st.NoRoute != 3 || st.TxDropped != 1 || st.TxPackets != 5 {
		t.Errorf("stats %+v", st)
	}
	if st := b.Stats(); st.RxPackets != 5 || st.RxBytes != 500 {
		t.Errorf("receiver stats %+v", st)
	}
}

func TestConfigErrors(t *testing.T) {
	bad := []pipe.Config{
		{MTU: 100},
		{Paths: []pipe.Path{{Forward: pipe.Impairment{Loss: 2}}}},
		{Paths: []pipe.Path{{Forward: pipe.Impairment{Reorder: 0.1}}}},
		{Paths: []pipe.Path{{Forward: pipe.Impairment{Delay: -1}}}},
		{Paths: []pipe.Path{{A: netip.MustParseAddr("10.0.0.1"), B: netip.MustParseAddr("fd00::1")}}},
		{Paths: []pipe.Path{{A: netip.MustParseAddr("10.0.0.1")}, {A: netip.MustParseAddr("10.0.0.1")}}},
	}
	for _, cfg := range bad {
		if _, _, err := pipe.New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// TestDelayAndRate: nothing arrives before the propagation delay, and a
// burst takes at least its serialisation time at the rate.
func TestDelayAndRate(t *testing.T) {
	const delay, rate, n, size = 20 * time.Millisecond, 8e6, 20, 1000 // 1 ms per packet
	a, b, err := pipe.New(pipe.Config{Paths: []pipe.Path{{Forward: pipe.Impairment{Delay: delay, Rate: rate}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	start := time.Now()
	send(t, a, n, size, a.Addrs()[0], b.Addrs()[0], 0)
	seqs, at := drain(t, b, n, 5*time.Second)
	if len(seqs) != n {
		t.Fatalf("received %d of %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != uint32(i) {
			t.Fatalf("order %v", seqs)
		}
		// Packet i finishes serialising (i+1) ms after the start.
		if min := delay + time.Duration(i+1)*time.Millisecond; at[i].Sub(start) < min {
			t.Fatalf("packet %d arrived after %v, before %v", i, at[i].Sub(start), min)
		}
	}
}

// TestLossQueueReorder: Loss 1 drops everything; a queue of 5 packets at
// a slow rate keeps 5 of a burst of 20; reordering changes the order but
// delivers everything.
func TestLossQueueReorder(t *testing.T) {
	a, b, err := pipe.New(pipe.Config{Seed: 1, Paths: []pipe.Path{
		{Forward: pipe.Impairment{Loss: 1}},
		{Forward: pipe.Impairment{Rate: 1e6, QueuePackets: 5}},
		{Forward: pipe.Impairment{Reorder: 0.3, ReorderDelay: 5 * time.Millisecond}},
		{Forward: pipe.Impairment{Rate: 1e6, QueueBytes: 3000}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	send(t, a, 10, 100, a.Addrs()[0], b.Addrs()[0], 0)
	if ps := a.PathStats(0); ps.Lost != 10 || ps.Packets != 0 {
		t.Errorf("loss path %+v", ps)
	}
	send(t, a, 20, 1000, a.Addrs()[1], b.Addrs()[0], 100)
	if ps := a.PathStats(1); ps.Packets != 5 || ps.QueueDrops != 15 {
		t.Errorf("queue path %+v", ps)
	}
	send(t, a, 20, 1000, a.Addrs()[3], b.Addrs()[0], 200)
	if ps := a.PathStats(3); ps.Packets != 3 || ps.QueueDrops != 17 {
		t.Errorf("byte queue path %+v", ps)
	}
	if st := a.Stats(); st.TxDropped != 10+15+17 {
		t.Errorf("TxDropped %d", st.TxDropped)
	}
	seqs, _ := drain(t, b, 8, 2*time.Second)
	if len(seqs) != 8 {
		t.Fatalf("received %d of 8 queued packets", len(seqs))
	}
	send(t, a, 200, 100, a.Addrs()[2], b.Addrs()[0], 1000)
	seqs, _ = drain(t, b, 200, 2*time.Second)
	if len(seqs) != 200 {
		t.Fatalf("received %d of 200 reordered packets", len(seqs))
	}
	inversions := 0
	seen := map[uint32]bool{}
	for i, s := range seqs {
		seen[s] = true
		if i > 0 && s < seqs[i-1] {
			inversions++
		}
	}
	if len(seen) != 200 || inversions == 0 {
		t.Errorf("%d distinct packets, %d inversions", len(seen), inversions)
	}
	if ps := a.PathStats(2); ps.Reordered == 0 {
		t.Errorf("reorder path %+v", ps)
	}
}

// TestWaitWake: Wait returns on Wake (also one that came first), on a
// due packet, on its timeout, and with ErrClosed after Close.
func TestWaitWake(t *testing.T) {
	a, b, err := pipe.New(pipe.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b.Wake()
	if err := b.Wait(-1); err != nil { // returns at once: the Wake came first
		t.Fatal(err)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		b.Wake()
	}()
	if err := b.Wait(-1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b.Wait(15 * time.Millisecond)
	if d := time.Since(start); d < 15*time.Millisecond {
		t.Errorf("Wait(15ms) returned after %v", d)
	}
	sent := make(chan bool)
	go func() {
		time.Sleep(10 * time.Millisecond)
		send(t, a, 1, 100, a.Addrs()[0], b.Addrs()[0], 0)
		close(sent)
	}()
	if err := b.Wait(-1); err != nil {
		t.Fatal(err)
	}
	<-sent // side A is used by one goroutine at a time
	if n := b.Receive(make([][]byte, 4)); n != 1 {
		t.Errorf("after Wait: %d packets", n)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		b.Close()
	}()
	if err := b.Wait(-1); err != pipe.ErrClosed {
		t.Errorf("Wait on a closed link: %v", err)
	}
	// Packets to a closed side are dropped.
	send(t, a, 1, 100, a.Addrs()[0], b.Addrs()[0], 0)
	if st := a.Stats(); st.TxDropped != 1 {
		t.Errorf("TxDropped %d after the peer closed", st.TxDropped)
	}
	a.Close()
}

// TestBufferBound: the pool bounds the packets in flight; Receive returns
// buffers to it.
func TestBufferBound(t *testing.T) {
	a, b, err := pipe.New(pipe.Config{MaxBuffers: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	bufs := make([][]byte, 64)
	if k := a.Reserve(bufs); k != 32 {
		t.Fatalf("Reserve gave %d buffers, want the bound 32", k)
	}
	if len(bufs[0]) < 1500+pipe.Headroom {
		t.Fatalf("buffer of %d bytes", len(bufs[0]))
	}
	lens := make([]int, 32)
	for i := range lens {
		lens[i] = packet(bufs[i], 100, a.Addrs()[0], b.Addrs()[0], uint32(i))
	}
	a.Transmit(lens)
	if k := a.Reserve(bufs); k != 0 {
		t.Fatalf("Reserve gave %d buffers while all are in flight", k)
	}
	pkts := make([][]byte, 64)
	if n := b.Receive(pkts); n != 32 {
		t.Fatalf("received %d", n)
	}
	b.Receive(pkts) // gives the batch back
	if k := a.Reserve(bufs); k != 32 {
		t.Fatalf("after the receiver's return: %d buffers", k)
	}
	a.Transmit(nil)
}

// TestZeroAllocations: a steady exchange of batches allocates nothing.
func TestZeroAllocations(t *testing.T) {
	a, b, err := pipe.New(pipe.Config{Paths: []pipe.Path{{Forward: pipe.Impairment{Rate: 1e12, QueueBytes: 1 << 20, Loss: 0.01}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	bufs, pkts := make([][]byte, 64), make([][]byte, 64)
	lens := make([]int, 0, 64)
	step := func() {
		k := a.Reserve(bufs)
		lens = lens[:0]
		for i := 0; i < k; i++ {
			lens = append(lens, packet(bufs[i], 1500, a.Addrs()[0], b.Addrs()[0], uint32(i)))
		}
		a.Transmit(lens)
		for b.Receive(pkts) > 0 {
		}
		b.Wait(0)
	}
	for i := 0; i < 100; i++ {
		step()
	}
	if allocs := testing.AllocsPerRun(200, step); allocs != 0 {
		t.Errorf("%v allocations per batch", allocs)
	}
}

package sim

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/internal/pcap"
)

// packet builds a minimal IPv4 packet of size n carrying seq.
func packet(src, dst netip.Addr, n int, seq uint64) []byte {
	p := make([]byte, n)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(n))
	s4, d4 := src.As4(), dst.As4()
	copy(p[12:], s4[:])
	copy(p[16:], d4[:])
	binary.BigEndian.PutUint64(p[20:], seq)
	return p
}

// blaster sends queued packets when polled and records what it receives.
type blaster struct {
	out      [][]byte
	got      []uint64
	gotAt    []time.Duration
	gotBytes [][]byte
	keep     bool // keep copies of received packets
	timers   []time.Duration
	fired    []time.Duration
}

func (b *blaster) HandlePacket(now time.Duration, pkt []byte) {
	b.got = append(b.got, binary.BigEndian.Uint64(pkt[20:]))
	b.gotAt = append(b.gotAt, now)
	if b.keep {
		b.gotBytes = append(b.gotBytes, append([]byte(nil), pkt...))
	}
}

func (b *blaster) PollTransmit(_ time.Duration, buf []byte) int {
	if len(b.out) == 0 {
		return 0
	}
	n := copy(buf, b.out[0])
	b.out = b.out[1:]
	return n
}

func (b *blaster) NextTimeout() (time.Duration, bool) {
	if len(b.timers) == 0 {
		return 0, false
	}
	return b.timers[0], true
}

func (b *blaster) HandleTimeout(now time.Duration) {
	for len(b.timers) > 0 && b.timers[0] <= now {
		b.fired = append(b.fired, now)
		b.timers = b.timers[1:]
	}
}

func twoHosts(t *testing.T, seed uint64, cfg LinkConfig) (*Sim, *TwoHosts, *blaster, *blaster) {
	t.Helper()
	s := New(seed)
	topo := s.ParallelPaths(Symmetric(cfg))
	a, b := &blaster{}, &blaster{}
	topo.A.SetEndpoint(a)
	topo.B.SetEndpoint(b)
	return s, topo, a, b
}

func (b *blaster) queue(topo *TwoHosts, n, size int) {
	for i := 0; i < n; i++ {
		b.out = append(b.out, packet(topo.AddrsA[0], topo.AddrsB[0], size, uint64(i)))
	}
}

func TestSerialisationAndDelay(t *testing.T) {
	s, topo, a, b := twoHosts(t, 1, LinkConfig{Rate: 10e6, Delay: 5 * time.Millisecond})
	a.queue(topo, 3, 1250) // 1250 B at 10 Mbit/s = 1 ms each
	topo.A.Wake()
	s.Run(time.Second)
	want := []time.Duration{6 * time.Millisecond, 7 * time.Millisecond, 8 * time.Millisecond}
	if len(b.gotAt) != 3 {
		t.Fatalf("received %d packets", len(b.gotAt))
	}
	for i, at := range b.gotAt {
		if at != want[i] {
			t.Errorf("packet %d arrived at %v, want %v", i, at, want[i])
		}
	}
}

func TestDropTailQueues(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  LinkConfig
		want int
	}{
		{"packets", LinkConfig{Rate: 1e6, QueuePackets: 10}, 10},
		{"bytes", LinkConfig{Rate: 1e6, QueueBytes: 5000}, 5},
		{"unlimited", LinkConfig{Rate: 1e6}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, topo, a, b := twoHosts(t, 1, tc.cfg)
			a.queue(topo, 100, 1000)
			topo.A.Wake()
			s.Run(10 * time.Second)
			if len(b.got) != tc.want {
				t.Errorf("delivered %d, want %d", len(b.got), tc.want)
			}
			st := topo.Forward[0].Stats
			if st.DropQueue != uint64(100-tc.want) {
				t.Errorf("DropQueue %d, want %d", st.DropQueue, 100-tc.want)
			}
		})
	}
}

// TestQueueDrains: once the queue has drained, it admits packets again.
func TestQueueDrains(t *testing.T) {
	s, topo, a, b := twoHosts(t, 1, LinkConfig{Rate: 8e6, QueuePackets: 2}) // 1 ms per 1000 B
	a.queue(topo, 5, 1000)
	topo.A.Wake()
	s.After(10*time.Millisecond, func() { a.queue(topo, 5, 1000); topo.A.Wake() })
	s.Run(time.Second)
	if len(b.got) != 4 {
		t.Errorf("delivered %d packets, want 2 from each burst", len(b.got))
	}
}

func TestImpairmentsAreSeededAndCounted(t *testing.T) {
	cfg := LinkConfig{Rate: 1e9, Delay: time.Millisecond, Loss: 0.05, Reorder: 0.05,
		ReorderDelay: 2 * time.Millisecond, Duplicate: 0.05, Corrupt: 0.05}
	run := func(seed uint64) ([]uint64, LinkStats) {
		s, topo, a, b := twoHosts(t, seed, cfg)
		b.keep = true
		a.queue(topo, 10000, 100)
		topo.A.Wake()
		s.Run(time.Minute)
		corrupted := 0
		for _, p := range b.gotBytes {
			seq := binary.BigEndian.Uint64(p[20:])
			if !bytes.Equal(p, packet(topo.AddrsA[0], topo.AddrsB[0], 100, seq)) {
				corrupted++
			}
		}
		st := topo.Forward[0].Stats
		if uint64(len(b.got)) != st.Delivered || st.Delivered != st.Sent-st.DropLoss+st.Duplicated {
			t.Errorf("seed %d: delivered %d, stats %+v", seed, len(b.got), st)
		}
		// A flipped bit in the sequence number can make a packet look
		// like another, uncorrupted one; allow for that.
		if corrupted > int(st.Corrupted) || corrupted < int(st.Corrupted)*9/10 {
			t.Errorf("seed %d: %d packets differ, %d counted as corrupted", seed, corrupted, st.Corrupted)
		}
		return b.got, st
	}
	got1, st1 := run(7)
	got2, st2 := run(7)
	got3, _ := run(8)
	if st1 != st2 || len(got1) != len(got2) {
		t.Fatalf("same seed, different runs: %+v vs %+v", st1, st2)
	}
	for i := range got1 {
		if got1[i] != got2[i] {
			t.Fatalf("same seed, different arrival order at %d", i)
		}
	}
	if len(got1) == len(got3) && bytes.Equal(u64bytes(got1), u64bytes(got3)) {
		t.Error("different seeds gave identical runs")
	}
	for name, v := range map[string]uint64{"loss": st1.DropLoss, "reorder": st1.Reordered,
		"duplicate": st1.Duplicated, "corrupt": st1.Corrupted} {
		if v < 350 || v > 650 {
			t.Errorf("%s: %d of 10000, want about 5%%", name, v)
		}
	}
	inversions := 0
	for i := 1; i < len(got1); i++ {
		if got1[i] < got1[i-1] {
			inversions++
		}
	}
	if inversions == 0 {
		t.Error("reordering produced no out-of-order arrival")
	}
}

func u64bytes(v []uint64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.BigEndian.PutUint64(b[8*i:], x)
	}
	return b
}

func TestLinkDownAndNoRoute(t *testing.T) {
	s, topo, a, b := twoHosts(t, 1, LinkConfig{})
	topo.Forward[0].SetDown(true)
	a.queue(topo, 3, 100)
	a.out = append(a.out, packet(netip.MustParseAddr("192.0.2.9"), topo.AddrsB[0], 100, 9))
	topo.A.Wake()
	s.Run(time.Second)
	if len(b.got) != 0 || topo.Forward[0].Stats.DropDown != 3 || topo.A.Stats.NoRoute != 1 {
		t.Errorf("got %d, link %+v, host %+v", len(b.got), topo.Forward[0].Stats, topo.A.Stats)
	}
	topo.Forward[0].SetDown(false)
	a.queue(topo, 2, 100)
	topo.A.Wake()
	s.Run(2 * time.Second)
	if len(b.got) != 2 {
		t.Errorf("after restoring the link: got %d, want 2", len(b.got))
	}
}

func TestTimersFireAtTheirDeadline(t *testing.T) {
	s := New(1)
	h := s.AddHost("h")
	ep := &blaster{timers: []time.Duration{7 * time.Millisecond, 20 * time.Millisecond}}
	h.SetEndpoint(ep)
	// A change from outside moves the first deadline earlier.
	s.At(time.Millisecond, func() { ep.timers[0] = 3 * time.Millisecond; h.Wake() })
	s.Run(time.Second)
	want := []time.Duration{3 * time.Millisecond, 20 * time.Millisecond}
	if len(ep.fired) != 2 || ep.fired[0] != want[0] || ep.fired[1] != want[1] {
		t.Errorf("timers fired at %v, want %v", ep.fired, want)
	}
	// Disarming cancels a pending timer.
	ep.timers = []time.Duration{2 * time.Second}
	h.Wake()
	s.At(1500*time.Millisecond, func() { ep.timers = nil; h.Wake() })
	s.Run(5 * time.Second)
	if len(ep.fired) != 2 {
		t.Errorf("a disarmed timer fired: %v", ep.fired)
	}
}

type livelocked struct{ blaster }

func (*livelocked) NextTimeout() (time.Duration, bool) { return 0, true }
func (*livelocked) HandleTimeout(time.Duration)        {}

func TestLivelockIsReported(t *testing.T) {
	s := New(1)
	h := s.AddHost("h")
	defer func() {
		if recover() == nil {
			t.Error("no panic for an endpoint that always wants to run now")
		}
	}()
	h.SetEndpoint(&livelocked{})
	s.Run(time.Second)
}

func TestPcapCapture(t *testing.T) {
	s, topo, a, _ := twoHosts(t, 1, LinkConfig{Delay: time.Millisecond})
	var buf bytes.Buffer
	if err := topo.Forward[0].CapturePcap(&buf, 0); err != nil {
		t.Fatal(err)
	}
	a.queue(topo, 4, 60)
	topo.A.Wake()
	s.Run(time.Second)
	f, err := pcap.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.LinkType != pcap.LinkRaw || len(f.Packets) != 4 {
		t.Fatalf("pcap: link type %d, %d packets", f.LinkType, len(f.Packets))
	}
	if got := f.Packets[0].Time.Sub(s.Epoch); got != time.Millisecond {
		t.Errorf("first packet at %v, want 1ms", got)
	}
	if !bytes.Equal(f.Packets[3].Data, packet(topo.AddrsA[0], topo.AddrsB[0], 60, 3)) {
		t.Error("captured bytes differ from the packet")
	}
}

func TestParallelPathsAddressing(t *testing.T) {
	s := New(1)
	topo := s.ParallelPaths(Symmetric(LinkConfig{}), Path{Forward: LinkConfig{Delay: time.Millisecond}})
	if topo.AddrsA[1] != netip.MustParseAddr("10.0.2.2") || topo.AddrsB[0] != netip.MustParseAddr("10.0.1.1") {
		t.Errorf("addresses %v %v", topo.AddrsA, topo.AddrsB)
	}
	if topo.Reverse[1].Config().Delay != time.Millisecond {
		t.Error("a zero Reverse config did not default to Forward")
	}
	a, b := &blaster{}, &blaster{}
	topo.A.SetEndpoint(a)
	topo.B.SetEndpoint(b)
	a.out = append(a.out, packet(topo.AddrsA[1], topo.AddrsB[1], 100, 1))
	topo.A.Wake()
	s.Run(time.Second)
	if topo.Forward[1].Stats.Delivered != 1 || topo.Forward[0].Stats.Sent != 0 {
		t.Error("a packet from the second address did not take the second path")
	}
}

// pingPong bounces one packet between two hosts forever.
type pingPong struct {
	src, dst netip.Addr
	pending  bool
	pkt      []byte
}

func (p *pingPong) HandlePacket(time.Duration, []byte) { p.pending = true }
func (p *pingPong) PollTransmit(_ time.Duration, buf []byte) int {
	if !p.pending {
		return 0
	}
	p.pending = false
	return copy(buf, p.pkt)
}
func (p *pingPong) NextTimeout() (time.Duration, bool) { return time.Hour, true }
func (p *pingPong) HandleTimeout(time.Duration)        {}

func newPingPong(s *Sim, cfg LinkConfig) {
	topo := s.ParallelPaths(Symmetric(cfg))
	a := &pingPong{src: topo.AddrsA[0], dst: topo.AddrsB[0], pending: true}
	a.pkt = packet(a.src, a.dst, 1500, 0)
	b := &pingPong{src: topo.AddrsB[0], dst: topo.AddrsA[0]}
	b.pkt = packet(b.src, b.dst, 1500, 0)
	topo.A.SetEndpoint(a)
	topo.B.SetEndpoint(b)
}

func TestNoAllocationsPerPacket(t *testing.T) {
	s := New(1)
	newPingPong(s, LinkConfig{Rate: 1e9, Delay: time.Microsecond, Loss: 0.0001})
	for i := 0; i < 1000; i++ { // warm up pools and heaps
		s.Step()
	}
	if n := testing.AllocsPerRun(1000, func() { s.Step() }); n != 0 {
		t.Errorf("%v allocations per event", n)
	}
}

func BenchmarkPacketEvent(b *testing.B) {
	s := New(1)
	newPingPong(s, LinkConfig{Rate: 1e9, Delay: time.Microsecond})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Step()
	}
}

package main

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mpxdp/mpxdp/mptcp/pm"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{{"100000", 100000}, {"64K", 64 << 10}, {"64KiB", 64 << 10}, {"512M", 512 << 20}, {"1.5G", 3 << 29}, {"2GB", 2 << 30}, {"1T", 1 << 40}} {
		if got, err := parseSize(c.in); err != nil || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1Q", "1e30"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestParsePath(t *testing.T) {
	p, err := parsePath("rate=500m,delay=5ms,loss=0.5%,queue=256k,reorder=0.01")
	if err != nil {
		t.Fatal(err)
	}
	f := p.Forward
	if f.Rate != 500e6 || f.Delay != 5*time.Millisecond || f.Loss != 0.005 || f.QueueBytes != 256<<10 || f.Reorder != 0.01 || f.ReorderDelay == 0 {
		t.Errorf("parsed %+v", f)
	}
	for _, bad := range []string{"rate=fast", "loss=2", "loss=150%", "delay=5", "mtu=9000"} {
		if _, err := parsePath(bad); err == nil {
			t.Errorf("parsePath(%q) accepted", bad)
		}
	}
}

// TestHist compares the histogram's quantiles with exact ones over a wide
// spread of values: within its 1/32 bucket resolution.
func TestHist(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h hist
	var vals []time.Duration
	for range 20000 {
		v := time.Duration(r.ExpFloat64() * float64(3*time.Millisecond))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 1} {
		exact := vals[int(q*float64(len(vals)-1))]
		got := h.Quantile(q)
		if d := float64(got-exact) / float64(max(exact, 64)); d > 0.04 || d < -0.04 {
			t.Errorf("q%.2f: %v, exact %v", q, got, exact)
		}
	}
	rep := h.Report()
	var n uint64
	for i, b := range rep.Bins {
		n += b.Count
		if i > 0 && b.Lo != rep.Bins[i-1].Hi {
			t.Errorf("bins not contiguous: %+v", rep.Bins)
		}
	}
	if n != 20000 || rep.Count != 20000 {
		t.Errorf("bins hold %d, count %d", n, rep.Count)
	}
	var m hist
	m.Merge(&h)
	m.Merge(&h)
	if m.n != 40000 || m.Quantile(0.5) != h.Quantile(0.5) || m.min != h.min || m.max != h.max {
		t.Error("merge")
	}
	// Every bucket's range holds the values that map to it.
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, 123456789, 1 << 40} {
		lo, hi := histRange(histIndex(v))
		if v < lo || v > hi && v < 1<<40 {
			t.Errorf("%d in bucket %d [%d, %d]", v, histIndex(v), lo, hi)
		}
	}
}

// TestHistNoAlloc: recording a latency sample is on every 8 KiB block.
func TestHistNoAlloc(t *testing.T) {
	var h hist
	if n := testing.AllocsPerRun(1000, func() { h.Record(time.Duration(monoNow() & 0xffffff)) }); n != 0 {
		t.Errorf("Record allocates %.1f times", n)
	}
}

func TestDataHeader(t *testing.T) {
	c := newCookie()
	h, err := dataHeader(kindLatency, 7, c)
	if err != nil {
		t.Fatal(err)
	}
	k, s, got, ok := parseDataHeader(h[:])
	if !ok || k != kindLatency || s != 7 || got != c {
		t.Errorf("round trip: %v %v %v %v", k, s, got, ok)
	}
	for _, bad := range [][]byte{h[:15], []byte("mpB2" + string(h[4:])), append([]byte("mpB1\x09"), h[5:]...)} {
		if _, _, _, ok := parseDataHeader(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := dataHeader(kindBulk, 0, "xyz"); err == nil {
		t.Error("bad cookie accepted")
	}
}

func TestPairedPM(t *testing.T) {
	ap := netip.MustParseAddrPort
	st := &pm.State{Client: true, InitialLocal: ap("10.0.1.1:61000"), InitialRemote: ap("10.0.1.2:5301"),
		LocalAddrs: []netip.Addr{netip.MustParseAddr("10.0.1.1"), netip.MustParseAddr("10.0.2.1")},
		Subflows:   []pm.Subflow{{ID: 1, Local: ap("10.0.1.1:61000"), Remote: ap("10.0.1.2:5301")}}}
	var p pairedPM
	out := p.Handle(pm.Event{Kind: pm.AddrAnnounced, Addr: ap("10.0.2.2:0")}, st, nil)
	if len(out) != 1 || out[0].Kind != pm.OpenSubflow || out[0].Local != ap("10.0.2.1:0") || out[0].Remote != ap("10.0.2.2:5301") {
		t.Fatalf("announcement of path 2's address: %+v", out)
	}
	st.Subflows = append(st.Subflows, pm.Subflow{ID: 2, Local: ap("10.0.2.1:61001"), Remote: ap("10.0.2.2:5301")})
	if out := p.Handle(pm.Event{Kind: pm.AddrAnnounced, Addr: ap("10.0.2.2:0")}, st, nil); len(out) != 0 {
		t.Errorf("second announcement: %+v", out)
	}
	if out := p.Handle(pm.Event{Kind: pm.AddrAnnounced, Addr: ap("10.0.3.2:0")}, st, nil); len(out) != 0 {
		t.Errorf("no local address on that subnet: %+v", out)
	}
	st.Client = false
	if out := p.Handle(pm.Event{Kind: pm.AddrAnnounced, Addr: ap("10.0.2.2:0")}, st, nil); len(out) != 0 {
		t.Errorf("server acted: %+v", out)
	}
	if n := testing.AllocsPerRun(100, func() {
		out = p.Handle(pm.Event{Kind: pm.AddrAnnounced, Addr: ap("10.0.3.2:0")}, st, out[:0])
	}); n != 0 {
		t.Errorf("Handle allocates %.1f times", n)
	}
}

func TestSockaddr(t *testing.T) {
	b := make([]byte, 128)
	binary.NativeEndian.PutUint16(b, unix.AF_INET)
	b[2], b[3] = 0x14, 0xb5
	copy(b[4:], []byte{10, 0, 2, 2})
	if got := sockaddr(b); got != netip.MustParseAddrPort("10.0.2.2:5301") {
		t.Errorf("IPv4: %v", got)
	}
	b = make([]byte, 128)
	binary.NativeEndian.PutUint16(b, unix.AF_INET6)
	b[2], b[3] = 0x14, 0xb5
	copy(b[8:], netip.MustParseAddr("fd00:1::2").AsSlice())
	if got := sockaddr(b); got != netip.MustParseAddrPort("[fd00:1::2]:5301") {
		t.Errorf("IPv6: %v", got)
	}
}

func netipAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

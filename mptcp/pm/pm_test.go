package pm

import (
	"net/netip"
	"slices"
	"testing"
)

var (
	l1 = netip.MustParseAddr("10.0.1.2")
	l2 = netip.MustParseAddr("10.0.2.2")
	l6 = netip.MustParseAddr("fd00::2")
	r1 = netip.MustParseAddrPort("10.0.1.1:5001")
	r2 = netip.MustParseAddrPort("10.0.2.1:5001")
)

func clientState(local ...netip.Addr) *State {
	return &State{Client: true, InitialLocal: netip.AddrPortFrom(l1, 61000), InitialRemote: r1,
		LocalAddrs: local, RemoteAddrs: []RemoteAddr{{ID: 0, Addr: r1}},
		Subflows:    []Subflow{{ID: 0, Local: netip.AddrPortFrom(l1, 61000), Remote: r1}},
		MaxSubflows: 8}
}

func opens(out []Action) []string {
	var s []string
	for _, a := range out {
		if a.Kind == OpenSubflow {
			s = append(s, a.Local.String()+"→"+a.Remote.String())
		}
	}
	return s
}

func TestNDiffPorts(t *testing.T) {
	m, _ := New("ndiffports", 4)
	st := clientState(l1, l2)
	got := opens(m.Handle(Event{Kind: Established}, st, nil))
	want := []string{"10.0.1.2:0→10.0.1.1:5001", "10.0.1.2:0→10.0.1.1:5001", "10.0.1.2:0→10.0.1.1:5001"}
	if !slices.Equal(got, want) {
		t.Errorf("client opened %v, want three more subflows between the initial addresses with new ports: %v", got, want)
	}
	st.MaxSubflows = 2
	if got := opens(m.Handle(Event{Kind: Established}, st, nil)); len(got) != 1 {
		t.Errorf("with MaxSubflows 2 opened %v, want one", got)
	}
	st.Client = false
	if out := m.Handle(Event{Kind: Established}, st, nil); len(out) != 0 {
		t.Errorf("server acted: %v", out)
	}
	st.Client = true
	if out := m.Handle(Event{Kind: SubflowClosed, SubflowID: 1}, st, nil); len(out) != 0 {
		t.Errorf("a failed subflow was recreated: %v", out)
	}
}

func TestFullMeshClient(t *testing.T) {
	m, _ := New("fullmesh", 0)
	st := clientState(l1, l2, l6)
	got := opens(m.Handle(Event{Kind: Established}, st, nil))
	if want := []string{"10.0.2.2:0→10.0.1.1:5001"}; !slices.Equal(got, want) {
		t.Errorf("on establishment opened %v, want %v (IPv6 address skipped for an IPv4 peer)", got, want)
	}
	st.Subflows = append(st.Subflows, Subflow{ID: 1, Local: netip.AddrPortFrom(l2, 61001), Remote: r1})
	st.RemoteAddrs = append(st.RemoteAddrs, RemoteAddr{ID: 1, Addr: r2})
	got = opens(m.Handle(Event{Kind: AddrAnnounced, AddrID: 1, Addr: r2}, st, nil))
	if want := []string{"10.0.1.2:0→10.0.2.1:5001", "10.0.2.2:0→10.0.2.1:5001"}; !slices.Equal(got, want) {
		t.Errorf("on ADD_ADDR opened %v, want %v", got, want)
	}
	st.MaxSubflows = 3
	if got := opens(m.Handle(Event{Kind: AddrAnnounced, AddrID: 1, Addr: r2}, st, nil)); len(got) != 1 {
		t.Errorf("with MaxSubflows 3 and two subflows opened %v, want one", got)
	}
}

func TestFullMeshRespectsDenyJoinInitial(t *testing.T) {
	m, _ := New("fullmesh", 0)
	st := clientState(l1, l2)
	st.DenyJoinInitial = true // the peer's C flag (RFC 8684 §3.1)
	if got := opens(m.Handle(Event{Kind: Established}, st, nil)); len(got) != 0 {
		t.Errorf("joined the initial address despite the C flag: %v", got)
	}
	st.RemoteAddrs = append(st.RemoteAddrs, RemoteAddr{ID: 1, Addr: r2})
	if got := opens(m.Handle(Event{Kind: AddrAnnounced, AddrID: 1, Addr: r2}, st, nil)); len(got) != 2 {
		t.Errorf("opened %v to the announced address, want two subflows", got)
	}
}

func TestFullMeshServerAnnounces(t *testing.T) {
	m, _ := New("fullmesh", 0)
	st := &State{InitialLocal: r1, InitialRemote: netip.AddrPortFrom(l1, 61000),
		LocalAddrs:  []netip.Addr{r1.Addr(), r2.Addr(), netip.MustParseAddr("fd00::1"), netip.MustParseAddr("10.0.3.1")},
		MaxSubflows: 8}
	out := m.Handle(Event{Kind: Established}, st, nil)
	var got []string
	for _, a := range out {
		if a.Kind != Announce {
			t.Errorf("server asked for %v", a)
			continue
		}
		got = append(got, a.Local.String()+"#"+string(rune('0'+a.AddrID)))
	}
	if want := []string{"10.0.2.1:0#1", "10.0.3.1:0#2"}; !slices.Equal(got, want) {
		t.Errorf("announced %v, want %v (same family, not the initial address, IDs from 1)", got, want)
	}
}

func TestManualDoesNothing(t *testing.T) {
	m, _ := New("manual", 0)
	for _, k := range []EventKind{Established, SubflowOpened, SubflowClosed, AddrAnnounced, AddrRemoved} {
		if out := m.Handle(Event{Kind: k}, clientState(l1, l2), nil); len(out) != 0 {
			t.Errorf("event %d: %v", k, out)
		}
	}
}

func TestRegistry(t *testing.T) {
	if got, want := Names(), []string{"fullmesh", "manual", "ndiffports"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if _, ok := New("nope", 0); ok {
		t.Error("New of an unknown manager succeeded")
	}
}

func TestHandleAllocatesNothing(t *testing.T) {
	st := clientState(l1, l2)
	st.RemoteAddrs = append(st.RemoteAddrs, RemoteAddr{ID: 1, Addr: r2})
	out := make([]Action, 0, 16)
	for _, name := range Names() {
		m, _ := New(name, 4)
		if n := testing.AllocsPerRun(100, func() { out = m.Handle(Event{Kind: Established}, st, out[:0]) }); n != 0 {
			t.Errorf("%s: %v allocations per event", name, n)
		}
	}
}

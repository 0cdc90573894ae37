package sched

import (
	"slices"
	"testing"
	"time"
)

const ms = time.Millisecond

// sub is a usable subflow with room for ten segments.
func sub(id int, srtt time.Duration) Subflow {
	return Subflow{ID: id, SRTT: srtt, Usable: true, Room: 14600, MSS: 1460}
}

func pick(s Scheduler, subs []Subflow) []int { return s.Select(subs, nil) }

func TestLowestRTT(t *testing.T) {
	s, _ := New("lowrtt")
	for _, tc := range []struct {
		name string
		subs []Subflow
		want []int
	}{
		{"lowest SRTT", []Subflow{sub(1, 30*ms), sub(2, 10*ms), sub(3, 20*ms)}, []int{1}},
		{"unsampled first", []Subflow{sub(1, 10*ms), sub(2, 0)}, []int{1}},
		{"busy skipped", []Subflow{func() Subflow { x := sub(1, 5*ms); x.Room = 100; return x }(), sub(2, 50*ms)}, []int{1}},
		{"unusable skipped", []Subflow{func() Subflow { x := sub(1, 5*ms); x.Usable = false; return x }(), sub(2, 50*ms)}, []int{1}},
		{"backup not used while a regular one is busy", []Subflow{
			func() Subflow { x := sub(1, 50*ms); x.Room = 0; return x }(),
			func() Subflow { x := sub(2, 5*ms); x.Backup = true; return x }()}, nil},
		{"backup used when no regular one is usable", []Subflow{
			func() Subflow { x := sub(1, 50*ms); x.Usable = false; return x }(),
			func() Subflow { x := sub(2, 5*ms); x.Backup = true; return x }()}, []int{1}},
		{"nothing", nil, nil},
	} {
		if got := pick(s, tc.subs); !slices.Equal(got, tc.want) {
			t.Errorf("%s: picked %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRoundRobin(t *testing.T) {
	s, _ := New("roundrobin")
	subs := []Subflow{sub(1, 10*ms), sub(2, 10*ms), sub(3, 10*ms)}
	var got []int
	for range 6 {
		got = append(got, pick(s, subs)...)
	}
	if want := []int{0, 1, 2, 0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("turns %v, want %v", got, want)
	}
	subs[1].Room = 0 // busy: its turn passes to the next
	got = got[:0]
	for range 4 {
		got = append(got, pick(s, subs)...)
	}
	if want := []int{0, 2, 0, 2}; !slices.Equal(got, want) {
		t.Errorf("turns with subflow 2 busy %v, want %v", got, want)
	}
}

func TestRedundant(t *testing.T) {
	s, _ := New("redundant")
	subs := []Subflow{sub(1, 10*ms), sub(2, 20*ms), func() Subflow { x := sub(3, 5*ms); x.Backup = true; return x }()}
	if got := pick(s, subs); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("picked %v, want the two regular subflows", got)
	}
	subs[0].Usable, subs[1].Usable = false, false
	if got := pick(s, subs); !slices.Equal(got, []int{2}) {
		t.Errorf("picked %v, want the backup once no regular subflow is usable", got)
	}
}

func TestSelectRetransmit(t *testing.T) {
	subs := []Subflow{sub(1, 5*ms), sub(2, 30*ms), sub(3, 20*ms), func() Subflow { x := sub(4, 1*ms); x.Backup = true; return x }()}
	if i := SelectRetransmit(subs, 1); subs[i].ID != 3 {
		t.Errorf("reinjection from 1 went to %d, want 3 (lowest RTT of the others, backups last)", subs[i].ID)
	}
	if i := SelectRetransmit(subs, -1); subs[i].ID != 1 {
		t.Errorf("reinjection from nowhere went to %d, want 1", subs[i].ID)
	}
	subs[1].Room, subs[2].Room, subs[0].Usable = 0, 0, false
	if i := SelectRetransmit(subs, 1); i != -1 {
		t.Errorf("regular subflows merely busy: reinjection went to index %d, want -1 (wait, not the backup)", i)
	}
	subs[1].Usable, subs[2].Usable = false, false
	if i := SelectRetransmit(subs, 1); i < 0 || subs[i].ID != 4 {
		t.Errorf("no regular subflow usable: the backup must take it; got index %d", i)
	}
	subs[3].Room = 0
	if i := SelectRetransmit(subs, 1); i != -1 {
		t.Errorf("no room anywhere: got index %d, want -1", i)
	}
}

func TestRegistry(t *testing.T) {
	if got, want := Names(), []string{"lowrtt", "redundant", "roundrobin"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if _, ok := New("nope"); ok {
		t.Error("New of an unknown scheduler succeeded")
	}
	if _, ok := New(Default); !ok {
		t.Error("the default scheduler is not registered")
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a name twice did not panic")
		}
	}()
	Register("lowrtt", func() Scheduler { return LowestRTT{} })
}

func TestSelectAllocatesNothing(t *testing.T) {
	subs := []Subflow{sub(1, 10*ms), sub(2, 20*ms), sub(3, 5*ms)}
	dst := make([]int, 0, 8)
	for _, name := range Names() {
		s, _ := New(name)
		if n := testing.AllocsPerRun(100, func() { dst = s.Select(subs, dst[:0]) }); n != 0 {
			t.Errorf("%s: %v allocations per Select", name, n)
		}
	}
}

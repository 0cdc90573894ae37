package xsk

import (
	"testing"
)

func TestUMEMStack(t *testing.T) {
	for _, frames := range []int{1, 63, 64, 100} {
		u, err := NewUMEM(UMEMConfig{FrameSize: 2048, Frames: frames})
		if err != nil {
			t.Fatal(err)
		}
		if u.Available() != frames || u.FrameSize() != 2048 || u.Frames() != frames {
			t.Fatalf("%d frames: available %d", frames, u.Available())
		}
		seen := map[uint64]bool{}
		for i := range frames {
			a, ok := u.Alloc()
			if !ok || a%2048 != 0 || a >= uint64(frames*2048) || seen[a] {
				t.Fatalf("alloc %d: %#x %v", i, a, ok)
			}
			if i == 0 && a != 0 {
				t.Errorf("first frame %#x, want 0", a)
			}
			seen[a] = true
		}
		if _, ok := u.Alloc(); ok {
			t.Fatal("Alloc from an empty stack")
		}
		// Free takes any address inside a frame; LIFO order.
		last := uint64(frames-1) * 2048
		u.Free(last + 100)
		if a, _ := u.Alloc(); a != last {
			t.Errorf("LIFO: got %#x, want %#x", a, last)
		}
		u.Free(last)
		mustPanic(t, "double free", func() { u.Free(last + 5) })
		mustPanic(t, "free outside", func() { u.Free(uint64(frames) * 2048) })
		if err := u.Reset(); err != nil || u.Available() != frames {
			t.Fatalf("Reset: %v, %d", err, u.Available())
		}
		mustPanic(t, "double free after reset", func() { u.Free(uint64(frames-1) * 2048) })
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUMEMBatch(t *testing.T) {
	u, err := NewUMEM(UMEMConfig{Frames: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	addrs := make([]uint64, 64)
	if n := u.AllocN(addrs); n != 64 || u.Available() != 36 {
		t.Fatalf("AllocN %d, available %d", n, u.Available())
	}
	more := make([]uint64, 64)
	if n := u.AllocN(more); n != 36 {
		t.Fatalf("AllocN %d of the last 36", n)
	}
	u.FreeN(addrs)
	u.FreeN(more[:36])
	if u.Available() != 100 {
		t.Fatal("frames lost")
	}
	allocs := testing.AllocsPerRun(100, func() {
		n := u.AllocN(addrs)
		u.FreeN(addrs[:n])
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestUMEMFrame(t *testing.T) {
	u, err := NewUMEM(UMEMConfig{Frames: 4, Headroom: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if u.Headroom() != 64 {
		t.Error("headroom")
	}
	f := u.Frame(4096+100, 200)
	if len(f) != 200 || cap(f) != 4096-100 {
		t.Errorf("len %d cap %d", len(f), cap(f))
	}
	f[0] = 7
	if u.Frame(4096+100, 1)[0] != 7 {
		t.Error("Frame is not a view")
	}
	if u.Base(4096+100) != 4096 {
		t.Error("Base")
	}
	mustPanic(t, "frame crossing", func() { u.Frame(4096+100, 4000) })
	mustPanic(t, "frame outside", func() { u.Frame(4*4096, 1) })
	if off, ok := u.Offset(f[10:]); !ok || off != 4096+110 {
		t.Errorf("Offset of a view: %d, %v", off, ok)
	}
	if _, ok := u.Offset(append([]byte(nil), f...)); ok {
		t.Error("a copy counts as a view into the UMEM")
	}
	if _, ok := u.Offset(nil); ok {
		t.Error("an empty slice counts as a view")
	}
}

func BenchmarkUMEMAllocFree(b *testing.B) {
	u, err := NewUMEM(UMEMConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	addrs := make([]uint64, 64)
	for b.Loop() {
		n := u.AllocN(addrs)
		u.FreeN(addrs[:n])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/64, "ns/frame")
}

// TestUMEMRuns: runs sit at the end of the UMEM, out of Alloc's reach;
// a run's frames are consecutive, Span views them as one buffer, and the
// run is free again only when every frame is, in any order.
func TestUMEMRuns(t *testing.T) {
	if _, err := NewUMEM(UMEMConfig{Frames: 8, Runs: 3, RunFrames: 3}); err == nil {
		t.Error("9 run frames in 8: no error")
	}
	if _, err := NewUMEM(UMEMConfig{Frames: 8, Runs: 2}); err == nil {
		t.Error("runs without RunFrames: no error")
	}
	u, err := NewUMEM(UMEMConfig{Frames: 10, Runs: 2, RunFrames: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if u.Available() != 4 || u.RunsAvailable() != 2 || u.Runs() != 2 || u.RunFrames() != 3 {
		t.Fatalf("available %d frames, %d runs", u.Available(), u.RunsAvailable())
	}
	for range 4 {
		if a, _ := u.Alloc(); a >= 4*4096 {
			t.Fatalf("Alloc returned run frame %#x", a)
		}
	}
	if _, ok := u.Alloc(); ok {
		t.Fatal("Alloc took a run's frame")
	}
	r1, ok1 := u.AllocRun()
	r2, ok2 := u.AllocRun()
	if !ok1 || !ok2 || r1 != 4*4096 || r2 != 7*4096 {
		t.Fatalf("runs %#x %v, %#x %v; want 0x4000 and 0x7000", r1, ok1, r2, ok2)
	}
	if _, ok := u.AllocRun(); ok {
		t.Fatal("a third run from two")
	}
	// One buffer across the three frames.
	s := u.Span(r1+14, 9000)
	if len(s) != 9000 || cap(s) != 3*4096-14 {
		t.Fatalf("span len %d cap %d", len(s), cap(s))
	}
	s[4096] = 9
	if u.Frame(r1+4096+14, 1)[0] != 9 {
		t.Error("Span is not a view of the run's frames")
	}
	mustPanic(t, "span across the run's end", func() { u.Span(r1+14, 3*4096) })
	mustPanic(t, "span outside runs", func() { u.Span(0, 10) })
	// Frames come back one by one; the run is free after the last.
	u.Free(r1 + 2*4096)
	u.Free(r1 + 100)
	if u.RunsAvailable() != 0 || u.Available() != 0 {
		t.Fatalf("a partly freed run is available (%d)", u.RunsAvailable())
	}
	mustPanic(t, "double free of a run frame", func() { u.Free(r1) })
	u.Free(r1 + 4096)
	if a, ok := u.AllocRun(); !ok || a != r1 {
		t.Fatalf("run back: %#x %v", a, ok)
	}
	for _, a := range []uint64{r1, r1 + 4096, r1 + 8192, r2, r2 + 4096, r2 + 8192} {
		u.Free(a)
	}
	if u.RunsAvailable() != 2 {
		t.Fatalf("%d runs after freeing both", u.RunsAvailable())
	}
	allocs := testing.AllocsPerRun(100, func() {
		a, _ := u.AllocRun()
		for i := range uint64(3) {
			u.Free(a + i*4096)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
	if err := u.Reset(); err != nil || u.RunsAvailable() != 2 || u.Available() != 4 {
		t.Fatalf("Reset: %v", err)
	}
}

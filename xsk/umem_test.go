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

package xsk

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// Rings laid out in ordinary memory, with the test playing the kernel.

func testRing(r *ring, size, start uint32, desc bool) []byte {
	off := testRingOffsets()
	mem := testRingMem(size, desc)
	binary.NativeEndian.PutUint32(mem[off.Producer:], start)
	binary.NativeEndian.PutUint32(mem[off.Consumer:], start)
	ringView(r, mem, off, size)
	return mem
}

func newTestFill(size, start uint32) *FillRing {
	f := &FillRing{}
	mem := testRing(&f.ring, size, start, false)
	f.addrs = addrRing(mem, testRingOffsets(), size)
	return f
}

func newTestRX(size, start uint32) *RXRing {
	r := &RXRing{}
	mem := testRing(&r.ring, size, start, true)
	r.descs = descRing(mem, testRingOffsets(), size)
	return r
}

func newTestTX(size, start uint32) *TXRing {
	r := &TXRing{}
	mem := testRing(&r.ring, size, start, true)
	r.descs = descRing(mem, testRingOffsets(), size)
	return r
}

func newTestComp(size, start uint32) *CompRing {
	c := &CompRing{}
	mem := testRing(&c.ring, size, start, false)
	c.addrs = addrRing(mem, testRingOffsets(), size)
	return c
}

// kernelConsume plays the kernel consuming up to n entries of a ring we
// produce; it returns the entries' slots.
func kernelConsume(r *ring, n int) []uint32 {
	cons, prod := r.consumer.Load(), r.producer.Load()
	var slots []uint32
	for ; cons != prod && len(slots) < n; cons++ {
		slots = append(slots, cons&r.mask)
	}
	r.consumer.Store(cons)
	return slots
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

// Start indices just below 2^32 so that every test also wraps the
// free-running indices.
var wrapStart uint32 = 0xfffffffa

func TestFillRing(t *testing.T) {
	f := newTestFill(8, wrapStart)
	if got := f.Reserve(10); got != 8 {
		t.Fatalf("Reserve(10) on an empty 8-ring: %d", got)
	}
	for i := range 8 {
		f.Set(i, uint64(i)*4096)
	}
	mustPanic(t, "Set outside the reservation", func() { f.Set(8, 0) })
	if p := f.producer.Load(); p != wrapStart {
		t.Fatalf("producer moved before Submit: %#x", p)
	}
	f.Submit()
	if p := f.producer.Load(); p != wrapStart+8 {
		t.Fatalf("producer %#x after Submit, want %#x", p, wrapStart+8)
	}
	if got := f.Reserve(1); got != 0 {
		t.Fatalf("Reserve on a full ring: %d", got)
	}
	slots := kernelConsume(&f.ring, 3)
	for i, s := range slots {
		if f.addrs[s] != uint64(i)*4096 {
			t.Errorf("entry %d: %#x", i, f.addrs[s])
		}
	}
	if got := f.Reserve(5); got != 3 {
		t.Fatalf("Reserve(5) with 3 free: %d", got)
	}
	f.Cancel(1)
	mustPanic(t, "Cancel beyond the reservation", func() { f.Cancel(3) })
	f.Set(0, 0xa000)
	f.Set(1, 0xb000)
	f.Submit()
	if n := f.Push([]uint64{0xc000, 0xd000}); n != 1 {
		t.Fatalf("Push of 2 with 1 free: %d", n)
	}
	slots = kernelConsume(&f.ring, 8)
	want := []uint64{3 * 4096, 4 * 4096, 5 * 4096, 6 * 4096, 7 * 4096, 0xa000, 0xb000, 0xc000}
	for i, s := range slots {
		if f.addrs[s] != want[i] {
			t.Errorf("entry %d: %#x, want %#x", i, f.addrs[s], want[i])
		}
	}
	if f.Free() != 8 {
		t.Errorf("Free %d on a drained ring", f.Free())
	}
	if f.NeedWakeup() {
		t.Error("NeedWakeup with the flag clear")
	}
	f.flags.Store(unix.XDP_RING_NEED_WAKEUP)
	if !f.NeedWakeup() {
		t.Error("NeedWakeup with the flag set")
	}
}

func TestTXRing(t *testing.T) {
	tx := newTestTX(4, wrapStart)
	d := []Desc{{Addr: 1, Len: 10}, {Addr: 2, Len: 20, Options: PktContd}, {Addr: 3, Len: 30}}
	if n := tx.Push(d); n != 3 || tx.Pending() != 3 {
		t.Fatalf("Push %d, pending %d", n, tx.Pending())
	}
	slots := kernelConsume(&tx.ring, 2)
	if tx.descs[slots[1]] != d[1] || !tx.descs[slots[1]].Continues() {
		t.Errorf("second descriptor %+v", tx.descs[slots[1]])
	}
	if tx.Pending() != 1 || tx.Free() != 3 {
		t.Errorf("pending %d, free %d", tx.Pending(), tx.Free())
	}
	if tx.Reserve(4) != 3 {
		t.Error("Reserve did not see the consumed entries")
	}
	tx.Set(2, Desc{Addr: 9})
	tx.Submit()

	// A chain that does not fit waits whole.
	tx = newTestTX(4, wrapStart)
	chain := []Desc{{Addr: 1, Options: PktContd}, {Addr: 2, Options: PktContd}, {Addr: 3}}
	if n := tx.Push([]Desc{{Addr: 0}, {Addr: 9}}); n != 2 {
		t.Fatal(n)
	}
	if n := tx.Push(chain); n != 0 {
		t.Fatalf("pushed %d descriptors of a 3-chain into 2 free slots", n)
	}
	if tx.Pending() != 2 || tx.cachedProd != tx.prod {
		t.Fatalf("reservation left behind: pending %d", tx.Pending())
	}
	kernelConsume(&tx.ring, 2)
	if n := tx.Push(append(chain, chain...)); n != 3 {
		t.Fatalf("pushed %d of two 3-chains into 4 slots, want 3", n)
	}
}

// kernelProduce plays the kernel producing entries on a ring it produces.
func kernelProduceRX(r *RXRing, descs ...Desc) {
	p := r.producer.Load()
	for _, d := range descs {
		r.descs[p&r.mask] = d
		p++
	}
	r.producer.Store(p)
}

func TestRXRing(t *testing.T) {
	r := newTestRX(8, wrapStart)
	buf := make([]Desc, 16)
	if r.Peek(buf) != 0 {
		t.Fatal("Peek on an empty ring")
	}
	var in []Desc
	for i := range 6 {
		in = append(in, Desc{Addr: uint64(i) << 12, Len: uint32(60 + i)})
	}
	kernelProduceRX(r, in...)
	if n := r.Peek(buf[:4]); n != 4 || buf[3] != in[3] {
		t.Fatalf("Peek 4: %d, %+v", n, buf[3])
	}
	if n := r.Peek(buf); n != 6 || buf[0] != in[0] || buf[5] != in[5] {
		t.Fatalf("Peek again: %d", n)
	}
	r.Release(2)
	if c := r.consumer.Load(); c != wrapStart+2 {
		t.Fatalf("consumer %#x", c)
	}
	mustPanic(t, "Release beyond the peeked", func() { r.Release(5) })
	if n := r.Peek(buf); n != 4 || buf[0] != in[2] {
		t.Fatalf("Peek after Release: %d %+v", n, buf[0])
	}
	kernelProduceRX(r, Desc{Addr: 0x9000})
	if n := r.Peek(buf); n != 5 || buf[4].Addr != 0x9000 {
		t.Fatalf("Peek did not refresh the producer: %d", n)
	}
	r.Release(5)
	if r.Peek(buf) != 0 {
		t.Error("entries left")
	}
}

func TestCompRing(t *testing.T) {
	c := newTestComp(4, wrapStart)
	p := c.producer.Load()
	for i := range uint32(3) {
		c.addrs[(p+i)&c.mask] = uint64(i) << 11
	}
	c.producer.Store(p + 3)
	buf := make([]uint64, 2)
	if n := c.Peek(buf); n != 2 || buf[1] != 1<<11 {
		t.Fatalf("Peek %d %v", n, buf)
	}
	c.Release(2)
	if n := c.Peek(buf); n != 1 || buf[0] != 2<<11 {
		t.Fatalf("Peek %d %v", n, buf)
	}
	c.Release(1)
}

func TestRingAllocs(t *testing.T) {
	f := newTestFill(256, 0)
	r := newTestRX(256, 0)
	addrs := make([]uint64, 64)
	descs := make([]Desc, 64)
	allocs := testing.AllocsPerRun(100, func() {
		f.Push(addrs)
		kernelConsume(&f.ring, 0)
		f.consumer.Store(f.producer.Load())
		r.producer.Add(64)
		n := r.Peek(descs)
		r.Release(n)
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

// BenchmarkRingBatch is one batch of 64 through the user side of a fill
// and an RX ring, with the kernel's side reduced to index moves.
func BenchmarkRingBatch(b *testing.B) {
	f := newTestFill(2048, 0)
	r := newTestRX(2048, 0)
	descs := make([]Desc, 64)
	b.ReportAllocs()
	for b.Loop() {
		r.producer.Add(64)
		n := r.Peek(descs)
		k := f.Reserve(n)
		for i := range k {
			f.Set(i, descs[i].Addr)
		}
		f.Submit()
		r.Release(n)
		f.consumer.Add(uint32(k))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/64, "ns/pkt")
}

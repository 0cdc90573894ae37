package cksum

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// referenceFold is the RFC 1071 §4.1 loop, independent of the package's
// Partial machinery: the oracle every implementation is compared with.
func referenceFold(b []byte) uint16 {
	var s uint64 // cannot overflow for any slice that fits in memory
	for len(b) >= 2 {
		s += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// forEachImpl runs f with every implementation this CPU supports forced.
func forEachImpl(t testing.TB, f func(name string)) {
	for _, name := range Implementations() {
		restore, err := Use(name)
		if err != nil {
			t.Fatal(err)
		}
		f(name)
		restore()
	}
}

func TestImplementationsIncludeSIMDWhereSupported(t *testing.T) {
	names := Implementations()
	if names[0] != "reference" || names[1] != "generic" {
		t.Fatalf("Implementations() = %v; want reference and generic first", names)
	}
	if Active() != names[len(names)-1] {
		t.Errorf("Active() = %q, want the fastest, %q", Active(), names[len(names)-1])
	}
	if _, err := Use("no-such"); err == nil {
		t.Error("Use of an unknown implementation succeeded")
	}
}

// TestDifferential compares every implementation, through the public Sum
// and CopyAndSum (which take the direct assembly paths when the
// implementation is active), with the reference loop on seeded random
// buffers of every length 0..4096 at every alignment 0..63: 262,208
// buffers per implementation (-short samples 8 alignments per length).
func TestDifferential(t *testing.T) {
	const maxLen = 4096
	aligns := 64
	if testing.Short() {
		aligns = 8
	}
	forEachImpl(t, func(name string) {
		rng := rand.New(rand.NewPCG(1, 2))
		buf := make([]byte, maxLen+64)
		dst := make([]byte, maxLen+64+64)
		checked := 0
		for n := 0; n <= maxLen; n++ {
			for i := range buf {
				buf[i] = byte(rng.Uint32())
			}
			for a := 0; a < aligns; a++ {
				align := a
				if testing.Short() {
					align = rng.IntN(64)
				}
				b := buf[align : align+n]
				want := referenceFold(b)
				if got := Sum(b, 0).Fold(); got != want {
					t.Fatalf("%s: Sum(len %d, align %d) fold = %#04x, want %#04x", name, n, align, got, want)
				}
				d := dst[(align*7)%64 : (align*7)%64+n+1]
				clear(d)
				if got := CopyAndSum(d[:n], b).Fold(); got != want {
					t.Fatalf("%s: CopyAndSum(len %d, align %d) fold = %#04x, want %#04x", name, n, align, got, want)
				}
				if !bytes.Equal(d[:n], b) || d[n] != 0 {
					t.Fatalf("%s: CopyAndSum(len %d, align %d) copied wrong bytes or past the end", name, n, align)
				}
				checked++
			}
		}
		t.Logf("%s: %d buffers agree with the reference", name, checked)
	})
}

func TestLargeBuffers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{65535, 65536, 1<<20 + 13} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := referenceFold(b)
		forEachImpl(t, func(name string) {
			if got := Sum(b, 0).Fold(); got != want {
				t.Errorf("%s: len %d fold %#04x, want %#04x", name, n, got, want)
			}
		})
	}
}

// TestEdgeValues checks the two one's-complement zeros: all-zero data folds
// to 0x0000 and all-0xFF data to 0xFFFF, never the other zero.
func TestEdgeValues(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 8, 31, 32, 33, 63, 64, 65, 127, 255, 256, 257, 1500, 4095, 4096, 9000, 65536} {
		zeros := make([]byte, n)
		ones := bytes.Repeat([]byte{0xff}, n)
		forEachImpl(t, func(name string) {
			if got := Sum(zeros, 0).Fold(); got != 0 {
				t.Errorf("%s: %d zero bytes fold to %#04x", name, n, got)
			}
			if got, want := Sum(ones, 0).Fold(), referenceFold(ones); got != want {
				t.Errorf("%s: %d 0xff bytes fold to %#04x, want %#04x", name, n, got, want)
			}
			if got := CopyAndSum(make([]byte, n), ones).Fold(); got != referenceFold(ones) {
				t.Errorf("%s: CopyAndSum of %d 0xff bytes folds to %#04x", name, n, got)
			}
		})
	}
	if got := Sum(bytes.Repeat([]byte{0xff}, 2), 0).Fold(); got != 0xffff {
		t.Errorf("0xffff folds to %#04x", got)
	}
}

// TestCombineAtOddOffsets splits buffers at random (often odd) points, sums
// the parts independently and recombines them.
func TestCombineAtOddOffsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for iter := 0; iter < 20000; iter++ {
		b := make([]byte, rng.IntN(3000))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := referenceFold(b)
		var s Partial
		off := 0
		for off < len(b) {
			n := min(len(b)-off, 1+rng.IntN(200))
			s = CombineAt(s, Sum(b[off:off+n], 0), off)
			off += n
		}
		if got := s.Fold(); got != want {
			t.Fatalf("iteration %d: recombined fold %#04x, want %#04x", iter, got, want)
		}
	}
}

func TestSumWithInitialEqualsConcatenation(t *testing.T) {
	a := []byte{1, 2, 3, 4, 5, 6}
	b := []byte{0xfe, 0xdc, 0xba}
	want := referenceFold(append(append([]byte{}, a...), b...))
	if got := Sum(b, Sum(a, 0)).Fold(); got != want {
		t.Errorf("Sum(b, Sum(a)) = %#04x, want %#04x", got, want)
	}
	if got := Combine(Sum(a, 0), Sum(b, 0)).Fold(); got != want {
		t.Errorf("Combine = %#04x, want %#04x", got, want)
	}
	// Checksum is the complement, and the receiver's sum including it is 0xffff.
	pkt := append(append([]byte{}, a...), 0, 0)
	binary.BigEndian.PutUint16(pkt[len(a):], Checksum(a, 0))
	if got := Sum(pkt, 0).Fold(); got != 0xffff {
		t.Errorf("verification sum %#04x, want 0xffff", got)
	}
}

func TestAddWidths(t *testing.T) {
	var b [14]byte
	binary.BigEndian.PutUint16(b[0:], 0xbeef)
	binary.BigEndian.PutUint32(b[2:], 0xdeadbeef)
	binary.BigEndian.PutUint64(b[6:], 0xfedcba9876543210)
	got := Partial(0).Add16(0xbeef).Add32(0xdeadbeef).Add64(0xfedcba9876543210).Fold()
	if want := referenceFold(b[:]); got != want {
		t.Errorf("Add16/32/64 fold %#04x, want %#04x", got, want)
	}
}

func TestPseudoHeaders(t *testing.T) {
	src4, dst4 := [4]byte{10, 0, 1, 2}, [4]byte{192, 168, 255, 254}
	ph4 := append(append(src4[:], dst4[:]...), 0, 6, 0x05, 0xdc)
	if got, want := IPv4PseudoHeader(src4, dst4, 6, 1500).Fold(), referenceFold(ph4); got != want {
		t.Errorf("IPv4 pseudo-header %#04x, want %#04x", got, want)
	}
	var src6, dst6 [16]byte
	for i := range src6 {
		src6[i], dst6[i] = byte(0xf0+i), byte(0x20+i*3)
	}
	ph6 := append(append(src6[:], dst6[:]...), 0, 1, 0x23, 0x45, 0, 0, 0, 6)
	if got, want := IPv6PseudoHeader(src6, dst6, 6, 0x12345).Fold(), referenceFold(ph6); got != want {
		t.Errorf("IPv6 pseudo-header %#04x, want %#04x", got, want)
	}
	var dss [16]byte
	binary.BigEndian.PutUint64(dss[0:], 0xeb0c_9d59_03b2_d04f)
	binary.BigEndian.PutUint32(dss[8:], 0x8000_0001)
	binary.BigEndian.PutUint16(dss[12:], 0xfffe)
	if got, want := DSSPseudoHeader(0xeb0c_9d59_03b2_d04f, 0x8000_0001, 0xfffe).Fold(), referenceFold(dss[:]); got != want {
		t.Errorf("DSS pseudo-header %#04x, want %#04x", got, want)
	}
}

// TestIncrementalUpdate rewrites 16- and 32-bit fields of random packets
// and compares RFC 1624 updates with a full recomputation.
func TestIncrementalUpdate(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for iter := 0; iter < 10000; iter++ {
		pkt := make([]byte, 20+2*rng.IntN(40))
		for i := range pkt {
			pkt[i] = byte(rng.Uint32())
		}
		check := Checksum(pkt, 0)
		off := 2 * rng.IntN(len(pkt)/2-1)
		if rng.IntN(2) == 0 {
			old := binary.BigEndian.Uint16(pkt[off:])
			nv := uint16(rng.Uint32())
			binary.BigEndian.PutUint16(pkt[off:], nv)
			if got, want := Update16(check, old, nv), Checksum(pkt, 0); got != want {
				t.Fatalf("Update16: %#04x, want %#04x", got, want)
			}
		} else {
			old := binary.BigEndian.Uint32(pkt[off:])
			nv := rng.Uint32()
			binary.BigEndian.PutUint32(pkt[off:], nv)
			if got, want := Update32(check, old, nv), Checksum(pkt, 0); got != want {
				t.Fatalf("Update32: %#04x, want %#04x", got, want)
			}
		}
	}
}

func TestZeroAllocations(t *testing.T) {
	src := make([]byte, 9000)
	dst := make([]byte, 9000)
	forEachImpl(t, func(name string) {
		var sink Partial
		if n := testing.AllocsPerRun(100, func() {
			sink = Sum(src, sink)
			sink = CopyAndSum(dst, src)
			sink = CombineAt(sink, Sum(src[:1499], 0), 1)
			sink = sink.Add16(uint16(Checksum(src[:64], IPv4PseudoHeader([4]byte{}, [4]byte{}, 6, 64))))
		}); n != 0 {
			t.Errorf("%s: %v allocations per run", name, n)
		}
		_ = sink
	})
}

func FuzzImplementations(f *testing.F) {
	f.Add([]byte{}, uint8(0), uint16(0))
	f.Add([]byte{0xff}, uint8(1), uint16(1))
	f.Add(bytes.Repeat([]byte{0xff, 0x00, 0x80}, 700), uint8(63), uint16(1023))
	f.Fuzz(func(t *testing.T, data []byte, align uint8, split uint16) {
		a := int(align % 64)
		buf := make([]byte, a+len(data))
		copy(buf[a:], data)
		b := buf[a:]
		want := referenceFold(b)
		for _, im := range available {
			if got := Partial(swapLE(im.sum(b))).Fold(); got != want {
				t.Fatalf("%s: sum fold %#04x, want %#04x", im.name, got, want)
			}
			dst := make([]byte, len(b))
			if got := Partial(swapLE(im.copySum(dst, b))).Fold(); got != want || !bytes.Equal(dst, b) {
				t.Fatalf("%s: copy-and-sum fold %#04x, want %#04x", im.name, got, want)
			}
		}
		s := int(split) % (len(b) + 1)
		forEachImpl(t, func(name string) {
			if got := CombineAt(Sum(b[:s], 0), Sum(b[s:], 0), s).Fold(); got != want {
				t.Fatalf("%s: split at %d: fold %#04x, want %#04x", name, s, got, want)
			}
			dst := make([]byte, len(b))
			if got := CopyAndSum(dst, b).Fold(); got != want || !bytes.Equal(dst, b) {
				t.Fatalf("%s: CopyAndSum fold %#04x, want %#04x", name, got, want)
			}
		})
	})
}

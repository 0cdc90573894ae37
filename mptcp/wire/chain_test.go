package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/mpxdp/mpxdp/cksum"
)

// splitChain cuts pkt into a head of at least headMin bytes and the rest
// at the given cut points (positions in pkt, ascending, each > headMin).
func splitChain(pkt []byte, cuts []int) (head []byte, rest [][]byte) {
	head = pkt[:cuts[0]]
	for i, c := range cuts {
		end := len(pkt)
		if i+1 < len(cuts) {
			end = cuts[i+1]
		}
		rest = append(rest, pkt[c:end])
	}
	return head, rest
}

// joinPieces concatenates a parsed segment's payload pieces.
func joinPieces(s *Segment) []byte {
	var out []byte
	for i := 0; i < s.NumPieces(); i++ {
		out = append(out, s.Piece(i)...)
	}
	return out
}

// TestParseSegmentChain: a packet cut into a chain of buffers at any
// points after its headers parses to the same segment as the packet in one
// buffer: same header fields and options, the same payload in pieces, the
// same payload sum (pieces of odd length included) and pseudo-header, a
// verifying checksum; padding after the IP length and empty buffers are
// not payload; a corrupted byte in any piece fails the checksum.
func TestParseSegmentChain(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 3000; iter++ {
		v6 := iter%2 == 1
		sv := segmentVariants()[rng.IntN(len(segmentVariants()))]
		var data []byte
		if sv.data {
			data = make([]byte, 1+rng.IntN(9000))
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
		}
		buf := make([]byte, 9200)
		h := TCPHeader{SrcPort: 40000, DstPort: 7000, Seq: rng.Uint32(), Ack: rng.Uint32(), Flags: sv.flags, Window: 512}
		n, _ := buildSegment(buf, v6, h, &sv.o, data)
		var one Segment
		if err := ParseSegment(buf[:n], &one, nil); err != nil {
			t.Fatalf("%s: %v", sv.name, err)
		}
		hdr := n - len(data)
		pad := 0
		if rng.IntN(4) == 0 {
			pad = rng.IntN(8) // link-layer padding after the packet
		}
		pkt := buf[:n+pad]
		// Cut points: the first anywhere from the end of the headers on.
		var cuts []int
		for c := hdr + rng.IntN(len(pkt)-hdr+1); c <= len(pkt); c += rng.IntN(4000) {
			cuts = append(cuts, c)
			if rng.IntN(3) == 0 {
				break
			}
		}
		head, rest := splitChain(pkt, cuts)
		if rng.IntN(5) == 0 {
			rest = append(rest, nil) // an empty buffer at the end
		}
		var s Segment
		var c Counters
		if err := ParseSegmentChain(head, rest, &s, &c); err != nil {
			t.Fatalf("%s cuts %v of %d (headers %d): %v", sv.name, cuts, n, hdr, err)
		}
		if !reflect.DeepEqual(s.Options, one.Options) || s.TCP.Seq() != one.TCP.Seq() || s.Version != one.Version {
			t.Fatalf("%s: chained parse differs from the flat one", sv.name)
		}
		if s.PayloadLen() != len(data) || !bytes.Equal(joinPieces(&s), data) {
			t.Fatalf("%s cuts %v: payload of %d bytes in %d pieces, want %d", sv.name, cuts, s.PayloadLen(), s.NumPieces(), len(data))
		}
		if s.Chained() != (len(data) > 0 && cuts[0] < n) {
			t.Fatalf("%s cuts %v: Chained %v", sv.name, cuts, s.Chained())
		}
		if s.PayloadSum().Fold() != cksum.Sum(data, 0).Fold() || s.PseudoHeader() != one.PseudoHeader() {
			t.Fatalf("%s cuts %v: payload sum or pseudo-header differ", sv.name, cuts)
		}
		if !s.ChecksumOK(s.PayloadSum()) {
			t.Fatalf("%s cuts %v: checksum does not verify", sv.name, cuts)
		}
		if len(data) > 0 {
			i := rng.IntN(s.NumPieces())
			if p := s.Piece(i); len(p) > 0 {
				p[rng.IntN(len(p))] ^= 0x10
				if s.ChecksumOK(s.PayloadSum()) {
					t.Fatalf("%s: a corrupted byte in piece %d verifies", sv.name, i)
				}
			}
		}
	}
}

// TestParseSegmentChainErrors: a chain shorter than the IP length is
// truncated, headers must sit in the first buffer, and a segment parsed
// after a chained one is not chained.
func TestParseSegmentChainErrors(t *testing.T) {
	buf := make([]byte, 4096)
	data := bytes.Repeat([]byte{7}, 3000)
	o := Options{}
	h := TCPHeader{SrcPort: 1, DstPort: 2, Flags: FlagACK}
	for _, v6 := range []bool{false, true} {
		n, _ := buildSegment(buf, v6, h, &o, data)
		hdr := n - len(data)
		var s Segment
		if err := ParseSegmentChain(buf[:1000], [][]byte{buf[1000 : n-1]}, &s, nil); !errors.Is(err, ErrTruncated) {
			t.Errorf("v6=%v: a chain one byte short: %v, want ErrTruncated", v6, err)
		}
		if err := ParseSegmentChain(buf[:hdr-1], [][]byte{buf[hdr-1 : n]}, &s, nil); !errors.Is(err, ErrTruncated) {
			t.Errorf("v6=%v: TCP header cut by the chain: %v, want ErrTruncated", v6, err)
		}
		if err := ParseSegmentChain(buf[:hdr], [][]byte{buf[hdr:n]}, &s, nil); err != nil || !s.Chained() {
			t.Fatalf("v6=%v: %v, chained %v", v6, err, s.Chained())
		}
		if err := ParseSegment(buf[:n], &s, nil); err != nil || s.Chained() || s.NumPieces() != 1 || s.PayloadLen() != len(data) {
			t.Errorf("v6=%v: a flat parse after a chained one: %v, chained %v, %d pieces", v6, err, s.Chained(), s.NumPieces())
		}
	}
}

// TestParseSegmentChainAllocs: parsing a chain and walking its pieces
// allocate nothing.
func TestParseSegmentChainAllocs(t *testing.T) {
	buf := make([]byte, 9100)
	n, _ := buildSegment(buf, false, TCPHeader{Flags: FlagACK}, &Options{}, make([]byte, 8900))
	rest := [][]byte{buf[3840:7680], buf[7680:n]}
	var s Segment
	allocs := testing.AllocsPerRun(100, func() {
		if ParseSegmentChain(buf[:3840], rest, &s, nil) != nil || !s.ChecksumOK(s.PayloadSum()) {
			t.Fatal("bad chain")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per chained parse", allocs)
	}
}

package wire

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/mpxdp/mpxdp/cksum"
)

// dssChecksumRef builds the 16-byte pseudo-header of RFC 8684 §3.3.1 in a
// buffer and checksums it with the payload in one pass: the oracle.
func dssChecksumRef(dsn uint64, ssn uint32, dataLen uint16, payload []byte) uint16 {
	b := make([]byte, 16, 16+len(payload))
	binary.BigEndian.PutUint64(b[0:], dsn)
	binary.BigEndian.PutUint32(b[8:], ssn)
	binary.BigEndian.PutUint16(b[12:], dataLen)
	return cksum.Checksum(append(b, payload...), 0)
}

// TestDSSChecksumSplitMappings checksums seeded random mappings cut into
// segments of random (often odd) lengths, combining the segments' partials
// with CombineAt, and compares with the one-pass oracle; then corrupts a
// byte and expects a failure.
func TestDSSChecksumSplitMappings(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	buf := make([]byte, 65535)
	for range 300 {
		n := 1 + rng.IntN(len(buf))
		mapping := buf[:n]
		for i := range mapping {
			mapping[i] = byte(rng.Uint32())
		}
		dsn, ssn := rng.Uint64(), rng.Uint32()
		fin := rng.IntN(8) == 0
		dataLen := uint16(n)
		if fin && n < 65535 {
			dataLen++
		}
		var sum cksum.Partial
		for off := 0; off < n; {
			seg := min(n-off, 1+rng.IntN(1500))
			sum = cksum.CombineAt(sum, cksum.Sum(mapping[off:off+seg], 0), off)
			off += seg
		}
		want := dssChecksumRef(dsn, ssn, dataLen, mapping)
		if got := DSSChecksum(dsn, ssn, dataLen, sum); got != want {
			t.Fatalf("len %d: DSSChecksum %#x, oracle %#x", n, got, want)
		}
		if !DSSChecksumOK(dsn, ssn, dataLen, want, sum) {
			t.Fatalf("len %d: DSSChecksumOK false", n)
		}
		mapping[rng.IntN(n)] ^= 0x01
		if DSSChecksumOK(dsn, ssn, dataLen, want, cksum.Sum(mapping, 0)) {
			t.Fatalf("len %d: corruption not detected", n)
		}
	}
	// The DATA_FIN-only mapping (SSN 0, length 1) covers the pseudo-header
	// only; the infinite mapping carries checksum 0 (INTEROP A.11).
	c := DSSChecksum(7, 0, 1, 0)
	if c != dssChecksumRef(7, 0, 1, nil) || !DSSChecksumOK(7, 0, 1, c, 0) {
		t.Errorf("DATA_FIN checksum %#x", c)
	}
	if DSSChecksum(7, 1, 0, 12345) != 0 {
		t.Error("infinite mapping checksum is not 0")
	}
}

func TestMapping(t *testing.T) {
	var o Options
	if _, ok := o.Mapping(); ok {
		t.Error("no mapping expected")
	}
	o.Has = OptDSS
	o.DSS = DSS{Flags: DSSDataAck | DSSMap | DSSDataFIN, DSN: 5, SubflowSeq: 6, DataLen: 7, Checksum: 8, HasChecksum: true}
	if m, ok := o.Mapping(); !ok || m != (Mapping{DSN: 5, SubflowSeq: 6, DataLen: 7, DataFIN: true, Checksum: 8, HasChecksum: true}) {
		t.Errorf("DSS mapping %+v", m)
	}
	o.DSS.Flags = DSSDataAck // ack only: no mapping
	if _, ok := o.Mapping(); ok {
		t.Error("DATA_ACK-only DSS has no mapping")
	}
	// RFC 8684 §3.1: MP_CAPABLE with data maps DSN IDSN+1, subflow seq 1.
	o.Has = OptMPCapableData
	o.MPCapable = MPCapable{Version: 1, Flags: 1, SenderKey: keyA, ReceiverKey: keyB, DataLen: 3000}
	m, ok := o.Mapping()
	if !ok || m != (Mapping{DSN: IDSN(keyA) + 1, DSN64: true, SubflowSeq: 1, DataLen: 3000, FromMPCapable: true}) {
		t.Errorf("MP_CAPABLE mapping %+v", m)
	}
}

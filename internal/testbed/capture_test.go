package testbed

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/internal/pcap"
)

// sum is the RFC 1071 sum of b added to s, folded.
func sum(b []byte, s uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// segment builds an IPv4/TCP packet with the given TCP options (a multiple
// of 4 bytes) and payload, with correct checksums.
func segment(opts, payload []byte) []byte {
	tcpLen := 20 + len(opts) + len(payload)
	p := make([]byte, 20+tcpLen)
	ip := p[:20]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(p)))
	ip[8] = 64
	ip[9] = 6
	copy(ip[12:], []byte{10, 0, 1, 2, 10, 0, 1, 1})
	binary.BigEndian.PutUint16(ip[10:], ^sum(ip, 0))
	tcp := p[20:]
	binary.BigEndian.PutUint16(tcp[0:], 61000)
	binary.BigEndian.PutUint16(tcp[2:], 5201)
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	binary.BigEndian.PutUint32(tcp[8:], 2000)
	tcp[12] = byte((20+len(opts))/4) << 4
	tcp[13] = 0x18 // PSH, ACK
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[20:], opts)
	copy(tcp[20+len(opts):], payload)
	pseudo := make([]byte, 12)
	copy(pseudo, ip[12:20])
	pseudo[9] = 6
	binary.BigEndian.PutUint16(pseudo[10:], uint16(tcpLen))
	binary.BigEndian.PutUint16(tcp[16:], ^sum(tcp, uint32(sum(pseudo, 0))))
	return p
}

func writePcap(t *testing.T, pkts ...[]byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "x.pcap")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcap.NewWriter(f, pcap.LinkRaw, 65535)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		if err := w.WritePacket(time.Unix(1, int64(i)*1000), p); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

// TestTsharkCheck proves that the capture check can fail: tshark's verdict
// on a well-formed MPTCP segment, on one with a bad TCP checksum and on one
// whose MPTCP option runs past the TCP header.
func TestTsharkCheck(t *testing.T) {
	NeedTools(t, "tshark")
	// DSS: DATA_ACK 32, DSN 32 + SSN + data-level length (no checksum),
	// length 18, then two NOPs.
	dss := []byte{30, 18, 0x20, 0x05, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1, 0, 4, 1, 1}
	good := segment(dss, []byte("data"))
	badSum := segment(dss, []byte("data"))
	badSum[len(badSum)-1] ^= 0xff
	// An MPTCP option claiming 40 bytes inside 20 bytes of options.
	long := append([]byte{}, dss...)
	long[1] = 40
	overrun := segment(long, []byte("data"))
	// A DSS whose flags announce a mapping but whose length has room for the
	// DATA_ACK only.
	short := append([]byte{}, dss...)
	short[1] = 8
	short[8], short[9] = 1, 1
	truncated := segment(short[:12], []byte("data"))

	// Random payload from a test transfer that tshark's Thrift heuristic
	// takes for a Thrift message and calls malformed: the check must not
	// dissect above TCP.
	random, err := os.ReadFile("testdata/random-payload.bin")
	if err != nil {
		t.Fatal(err)
	}
	lookalike := segment(dss, random)
	v, err := TsharkCheck(writePcap(t, good, good, lookalike))
	if err != nil {
		t.Fatal(err)
	}
	if v.Packets != 3 || v.MPTCP != 3 || len(v.Bad) != 0 {
		t.Fatalf("well-formed segments: %+v; want 3 packets, 3 MPTCP, none bad", v)
	}
	for name, pkt := range map[string][]byte{"bad TCP checksum": badSum, "option overrun": overrun, "DSS too short": truncated} {
		v, err := TsharkCheck(writePcap(t, good, pkt))
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Bad) != 1 {
			t.Errorf("%s: tshark verdict %+v; want exactly the second packet flagged", name, v)
		} else {
			t.Logf("%s: %s", name, v.Bad[0])
		}
	}
}

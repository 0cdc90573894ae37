package wire

import (
	"testing"

	"github.com/mpxdp/mpxdp/cksum"
)

func TestTCPEncodeParse(t *testing.T) {
	var b [MaxTCPHeaderLen + 10]byte
	h := TCPHeader{SrcPort: 57500, DstPort: 7000, Seq: 2904155495, Ack: 1153354295, Flags: FlagACK | FlagPSH, Window: 502, Urgent: 0}
	opts := mustHex(t, "0101080a 4f3ac923 23e0fd21")
	copy(b[TCPHeaderLen:], opts)
	hl := h.Encode(b[:], len(opts))
	copy(b[hl:], "0123456789")
	tcp, err := ParseTCP(b[:hl+10])
	if err != nil {
		t.Fatal(err)
	}
	if tcp.SrcPort() != 57500 || tcp.DstPort() != 7000 || tcp.Seq() != 2904155495 || tcp.Ack() != 1153354295 ||
		tcp.HeaderLen() != 32 || tcp.Flags() != FlagACK|FlagPSH || tcp.Reserved() != 0 || tcp.Window() != 502 ||
		tcp.Checksum() != 0 || tcp.Urgent() != 0 || string(tcp.Options()) != string(opts) ||
		string(tcp.Payload()) != "0123456789" || tcp.Len() != 42 || len(tcp.Header()) != 32 {
		t.Fatalf("fields do not round-trip: %x", b[:hl])
	}
	pseudo := cksum.IPv4PseudoHeader(testSrc4, testDst4, ProtocolTCP, uint16(tcp.Len()))
	payloadSum := cksum.Sum(tcp.Payload(), 0)
	SetTCPChecksum(tcp.Header(), pseudo, payloadSum)
	if !tcp.ChecksumOK(pseudo, payloadSum) {
		t.Error("checksum does not verify")
	}
	// The same as a one-pass checksum over pseudo-header, header and data.
	if want := cksum.Checksum(append(append([]byte(nil), tcp.Header()[:16]...), append([]byte{0, 0}, b[18:hl+10]...)...), pseudo); tcp.Checksum() != want {
		t.Errorf("checksum %#x, one pass %#x", tcp.Checksum(), want)
	}
	if tcp.ChecksumOK(pseudo.Add16(1), payloadSum) {
		t.Error("wrong pseudo-header verifies")
	}
}

func TestTCPEncodePanicsOnBadOptionLength(t *testing.T) {
	for _, n := range []int{-4, 2, 44} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("optLen %d: no panic", n)
				}
			}()
			var b [MaxTCPHeaderLen]byte
			(&TCPHeader{}).Encode(b[:], n)
		}()
	}
}

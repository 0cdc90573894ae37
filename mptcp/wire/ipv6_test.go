package wire

import (
	"errors"
	"testing"
)

func TestIPv6EncodeParse(t *testing.T) {
	var b [IPv6HeaderLen + 8]byte
	h := IPv6Header{TrafficClass: 0xb8, FlowLabel: 0xabcde, NextHeader: ProtocolTCP, HopLimit: 63, Src: testSrc6, Dst: testDst6, PayloadLen: 8}
	if n := h.Encode(b[:]); n != IPv6HeaderLen {
		t.Fatalf("Encode = %d", n)
	}
	p, err := ParseIPv6(b[:])
	if err != nil {
		t.Fatal(err)
	}
	if p.TrafficClass() != 0xb8 || p.FlowLabel() != 0xabcde || p.NextHeader() != ProtocolTCP || p.Protocol() != ProtocolTCP ||
		p.HopLimit() != 63 || p.Src() != testSrc6 || p.Dst() != testDst6 || p.PayloadLen() != 8 ||
		p.HeaderLen() != IPv6HeaderLen || len(p.Payload()) != 8 {
		t.Fatalf("fields do not round-trip: %x", b[:IPv6HeaderLen])
	}
	b[0] = 0x45
	if _, err := ParseIPv6(b[:]); !errors.Is(err, ErrVersion) {
		t.Error(err)
	}
}

func TestIPv6EncodePanicsOnJumbo(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	var b [IPv6HeaderLen]byte
	(&IPv6Header{PayloadLen: 65536}).Encode(b[:])
}

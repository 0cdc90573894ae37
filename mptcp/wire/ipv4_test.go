package wire

import (
	"net/netip"
	"testing"
)

func TestIPv4EncodeParse(t *testing.T) {
	var b [64]byte
	h := IPv4Header{TOS: 0x10, ID: 0x3e1f, DontFragment: true, TTL: 64, Protocol: ProtocolTCP, Src: testSrc4, Dst: testDst4, PayloadLen: 20}
	if n := h.Encode(b[:]); n != IPv4HeaderLen {
		t.Fatalf("Encode = %d", n)
	}
	// Ethernet padding after the total length is not part of the view.
	p, err := ParseIPv4(b[:60])
	if err != nil {
		t.Fatal(err)
	}
	if p.HeaderLen() != 20 || p.TotalLen() != 40 || p.TOS() != 0x10 || p.ID() != 0x3e1f || !p.DontFragment() ||
		p.MoreFragments() || p.FragmentOffset() != 0 || p.IsFragment() || p.TTL() != 64 || p.Protocol() != ProtocolTCP ||
		p.SrcAddr() != netip.AddrFrom4(testSrc4) || p.DstAddr() != netip.AddrFrom4(testDst4) ||
		len(p.Options()) != 0 || len(p.Payload()) != 20 || !p.HeaderChecksumOK() {
		t.Fatalf("fields do not round-trip: %x", b[:20])
	}
	// The checksum of a kernel header (join-signal frame 1: 0xe696).
	k := mustHex(t, "4500 0040 3e1f 4000 4006 e696 0a000102 0a000101")
	kp, err := ParseIPv4(append(k, make([]byte, 44)...))
	if err != nil || !kp.HeaderChecksumOK() {
		t.Fatalf("kernel header: %v", err)
	}
	put16(k[10:], 0)
	SetIPv4Checksum(k)
	if kp.Checksum() != 0xe696 {
		t.Errorf("SetIPv4Checksum wrote %#x", kp.Checksum())
	}
	// Options are skipped; fragments are flagged.
	opt := mustHex(t, "4600 0018 0001 2001 4006 0000 0a000102 0a000101 01010100")
	SetIPv4Checksum(opt[:24])
	op, err := ParseIPv4(opt)
	if err != nil || op.HeaderLen() != 24 || len(op.Options()) != 4 || len(op.Payload()) != 0 ||
		!op.MoreFragments() || op.FragmentOffset() != 8 || !op.IsFragment() || !op.HeaderChecksumOK() {
		t.Fatalf("options/fragment: %v", err)
	}
}

func TestIPv4EncodePanicsOnOversize(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	var b [20]byte
	(&IPv4Header{PayloadLen: 65516}).Encode(b[:])
}

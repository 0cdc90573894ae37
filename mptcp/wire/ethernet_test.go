package wire

import (
	"errors"
	"testing"
)

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0xa}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0xb}
)

func TestEthernet(t *testing.T) {
	var b [64]byte
	n := EncodeEthernet(b[:], macB, macA, EtherTypeIPv4)
	e, err := ParseEthernet(b[:n+4])
	if err != nil || e.Dst() != macB || e.Src() != macA || e.EtherType() != EtherTypeIPv4 ||
		e.HeaderLen() != EthernetHeaderLen || len(e.Payload()) != 4 || e.VLANTags() != 0 {
		t.Fatalf("untagged: %v %+v", err, e)
	}
	if _, ok := e.VLANID(); ok {
		t.Error("untagged frame has a VLAN ID")
	}
	n = EncodeEthernetVLAN(b[:], macB, macA, 42, EtherTypeIPv6)
	e, err = ParseEthernet(b[:n])
	if id, ok := e.VLANID(); err != nil || !ok || id != 42 || e.EtherType() != EtherTypeIPv6 || e.HeaderLen() != 18 || e.VLANTags() != 1 {
		t.Fatalf("tagged: %v %d %v", err, id, ok)
	}
	// QinQ: an 802.1ad tag then an 802.1Q tag.
	q := append([]byte(nil), b[:12]...)
	q = append(q, 0x88, 0xa8, 0, 100, 0x81, 0x00, 0, 200, 0x08, 0x06)
	e, err = ParseEthernet(q)
	if id, _ := e.VLANID(); err != nil || id != 200 || e.EtherType() != EtherTypeARP || e.VLANTags() != 2 {
		t.Fatalf("QinQ: %v", err)
	}
	three := append(append([]byte(nil), q[:12]...), 0x81, 0, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 0x08, 0)
	for _, tt := range []struct {
		b    []byte
		want error
	}{
		{b[:13], ErrTruncated},
		{q[:17], ErrTruncated},
		{three, ErrUnsupported},
	} {
		if _, err := ParseEthernet(tt.b); !errors.Is(err, tt.want) {
			t.Errorf("len %d: %v, want %v", len(tt.b), err, tt.want)
		}
	}
}

func TestARP(t *testing.T) {
	var b [ARPLen + 18]byte // Ethernet pads ARP to the minimum frame
	n := EncodeARP(b[:], ARPReply, macA, testSrc4, macB, testDst4)
	a, err := ParseARP(b[:])
	if err != nil || n != ARPLen || a.Op() != ARPReply || a.SenderHW() != macA || a.TargetHW() != macB ||
		a.SenderIP().As4() != testSrc4 || a.TargetIP().As4() != testDst4 {
		t.Fatalf("%v %+v", err, a)
	}
	if _, err := ParseARP(b[:ARPLen-1]); !errors.Is(err, ErrTruncated) {
		t.Error(err)
	}
	b[5] = 16 // IPv6-sized protocol address
	if _, err := ParseARP(b[:]); !errors.Is(err, ErrUnsupported) {
		t.Error(err)
	}
}

package pcap

import (
	"bytes"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, LinkRaw, 65535)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 123456000)
	pkts := [][]byte{{0x45, 1, 2, 3}, {}, bytes.Repeat([]byte{0xab}, 1500)}
	for i, p := range pkts {
		if err := w.WritePacket(t0.Add(time.Duration(i)*time.Millisecond), p); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.LinkType != LinkRaw || f.SnapLen != 65535 || len(f.Packets) != len(pkts) {
		t.Fatalf("header %+v, %d packets", f, len(f.Packets))
	}
	for i, p := range f.Packets {
		if !bytes.Equal(p.Data, pkts[i]) || p.OrigLen != len(pkts[i]) {
			t.Errorf("packet %d: %x", i, p.Data)
		}
		if want := t0.Add(time.Duration(i) * time.Millisecond); !p.Time.Equal(want) {
			t.Errorf("packet %d time %v, want %v", i, p.Time, want)
		}
	}
}

func TestParseRejectsDamage(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, LinkEthernet, 256)
	_ = w.WritePacket(time.Unix(0, 0), make([]byte, 60))
	b := buf.Bytes()
	for _, cut := range []int{0, 10, 30, len(b) - 1} {
		if _, err := Parse(b[:cut]); err == nil {
			t.Errorf("truncated at %d: no error", cut)
		}
	}
}

func TestNetworkLayer(t *testing.T) {
	eth := append(make([]byte, 12), 0x81, 0x00, 0, 1, 0x08, 0x00, 0x45)
	if got := NetworkLayer(LinkEthernet, eth); len(got) != 1 || got[0] != 0x45 {
		t.Errorf("VLAN-tagged Ethernet: %x", got)
	}
	sll2 := append([]byte{0x86, 0xdd}, make([]byte, 18)...)
	sll2 = append(sll2, 0x60)
	if got := NetworkLayer(LinkLinuxSLL2, sll2); len(got) != 1 || got[0] != 0x60 {
		t.Errorf("SLL2: %x", got)
	}
	arp := append(make([]byte, 12), 0x08, 0x06, 0)
	if got := NetworkLayer(LinkEthernet, arp); got != nil {
		t.Errorf("ARP returned %x", got)
	}
}

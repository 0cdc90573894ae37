package wire

import "net/netip"

// ARP operations (RFC 826).
const (
	ARPRequest = 1
	ARPReply   = 2
)

// ARPLen is the length of an Ethernet/IPv4 ARP packet.
const ARPLen = 28

// ARP is a view of an ARP packet for Ethernet hardware addresses and IPv4
// protocol addresses, the only kind the stack answers or sends.
type ARP struct{ b []byte }

// ParseARP checks that b holds an Ethernet/IPv4 ARP packet.
func ParseARP(b []byte) (ARP, error) {
	if len(b) < ARPLen {
		return ARP{}, ErrTruncated
	}
	if be16(b[0:]) != 1 || be16(b[2:]) != EtherTypeIPv4 || b[4] != 6 || b[5] != 4 {
		return ARP{}, ErrUnsupported
	}
	return ARP{b: b[:ARPLen]}, nil
}

// Op returns the operation (ARPRequest, ARPReply, …).
func (a ARP) Op() uint16 { return be16(a.b[6:]) }

// SenderHW returns the sender's MAC address.
func (a ARP) SenderHW() [6]byte { return [6]byte(a.b[8:14]) }

// SenderIP returns the sender's IPv4 address.
func (a ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(a.b[14:18])) }

// TargetHW returns the target's MAC address (zero in a request).
func (a ARP) TargetHW() [6]byte { return [6]byte(a.b[18:24]) }

// TargetIP returns the target's IPv4 address.
func (a ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(a.b[24:28])) }

// EncodeARP writes an Ethernet/IPv4 ARP packet into b (at least ARPLen
// bytes) and returns ARPLen.
func EncodeARP(b []byte, op uint16, senderHW [6]byte, senderIP [4]byte, targetHW [6]byte, targetIP [4]byte) int {
	_ = b[ARPLen-1]
	put16(b[0:], 1) // hardware type Ethernet
	put16(b[2:], EtherTypeIPv4)
	b[4], b[5] = 6, 4
	put16(b[6:], op)
	copy(b[8:14], senderHW[:])
	copy(b[14:18], senderIP[:])
	copy(b[18:24], targetHW[:])
	copy(b[24:28], targetIP[:])
	return ARPLen
}

package wire

// EtherType values the stack meets.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100 // IEEE 802.1Q tag
	EtherTypeQinQ = 0x88a8 // IEEE 802.1ad service tag
	EtherTypeIPv6 = 0x86dd
)

const (
	// EthernetHeaderLen is the length of an untagged Ethernet II header.
	EthernetHeaderLen = 14
	// VLANTagLen is the length of one 802.1Q/802.1ad tag.
	VLANTagLen = 4
	// MaxVLANTags is how many stacked tags ParseEthernet skips (QinQ).
	MaxVLANTags = 2
)

// Ethernet is a view of an Ethernet II frame. VLAN tags (802.1Q and
// 802.1ad, at most MaxVLANTags) are skipped: EtherType and Payload refer to
// what follows the innermost tag.
type Ethernet struct {
	b   []byte
	hdr uint8 // header length including tags
}

// ParseEthernet checks that b holds an Ethernet header and its VLAN tags.
func ParseEthernet(b []byte) (Ethernet, error) {
	if len(b) < EthernetHeaderLen {
		return Ethernet{}, ErrTruncated
	}
	off := 12 // the EtherType or TPID field
	for tags := 0; ; tags++ {
		if et := be16(b[off:]); et != EtherTypeVLAN && et != EtherTypeQinQ {
			break
		}
		if tags == MaxVLANTags {
			return Ethernet{}, ErrUnsupported
		}
		off += VLANTagLen
		if len(b) < off+2 {
			return Ethernet{}, ErrTruncated
		}
	}
	return Ethernet{b: b, hdr: uint8(off + 2)}, nil
}

// Dst returns the destination MAC address.
func (e Ethernet) Dst() [6]byte { return [6]byte(e.b[0:6]) }

// Src returns the source MAC address.
func (e Ethernet) Src() [6]byte { return [6]byte(e.b[6:12]) }

// EtherType returns the type of the payload (after any VLAN tags).
func (e Ethernet) EtherType() uint16 { return be16(e.b[e.hdr-2:]) }

// VLANTags returns how many VLAN tags were skipped.
func (e Ethernet) VLANTags() int { return (int(e.hdr) - EthernetHeaderLen) / VLANTagLen }

// VLANID returns the 12-bit VLAN identifier of the innermost tag, and false
// for an untagged frame.
func (e Ethernet) VLANID() (uint16, bool) {
	if e.hdr == EthernetHeaderLen {
		return 0, false
	}
	return be16(e.b[e.hdr-4:]) & 0x0fff, true
}

// HeaderLen returns the header length including VLAN tags.
func (e Ethernet) HeaderLen() int { return int(e.hdr) }

// Payload returns the bytes after the header (and tags), including any
// padding the sender added to reach the minimum frame size.
func (e Ethernet) Payload() []byte { return e.b[e.hdr:] }

// EncodeEthernet writes an untagged Ethernet II header into b (at least
// EthernetHeaderLen bytes) and returns EthernetHeaderLen.
func EncodeEthernet(b []byte, dst, src [6]byte, etherType uint16) int {
	_ = b[EthernetHeaderLen-1]
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	put16(b[12:], etherType)
	return EthernetHeaderLen
}

// EncodeEthernetVLAN writes an Ethernet header with one 802.1Q tag
// (priority 0) into b (at least 18 bytes) and returns 18.
func EncodeEthernetVLAN(b []byte, dst, src [6]byte, vlanID, etherType uint16) int {
	_ = b[EthernetHeaderLen+VLANTagLen-1]
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	put16(b[12:], EtherTypeVLAN)
	put16(b[14:], vlanID&0x0fff)
	put16(b[16:], etherType)
	return EthernetHeaderLen + VLANTagLen
}

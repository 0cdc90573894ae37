package wire

import (
	"encoding/binary"
	"errors"
)

// Sentinel errors of the Parse functions. They are values, so returning
// them allocates nothing; compare with errors.Is or ==.
var (
	// ErrTruncated reports a buffer shorter than the header or the length
	// fields inside it claim.
	ErrTruncated = errors.New("wire: truncated")
	// ErrVersion reports an IP header whose version field does not match.
	ErrVersion = errors.New("wire: wrong IP version")
	// ErrHeaderLength reports a header length field below its minimum or
	// larger than the total length.
	ErrHeaderLength = errors.New("wire: bad header length")
	// ErrFragment reports an IPv4 fragment or an IPv6 fragment header. The
	// stack sends with DF and does not reassemble.
	ErrFragment = errors.New("wire: IP fragment")
	// ErrExtensionHeader reports an IPv6 extension header the stack does
	// not skip (AH, ESP, Mobility, HIP, Shim6, experimental), or a chain
	// longer than MaxIPv6ExtensionHeaders.
	ErrExtensionHeader = errors.New("wire: unsupported IPv6 extension header")
	// ErrNotTCP reports an IP packet that does not carry TCP.
	ErrNotTCP = errors.New("wire: not TCP")
	// ErrUnsupported reports an ARP packet for another hardware or
	// protocol type than Ethernet/IPv4, or too many VLAN tags.
	ErrUnsupported = errors.New("wire: unsupported format")
)

// be16, be32 and be64 read big-endian integers (all wire integers are in
// network order, INTEROP A.0).
func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func put16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }
func put32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }
func put64(b []byte, v uint64) { binary.BigEndian.PutUint64(b, v) }

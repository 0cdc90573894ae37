package afxdp

import (
	"testing"
)

// FuzzNetlink feeds arbitrary bytes to the netlink parsers the monitor
// runs on every notification: they must never panic.
func FuzzNetlink(f *testing.F) {
	f.Add([]byte{28, 0, 0, 0, 28, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0})
	f.Add([]byte{16, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		walkMessages(b, func(typ uint16, _ uint32, body []byte) {
			parseNeigh(body)
			walkAttrs(body, func(uint16, []byte) {})
		})
	})
}

// FuzzStrip feeds arbitrary frames to the Ethernet/VLAN stripping of
// Receive: an IP packet comes out or the frame is counted as malformed,
// never a panic.
func FuzzStrip(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0x00, 0, 7, 0x86, 0xdd, 0x60})
	f.Fuzz(func(t *testing.T, frame []byte) {
		var l Link
		ip := l.strip(frame)
		if ip == nil && l.stats.Malformed != 1 || ip != nil && (l.stats.RxPackets != 1 || len(ip) < 20) {
			t.Fatalf("strip(%x) = %x with stats %+v", frame, ip, l.stats)
		}
	})
}

package wire

import (
	"math/rand/v2"
	"testing"

	"github.com/mpxdp/mpxdp/cksum"
)

// Sinks keep results of pure functions alive in allocation tests.
var (
	sinkU64  uint64
	sinkBool bool
)

// TestZeroAllocations proves the hot-path contract with
// testing.AllocsPerRun: building (plan, options, headers, payload copy and
// checksum) and parsing every segment type, over IPv4 and IPv6, allocates
// nothing; nor do the keys, HMACs, checksums and the other views.
func TestZeroAllocations(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes allocation counts")
	}
	payload := make([]byte, 1001)
	var buf [2048]byte
	var s Segment
	var c Counters
	for _, v6 := range []bool{false, true} {
		for _, v := range segmentVariants() {
			data := payload[:0]
			if v.data {
				data = payload
			}
			h := TCPHeader{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: v.flags, Window: 5}
			var n int
			if a := testing.AllocsPerRun(100, func() { n, _ = buildSegment(buf[:], v6, h, &v.o, data) }); a != 0 {
				t.Errorf("%s v6=%v: building allocates %v times", v.name, v6, a)
			}
			pkt := buf[:n]
			if a := testing.AllocsPerRun(100, func() {
				if ParseSegment(pkt, &s, &c) != nil || !s.ChecksumOK(cksum.Sum(s.Payload(), 0)) {
					panic("bad segment")
				}
				s.Options.Mapping()
			}); a != 0 {
				t.Errorf("%s v6=%v: parsing allocates %v times", v.name, v6, a)
			}
		}
	}
	rng := rand.NewPCG(1, 2)
	used := map[uint32]bool{1: true}
	inUse := func(tok uint32) bool { return used[tok] }
	var eth [64]byte
	var o Options
	garbage := mustHex(t, "0201 1e03 f0 1e1c200f")
	for name, f := range map[string]func(){
		"TokenAndIDSN":                         func() { TokenAndIDSN(keyA) },
		"JoinHMAC64":                           func() { JoinHMAC64(keyA, keyB, 1, 2) },
		"JoinHMAC160":                          func() { JoinHMAC160(keyA, keyB, 1, 2) },
		"AddAddrHMAC v4":                       func() { AddAddrHMAC(keyA, keyB, 1, addr4, 0) },
		"AddAddrHMAC v6":                       func() { AddAddrHMAC(keyA, keyB, 1, addr6, 443) },
		"GenerateKey":                          func() { GenerateKey(rng, inUse) },
		"ExpandSeq32":                          func() { sinkU64 = ExpandSeq32(1<<40, 5) },
		"DSSChecksum":                          func() { sinkBool = DSSChecksumOK(1, 2, 3, DSSChecksum(1, 2, 3, 4), 4) },
		"Ethernet":                             func() { EncodeEthernetVLAN(eth[:], macA, macB, 7, EtherTypeIPv4); ParseEthernet(eth[:]) },
		"ARP":                                  func() { EncodeARP(eth[:], ARPRequest, macA, testSrc4, macB, testDst4); ParseARP(eth[:]) },
		"ParseOptions (damaged, nil counters)": func() { ParseOptions(garbage, FlagACK, true, &o, nil) },
	} {
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s allocates %v times", name, a)
		}
	}
}

package wire

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/internal/pcap"
)

// fuzzSeedPackets returns IP packets to seed the parser fuzzer: the first
// packets of the kernel captures and every encoded segment variant.
func fuzzSeedPackets(f *testing.F) [][]byte {
	var out [][]byte
	for _, name := range []string{"shared/cf-1path", "shared/join-signal", "shared/fastclose", "netns/v4-port-prio-rm", "netns/v6-rm-fastclose"} {
		c, err := pcap.ReadFile("testdata/" + name + ".pcap")
		if err != nil {
			f.Fatal(err)
		}
		for i, p := range c.Packets {
			if i >= 12 {
				break
			}
			if ip := pcap.NetworkLayer(c.LinkType, p.Data); ip != nil && len(p.Data) == p.OrigLen {
				out = append(out, bytes.Clone(ip))
			}
		}
	}
	for _, v6 := range []bool{false, true} {
		for _, v := range segmentVariants() {
			var buf [256]byte
			n, _ := buildSegment(buf[:], v6, TCPHeader{Flags: v.flags}, &v.o, []byte("data")[:map[bool]int{false: 0, true: 4}[v.data]])
			out = append(out, bytes.Clone(buf[:n]))
		}
	}
	return out
}

// FuzzParseSegment feeds arbitrary bytes to every parser: as an IP packet,
// as an Ethernet frame (and its IP or ARP payload), and as a TCP option
// block with the first byte as the flags. Nothing may panic, every accessor
// of a parsed view must work, and options that parse must survive the
// planner: planning and encoding them, then parsing the result, gives the
// placed members back unchanged and counts nothing.
func FuzzParseSegment(f *testing.F) {
	for _, p := range fuzzSeedPackets(f) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Segment
		var c Counters
		if ParseSegment(b, &s, &c) == nil {
			touchSegment(&s)
			checkChained(t, b, &s)
		}
		if e, err := ParseEthernet(b); err == nil {
			_, _, _, _ = e.Dst(), e.Src(), e.HeaderLen(), e.VLANTags()
			_, _ = e.VLANID()
			switch e.EtherType() {
			case EtherTypeARP:
				if a, err := ParseARP(e.Payload()); err == nil {
					_, _, _, _, _ = a.Op(), a.SenderHW(), a.SenderIP(), a.TargetHW(), a.TargetIP()
				}
			default:
				if ParseSegment(e.Payload(), &s, &c) == nil {
					touchSegment(&s)
				}
			}
		}
		if len(b) == 0 {
			return
		}
		flags, data, opts := b[0]&^0x20, b[0]&0x20 != 0, b[1:] // bit 0x20 (URG) stands for "has payload"
		var o Options
		ParseOptions(opts, flags, data, &o, &c)
		_, _ = o.Mapping()
		checkReencode(t, &o, flags, data)
	})
}

// checkChained cuts the parsed packet b into a chain of three buffers after
// its headers (at points derived from its length) and checks that the
// chained parse gives the same payload and sum as the flat one.
func checkChained(t *testing.T, b []byte, flat *Segment) {
	payload := flat.Payload()
	if len(payload) == 0 {
		return
	}
	hdr := cap(b) - cap(payload) // where the payload starts in b
	c1 := hdr + len(b)%(len(b)-hdr+1)
	c2 := c1 + (len(b)-c1)/2
	var s Segment
	if err := ParseSegmentChain(b[:c1], [][]byte{b[c1:c2], b[c2:]}, &s, nil); err != nil {
		t.Fatalf("chained parse at %d/%d of %d fails: %v", c1, c2, len(b), err)
	}
	if s.PayloadLen() != len(payload) || s.PayloadSum().Fold() != cksum.Sum(payload, 0).Fold() ||
		s.PseudoHeader() != flat.PseudoHeader() || s.TCP.Seq() != flat.TCP.Seq() {
		t.Fatalf("chained parse at %d/%d differs: %d payload bytes, want %d", c1, c2, s.PayloadLen(), len(payload))
	}
}

// touchSegment calls every accessor of a parsed segment.
func touchSegment(s *Segment) {
	if s.Version == 4 {
		p := s.IPv4
		_, _, _, _, _, _, _ = p.HeaderLen(), p.TOS(), p.TotalLen(), p.ID(), p.DontFragment(), p.MoreFragments(), p.FragmentOffset()
		_, _, _, _, _, _ = p.IsFragment(), p.TTL(), p.Protocol(), p.Checksum(), p.Options(), p.HeaderChecksumOK()
	} else {
		p := s.IPv6
		_, _, _, _, _, _, _ = p.TrafficClass(), p.FlowLabel(), p.PayloadLen(), p.NextHeader(), p.Protocol(), p.HopLimit(), p.HeaderLen()
	}
	t := s.TCP
	_, _, _, _, _, _, _ = t.SrcPort(), t.DstPort(), t.Seq(), t.Ack(), t.HeaderLen(), t.Flags(), t.Reserved()
	_, _, _, _, _ = t.Window(), t.Checksum(), t.Urgent(), t.Header(), t.Options()
	_, _ = s.SrcAddr(), s.DstAddr()
	_ = s.ChecksumOK(cksum.Sum(s.Payload(), 0))
	_, _ = s.Options.Mapping()
	_ = s.Options.Blocks()
	_ = s.Options.RemoveAddr.List()
}

// checkReencode plans and encodes parsed options o and parses the result:
// the placed members must come back equal, with nothing ignored, and the
// plan must be well formed.
func checkReencode(t *testing.T, o *Options, flags uint8, data bool) {
	t.Helper()
	var buf [MaxTCPOptionLen]byte
	p := EncodeOptions(buf[:], o, flags, data)
	if p.Len%4 != 0 || p.Len > MaxTCPOptionLen || p.Placed&p.Dropped != 0 || p.Placed|p.Dropped != o.Has {
		t.Fatalf("bad plan %+v for %v", p, o.Has)
	}
	var back Options
	var c Counters
	ParseOptions(buf[:p.Len], flags, data, &back, &c)
	if c != (Counters{}) || !equalPlaced(&back, o, p) {
		t.Fatalf("flags %#x data %v: %+v\nencoded as %x (plan %+v)\nparsed as %+v (counters %+v)", flags, data, *o, buf[:p.Len], p, back, c)
	}
	// Encoding what was parsed is idempotent.
	var buf2 [MaxTCPOptionLen]byte
	if p2 := EncodeOptions(buf2[:], &back, flags, data); !bytes.Equal(buf[:p.Len], buf2[:p2.Len]) {
		t.Fatalf("re-encoding differs: %x then %x", buf[:p.Len], buf2[:p2.Len])
	}
}

// fuzzBytes hands out fuzz input as values; zeros when exhausted.
type fuzzBytes []byte

func (z *fuzzBytes) u8() uint8 {
	if len(*z) == 0 {
		return 0
	}
	v := (*z)[0]
	*z = (*z)[1:]
	return v
}
func (z *fuzzBytes) u16() uint16 { return uint16(z.u8())<<8 | uint16(z.u8()) }
func (z *fuzzBytes) u32() uint32 { return uint32(z.u16())<<16 | uint32(z.u16()) }
func (z *fuzzBytes) u64() uint64 { return uint64(z.u32())<<32 | uint64(z.u32()) }
func (z *fuzzBytes) bit() bool   { return z.u8()&1 != 0 }

// genOptions builds a segment's flags, payload presence and an Options
// value whose every field can appear on the wire: 32-bit fields
// zero-extended, MP_CAPABLE and MP_JOIN fields limited to their variant,
// no checksum without a mapping, and so on.
func genOptions(z *fuzzBytes) (uint8, bool, Options) {
	flagSets := []uint8{FlagSYN, FlagSYN | FlagACK, FlagACK, FlagACK | FlagPSH, FlagACK | FlagFIN, FlagRST | FlagACK, FlagRST}
	flags := flagSets[int(z.u8())%len(flagSets)]
	data := z.bit()
	var o Options
	o.Has = OptionSet(z.u32()) & (OptTCP&^OptUnknown | OptMPTCP)
	o.MSS, o.WindowScale, o.TSVal, o.TSEcr = z.u16(), z.u8(), z.u32(), z.u32()
	o.NumSACK = 1 + z.u8()%MaxSACKBlocks
	for i := range o.NumSACK {
		o.SACK[i] = SACKBlock{z.u32(), z.u32()}
	}
	// Only one MP_CAPABLE and one MP_JOIN variant: they share a value.
	if mpc := o.Has & OptMPCapable; mpc != 0 {
		o.Has = o.Has&^OptMPCapable | mpc&-mpc
	}
	if mpj := o.Has & OptMPJoin; mpj != 0 {
		o.Has = o.Has&^OptMPJoin | mpj&-mpj
	}
	m := &o.MPCapable
	m.Version, m.Flags = 1, MPCHMACSHA256|z.u8()&(MPCChecksumRequired|MPCDenyJoinID0)
	switch {
	case o.Has.Has(OptMPCapableSYN):
		m.Version = 1 + z.u8()%15 // Linux accepts any version ≥ 1 on a SYN
	case o.Has.Has(OptMPCapableSYNACK):
		m.SenderKey = z.u64()
	case o.Has.Has(OptMPCapableACK):
		m.SenderKey, m.ReceiverKey = z.u64(), z.u64()
	case o.Has.Has(OptMPCapableData):
		m.SenderKey, m.ReceiverKey, m.DataLen = z.u64(), z.u64(), z.u16()
		if z.bit() {
			m.Checksum, m.HasChecksum = z.u16(), true
		}
	}
	j := &o.MPJoin
	switch {
	case o.Has.Has(OptMPJoinSYN):
		j.Backup, j.AddrID, j.Token, j.Nonce = z.bit(), z.u8(), z.u32(), z.u32()
	case o.Has.Has(OptMPJoinSYNACK):
		j.Backup, j.AddrID, j.TruncatedHMAC, j.Nonce = z.bit(), z.u8(), z.u64(), z.u32()
	case o.Has.Has(OptMPJoinACK):
		for i := range j.HMAC {
			j.HMAC[i] = z.u8()
		}
	}
	d := &o.DSS
	d.Flags = z.u8() & dssFlagMask
	if d.HasAck() {
		d.DataAck = z.u64()
		if d.Flags&DSSAck64 == 0 {
			d.DataAck &= 0xffffffff
		}
	}
	if d.HasMap() {
		d.DSN, d.SubflowSeq, d.DataLen = z.u64(), z.u32(), z.u16()
		if d.Flags&DSSDSN64 == 0 {
			d.DSN &= 0xffffffff
		}
		if z.bit() {
			d.Checksum, d.HasChecksum = z.u16(), true
		}
	}
	a := &o.AddAddr
	a.Echo, a.ID = z.bit(), z.u8()
	if z.bit() {
		var v [16]byte
		for i := range v {
			v[i] = z.u8()
		}
		a.Addr = netip.AddrFrom16(v)
	} else {
		a.Addr = netip.AddrFrom4([4]byte{z.u8(), z.u8(), z.u8(), z.u8()})
	}
	if z.bit() {
		a.Port, a.HasPort = z.u16(), true
	}
	if !a.Echo {
		a.HMAC = z.u64()
	}
	r := &o.RemoveAddr
	r.N = 1 + z.u8()%MaxRemoveAddrIDs
	for i := range r.N {
		r.IDs[i] = z.u8()
	}
	o.MPPrio.Backup = z.bit()
	o.MPFail.DSN = z.u64()
	o.FastClose.ReceiverKey = z.u64()
	o.TCPRST = TCPRST{Flags: z.u8() & 0x0f, Reason: z.u8()}
	return flags, data, o
}

// FuzzOptionRoundTrip generates option values, plans and encodes them, and
// parses the bytes back: parse(encode(x)) == x for every member the planner
// placed; the planner's result is well formed; and a lone MPTCP suboption
// that Linux would send on such a segment always fits.
func FuzzOptionRoundTrip(f *testing.F) {
	f.Add([]byte{2, 0, 0, 0, 0x40, 0})
	f.Add([]byte{3, 1, 0, 0x20, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add(bytes.Repeat([]byte{0xa5}, 200))
	f.Add(bytes.Repeat([]byte{0xff}, 200))
	f.Fuzz(func(t *testing.T, b []byte) {
		z := fuzzBytes(b)
		flags, data, o := genOptions(&z)
		checkReencode(t, &o, flags, data)
		// With timestamps only, every single MPTCP suboption that may ride
		// on this segment fits (INTEROP A: at most 28 bytes after the 12
		// of the timestamps, except ADD_ADDR v6 with a port and an HMAC).
		for sub := OptMPCapableSYN; sub <= OptTCPRST; sub <<= 1 {
			one := o
			one.Has = OptTimestamps | sub
			p := PlanOptions(&one, flags, data)
			if p.Placed.Has(sub) || !allowedAlone(&one, sub, flags, data) {
				continue
			}
			t.Errorf("flags %#x data %v: %v alone was dropped (plan %+v)", flags, data, sub, p)
		}
	})
}

// allowedAlone says whether Linux would send suboption sub alone with
// timestamps on a segment with these flags.
func allowedAlone(o *Options, sub OptionSet, flags uint8, data bool) bool {
	syn, ack, rst := flags&FlagSYN != 0, flags&FlagACK != 0, flags&FlagRST != 0
	switch sub {
	case OptMPCapableSYN, OptMPJoinSYN:
		return syn && !ack
	case OptMPCapableSYNACK, OptMPJoinSYNACK:
		return syn && ack
	}
	if syn {
		return false
	}
	switch sub {
	case OptFastClose, OptTCPRST, OptMPFail:
		return rst || sub == OptMPFail
	case OptMPCapableACK:
		return !rst && !data
	case OptMPCapableData:
		return !rst && data
	case OptAddAddr:
		return !rst && !data && flags&FlagFIN == 0 && 12+MPTCPOptionLen(o, OptAddAddr) <= MaxTCPOptionLen
	}
	return !rst
}

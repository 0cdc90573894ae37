package wire

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// segmentVariant is one kind of segment the engine sends: its flags, whether
// it carries payload, and the options it asks for.
type segmentVariant struct {
	name  string
	flags uint8
	data  bool
	o     Options
}

const (
	keyA = 0x1122334455667788
	keyB = 0x99aabbccddeeff00
)

var (
	hmac20 = [20]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	addr4  = netip.MustParseAddr("10.0.2.1")
	addr6  = netip.MustParseAddr("fd00:2::1")
)

// segmentVariants lists every segment type: SYN, SYN/ACK and third ACK of
// MP_CAPABLE and MP_JOIN, the first data segment, DSS in every width with
// and without checksum and DATA_FIN, ADD_ADDR in every form, REMOVE_ADDR,
// MP_PRIO, MP_FAIL, MP_FASTCLOSE with MP_TCPRST, and SACK.
func segmentVariants() []segmentVariant {
	ts := Options{Has: OptTimestamps, TSVal: 0x01020304, TSEcr: 0x05060708}
	with := func(o Options, f func(o *Options)) Options { f(&o); return o }
	syn := with(ts, func(o *Options) {
		o.Has |= OptMSS | OptSACKPermitted | OptWindowScale
		o.MSS, o.WindowScale = 1460, 7
	})
	mpc := MPCapable{Version: 1, Flags: MPCHMACSHA256, SenderKey: keyA, ReceiverKey: keyB, DataLen: 1001}
	dss := func(flags uint8, csum bool) Options {
		return with(ts, func(o *Options) {
			o.Has |= OptDSS
			o.DSS = DSS{Flags: flags}
			if flags&DSSDataAck != 0 {
				o.DSS.DataAck = 0x0102030405060708
				if flags&DSSAck64 == 0 {
					o.DSS.DataAck &= 0xffffffff
				}
			}
			if flags&DSSMap != 0 {
				o.DSS.DSN, o.DSS.SubflowSeq, o.DSS.DataLen = 0x1112131415161718, 1, 1001
				if flags&DSSDSN64 == 0 {
					o.DSS.DSN &= 0xffffffff
				}
				o.DSS.Checksum, o.DSS.HasChecksum = 0xabcd, csum
				if !csum {
					o.DSS.Checksum = 0
				}
			}
		})
	}
	vs := []segmentVariant{
		{"SYN plain", FlagSYN, false, syn},
		{"SYN MP_CAPABLE", FlagSYN, false, with(syn, func(o *Options) {
			o.Has |= OptMPCapableSYN
			o.MPCapable = MPCapable{Version: 1, Flags: MPCHMACSHA256}
		})},
		{"SYN/ACK MP_CAPABLE csum", FlagSYN | FlagACK, false, with(syn, func(o *Options) {
			o.Has |= OptMPCapableSYNACK
			o.MPCapable = MPCapable{Version: 1, Flags: MPCChecksumRequired | MPCHMACSHA256, SenderKey: keyB}
		})},
		{"ACK MP_CAPABLE", FlagACK, false, with(ts, func(o *Options) {
			o.Has |= OptMPCapableACK
			o.MPCapable = MPCapable{Version: 1, Flags: MPCDenyJoinID0 | MPCHMACSHA256, SenderKey: keyA, ReceiverKey: keyB}
		})},
		{"data MP_CAPABLE", FlagACK | FlagPSH, true, with(ts, func(o *Options) { o.Has |= OptMPCapableData; o.MPCapable = mpc })},
		{"data MP_CAPABLE csum", FlagACK, true, with(ts, func(o *Options) {
			o.Has |= OptMPCapableData
			o.MPCapable = mpc
			o.MPCapable.Flags |= MPCChecksumRequired
			o.MPCapable.Checksum, o.MPCapable.HasChecksum = 0x1234, true
		})},
		{"SYN MP_JOIN", FlagSYN, false, with(syn, func(o *Options) {
			o.Has |= OptMPJoinSYN
			o.MPJoin = MPJoin{Backup: true, AddrID: 3, Token: 0xdeadbeef, Nonce: 0x01020304}
		})},
		{"SYN/ACK MP_JOIN", FlagSYN | FlagACK, false, with(syn, func(o *Options) {
			o.Has |= OptMPJoinSYNACK
			o.MPJoin = MPJoin{AddrID: 1, TruncatedHMAC: 0x8283848586878889, Nonce: 0x0a0b0c0d}
		})},
		{"ACK MP_JOIN", FlagACK, false, with(ts, func(o *Options) { o.Has |= OptMPJoinACK; o.MPJoin = MPJoin{HMAC: hmac20} })},
		{"ADD_ADDR v4", FlagACK, false, with(ts, func(o *Options) {
			o.Has |= OptAddAddr
			o.AddAddr = AddAddr{ID: 1, Addr: addr4, HMAC: 0x597efa1f62114df1}
		})},
		{"ADD_ADDR v4 port", FlagACK, false, with(ts, func(o *Options) {
			o.Has |= OptAddAddr
			o.AddAddr = AddAddr{ID: 2, Addr: addr4, Port: 10100, HasPort: true, HMAC: 1}
		})},
		{"ADD_ADDR v4 echo", FlagACK, false, with(ts, func(o *Options) {
			o.Has |= OptAddAddr
			o.AddAddr = AddAddr{Echo: true, ID: 1, Addr: addr4}
		})},
		{"ADD_ADDR v4 port echo", FlagACK, false, with(ts, func(o *Options) {
			o.Has |= OptAddAddr
			o.AddAddr = AddAddr{Echo: true, ID: 2, Addr: addr4, Port: 10100, HasPort: true}
		})},
		{"ADD_ADDR v6", FlagACK, false, with(ts, func(o *Options) {
			o.Has |= OptAddAddr
			o.AddAddr = AddAddr{ID: 1, Addr: addr6, HMAC: 0x4ba585581b088521}
		})},
		{"ADD_ADDR v6 port (no timestamps)", FlagACK, false, Options{Has: OptAddAddr,
			AddAddr: AddAddr{ID: 4, Addr: addr6, Port: 443, HasPort: true, HMAC: 7}}},
		{"ADD_ADDR v6 echo", FlagACK, false, with(ts, func(o *Options) {
			o.Has |= OptAddAddr
			o.AddAddr = AddAddr{Echo: true, ID: 1, Addr: addr6}
		})},
		{"ADD_ADDR v6 port echo", FlagACK, false, with(ts, func(o *Options) {
			o.Has |= OptAddAddr
			o.AddAddr = AddAddr{Echo: true, ID: 1, Addr: addr6, Port: 8080, HasPort: true}
		})},
		{"DSS REMOVE_ADDR 1", FlagACK, false, with(dss(DSSDataAck|DSSAck64, false), func(o *Options) {
			o.Has |= OptRemoveAddr
			o.RemoveAddr = RemoveAddr{IDs: [8]uint8{1}, N: 1}
		})},
		{"DSS REMOVE_ADDR 3", FlagACK, false, with(dss(DSSDataAck|DSSAck64, false), func(o *Options) {
			o.Has |= OptRemoveAddr
			o.RemoveAddr = RemoveAddr{IDs: [8]uint8{1, 2, 3}, N: 3}
		})},
		{"REMOVE_ADDR 8", FlagACK, false, with(ts, func(o *Options) {
			o.Has |= OptRemoveAddr
			o.RemoveAddr = RemoveAddr{IDs: [8]uint8{1, 2, 3, 4, 5, 6, 7, 8}, N: 8}
		})},
		{"DSS MP_PRIO", FlagACK, false, with(dss(DSSDataAck|DSSAck64, false), func(o *Options) {
			o.Has |= OptMPPrio
			o.MPPrio = MPPrio{Backup: true}
		})},
		{"DSS MP_FAIL", FlagACK, false, with(dss(DSSDataAck, false), func(o *Options) {
			o.Has |= OptMPFail
			o.MPFail = MPFail{DSN: 0x0102030405060708}
		})},
		{"RST MP_FASTCLOSE MP_TCPRST", FlagRST | FlagACK, false, with(ts, func(o *Options) {
			o.Has |= OptFastClose | OptTCPRST
			o.FastClose = FastClose{ReceiverKey: keyB}
			o.TCPRST = TCPRST{Flags: TCPRSTTransient, Reason: TCPRSTUnspecified}
		})},
		{"RST MP_FAIL MP_TCPRST", FlagRST | FlagACK, false, with(ts, func(o *Options) {
			o.Has |= OptMPFail | OptTCPRST
			o.MPFail = MPFail{DSN: 42}
			o.TCPRST = TCPRST{Reason: TCPRSTMiddlebox}
		})},
		{"DSS SACK", FlagACK, false, with(dss(DSSDataAck|DSSAck64, false), func(o *Options) {
			o.Has |= OptSACK
			o.NumSACK = 1
			o.SACK[0] = SACKBlock{100000, 200000} // above any ACK the tests use: not a D-SACK
		})},
		{"SACK 3", FlagACK, false, with(ts, func(o *Options) {
			o.Has |= OptSACK
			o.NumSACK = 3
			o.SACK = [4]SACKBlock{{100001, 100002}, {100003, 100004}, {100005, 100006}}
		})},
	}
	for _, ack := range []uint8{0, DSSDataAck, DSSDataAck | DSSAck64} {
		for _, mp := range []uint8{0, DSSMap, DSSMap | DSSDSN64} {
			for _, csum := range []bool{false, true} {
				if ack == 0 && mp == 0 || mp == 0 && csum {
					continue
				}
				flags := ack | mp
				data := mp != 0
				name := "DSS " + dssName(flags, csum)
				vs = append(vs, segmentVariant{name, FlagACK, data, dss(flags, csum)})
				if mp != 0 {
					vs = append(vs, segmentVariant{name + " DATA_FIN", FlagACK | FlagFIN, data, dss(flags|DSSDataFIN, csum)})
				}
			}
		}
	}
	vs = append(vs, segmentVariant{"DATA_FIN only", FlagACK, false, with(ts, func(o *Options) {
		o.Has |= OptDSS
		o.DSS = DSS{Flags: DSSDataAck | DSSAck64 | DSSMap | DSSDSN64 | DSSDataFIN, DataAck: 9, DSN: 10, DataLen: 1}
	})})
	return vs
}

func dssName(flags uint8, csum bool) string {
	var parts []string
	if flags&DSSDataAck != 0 {
		parts = append(parts, map[bool]string{false: "ack32", true: "ack64"}[flags&DSSAck64 != 0])
	}
	if flags&DSSMap != 0 {
		parts = append(parts, map[bool]string{false: "map32", true: "map64"}[flags&DSSDSN64 != 0])
	}
	if csum {
		parts = append(parts, "csum")
	}
	return strings.Join(parts, "+")
}

// project keeps the members of set in o, and the first n SACK blocks.
func project(o *Options, set OptionSet, nSACK int) Options {
	p := Options{Has: o.Has & set}
	if set.Has(OptMSS) {
		p.MSS = o.MSS
	}
	if set.Has(OptWindowScale) {
		p.WindowScale = o.WindowScale
	}
	if set.Has(OptTimestamps) {
		p.TSVal, p.TSEcr = o.TSVal, o.TSEcr
	}
	if set.Has(OptSACK) {
		p.NumSACK = uint8(nSACK)
		copy(p.SACK[:nSACK], o.SACK[:nSACK])
	}
	if set.Any(OptMPCapable) {
		p.MPCapable = o.MPCapable
	}
	if set.Any(OptMPJoin) {
		p.MPJoin = o.MPJoin
	}
	if set.Has(OptDSS) {
		p.DSS = o.DSS
	}
	if set.Has(OptAddAddr) {
		p.AddAddr = o.AddAddr
	}
	if set.Has(OptRemoveAddr) {
		p.RemoveAddr = o.RemoveAddr
	}
	if set.Has(OptMPPrio) {
		p.MPPrio = o.MPPrio
	}
	if set.Has(OptMPFail) {
		p.MPFail = o.MPFail
	}
	if set.Has(OptFastClose) {
		p.FastClose = o.FastClose
	}
	if set.Has(OptTCPRST) {
		p.TCPRST = o.TCPRST
	}
	return p
}

// equalPlaced reports whether the parsed options got equal what the plan
// placed from want.
func equalPlaced(got, want *Options, plan Plan) bool {
	if got.Has != plan.Placed {
		return false
	}
	g, w := project(got, plan.Placed, plan.SACK), project(want, plan.Placed, plan.SACK)
	return reflect.DeepEqual(g, w)
}

// TestPlanRoundTripsEveryVariant encodes every segment variant and parses
// it back: everything requested is placed, and parses to the same value.
func TestPlanRoundTripsEveryVariant(t *testing.T) {
	for _, v := range segmentVariants() {
		var buf [MaxTCPOptionLen]byte
		p := EncodeOptions(buf[:], &v.o, v.flags, v.data)
		if p.Dropped != 0 || p.Placed != v.o.Has || p.Len%4 != 0 || p.Len > MaxTCPOptionLen {
			t.Errorf("%s: plan %+v", v.name, p)
			continue
		}
		var got Options
		var c Counters
		ParseOptions(buf[:p.Len], v.flags, v.data, &got, &c)
		if c != (Counters{}) || !equalPlaced(&got, &v.o, p) {
			t.Errorf("%s: %x parsed as %+v (counters %+v)", v.name, buf[:p.Len], got, c)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPlanLayouts checks the exact bytes and the combination rules: the
// kernel layouts (from cf-1path, join-signal, fastclose, csum-small and the
// netns captures), SACK dropped before anything else, ADD_ADDR alone on a
// pure ACK, MP_FASTCLOSE and MP_TCPRST only with RST, MP_CAPABLE and MP_JOIN
// exclusive with DSS.
func TestPlanLayouts(t *testing.T) {
	ts := func(v, e uint32) Options { return Options{Has: OptTimestamps, TSVal: v, TSEcr: e} }
	add := func(o Options, has OptionSet, f func(o *Options)) Options {
		o.Has |= has
		if f != nil {
			f(&o)
		}
		return o
	}
	dssAck64 := func(o *Options) { o.DSS = DSS{Flags: DSSDataAck | DSSAck64, DataAck: 0x07f2e9c8de709322} }
	sack4 := func(o *Options) {
		o.NumSACK = 4
		o.SACK = [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}
	}
	tests := []struct {
		name    string
		flags   uint8
		data    bool
		o       Options
		want    string
		dropped OptionSet
		sack    int
	}{
		{"kernel SYN (cf-1path frame 1)", FlagSYN, false,
			add(ts(0x48327c48, 0), OptMSS|OptSACKPermitted|OptWindowScale|OptMPCapableSYN, func(o *Options) {
				o.MSS, o.WindowScale = 1460, 10
				o.MPCapable = MPCapable{Version: 1, Flags: 1}
			}),
			"020405b4 0402080a 48327c48 00000000 0103030a 1e040101", 0, 0},
		{"kernel SYN/ACK (frame 2)", FlagSYN | FlagACK, false,
			add(ts(0xf14d0f5c, 0x48327c48), OptMSS|OptSACKPermitted|OptWindowScale|OptMPCapableSYNACK, func(o *Options) {
				o.MSS, o.WindowScale = 1460, 10
				o.MPCapable = MPCapable{Version: 1, Flags: 1, SenderKey: 0x67b9f4f3c5f928c1}
			}),
			"020405b4 0402080a f14d0f5c 48327c48 0103030a 1e0c0101 67b9f4f3 c5f928c1", 0, 0},
		{"SYN without timestamps", FlagSYN, false,
			Options{Has: OptMSS | OptSACKPermitted | OptWindowScale, MSS: 1400, WindowScale: 14},
			"02040578 0103030e 01010402", 0, 0},
		{"SYN drops SACK blocks and DSS", FlagSYN, false,
			add(Options{Has: OptMSS, MSS: 536}, OptSACK|OptDSS, func(o *Options) { sack4(o); dssAck64(o) }),
			"02040218", OptSACK | OptDSS, 0},
		{"SYN/ACK refuses the SYN variant", FlagSYN | FlagACK, false,
			Options{Has: OptMPCapableSYN, MPCapable: MPCapable{Version: 1, Flags: 1}}, "", OptMPCapableSYN, 0},
		{"kernel first data, MP_CAPABLE 22 + NOP NOP (frame 4)", FlagACK | FlagPSH, true,
			add(ts(0x48327c49, 0xf14d0f5c), OptMPCapableData, func(o *Options) {
				o.MPCapable = MPCapable{Version: 1, Flags: 1, SenderKey: 0xb63bf6cb1e1c7c94, ReceiverKey: 0x67b9f4f3c5f928c1, DataLen: 3000}
			}),
			"0101080a 48327c49 f14d0f5c 1e160101 b63bf6cb 1e1c7c94 67b9f4f3 c5f928c1 0bb80101", 0, 0},
		{"MP_CAPABLE ACK wins over DSS", FlagACK, false,
			add(ts(1, 2), OptMPCapableACK|OptDSS, func(o *Options) {
				o.MPCapable = MPCapable{Version: 1, Flags: 1, SenderKey: 3, ReceiverKey: 4}
				dssAck64(o)
			}),
			"0101080a 00000001 00000002 1e140101 00000000 00000003 00000000 00000004", OptDSS, 0},
		{"MP_CAPABLE data variant needs payload", FlagACK, false,
			add(ts(1, 2), OptMPCapableData|OptDSS, dssAck64),
			"0101080a 00000001 00000002 1e0c2003 07f2e9c8 de709322", OptMPCapableData, 0},
		{"kernel DATA_FIN (frame 6)", FlagACK, false,
			add(ts(0x48327c49, 0xf14d0f5d), OptDSS, func(o *Options) {
				o.DSS = DSS{Flags: 0x1d, DataAck: 0x7f7da84f, DSN: 0x07f2e9c8de709322, DataLen: 1}
			}),
			"0101080a 48327c49 f14d0f5d 1e16201d 7f7da84f 07f2e9c8 de709322 00000000 00010101", 0, 0},
		{"kernel DSS with checksum (csum-small frame 8)", FlagACK | FlagPSH, true,
			add(ts(0xafbb0a1a, 0x08b2fea0), OptDSS, func(o *Options) {
				o.DSS = DSS{Flags: 0x0f, DataAck: 0xaf040ecf6d8bb2e9, DSN: 0xe3a64c8c95c035d4, SubflowSeq: 1, DataLen: 100, Checksum: 0x6805, HasChecksum: true}
			}),
			"0101080a afbb0a1a 08b2fea0 1e1c200f af040ecf 6d8bb2e9 e3a64c8c 95c035d4 00000001 00646805", 0, 0},
		{"DSS map32 without checksum gets two NOPs", FlagACK, true,
			Options{Has: OptDSS, DSS: DSS{Flags: DSSMap, DSN: 5, SubflowSeq: 6, DataLen: 7}},
			"1e0e2004 00000005 00000006 00070101", 0, 0},
		{"kernel TS + SACK + DSS (fastclose frame 22)", FlagACK, false,
			add(ts(0x9d55c0eb, 0x75f24bc5), OptSACK|OptDSS, func(o *Options) {
				o.NumSACK, o.SACK[0] = 1, SACKBlock{0x3e475fd5, 0x3e475ff5}
				o.DSS = DSS{Flags: 3, DataAck: 0x33f5f22498fddf09}
			}),
			"0101080a 9d55c0eb 75f24bc5 0101050a 3e475fd5 3e475ff5 1e0c2003 33f5f224 98fddf09", 0, 1},
		{"SACK trimmed to the room left by TS and DSS", FlagACK, false,
			add(ts(1, 2), OptSACK|OptDSS, func(o *Options) { sack4(o); dssAck64(o) }),
			"0101080a 00000001 00000002 0101050a 00000001 00000002 1e0c2003 07f2e9c8 de709322", 0, 1},
		{"SACK dropped when a full DSS leaves no room", FlagACK, true,
			add(ts(1, 2), OptSACK|OptDSS, func(o *Options) {
				sack4(o)
				o.DSS = DSS{Flags: 0x0f, DataAck: 1, DSN: 2, SubflowSeq: 3, DataLen: 4, Checksum: 5, HasChecksum: true}
			}),
			"0101080a 00000001 00000002 1e1c200f 00000000 00000001 00000000 00000002 00000003 00040005", OptSACK, 0},
		{"TS + 3 SACK blocks (of 4)", FlagACK, false,
			add(ts(1, 2), OptSACK, sack4),
			"0101080a 00000001 00000002 0101051a 00000001 00000002 00000003 00000004 00000005 00000006", 0, 3},
		{"4 SACK blocks without timestamps", FlagACK, false,
			add(Options{}, OptSACK, sack4),
			"01010522 00000001 00000002 00000003 00000004 00000005 00000006 00000007 00000008", 0, 4},
		{"kernel ADD_ADDR alone on a pure ACK (join-signal frame 4)", FlagACK, false,
			add(ts(0x23e0fd21, 0x4f3ac923), OptAddAddr|OptDSS, func(o *Options) {
				o.AddAddr = AddAddr{ID: 1, Addr: addr4, HMAC: 0x597efa1f62114df1}
				dssAck64(o)
			}),
			"0101080a 23e0fd21 4f3ac923 1e103001 0a000201 597efa1f 62114df1", OptDSS, 0},
		{"ADD_ADDR never rides with data", FlagACK, true,
			add(Options{}, OptAddAddr|OptDSS, func(o *Options) {
				o.AddAddr = AddAddr{Echo: true, ID: 1, Addr: addr4}
				o.DSS = DSS{Flags: DSSMap | DSSDSN64, DSN: 1, SubflowSeq: 1, DataLen: 1}
			}),
			"1e12200c 00000000 00000001 00000001 00010101", OptAddAddr, 0},
		{"ADD_ADDR not on FIN", FlagACK | FlagFIN, false,
			add(Options{}, OptAddAddr, func(o *Options) { o.AddAddr = AddAddr{Echo: true, ID: 1, Addr: addr4} }),
			"", OptAddAddr, 0},
		{"kernel ADD_ADDR with port + NOP NOP (netns v4-port-prio-rm frame 4)", FlagACK, false,
			add(Options{}, OptAddAddr, func(o *Options) {
				o.AddAddr = AddAddr{ID: 2, Addr: netip.MustParseAddr("10.0.1.1"), Port: 10100, HasPort: true, HMAC: 0x35bcacdd040fedf8}
			}),
			"1e123002 0a000101 277435bc acdd040f edf80101", 0, 0},
		{"ADD_ADDR v6 + port + HMAC does not fit with timestamps", FlagACK, false,
			add(ts(1, 2), OptAddAddr, func(o *Options) {
				o.AddAddr = AddAddr{ID: 4, Addr: addr6, Port: 443, HasPort: true, HMAC: 7}
			}),
			"0101080a 00000001 00000002", OptAddAddr, 0},
		{"kernel DSS + MP_PRIO + NOP (v4-port-prio-rm frame 30)", FlagACK, false,
			add(Options{}, OptDSS|OptMPPrio, func(o *Options) { dssAck64(o); o.MPPrio.Backup = true }),
			"1e0c2003 07f2e9c8 de709322 1e035101", 0, 0},
		{"kernel DSS + REMOVE_ADDR of three IDs (v6-rm-fastclose frame 16)", FlagACK, false,
			add(Options{}, OptDSS|OptRemoveAddr, func(o *Options) {
				dssAck64(o)
				o.RemoveAddr = RemoveAddr{IDs: [8]uint8{1, 2, 3}, N: 3}
			}),
			"1e0c2003 07f2e9c8 de709322 1e064001 02030101", 0, 0},
		{"DSS, MP_PRIO and REMOVE_ADDR in the kernel's order", FlagACK, false,
			add(Options{}, OptDSS|OptMPPrio|OptRemoveAddr, func(o *Options) {
				dssAck64(o)
				o.RemoveAddr = RemoveAddr{IDs: [8]uint8{9, 8, 7, 6, 5}, N: 5}
			}),
			"1e0c2003 07f2e9c8 de709322 1e035001 1e084009 08070605", 0, 0},
		{"REMOVE_ADDR without IDs is dropped", FlagACK, false,
			add(Options{}, OptRemoveAddr, nil), "", OptRemoveAddr, 0},
		{"MP_PRIO not with MP_CAPABLE", FlagACK, false,
			add(Options{}, OptMPCapableACK|OptMPPrio, func(o *Options) { o.MPCapable = MPCapable{Version: 1, Flags: 1} }),
			"1e140101 00000000 00000000 00000000 00000000", OptMPPrio, 0},
		{"MP_JOIN ACK + MP_PRIO", FlagACK, false,
			add(Options{}, OptMPJoinACK|OptMPPrio|OptDSS, func(o *Options) { o.MPJoin.HMAC = hmac20; dssAck64(o) }),
			"1e181000 01020304 05060708 090a0b0c 0d0e0f10 11121314 1e035001", OptDSS, 0},
		{"DSS + MP_FAIL, nothing after", FlagACK, false,
			add(ts(1, 2), OptDSS|OptMPFail|OptMPPrio|OptAddAddr, func(o *Options) {
				o.DSS = DSS{Flags: DSSDataAck, DataAck: 0xaabbccdd}
				o.MPFail.DSN = 0x0102030405060708
				o.AddAddr = AddAddr{Echo: true, ID: 1, Addr: addr4}
			}),
			"0101080a 00000001 00000002 1e082001 aabbccdd 1e0c6000 01020304 05060708", OptMPPrio | OptAddAddr, 0},
		{"kernel RST + MP_FASTCLOSE + MP_TCPRST (fastclose frame 32)", FlagACK | FlagRST, false,
			add(ts(0x9d55c1ed, 0x75f24c4c), OptFastClose|OptTCPRST|OptDSS, func(o *Options) {
				o.FastClose.ReceiverKey = 0xe16f6def1005c763
				dssAck64(o)
			}),
			"0101080a 9d55c1ed 75f24c4c 1e0c7000 e16f6def 1005c763 1e048000", OptDSS, 0},
		{"RST: MP_FASTCLOSE wins over MP_FAIL", FlagRST, false,
			add(Options{}, OptFastClose|OptMPFail|OptTCPRST, func(o *Options) {
				o.FastClose.ReceiverKey = 1
				o.TCPRST = TCPRST{Flags: 1, Reason: 6}
			}),
			"1e0c7000 00000000 00000001 1e048106", OptMPFail, 0},
		{"MP_FASTCLOSE and MP_TCPRST only with RST", FlagACK, false,
			add(Options{}, OptFastClose|OptTCPRST, func(o *Options) { o.FastClose.ReceiverKey = 1 }),
			"", OptFastClose | OptTCPRST, 0},
		{"TCP options of SYNs and unknown kinds are not sent later", FlagACK, false,
			add(ts(1, 2), OptMSS|OptWindowScale|OptSACKPermitted|OptUnknown, func(o *Options) {
				o.NumUnknown, o.Unknown[0] = 1, []byte{34, 2}
			}),
			"0101080a 00000001 00000002", OptMSS | OptWindowScale | OptSACKPermitted | OptUnknown, 0},
	}
	for _, tt := range tests {
		var buf [MaxTCPOptionLen]byte
		p := EncodeOptions(buf[:], &tt.o, tt.flags, tt.data)
		want := mustHex(t, tt.want)
		if !bytes.Equal(buf[:p.Len], want) || p.Dropped != tt.dropped || p.SACK != tt.sack {
			t.Errorf("%s:\n got %x dropped %v sack %d\nwant %x dropped %v sack %d",
				tt.name, buf[:p.Len], p.Dropped, p.SACK, want, tt.dropped, tt.sack)
		}
		if p.Placed|p.Dropped != tt.o.Has || p.Placed&p.Dropped != 0 {
			t.Errorf("%s: placed %v dropped %v do not partition %v", tt.name, p.Placed, p.Dropped, tt.o.Has)
		}
	}
}

// BenchmarkEncodeDataSegment builds a data segment with timestamps and a
// full DSS: plan, options, TCP and IPv4 headers, payload copy with its sum,
// and the TCP checksum — the send hot path.
func BenchmarkEncodeDataSegment(b *testing.B) {
	o := Options{Has: OptTimestamps | OptDSS, TSVal: 1, TSEcr: 2,
		DSS: DSS{Flags: DSSDataAck | DSSAck64 | DSSMap | DSSDSN64, DataAck: 1 << 40, DSN: 1 << 41, SubflowSeq: 1, DataLen: 1400, Checksum: 0xbeef, HasChecksum: true}}
	payload := make([]byte, 1400)
	var buf [2048]byte
	h := TCPHeader{SrcPort: 1, DstPort: 2, Flags: FlagACK}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		buildSegment(buf[:], false, h, &o, payload)
	}
}

// BenchmarkPlanAndEncodeOptions isolates the option planner and encoder
// for the same segment.
func BenchmarkPlanAndEncodeOptions(b *testing.B) {
	o := Options{Has: OptTimestamps | OptDSS, TSVal: 1, TSEcr: 2,
		DSS: DSS{Flags: DSSDataAck | DSSAck64 | DSSMap | DSSDSN64, DataAck: 1 << 40, DSN: 1 << 41, SubflowSeq: 1, DataLen: 1400, Checksum: 0xbeef, HasChecksum: true}}
	var buf [MaxTCPOptionLen]byte
	b.ReportAllocs()
	for b.Loop() {
		EncodeOptions(buf[:], &o, FlagACK, true)
	}
}

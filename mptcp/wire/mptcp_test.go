package wire

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

// TestParseMPTCPLengthsAndRules feeds one MPTCP option per case and checks
// what Linux's mptcp_parse_option would do with it: accept it (the value
// parsed), or ignore it (nothing set, the reason counted).
func TestParseMPTCPLengthsAndRules(t *testing.T) {
	const (
		syn    = FlagSYN
		synack = FlagSYN | FlagACK
		ack    = FlagACK
		rst    = FlagRST | FlagACK
	)
	key8 := "0102030405060708"
	key8b := "1112131415161718"
	type counter func(c *Counters) *uint64
	badLen := func(sub int) counter { return func(c *Counters) *uint64 { return &c.MPTCPBadLength[sub] } }
	badVer := func(c *Counters) *uint64 { return &c.MPCapableBadVersion }
	badFlags := func(c *Counters) *uint64 { return &c.MPCapableBadFlags }
	tests := []struct {
		name  string
		opt   string
		flags uint8
		data  bool
		want  Options // zero Has: ignored
		count counter
	}{
		// MP_CAPABLE (RFC 8684 §3.1; INTEROP A.1).
		{"MPC SYN", "1e04 0101", syn, false, Options{Has: OptMPCapableSYN, MPCapable: MPCapable{Version: 1, Flags: 1}}, nil},
		{"MPC SYN checksum and C", "1e04 01a1", syn, false, Options{Has: OptMPCapableSYN, MPCapable: MPCapable{Version: 1, Flags: 0xa1}}, nil},
		{"MPC SYN version 2 accepted", "1e04 0201", syn, false, Options{Has: OptMPCapableSYN, MPCapable: MPCapable{Version: 2, Flags: 1}}, nil},
		{"MPC SYN version 0 ignored", "1e04 0001", syn, false, Options{}, badVer},
		{"MPC SYN 12 bytes", "1e0c 0101" + key8, syn, false, Options{}, badLen(0)},
		{"MPC SYN/ACK", "1e0c 0101" + key8, synack, false, Options{Has: OptMPCapableSYNACK, MPCapable: MPCapable{Version: 1, Flags: 1, SenderKey: 0x0102030405060708}}, nil},
		{"MPC SYN/ACK 4 bytes", "1e04 0101", synack, false, Options{}, badLen(0)},
		{"MPC SYN/ACK version 2", "1e0c 0201" + key8, synack, false, Options{}, badVer},
		{"MPC ACK", "1e14 0101" + key8 + key8b, ack, false, Options{Has: OptMPCapableACK,
			MPCapable: MPCapable{Version: 1, Flags: 1, SenderKey: 0x0102030405060708, ReceiverKey: 0x1112131415161718}}, nil},
		{"MPC ACK version 0", "1e14 0001" + key8 + key8b, ack, false, Options{}, badVer},
		{"MPC ACK 20 with data", "1e14 0101" + key8 + key8b, ack, true, Options{}, badLen(0)},
		{"MPC data 22", "1e16 0101" + key8 + key8b + "0bb8", ack, true, Options{Has: OptMPCapableData,
			MPCapable: MPCapable{Version: 1, Flags: 1, SenderKey: 0x0102030405060708, ReceiverKey: 0x1112131415161718, DataLen: 3000}}, nil},
		{"MPC data 24 (checksum)", "1e18 0181" + key8 + key8b + "0096 5da8", ack, true, Options{Has: OptMPCapableData,
			MPCapable: MPCapable{Version: 1, Flags: 0x81, SenderKey: 0x0102030405060708, ReceiverKey: 0x1112131415161718, DataLen: 150, Checksum: 0x5da8, HasChecksum: true}}, nil},
		{"MPC 22 without data", "1e16 0101" + key8 + key8b + "0bb8", ack, false, Options{}, badLen(0)},
		{"MPC H clear", "1e04 0100", syn, false, Options{}, badFlags},
		{"MPC D-G set (SHA-1)", "1e04 0103", syn, false, Options{}, badFlags},
		{"MPC only G", "1e04 0102", syn, false, Options{}, badFlags},
		{"MPC B set", "1e04 0141", syn, false, Options{}, badFlags},

		// MP_JOIN (RFC 8684 §3.2; INTEROP A.2).
		{"MPJ SYN backup", "1e0c 1103 f940402b fd0b2af4", syn, false, Options{Has: OptMPJoinSYN,
			MPJoin: MPJoin{Backup: true, AddrID: 3, Token: 0xf940402b, Nonce: 0xfd0b2af4}}, nil},
		{"MPJ SYN/ACK", "1e10 1001 82e8dbe2b21cf433 39c2811a", synack, false, Options{Has: OptMPJoinSYNACK,
			MPJoin: MPJoin{AddrID: 1, TruncatedHMAC: 0x82e8dbe2b21cf433, Nonce: 0x39c2811a}}, nil},
		{"MPJ ACK", "1e18 1000 0102030405060708090a0b0c0d0e0f1011121314", ack, false, Options{Has: OptMPJoinACK, MPJoin: MPJoin{HMAC: hmac20}}, nil},
		{"MPJ 13 bytes", "1e0d 1000 0000000000000000 00", syn, false, Options{}, badLen(1)},

		// DSS (RFC 8684 §3.3; INTEROP A.3).
		{"DSS ack32", "1e08 2001 aabbccdd", ack, false, Options{Has: OptDSS, DSS: DSS{Flags: 1, DataAck: 0xaabbccdd}}, nil},
		{"DSS ack64", "1e0c 2003 0102030405060708", ack, false, Options{Has: OptDSS, DSS: DSS{Flags: 3, DataAck: 0x0102030405060708}}, nil},
		{"DSS map32", "1e0e 2004 00000005 00000006 0007", ack, true, Options{Has: OptDSS, DSS: DSS{Flags: 4, DSN: 5, SubflowSeq: 6, DataLen: 7}}, nil},
		{"DSS map32 csum", "1e10 2004 00000005 00000006 0007 abcd", ack, true, Options{Has: OptDSS,
			DSS: DSS{Flags: 4, DSN: 5, SubflowSeq: 6, DataLen: 7, Checksum: 0xabcd, HasChecksum: true}}, nil},
		{"DSS ack64 map64 csum", "1e1c 200f 0000000000000001 0000000000000002 00000003 0004 0005", ack, true, Options{Has: OptDSS,
			DSS: DSS{Flags: 0xf, DataAck: 1, DSN: 2, SubflowSeq: 3, DataLen: 4, Checksum: 5, HasChecksum: true}}, nil},
		{"DSS DATA_FIN", "1e16 201d 7f7da84f 07f2e9c8de709322 00000000 0001", ack, false, Options{Has: OptDSS,
			DSS: DSS{Flags: 0x1d, DataAck: 0x7f7da84f, DSN: 0x07f2e9c8de709322, DataLen: 1}}, nil},
		{"DSS reserved flag bits masked", "1e08 20e1 aabbccdd", ack, false, Options{Has: OptDSS, DSS: DSS{Flags: 1, DataAck: 0xaabbccdd}}, nil},
		{"DSS ack-only +2 accepted, checksum not read", "1e0a 2001 aabbccdd ffff", ack, false, Options{Has: OptDSS, DSS: DSS{Flags: 1, DataAck: 0xaabbccdd}}, nil},
		{"DSS ack32 with 12 bytes", "1e0c 2001 0102030405060708", ack, false, Options{}, badLen(2)},
		{"DSS map64 with 15 bytes", "1e0f 200c 0000000000000001 000000", ack, true, Options{}, badLen(2)},

		// ADD_ADDR (RFC 8684 §3.4.1; INTEROP A.4).
		{"ADD_ADDR v4", "1e10 3001 0a000201 597efa1f62114df1", ack, false, Options{Has: OptAddAddr,
			AddAddr: AddAddr{ID: 1, Addr: netip.MustParseAddr("10.0.2.1"), HMAC: 0x597efa1f62114df1}}, nil},
		{"ADD_ADDR v4 echo", "1e08 3101 0a000201", ack, false, Options{Has: OptAddAddr,
			AddAddr: AddAddr{Echo: true, ID: 1, Addr: netip.MustParseAddr("10.0.2.1")}}, nil},
		{"ADD_ADDR v4 port", "1e12 3002 0a000101 2774 35bcacdd040fedf8", ack, false, Options{Has: OptAddAddr,
			AddAddr: AddAddr{ID: 2, Addr: netip.MustParseAddr("10.0.1.1"), Port: 10100, HasPort: true, HMAC: 0x35bcacdd040fedf8}}, nil},
		{"ADD_ADDR v4 port echo", "1e0a 3102 0a000101 2774", ack, false, Options{Has: OptAddAddr,
			AddAddr: AddAddr{Echo: true, ID: 2, Addr: netip.MustParseAddr("10.0.1.1"), Port: 10100, HasPort: true}}, nil},
		{"ADD_ADDR v6", "1e1c 3001 fd000002000000000000000000000001 4ba585581b088521", ack, false, Options{Has: OptAddAddr,
			AddAddr: AddAddr{ID: 1, Addr: netip.MustParseAddr("fd00:2::1"), HMAC: 0x4ba585581b088521}}, nil},
		{"ADD_ADDR v6 echo", "1e14 3101 fd000002000000000000000000000001", ack, false, Options{Has: OptAddAddr,
			AddAddr: AddAddr{Echo: true, ID: 1, Addr: netip.MustParseAddr("fd00:2::1")}}, nil},
		{"ADD_ADDR v6 port", "1e1e 3001 fd000002000000000000000000000001 01bb 0000000000000007", ack, false, Options{Has: OptAddAddr,
			AddAddr: AddAddr{ID: 1, Addr: netip.MustParseAddr("fd00:2::1"), Port: 443, HasPort: true, HMAC: 7}}, nil},
		{"ADD_ADDR v6 port echo", "1e16 3101 fd000002000000000000000000000001 01bb", ack, false, Options{Has: OptAddAddr,
			AddAddr: AddAddr{Echo: true, ID: 1, Addr: netip.MustParseAddr("fd00:2::1"), Port: 443, HasPort: true}}, nil},
		{"ADD_ADDR 16 bytes with echo", "1e10 3101 0a000201 597efa1f62114df1", ack, false, Options{}, badLen(3)},
		{"ADD_ADDR 8 bytes without echo", "1e08 3001 0a000201", ack, false, Options{}, badLen(3)},
		{"ADD_ADDR v0 with IPVer 4", "1e08 3401 0a000201", ack, false, Options{}, badLen(3)},

		// REMOVE_ADDR (RFC 8684 §3.4.2; INTEROP A.5).
		{"REMOVE_ADDR 1", "1e04 4001", ack, false, Options{Has: OptRemoveAddr, RemoveAddr: RemoveAddr{IDs: [8]uint8{1}, N: 1}}, nil},
		{"REMOVE_ADDR 8", "1e0b 4001 02030405060708", ack, false, Options{Has: OptRemoveAddr, RemoveAddr: RemoveAddr{IDs: [8]uint8{1, 2, 3, 4, 5, 6, 7, 8}, N: 8}}, nil},
		{"REMOVE_ADDR none", "1e03 40", ack, false, Options{}, badLen(4)},
		{"REMOVE_ADDR 9", "1e0c 4001 0203040506070809", ack, false, Options{}, badLen(4)},

		// MP_PRIO (RFC 8684 §3.3.8; INTEROP A.6).
		{"MP_PRIO backup", "1e03 51", ack, false, Options{Has: OptMPPrio, MPPrio: MPPrio{Backup: true}}, nil},
		{"MP_PRIO regular", "1e03 50", ack, false, Options{Has: OptMPPrio}, nil},
		{"MP_PRIO RFC 6824 form with address ID", "1e04 5101", ack, false, Options{}, badLen(5)},

		// MP_FAIL, MP_FASTCLOSE, MP_TCPRST (RFC 8684 §3.7, §3.5, §3.6).
		{"MP_FAIL", "1e0c 6000 0102030405060708", ack, false, Options{Has: OptMPFail, MPFail: MPFail{DSN: 0x0102030405060708}}, nil},
		{"MP_FAIL 8 bytes", "1e08 6000 01020304", ack, false, Options{}, badLen(6)},
		{"MP_FASTCLOSE", "1e0c 7000 e16f6def1005c763", rst, false, Options{Has: OptFastClose, FastClose: FastClose{ReceiverKey: 0xe16f6def1005c763}}, nil},
		{"MP_FASTCLOSE on an ACK", "1e0c 7000 e16f6def1005c763", ack, false, Options{Has: OptFastClose, FastClose: FastClose{ReceiverKey: 0xe16f6def1005c763}}, nil},
		{"MP_FASTCLOSE 4 bytes", "1e04 7000", rst, false, Options{}, badLen(7)},
		{"MP_TCPRST", "1e04 8106", rst, false, Options{Has: OptTCPRST, TCPRST: TCPRST{Flags: 1, Reason: 6}}, nil},
		{"MP_TCPRST without RST", "1e04 8106", ack, false, Options{}, func(c *Counters) *uint64 { return &c.TCPRSTWithoutRST }},
		{"MP_TCPRST 5 bytes", "1e05 800000", rst, false, Options{}, badLen(8)},

		// Framing.
		{"unknown subtype 9", "1e04 9000", ack, false, Options{}, func(c *Counters) *uint64 { return &c.MPTCPUnknownSubtype }},
		{"unknown subtype 15", "1e03 f0", ack, false, Options{}, func(c *Counters) *uint64 { return &c.MPTCPUnknownSubtype }},
		{"no subtype byte", "1e02", ack, false, Options{}, func(c *Counters) *uint64 { return &c.MPTCPTooShort }},
	}
	for _, tt := range tests {
		var got Options
		var c Counters
		ParseOptions(mustHex(t, tt.opt), tt.flags, tt.data, &got, &c)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v\nwant %+v", tt.name, got, tt.want)
		}
		var want Counters
		if tt.count != nil {
			*tt.count(&want) = 1
		}
		if c != want {
			t.Errorf("%s: counters %+v, want %+v", tt.name, c, want)
		}
		// Every accepted option re-encodes to the same bytes (plus the
		// padding Linux adds).
		if sub := got.Has & OptMPTCP; sub != 0 && tt.name != "DSS reserved flag bits masked" && tt.name != "DSS ack-only +2 accepted, checksum not read" {
			var buf [MaxTCPOptionLen]byte
			n := EncodeMPTCPOption(buf[:], &got, sub)
			raw := mustHex(t, tt.opt)
			if !bytes.Equal(buf[:len(raw)], raw) || !allNOP(buf[len(raw):n]) {
				t.Errorf("%s: re-encoded as %x", tt.name, buf[:n])
			}
		}
	}
}

func allNOP(b []byte) bool {
	for _, x := range b {
		if x != OptionKindNOP {
			return false
		}
	}
	return true
}

// TestDuplicateSuboptions: the last occurrence wins, as in Linux, and the
// repetition is counted.
func TestDuplicateSuboptions(t *testing.T) {
	var o Options
	var c Counters
	ParseOptions(mustHex(t, "1e082001 00000001 1e082001 00000002 1e0c2003 0000000000000003"), FlagACK, false, &o, &c)
	if o.Has != OptDSS || o.DSS.DataAck != 3 || o.DSS.Flags != 3 || c.MPTCPDuplicate != 2 {
		t.Errorf("got %+v, counters %+v", o, c)
	}
}

func TestMPTCPOptionLenRejects(t *testing.T) {
	var o Options
	for _, sub := range []OptionSet{0, OptMSS, OptDSS | OptMPPrio, OptRemoveAddr} {
		if n := MPTCPOptionLen(&o, sub); n != 0 {
			t.Errorf("MPTCPOptionLen(%v) = %d", sub, n)
		}
		var buf [MaxTCPOptionLen]byte
		if n := EncodeMPTCPOption(buf[:], &o, sub); n != 0 {
			t.Errorf("EncodeMPTCPOption(%v) = %d", sub, n)
		}
	}
	o.RemoveAddr.N = 9
	if n := MPTCPOptionLen(&o, OptRemoveAddr); n != 0 {
		t.Errorf("REMOVE_ADDR with 9 IDs: %d", n)
	}
}

func TestOptionSetString(t *testing.T) {
	if s := (OptTimestamps | OptDSS | OptTCPRST).String(); s != "TS,DSS,MP_TCPRST" {
		t.Errorf("String() = %q", s)
	}
	if s := OptionSet(0).String(); s != "none" {
		t.Errorf("String() = %q", s)
	}
	if !OptMPTCP.Has(OptDSS|OptMPJoinACK) || OptTCP.Any(OptMPTCP) {
		t.Error("set unions")
	}
}

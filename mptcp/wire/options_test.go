package wire

import (
	"reflect"
	"testing"
)

// TestParseTCPOptions covers the TCP options and the framing rules Linux's
// tcp_parse_options applies: EOL ends the list, NOP is skipped, a length
// below 2 or past the end stops parsing, a known kind with the wrong length
// is ignored, unknown kinds are kept raw.
func TestParseTCPOptions(t *testing.T) {
	type counter func(c *Counters) *uint64
	truncated := func(c *Counters) *uint64 { return &c.OptionTruncated }
	badLen := func(c *Counters) *uint64 { return &c.OptionBadLength }
	tests := []struct {
		name  string
		opt   string
		want  Options
		count counter
	}{
		{"empty", "", Options{}, nil},
		{"MSS", "020405b4", Options{Has: OptMSS, MSS: 1460}, nil},
		{"window scale", "010303 0e", Options{Has: OptWindowScale, WindowScale: 14}, nil},
		{"window scale above 14 kept raw", "030310", Options{Has: OptWindowScale, WindowScale: 16}, nil},
		{"SACK permitted", "01010402", Options{Has: OptSACKPermitted}, nil},
		{"timestamps", "0101080a 00000001 00000002", Options{Has: OptTimestamps, TSVal: 1, TSEcr: 2}, nil},
		{"SACK 1", "0101050a 00000064 000000c8", Options{Has: OptSACK, NumSACK: 1, SACK: [4]SACKBlock{{100, 200}}}, nil},
		{"SACK 4", "01010522 00000001 00000002 00000003 00000004 00000005 00000006 00000007 00000008",
			Options{Has: OptSACK, NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}, nil},
		{"SACK 5 (only in an over-long buffer)", "052a" + "00000000000000000000000000000000000000000000000000000000000000000000000000000000", Options{}, badLen},
		{"SACK odd length", "050b 0000000100000002 00", Options{}, badLen},
		{"MSS length 5", "020505b400 020405b4", Options{Has: OptMSS, MSS: 1460}, badLen},
		{"SACK-permitted length 3", "040300", Options{}, badLen},
		{"timestamps length 8", "0808 000000010000", Options{}, badLen},
		{"window scale length 4", "03040e00", Options{}, badLen},
		{"EOL stops", "00 020405b4", Options{}, nil},
		{"length 1 stops", "0201 020405b4", Options{}, truncated},
		{"length past the end stops", "020405b4 0808 0000", Options{Has: OptMSS, MSS: 1460}, truncated},
		{"kind without length", "020405b4 02", Options{Has: OptMSS, MSS: 1460}, truncated},
		{"unknown kinds kept raw", "2204 abcd 1312 00000000000000000000000000000000",
			Options{Has: OptUnknown, NumUnknown: 2}, nil},
	}
	for _, tt := range tests {
		raw := mustHex(t, tt.opt)
		var got Options
		var c Counters
		ParseOptions(raw, 0, false, &got, &c)
		if tt.want.Has.Has(OptUnknown) {
			tt.want.Unknown[0], tt.want.Unknown[1] = raw[0:4], raw[4:22]
		}
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
		if got.Has.Has(OptSACK) && len(got.Blocks()) != int(got.NumSACK) {
			t.Errorf("%s: Blocks()", tt.name)
		}
	}
}

func TestUnknownOverflowAndNilCounters(t *testing.T) {
	raw := make([]byte, 0, 40)
	for range MaxUnknownOptions + 2 {
		raw = append(raw, 0xfd, 2) // experimental kind 253
	}
	var o Options
	var c Counters
	ParseOptions(raw, FlagACK, false, &o, &c)
	if o.NumUnknown != MaxUnknownOptions || c.UnknownOverflow != 2 || c.Ignored() != 2 {
		t.Errorf("NumUnknown %d, counters %+v", o.NumUnknown, c)
	}
	ParseOptions(mustHex(t, "0201 1e02"), FlagACK, false, &o, nil) // nil counters: nothing to count into
	if o.Has != 0 {
		t.Errorf("Has %v", o.Has)
	}
}

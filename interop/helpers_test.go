package interop_test

import (
	"testing"

	"github.com/mpxdp/mpxdp/internal/pcap"
	"github.com/mpxdp/mpxdp/internal/testbed"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// wireStats counts what the captures show of the MPTCP options.
type wireStats struct {
	segments        int
	mappings        int               // DSS options with a mapping (MP_CAPABLE with data included)
	mappingsCsum    int               // ... of which carry a DSS checksum
	dropped         int               // options the parser ignored (wrong lengths)
	rst             int               // TCP RSTs
	rstFrom         map[string]int    // RSTs by source address
	rstPair         map[[2]string]int // RSTs by (source, destination) address
	joinSYNs        int
	mpcSYNs         int
	infiniteMapping int
}

// scanWire parses every captured segment with the engine's own parser
// (mptcp/wire): tshark 4.0 does not dissect DSS checksums, so their
// presence on every mapping (RFC 8684 §3.3: all or none once negotiated) is
// checked here.
func scanWire(t *testing.T, c *testbed.Capture) wireStats {
	t.Helper()
	c.Stop()
	st := wireStats{rstFrom: map[string]int{}, rstPair: map[[2]string]int{}}
	var counters wire.Counters
	for _, name := range c.Files() {
		// Control segments are counted in the control capture only, which
		// covers the whole run (the head repeats its first ones).
		control := name == c.Control()
		f, err := pcap.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range f.Packets {
			ip := pcap.NetworkLayer(f.LinkType, p.Data)
			var s wire.Segment
			if ip == nil || wire.ParseSegment(ip, &s, &counters) != nil {
				continue
			}
			st.segments++
			o := &s.Options
			flags := s.TCP.Flags()
			if control && flags&wire.FlagRST != 0 {
				st.rst++
				st.rstFrom[s.SrcAddr().String()]++
				st.rstPair[[2]string{s.SrcAddr().String(), s.DstAddr().String()}]++
			}
			if control && flags&wire.FlagSYN != 0 && flags&wire.FlagACK == 0 {
				if o.Has&wire.OptMPJoinSYN != 0 {
					st.joinSYNs++
				}
				if o.Has&wire.OptMPCapableSYN != 0 {
					st.mpcSYNs++
				}
			}
			if o.Has&wire.OptDSS != 0 && o.DSS.HasMap() {
				st.mappings++
				if o.DSS.HasChecksum {
					st.mappingsCsum++
				}
				if o.DSS.DataLen == 0 {
					st.infiniteMapping++
				}
			}
			if o.Has&wire.OptMPCapableData != 0 {
				st.mappings++
				if o.MPCapable.HasChecksum {
					st.mappingsCsum++
				}
			}
		}
	}
	st.dropped = int(counters.Ignored())
	return st
}

// checkChecksums fails t unless every captured mapping carries a DSS
// checksum when csum is on, and none does when it is off.
func (w wireStats) checkChecksums(t *testing.T, csum bool) {
	t.Helper()
	if w.mappings == 0 {
		t.Errorf("no DSS mapping in the captures (%d segments)", w.segments)
	}
	want := 0
	if csum {
		want = w.mappings
	}
	if w.mappingsCsum != want {
		t.Errorf("%d of %d captured mappings carry a DSS checksum; want %d (checksums %v)", w.mappingsCsum, w.mappings, want, csum)
	}
	if w.infiniteMapping != 0 || w.dropped != 0 {
		t.Errorf("captures: %d infinite mappings, %d options ignored by the parser", w.infiniteMapping, w.dropped)
	}
}

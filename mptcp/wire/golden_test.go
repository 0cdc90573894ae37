package wire

import (
	"bytes"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/internal/pcap"
)

// The golden captures: testdata/shared holds the kernel captures of
// ../shared/captures (snap length 256, checksum offload on: payloads may be
// truncated and TCP checksums partial); testdata/netns holds the captures
// scripts/capture-kernel-mptcp.sh records (full snap length, complete
// checksums, mappings spanning segments of odd length).

type goldenPacket struct {
	frame     int
	seg       Segment
	truncated bool // snap length cut the payload (zero-filled here)
}

type goldenCapture struct {
	name    string
	full    bool // complete checksums and payloads (netns captures)
	packets []goldenPacket
}

func loadGolden(t *testing.T) []goldenCapture {
	t.Helper()
	var out []goldenCapture
	for _, dir := range []string{"shared", "netns"} {
		names, err := filepath.Glob(filepath.Join("testdata", dir, "*.pcap"))
		if err != nil {
			t.Fatal(err)
		}
		if len(names) == 0 {
			t.Fatalf("no captures in testdata/%s", dir)
		}
		for _, name := range names {
			f, err := pcap.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			gc := goldenCapture{name: dir + "/" + strings.TrimSuffix(filepath.Base(name), ".pcap"), full: dir == "netns"}
			for i, p := range f.Packets {
				ip := pcap.NetworkLayer(f.LinkType, p.Data)
				if ip == nil {
					t.Fatalf("%s frame %d: no IP packet", gc.name, i+1)
				}
				gp := goldenPacket{frame: i + 1}
				if missing := p.OrigLen - len(p.Data); missing > 0 {
					// Headers and options are complete; zero-fill the
					// payload the snap length dropped.
					ip = append(bytes.Clone(ip), make([]byte, missing)...)
					gp.truncated = true
				}
				var c Counters
				if err := ParseSegment(ip, &gp.seg, &c); err != nil {
					t.Fatalf("%s frame %d: ParseSegment: %v", gc.name, i+1, err)
				}
				if c != (Counters{}) {
					t.Errorf("%s frame %d: kernel options counted as ignored: %+v", gc.name, i+1, c)
				}
				gc.packets = append(gc.packets, gp)
			}
			out = append(out, gc)
		}
	}
	return out
}

// mptcpOptions calls f for each kind-30 option in the raw option bytes,
// with its offset.
func mptcpOptions(opts []byte, f func(off int, opt []byte)) {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case OptionKindEOL:
			return
		case OptionKindNOP:
			i++
			continue
		}
		n := int(opts[i+1])
		if opts[i] == OptionKindMPTCP {
			f(i, opts[i:i+n])
		}
		i += n
	}
}

// TestGoldenParseAndReencode parses every packet of every capture, checks
// that the IPv4 header checksums (all captures) and TCP checksums (netns
// captures) verify, that each MPTCP option re-encodes byte-identically with
// the NOP padding the kernel put after it, and that planning and encoding
// the parsed options reproduces the kernel's whole option block.
func TestGoldenParseAndReencode(t *testing.T) {
	caps := loadGolden(t)
	var allPkts, allOpts, allBlocks, allTCPsum int
	defer func() {
		t.Logf("all captures: %d packets: %d MPTCP options and %d option blocks re-encoded byte-identically, %d TCP checksums verified",
			allPkts, allOpts, allBlocks, allTCPsum)
	}()
	for _, gc := range caps {
		t.Run(gc.name, func(t *testing.T) {
			var nOpts, nBlocks, nTCPsum int
			defer func() {
				allPkts += len(gc.packets)
				allOpts += nOpts
				allBlocks += nBlocks
				allTCPsum += nTCPsum
			}()
			for _, gp := range gc.packets {
				s := &gp.seg
				flags := s.TCP.Flags()
				data := len(s.Payload()) > 0
				if s.Version == 4 && !s.IPv4.HeaderChecksumOK() {
					t.Errorf("frame %d: IPv4 header checksum", gp.frame)
				}
				if gc.full {
					if !s.ChecksumOK(cksum.Sum(s.Payload(), 0)) {
						t.Errorf("frame %d: TCP checksum does not verify", gp.frame)
					}
					nTCPsum++
				}
				raw := s.TCP.Options()
				mptcpOptions(raw, func(off int, opt []byte) {
					var one Options
					var c Counters
					parseMPTCP(opt, flags, data, &one, &c)
					sub := one.Has & OptMPTCP
					if sub == 0 || c != (Counters{}) {
						t.Errorf("frame %d: option %x not accepted (%+v)", gp.frame, opt, c)
						return
					}
					var buf [MaxTCPOptionLen]byte
					n := EncodeMPTCPOption(buf[:], &one, sub)
					if off+n > len(raw) || !bytes.Equal(buf[:n], raw[off:off+n]) {
						t.Errorf("frame %d: %v re-encodes as %x, kernel sent %x", gp.frame, sub, buf[:n], raw[off:min(off+n, len(raw))])
					}
					nOpts++
				})
				var buf [MaxTCPOptionLen]byte
				p := EncodeOptions(buf[:], &s.Options, flags, data)
				if !bytes.Equal(buf[:p.Len], raw) || p.Dropped != 0 {
					if strippedByMiddlebox(raw) {
						continue
					}
					t.Errorf("frame %d (flags %#x, data %v): planner wrote %x (dropped %v), kernel sent %x",
						gp.frame, flags, data, buf[:p.Len], p.Dropped, raw)
				}
				nBlocks++
			}
			t.Logf("%d packets: %d MPTCP options and %d option blocks re-encoded byte-identically, %d TCP checksums verified",
				len(gc.packets), nOpts, nBlocks, nTCPsum)
		})
	}
}

// strippedByMiddlebox reports an option block in which TCPOPTSTRIP replaced
// options with NOPs (the fallback captures): a run of four or more NOPs,
// which Linux never writes.
func strippedByMiddlebox(raw []byte) bool {
	return bytes.Contains(raw, []byte{1, 1, 1, 1})
}

// endpoint is one side of a subflow.
type endpoint = netip.AddrPort

type subflowKey struct{ a, b endpoint } // a < b

func keyOf(src, dst endpoint) subflowKey {
	if src.Compare(dst) < 0 {
		return subflowKey{src, dst}
	}
	return subflowKey{dst, src}
}

type goldenConn struct {
	clientKey, serverKey uint64
}

type goldenSubflow struct {
	conn     *goldenConn
	keys     map[endpoint]uint64 // each side's connection key
	isn      map[endpoint]uint32 // each side's initial sequence number
	nonce    map[endpoint]uint32 // MP_JOIN nonces
	joiner   endpoint            // MP_JOIN: the host that sent the SYN
	listener endpoint
}

func (sf *goldenSubflow) peerKey(src endpoint) uint64 {
	for e, k := range sf.keys {
		if e != src {
			return k
		}
	}
	return 0
}

// mappingState gathers the payload of one checksummed mapping.
type mappingState struct {
	dsn      uint64
	ssn      uint32
	dataLen  uint16
	csum     uint16
	sum      cksum.Partial
	covered  []bool
	left     int
	segments int
	oddPart  bool // some part started at an odd offset of the mapping
	done     bool
}

type goldenTotals struct {
	keys, joins, addAddrs, dsnChecks, idsnExact, fastCloses int
	csumMappings, csumMultiSeg, csumOdd                     int
}

// TestGoldenKeysHMACsChecksums rebuilds every connection of every capture
// from the keys its MP_CAPABLE options carry and checks, against the
// captured bytes: the echoed key of the third ACK; the token in each
// MP_JOIN SYN (the listener's token); the MP_JOIN SYN/ACK truncated HMAC
// and third-ACK HMAC; the ADD_ADDR HMACs; that every DSN and DATA_ACK lies
// just after the IDSN of the key it belongs to, and that the mapping of the
// initial subflow's first byte starts exactly at IDSN+1; the MP_FASTCLOSE
// key; and
// the DSS checksum of every checksummed mapping whose bytes are all in the
// capture, including mappings spanning segments at odd offsets (summed
// with cksum partials and CombineAt).
func TestGoldenKeysHMACsChecksums(t *testing.T) {
	caps := loadGolden(t)
	var all goldenTotals
	for _, gc := range caps {
		t.Run(gc.name, func(t *testing.T) {
			tot := checkConnections(t, gc)
			t.Logf("%+v", tot)
			all.keys += tot.keys
			all.joins += tot.joins
			all.addAddrs += tot.addAddrs
			all.dsnChecks += tot.dsnChecks
			all.idsnExact += tot.idsnExact
			all.fastCloses += tot.fastCloses
			all.csumMappings += tot.csumMappings
			all.csumMultiSeg += tot.csumMultiSeg
			all.csumOdd += tot.csumOdd
			switch gc.name {
			case "shared/join-signal", "netns/v4-csum-join", "netns/v4-port-prio-rm", "netns/v6-rm-fastclose":
				if tot.joins == 0 || tot.addAddrs == 0 {
					t.Errorf("no MP_JOIN or ADD_ADDR HMAC verified")
				}
			}
			switch gc.name {
			case "shared/csum-small", "shared/csum-neg-c0s1", "shared/csum-neg-c1s0", "netns/v4-csum-join":
				if tot.csumMappings == 0 {
					t.Errorf("no DSS checksum verified")
				}
			}
			if gc.name == "netns/v4-csum-join" && (tot.csumMultiSeg == 0 || tot.csumOdd == 0) {
				t.Errorf("no checksummed mapping spanning segments at odd offsets verified")
			}
		})
	}
	t.Logf("all captures: %+v", all)
	if all.idsnExact == 0 {
		t.Error("no first DSN compared with IDSN+1")
	}
}

func checkConnections(t *testing.T, gc goldenCapture) goldenTotals {
	var tot goldenTotals
	subflows := map[subflowKey]*goldenSubflow{}
	byToken := map[uint32]*goldenConn{}
	mappings := map[string]*mappingState{}
	for _, gp := range gc.packets {
		s := &gp.seg
		o := &s.Options
		src := netip.AddrPortFrom(s.SrcAddr(), s.TCP.SrcPort())
		dst := netip.AddrPortFrom(s.DstAddr(), s.TCP.DstPort())
		k := keyOf(src, dst)
		sf := subflows[k]
		flags := s.TCP.Flags()
		if flags&FlagSYN != 0 {
			if sf == nil {
				sf = &goldenSubflow{keys: map[endpoint]uint64{}, isn: map[endpoint]uint32{}, nonce: map[endpoint]uint32{}}
				subflows[k] = sf
			}
			sf.isn[src] = s.TCP.Seq()
		}
		switch {
		case o.Has.Has(OptMPCapableSYNACK):
			sf.keys[src] = o.MPCapable.SenderKey
		case o.Has.Any(OptMPCapableACK | OptMPCapableData):
			if sf == nil || sf.keys[dst] == 0 {
				t.Errorf("frame %d: MP_CAPABLE ACK without SYN/ACK", gp.frame)
				break
			}
			if o.MPCapable.ReceiverKey != sf.keys[dst] {
				t.Errorf("frame %d: echoed key %d, SYN/ACK key %d", gp.frame, o.MPCapable.ReceiverKey, sf.keys[dst])
			}
			if sf.conn == nil {
				sf.keys[src] = o.MPCapable.SenderKey
				sf.conn = &goldenConn{clientKey: o.MPCapable.SenderKey, serverKey: sf.keys[dst]}
				byToken[Token(sf.conn.clientKey)] = sf.conn
				byToken[Token(sf.conn.serverKey)] = sf.conn
				tot.keys++
			} else if sf.keys[src] != o.MPCapable.SenderKey {
				t.Errorf("frame %d: MP_CAPABLE key changed", gp.frame)
			}
		case o.Has.Has(OptMPJoinSYN):
			// RFC 8684 §3.2: the SYN carries the receiver's token.
			conn := byToken[o.MPJoin.Token]
			if conn == nil {
				t.Errorf("frame %d: MP_JOIN token %d matches no connection key", gp.frame, o.MPJoin.Token)
				break
			}
			recv := conn.serverKey
			if Token(conn.clientKey) == o.MPJoin.Token {
				recv = conn.clientKey
			}
			send := conn.clientKey ^ conn.serverKey ^ recv
			sf.conn, sf.joiner, sf.listener = conn, src, dst
			sf.keys[src], sf.keys[dst] = send, recv
			sf.nonce[src] = o.MPJoin.Nonce
		case o.Has.Has(OptMPJoinSYNACK):
			if sf == nil || sf.conn == nil {
				t.Errorf("frame %d: MP_JOIN SYN/ACK without SYN", gp.frame)
				break
			}
			sf.nonce[src] = o.MPJoin.Nonce
			kB, kA := sf.keys[sf.listener], sf.keys[sf.joiner]
			want := JoinHMAC64(kB, kA, sf.nonce[sf.listener], sf.nonce[sf.joiner])
			if o.MPJoin.TruncatedHMAC != want {
				t.Errorf("frame %d: SYN/ACK HMAC %x, computed %x", gp.frame, o.MPJoin.TruncatedHMAC, want)
			}
		case o.Has.Has(OptMPJoinACK):
			if sf == nil || sf.conn == nil {
				t.Errorf("frame %d: MP_JOIN ACK without SYN", gp.frame)
				break
			}
			kA, kB := sf.keys[sf.joiner], sf.keys[sf.listener]
			want := JoinHMAC160(kA, kB, sf.nonce[sf.joiner], sf.nonce[sf.listener])
			if o.MPJoin.HMAC != want {
				t.Errorf("frame %d: ACK HMAC %x, computed %x", gp.frame, o.MPJoin.HMAC, want)
			}
			tot.joins++
		}
		if sf == nil || sf.conn == nil {
			continue // plain TCP (fallback before the keys) or no handshake captured
		}
		sendKey, recvKey := sf.keys[src], sf.peerKey(src)
		if o.Has.Has(OptAddAddr) && !o.AddAddr.Echo {
			a := &o.AddAddr
			port := uint16(0)
			if a.HasPort {
				port = a.Port
			}
			if want := AddAddrHMAC(sendKey, recvKey, a.ID, a.Addr, port); a.HMAC != want {
				t.Errorf("frame %d: ADD_ADDR HMAC %x, computed %x", gp.frame, a.HMAC, want)
			}
			tot.addAddrs++
		}
		if o.Has.Has(OptFastClose) {
			if o.FastClose.ReceiverKey != recvKey {
				t.Errorf("frame %d: MP_FASTCLOSE key %d is not the receiver's key %d", gp.frame, o.FastClose.ReceiverKey, recvKey)
			}
			tot.fastCloses++
		}
		// Token and IDSN: every DSN a host sends starts just after the
		// IDSN of its own key, every DATA_ACK just after the peer's.
		base := IDSN(sendKey) + 1
		if m, ok := o.Mapping(); ok {
			if !within(base, m.DSN, m.DSN64) {
				t.Errorf("frame %d: DSN %d is not near IDSN+1 %d of the sender's key", gp.frame, m.DSN, base)
			}
			tot.dsnChecks++
			// The first byte of the initial subflow is the first data
			// byte: its DSN is exactly IDSN+1 (RFC 8684 §3.1).
			if sf.joiner == (endpoint{}) && m.SubflowSeq == 1 && !m.FromMPCapable {
				if ExpandSeq32(base, uint32(m.DSN)) != base {
					t.Errorf("frame %d: first DSN %d, IDSN+1 of the sender's key is %d", gp.frame, m.DSN, base)
				}
				tot.idsnExact++
			}
			if m.HasChecksum && m.DataLen != 0 && !gp.truncated {
				dsn := m.DSN
				if !m.DSN64 {
					dsn = ExpandSeq32(base, uint32(dsn))
				}
				checkMapping(t, gp, sf, src, m, dsn, mappings, &tot)
			}
		}
		if o.Has.Has(OptDSS) && o.DSS.HasAck() {
			if !within(IDSN(recvKey)+1, o.DSS.DataAck, o.DSS.Flags&DSSAck64 != 0) {
				t.Errorf("frame %d: DATA_ACK %d is not near IDSN+1 of the receiver's key", gp.frame, o.DSS.DataAck)
			}
			tot.dsnChecks++
		}
	}
	for id, m := range mappings {
		if !m.done {
			t.Logf("mapping %s: %d bytes not in the capture", id, m.left)
		}
	}
	return tot
}

// within reports whether a captured DSN or DATA_ACK v lies in the first
// 2^32 bytes after base (every capture is far shorter).
func within(base, v uint64, is64 bool) bool {
	if !is64 {
		return uint32(v)-uint32(base) < 1<<31
	}
	return v-base < 1<<32
}

// checkMapping adds the segment's part of a checksummed mapping and checks
// the checksum once every byte of the mapping has been seen.
func checkMapping(t *testing.T, gp goldenPacket, sf *goldenSubflow, src endpoint, m Mapping, dsn uint64, mappings map[string]*mappingState, tot *goldenTotals) {
	s := &gp.seg
	id := fmt.Sprintf("%v:%d:%d:%d", src, dsn, m.SubflowSeq, m.DataLen)
	ms := mappings[id]
	if ms == nil {
		n := int(m.DataLen)
		if m.DataFIN {
			n-- // the DATA_FIN takes one unit of data-level length, no byte
		}
		ms = &mappingState{dsn: dsn, ssn: m.SubflowSeq, dataLen: m.DataLen, csum: m.Checksum, covered: make([]bool, n), left: n}
		mappings[id] = ms
	}
	if ms.done {
		return
	}
	if ms.csum != m.Checksum {
		t.Errorf("frame %d: mapping %s announced with checksums %#x and %#x", gp.frame, id, ms.csum, m.Checksum)
	}
	isn, ok := sf.isn[src]
	if !ok {
		t.Fatalf("frame %d: no SYN seen for %v", gp.frame, src)
	}
	rel := s.TCP.Seq() - isn // relative subflow sequence number of the payload
	payload := s.Payload()
	off := int(int32(rel - ms.ssn))
	if len(payload) > 0 && off+len(payload) > 0 && off < len(ms.covered) {
		lo, hi := max(off, 0), min(off+len(payload), len(ms.covered))
		part := payload[lo-off : hi-off]
		// Take each byte once: retransmissions repeat covered bytes.
		for i := lo; i < hi; {
			if ms.covered[i] {
				i++
				continue
			}
			j := i
			for j < hi && !ms.covered[j] {
				ms.covered[j] = true
				j++
			}
			ms.sum = cksum.CombineAt(ms.sum, cksum.Sum(part[i-lo:j-lo], 0), i)
			ms.left -= j - i
			if i&1 == 1 {
				ms.oddPart = true
			}
			i = j
		}
		ms.segments++
	}
	if ms.left > 0 {
		return
	}
	ms.done = true
	if !DSSChecksumOK(ms.dsn, ms.ssn, ms.dataLen, ms.csum, ms.sum) {
		t.Errorf("frame %d: DSS checksum of mapping %s does not verify", gp.frame, id)
	}
	if got := DSSChecksum(ms.dsn, ms.ssn, ms.dataLen, ms.sum); got != ms.csum {
		t.Errorf("frame %d: mapping %s: computed checksum %#x, kernel sent %#x", gp.frame, id, got, ms.csum)
	}
	tot.csumMappings++
	if ms.segments > 1 {
		tot.csumMultiSeg++
	}
	if ms.oddPart {
		tot.csumOdd++
	}
}

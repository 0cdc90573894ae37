package cksum

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/mpxdp/mpxdp/internal/pcap"
)

// capturedMapping is a DSS mapping with a checksum, as the Linux kernel put
// it on the wire, with the payload of the segment that carried it.
type capturedMapping struct {
	frame    int
	dsn      uint64
	ssn      uint32
	dataLen  uint16
	checksum uint16
	payload  []byte
}

// mappingsFromCapture extracts every checksummed mapping of an IPv4 capture
// with a minimal, independent option walk (the full codec lives in
// mptcp/wire, which imports this package).
func mappingsFromCapture(t *testing.T, name string) []capturedMapping {
	t.Helper()
	f, err := pcap.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []capturedMapping
	for i, p := range f.Packets {
		ip := pcap.NetworkLayer(f.LinkType, p.Data)
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 6 {
			continue
		}
		ihl := int(ip[0]&0xf) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if total > len(ip) {
			t.Fatalf("frame %d truncated by the snap length", i+1)
		}
		tcp := ip[ihl:total]
		doff := int(tcp[12]>>4) * 4
		opts, payload := tcp[20:doff], tcp[doff:]
		for len(opts) > 0 {
			kind := opts[0]
			if kind == 0 {
				break
			}
			if kind == 1 {
				opts = opts[1:]
				continue
			}
			olen := int(opts[1])
			o := opts[:olen]
			opts = opts[olen:]
			if kind != 30 {
				continue
			}
			switch sub := o[2] >> 4; {
			case sub == 0 && olen == 24: // MP_CAPABLE with data and checksum (INTEROP A.1)
				key := [8]byte(o[4:12])
				h := sha256.Sum256(key[:])
				idsn := binary.BigEndian.Uint64(h[24:])
				out = append(out, capturedMapping{i + 1, idsn + 1, 1,
					binary.BigEndian.Uint16(o[20:]), binary.BigEndian.Uint16(o[22:]), payload})
			case sub == 2 && o[3]&0x04 != 0: // DSS with a mapping
				flags, body := o[3], o[4:]
				if flags&0x01 != 0 {
					if flags&0x02 != 0 {
						body = body[8:]
					} else {
						body = body[4:]
					}
				}
				if flags&0x08 == 0 {
					t.Fatalf("frame %d: 32-bit DSN; the kernel always sends 64-bit ones", i+1)
				}
				m := capturedMapping{frame: i + 1, dsn: binary.BigEndian.Uint64(body),
					ssn: binary.BigEndian.Uint32(body[8:]), dataLen: binary.BigEndian.Uint16(body[12:]), payload: payload}
				if len(body) < 16 {
					continue // no checksum field
				}
				m.checksum = binary.BigEndian.Uint16(body[14:])
				out = append(out, m)
			}
		}
	}
	return out
}

// TestDSSChecksumsOfKernelCapture recomputes the DSS checksum of every
// mapping in csum-small.pcap (RFC 8684 §3.3.1, INTEROP A.11): the pseudo-
// header with the full 64-bit DSN, the relative subflow sequence number and
// the data-level length (DATA_FIN included), plus the payload — in one piece,
// split at odd offsets as it would arrive across segments, and fused with the
// copy that moves payload into the stack.
func TestDSSChecksumsOfKernelCapture(t *testing.T) {
	maps := mappingsFromCapture(t, "testdata/csum-small.pcap")
	if len(maps) < 4 {
		t.Fatalf("found %d checksummed mappings, want the 4 of the capture", len(maps))
	}
	dataFINs := 0
	for _, m := range maps {
		mapped := m.payload
		if int(m.dataLen) < len(mapped) {
			t.Fatalf("frame %d: mapping of %d bytes on %d bytes of payload", m.frame, m.dataLen, len(mapped))
		}
		if m.ssn == 0 && m.dataLen == 1 && len(mapped) == 0 {
			dataFINs++ // payload-less DATA_FIN: the sum covers the pseudo-header only
		} else if int(m.dataLen) != len(mapped) {
			t.Fatalf("frame %d: mapping spans segments; this capture has single-segment mappings", m.frame)
		}
		forEachImpl(t, func(impl string) {
			ph := DSSPseudoHeader(m.dsn, m.ssn, m.dataLen)
			if got := Sum(mapped, ph).Checksum(); got != m.checksum {
				t.Errorf("%s frame %d: DSS checksum %#04x, kernel sent %#04x", impl, m.frame, got, m.checksum)
			}
			// The receiver's check: the sum including the received checksum is 0xffff.
			if got := Sum(mapped, ph.Add16(m.checksum)).Fold(); got != 0xffff {
				t.Errorf("%s frame %d: verification sum %#04x", impl, m.frame, got)
			}
			// The same mapping delivered as segments of odd lengths, copied in.
			dst := make([]byte, len(mapped))
			s := ph
			for off, step := 0, 1; off < len(mapped); off, step = off+step, step+2 {
				end := min(len(mapped), off+step)
				s = CombineAt(s, CopyAndSum(dst[off:end], mapped[off:end]), off)
			}
			if got := s.Checksum(); got != m.checksum {
				t.Errorf("%s frame %d: checksum over odd-sized pieces %#04x, want %#04x", impl, m.frame, got, m.checksum)
			}
		})
	}
	if dataFINs == 0 {
		t.Error("no payload-less DATA_FIN mapping checked")
	}
	t.Logf("%d kernel DSS checksums recomputed (%d DATA_FIN-only)", len(maps), dataFINs)
}

package wire

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/internal/pcap"
)

// tsharkFrame is one frame of the tshark test pcap and the field values
// tshark must decode from it.
type tsharkFrame struct {
	name     string
	frame    []byte
	fields   map[string]string // tshark field → expected value (all occurrences, comma-separated)
	mpcFlagC bool              // MP_CAPABLE with the C flag (see allowedExpert)
}

// tsharkFrames builds an Ethernet frame for every segment variant over IPv4
// and IPv6 (plus a VLAN-tagged one and an ARP reply), with the encoders, as
// the engine will.
func tsharkFrames(t *testing.T) []tsharkFrame {
	var out []tsharkFrame
	payload := make([]byte, 101)
	for i := range payload {
		payload[i] = byte(i)
	}
	seq := uint32(1000)
	for _, v6 := range []bool{false, true} {
		for _, v := range segmentVariants() {
			var data []byte
			if v.data {
				data = payload
			}
			var buf [256]byte
			et := uint16(EtherTypeIPv4)
			if v6 {
				et = EtherTypeIPv6
			}
			l2 := EncodeEthernet(buf[:], macB, macA, et)
			h := TCPHeader{SrcPort: 40000, DstPort: 7000, Seq: seq, Flags: v.flags, Window: 1000}
			if v.flags&FlagACK != 0 {
				h.Ack = 5000
			}
			seq += 1000
			n, plan := buildSegment(buf[l2:], v6, h, &v.o, data)
			if plan.Dropped != 0 {
				t.Fatalf("%s: dropped %v", v.name, plan.Dropped)
			}
			name := v.name + map[bool]string{false: " /IPv4", true: " /IPv6"}[v6]
			out = append(out, tsharkFrame{name, bytes.Clone(buf[:l2+n]), expectFields(&v.o, plan, v6, len(data)),
				plan.Placed.Any(OptMPCapable) && v.o.MPCapable.Flags&MPCDenyJoinID0 != 0})
		}
	}
	// A VLAN-tagged segment and an ARP reply.
	var buf [256]byte
	l2 := EncodeEthernetVLAN(buf[:], macB, macA, 42, EtherTypeIPv4)
	o := Options{Has: OptTimestamps | OptDSS, TSVal: 1, TSEcr: 2, DSS: DSS{Flags: DSSDataAck, DataAck: 77}}
	n, plan := buildSegment(buf[l2:], false, TCPHeader{SrcPort: 1, DstPort: 2, Ack: 1, Flags: FlagACK, Window: 1000}, &o, nil)
	f := expectFields(&o, plan, false, 0)
	f["vlan.id"] = "42"
	out = append(out, tsharkFrame{"VLAN-tagged DSS", bytes.Clone(buf[:l2+n]), f, false})
	l2 = EncodeEthernet(buf[:], macB, macA, EtherTypeARP)
	n = EncodeARP(buf[l2:], ARPReply, macA, testSrc4, macB, testDst4)
	out = append(out, tsharkFrame{"ARP reply", bytes.Clone(buf[:l2+n]), map[string]string{
		"arp.opcode": "2", "arp.src.hw_mac": "02:00:00:00:00:0a", "arp.src.proto_ipv4": "10.0.1.2",
		"arp.dst.hw_mac": "02:00:00:00:00:0b", "arp.dst.proto_ipv4": "10.0.1.1",
	}, false})
	return out
}

// fieldList accumulates the occurrences of each field in order.
type fieldList map[string]string

func (f fieldList) add(name string, v any) {
	s := fmt.Sprint(v)
	if old, ok := f[name]; ok {
		s = old + "," + s
	}
	f[name] = s
}

func hexByte(v uint8) string   { return fmt.Sprintf("0x%02x", v) }
func boolBit(b bool) string    { return map[bool]string{false: "0", true: "1"}[b] }
func hexBytes(b []byte) string { return fmt.Sprintf("%x", b) }

// expectFields lists what tshark must decode from a segment with the
// planned options of o.
func expectFields(o *Options, p Plan, v6 bool, payload int) map[string]string {
	f := fieldList{}
	f["tcp.checksum.status"] = "1"
	if !v6 {
		f["ip.checksum.status"] = "1"
	}
	f["tcp.len"] = strconv.Itoa(payload)
	placed := p.Placed
	// The option kinds and lengths tshark walks, NOPs included, as Linux
	// lays them out (tcp_options_write, mptcp_write_options).
	opt := func(kind, n, aligned int) {
		f.add("tcp.option_kind", kind)
		if kind != OptionKindNOP {
			f.add("tcp.option_len", n)
		}
		for range aligned - n {
			f.add("tcp.option_kind", OptionKindNOP)
		}
	}
	nops := func(n int) {
		for range n {
			opt(OptionKindNOP, 1, 1)
		}
	}
	if p.syn {
		if placed.Has(OptMSS) {
			opt(OptionKindMSS, 4, 4)
		}
		if placed.Has(OptTimestamps) {
			if placed.Has(OptSACKPermitted) {
				opt(OptionKindSACKPermitted, 2, 2)
			} else {
				nops(2)
			}
			opt(OptionKindTimestamps, 10, 10)
		}
		if placed.Has(OptWindowScale) {
			nops(1)
			opt(OptionKindWindowScale, 3, 3)
		}
		if placed.Has(OptSACKPermitted) && !placed.Has(OptTimestamps) {
			nops(2)
			opt(OptionKindSACKPermitted, 2, 2)
		}
	} else {
		if placed.Has(OptTimestamps) {
			nops(2)
			opt(OptionKindTimestamps, 10, 10)
		}
		if p.SACK > 0 {
			nops(2)
			opt(OptionKindSACK, 2+8*p.SACK, 2+8*p.SACK)
		}
	}
	if placed.Has(OptMSS) {
		f.add("tcp.options.mss_val", o.MSS)
	}
	if placed.Has(OptWindowScale) {
		f.add("tcp.options.wscale.shift", o.WindowScale)
	}
	if placed.Has(OptTimestamps) {
		f.add("tcp.options.timestamp.tsval", o.TSVal)
		f.add("tcp.options.timestamp.tsecr", o.TSEcr)
	}
	for _, b := range o.SACK[:p.SACK] {
		f.add("tcp.options.sack_le", b.Left) // raw values: relative numbering is off
		f.add("tcp.options.sack_re", b.Right)
	}
	// The MPTCP options in wire order (Plan.Encode).
	order := []OptionSet{OptMPCapableSYN, OptMPCapableSYNACK, OptMPJoinSYN, OptMPJoinSYNACK,
		OptDSS, OptMPCapableACK, OptMPCapableData, OptMPJoinACK, OptAddAddr,
		OptFastClose, OptMPFail, OptTCPRST, OptMPPrio, OptRemoveAddr}
	for _, m := range order {
		if !placed.Has(m) {
			continue
		}
		opt(OptionKindMPTCP, mptcpLen(o, m), MPTCPOptionLen(o, m))
		switch m {
		case OptMPCapableSYN, OptMPCapableSYNACK, OptMPCapableACK, OptMPCapableData:
			c := &o.MPCapable
			f.add("tcp.options.mptcp.subtype", SubtypeMPCapable)
			f.add("tcp.options.mptcp.version", c.Version)
			f.add("tcp.options.mptcp.flags", hexByte(c.Flags))
			f.add("tcp.options.mptcp.checksumreq.flags", boolBit(c.Flags&MPCChecksumRequired != 0))
			f.add("tcp.options.mptcp.sha256.flag", boolBit(c.Flags&MPCHMACSHA256 != 0))
			if m != OptMPCapableSYN {
				f.add("tcp.options.mptcp.sendkey", c.SenderKey)
			}
			if m == OptMPCapableACK || m == OptMPCapableData {
				f.add("tcp.options.mptcp.recvkey", c.ReceiverKey)
			}
			if m == OptMPCapableData {
				f.add("tcp.options.mptcp.datalvllen", c.DataLen)
				if c.HasChecksum {
					f.add("tcp.options.mptcp.checksum", fmt.Sprintf("0x%04x", c.Checksum))
				}
			}
		case OptMPJoinSYN, OptMPJoinSYNACK, OptMPJoinACK:
			j := &o.MPJoin
			f.add("tcp.options.mptcp.subtype", SubtypeMPJoin)
			if m != OptMPJoinACK {
				f.add("tcp.options.mptcp.backup.flag", boolBit(j.Backup))
				f.add("tcp.options.mptcp.addrid", j.AddrID)
				f.add("tcp.options.mptcp.sendrand", j.Nonce)
			}
			switch m {
			case OptMPJoinSYN:
				f.add("tcp.options.mptcp.recvtok", j.Token)
			case OptMPJoinSYNACK:
				f.add("tcp.options.mptcp.sendtrunchmac", j.TruncatedHMAC)
			case OptMPJoinACK:
				f.add("tcp.options.mptcp.sendhmac", hexBytes(j.HMAC[:]))
			}
		case OptDSS:
			d := &o.DSS
			f.add("tcp.options.mptcp.subtype", SubtypeDSS)
			f.add("tcp.options.mptcp.datafin.flag", boolBit(d.Flags&DSSDataFIN != 0))
			f.add("tcp.options.mptcp.dseqn8.flag", boolBit(d.Flags&DSSDSN64 != 0))
			f.add("tcp.options.mptcp.dseqnpresent.flag", boolBit(d.Flags&DSSMap != 0))
			f.add("tcp.options.mptcp.dataack8.flag", boolBit(d.Flags&DSSAck64 != 0))
			f.add("tcp.options.mptcp.dataackpresent.flag", boolBit(d.Flags&DSSDataAck != 0))
			if d.HasAck() {
				f.add("tcp.options.mptcp.rawdataack", d.DataAck)
			}
			if d.HasMap() {
				f.add("tcp.options.mptcp.rawdataseqno", d.DSN)
				f.add("tcp.options.mptcp.subflowseqno", d.SubflowSeq)
				f.add("tcp.options.mptcp.datalvllen", d.DataLen)
				// tshark 4.0 never shows a DSS checksum: it requires two
				// bytes more than the option has (its check is
				// optlen >= offset+4; seen on the kernel's own csum-small
				// frame 8 too). The option length above covers it.
			}
		case OptAddAddr:
			a := &o.AddAddr
			f.add("tcp.options.mptcp.subtype", SubtypeAddAddr)
			f.add("tcp.options.mptcp.echo", boolBit(a.Echo))
			f.add("tcp.options.mptcp.addrid", a.ID)
			if a.Addr.Is6() {
				f.add("tcp.options.mptcp.ipv6", a.Addr)
			} else {
				f.add("tcp.options.mptcp.ipv4", a.Addr)
			}
			if a.HasPort {
				f.add("tcp.options.mptcp.port", a.Port)
			}
			if !a.Echo {
				f.add("tcp.options.mptcp.addaddrtrunchmac", a.HMAC)
			}
		case OptRemoveAddr:
			f.add("tcp.options.mptcp.subtype", SubtypeRemoveAddr)
			f.add("mptcp.rm_addr.count", o.RemoveAddr.N)
			for _, id := range o.RemoveAddr.List() {
				f.add("tcp.options.mptcp.addrid", id)
			}
		case OptMPPrio:
			f.add("tcp.options.mptcp.subtype", SubtypeMPPrio)
			f.add("tcp.options.mptcp.backup.flag", boolBit(o.MPPrio.Backup))
		case OptMPFail:
			f.add("tcp.options.mptcp.subtype", SubtypeMPFail)
			f.add("tcp.options.mptcp.rawdataseqno", o.MPFail.DSN)
		case OptFastClose:
			f.add("tcp.options.mptcp.subtype", SubtypeFastClose)
			f.add("tcp.options.mptcp.recvkey", o.FastClose.ReceiverKey)
		case OptTCPRST:
			f.add("tcp.options.mptcp.subtype", SubtypeTCPRST)
			f.add("tcp.options.mptcp.flag_T.flag", boolBit(o.TCPRST.Flags&TCPRSTTransient != 0))
			f.add("tcp.options.mptcp.rst_reason", hexByte(o.TCPRST.Reason))
		}
	}
	return f
}

// mptcpLen returns the length byte of one MPTCP suboption, from the
// values (RFC 8684 §3; INTEROP A.1–A.9), not from the encoder.
func mptcpLen(o *Options, m OptionSet) int {
	switch m {
	case OptMPCapableSYN:
		return 4
	case OptMPCapableSYNACK:
		return 12
	case OptMPCapableACK:
		return 20
	case OptMPCapableData:
		if o.MPCapable.HasChecksum {
			return 24
		}
		return 22
	case OptMPJoinSYN:
		return 12
	case OptMPJoinSYNACK:
		return 16
	case OptMPJoinACK:
		return 24
	case OptDSS:
		return o.DSS.Len()
	case OptAddAddr:
		return o.AddAddr.Len()
	case OptRemoveAddr:
		return 3 + int(o.RemoveAddr.N)
	case OptMPPrio:
		return 3
	case OptMPFail, OptFastClose:
		return 12
	case OptTCPRST:
		return 4
	}
	return 0
}

// allowedExpert reports expert infos that are not faults of the frame:
// tshark's "4 NOP" heuristic also fires on Linux's own segments (the data
// segment of shared/cf-1path, checked below); every RST gets a warning;
// Wireshark still masks MP_CAPABLE flags with 0x3F (RFC 6824's crypto
// bits), so the RFC 8684 C flag reads as an unsupported algorithm.
func allowedExpert(msg string, f tsharkFrame) bool {
	switch msg {
	case "4 NOP in a row - a router may have removed some options":
		return true
	case "Connection reset (RST)":
		return strings.HasPrefix(f.name, "RST")
	case "Unsupported algorithm":
		return f.mpcFlagC
	}
	return false
}

// TestTshark writes a pcap of segments built by the encoders (every option
// variant, IPv4 and IPv6, plus VLAN and ARP) and has tshark, an independent
// dissector, decode it: every expected field must come out with the value
// we meant, the TCP and IPv4 checksums must verify, and no frame may be
// malformed or carry a warning or error.
func TestTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark; .ci/run installs it): skipping the independent dissector check")
	}
	frames := tsharkFrames(t)
	path := filepath.Join(t.TempDir(), "encoded.pcap")
	var buf bytes.Buffer
	w, err := pcap.NewWriter(&buf, pcap.LinkEthernet, 65535)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 0)
	for i, f := range frames {
		if err := w.WritePacket(t0.Add(time.Duration(i)*time.Millisecond), f.frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("MPXDP_KEEP_TSHARK_PCAP"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "wire-encoded.pcap"), buf.Bytes(), 0o644)
	}

	names := map[string]bool{}
	for _, f := range frames {
		for k := range f.fields {
			names[k] = true
		}
	}
	fields := []string{"frame.number", "_ws.malformed", "_ws.expert.severity", "_ws.expert.message"}
	for k := range names {
		fields = append(fields, k)
	}
	args := []string{"-r", path, "-n",
		"-o", "mptcp.analyze_mptcp:FALSE",
		"-o", "tcp.analyze_sequence_numbers:FALSE",
		"-o", "tcp.relative_sequence_numbers:FALSE",
		"-o", "tcp.check_checksum:TRUE",
		"-o", "ip.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"}
	for _, k := range fields {
		args = append(args, "-e", k)
	}
	cmd := exec.Command(tshark, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(frames) {
		t.Fatalf("tshark decoded %d frames, wrote %d\n%s", len(lines), len(frames), stderr.String())
	}
	checked := 0
	for i, line := range lines {
		vals := strings.Split(line, "\t")
		got := map[string]string{}
		for j, k := range fields {
			if j < len(vals) {
				got[k] = vals[j]
			}
		}
		f := frames[i]
		if got["_ws.malformed"] != "" {
			t.Errorf("frame %d (%s): malformed: %s", i+1, f.name, got["_ws.expert.message"])
		}
		sevs := strings.Split(got["_ws.expert.severity"], ",")
		msgs := strings.Split(got["_ws.expert.message"], ",")
		for j, sev := range sevs {
			// Wireshark severities: chat 0x200000, note 0x400000, warn
			// 0x600000, error 0x800000.
			v, _ := strconv.ParseUint(sev, 0, 32)
			if msg := msgs[min(j, len(msgs)-1)]; v >= 0x600000 && !allowedExpert(msg, f) {
				t.Errorf("frame %d (%s): expert %s: %s", i+1, f.name, sev, msg)
			}
		}
		for k, want := range f.fields {
			checked++
			if got[k] != want {
				t.Errorf("frame %d (%s): %s = %q, want %q", i+1, f.name, k, got[k], want)
			}
		}
	}
	t.Logf("tshark decoded %d frames; %d field values checked", len(frames), checked)

	// The allowed "4 NOP" warning fires on the kernel's own first data
	// segment too (MP_CAPABLE 22 + NOP NOP after NOP NOP TS).
	out, err = exec.Command(tshark, "-r", filepath.Join("testdata", "shared", "cf-1path.pcap"), "-Y", "frame.number == 4",
		"-T", "fields", "-e", "_ws.expert.message").Output()
	if err != nil || !strings.Contains(string(out), "4 NOP in a row") {
		t.Errorf("tshark on the kernel capture: %v %q", err, out)
	}
}

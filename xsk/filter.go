package xsk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Action is an XDP program's verdict.
type Action uint32

// The XDP verdicts (enum xdp_action).
const (
	XDPAborted  Action = 0
	XDPDrop     Action = 1
	XDPPass     Action = 2
	XDPTx       Action = 3
	XDPRedirect Action = 4
)

func (a Action) String() string {
	switch a {
	case XDPAborted:
		return "XDP_ABORTED"
	case XDPDrop:
		return "XDP_DROP"
	case XDPPass:
		return "XDP_PASS"
	case XDPTx:
		return "XDP_TX"
	case XDPRedirect:
		return "XDP_REDIRECT"
	}
	return fmt.Sprintf("Action(%d)", uint32(a))
}

// AttachMode chooses where the XDP program runs.
type AttachMode int

const (
	// AttachNative runs the program in the driver (XDP_FLAGS_DRV_MODE).
	// On veth it also turns TSO off on the peer, so that segments arrive
	// MTU-sized.
	AttachNative AttachMode = iota
	// AttachGeneric runs the program on sk_buffs after the driver
	// (XDP_FLAGS_SKB_MODE), for drivers without native XDP. A local
	// peer's GSO super-packets then reach the program whole and are
	// dropped unless MultiBuffer is on.
	AttachGeneric
)

// PortRange is an inclusive range of TCP ports.
type PortRange struct {
	Lo, Hi uint16
}

// FilterConfig configures the XDP filter program.
type FilterConfig struct {
	// Queues is the number of XSKMAP entries: one more than the highest
	// queue index that a socket is registered on. Zero means 64.
	Queues int
	// MaxOwned is the capacity of each of the IPv4 and IPv6 maps of owned
	// endpoints. Zero means 4096.
	MaxOwned int
	// Ephemeral is the stack's range of local ports for its own
	// connections. TCP segments to a port in the range and to an address
	// added with OwnAddr are steered without a per-port entry. Keep it
	// outside the kernel's net.ipv4.ip_local_port_range so that the two
	// never collide. The zero value turns the fast path off.
	Ephemeral PortRange
	// MultiBuffer loads the program with BPF_F_XDP_HAS_FRAGS, which
	// multi-buffer sockets need, and which lets native XDP run on devices
	// with an MTU above a page.
	MultiBuffer bool
}

// Filter is the XDP program that steers the stack's TCP segments to its
// AF_XDP sockets and passes everything else to the kernel.
//
// A segment is steered when it is TCP over IPv4 or IPv6 (optionally
// behind one 802.1Q or 802.1ad tag), is not an IPv4 fragment, and its
// destination (address, port) was added with Own, or its destination
// port is in the Ephemeral range and its address was added with OwnAddr.
// It goes to the socket registered for the receiving queue
// (rx_queue_index); with no socket there, it is passed. Everything else,
// ARP, NDP, ICMP, UDP, other TCP, IPv6 with extension headers before TCP,
// IPv4 fragments and truncated headers, is passed to the kernel, which
// goes on answering ARP and NDP for the stack's addresses.
//
// One Filter serves one device: its XSKMAP is indexed by queue.
type Filter struct {
	prog   *ebpf.Program
	xsks   *ebpf.Map
	owned4 *ebpf.Map
	owned6 *ebpf.Map
	link   link.Link
	cfg    FilterConfig
}

// Map key layouts: the address and the port in network byte order, then
// two bytes of padding that are always zero. Port 0 marks an address
// owned for the Ephemeral range.
const (
	key4Size = 4 + 2 + 2
	key6Size = 16 + 2 + 2
)

// NewFilter creates the maps and loads the program. It needs CAP_BPF and
// CAP_NET_ADMIN (or root).
func NewFilter(cfg FilterConfig) (_ *Filter, err error) {
	if cfg.Queues == 0 {
		cfg.Queues = 64
	}
	if cfg.MaxOwned == 0 {
		cfg.MaxOwned = 4096
	}
	if cfg.Queues < 1 || cfg.MaxOwned < 1 {
		return nil, errors.New("xsk: FilterConfig.Queues and MaxOwned must be positive")
	}
	if cfg.Ephemeral.Lo > cfg.Ephemeral.Hi || (cfg.Ephemeral != PortRange{} && cfg.Ephemeral.Lo == 0) {
		return nil, fmt.Errorf("xsk: ephemeral range %d-%d: must be increasing and exclude port 0", cfg.Ephemeral.Lo, cfg.Ephemeral.Hi)
	}
	f := &Filter{cfg: cfg}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	if f.xsks, err = ebpf.NewMap(&ebpf.MapSpec{Name: "mpxdp_xsks", Type: ebpf.XSKMap,
		KeySize: 4, ValueSize: 4, MaxEntries: uint32(cfg.Queues)}); err != nil {
		return nil, setupError("bpf(BPF_MAP_CREATE)", err)
	}
	if f.owned4, err = ebpf.NewMap(&ebpf.MapSpec{Name: "mpxdp_owned4", Type: ebpf.Hash,
		KeySize: key4Size, ValueSize: 4, MaxEntries: uint32(cfg.MaxOwned)}); err != nil {
		return nil, setupError("bpf(BPF_MAP_CREATE)", err)
	}
	if f.owned6, err = ebpf.NewMap(&ebpf.MapSpec{Name: "mpxdp_owned6", Type: ebpf.Hash,
		KeySize: key6Size, ValueSize: 4, MaxEntries: uint32(cfg.MaxOwned)}); err != nil {
		return nil, setupError("bpf(BPF_MAP_CREATE)", err)
	}
	insns := filterProgram(cfg.Ephemeral)
	for name, m := range map[string]*ebpf.Map{"xsks": f.xsks, "owned4": f.owned4, "owned6": f.owned6} {
		if err = insns.AssociateMap(name, m); err != nil {
			return nil, err
		}
	}
	spec := &ebpf.ProgramSpec{
		Name:         "mpxdp_filter",
		Type:         ebpf.XDP,
		AttachType:   ebpf.AttachXDP,
		Instructions: insns,
		License:      "Dual MIT/GPL",
	}
	if cfg.MultiBuffer {
		spec.Flags = unix.BPF_F_XDP_HAS_FRAGS
	}
	if f.prog, err = ebpf.NewProgram(spec); err != nil {
		return nil, setupError("bpf(BPF_PROG_LOAD)", err)
	}
	return f, nil
}

// ne16 is the value that a 16-bit load of the big-endian v yields on this
// host, for comparisons against packet fields without a byte swap.
func ne16(v uint16) int32 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return int32(binary.NativeEndian.Uint16(b[:]))
}

// filterProgram builds the program. Verifier notes (INTEROP C.2): compares
// against data_end are 64-bit; the IPv4 header length is a bounded
// variable offset (IHL masked and shifted: 20 to 60), so the TCP header is
// bounds-checked again after it is added; ctx stays in R6, which helper
// calls preserve.
func filterProgram(eph PortRange) asm.Instructions {
	const (
		ctx  = asm.R6
		port = asm.R7 // destination port as loaded, kept across the lookup
		data = asm.R2
		end  = asm.R3
		l3   = asm.R4
		tmp  = asm.R5
		fp   = asm.R10
	)
	// lookup calls bpf_map_lookup_elem(map, fp+keyOff) and jumps to
	// "redirect" on a hit.
	lookup := func(m string, keyOff int32) asm.Instructions {
		return asm.Instructions{
			asm.LoadMapPtr(asm.R1, 0).WithReference(m),
			asm.Mov.Reg(asm.R2, fp),
			asm.Add.Imm(asm.R2, keyOff),
			asm.FnMapLookupElem.Call(),
			asm.JNE.Imm(asm.R0, 0, "redirect"),
		}
	}
	// ephemeral checks the port against the range and looks the address up
	// with port 0 (at fp+portOff in the key at fp+keyOff).
	ephemeral := func(m string, keyOff, portOff int16) asm.Instructions {
		if eph == (PortRange{}) {
			return nil
		}
		return append(asm.Instructions{
			asm.HostTo(asm.BE, port, asm.Half), // network to host order
			asm.JLT.Imm(port, int32(eph.Lo), "pass"),
			asm.JGT.Imm(port, int32(eph.Hi), "pass"),
			asm.StoreImm(fp, portOff, 0, asm.Half),
		}, lookup(m, int32(keyOff))...)
	}

	p := asm.Instructions{
		asm.Mov.Reg(ctx, asm.R1),
		asm.LoadMem(data, ctx, 0, asm.Word), // xdp_md.data
		asm.LoadMem(end, ctx, 4, asm.Word),  // xdp_md.data_end
		// Ethernet, then at most one VLAN tag.
		asm.Mov.Reg(l3, data),
		asm.Add.Imm(l3, 14),
		asm.JGT.Reg(l3, end, "pass"),
		asm.LoadMem(tmp, data, 12, asm.Half),
		asm.JEq.Imm(tmp, ne16(0x8100), "vlan"),
		asm.JEq.Imm(tmp, ne16(0x88a8), "vlan"),
		asm.Ja.Label("l3"),
		asm.Mov.Reg(l3, data).WithSymbol("vlan"),
		asm.Add.Imm(l3, 18),
		asm.JGT.Reg(l3, end, "pass"),
		asm.LoadMem(tmp, data, 16, asm.Half),
		asm.JEq.Imm(tmp, ne16(0x0800), "ipv4").WithSymbol("l3"),
		asm.JEq.Imm(tmp, ne16(0x86dd), "ipv6"),
		asm.Ja.Label("pass"),

		// IPv4: version 4, IHL >= 5, protocol TCP, not a fragment. Key
		// (daddr, dport, 0) at fp-8.
		asm.Mov.Reg(tmp, l3).WithSymbol("ipv4"),
		asm.Add.Imm(tmp, 20),
		asm.JGT.Reg(tmp, end, "pass"),
		asm.LoadMem(asm.R0, l3, 0, asm.Byte),
		asm.Mov.Reg(tmp, asm.R0),
		asm.RSh.Imm(tmp, 4),
		asm.JNE.Imm(tmp, 4, "pass"),
		asm.And.Imm(asm.R0, 0x0f),
		asm.JLT.Imm(asm.R0, 5, "pass"),
		asm.LSh.Imm(asm.R0, 2), // header length, 20..60
		asm.LoadMem(tmp, l3, 9, asm.Byte),
		asm.JNE.Imm(tmp, unix.IPPROTO_TCP, "pass"),
		asm.LoadMem(tmp, l3, 6, asm.Half),
		asm.And.Imm(tmp, ne16(0x3fff)), // MF and fragment offset
		asm.JNE.Imm(tmp, 0, "pass"),
		asm.LoadMem(tmp, l3, 16, asm.Word),
		asm.StoreMem(fp, -8, tmp, asm.Word),
		asm.Add.Reg(l3, asm.R0), // the TCP header
		asm.Mov.Reg(tmp, l3),
		asm.Add.Imm(tmp, 20),
		asm.JGT.Reg(tmp, end, "pass"),
		asm.LoadMem(port, l3, 2, asm.Half),
		asm.StoreMem(fp, -4, port, asm.Half),
		asm.StoreImm(fp, -2, 0, asm.Half),
	}
	p = append(p, lookup("owned4", -8)...)
	p = append(p, ephemeral("owned4", -8, -4)...)
	p = append(p,
		asm.Ja.Label("pass"),

		// IPv6: version 6, next header TCP (extension headers are passed).
		// Key (daddr, dport, 0) at fp-24.
		asm.Mov.Reg(tmp, l3).WithSymbol("ipv6"),
		asm.Add.Imm(tmp, 40+20),
		asm.JGT.Reg(tmp, end, "pass"),
		asm.LoadMem(asm.R0, l3, 0, asm.Byte),
		asm.RSh.Imm(asm.R0, 4),
		asm.JNE.Imm(asm.R0, 6, "pass"),
		asm.LoadMem(asm.R0, l3, 6, asm.Byte),
		asm.JNE.Imm(asm.R0, unix.IPPROTO_TCP, "pass"),
		asm.LoadMem(asm.R0, l3, 24, asm.Word),
		asm.StoreMem(fp, -24, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, l3, 28, asm.Word),
		asm.StoreMem(fp, -20, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, l3, 32, asm.Word),
		asm.StoreMem(fp, -16, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, l3, 36, asm.Word),
		asm.StoreMem(fp, -12, asm.R0, asm.Word),
		asm.LoadMem(port, l3, 40+2, asm.Half),
		asm.StoreMem(fp, -8, port, asm.Half),
		asm.StoreImm(fp, -6, 0, asm.Half),
	)
	p = append(p, lookup("owned6", -24)...)
	p = append(p, ephemeral("owned6", -24, -8)...)
	p = append(p,
		asm.Ja.Label("pass"),

		// bpf_redirect_map(xsks, rx_queue_index, XDP_PASS): the low bits
		// of the flags are the verdict when the queue has no socket.
		asm.LoadMem(asm.R2, ctx, 16, asm.Word).WithSymbol("redirect"), // xdp_md.rx_queue_index
		asm.LoadMapPtr(asm.R1, 0).WithReference("xsks"),
		asm.Mov.Imm(asm.R3, int32(XDPPass)),
		asm.FnRedirectMap.Call(),
		asm.Return(),

		asm.Mov.Imm(asm.R0, int32(XDPPass)).WithSymbol("pass"),
		asm.Return(),
	)
	return p
}

// key4 and key6 build map keys.
func key4(a [4]byte, port uint16) [key4Size]byte {
	var k [key4Size]byte
	copy(k[:4], a[:])
	binary.BigEndian.PutUint16(k[4:], port)
	return k
}

func key6(a [16]byte, port uint16) [key6Size]byte {
	var k [key6Size]byte
	copy(k[:16], a[:])
	binary.BigEndian.PutUint16(k[16:], port)
	return k
}

func (f *Filter) update(a netip.Addr, port uint16, del bool) error {
	a = a.Unmap()
	var m *ebpf.Map
	var key any
	switch {
	case a.Is4():
		m, key = f.owned4, key4(a.As4(), port)
	case a.Is6():
		m, key = f.owned6, key6(a.As16(), port)
	default:
		return fmt.Errorf("xsk: invalid address %v", a)
	}
	if del {
		if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return setupError("bpf(BPF_MAP_DELETE_ELEM)", err)
		}
		return nil
	}
	if err := m.Put(key, uint32(1)); err != nil {
		return setupError("bpf(BPF_MAP_UPDATE_ELEM)", err)
	}
	return nil
}

// Own steers TCP segments to ep (a listening port or a connection's local
// end) to the sockets. IPv4-mapped IPv6 addresses count as IPv4.
func (f *Filter) Own(ep netip.AddrPort) error {
	if ep.Port() == 0 {
		return errors.New("xsk: Own of port 0; use OwnAddr for the ephemeral range")
	}
	return f.update(ep.Addr(), ep.Port(), false)
}

// Disown stops steering segments to ep. Disowning what is not owned is
// not an error.
func (f *Filter) Disown(ep netip.AddrPort) error {
	if ep.Port() == 0 {
		return errors.New("xsk: Disown of port 0; use DisownAddr")
	}
	return f.update(ep.Addr(), ep.Port(), true)
}

// OwnAddr steers TCP segments to a, on ports in the Ephemeral range, to the
// sockets.
func (f *Filter) OwnAddr(a netip.Addr) error { return f.update(a, 0, false) }

// DisownAddr undoes OwnAddr.
func (f *Filter) DisownAddr(a netip.Addr) error { return f.update(a, 0, true) }

// Register puts s in the XSKMAP at queue, which must be the queue s is
// bound to: in copy mode the kernel delivers a redirected frame only to a
// socket bound to the queue it arrived on (af_xdp.rst, XSKMAP).
func (f *Filter) Register(queue int, s *Socket) error { return f.RegisterFD(queue, s.FD()) }

// RegisterFD is Register for an AF_XDP socket opened by other code.
func (f *Filter) RegisterFD(queue, fd int) error {
	if queue < 0 || queue >= f.cfg.Queues {
		return fmt.Errorf("xsk: queue %d outside the filter's %d queues", queue, f.cfg.Queues)
	}
	if err := f.xsks.Put(uint32(queue), uint32(fd)); err != nil {
		return setupError("bpf(BPF_MAP_UPDATE_ELEM)", err)
	}
	return nil
}

// Unregister removes the socket at queue; that queue's segments then go
// to the kernel. Closing a socket also removes it.
func (f *Filter) Unregister(queue int) error {
	if err := f.xsks.Delete(uint32(queue)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return setupError("bpf(BPF_MAP_DELETE_ELEM)", err)
	}
	return nil
}

// Attach attaches the program to the device ifindex in the calling
// thread's network namespace, through a bpf_link: the kernel detaches it
// when the last reference goes, also when the process dies, and the link
// refuses to replace a program that someone else attached. A device has
// at most one Filter.
func (f *Filter) Attach(ifindex int, mode AttachMode) error {
	if f.link != nil {
		return errors.New("xsk: filter already attached")
	}
	flags := link.XDPDriverMode
	if mode == AttachGeneric {
		flags = link.XDPGenericMode
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: f.prog, Interface: ifindex, Flags: flags})
	if err != nil {
		return setupError("bpf(BPF_LINK_CREATE)", err)
	}
	f.link = l
	return nil
}

// Detach detaches the program.
func (f *Filter) Detach() error {
	if f.link == nil {
		return nil
	}
	err := f.link.Close()
	f.link = nil
	return err
}

// Run runs the program once on frame with BPF_PROG_TEST_RUN, as if it
// arrived on queue 0, and returns the verdict; the frame is not delivered.
// The kernel needs at least 14 bytes. For tests and diagnostics.
func (f *Filter) Run(frame []byte) (Action, error) {
	ret, err := f.prog.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		return 0, setupError("bpf(BPF_PROG_TEST_RUN)", err)
	}
	return Action(ret), nil
}

// Close detaches the program and frees the maps.
func (f *Filter) Close() error {
	first := f.Detach()
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if f.prog != nil {
		keep(f.prog.Close())
	}
	for _, m := range []*ebpf.Map{f.xsks, f.owned4, f.owned6} {
		if m != nil {
			keep(m.Close())
		}
	}
	f.prog, f.xsks, f.owned4, f.owned6 = nil, nil, nil, nil
	return first
}

package tcp

import (
	"github.com/mpxdp/mpxdp/cksum"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// WriteReset writes into buf the RST that answers seg when no connection
// exists for it (RFC 9293 §3.10.7.1): <SEQ=SEG.ACK><CTL=RST> if seg had an
// ACK, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. It returns 0 for a
// RST, which is never answered. opts may add options (MP_TCPRST); nil
// means none.
func WriteReset(buf []byte, seg *wire.Segment, opts *wire.Options) int {
	t := seg.TCP
	flags := t.Flags()
	if flags&wire.FlagRST != 0 {
		return 0
	}
	h := wire.TCPHeader{SrcPort: t.DstPort(), DstPort: t.SrcPort(), Flags: wire.FlagRST}
	if flags&wire.FlagACK != 0 {
		h.Seq = t.Ack()
	} else {
		segLen := uint32(seg.PayloadLen())
		if flags&wire.FlagSYN != 0 {
			segLen++
		}
		if flags&wire.FlagFIN != 0 {
			segLen++
		}
		h.Ack = t.Seq() + segLen
		h.Flags |= wire.FlagACK
	}
	var none wire.Options
	if opts == nil {
		opts = &none
	}
	plan := wire.PlanOptions(opts, h.Flags, false)
	ipLen := wire.IPv4HeaderLen
	if seg.Version == 6 {
		ipLen = wire.IPv6HeaderLen
	}
	tcpb := buf[ipLen:]
	plan.Encode(tcpb[wire.TCPHeaderLen:], opts)
	hl := h.Encode(tcpb, plan.Len)
	var pseudo cksum.Partial
	if seg.Version == 6 {
		ip := wire.IPv6Header{NextHeader: wire.ProtocolTCP, HopLimit: 64,
			Src: seg.IPv6.Dst(), Dst: seg.IPv6.Src(), PayloadLen: hl}
		ip.Encode(buf)
		pseudo = cksum.IPv6PseudoHeader(ip.Src, ip.Dst, wire.ProtocolTCP, uint32(hl))
	} else {
		ip := wire.IPv4Header{DontFragment: true, TTL: 64, Protocol: wire.ProtocolTCP,
			Src: seg.IPv4.Dst(), Dst: seg.IPv4.Src(), PayloadLen: hl}
		ip.Encode(buf)
		pseudo = cksum.IPv4PseudoHeader(ip.Src, ip.Dst, wire.ProtocolTCP, uint16(hl))
	}
	wire.SetTCPChecksum(tcpb[:hl], pseudo, 0)
	return ipLen + hl
}

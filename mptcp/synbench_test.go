package mptcp_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/mpxdp/mpxdp/mptcp"
	"github.com/mpxdp/mpxdp/mptcp/wire"
)

// synPacket is an MP_CAPABLE SYN from client address index i.
func synPacket(i int) []byte {
	from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1024+i%60000))
	o := &wire.Options{Has: wire.OptMSS | wire.OptSACKPermitted | wire.OptTimestamps | wire.OptWindowScale | wire.OptMPCapableSYN,
		MSS: 1460, TSVal: 1, WindowScale: 7, MPCapable: wire.MPCapable{Version: 1, Flags: wire.MPCHMACSHA256}}
	return rawSYN(from, netip.MustParseAddrPort("10.255.0.1:80"), o)
}

func rawSYN(from, to netip.AddrPort, o *wire.Options) []byte {
	plan := wire.PlanOptions(o, wire.FlagSYN, false)
	opts := make([]byte, plan.Len)
	plan.Encode(opts, o)
	return rawSegment(from, to, wire.FlagSYN, 1000, 0, 65535, opts, nil)
}

// establish brings n connections to ESTABLISHED on the server endpoint:
// SYN in, SYN/ACK out, third ACK with MP_CAPABLE in.
func establish(tb testing.TB, ep *mptcp.Endpoint, n int, buf []byte) {
	var s wire.Segment
	for i := 0; i < n; i++ {
		syn := synPacket(1<<20 + i)
		ep.HandleSegment(0, syn)
		k := ep.PollTransmit(0, buf)
		if err := wire.ParseSegment(buf[:k], &s, nil); err != nil || !s.Options.Has.Has(wire.OptMPCapableSYNACK) {
			tb.Fatalf("connection %d: no SYN/ACK", i)
		}
		var in wire.Segment
		_ = wire.ParseSegment(syn, &in, nil)
		from := netip.AddrPortFrom(in.SrcAddr(), in.TCP.SrcPort())
		o := &wire.Options{Has: wire.OptTimestamps | wire.OptMPCapableACK, TSVal: 2, TSEcr: s.Options.TSVal,
			MPCapable: wire.MPCapable{Version: 1, Flags: wire.MPCHMACSHA256, SenderKey: uint64(i + 1), ReceiverKey: s.Options.MPCapable.SenderKey}}
		plan := wire.PlanOptions(o, wire.FlagACK, false)
		opts := make([]byte, plan.Len)
		plan.Encode(opts, o)
		ep.HandleSegment(0, rawSegment(from, netip.MustParseAddrPort("10.255.0.1:80"), wire.FlagACK, 1001, s.TCP.Seq()+1, 65535, opts, nil))
		for ep.PollTransmit(0, buf) > 0 {
		}
	}
	for _, ok := ep.PollEvent(); ok; _, ok = ep.PollEvent() {
	}
}

// BenchmarkMPCapableSYN: the time from an MP_CAPABLE SYN to its SYN/ACK
// (key and token generation, the request record, the reply), with 0 to
// 100,000 connections already established on the endpoint.
func BenchmarkMPCapableSYN(b *testing.B) {
	for _, n := range []int{0, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("established=%d", n), func(b *testing.B) {
			ep, err := mptcp.NewEndpoint(mptcp.Config{Rand: rand.NewPCG(9, 9), SendBuffer: 64 << 10, RecvBuffer: 64 << 10})
			if err != nil {
				b.Fatal(err)
			}
			ep.Listen(80)
			buf := make([]byte, 2048)
			establish(b, ep, n, buf)
			if got := len(ep.Conns()); got != n {
				b.Fatalf("%d connections, want %d", got, n)
			}
			// The SYNs of the timed loop come in rounds of 1,000; between
			// rounds, untimed, their clients reset the half-open
			// connections, so that the endpoint holds n established
			// connections and at most 1,000 half-open ones throughout.
			const round = 1000
			syns, rsts := make([][]byte, round), make([][]byte, round)
			for i := range syns {
				syns[i] = synPacket(i)
				rsts[i] = rstFor(syns[i])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%round == 0 && i > 0 {
					b.StopTimer()
					for _, r := range rsts {
						ep.HandleSegment(0, r)
					}
					b.StartTimer()
				}
				ep.HandleSegment(0, syns[i%round])
				if ep.PollTransmit(0, buf) == 0 {
					b.Fatal("no SYN/ACK")
				}
			}
			b.StopTimer()
			for _, r := range rsts {
				ep.HandleSegment(0, r)
			}
			if got := len(ep.Conns()); got != n {
				b.Fatalf("%d connections after the run, want %d", got, n)
			}
			if st := ep.Stats; st.SynRequests != st.Accepted+st.SynRequestsReset {
				b.Fatalf("%d requests: %d accepted, %d reset", st.SynRequests, st.Accepted, st.SynRequestsReset)
			}
		})
	}
}

// rstFor is the client's exact RST for the SYN's half-open connection.
func rstFor(syn []byte) []byte {
	var s wire.Segment
	if err := wire.ParseSegment(syn, &s, nil); err != nil {
		panic(err)
	}
	return rawSegment(netip.AddrPortFrom(s.SrcAddr(), s.TCP.SrcPort()), netip.AddrPortFrom(s.DstAddr(), s.TCP.DstPort()),
		wire.FlagRST, s.TCP.Seq()+1, 0, 0, nil, nil)
}

package anchors

import (
	"context"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	mptcp "github.com/mpxdp/mpxdp/mptcp/tcp"
	"github.com/mpxdp/mpxdp/mptcp/tcp/tcptest"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// cpuTime returns the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// gvisorPair is two gVisor netstacks joined by channel link endpoints,
// with a goroutine per direction moving packets, and one TCP connection.
type gvisorPair struct {
	cancel   context.CancelFunc
	client   net.Conn
	server   net.Conn
	stacks   [2]*stack.Stack
	received chan int64
}

func newGVisorPair(b *testing.B, mtu uint32) *gvisorPair {
	p := &gvisorPair{}
	var eps [2]*channel.Endpoint
	for i := range p.stacks {
		s := stack.New(stack.Options{
			NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
			TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
		})
		eps[i] = channel.New(4096, mtu, "")
		if err := s.CreateNIC(1, eps[i]); err != nil {
			b.Fatalf("CreateNIC: %v", err)
		}
		addr := tcpip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
			AddressWithPrefix: addr.WithPrefix()}, stack.AddressProperties{}); err != nil {
			b.Fatalf("AddProtocolAddress: %v", err)
		}
		s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
		// Buffers as large as mpxdp's in the same run (4 MiB).
		sndOpt := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: 4 << 20, Max: 4 << 20}
		rcvOpt := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: 4 << 20, Max: 4 << 20}
		s.SetTransportProtocolOption(tcp.ProtocolNumber, &sndOpt)
		s.SetTransportProtocolOption(tcp.ProtocolNumber, &rcvOpt)
		p.stacks[i] = s
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	pump := func(from, to *channel.Endpoint) {
		for {
			pkt := from.ReadContext(ctx)
			if pkt == nil {
				return
			}
			buf := pkt.ToBuffer()
			pkt.DecRef()
			in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buf})
			to.InjectInbound(ipv4.ProtocolNumber, in)
			in.DecRef()
		}
	}
	go pump(eps[0], eps[1])
	go pump(eps[1], eps[0])
	ln, err := gonet.ListenTCP(p.stacks[1], tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}), Port: 80}, ipv4.ProtocolNumber)
	if err != nil {
		b.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	p.client, err = gonet.DialTCP(p.stacks[0], tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}), Port: 80}, ipv4.ProtocolNumber)
	if err != nil {
		b.Fatal(err)
	}
	p.server = <-accepted
	p.received = make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, p.server)
		p.received <- n
	}()
	return p
}

func (p *gvisorPair) close() {
	p.client.Close()
	<-p.received
	p.server.Close()
	p.cancel()
	for _, s := range p.stacks {
		s.Close()
	}
}

// BenchmarkTCPBulk moves the same bytes over one bulk TCP connection between
// two in-memory stacks, mpxdp's engine (tcptest.Pair: single-threaded,
// checksums computed and verified) and gVisor netstack (channel links,
// checksums computed and verified in software), and reports each one's
// payload Gbit/s per CPU-second (user + system time of the process while
// it ran) and the ratio x-gvisor.
func BenchmarkTCPBulk(b *testing.B) {
	const chunk = 16 << 20
	for _, mtu := range []int{1500, 9000} {
		mss := mtu - 40
		b.Run(fmt.Sprintf("mss=%d", mss), func(b *testing.B) {
			src := make([]byte, 256<<10)
			// mpxdp
			pair := tcptest.NewPair(mptcp.Config{MSS: mss, MaxWindow: 4 << 20}, 4<<20, 4<<20)
			sink := make([]byte, 1<<20)
			cpu0 := cpuTime()
			moved := 0
			for moved < b.N*chunk {
				pair.Cs.Write(src)
				pair.Step()
				for n := pair.Ss.Read(sink); n > 0; n = pair.Ss.Read(sink) {
					moved += n
				}
			}
			ourCPU := cpuTime() - cpu0
			if pair.Cs.Conn().Stats.Retransmits != 0 {
				b.Fatalf("retransmissions on a lossless pair: %d", pair.Cs.Conn().Stats.Retransmits)
			}
			// gVisor
			g := newGVisorPair(b, uint32(mtu))
			cpu0 = cpuTime()
			for sent := 0; sent < b.N*chunk; sent += len(src) {
				if _, err := g.client.Write(src); err != nil {
					b.Fatal(err)
				}
			}
			g.close()
			theirCPU := cpuTime() - cpu0
			ours := float64(moved) * 8 / ourCPU.Seconds() / 1e9
			theirs := float64(b.N*chunk) * 8 / theirCPU.Seconds() / 1e9
			b.ReportMetric(ours, "mpxdp-Gbit/s/cpu")
			b.ReportMetric(theirs, "gvisor-Gbit/s/cpu")
			b.ReportMetric(ours/theirs, "x-gvisor")
			b.ReportMetric(0, "ns/op")
		})
	}
}

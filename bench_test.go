package mpxdp_test

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/dataplane/pipe"
)

// streamBytes writes n bytes to w in chunks of len(buf) while r reads
// them, and returns how long that took.
func streamBytes(tb testing.TB, w io.Writer, r io.Reader, n int64, wbuf, rbuf []byte) time.Duration {
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		for sent := int64(0); sent < n; {
			k := min(int64(len(wbuf)), n-sent)
			if _, err := w.Write(wbuf[:k]); err != nil {
				errc <- err
				return
			}
			sent += k
		}
		errc <- nil
	}()
	for got := int64(0); got < n; {
		k, err := r.Read(rbuf)
		got += int64(k)
		if err != nil {
			tb.Fatalf("read after %d of %d bytes: %v", got, n, err)
		}
	}
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// loopbackTCP returns a connected pair of kernel TCP sockets on loopback.
func loopbackTCP(tb testing.TB) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	s := <-acc
	tb.Cleanup(func() {
		c.Close()
		s.Close()
	})
	return c, s
}

// BenchmarkThroughput: one connection streaming from client to server
// over unimpaired in-memory paths (1 or 4; "plain-tcp": MPTCP disabled),
// in 1 MiB Writes read with a 64 KiB buffer. Each op moves 1 MiB. Measured in the same run, with the same
// Write and Read sizes: a kernel TCP connection over loopback ("tcp-MB/s";
// "x-tcp" is mpxdp's throughput as a multiple of it) and net.Pipe
// ("x-netpipe"), a synchronous in-process copy.
func BenchmarkThroughput(b *testing.B) {
	const chunk = 1 << 20
	for _, mtu := range []int{1500, 9000} {
		for _, paths := range []int{0, 1, 4} {
			name, cfg := fmt.Sprintf("mtu=%d/paths=%d", mtu, paths), mpxdp.Config{}
			if paths == 0 {
				// Plain TCP over the same runtime and pipe: the runtime's
				// own ceiling, without the MPTCP level.
				name, cfg, paths = fmt.Sprintf("mtu=%d/plain-tcp", mtu), mpxdp.Config{DisableMPTCP: true}, 1
			}
			b.Run(name, func(b *testing.B) {
				sa, sb := pipePair(b, pipe.Config{MTU: mtu, Paths: make([]pipe.Path, paths)}, cfg, cfg)
				c, s := connected(b, sa, sb)
				wbuf, rbuf := make([]byte, chunk), make([]byte, 64<<10)
				streamBytes(b, c, s, 32<<20, wbuf, rbuf) // warm up: windows open
				b.SetBytes(chunk)
				b.ResetTimer()
				ours := streamBytes(b, c, s, int64(b.N)*chunk, wbuf, rbuf)
				b.StopTimer()
				kc, ks := loopbackTCP(b)
				streamBytes(b, kc, ks, 8<<20, wbuf, rbuf)
				tcp := streamBytes(b, kc, ks, int64(b.N)*chunk, wbuf, rbuf)
				pc, ps := net.Pipe()
				np := streamBytes(b, pc, ps, int64(b.N)*chunk, wbuf, rbuf)
				pc.Close()
				ps.Close()
				mbps := func(d time.Duration) float64 { return float64(b.N) * chunk / d.Seconds() / 1e6 }
				b.ReportMetric(mbps(tcp), "tcp-MB/s")
				b.ReportMetric(float64(tcp)/float64(ours), "x-tcp")
				b.ReportMetric(float64(np)/float64(ours), "x-netpipe")
				sf, _ := c.Subflows()
				b.ReportMetric(float64(len(sf)), "subflows")
			})
		}
	}
}

// pingPong sends n 64-byte requests on c, each echoed by s, one at a time.
func pingPong(tb testing.TB, c, s net.Conn, n int) time.Duration {
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		for i := 0; i < n; i++ {
			if _, err := io.ReadFull(s, buf); err != nil {
				done <- err
				return
			}
			if _, err := s.Write(buf); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	buf := make([]byte, 64)
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := c.Write(buf); err != nil {
			tb.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			tb.Fatal(err)
		}
	}
	d := time.Since(start)
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	return d
}

// BenchmarkRoundTrip: 64-byte request and response on one connection
// over an unimpaired in-memory path; an op is one round trip, which
// crosses both shards twice. Measured in the same run: the same exchange
// over kernel TCP on loopback ("tcp-µs/rt"; "x-tcp" > 1 means mpxdp's
// round trip is shorter).
func BenchmarkRoundTrip(b *testing.B) {
	for _, busy := range []bool{false, true} {
		b.Run(fmt.Sprintf("busypoll=%v", busy), func(b *testing.B) {
			cfg := mpxdp.Config{BusyPoll: busy}
			sa, sb := pipePair(b, pipe.Config{}, cfg, cfg)
			c, s := connected(b, sa, sb)
			pingPong(b, c, s, 100)
			b.ResetTimer()
			ours := pingPong(b, c, s, b.N)
			b.StopTimer()
			kc, ks := loopbackTCP(b)
			pingPong(b, kc, ks, 100)
			tcp := pingPong(b, kc, ks, b.N)
			b.ReportMetric(float64(ours.Microseconds())/float64(b.N), "µs/rt")
			b.ReportMetric(float64(tcp.Microseconds())/float64(b.N), "tcp-µs/rt")
			b.ReportMetric(float64(tcp)/float64(ours), "x-tcp")
			b.ReportMetric(0, "ns/op")
		})
	}
}

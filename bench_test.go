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

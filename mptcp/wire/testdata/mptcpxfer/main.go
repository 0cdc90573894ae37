// Command mptcpxfer runs one short kernel MPTCP transfer for
// scripts/capture-kernel-mptcp.sh. It lives under testdata so that it is
// not a package of the module (the architecture test gives every package
// a layer); run it with `go run ./mptcp/wire/testdata/mptcpxfer`.
//
// Server: accept -conns connections; on each, read -recv bytes, write
// -send bytes, then read until EOF (or an error such as a reset) and close.
// Client: connect, write -send bytes in -pieces pieces -pace apart, then
// either read -recv bytes, wait -hold and close, or (-abort) wait -hold
// without reading and close with the server's data unread, which makes the
// kernel send MP_FASTCLOSE.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"
)

func main() {
	mode := flag.String("mode", "", "server or client")
	listen := flag.String("listen", "[::]:7000", "server: listen address")
	connect := flag.String("connect", "", "client: server address")
	send := flag.Int("send", 0, "bytes to write")
	recv := flag.Int("recv", 0, "bytes to read before answering (server) or after sending (client)")
	conns := flag.Int("conns", 1, "server: connections to serve")
	pieces := flag.Int("pieces", 1, "client: write in this many pieces")
	pace := flag.Duration("pace", 0, "client: pause between pieces")
	hold := flag.Duration("hold", 0, "client: pause before closing")
	abort := flag.Bool("abort", false, "client: close without reading (MP_FASTCLOSE)")
	recvFirst := flag.Bool("recv-first", false, "client: read -recv bytes before writing")
	ready := flag.String("ready", "", "server: file to create once listening")
	flag.Parse()
	log.SetFlags(log.Lmicroseconds)
	log.SetPrefix("mptcpxfer " + *mode + ": ")
	switch *mode {
	case "server":
		server(*listen, *ready, *conns, *recv, *send)
	case "client":
		client(*connect, *send, *recv, *pieces, *pace, *hold, *abort, *recvFirst)
	default:
		log.Fatal("-mode must be server or client")
	}
}

// pattern returns n deterministic bytes, so that captures are reproducible
// up to keys, ports and timestamps.
func pattern(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func server(addr, ready string, conns, recv, send int) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	for i := 0; i < conns; i++ {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		tc := c.(*net.TCPConn)
		mp, _ := tc.MultipathTCP()
		log.Printf("accepted %v mptcp=%v", c.RemoteAddr(), mp)
		if _, err := io.ReadFull(c, make([]byte, recv)); err != nil {
			log.Printf("read: %v", err)
		}
		if _, err := c.Write(pattern(send)); err != nil {
			log.Printf("write: %v", err)
		}
		n, err := io.Copy(io.Discard, c)
		log.Printf("peer closed after %d more bytes (%v)", n, err)
		c.Close()
	}
}

func client(addr string, send, recv, pieces int, pace, hold time.Duration, abort, recvFirst bool) {
	var d net.Dialer
	d.SetMultipathTCP(true)
	d.Timeout = 5 * time.Second
	c, err := d.Dial("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	tc := c.(*net.TCPConn)
	mp, _ := tc.MultipathTCP()
	log.Printf("connected %v -> %v mptcp=%v", c.LocalAddr(), c.RemoteAddr(), mp)
	if recvFirst {
		if _, err := io.ReadFull(c, make([]byte, recv)); err != nil {
			log.Fatalf("read: %v", err)
		}
	}
	data := pattern(send)
	pieces = max(pieces, 1)
	for i := range pieces {
		lo, hi := i*len(data)/pieces, (i+1)*len(data)/pieces
		if _, err := c.Write(data[lo:hi]); err != nil {
			log.Fatalf("write: %v", err)
		}
		if i+1 < pieces {
			time.Sleep(pace)
		}
	}
	if abort {
		time.Sleep(hold)
		c.Close()
		fmt.Println("aborted")
		return
	}
	if !recvFirst {
		if _, err := io.ReadFull(c, make([]byte, recv)); err != nil {
			log.Fatalf("read: %v", err)
		}
	}
	time.Sleep(hold)
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("done")
}

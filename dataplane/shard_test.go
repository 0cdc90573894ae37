package dataplane_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/dataplane"
	"github.com/mpxdp/mpxdp/dataplane/pipe"
)

// newPair builds two shards joined by a pipe with the given paths.
func newPair(t testing.TB, cfg pipe.Config, a, b dataplane.Config) (*dataplane.Shard, *dataplane.Shard) {
	t.Helper()
	la, lb, err := pipe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.Link, b.Link = la, lb
	sa, err := dataplane.New(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := dataplane.New(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sa.Close()
		sb.Close()
	})
	return sa, sb
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestTransfer: a dial, an accept and 8 MiB each way with half-closes.
func TestTransfer(t *testing.T) {
	sa, sb := newPair(t, pipe.Config{Paths: []pipe.Path{{}, {}}}, dataplane.Config{}, dataplane.Config{})
	ln, err := sb.Listen(5001, 0)
	if err != nil {
		t.Fatal(err)
	}
	up, down := randomBytes(1, 8<<20), randomBytes(2, 8<<20)
	type result struct {
		got []byte
		err error
	}
	srv := make(chan result, 1)
	go func() {
		c, err := ln.Accept(nil)
		if err != nil {
			srv <- result{err: err}
			return
		}
		go func() {
			c.Write(down, nil)
			c.CloseWrite()
		}()
		got, err := readAll(c)
		srv <- result{got, err}
		c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sa.Dial(ctx, netip.AddrPort{}, netip.MustParseAddrPort("10.0.1.2:5001"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c.Write(up, nil)
		c.CloseWrite()
	}()
	got, err := readAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, down) {
		t.Fatalf("client got %d bytes, want %d (equal prefix: %v)", len(got), len(down), bytes.HasPrefix(down, got))
	}
	r := <-srv
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !bytes.Equal(r.got, up) {
		t.Fatalf("server got %d bytes, want %d", len(r.got), len(up))
	}
	sf, _ := c.Subflows()
	t.Logf("subflows: %d; client stats %+v", len(sf), sa.Stats())
	c.Close()
}

func readAll(c *dataplane.Conn) ([]byte, error) {
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf, nil)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

package dataplane_test

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"testing"

	"github.com/mpxdp/mpxdp/dataplane"
	"github.com/mpxdp/mpxdp/dataplane/pipe"
)

// streamPair connects a client Conn on sa to a server Conn on sb.
func streamPair(t testing.TB, sa, sb *dataplane.Shard) (c, s *dataplane.Conn) {
	t.Helper()
	ln, err := sb.Listen(5001, 0)
	if err != nil {
		t.Fatal(err)
	}
	acc := make(chan *dataplane.Conn, 1)
	go func() {
		s, _ := ln.Accept(nil)
		acc <- s
	}()
	c, err = sa.Dial(context.Background(), netip.AddrPort{}, netip.MustParseAddrPort("10.0.1.2:5001"))
	if err != nil {
		t.Fatal(err)
	}
	s = <-acc
	ln.Close()
	return c, s
}

// readFull reads len(p) bytes.
func readFull(c *dataplane.Conn, p []byte) error {
	for n := 0; n < len(p); {
		k, err := c.Read(p[n:], nil)
		n += k
		if err != nil {
			return err
		}
	}
	return nil
}

// TestSteadyStateZeroAllocations: with both shards running, a 64 KiB
// Write on one side and the Reads that take it on the other allocate
// nothing: the application calls, the hand-over, the shards' loops
// (receive, engine, events, transmit, sleeping and waking) and the pipe.
func TestSteadyStateZeroAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	for _, paths := range []int{1, 4} {
		t.Run(fmt.Sprintf("paths=%d", paths), func(t *testing.T) {
			sa, sb := newPair(t, pipe.Config{Paths: make([]pipe.Path, paths)}, dataplane.Config{}, dataplane.Config{})
			c, s := streamPair(t, sa, sb)
			src, dst := make([]byte, 64<<10), make([]byte, 64<<10)
			fail := make(chan error, 1)
			// The writer runs in its own goroutine for the whole test, so
			// that starting one does not count.
			reqs := make(chan struct{})
			go func() {
				for range reqs {
					if _, err := c.Write(src, nil); err != nil {
						fail <- err
						return
					}
				}
			}()
			defer close(reqs)
			round := func() {
				reqs <- struct{}{}
				if err := readFull(s, dst); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 300; i++ {
				round()
			}
			before := sa.Stats()
			allocs := testing.AllocsPerRun(300, round)
			after := sa.Stats()
			select {
			case err := <-fail:
				t.Fatal(err)
			default:
			}
			if after.TxPackets-before.TxPackets < 300*40 {
				t.Fatalf("only %d packets sent", after.TxPackets-before.TxPackets)
			}
			if allocs != 0 {
				t.Errorf("%v allocations per 64 KiB round", allocs)
			}
			c.Close()
			io.Copy(io.Discard, readerOf(s))
		})
	}
}

type connReader struct{ c *dataplane.Conn }

func (r connReader) Read(p []byte) (int, error) { return r.c.Read(p, nil) }

func readerOf(c *dataplane.Conn) io.Reader { return connReader{c} }

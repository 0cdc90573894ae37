package mpxdp_test

import (
	"crypto/sha256"
	"net"
	"testing"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/dataplane/pipe"
	"golang.org/x/net/nettest"
)

// TestTransferBothWays: 4 MiB each way over two paths, both sides
// half-closing, SHA-256 compared.
func TestTransferBothWays(t *testing.T) {
	sa, sb := pipePair(t, pipe.Config{Paths: make([]pipe.Path, 2)}, mpxdp.Config{}, mpxdp.Config{})
	c, s := connected(t, sa, sb)
	up, down := randomBytes(1, 4<<20), randomBytes(2, 4<<20)
	errs := make(chan error, 2)
	go func() { errs <- sendAndHash(c, up) }()
	go func() { errs <- sendAndHash(s, down) }()
	gotUp, nUp, err := readAndHash(s)
	if err != nil {
		t.Fatal(err)
	}
	gotDown, nDown, err := readAndHash(c)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if gotUp != sha256.Sum256(up) || nUp != int64(len(up)) {
		t.Errorf("server read %d bytes with a different hash", nUp)
	}
	if gotDown != sha256.Sum256(down) || nDown != int64(len(down)) {
		t.Errorf("client read %d bytes with a different hash", nDown)
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}

// TestNetConn runs golang.org/x/net/nettest's net.Conn conformance suite
// over a pipe pair with two paths.
func TestNetConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		sa, sb, err := mpxdp.NewPipePair(pipe.Config{Paths: make([]pipe.Path, 2)}, mpxdp.Config{}, mpxdp.Config{})
		if err != nil {
			return nil, nil, nil, err
		}
		c, s := connected(t, sa, sb)
		return c, s, func() {
			c.Close()
			s.Close()
			sa.Close()
			sb.Close()
		}, nil
	})
}

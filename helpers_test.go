package mpxdp_test

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/dataplane/pipe"
)

// pipePair builds two stacks over pc, closed at the end of the test.
func pipePair(t testing.TB, pc pipe.Config, a, b mpxdp.Config) (*mpxdp.Stack, *mpxdp.Stack) {
	t.Helper()
	sa, sb, err := mpxdp.NewPipePair(pc, a, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sa.Close()
		sb.Close()
	})
	return sa, sb
}

// connected returns a dialed and an accepted connection between sa and sb
// (port 5001 on sb's first address).
func connected(t testing.TB, sa, sb *mpxdp.Stack) (client, server *mpxdp.Conn) {
	t.Helper()
	ln, err := sb.Listen("tcp", ":5001")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan *mpxdp.Conn, 1)
	go func() {
		c, err := ln.AcceptConn()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	c, err := sa.Dial("tcp", net.JoinHostPort(sb.Addrs()[0].String(), "5001"))
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	if s == nil {
		t.FailNow()
	}
	return c, s
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// sendAndHash writes data then half-closes; readAndHash reads to EOF and
// returns the SHA-256 and length of what it read.
func sendAndHash(c *mpxdp.Conn, data []byte) error {
	if _, err := c.Write(data); err != nil {
		return err
	}
	return c.CloseWrite()
}

func readAndHash(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, 64<<10))
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

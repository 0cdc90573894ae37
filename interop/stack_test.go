package interop_test

import (
	"net"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/dataplane/afxdp"
	"github.com/mpxdp/mpxdp/internal/testbed"
)

// newStack runs an mpxdp Stack on side ns of the bed: an AF_XDP Link on
// that side's veths (opened inside the namespace), and the runtime.
func newStack(t *testing.T, b *testbed.Bed, ns string, cfg mpxdp.Config, lcfg afxdp.Config) *mpxdp.Stack {
	t.Helper()
	lcfg.Interfaces = b.Devs(ns)
	var l *afxdp.Link
	b.Do(ns, func() (err error) {
		l, err = afxdp.Open(lcfg)
		return err
	})
	cfg.Link = l
	s, err := mpxdp.NewStack(cfg)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// exchange runs testbed.Exchange on both ends of a connection at once,
// the client sending nc bytes (seed 1) and the server ns (seed 2), and
// checks the digests.
func exchange(t *testing.T, client, server net.Conn, nc, ns int64, d time.Duration) (testbed.Result, testbed.Result) {
	t.Helper()
	type res struct {
		r   testbed.Result
		err error
	}
	sc := make(chan res, 1)
	go func() {
		r, err := testbed.Exchange(server, ns, 2, d)
		sc <- res{r, err}
	}()
	cr, cerr := testbed.Exchange(client, nc, 1, d)
	s := <-sc
	if cerr != nil {
		t.Errorf("client: %v (sent %d, received %d)", cerr, cr.Sent, cr.Received)
	}
	if s.err != nil {
		t.Errorf("server: %v (sent %d, received %d)", s.err, s.r.Sent, s.r.Received)
	}
	if cr.Sent != nc || s.r.Received != nc || s.r.RecvSum != testbed.Digest(1, nc) {
		t.Errorf("client->server: sent %d, received %d of %d, digest ok %v", cr.Sent, s.r.Received, nc, s.r.RecvSum == testbed.Digest(1, nc))
	}
	if s.r.Sent != ns || cr.Received != ns || cr.RecvSum != testbed.Digest(2, ns) {
		t.Errorf("server->client: sent %d, received %d of %d, digest ok %v", s.r.Sent, cr.Received, ns, cr.RecvSum == testbed.Digest(2, ns))
	}
	return cr, s.r
}

func TestStackSmoke(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 1})
	b.Limits(b.NSB, 0, 0)
	ln, err := testbed.ListenMPTCP(b.NSB, "0.0.0.0:5201")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := newStack(t, b, b.NSA, mpxdp.Config{}, afxdp.Config{})
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	c, err := s.Dial("tcp", net.JoinHostPort(b.Paths[0].B4.String(), "5201"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kc := <-acc
	defer kc.Close()
	const n = 8 << 20
	cr, _ := exchange(t, c, kc, n, n, 60*time.Second)
	t.Logf("8 MiB each way in %v; link %+v", cr.Elapsed, s.Stats().Link)
	b.CheckMPTCPClean(b.NSB)
}

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/dataplane/pipe"
)

// TestDemo runs the example as `objstore demo` does: four clients PUT and
// GET blobs of up to 1 MiB over two impaired in-memory paths; every blob
// comes back identical.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := demo(&out, 4, 4, 1<<20); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "4 clients verified every blob") {
		t.Fatalf("output:\n%s", out.String())
	}
	t.Log("\n" + out.String())
}

// TestBadRequests: the server answers malformed requests with an error
// line and closes the connection, and keeps serving others.
func TestBadRequests(t *testing.T) {
	a, b, err := mpxdp.NewPipePair(pipe.Config{}, mpxdp.Config{}, mpxdp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	ln, err := b.Listen("tcp", ":7000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go NewStore().Serve(ln)
	for _, req := range []string{"PUT x -5\n", "PUT x 99999999999\n", "HELLO\n"} {
		c, err := a.Dial("tcp", "10.0.1.2:7000")
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(req))
		reply := make([]byte, 100)
		n, _ := c.Read(reply)
		if !strings.HasPrefix(string(reply[:n]), "ERR") {
			t.Errorf("%q: reply %q", req, reply[:n])
		}
		c.Close()
	}
	c, err := a.Dial("tcp", "10.0.1.2:7000")
	if err != nil {
		t.Fatal(err)
	}
	cl := NewClient(c)
	defer cl.Close()
	if err := cl.Put("ok", []byte("still serving")); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Get("nope"); err != ErrNotFound {
		t.Errorf("Get of a missing name: %v", err)
	}
	if err := cl.Put("bad name", nil); err == nil {
		t.Error("a name with a space was sent")
	}
}

package mpxdp_test

import (
	"fmt"
	"io"
	"time"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/dataplane/pipe"
)

// Two stacks joined by two in-memory paths, one of them slow: a client
// sends a request, the server answers and closes.
func ExampleNewPipePair() {
	server, client, err := mpxdp.NewPipePair(pipe.Config{Paths: []pipe.Path{
		{},
		{Forward: pipe.Impairment{Rate: 10e6, Delay: 5 * time.Millisecond}},
	}}, mpxdp.Config{}, mpxdp.Config{})
	if err != nil {
		panic(err)
	}
	defer server.Close()
	defer client.Close()

	ln, err := server.Listen("tcp", ":8080") // accepts on 10.0.1.1 and 10.0.2.1
	if err != nil {
		panic(err)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		req, _ := io.ReadAll(c) // until the client's CloseWrite
		fmt.Fprintf(c, "got %q", req)
		c.Close()
	}()

	c, err := client.Dial("tcp", "10.0.1.1:8080")
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	c.CloseWrite()
	resp, err := io.ReadAll(c)
	fmt.Println(string(resp), err)
	// Output: got "hello" <nil>
}

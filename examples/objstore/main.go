package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mpxdp/mpxdp"
	"github.com/mpxdp/mpxdp/dataplane/pipe"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: objstore demo | server -iface ... -listen :7000 | client -iface ... -server ip:port (-put name=file | -get name)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "demo":
		err = demo(os.Stdout, 4, 4, 1<<20)
	case "server":
		err = server(os.Args[2:])
	case "client":
		err = client(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "objstore:", err)
		os.Exit(1)
	}
}

// demoPaths are the in-memory paths of the demo: a fast short one and a
// slower long one, both a little lossy.
var demoPaths = []pipe.Path{
	{Forward: pipe.Impairment{Rate: 200e6, Delay: time.Millisecond, Loss: 0.001, QueueBytes: 512 << 10}},
	{Forward: pipe.Impairment{Rate: 100e6, Delay: 5 * time.Millisecond, Loss: 0.001, QueueBytes: 512 << 10}},
}

// demo runs a store and clients connections in one process over two
// impaired in-memory paths: each client PUTs blobs of up to maxSize bytes
// and GETs them back.
func demo(out io.Writer, clients, blobs, maxSize int) error {
	srvStack, cliStack, err := mpxdp.NewPipePair(pipe.Config{Paths: demoPaths, Seed: 1}, mpxdp.Config{}, mpxdp.Config{})
	if err != nil {
		return err
	}
	defer srvStack.Close()
	defer cliStack.Close()
	ln, err := srvStack.Listen("tcp", ":7000")
	if err != nil {
		return err
	}
	defer ln.Close()
	store := NewStore()
	go store.Serve(ln)

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	var moved sync.Map
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := cliStack.Dial("tcp", netip.AddrPortFrom(srvStack.Addrs()[0], 7000).String())
			if err != nil {
				errs <- err
				return
			}
			cl := NewClient(c)
			defer cl.Close()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			total := 0
			for j := 0; j < blobs; j++ {
				blob := make([]byte, 1+r.IntN(maxSize))
				for k := range blob {
					blob[k] = byte(r.Uint32())
				}
				name := fmt.Sprintf("c%d-b%d", i, j)
				if err := cl.Put(name, blob); err != nil {
					errs <- fmt.Errorf("put %s: %w", name, err)
					return
				}
				got, err := cl.Get(name)
				if err != nil || !bytes.Equal(got, blob) {
					errs <- fmt.Errorf("get %s: %d bytes back, %v", name, len(got), err)
					return
				}
				total += 2 * len(blob)
			}
			if _, err := cl.Get("missing"); err != ErrNotFound {
				errs <- fmt.Errorf("get of a missing blob: %v", err)
				return
			}
			sf, _ := c.Subflows()
			moved.Store(i, fmt.Sprintf("client %d: %d blobs, %d bytes, %d subflows", i, blobs, total, len(sf)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	for i := 0; i < clients; i++ {
		if v, ok := moved.Load(i); ok {
			fmt.Fprintln(out, v)
		}
	}
	fmt.Fprintf(out, "%d clients verified every blob in %v\n", clients, time.Since(start).Round(time.Millisecond))
	return nil
}

// stackFlags builds a stack on AF_XDP interfaces.
func stackFlags(fs *flag.FlagSet, args []string) (*mpxdp.Stack, error) {
	iface := fs.String("iface", "", "comma-separated NICs for AF_XDP (needs root)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *iface == "" {
		return nil, fmt.Errorf("-iface is required")
	}
	return mpxdp.NewStack(mpxdp.Config{Interfaces: strings.Split(*iface, ",")})
}

func server(args []string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	listen := fs.String("listen", ":7000", "address to listen on")
	s, err := stackFlags(fs, args)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := s.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	return NewStore().Serve(ln)
}

func client(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	srv := fs.String("server", "", "ip:port of the server")
	put := fs.String("put", "", "name=file to store")
	get := fs.String("get", "", "name to fetch to stdout")
	s, err := stackFlags(fs, args)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := netip.ParseAddrPort(*srv); err != nil {
		return fmt.Errorf("-server: %w", err)
	}
	c, err := s.Dial("tcp", *srv)
	if err != nil {
		return err
	}
	cl := NewClient(c)
	defer cl.Close()
	switch {
	case *put != "":
		name, file, ok := strings.Cut(*put, "=")
		if !ok {
			return fmt.Errorf("-put wants name=file")
		}
		blob, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		return cl.Put(name, blob)
	case *get != "":
		blob, err := cl.Get(*get)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(blob)
		return err
	}
	return fmt.Errorf("give -put or -get")
}

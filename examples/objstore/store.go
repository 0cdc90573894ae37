package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
)

// maxBlob bounds a PUT, so that a bad length cannot exhaust memory.
const maxBlob = 1 << 30

// Store is the server: blobs by name.
type Store struct {
	mu    sync.RWMutex
	blobs map[string][]byte
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{blobs: map[string][]byte{}} }

// Serve accepts connections until the listener closes.
func (s *Store) Serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go s.handle(c)
	}
}

// handle serves the requests of one connection until the client closes
// it or sends a bad request.
func (s *Store) handle(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return // io.EOF: the client is done
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "PUT":
			n, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil || n < 0 || n > maxBlob {
				fmt.Fprintf(w, "ERR bad length\n")
				w.Flush()
				return
			}
			blob := make([]byte, n)
			if _, err := io.ReadFull(r, blob); err != nil {
				return
			}
			sum := sha256.Sum256(blob)
			s.mu.Lock()
			s.blobs[f[1]] = blob
			s.mu.Unlock()
			fmt.Fprintf(w, "OK %s\n", hex.EncodeToString(sum[:]))
		case len(f) == 2 && f[0] == "GET":
			s.mu.RLock()
			blob, ok := s.blobs[f[1]]
			s.mu.RUnlock()
			if !ok {
				fmt.Fprintf(w, "ERR not found\n")
				break
			}
			fmt.Fprintf(w, "OK %d\n", len(blob))
			w.Write(blob)
		default:
			fmt.Fprintf(w, "ERR bad request\n")
			w.Flush()
			return
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
}

// Client speaks the protocol over one connection.
type Client struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// NewClient wraps a connection to a Store.
func NewClient(c net.Conn) *Client {
	return &Client{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
}

// ErrNotFound is returned by Get for an unknown name.
var ErrNotFound = errors.New("objstore: not found")

// Put stores blob under name and checks the server's SHA-256 of it.
func (cl *Client) Put(name string, blob []byte) error {
	if strings.ContainsAny(name, " \n") || name == "" {
		return fmt.Errorf("objstore: bad name %q", name)
	}
	fmt.Fprintf(cl.w, "PUT %s %d\n", name, len(blob))
	cl.w.Write(blob)
	if err := cl.w.Flush(); err != nil {
		return err
	}
	f, err := cl.reply()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(blob)
	if len(f) != 2 || f[1] != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("objstore: the server stored different bytes: %q", f)
	}
	return nil
}

// Get fetches the blob stored under name.
func (cl *Client) Get(name string) ([]byte, error) {
	fmt.Fprintf(cl.w, "GET %s\n", name)
	if err := cl.w.Flush(); err != nil {
		return nil, err
	}
	f, err := cl.reply()
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if len(f) != 2 || err != nil || n < 0 || n > maxBlob {
		return nil, fmt.Errorf("objstore: bad reply %q", f)
	}
	blob := make([]byte, n)
	_, err = io.ReadFull(cl.r, blob)
	return blob, err
}

// reply reads an "OK ..." line, or turns "ERR ..." into an error.
func (cl *Client) reply() ([]string, error) {
	line, err := cl.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	f := strings.Fields(line)
	switch {
	case len(f) >= 2 && f[0] == "OK":
		return f, nil
	case line == "ERR not found\n":
		return nil, ErrNotFound
	}
	return nil, fmt.Errorf("objstore: %s", strings.TrimSpace(line))
}

// Close ends the session.
func (cl *Client) Close() error { return cl.c.Close() }

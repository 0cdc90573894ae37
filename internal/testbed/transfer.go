package testbed

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// Result is one side's view of an Exchange.
type Result struct {
	Sent, Received   int64
	SentSum, RecvSum [32]byte // SHA-256 of what was written and what was read
	Elapsed          time.Duration
}

// Stream returns n bytes of seeded ChaCha8 randomness: the same seed gives
// the same bytes on both sides of a test without holding them in memory.
func Stream(seed uint64, n int64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

// Digest returns the SHA-256 of Stream(seed, n).
func Digest(seed uint64, n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, Stream(seed, n))
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// Exchange writes n bytes of Stream(seed, n) to c while reading from it until
// EOF, then closes the writing half (CloseWrite) after the last byte; both
// directions run at once. It hashes what it wrote and what it read. The
// peer does the same with its own seed, so each side's RecvSum must equal
// Digest of the other's seed. deadline bounds the whole exchange.
func Exchange(c net.Conn, n int64, seed uint64, deadline time.Duration) (Result, error) {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return Result{}, fmt.Errorf("testbed: %T has no CloseWrite", c)
	}
	c.SetDeadline(time.Now().Add(deadline))
	start := time.Now()
	var r Result
	werr := make(chan error, 1)
	go func() {
		h := sha256.New()
		// 256 KiB writes: large enough to keep a fast stack busy, small
		// enough that the digest runs alongside.
		buf := make([]byte, 256<<10)
		src := Stream(seed, n)
		for {
			k, err := io.ReadFull(src, buf)
			if k > 0 {
				h.Write(buf[:k])
				w, werr2 := c.Write(buf[:k])
				r.Sent += int64(w)
				if werr2 != nil {
					werr <- fmt.Errorf("write after %d bytes: %w", r.Sent, werr2)
					return
				}
			}
			if err != nil {
				break
			}
		}
		h.Sum(r.SentSum[:0])
		werr <- cw.CloseWrite()
	}()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var rerr error
	for {
		k, err := c.Read(buf)
		h.Write(buf[:k])
		r.Received += int64(k)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rerr = fmt.Errorf("read after %d bytes: %w", r.Received, err)
			}
			break
		}
	}
	h.Sum(r.RecvSum[:0])
	err := <-werr
	r.Elapsed = time.Since(start)
	if rerr != nil {
		return r, rerr
	}
	return r, err
}

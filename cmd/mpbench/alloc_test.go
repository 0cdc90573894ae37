package main

import (
	"context"
	"encoding/binary"
	"net"
	"testing"

	"github.com/mpxdp/mpxdp/dataplane/pipe"
)

// TestBlockNoAlloc: writing a block and reading it back, stamped and timed
// as in --latency, allocates nothing in steady state, in mpbench or in the
// mpxdp stacks under it (both run in this process over an in-memory path).
func TestBlockNoAlloc(t *testing.T) {
	for _, mode := range []string{modeBulk, modeLatency} {
		t.Run(mode, func(t *testing.T) {
			st, peer, err := openMem(&stackOptions{kind: stackMem, paths: []pipe.Path{{}}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			defer peer.Close()
			ln, err := peer.Listen(7100)
			if err != nil {
				t.Fatal(err)
			}
			acc := make(chan net.Conn, 1)
			go func() {
				c, _ := ln.Accept()
				acc <- c
			}()
			c, err := st.Dial(context.Background(), netipAP("10.0.1.2:7100"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := <-acc
			defer s.Close()
			const block = 64 << 10
			sp := testSpec{Mode: mode, Block: block}
			snd := &sideRun{spec: sp, sender: true, m: newMeter(true)}
			rcv := &sideRun{spec: sp, m: newMeter(false)}
			mcs, mcr := snd.m.add(1, c), rcv.m.add(1, s)
			p := append([]byte(nil), payload[:block]...)
			buf := make([]byte, block)
			var h hist
			var seq uint64
			step := func() {
				if _, err := snd.writeBlock(mcs, p, seq); err != nil {
					t.Fatal(err)
				}
				seq++
				for got := 0; got < block; {
					k, err := rcv.readBlock(mcr, buf[:block-got], &h)
					if err != nil {
						t.Fatal(err)
					}
					got += k
				}
			}
			for range 64 { // past slow start and the first buffer growth
				step()
			}
			if n := testing.AllocsPerRun(200, step); n > 0 {
				t.Errorf("%.2f allocations per %d-byte block", n, block)
			}
			if mode == modeLatency && (h.n == 0 || binary.BigEndian.Uint64(buf[8:]) != seq-1) {
				t.Errorf("latency: %d samples, last block %d of %d", h.n, binary.BigEndian.Uint64(buf[8:]), seq)
			}
		})
	}
}

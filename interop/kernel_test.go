package interop_test

import (
	"net"
	"testing"
	"time"

	"github.com/mpxdp/mpxdp/internal/testbed"
)

// TestKernelBed proves the bed with the kernel on both sides: a kernel MPTCP
// client in A joins a second subflow from its second address (an `ip mptcp
// endpoint ... subflow`, INTEROP C.1 "subflow" variant) to a kernel server
// in B, both directions carry seeded random data, and the kernel reports no
// fallback or error while tshark finds no malformed segment.
func TestKernelBed(t *testing.T) {
	for _, csum := range []bool{false, true} {
		name := "csum-off"
		if csum {
			name = "csum-on"
		}
		t.Run(name, func(t *testing.T) {
			b := testbed.New(t, testbed.Config{Paths: 2, Checksum: csum})
			b.Limits(b.NSB, 2, 0)
			b.Limits(b.NSA, 2, 0)
			b.Endpoint(b.NSA, b.Paths[1].A4.String(), "dev", b.Paths[1].DevA, "subflow")
			capB := b.StartCapture(b.NSB, 4000)

			ln, err := testbed.ListenMPTCP(b.NSB, "0.0.0.0:5201")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			const n = 16 << 20
			srvRes := make(chan testbed.Result, 1)
			srvErr := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					srvErr <- err
					return
				}
				defer c.Close()
				r, err := testbed.Exchange(c, n, 2, 60*time.Second)
				srvRes <- r
				srvErr <- err
			}()
			c, err := testbed.DialMPTCP(b.NSA, b.Paths[0].A4.String()+":0", net.JoinHostPort(b.Paths[0].B4.String(), "5201"), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The second subflow appears once the connection is fully
			// established (INTEROP B.5).
			var info testbed.MPTCPInfo
			if !testbed.WaitFor(5*time.Second, func() bool {
				info, err = testbed.Info(c)
				return err == nil && info.Subflows == 1
			}) {
				t.Fatalf("client: MPTCP_INFO %+v, %v; want 1 extra subflow", info, err)
			}
			if info.Fallback || info.CsumEnabled != csum {
				t.Errorf("client MPTCP_INFO %+v: want no fallback, checksums %v", info, csum)
			}
			cr, err := testbed.Exchange(c, n, 1, 60*time.Second)
			if err != nil {
				t.Fatalf("client: %v", err)
			}
			if err := <-srvErr; err != nil {
				t.Fatalf("server: %v", err)
			}
			sr := <-srvRes
			if cr.Sent != n || sr.Received != n || sr.RecvSum != cr.SentSum || sr.RecvSum != testbed.Digest(1, n) {
				t.Errorf("client->server: sent %d, received %d, digests match %v", cr.Sent, sr.Received, sr.RecvSum == cr.SentSum)
			}
			if sr.Sent != n || cr.Received != n || cr.RecvSum != sr.SentSum || cr.RecvSum != testbed.Digest(2, n) {
				t.Errorf("server->client: sent %d, received %d, digests match %v", sr.Sent, cr.Received, cr.RecvSum == sr.SentSum)
			}
			t.Logf("16 MiB each way in %v", cr.Elapsed)

			sc := b.CheckMPTCPClean(b.NSB)
			cc := b.CheckMPTCPClean(b.NSA)
			if sc["MPTcpExtMPCapableSYNRX"] != 1 || sc["MPTcpExtMPJoinAckRx"] != 1 || cc["MPTcpExtMPJoinSynAckRx"] != 1 {
				t.Errorf("want 1 MP_CAPABLE connection with 1 join; server %v, client %v", sc.Prefixed("MPTcpExt"), cc.Prefixed("MPTcpExt"))
			}
			pkts := capB.Check()
			w := scanWire(t, capB)
			w.checkChecksums(t, csum)
			if w.mpcSYNs != 1 || w.joinSYNs != 1 || w.rst != 0 {
				t.Errorf("captured %d MP_CAPABLE SYNs, %d MP_JOIN SYNs, %d RSTs; want 1, 1, 0", w.mpcSYNs, w.joinSYNs, w.rst)
			}
			t.Logf("tshark checked %d packets", pkts)
		})
	}
}

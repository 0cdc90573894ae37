package testbed

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBed builds a bed through scripts/testbed.sh, checks what the script
// promises (addresses, MTU, checksum offload off, sysctls, limits), and
// checks that the namespaces are gone once the subtest has ended.
func TestBed(t *testing.T) {
	var b *Bed
	t.Run("up", func(t *testing.T) {
		b = New(t, Config{Paths: 2, MTU: 9000, Queues: 2, Checksum: true})
		if !strings.HasPrefix(b.NSA, Prefix) || len(b.Paths[1].DevB) > 15 {
			t.Errorf("names %s %s: want the %s prefix and at most 15 characters", b.NSA, b.Paths[1].DevB, Prefix)
		}
		for _, p := range b.Paths {
			out := b.Run(b.NSA, "ip", "-o", "addr", "show", "dev", p.DevA)
			if !strings.Contains(out, p.A4.String()+"/24") || !strings.Contains(out, p.A6.String()+"/64") {
				t.Errorf("%s: %s", p.DevA, out)
			}
			for _, side := range []struct{ ns, dev string }{{b.NSA, p.DevA}, {b.NSB, p.DevB}} {
				if out := b.Run(side.ns, "ip", "-o", "link", "show", side.dev); !strings.Contains(out, "mtu 9000") {
					t.Errorf("%s: %s", side.dev, out)
				}
				if out := b.Run(side.ns, "ethtool", "-k", side.dev); !strings.Contains(out, "tx-checksumming: off") {
					t.Errorf("%s: TX checksum offload not off", side.dev)
				}
				if out := b.Run(side.ns, "ls", "/sys/class/net/"+side.dev+"/queues"); strings.Count(out, "rx-") != 2 {
					t.Errorf("%s queues: %s", side.dev, out)
				}
			}
		}
		for _, ns := range []string{b.NSA, b.NSB} {
			for key, want := range map[string]string{
				"net.mptcp.enabled": "1", "net.mptcp.checksum_enabled": "1",
				"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.tcp_congestion_control": "reno",
			} {
				if got := strings.TrimSpace(b.Run(ns, "sysctl", "-n", key)); got != want {
					t.Errorf("%s: %s = %s, want %s", ns, key, got, want)
				}
			}
			if out := b.Run(ns, "ip", "mptcp", "limits"); !strings.Contains(out, "subflows 8") {
				t.Errorf("%s limits: %s", ns, out)
			}
		}
		if out := b.Run(b.NSA, "ip", "route", "get", b.Paths[0].B4.String(), "from", b.Paths[1].A4.String()); !strings.Contains(out, "dev "+b.Paths[1].DevA) {
			t.Errorf("A does not route by source: %s", out)
		}
		c := b.Nstat(b.NSA)
		if m := c.Missing(MPTCPErrors...); len(m) > 0 {
			t.Errorf("nstat lacks %v", m)
		}
	})
	if b == nil {
		return
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, ns := range []string{b.NSA, b.NSB} {
		if strings.Contains(string(out), ns) {
			t.Errorf("namespace %s survived its test", ns)
		}
	}
}

// TestBedMiddle builds the bed with a bridge namespace between A and B and
// checks that a capture there sees A's traffic to B.
func TestBedMiddle(t *testing.T) {
	b := New(t, Config{Paths: 2, Middle: true})
	if b.NSM == "" {
		t.Fatal("no middle namespace")
	}
	c := b.StartCapture(b.NSM, 100)
	ln, err := ListenMPTCP(b.NSB, "0.0.0.0:7000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	kc, err := DialMPTCP(b.NSA, "", b.Paths[0].B4.String()+":7000", 5e9)
	if err != nil {
		t.Fatalf("through the bridge: %v", err)
	}
	kc.Close()
	if v := c.Tshark("tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 7000"); len(v) == 0 {
		t.Error("the middle capture saw no SYN")
	}
}

// TestExchange checks the transfer helper over a kernel TCP connection on
// loopback inside a bed: both digests arrive intact.
func TestExchange(t *testing.T) {
	b := New(t, Config{Paths: 1})
	ln, err := ListenMPTCP(b.NSB, b.Paths[0].B4.String()+":7000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 3<<20 + 7
	done := make(chan Result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
			done <- Result{}
			return
		}
		defer c.Close()
		r, err := Exchange(c, 1000, 9, 10e9)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	c, err := DialMPTCP(b.NSA, "", b.Paths[0].B4.String()+":7000", 5e9)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := Exchange(c, n, 8, 10e9)
	if err != nil {
		t.Fatal(err)
	}
	s := <-done
	if r.Received != 1000 || r.RecvSum != Digest(9, 1000) || s.Received != n || s.RecvSum != Digest(8, n) || s.RecvSum == Digest(8, n-1) {
		t.Errorf("client %+v server %+v", r, s)
	}
	if info, err := Info(c); err != nil || info.Fallback {
		t.Errorf("MPTCP_INFO %+v, %v: want MPTCP without fallback", info, err)
	}
}

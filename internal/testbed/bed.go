package testbed

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Prefix starts the name of everything a bed creates.
const Prefix = "mpxX"

// Config chooses the bed's shape; the zero value is the two-path bed at
// MTU 1500 with one queue, checksums off, offloads off and reno.
type Config struct {
	Paths    int    // veth pairs, 1..4; 0 means 2
	MTU      int    // 0 means 1500
	Queues   int    // RX/TX queues per veth; 0 means 1
	Checksum bool   // net.mptcp.checksum_enabled in both namespaces
	Offloads bool   // keep the kernel's TX offloads (kernel<->kernel baselines only)
	CC       string // kernel congestion control; "" means reno (INTEROP C.2b)
	// Middle puts a third namespace with one kernel bridge per path
	// between A and B, where a capture sees what AF_XDP on both ends
	// hides from tcpdump.
	Middle bool
}

// Path is one veth pair: A's end and B's end with their addresses.
type Path struct {
	DevA, DevB string
	A4, B4     netip.Addr // 10.0.i.2 and 10.0.i.1
	A6, B6     netip.Addr // fd00:i::2 and fd00:i::1
}

// Bed is a built bed. Its namespaces are deleted by t.Cleanup.
type Bed struct {
	Name     string
	NSA, NSB string
	NSM      string // the middle namespace, with Config.Middle
	Paths    []Path
	Config   Config
	t        testing.TB
}

// NeedRoot skips t unless the process runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, veth, XDP, AF_XDP); CI runs as root")
	}
}

// NeedTools skips t (or fails it under CI) unless every tool is in PATH.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("needs %s in PATH (.ci/run installs it with apt-get)", tool)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// Script returns the path of scripts/testbed.sh, found by walking up from
// the working directory to the module root.
func Script() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/mpxdp/mpxdp\n")) {
			return filepath.Join(dir, "scripts", "testbed.sh"), nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("testbed: module root (go.mod of github.com/mpxdp/mpxdp) not found above the working directory")
		}
		dir = up
	}
}

// NewName returns a fresh bed name: Prefix and six random hex digits.
func NewName() string {
	var r [3]byte
	rand.Read(r[:])
	return Prefix + hex.EncodeToString(r[:])
}

// New builds a bed with scripts/testbed.sh and deletes it when t ends.
func New(t testing.TB, cfg Config) *Bed {
	t.Helper()
	NeedRoot(t)
	NeedTools(t, "ip", "ethtool", "bash")
	if cfg.Paths == 0 {
		cfg.Paths = 2
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.Queues == 0 {
		cfg.Queues = 1
	}
	if cfg.CC == "" {
		cfg.CC = "reno"
	}
	script, err := Script()
	if err != nil {
		t.Fatal(err)
	}
	b := &Bed{Name: NewName(), Config: cfg, t: t}
	b.NSA, b.NSB = b.Name+"a", b.Name+"b"
	if cfg.Middle {
		b.NSM = b.Name + "m"
	}
	for i := 1; i <= cfg.Paths; i++ {
		b.Paths = append(b.Paths, Path{
			DevA: fmt.Sprintf("%sa%d", b.Name, i), DevB: fmt.Sprintf("%sb%d", b.Name, i),
			A4: netip.AddrFrom4([4]byte{10, 0, byte(i), 2}), B4: netip.AddrFrom4([4]byte{10, 0, byte(i), 1}),
			A6: netip.MustParseAddr(fmt.Sprintf("fd00:%d::2", i)), B6: netip.MustParseAddr(fmt.Sprintf("fd00:%d::1", i)),
		})
	}
	// Registered before "up" so that a half-built bed goes too; both
	// commands delete only the two namespaces named here.
	t.Cleanup(func() {
		exec.Command("bash", script, "down", b.Name).Run()
		for _, ns := range []string{b.NSA, b.NSB, b.NSM} {
			if ns != "" {
				exec.Command("ip", "netns", "del", ns).Run()
			}
		}
	})
	off := "off"
	if cfg.Offloads {
		off = "on"
	}
	cmd := exec.Command("bash", script, "up", b.Name)
	cmd.Env = append(os.Environ(),
		"PATHS="+strconv.Itoa(cfg.Paths), "MTU="+strconv.Itoa(cfg.MTU), "QUEUES="+strconv.Itoa(cfg.Queues),
		"CSUM="+boolDigit(cfg.Checksum), "OFFLOADS="+off, "CC="+cfg.CC, "MIDDLE="+boolDigit(cfg.Middle))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/testbed.sh up %s: %v\n%s", b.Name, err, out)
	}
	return b
}

func boolDigit(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// Run runs a command inside namespace ns (ip netns exec) and fails the test
// if it fails.
func (b *Bed) Run(ns string, args ...string) string {
	b.t.Helper()
	out, err := b.Exec(ns, args...)
	if err != nil {
		b.t.Fatalf("in %s: %s: %v\n%s", ns, strings.Join(args, " "), err, out)
	}
	return out
}

// Exec runs a command inside namespace ns and returns its combined output.
func (b *Bed) Exec(ns string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out), err
}

// Sysctl sets key=value in namespace ns.
func (b *Bed) Sysctl(ns, key, value string) {
	b.t.Helper()
	b.Run(ns, "sysctl", "-qw", key+"="+value)
}

// Limits sets the in-kernel path manager's limits in ns (INTEROP B.4).
func (b *Bed) Limits(ns string, subflows, addAddrAccepted int) {
	b.t.Helper()
	b.Run(ns, "ip", "mptcp", "limits", "set", "subflow", strconv.Itoa(subflows), "add_addr_accepted", strconv.Itoa(addAddrAccepted))
}

// Endpoint adds an in-kernel path-manager endpoint in ns, for example
// Endpoint(b.NSA, "10.0.2.2", "dev", dev, "subflow").
func (b *Bed) Endpoint(ns string, args ...string) {
	b.t.Helper()
	b.Run(ns, append([]string{"ip", "mptcp", "endpoint", "add"}, args...)...)
}

// Do runs f on an OS thread inside namespace ns. The thread stays locked
// and is discarded when f returns, so nothing else ever runs there by
// accident. Sockets, AF_XDP sockets and XDP attachments made by f belong to
// ns.
func Do(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("testbed: open namespace %s: %w", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("testbed: setns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Do runs f inside ns and fails the test on error.
func (b *Bed) Do(ns string, f func() error) {
	b.t.Helper()
	if err := Do(ns, f); err != nil {
		b.t.Fatal(err)
	}
}

// Interface returns the index and MAC address of dev in ns.
func (b *Bed) Interface(ns, dev string) (int, net.HardwareAddr) {
	b.t.Helper()
	var ifi *net.Interface
	b.Do(ns, func() (err error) {
		ifi, err = net.InterfaceByName(dev)
		return err
	})
	return ifi.Index, ifi.HardwareAddr
}

// Devs returns the veth names on side a or b, path by path.
func (b *Bed) Devs(ns string) []string {
	var out []string
	for _, p := range b.Paths {
		if ns == b.NSA {
			out = append(out, p.DevA)
		} else {
			out = append(out, p.DevB)
		}
	}
	return out
}

// SetLink brings dev in ns up or down (a path failure, INTEROP C.4).
func (b *Bed) SetLink(ns, dev string, up bool) {
	b.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	b.Run(ns, "ip", "link", "set", dev, state)
}

// SettleIPv6 waits until IPv6 neighbour discovery works both ways on
// every path, so that a test's first segments do not race it: each end's
// kernel connects to port 9 of the other end's address on the path and
// must be refused (the RST proves that both resolved each other). In the
// first second after a veth comes up the kernel may drop neighbour
// solicitations (docs/interop.md, "IPv6"); tests of the resolver itself
// start without this. The kernels keep the entries they learned.
func (b *Bed) SettleIPv6() {
	b.t.Helper()
	refused := func(ns string, from, to netip.Addr) bool {
		var err error
		Do(ns, func() error {
			d := net.Dialer{Timeout: 200 * time.Millisecond, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))}
			var c net.Conn
			if c, err = d.Dial("tcp", netip.AddrPortFrom(to, 9).String()); err == nil {
				c.Close()
			}
			return nil
		})
		return errors.Is(err, unix.ECONNREFUSED)
	}
	for _, p := range b.Paths {
		if !WaitFor(5*time.Second, func() bool { return refused(b.NSA, p.A6, p.B6) && refused(b.NSB, p.B6, p.A6) }) {
			b.t.Fatalf("IPv6 between %v and %v: no neighbour discovery after 5 s", p.A6, p.B6)
		}
	}
}

// WaitFor polls cond every 10 ms until it holds or d passes.
func WaitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// What mpbench does in the user's environment: without privileges, and on
// a terminal or not.

// asUser runs this test binary as mpbench: as the user nobody when the
// test runs as root (from a copy nobody can execute), else as the caller.
func asUser(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	exe := os.Args[0]
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		dir := t.TempDir()
		exe = filepath.Join(dir, "mpbench")
		b, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exe, b, 0o755); err != nil {
			t.Fatal(err)
		}
		for d := dir; d != filepath.Dir(d) && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	cmd.Dir = os.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// TestNotRoot: without root, every command that needs it says so and what
// to do instead, and the demo runs its in-memory matrix and says why.
func TestNotRoot(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"client", "10.0.0.1", "--stack", "xdp", "--dev", "lo", "-n", "1M"}, exitFail,
			[]string{"--stack xdp on lo", "need root (or CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_IPC_LOCK)", "--stack mem runs mpxdp without them"}},
		{[]string{"server", "--stack", "xdp", "--dev", "lo"}, exitFail,
			[]string{"need root (or CAP_NET_ADMIN", "--stack mem"}},
		{[]string{"client", "10.0.0.1", "--stack", "tcp", "--netns", "mpaNone"}, exitFail,
			[]string{"--netns needs root", "run with sudo"}},
		{[]string{"demo", "-t", "0.2"}, exitOK,
			[]string{"not running as root, so no test bed", "need root (CAP_NET_ADMIN", "emulated in-memory paths instead",
				"sudo go run ./cmd/mpbench demo", "mpxdp -> mpxdp, 2 paths", "CPU s/GB (both)"}},
	}
	for _, c := range cases {
		code, out, errs := asUser(t, c.args...)
		for _, w := range c.want {
			if code != c.code || !strings.Contains(out+errs, w) {
				t.Errorf("mpbench %s as a user: exit %d, %q; want exit %d and %q", strings.Join(c.args, " "), code, out+errs, c.code, w)
				break
			}
		}
		if c.args[0] == "demo" && (strings.Contains(out, "failed") || strings.Contains(out, demoPrefix)) {
			t.Errorf("demo as a user:\n%s", out)
		}
	}
}

// openPty returns a pseudo-terminal's master and slave.
func openPty(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, s
}

// onTerminal runs mpbench with its standard output on a terminal and
// returns what the terminal showed.
func onTerminal(t *testing.T, args ...string) (int, string) {
	t.Helper()
	m, s := openPty(t)
	defer m.Close()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	cmd.Stdout = s
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	read := make(chan []byte, 1)
	go func() {
		// EIO once the child, the slave's last holder, has exited.
		b, err := io.ReadAll(m)
		if err != nil && !errors.Is(err, syscall.EIO) {
			t.Error(err)
		}
		read <- b
	}()
	err := cmd.Wait()
	var b []byte
	select {
	case b = <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal did not close")
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 0 {
		t.Errorf("mpbench %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	// The terminal turns each \n into \r\n.
	return code, strings.ReplaceAll(string(b), "\r\n", "\n")
}

// TestProgressTerminal: on a terminal the client keeps a live progress
// line (redrawn in place, cleared before each interval line and the
// report); with --json, or off a terminal (TestTextReport), none.
func TestProgressTerminal(t *testing.T) {
	_, out := onTerminal(t, "client", "--stack", "mem", "-t", "1.3", "-i", "1")
	if n := strings.Count(out, "\r\x1b[K  "); n < 2 || !strings.Contains(out, "\r\x1b[K[  1]  0.00-1.00 s") || !strings.Contains(out, "sender (client)") {
		t.Errorf("%d progress lines, or no interval line or report after one:\n%q", n, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if i := strings.LastIndex(l, "\x1b[K"); i >= 0 && strings.HasPrefix(l[i+3:], "  ") && !strings.Contains(l[i:], "/s") {
			t.Errorf("progress line without a rate: %q", l)
		}
	}
	_, out = onTerminal(t, "client", "--stack", "mem", "-t", "0.6", "-i", "0.2", "--json")
	var r fullReport
	if strings.Contains(out, "\x1b") || json.Unmarshal([]byte(out), &r) != nil || r.Client == nil {
		t.Errorf("--json on a terminal: %q", out)
	}
}

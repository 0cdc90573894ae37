package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestErrorRemedies: each error a user meets names the problem and what
// to do about it (issue 8: missing privileges (TestNotRoot), interface not
// found, XDP refused (TestBedClientServer, on lo), peer not running,
// version mismatch), with exit status 1.
func TestErrorRemedies(t *testing.T) {
	free := freePort(t)
	// A port that answers, but not with mpbench.
	junk, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	go func() {
		for {
			c, err := junk.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	// A server of another protocol version.
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			bufio.NewReader(c).ReadString('\n')
			b, _ := json.Marshal(map[string]any{"mpbench": protoVersion + 1, "type": "error", "error": "version mismatch"})
			c.Write(append(b, '\n'))
			c.Close()
		}
	}()
	busy := startServer(t, "--stack", "tcp")
	hold := make(chan struct{})
	go func() {
		defer close(hold)
		runCLI(t, context.Background(), "client", "127.0.0.1", "-p", fmt.Sprint(busy), "--stack", "tcp", "-t", "2")
	}()
	time.Sleep(500 * time.Millisecond) // the first client's test runs

	port := func(ln net.Listener) string { return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port) }
	cases := []struct {
		what string
		args []string
		want []string
	}{
		{"peer not running", []string{"client", "127.0.0.1", "-p", fmt.Sprint(free), "--stack", "tcp", "-t", "1"},
			[]string{fmt.Sprintf("no mpbench server at 127.0.0.1:%d (connection refused)", free), "start `mpbench server` there first", "-p PORT"}},
		{"not an mpbench server", []string{"client", "127.0.0.1", "-p", port(junk), "--stack", "tcp", "-t", "1"},
			[]string{"does not speak mpbench", "is it an mpbench server?"}},
		{"version mismatch", []string{"client", "127.0.0.1", "-p", port(other), "--stack", "tcp", "-t", "1"},
			[]string{fmt.Sprintf("version mismatch: the peer speaks mpbench protocol %d, this mpbench %d", protoVersion+1, protoVersion),
				"run the same mpbench version on both hosts"}},
		{"server busy", []string{"client", "127.0.0.1", "-p", fmt.Sprint(busy), "--stack", "tcp", "-t", "1"},
			[]string{"busy: the server is running another client's test; try again when it ends"}},
		{"client interface not found", []string{"client", "10.0.0.1", "--stack", "xdp", "--dev", "mpaNone0"},
			[]string{"--dev mpaNone0: no such interface in this network namespace", "`ip link` lists them", "--netns NAME"}},
		{"server interface not found", []string{"server", "--stack", "xdp", "--dev", "mpaNone0", "-p", fmt.Sprint(free)},
			[]string{"--dev mpaNone0: no such interface"}},
		{"control port taken", []string{"server", "--stack", "tcp", "--bind", "127.0.0.1", "-p", fmt.Sprint(busy)},
			[]string{"address already in use", "another server running? pick another with -p"}},
	}
	for _, c := range cases {
		code, out, errs := runCLI(t, context.Background(), c.args...)
		for _, w := range c.want {
			if code != exitFail || !strings.Contains(errs, w) {
				t.Errorf("%s: mpbench %s: exit %d, stderr %q, stdout %q; want exit %d and %q", c.what, strings.Join(c.args, " "), code, errs, out, exitFail, w)
				break
			}
		}
	}
	<-hold

	// A client of another version, at a real server: the reply says what
	// to do, and the server goes on serving.
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", busy), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, `{"mpbench":%d,"type":"hello","spec":{"mode":"bulk"}}`+"\n", protoVersion+1)
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.Contains(line, `"type":"error"`) || !strings.Contains(line, "run the same mpbench version on both hosts") {
		t.Errorf("a server's answer to protocol %d: %q", protoVersion+1, line)
	}
	r := runJSON(t, "client", "127.0.0.1", "-p", fmt.Sprint(busy), "--stack", "tcp", "-n", "1M")
	checkTotals(t, r, 1<<20)
}

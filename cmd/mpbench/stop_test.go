package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Ctrl-C at either end of a test between two processes: both print what
// was measured, and the totals agree.

// serverProc is `mpbench server` in a child process (this test binary
// acting as mpbench) on loopback.
type serverProc struct {
	cmd    *exec.Cmd
	port   int
	mu     sync.Mutex
	out    strings.Builder // stdout and stderr
	exited chan struct{}
	err    error // of Wait, once exited
}

func (s *serverProc) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

type syncWriter struct{ s *serverProc }

func (w syncWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.out.Write(p)
}

// startServerProc starts the server and waits for its ready line; it is
// stopped by its PID when the test ends.
func startServerProc(t *testing.T, args ...string) *serverProc {
	t.Helper()
	s := &serverProc{port: freePort(t), exited: make(chan struct{})}
	s.cmd = exec.Command(os.Args[0], append([]string{"server", "--bind", "127.0.0.1", "-p", fmt.Sprint(s.port)}, args...)...)
	s.cmd.Env = append(os.Environ(), envRunMain+"=1")
	s.cmd.Stdout = syncWriter{s}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			syncWriter{s}.Write([]byte(sc.Text() + "\n"))
			if !once && strings.HasPrefix(sc.Text(), "mpbench server: control port") {
				once = true
				close(ready)
			}
		}
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
			t.Errorf("server %v did not stop on SIGINT", args)
		}
	})
	select {
	case <-ready:
	case <-s.exited:
		t.Fatalf("server %v exited: %v\n%s", args, s.err, s.output())
	case <-time.After(20 * time.Second):
		t.Fatalf("server %v not ready", args)
	}
	return s
}

// TestServerInterrupt: Ctrl-C at the server during a test asks the client
// to end it; both sides report what moved until then (equal totals), the
// client says why the test ended and exits with status 1, the server
// prints its report and exits with status 130.
func TestServerInterrupt(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		t.Run(fmt.Sprintf("R=%v", reverse), func(t *testing.T) {
			srv := startServerProc(t, "--stack", "tcp")
			args := []string{"client", "127.0.0.1", "-p", fmt.Sprint(srv.port), "--stack", "tcp", "-t", "60", "-i", "0.2", "-P", "2", "--json"}
			if reverse {
				args = append(args, "-R")
			}
			time.AfterFunc(time.Second, func() { srv.cmd.Process.Signal(syscall.SIGINT) })
			start := time.Now()
			code, out, errs := runCLI(t, context.Background(), args...)
			if el := time.Since(start); el > 15*time.Second {
				t.Errorf("the test ended %v after it started, the server was interrupted after 1 s", el)
			}
			var r fullReport
			if err := json.Unmarshal([]byte(out), &r); err != nil || r.Client == nil || r.ServerSide == nil {
				t.Fatalf("exit %d, report %v:\n%s\n%s", code, err, out, errs)
			}
			if code != exitFail || !strings.Contains(errs, "the server was interrupted (Ctrl-C)") || r.Interrupted {
				t.Errorf("client: exit %d, interrupted %v, stderr %q; want status 1 and why", code, r.Interrupted, errs)
			}
			checkTotals(t, &r, 0)
			if len(r.Client.Errors) != 0 {
				t.Errorf("client errors: %v", r.Client.Errors)
			}
			if len(r.ServerSide.Errors) != 1 {
				t.Errorf("server errors: %v; want the interruption alone", r.ServerSide.Errors)
			}
			select {
			case <-srv.exited:
			case <-time.After(10 * time.Second):
				t.Fatal("the server did not exit after its test")
			}
			so := srv.output()
			if ee, ok := srv.err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
				t.Errorf("server: %v, want exit status %d\n%s", srv.err, exitInterrupted, so)
			}
			// The server's own text report: its role, the client's side,
			// both CPUs; nothing about connections it closed itself.
			for _, want := range []string{"receiver (server)", "sender (client)", "CPU: client ", "; server ", "the server was interrupted (Ctrl-C)"} {
				if reverse {
					want = strings.NewReplacer("receiver (server)", "sender (server)", "sender (client)", "receiver (client)").Replace(want)
				}
				if !strings.Contains(so, want) {
					t.Errorf("server output lacks %q:\n%s", want, so)
				}
			}
			if strings.Contains(so, "use of closed") {
				t.Errorf("server output reports its own closing:\n%s", so)
			}
		})
	}
}

// TestClientInterruptProcess: Ctrl-C at a client process that talks to a
// separate server, with --json, -P and -R: the JSON parses, says
// interrupted, and both sides' totals agree connection by connection.
func TestClientInterruptProcess(t *testing.T) {
	port := startServer(t, "--stack", "tcp")
	for _, reverse := range []bool{false, true} {
		args := []string{"client", "127.0.0.1", "-p", fmt.Sprint(port), "--stack", "tcp", "-t", "60", "-i", "0.2", "-P", "3", "--json"}
		if reverse {
			args = append(args, "-R")
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), envRunMain+"=1")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGINT)
		start := time.Now()
		err := cmd.Wait()
		if el := time.Since(start); el > 8*time.Second {
			t.Errorf("-R %v: stopping took %v", reverse, el)
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
			t.Errorf("-R %v: %v, want exit status %d: %s", reverse, err, exitInterrupted, stderr.String())
		}
		var r fullReport
		if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil || r.Client == nil || r.ServerSide == nil {
			t.Fatalf("-R %v: report %v:\n%s\n%s", reverse, err, stdout.String(), stderr.String())
		}
		if !r.Interrupted || r.Error != "" || r.Summary.Bytes == 0 {
			t.Errorf("-R %v: interrupted %v, error %q, %d bytes", reverse, r.Interrupted, r.Error, r.Summary.Bytes)
		}
		checkTotals(t, &r, 0)
	}
}

// TestServerJSON: `mpbench server --json -1` prints one document for its
// test, with the client's side it was sent, whose totals agree.
func TestServerJSON(t *testing.T) {
	srv := startServerProc(t, "--stack", "tcp", "--json", "-1")
	r := runJSON(t, "client", "127.0.0.1", "-p", fmt.Sprint(srv.port), "--stack", "tcp", "-n", "8M", "-P", "2", "-R")
	checkTotals(t, r, 8<<20)
	select {
	case <-srv.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("a -1 server did not exit after its test")
	}
	if srv.err != nil {
		t.Fatalf("server: %v\n%s", srv.err, srv.output())
	}
	out := srv.output()
	i := strings.Index(out, "{") // after the ready line (stderr)
	var sr fullReport
	if i < 0 {
		t.Fatalf("no JSON from the server:\n%s", out)
	}
	if err := json.Unmarshal([]byte(out[i:]), &sr); err != nil || sr.Client == nil || sr.ServerSide == nil {
		t.Fatalf("server JSON: %v\n%s", err, out)
	}
	checkTotals(t, &sr, 8<<20)
	if sr.ServerSide.Role != "server" || sr.Client.Role != "client" || sr.Summary.BytesSent != r.Summary.BytesSent {
		t.Errorf("server document: roles %q/%q, summary %+v (client's %+v)", sr.Client.Role, sr.ServerSide.Role, sr.Summary, r.Summary)
	}
}

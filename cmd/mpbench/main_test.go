package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as mpbench for the processes that the
// demo and the tests start (envRunMain), as the real binary does.
func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		go func() {
			<-ctx.Done()
			stop()
		}()
		os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// runCLI runs mpbench in this process and returns its exit status,
// standard output and standard error.
func runCLI(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// runJSON runs a client with --json and decodes its report.
func runJSON(t *testing.T, args ...string) *fullReport {
	t.Helper()
	code, out, errs := runCLI(t, context.Background(), append(args, "--json")...)
	if code != 0 {
		t.Fatalf("mpbench %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	var r fullReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("the JSON does not parse: %v\n%s", err, out)
	}
	if r.Client == nil || r.ServerSide == nil {
		t.Fatalf("JSON without both sides:\n%s", out)
	}
	return &r
}

// checkTotals checks that both sides and the summary agree on the bytes
// moved, connection by connection.
func checkTotals(t *testing.T, r *fullReport, want uint64) {
	t.Helper()
	snd, rcv := r.Client, r.ServerSide
	if r.Spec.Reverse {
		snd, rcv = rcv, snd
	}
	if !snd.Sender || rcv.Sender {
		t.Errorf("sender flags: %s %v, %s %v", snd.Role, snd.Sender, rcv.Role, rcv.Sender)
	}
	if want != 0 && snd.BytesSent != want {
		t.Errorf("%s sent %d bytes, want %d", snd.Role, snd.BytesSent, want)
	}
	if rcv.BytesReceived != snd.BytesSent || r.Summary.Bytes != rcv.BytesReceived || r.Summary.BytesSent != snd.BytesSent {
		t.Errorf("sent %d, received %d, summary %d/%d", snd.BytesSent, rcv.BytesReceived, r.Summary.Bytes, r.Summary.BytesSent)
	}
	if len(snd.Conns) != r.Spec.Parallel || len(rcv.Conns) != r.Spec.Parallel {
		t.Fatalf("%d and %d connections, want %d", len(snd.Conns), len(rcv.Conns), r.Spec.Parallel)
	}
	var sum uint64
	got := map[int]uint64{}
	for _, c := range rcv.Conns {
		got[c.ID] = c.BytesReceived
	}
	for _, c := range snd.Conns {
		sum += c.BytesSent
		if got[c.ID] != c.BytesSent {
			t.Errorf("connection %d: sent %d, received %d", c.ID, c.BytesSent, got[c.ID])
		}
	}
	if sum != snd.BytesSent {
		t.Errorf("connections sent %d together, the side %d", sum, snd.BytesSent)
	}
	// Every interval's bytes add up to the side's total.
	for _, s := range []*sideResult{snd, rcv} {
		var iv uint64
		for _, ir := range s.Intervals {
			iv += ir.Bytes
		}
		moved := s.BytesReceived
		if s.Sender {
			moved = s.BytesSent
		}
		if iv != moved || len(s.Intervals) == 0 {
			t.Errorf("%s: %d intervals add up to %d bytes, moved %d", s.Role, len(s.Intervals), iv, moved)
		}
	}
	if r.Summary.BitsPerSecond <= 0 || r.Client.CPU.User+r.Client.CPU.System <= 0 {
		t.Errorf("summary %+v, client CPU %+v", r.Summary, r.Client.CPU)
	}
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

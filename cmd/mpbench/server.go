package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// server answers tests on a control port, one test at a time, and accepts
// the data connections on the next port over the stack under test.
type server struct {
	st       netStack
	out      io.Writer
	json     bool
	dataPort int

	mu     sync.Mutex
	active *serverTest

	badData     atomic.Uint64 // data connections without a valid header or test
	badControl  atomic.Uint64 // control connections that did not speak the protocol
	interrupted atomic.Bool   // Ctrl-C cut a test short
}

// serverTest is the test in progress.
type serverTest struct {
	spec    testSpec
	m       *meter
	streams chan stream
}

// stream is an accepted data connection and its index.
type stream struct {
	c  net.Conn
	id int
}

const (
	maxParallel = 256
	dataWait    = 10 * time.Second // for the data connections after "start"
	ctlTimeout  = 10 * time.Second // for a control answer outside the test
)

// acceptData takes the data connections until the listener closes.
func (s *server) acceptData(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go s.handleData(c)
	}
}

func (s *server) handleData(c net.Conn) {
	var h [dataHdrLen]byte
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadFull(c, h[:])
	c.SetReadDeadline(time.Time{})
	kind, idx, cookie, ok := parseDataHeader(h[:])
	s.mu.Lock()
	t := s.active
	s.mu.Unlock()
	if err != nil || !ok || t == nil || t.spec.Cookie != cookie {
		s.badData.Add(1)
		c.Close()
		return
	}
	if kind == kindRR {
		if t.spec.Mode != modeRR {
			s.badData.Add(1)
			c.Close()
			return
		}
		serveRR(c, t.spec.RRSize, t.m)
		return
	}
	select {
	case t.streams <- stream{c, idx}:
	default: // more streams than announced
		s.badData.Add(1)
		c.Close()
	}
}

// checkSpec refuses a test the server will not run.
func checkSpec(sp *testSpec) error {
	switch {
	case sp.Mode != modeBulk && sp.Mode != modeLatency && sp.Mode != modeRR:
		return fmt.Errorf("unknown mode %q", sp.Mode)
	case sp.Parallel < 1 || sp.Parallel > maxParallel:
		return fmt.Errorf("parallel %d: want 1..%d", sp.Parallel, maxParallel)
	case sp.Duration < 0 || sp.Duration > 24*time.Hour:
		return fmt.Errorf("duration %v: want up to 24 h", sp.Duration)
	case sp.Duration == 0 && sp.Bytes <= 0:
		return errors.New("neither a duration nor a byte count")
	case sp.Block < 1 || sp.Block > maxBlock:
		return fmt.Errorf("block %d: want 1..%d", sp.Block, maxBlock)
	case sp.Mode == modeLatency && sp.Block < stampLen:
		return fmt.Errorf("latency blocks must hold the %d-byte stamp", stampLen)
	case sp.Mode == modeRR && (sp.RRSize < 1 || sp.RRSize > 1<<30):
		return fmt.Errorf("rr size %d: want 1..1 GiB", sp.RRSize)
	case sp.Interval < time.Millisecond:
		return fmt.Errorf("interval %v: want at least 1 ms", sp.Interval)
	}
	if _, err := dataHeader(kindBulk, 0, sp.Cookie); err != nil {
		return err
	}
	return nil
}

// serve runs one test on the control connection c. It returns the
// server's result (nil when no test ran).
func (s *server) serve(ctx context.Context, c net.Conn) (*sideResult, error) {
	defer c.Close()
	k := newCtl(c)
	c.SetReadDeadline(time.Now().Add(ctlTimeout))
	hello, err := k.expect("hello")
	if err != nil {
		var ve *versionError
		if errors.As(err, &ve) {
			k.send(ctlMsg{Type: "error", Error: ve.Error()})
		} else {
			s.badControl.Add(1)
			k.send(ctlMsg{Type: "error", Error: "expected an mpbench hello: " + err.Error()})
		}
		return nil, err
	}
	if hello.Spec == nil {
		s.badControl.Add(1)
		k.send(ctlMsg{Type: "error", Error: "hello without a test"})
		return nil, errBadControl
	}
	sp := *hello.Spec
	if err := checkSpec(&sp); err != nil {
		k.send(ctlMsg{Type: "error", Error: "test refused: " + err.Error()})
		return nil, err
	}
	t := &serverTest{spec: sp, m: newMeter(sp.Reverse && sp.Mode != modeRR),
		streams: make(chan stream, sp.Parallel)}
	s.mu.Lock()
	busy := s.active != nil
	if !busy {
		s.active = t
	}
	s.mu.Unlock()
	if busy {
		k.send(ctlMsg{Type: "error", Error: "busy: the server is running another client's test; try again when it ends"})
		return nil, errors.New("busy")
	}
	defer func() {
		s.mu.Lock()
		if s.active == t {
			s.active = nil
		}
		s.mu.Unlock()
	}()
	if err := k.send(ctlMsg{Type: "accept", DataPort: s.dataPort, Stack: s.st.Describe()}); err != nil {
		return nil, err
	}
	run := &sideRun{spec: sp, sender: t.m.sender, m: t.m}
	defer run.closeAll()

	// Clock pings until start.
	var startMsg ctlMsg
	for {
		m, err := k.recv()
		if err != nil {
			return nil, err
		}
		if m.Type == "ping" {
			k.send(ctlMsg{Type: "pong", T0: m.T0, T1: monoNow()})
			continue
		}
		if m.Type != "start" {
			return nil, fmt.Errorf("%w: %q before start", errBadControl, m.Type)
		}
		startMsg = m
		break
	}
	// offset from the client: server clock minus client clock.
	if t.m.sender {
		run.offset = -startMsg.T0
	} else {
		run.offset = startMsg.T0
	}
	if sp.Mode != modeRR {
		timer := time.NewTimer(dataWait)
		seen := make([]bool, sp.Parallel)
		for i := 0; i < sp.Parallel; i++ {
			select {
			case st := <-t.streams:
				if st.id >= sp.Parallel || seen[st.id] {
					st.c.Close()
					s.badData.Add(1)
					msg := fmt.Sprintf("data connection with stream index %d: a duplicate, or not below %d", st.id, sp.Parallel)
					k.send(ctlMsg{Type: "error", Error: msg})
					return nil, errors.New(msg)
				}
				seen[st.id] = true
				t.m.add(st.id+1, st.c)
			case <-timer.C:
				msg := fmt.Sprintf("only %d of %d data connections arrived on port %d within %v (a firewall, or an XDP filter that does not steer the port to the stack?)",
					i, sp.Parallel, s.dataPort, dataWait)
				k.send(ctlMsg{Type: "error", Error: msg})
				return nil, errors.New(msg)
			case <-ctx.Done():
				s.interrupted.Store(true)
				k.send(ctlMsg{Type: "error", Error: "the server was interrupted (Ctrl-C) before the test started"})
				return nil, ctx.Err()
			}
		}
		timer.Stop()
	}
	c.SetReadDeadline(time.Time{})
	start := time.Now()
	t.m.begin(start)
	if err := k.send(ctlMsg{Type: "started"}); err != nil {
		return nil, err
	}
	if !s.json {
		fmt.Fprintf(s.out, "test from %v: %s\n", c.RemoteAddr(), describeSpec(sp, false))
	}

	// The control connection during the test: stop, done, the client's
	// result, or gone.
	done := make(chan struct{})
	doneSeen := false // the reader's own
	clientRes := make(chan *sideResult, 1)
	ctlErr := make(chan error, 1)
	go func() {
		for {
			m, err := k.recv()
			if err != nil {
				ctlErr <- err
				return
			}
			switch m.Type {
			case "stop":
				run.stop()
			case "done":
				if !doneSeen {
					doneSeen = true
					close(done)
				}
			case "result":
				clientRes <- m.Result
				return
			}
		}
	}()
	pr := &printer{w: s.out, parallel: sp.Parallel, sender: t.m.sender}
	rep := startReporter(t.m, sp, pr, !s.json, false)
	finished := make(chan struct{})
	abort := make(chan struct{})
	go func() {
		if sp.Mode != modeRR {
			run.run(start)
		} else {
			select { // the client says when it is done
			case <-done:
			case <-abort:
			}
		}
		close(finished)
	}()
	var end time.Time
	aborted := false
	gotDone := false
	finishedC, doneC := finished, done // nil once received
	interrupt := ctx.Done()            // nil once asked to stop
	var stopTimeout <-chan time.Time
	for !aborted && (end.IsZero() || !gotDone) {
		select {
		case <-finishedC:
			end = time.Now()
			finishedC = nil
		case <-doneC:
			gotDone = true
			doneC = nil
		case err := <-ctlErr:
			run.fail("control connection: %v", err)
			aborted = true
		case <-interrupt:
			// Ctrl-C: the client ends the test as on its own Ctrl-C, so
			// that both sides' numbers so far reach both reports.
			interrupt = nil
			s.interrupted.Store(true)
			run.fail("the server was interrupted (Ctrl-C); the test ended early")
			k.send(ctlMsg{Type: "stop"})
			run.stop()
			stopTimeout = time.After(stopWait)
		case <-stopTimeout:
			aborted = true
		case <-afterIf(!end.IsZero(), recvGrace):
			run.fail("the client did not finish within %v of the server", recvGrace)
			aborted = true
		}
	}
	if aborted {
		close(abort)
		run.stop()
		run.snapshot()
		run.closeAll()
		<-finished
		if end.IsZero() {
			end = time.Now()
		}
	}
	rep.stop(end)
	// Both sides are done: the sender's data has arrived, so its subflow
	// counters are final.
	res := run.result("server", s.st.Describe(), end)
	if sp.Mode == modeRR {
		res.Requests, res.RequestsFail = t.m.req.Load(), t.m.reqFail.Load()
		res.BytesSent = t.m.reqSent.Load()
		res.RequestsPerS = float64(res.Requests) / end.Sub(start).Seconds()
		res.BitsPerSecond = rate(res.BytesSent, end.Sub(start))
		res.CPU = t.m.cpu(res.BytesSent)
	}
	s.mu.Lock()
	if s.active == t {
		s.active = nil // the client may start its next test once it has the results
	}
	s.mu.Unlock()
	var cli *sideResult
	if !aborted {
		k.send(ctlMsg{Type: "results", Result: res})
		select {
		case cli = <-clientRes:
		case <-ctlErr:
		case <-time.After(stopWait):
		}
	}
	s.report(sp, res, cli, c.RemoteAddr())
	return res, nil
}

// lockedWriter serialises writes of concurrent tests (a running one and a
// refused one) to the server's output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// afterIf is time.After(d) when cond holds, else a channel that never
// fires.
func afterIf(cond bool, d time.Duration) <-chan time.Time {
	if !cond {
		return nil
	}
	return time.After(d)
}

// report prints the server's account of a test.
func (s *server) report(sp testSpec, res, cli *sideResult, from net.Addr) {
	if s.json {
		r := fullReport{Protocol: protoVersion, Time: time.Now().UTC().Format(time.RFC3339), Host: hostname(),
			Spec: sp, Client: cli, ServerSide: res}
		if cli != nil {
			r.Summary = summarize(sp, cli, res)
		} else {
			r.Client = &sideResult{Role: "client"}
		}
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(s.out, "%s\n", b)
		return
	}
	p := &printer{w: s.out, parallel: sp.Parallel}
	r := &fullReport{Spec: sp, Client: res, ServerSide: nil}
	if cli != nil {
		// The final report reads the pair from the client's view.
		r.Client, r.ServerSide = cli, res
	}
	p.final(r)
}

// serverLoop accepts control connections until ctx ends; with oneOff it
// returns after the first test.
func (s *server) loop(ctx context.Context, ln net.Listener, oneOff bool) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if oneOff {
			_, err := s.serve(ctx, c)
			return err
		}
		wg.Go(func() {
			if _, err := s.serve(ctx, c); err != nil && ctx.Err() == nil && !s.json {
				fmt.Fprintf(s.out, "test from %v: %v\n", c.RemoteAddr(), err)
			}
		})
	}
}

// listenControl opens the control listener (always the kernel's TCP).
func listenControl(bind netip.Addr, port int) (net.Listener, error) {
	addr := fmt.Sprintf(":%d", port)
	if bind.IsValid() {
		addr = netip.AddrPortFrom(bind, uint16(port)).String()
	}
	return net.Listen("tcp", addr)
}

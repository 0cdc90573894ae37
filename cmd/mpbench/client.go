package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// clientOptions are the client command's settings.
type clientOptions struct {
	host     string
	port     int
	spec     testSpec
	stack    stackOptions
	json     bool
	terminal bool // stdout is a terminal: keep a live progress line
}

const (
	connectTimeout = 5 * time.Second
	clockPings     = 16
	stopWait       = 5 * time.Second // after Ctrl-C, for the peer to wind down
	rrTimeout      = 10 * time.Second
	maxRRErrors    = 5 // failed requests reported one by one
)

// errInterrupted marks a client run that Ctrl-C ended early (its report
// was printed).
var errInterrupted = errors.New("interrupted")

// runClient runs one test. Interval lines go to out as the test runs
// (unless o.json); the report is returned for the caller to print.
func runClient(ctx context.Context, o *clientOptions, out io.Writer) (*fullReport, error) {
	st, peer, err := openStack(&o.stack, false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var ctlConn net.Conn
	var remote netip.Addr
	serverGone := make(chan struct{})
	if peer != nil {
		// --stack mem: the server runs here, on the pipe's other side.
		defer peer.Close()
		dl, err := peer.Listen(o.port + 1)
		if err != nil {
			return nil, fmt.Errorf("in-memory server: %w", err)
		}
		srv := &server{st: peer, out: io.Discard, json: true, dataPort: o.port + 1}
		go srv.acceptData(dl)
		a, b := net.Pipe()
		go func() {
			// Not ctx: the client ends the test, also on Ctrl-C, and the
			// server follows through the control connection.
			srv.serve(context.Background(), b)
			dl.Close()
			close(serverGone)
		}()
		defer func() { a.Close(); <-serverGone }()
		ctlConn, remote = a, memServerAddr
	} else {
		close(serverGone)
		if remote, err = resolve(ctx, o.host); err != nil {
			return nil, err
		}
		if ctlConn, err = dialControl(ctx, remote, o.port); err != nil {
			return nil, err
		}
		defer ctlConn.Close()
	}
	return runTest(ctx, o, st, peer != nil, ctlConn, remote, out)
}

// resolve turns the HOST argument into an address.
func resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	as, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(as) == 0 {
		return netip.Addr{}, fmt.Errorf("cannot resolve %q: %v (give the server's address)", host, err)
	}
	return as[0].Unmap(), nil
}

// dialControl connects to the server's control port and explains failures.
func dialControl(ctx context.Context, a netip.Addr, port int) (net.Conn, error) {
	addr := netip.AddrPortFrom(a, uint16(port))
	d := net.Dialer{Timeout: connectTimeout}
	c, err := d.DialContext(ctx, "tcp", addr.String())
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, fmt.Errorf("no mpbench server at %v (connection refused): start `mpbench server` there first, or pass -p PORT if it listens elsewhere", addr)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return nil, fmt.Errorf("cannot reach %v: %v (check the address and the routes; --netns NAME runs mpbench in a namespace)", addr, err)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return nil, fmt.Errorf("%v did not answer within %v: is the host up and mpbench server running, and does a firewall pass TCP port %d?", addr, connectTimeout, port)
	}
	return nil, fmt.Errorf("control connection to %v: %w", addr, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func runTest(ctx context.Context, o *clientOptions, st netStack, mem bool, ctlConn net.Conn, remote netip.Addr, out io.Writer) (*fullReport, error) {
	sp := o.spec
	sp.Cookie = newCookie()
	sp.Stack = st.Describe()
	k := newCtl(ctlConn)
	ctlConn.SetDeadline(time.Now().Add(ctlTimeout))
	if err := k.send(ctlMsg{Type: "hello", Spec: &sp}); err != nil {
		return nil, fmt.Errorf("control connection: %w", err)
	}
	acc, err := k.expect("accept")
	if err != nil {
		if errors.Is(err, errBadControl) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("the server at %v:%d does not speak mpbench (%v): is it an mpbench server?", remote, o.port, err)
		}
		return nil, err
	}
	// The server's clock offset, estimated as NTP does (RFC 5905 §8) from
	// the round trip with the smallest delay.
	var offset, clockErr int64
	if sp.Mode == modeLatency {
		best := int64(-1)
		for range clockPings {
			t0 := monoNow()
			if err := k.send(ctlMsg{Type: "ping", T0: t0}); err != nil {
				return nil, err
			}
			pong, err := k.expect("pong")
			if err != nil {
				return nil, err
			}
			t2 := monoNow()
			if rtt := t2 - t0; best < 0 || rtt < best {
				best, offset = rtt, pong.T1-(t0+t2)/2
			}
		}
		clockErr = best / 2
	}

	run := &sideRun{spec: sp, sender: !sp.Reverse && sp.Mode != modeRR, m: newMeter(!sp.Reverse && sp.Mode != modeRR)}
	if !run.sender {
		run.offset = -offset // client clock minus server clock
	}
	defer run.closeAll()
	dataAddr := netip.AddrPortFrom(remote, uint16(acc.DataPort))
	if sp.Mode != modeRR {
		for i := range sp.Parallel {
			c, err := dialData(ctx, st, dataAddr, kindOf(sp.Mode), i, sp.Cookie)
			if err != nil {
				return nil, err
			}
			run.m.add(i+1, c)
		}
	}
	ctlConn.SetDeadline(time.Now().Add(dataWait + ctlTimeout))
	if err := k.send(ctlMsg{Type: "start", T0: offset}); err != nil {
		return nil, err
	}
	if _, err := k.expect("started"); err != nil {
		return nil, err
	}
	ctlConn.SetDeadline(time.Time{})
	start := time.Now()
	run.m.begin(start)
	pr := &printer{w: out, parallel: sp.Parallel, sender: run.sender}
	if !o.json {
		fmt.Fprintf(out, "mpbench client: %s -> %v:%d (server: %s)\n%s\n", sp.Stack, remote, o.port, acc.Stack, describeSpec(sp, true))
	}
	rep := startReporter(run.m, sp, pr, !o.json, o.terminal && !o.json)

	// The server speaks during the test only to give up, or to ask for
	// the end when it is interrupted (stop); then come its results.
	msgs := make(chan ctlMsg, 1)
	ctlErr := make(chan error, 1)
	srvStop := make(chan struct{})
	go func() {
		for {
			m, err := k.recv()
			if err == nil && m.Type == "error" {
				err = &peerError{m.Error}
			}
			if err != nil {
				ctlErr <- err
				return
			}
			if m.Type == "stop" {
				close(srvStop)
				continue
			}
			msgs <- m
			return
		}
	}()

	finished := make(chan struct{})
	var rrHist hist
	go func() {
		defer close(finished)
		if sp.Mode == modeRR {
			rrClients(ctx, st, dataAddr, run, &rrHist)
		} else {
			run.run(start)
		}
	}()
	interrupted, serverStopped := false, false
	var early error
	select {
	case <-finished:
	case <-ctx.Done():
		interrupted = true
		if sp.Reverse {
			k.send(ctlMsg{Type: "stop"})
		}
	case <-srvStop:
		serverStopped = true
	case early = <-ctlErr:
		run.stop()
		run.snapshot() // before the subflows close
		run.closeAll()
		<-finished
	}
	if interrupted || serverStopped {
		run.stop()
		select {
		case <-finished:
		case <-time.After(stopWait):
			run.snapshot()
			run.closeAll()
			<-finished
		}
	}
	end := time.Now()
	rep.stop(end)

	// done, then the server's results; the subflow counters are read after
	// them, when the sender's data has arrived.
	var srvRes *sideResult
	if early == nil {
		wait := recvGrace
		if interrupted || serverStopped {
			wait = stopWait
		}
		ctlConn.SetDeadline(time.Now().Add(wait))
		if err := k.send(ctlMsg{Type: "done"}); err != nil {
			early = err
		} else {
			select {
			case m := <-msgs:
				if m.Type == "results" && m.Result != nil {
					srvRes = m.Result
				} else {
					early = fmt.Errorf("%w: %q instead of results", errBadControl, m.Type)
				}
			case early = <-ctlErr:
			}
		}
	}
	res := run.result("client", sp.Stack, end)
	if sp.Mode == modeRR {
		m := run.m
		res.Requests, res.RequestsFail = m.req.Load(), m.reqFail.Load()
		res.BytesReceived = m.reqSent.Load()
		res.RequestsPerS = float64(res.Requests) / end.Sub(start).Seconds()
		res.BitsPerSecond = rate(res.BytesReceived, end.Sub(start))
		res.CPU = m.cpu(res.BytesReceived)
		res.Latency = rrHist.Report()
	}
	if mem {
		res.CPU.Shared = true
	}
	if res.Latency != nil {
		res.Latency.ClockError = ms(clockErr)
	}
	if srvRes != nil {
		k.send(ctlMsg{Type: "result", Result: res}) // for the server's own report
	}
	r := &fullReport{Protocol: protoVersion, Time: start.UTC().Format(time.RFC3339), Host: hostname(),
		Server: net.JoinHostPort(remote.String(), strconv.Itoa(o.port)), Spec: sp, Client: res, ServerSide: srvRes,
		Interrupted: interrupted}
	if r.ServerSide != nil && r.ServerSide.Latency != nil {
		r.ServerSide.Latency.ClockError = ms(clockErr)
	}
	if r.ServerSide != nil && mem {
		r.ServerSide.CPU.Shared = true
	}
	if early != nil {
		r.Error = "no results from the server: " + early.Error()
	}
	r.Summary = summarize(sp, res, r.ServerSide)
	return r, nil
}

// printReport writes the client's report: JSON, or the text summary.
func printReport(out io.Writer, r *fullReport, asJSON bool) {
	if asJSON {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(out, "%s\n", b)
		return
	}
	(&printer{w: out, parallel: r.Spec.Parallel}).final(r)
	if r.Error != "" {
		fmt.Fprintln(out, r.Error)
	}
}

// status is the outcome of a finished test: nil, errInterrupted, or what
// went wrong.
func (r *fullReport) status() error {
	switch {
	case r.Interrupted:
		return errInterrupted
	case r.Error != "":
		return errors.New(r.Error)
	case len(r.Client.Errors) > 0:
		return fmt.Errorf("the test had errors: %v", r.Client.Errors)
	case r.ServerSide != nil && len(r.ServerSide.Errors) > 0:
		return fmt.Errorf("the server reported errors: %v", r.ServerSide.Errors)
	}
	return nil
}

func kindOf(mode string) byte {
	switch mode {
	case modeLatency:
		return kindLatency
	case modeRR:
		return kindRR
	}
	return kindBulk
}

// dialData opens one data connection over the stack under test and sends
// its header.
func dialData(ctx context.Context, st netStack, addr netip.AddrPort, kind byte, stream int, cookie string) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, rrTimeout)
	defer cancel()
	c, err := st.Dial(dctx, addr)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("data connection %d to %v over %s: refused: the server's stack does not listen there (a server with another --stack, or a firewall?)", stream+1, addr, st.Describe())
		}
		return nil, fmt.Errorf("data connection %d to %v over %s: %w", stream+1, addr, st.Describe(), err)
	}
	h, err := dataHeader(kind, stream, cookie)
	if err == nil {
		c.SetWriteDeadline(time.Now().Add(rrTimeout))
		_, err = c.Write(h[:])
		c.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("data connection %d to %v: %w", stream+1, addr, err)
	}
	return c, nil
}

// rrClients runs the closed-loop request/response clients until the test's
// end or a stop: each opens a connection, sends its request, reads the
// response to the end, closes, and starts again (NSDI'12 §6: apachebench
// without keep-alive).
func rrClients(ctx context.Context, st netStack, addr netip.AddrPort, run *sideRun, total *hist) {
	sp := run.spec
	end := run.m.start.Add(sp.Duration)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range sp.Parallel {
		wg.Go(func() {
			var h hist
			buf := make([]byte, 64<<10)
			failures := 0
			for ctx.Err() == nil && !run.stopped.Load() && time.Now().Before(end) {
				t0 := time.Now()
				n, err := rrOnce(ctx, st, addr, i, sp.Cookie, buf)
				run.m.reqSent.Add(uint64(n))
				if err == nil && n != sp.RRSize {
					err = fmt.Errorf("response of %d bytes, want %d", n, sp.RRSize)
				}
				if err != nil {
					if ctx.Err() != nil || run.stopped.Load() {
						break
					}
					if run.m.reqFail.Add(1) <= maxRRErrors {
						run.fail("client %d: request failed after %v: %v", i+1, time.Since(t0).Round(time.Millisecond), err)
					}
					if failures++; failures == 20 {
						run.fail("client %d: gave up after %d failed requests in a row, the last: %v", i+1, failures, err)
						break
					}
					continue
				}
				failures = 0
				run.m.req.Add(1)
				h.Record(time.Since(t0))
			}
			mu.Lock()
			total.Merge(&h)
			mu.Unlock()
		})
	}
	wg.Wait()
}

func rrOnce(ctx context.Context, st netStack, addr netip.AddrPort, id int, cookie string, buf []byte) (int64, error) {
	c, err := dialData(ctx, st, addr, kindRR, id, cookie)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(rrTimeout))
	var n int64
	for {
		k, err := c.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%v -> %v: read after %d bytes: %w", c.LocalAddr(), c.RemoteAddr(), n, err)
		}
	}
}

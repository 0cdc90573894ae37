package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mpxdp/mpxdp/dataplane/pipe"
)

const usageText = `mpbench measures Multipath TCP between two hosts, like iperf3, with the Linux
kernel's stacks as the baseline.

usage:
  mpbench demo [-t DURATION] [--mem]     a side-by-side table on a two-path test bed (as root)
  mpbench server [options]               answer tests (control port -p, data port -p + 1)
  mpbench client HOST [options]          run a test against an mpbench server
  mpbench client --stack mem [options]   both ends in this process, over emulated paths

stacks (--stack): xdp (mpxdp over AF_XDP, needs --dev), kernel (Linux MPTCP),
tcp (Linux TCP), mem (mpxdp over in-memory paths).

Run "mpbench server -h", "mpbench client -h" or "mpbench demo -h" for the options.
docs/mpbench.md describes the output, the JSON and the control protocol.
`

// Exit statuses.
const (
	exitOK          = 0
	exitFail        = 1
	exitUsage       = 2
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "server":
		err = cmdServer(ctx, args[1:], stdout, stderr)
	case "client":
		err = cmdClient(ctx, args[1:], stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	default:
		fmt.Fprintf(stderr, "mpbench: unknown command %q\n\n%s", args[0], usageText)
		return exitUsage
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mpbench %s: %v\n", args[0], err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "mpbench %s: %v\n", args[0], err)
	return exitFail
}

// parseInterleaved parses flags that may come before or after positional
// arguments ("client HOST -t 5", as iperf3 takes them).
// Errors are returned, not printed; -h prints the options to the flag
// set's output.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	out := fs.Output()
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(out)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				fmt.Fprintf(out, "usage of %s:\n", fs.Name())
				fs.PrintDefaults()
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// listFlag collects comma-separated or repeated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// pathFlag collects --path values: one emulated path each.
type pathFlag []pipe.Path

func (p *pathFlag) String() string { return fmt.Sprint(len(*p), " paths") }
func (p *pathFlag) Set(s string) error {
	path, err := parsePath(s)
	if err != nil {
		return err
	}
	*p = append(*p, path)
	return nil
}

// parsePath reads "rate=500m,delay=5ms,loss=0.1%,queue=256k,reorder=1%".
func parsePath(s string) (pipe.Path, error) {
	var im pipe.Impairment
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok && k == "" {
			continue
		}
		var err error
		switch k {
		case "rate":
			im.Rate, err = parseRate(v)
		case "delay":
			im.Delay, err = time.ParseDuration(v)
		case "loss":
			im.Loss, err = parseFraction(v)
		case "reorder":
			im.Reorder, err = parseFraction(v)
			if im.ReorderDelay == 0 {
				im.ReorderDelay = time.Millisecond
			}
		case "queue":
			var n int64
			n, err = parseSize(v)
			im.QueueBytes = int(n)
		default:
			return pipe.Path{}, fmt.Errorf("unknown path setting %q (want rate, delay, loss, reorder, queue)", k)
		}
		if err != nil {
			return pipe.Path{}, fmt.Errorf("%s: %v", k, err)
		}
	}
	return pipe.Path{Forward: im}, nil
}

// parseFraction reads "0.01" or "1%".
func parseFraction(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if pct {
		v /= 100
	}
	if err != nil || v < 0 || v > 1 {
		return 0, fmt.Errorf("%q is not a probability (0.01 or 1%%)", s)
	}
	return v, nil
}

// durFlag is a duration flag that also takes plain seconds ("-t 5").
type durFlag time.Duration

func (f *durFlag) String() string { return time.Duration(*f).String() }
func (f *durFlag) Set(s string) error {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		*f = durFlag(v * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(s)
	*f = durFlag(d)
	return err
}

// sizeFlag is a byte count flag.
type sizeFlag int64

func (f *sizeFlag) String() string { return strconv.FormatInt(int64(*f), 10) }
func (f *sizeFlag) Set(s string) error {
	v, err := parseSize(s)
	*f = sizeFlag(v)
	return err
}

// common are the options of every end.
type common struct {
	stack stackOptions
	devs  listFlag
	addrs listFlag
	paths pathFlag
	port  int
	json  bool
	netns string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.stack.kind, "stack", stackKernel, "the stack under test: xdp, kernel, tcp or mem")
	fs.Var(&c.devs, "dev", "xdp: the NICs, one per path (comma-separated or repeated)")
	fs.Var(&c.addrs, "addr", "local addresses, one per path (the first is the initial subflow's source)")
	fs.Var(&c.paths, "path", "mem: an emulated path, e.g. rate=500m,delay=5ms,loss=0.1%,queue=256k (repeat per path)")
	fs.StringVar(&c.stack.pm, "pm", "", "mpxdp path manager: fullmesh, ndiffports, manual")
	fs.StringVar(&c.stack.sched, "sched", "", "mpxdp scheduler: lowrtt, roundrobin, redundant")
	fs.StringVar(&c.stack.cc, "cc", "", "congestion control: cubic, reno (kernel and mpxdp); lia, olia, balia (mpxdp)")
	fs.IntVar(&c.stack.subflows, "subflows", 0, "mpxdp ndiffports: subflows between the same addresses (implies --pm ndiffports)")
	fs.BoolVar(&c.stack.checksum, "checksum", false, "ask for DSS checksums (RFC 8684 §3.3)")
	fs.BoolVar(&c.stack.busyPoll, "busy-poll", false, "mpxdp: spin instead of sleeping when idle")
	fs.BoolVar(&c.stack.generic, "xdp-generic", false, "xdp: attach the XDP filter in generic (SKB) mode, for drivers without native XDP")
	fs.IntVar(&c.port, "p", 5300, "control port (data connections use the next port)")
	fs.IntVar(&c.port, "port", 5300, "control port (same as -p)")
	fs.BoolVar(&c.json, "json", false, "print the results as JSON")
	fs.StringVar(&c.netns, "netns", "", "run inside this network namespace (ip netns exec; needs root)")
}

func (c *common) finish() error {
	c.stack.devs = c.devs
	c.stack.paths = c.paths
	for _, a := range c.addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return usagef("--addr %q is not an IP address", a)
		}
		c.stack.addrs = append(c.stack.addrs, ip.Unmap())
	}
	if c.stack.subflows != 0 && c.stack.pm == "" {
		c.stack.pm = "ndiffports"
	}
	if c.port < 1 || c.port > 65534 {
		return usagef("-p %d: want 1..65534 (the data port is the next one)", c.port)
	}
	return c.stack.check()
}

// enterNetns re-executes mpbench inside namespace ns with `ip netns exec`
// unless it runs there already, so that every socket, AF_XDP socket and
// XDP program of the process belongs to ns.
func enterNetns(ns string) error {
	if ns == "" || os.Getenv(envNetns) == ns {
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("--netns needs root (setns and the namespace's mount of /sys); run with sudo")
	}
	if _, err := os.Stat("/var/run/netns/" + ns); err != nil {
		return fmt.Errorf("--netns %s: no such namespace (`ip netns list` shows them)", ns)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return errors.New("--netns needs the ip command (apt-get install iproute2)")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	env := append(os.Environ(), envNetns+"="+ns)
	return syscall.Exec(ip, append([]string{"ip", "netns", "exec", ns, self}, os.Args[1:]...), env)
}

const envNetns = "MPBENCH_NETNS"

func cmdServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mpbench server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	bind := fs.String("bind", "", "control address to listen on (default: every address)")
	oneOff := fs.Bool("1", false, "serve one test, then exit")
	fs.BoolVar(oneOff, "one-off", false, "serve one test, then exit (same as -1)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := c.finish(); err != nil {
		return err
	}
	if c.stack.kind == stackMem {
		return usagef("--stack mem runs both ends in one process: use `mpbench client --stack mem` alone")
	}
	if err := enterNetns(c.netns); err != nil {
		return err
	}
	var bindAddr netip.Addr
	if *bind != "" {
		if bindAddr, err = netip.ParseAddr(*bind); err != nil {
			return usagef("--bind %q is not an IP address", *bind)
		}
	}
	st, _, err := openStack(&c.stack, true)
	if err != nil {
		return err
	}
	defer st.Close()
	ctlLn, err := listenControl(bindAddr, c.port)
	if err != nil {
		return fmt.Errorf("control port: %w (another server running? pick another with -p)", err)
	}
	defer ctlLn.Close()
	dataLn, err := st.Listen(c.port + 1)
	if err != nil {
		return fmt.Errorf("data port %d over %s: %w", c.port+1, st.Describe(), err)
	}
	defer dataLn.Close()
	s := &server{st: st, out: &lockedWriter{w: stdout}, json: c.json, dataPort: c.port + 1}
	go s.acceptData(dataLn)
	// The ready line goes to stderr, so that --json output stays JSON.
	fmt.Fprintf(stderr, "mpbench server: control port %d, data port %d over %s\n", c.port, c.port+1, st.Describe())
	err = s.loop(ctx, ctlLn, *oneOff)
	if n := s.badControl.Load() + s.badData.Load(); n > 0 {
		fmt.Fprintf(stderr, "mpbench server: refused %d control and %d data connections that were not mpbench's\n", s.badControl.Load(), s.badData.Load())
	}
	if err == nil && s.interrupted.Load() {
		return errInterrupted
	}
	return err
}

func cmdClient(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mpbench client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	dur, interval := durFlag(10*time.Second), durFlag(time.Second)
	fs.Var(&dur, "t", "test duration: 10s, 1m, or seconds (ignored with -n)")
	var nbytes, block, rr sizeFlag
	fs.Var(&nbytes, "n", "bytes to send in total (split over the connections), instead of -t")
	reverse := fs.Bool("R", false, "reverse: the server sends")
	parallel := fs.Int("P", 1, "parallel connections (request/response: clients)")
	fs.Var(&interval, "i", "report interval: 1s, 500ms, or seconds")
	latency := fs.Bool("latency", false, "send 8 KiB blocks stamped at the sender and print the distribution of their delay")
	fs.Var(&rr, "rr", "closed-loop request/response: each client fetches SIZE bytes over a new connection, again and again")
	fs.Var(&block, "l", "write size (default 128 KiB; 8 KiB with --latency)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := c.finish(); err != nil {
		return err
	}
	o := clientOptions{port: c.port, stack: c.stack, json: c.json}
	switch {
	case len(pos) > 1:
		return usagef("unexpected argument %q", pos[1])
	case len(pos) == 1 && c.stack.kind == stackMem:
		return usagef("--stack mem runs the server in this process; drop HOST (%s)", pos[0])
	case len(pos) == 0 && c.stack.kind != stackMem:
		return usagef("which server? mpbench client HOST (or --stack mem for both ends in this process)")
	case len(pos) == 1:
		o.host = pos[0]
	}
	sp := testSpec{Mode: modeBulk, Reverse: *reverse, Parallel: *parallel, Duration: time.Duration(dur), Bytes: int64(nbytes),
		Block: int(block), Interval: time.Duration(interval)}
	if sp.Bytes > 0 {
		sp.Duration = 0
	}
	switch {
	case *latency && rr > 0:
		return usagef("--latency and --rr are different tests; pick one")
	case *latency:
		sp.Mode = modeLatency
		if sp.Block == 0 {
			sp.Block = latencyBlock
		}
	case rr > 0:
		sp.Mode, sp.RRSize = modeRR, int64(rr)
		if sp.Reverse || sp.Bytes > 0 {
			return usagef("--rr runs for -t; -R and -n do not apply")
		}
		if !flagSet(fs, "P") {
			sp.Parallel = 32
		}
	}
	if sp.Block == 0 {
		sp.Block = 128 << 10
	}
	if sp.Mode == modeRR && sp.Duration <= 0 {
		return usagef("--rr needs -t > 0")
	}
	sp.Cookie = "0000000000000000" // checked here; the real one is drawn per test
	if err := checkSpec(&sp); err != nil {
		return usagef("%v", err)
	}
	o.spec = sp
	if err := enterNetns(c.netns); err != nil {
		return err
	}
	o.terminal = isTerminal(stdout)
	r, err := runClient(ctx, &o, stdout)
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	printReport(stdout, r, o.json)
	return r.status()
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// isTerminal reports whether w is a terminal (for the live progress line).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

package testbed

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// Counters are a namespace's SNMP counters as nstat names them
// (MPTcpExtDataCsumErr, TcpExtTCPAbortOnData, ...).
type Counters map[string]uint64

// Nstat reads the absolute counters of namespace ns with nstat (-a: since
// the namespace was made, so every bed starts from zero; -s: no history
// file is written).
func Nstat(ns string) (Counters, error) {
	cmd := exec.Command("ip", "netns", "exec", ns, "nstat", "-asz")
	cmd.Env = append(os.Environ(), "NSTAT_HISTORY=/dev/null")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("testbed: nstat in %s: %w", ns, err)
	}
	c := Counters{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("testbed: nstat line %q: %w", sc.Text(), err)
		}
		c[f[0]] = v
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("testbed: nstat in %s printed no counters", ns)
	}
	return c, nil
}

// Nstat reads ns's counters and fails the test on error.
func (b *Bed) Nstat(ns string) Counters {
	b.t.Helper()
	c, err := Nstat(ns)
	if err != nil {
		b.t.Fatal(err)
	}
	return c
}

// MPTCPErrors are the MPTcpExt counters that must stay zero in a clean
// MPTCP exchange: any fallback to TCP, checksum, mapping or HMAC error,
// MP_FAIL, and joins refused for a bad token or port (INTEROP B.2, B.4).
var MPTCPErrors = []string{
	"MPTcpExtMPCapableFallbackACK", "MPTcpExtMPCapableFallbackSYNACK", "MPTcpExtMPCapableDataFallback",
	"MPTcpExtMPFallbackTokenInit", "MPTcpExtDssFallback", "MPTcpExtFallbackFailed",
	"MPTcpExtSimultConnectFallback", "MPTcpExtMD5SigFallback",
	"MPTcpExtDSSNotMatching", "MPTcpExtDSSNoMatchTCP", "MPTcpExtDSSCorruptionFallback", "MPTcpExtDSSCorruptionReset",
	"MPTcpExtInfiniteMapTx", "MPTcpExtInfiniteMapRx", "MPTcpExtDataCsumErr",
	"MPTcpExtMPFailTx", "MPTcpExtMPFailRx",
	"MPTcpExtMPJoinSynAckHMacFailure", "MPTcpExtMPJoinAckHMacFailure", "MPTcpExtMPJoinNoTokenFound",
	"MPTcpExtMismatchPortSynRx", "MPTcpExtMismatchPortAckRx",
}

// Nonzero returns "name=value" for each of names whose counter is not zero.
func (c Counters) Nonzero(names ...string) []string {
	var out []string
	for _, n := range names {
		if v := c[n]; v != 0 {
			out = append(out, fmt.Sprintf("%s=%d", n, v))
		}
	}
	return out
}

// Missing returns the names that nstat did not report at all, so that a
// renamed counter cannot make a check pass by reading zero.
func (c Counters) Missing(names ...string) []string {
	var out []string
	for _, n := range names {
		if _, ok := c[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

// Prefixed returns the nonzero counters whose names start with prefix,
// sorted, as "name=value", for logs.
func (c Counters) Prefixed(prefix string) []string {
	var out []string
	for n, v := range c {
		if v != 0 && strings.HasPrefix(n, prefix) {
			out = append(out, fmt.Sprintf("%s=%d", n, v))
		}
	}
	sort.Strings(out)
	return out
}

// CheckMPTCPClean fails the test if any of MPTCPErrors is nonzero in ns
// (or missing from nstat's output).
func (b *Bed) CheckMPTCPClean(ns string) Counters {
	b.t.Helper()
	c := b.Nstat(ns)
	if m := c.Missing(MPTCPErrors...); len(m) > 0 {
		b.t.Errorf("%s: nstat does not report %v; the counter names changed", ns, m)
	}
	if bad := c.Nonzero(MPTCPErrors...); len(bad) > 0 {
		b.t.Errorf("%s: MPTCP error counters: %v (all: %v)", ns, bad, c.Prefixed("MPTcpExt"))
	}
	return c
}

package afxdp

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Port ownership. The stack's ephemeral ports are steered to the stack by
// the XDP filter whatever their connection, so the kernel must never pick
// one of them for its own connections: a kernel connection on such a port
// would lose its segments to the stack, and the stack's segments would
// never reach the kernel, which therefore never answers them with RSTs.
// The kernel picks local ports from net.ipv4.ip_local_port_range (IPv6
// too) minus net.ipv4.ip_local_reserved_ports.

// portConflict reads the kernel's settings in the calling thread's
// namespace (/proc/sys/net is per namespace, resolved when opened) and
// returns a setup error if some port of [lo, hi] may be chosen by it.
func portConflict(lo, hi uint16) error {
	rng, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		// Without the file (no IPv4 in this kernel) nothing to check.
		return nil
	}
	f := strings.Fields(string(rng))
	if len(f) != 2 {
		return nil
	}
	klo, err1 := strconv.Atoi(f[0])
	khi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return nil
	}
	res, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_reserved_ports")
	reserved := parsePortList(strings.TrimSpace(string(res)))
	var first, n int
	for p := max(int(lo), klo); p <= min(int(hi), khi); p++ {
		if !reserved[p] {
			if n == 0 {
				first = p
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return &portError{lo: lo, hi: hi, klo: klo, khi: khi, first: first, n: n}
}

// portError says which kernel setting collides with the stack's range.
type portError struct {
	lo, hi             uint16
	klo, khi, first, n int
}

func (e *portError) Error() string {
	return fmt.Sprintf("afxdp: the kernel may choose %d of the stack's ephemeral ports %d-%d for its own connections (from %d: "+
		"net.ipv4.ip_local_port_range is %d-%d); fix: sysctl -w net.ipv4.ip_local_reserved_ports=%d-%d, "+
		"or narrow ip_local_port_range, or move Config.Ephemeral", e.n, e.lo, e.hi, e.first, e.klo, e.khi, e.lo, e.hi)
}

// parsePortList parses "1,3,5000-5010" into a set.
func parsePortList(s string) []bool {
	set := make([]bool, 65536)
	if s == "" {
		return set
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		x, err := strconv.Atoi(strings.TrimSpace(a))
		if err != nil || x < 0 || x > 65535 {
			continue
		}
		y := x
		if isRange {
			if y, err = strconv.Atoi(strings.TrimSpace(b)); err != nil || y < x || y > 65535 {
				continue
			}
		}
		for p := x; p <= y; p++ {
			set[p] = true
		}
	}
	return set
}

package dataplane

import (
	crand "crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// The engine's ISNs and TCP timestamps come from a keyed hash of each
// 4-tuple plus a clock (RFC 6528, RFC 7323 §7.1). Within one process they
// grow for every 4-tuple; across processes they do only if the processes
// share the key and count from one origin. Otherwise a new process's SYN
// on a 4-tuple that a peer still holds in TIME-WAIT (a kernel server, 60 s)
// is older half of the time: the peer answers with an ACK, and the
// client's RST and SYN timeout cost a second. So, like the kernel's
// per-boot secret and clock, the runtime keys the engine with a secret
// kept until the next boot and counts from the boot.

// hostClockSecretPath holds the per-boot secret: /run is a tmpfs, emptied
// at boot; the file is root's alone.
var hostClockSecretPath = "/run/mpxdp/clock-secret"

// hostClockSecret returns the host's secret, creating it if this is the
// first process since boot. Errors (no permission to /run) leave the
// engine with a secret of its own.
func hostClockSecret() ([16]byte, error) {
	var s [16]byte
	if b, err := os.ReadFile(hostClockSecretPath); err == nil && len(b) == len(s) {
		copy(s[:], b)
		return s, nil
	} else if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, errors.Join(errors.New("dataplane: reading "+hostClockSecretPath), err)
	}
	dir := filepath.Dir(hostClockSecretPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return s, err
	}
	if _, err := crand.Read(s[:]); err != nil {
		return s, err
	}
	f, err := os.CreateTemp(dir, "clock-secret-*")
	if err != nil {
		return s, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(s[:]); err != nil {
		f.Close()
		return s, err
	}
	if err := f.Close(); err != nil {
		return s, err
	}
	// Link fails if another process got there first: then its secret wins.
	if err := os.Link(f.Name(), hostClockSecretPath); err != nil {
		if b, rerr := os.ReadFile(hostClockSecretPath); rerr == nil && len(b) == len(s) {
			copy(s[:], b)
			return s, nil
		}
		return s, err
	}
	return s, nil
}

// sinceBoot returns CLOCK_MONOTONIC: the time since boot, the origin of
// the kernel's own TCP clock.
func sinceBoot() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

package dataplane

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/mpxdp/mpxdp/dataplane/pipe"
	"github.com/mpxdp/mpxdp/mptcp"
)

// TestHostClockSecret: the first call creates the secret (root-only), later
// calls (other processes) read the same one; a corrupt file is an error,
// not a silently different secret.
func TestHostClockSecret(t *testing.T) {
	old := hostClockSecretPath
	hostClockSecretPath = filepath.Join(t.TempDir(), "run", "clock-secret")
	defer func() { hostClockSecretPath = old }()
	s1, err := hostClockSecret()
	if err != nil {
		t.Fatal(err)
	}
	if s1 == ([16]byte{}) {
		t.Fatal("zero secret")
	}
	fi, err := os.Stat(hostClockSecretPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %v, %v: want mode 0600", fi, err)
	}
	s2, err := hostClockSecret()
	if err != nil || s2 != s1 {
		t.Fatalf("second call: %v, same secret %v", err, s2 == s1)
	}
	if err := os.WriteFile(hostClockSecretPath, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := hostClockSecret(); err == nil {
		t.Fatal("a corrupt secret file was accepted")
	}
	if sinceBoot() <= 0 {
		t.Fatal("CLOCK_MONOTONIC unavailable")
	}
}

// TestShardKeysEngineClock: a shard with the default random source keys
// the engine with the host's secret and the time since boot, so that two
// stacks (as two processes) stamp one sequence; a seeded source keeps the
// engine's own.
func TestShardKeysEngineClock(t *testing.T) {
	old := hostClockSecretPath
	hostClockSecretPath = filepath.Join(t.TempDir(), "clock-secret")
	defer func() { hostClockSecretPath = old }()
	want, err := hostClockSecret()
	if err != nil {
		t.Fatal(err)
	}
	la, lb, err := pipe.New(pipe.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newShard(Config{Link: la})
	if err != nil {
		t.Fatal(err)
	}
	ec := s.EngineConfig()
	if ec.ClockSecret != want || ec.ClockBase <= 0 || ec.ClockBase > sinceBoot() {
		t.Fatalf("engine clock secret set %v, base %v (since boot now %v)", ec.ClockSecret == want, ec.ClockBase, sinceBoot())
	}
	seeded, err := newShard(Config{Link: lb, Engine: mptcp.Config{Rand: rand.NewPCG(1, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	if ec := seeded.EngineConfig(); ec.ClockSecret != ([16]byte{}) || ec.ClockBase != 0 {
		t.Fatal("a seeded engine was given the host's clock secret")
	}
}

package mptcp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/mpxdp/mpxdp/mptcp/cc"
	"github.com/mpxdp/mpxdp/mptcp/pm"
	"github.com/mpxdp/mpxdp/mptcp/sched"
	"github.com/mpxdp/mpxdp/mptcp/tcp"
)

// Config configures an Endpoint. The zero value of every field but Rand
// gives Linux-like defaults.
type Config struct {
	// Rand is the source of keys, nonces, ISN secrets and timestamp
	// offsets: crypto-seeded in production, seeded in tests. Required.
	Rand rand.Source
	// LocalAddrs are the addresses this endpoint owns; path managers open
	// subflows from them and announce them.
	LocalAddrs []netip.Addr

	// Checksum asks for DSS checksums (the A flag, RFC 8684 §3.1). They are
	// used when either side asks (INTEROP B.3).
	Checksum bool
	// DenyJoinInitial sets the C flag: the peer must not join our initial
	// address and port (Linux: allow_join_initial_addr_port=0).
	DenyJoinInitial bool
	// DisableMPTCP makes the endpoint a plain TCP stack (no MP_CAPABLE).
	DisableMPTCP bool

	Scheduler   string // "lowrtt" (default), "roundrobin", "redundant"
	CC          string // "reno", "cubic" (default), "lia", "olia", "balia"
	PathManager string // "fullmesh" (default), "ndiffports", "manual"
	// Subflows is ndiffports' subflow count (default 2).
	Subflows int
	// MaxSubflows limits the subflows of one connection, initial included
	// (Linux limits extra subflows to 8). Default 8.
	MaxSubflows int
	// MaxAddAddrAccepted limits how many announced addresses a connection
	// uses (Linux add_addr_accepted). Default 8.
	MaxAddAddrAccepted int

	SendBuffer int // bytes; default 4 MiB
	RecvBuffer int // bytes; default 4 MiB

	// TCP is the template for every subflow (MSS, timers, ...).
	TCP tcp.Config

	// CloseTimeout is how long a connection without subflows waits for a
	// new one (make-after-break) before closing (Linux close_timeout, 60 s).
	CloseTimeout time.Duration
	// AddAddrTimeout is the ADD_ADDR retransmission interval cap (Linux
	// add_addr_timeout, 120 s); ADD_ADDR is sent at most 4 times.
	AddAddrTimeout time.Duration
	// MaxMapping bounds a DSS mapping (RFC 8684 §3.3.1: 16-bit length);
	// default 64 KiB − 1.
	MaxMapping int
	// EphemeralPorts is the range [lo, hi] of local ports Dial and
	// OpenSubflow pick from; default 61000–65535, outside Linux's
	// ip_local_port_range (32768–60999), so that a kernel sharing the
	// addresses never picks the same ports.
	EphemeralPorts [2]uint16
	// MaxSynBacklog bounds the half-open connections of the listeners
	// (Linux tcp_max_syn_backlog); SYNs beyond it are dropped and counted.
	// Default 4096.
	MaxSynBacklog int
	// ClockSecret keys the hash of each 4-tuple behind ISNs and timestamp
	// offsets (RFC 6528 §3, RFC 7323 §7.1); zero draws it from Rand, new in
	// every process. ClockBase is added to now for the ISN timer and the
	// timestamp clock. A runtime that gives a host's processes the same
	// secret and counts from the same origin (dataplane: a per-boot secret
	// and the time since boot) makes a new connection's SYN newer than the
	// last segment a peer in TIME-WAIT saw from an earlier process on the
	// same 4-tuple, so the peer accepts it (RFC 6191).
	ClockSecret [16]byte
	ClockBase   time.Duration

	// SYNRetransBeforeFallback is how many times Dial's SYN is resent
	// with MP_CAPABLE before it is resent without, for middleboxes that
	// drop SYNs carrying unknown options (RFC 8684 §3.1 leaves the number
	// to local policy; Linux net.mptcp.syn_retrans_before_tcp_fallback).
	// Default 2, as Linux; negative keeps MP_CAPABLE on every SYN.
	SYNRetransBeforeFallback int
	// BlackholeTimeout: when a SYN without MP_CAPABLE is answered after
	// those with it were not, Dial opens plain TCP connections for this
	// long, doubled for each repeat up to 64 times, until a connection
	// negotiates MPTCP again (Linux net.mptcp.blackhole_timeout and
	// MPTcpExtBlackhole). Default one hour; negative turns it off.
	BlackholeTimeout time.Duration
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Rand == nil {
		return cfg, errors.New("mptcp: Config.Rand is required")
	}
	if cfg.Scheduler == "" {
		cfg.Scheduler = "lowrtt"
	}
	if cfg.CC == "" {
		cfg.CC = "cubic"
	}
	if cfg.PathManager == "" {
		cfg.PathManager = "fullmesh"
	}
	if cfg.Subflows == 0 {
		cfg.Subflows = 2
	}
	if cfg.MaxSubflows == 0 {
		cfg.MaxSubflows = 8
	}
	if cfg.MaxAddAddrAccepted == 0 {
		cfg.MaxAddAddrAccepted = 8
	}
	if cfg.SendBuffer == 0 {
		cfg.SendBuffer = 4 << 20
	}
	if cfg.RecvBuffer == 0 {
		cfg.RecvBuffer = 4 << 20
	}
	if cfg.CloseTimeout == 0 {
		cfg.CloseTimeout = 60 * time.Second
	}
	if cfg.AddAddrTimeout == 0 {
		cfg.AddAddrTimeout = 120 * time.Second
	}
	if cfg.MaxSynBacklog <= 0 {
		cfg.MaxSynBacklog = 4096
	}
	if cfg.EphemeralPorts == [2]uint16{} {
		cfg.EphemeralPorts = [2]uint16{61000, 65535}
	}
	if cfg.EphemeralPorts[0] == 0 || cfg.EphemeralPorts[0] > cfg.EphemeralPorts[1] {
		return cfg, errors.New("mptcp: Config.EphemeralPorts must be a range lo ≤ hi of non-zero ports")
	}
	if cfg.SYNRetransBeforeFallback == 0 {
		cfg.SYNRetransBeforeFallback = 2
	}
	if cfg.BlackholeTimeout == 0 {
		cfg.BlackholeTimeout = time.Hour
	}
	if cfg.MaxMapping == 0 || cfg.MaxMapping > 0xffff {
		cfg.MaxMapping = 0xffff
	}
	if cfg.TCP.MaxWindow == 0 {
		cfg.TCP.MaxWindow = cfg.RecvBuffer
	}
	// Policies are looked up once here, so that a connection never meets
	// an unknown name (a nil scheduler would fail on the first send).
	if _, ok := sched.New(cfg.Scheduler); !ok {
		return cfg, fmt.Errorf("mptcp: unknown Config.Scheduler %q (known: %s)", cfg.Scheduler, strings.Join(sched.Names(), ", "))
	}
	if _, ok := cc.Lookup(cfg.CC); !ok {
		return cfg, fmt.Errorf("mptcp: unknown Config.CC %q (known: %s)", cfg.CC, strings.Join(cc.Names(), ", "))
	}
	if _, ok := pm.New(cfg.PathManager, cfg.Subflows); !ok {
		return cfg, fmt.Errorf("mptcp: unknown Config.PathManager %q (known: %s)", cfg.PathManager, strings.Join(pm.Names(), ", "))
	}
	if cfg.Subflows < 1 || cfg.Subflows > cfg.MaxSubflows {
		return cfg, fmt.Errorf("mptcp: Config.Subflows %d outside 1..MaxSubflows (%d)", cfg.Subflows, cfg.MaxSubflows)
	}
	return cfg, nil
}

// Errors a connection closes with (in EventClosed and from Read/Write).
var (
	// ErrClosed: the application closed the connection.
	ErrClosed = errors.New("mptcp: connection closed")
	// ErrTimeout: the connection timed out (handshake or data).
	ErrTimeout = errors.New("mptcp: connection timed out")
	// ErrRefused: the peer refused the connection.
	ErrRefused = errors.New("mptcp: connection refused")
	// ErrReadBufferLent: Read was called while a buffer is lent
	// (LendReadBuffer); ReturnReadBuffer first.
	ErrReadBufferLent = errors.New("mptcp: Read while a read buffer is lent (call ReturnReadBuffer first)")
)

// ResetError reports a connection reset by the peer: a TCP RST on the last
// subflow, or MP_FASTCLOSE (RFC 8684 §3.5).
type ResetError struct {
	FastClose bool
	Reason    uint8 // MP_TCPRST reason (RFC 8684 §3.6), when the peer sent one
}

func (e *ResetError) Error() string {
	if e.FastClose {
		return "mptcp: connection reset by peer (MP_FASTCLOSE)"
	}
	return fmt.Sprintf("mptcp: connection reset by peer (reason %d)", e.Reason)
}

// FallbackError describes why a connection fell back to plain TCP (RFC 8684
// §3.7). It is informational: a fallen-back connection still works.
type FallbackError struct {
	Reason string
}

func (e *FallbackError) Error() string { return "mptcp: fell back to TCP: " + e.Reason }

// MP_TCPRST reason codes (RFC 8684 §3.6).
const (
	RstUnspecified = 0
	RstMPTCPError  = 1
	RstNoResources = 2
	RstProhibited  = 3
	RstTooMuchData = 4
	RstPerformance = 5
	RstMiddlebox   = 6
)

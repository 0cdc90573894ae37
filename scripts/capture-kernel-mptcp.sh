#!/usr/bin/env bash
# capture-kernel-mptcp.sh — record short kernel<->kernel MPTCP transfers in two
# private network namespaces, for the golden tests of mptcp/wire.
#
# Usage (as root, from anywhere in the repository):
#
#   sudo scripts/capture-kernel-mptcp.sh            # all variants
#   sudo scripts/capture-kernel-mptcp.sh v6-rm-fastclose
#
# Output: mptcp/wire/testdata/netns/<variant>.pcap (override with OUT=dir).
#
# Test bed (../shared/INTEROP.md C.1): namespaces mpxw-a (client) and mpxw-b
# (server), two veth pairs a1<->b1 (10.0.1.0/24, fd00:1::/64) and a2<->b2
# (10.0.2.0/24, fd00:2::/64). Both sides use reno (INTEROP C.2b). On every veth
# TX checksum offload and GRO are off and GSO stays on: the kernel still builds
# one DSS mapping per large skb, software GSO cuts it into MSS-sized segments
# that each repeat the mapping (INTEROP A.13), and every captured TCP checksum
# is complete, so the tests can recompute TCP and DSS checksums. The MTU is
# 1499 so that segments carry an odd number of bytes and mappings continue at
# odd offsets. tcpdump records every TCP packet in mpxw-b (-i any, Linux cooked
# v2, snap length 65535 so every packet is whole, a 32 MB buffer in immediate
# mode so that bursts are not dropped).
#
# The transfers are run by mptcp/wire/testdata/mptcpxfer, a small Go program
# using net.ListenConfig/Dialer.SetMultipathTCP(true); it lives under testdata
# because every package of the module needs a layer in internal/arch. Which
# segment carries what can vary with timing between runs (for example whether
# the first data segment carries MP_CAPABLE or, once an ADD_ADDR made the
# client fully established, a DSS); the golden tests accept either. One run
# takes about 10 s.
#
# Variants:
#   v4-csum-join        checksums on; ADD_ADDR (signal 10.0.2.1) + echo; MP_JOIN;
#                       20 kB each way in 4 pieces; DATA_FIN close.
#   v4-port-prio-rm     checksums off; server sends first; ADD_ADDR without and
#                       with a port (10.0.1.1 port 10100); two joins; then the
#                       server's endpoint 1 becomes backup (MP_PRIO) and is
#                       deleted (REMOVE_ADDR); DATA_FIN close.
#   v6-rm-fastclose     IPv6, checksums off; three signal endpoints (ADD_ADDR v6,
#                       echoes), one join; `endpoint flush` sends one REMOVE_ADDR
#                       with three IDs; the client closes with unread data
#                       (RST + MP_FASTCLOSE + MP_TCPRST).
#
# Everything created is deleted by name on exit (trap), processes are stopped
# by PID only, and traffic stays inside the two namespaces.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "capture-kernel-mptcp.sh: needs root (network namespaces, tcpdump)" >&2
	exit 1
fi
for tool in ip tcpdump ethtool go; do
	command -v "$tool" >/dev/null || { echo "capture-kernel-mptcp.sh: $tool not found" >&2; exit 1; }
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/mptcp/wire/testdata/netns}
NSA=mpxw-a
NSB=mpxw-b
PORT=7000
WORK=$(mktemp -d /tmp/mpxw-capture.XXXXXX)
PIDS=()
CREATED_NS=()

# PIDS holds the background processes still running; reap removes a PID once
# it has been waited for, so that cleanup never signals a reused PID.
cleanup() {
	local pid ns
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
	for ns in "${CREATED_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	CREATED_NS=()
}
trap 'cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# reap PID waits for one background process and forgets it; it returns the
# process's exit status.
reap() {
	local rc=0 p keep=()
	wait "$1" || rc=$?
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
	return $rc
}

# A and B run a command in the client or server namespace. Background
# processes are started with `ip netns exec` directly (not through these
# functions) so that $! is the PID of the program itself.
A() { ip netns exec "$NSA" "$@"; }
B() { ip netns exec "$NSB" "$@"; }

# setup builds the two namespaces and links (INTEROP C.1).
setup() {
	local ns
	for ns in "$NSA" "$NSB"; do
		if ip netns list | grep -qw "^$ns"; then
			echo "namespace $ns already exists; delete it (ip netns del $ns) and retry" >&2
			exit 1
		fi
	done
	ip netns add "$NSA"
	CREATED_NS+=("$NSA")
	ip netns add "$NSB"
	CREATED_NS+=("$NSB")
	ip -n "$NSA" link add a1 type veth peer name b1 netns "$NSB"
	ip -n "$NSA" link add a2 type veth peer name b2 netns "$NSB"
	for ns in "$NSA" "$NSB"; do
		ip netns exec "$ns" sysctl -qw net.mptcp.enabled=1
		ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0
		ip netns exec "$ns" sysctl -qw net.ipv4.conf.default.rp_filter=0
		ip netns exec "$ns" sysctl -qw net.ipv4.tcp_congestion_control=reno
		ip -n "$ns" link set lo up
	done
	local i
	for i in 1 2; do
		A ip addr add "10.0.$i.2/24" dev "a$i"
		B ip addr add "10.0.$i.1/24" dev "b$i"
		A ip addr add "fd00:$i::2/64" dev "a$i" nodad
		B ip addr add "fd00:$i::1/64" dev "b$i" nodad
		A ip link set "a$i" mtu 1499 up
		B ip link set "b$i" mtu 1499 up
		A ethtool -K "a$i" tx off gro off >/dev/null 2>&1
		B ethtool -K "b$i" tx off gro off >/dev/null 2>&1
	done
}

teardown() { cleanup; }

# start_capture NAME starts tcpdump in the server namespace.
start_capture() {
	local pcap=$OUT/$1.pcap
	rm -f "$pcap"
	ip netns exec "$NSB" tcpdump -i any -s 65535 -B 32768 -U --immediate-mode -Z root -n -w "$pcap" tcp >"$WORK/tcpdump.log" 2>&1 &
	PIDS+=($!)
	CAPTURE_PID=$!
	local i
	for i in $(seq 100); do
		grep -q "listening on" "$WORK/tcpdump.log" && return 0
		sleep 0.05
	done
	echo "tcpdump did not start:" >&2
	cat "$WORK/tcpdump.log" >&2
	exit 1
}

stop_capture() {
	sleep 1
	kill -INT "$CAPTURE_PID"
	reap "$CAPTURE_PID" || true
	cat "$WORK/tcpdump.log"
}

# start_server ARGS... runs the transfer server in the server namespace.
start_server() {
	rm -f "$WORK/ready"
	ip netns exec "$NSB" "$WORK/mptcpxfer" -mode server -listen "[::]:$PORT" -ready "$WORK/ready" "$@" &
	PIDS+=($!)
	SERVER_PID=$!
	local i
	for i in $(seq 100); do
		[ -e "$WORK/ready" ] && return 0
		sleep 0.05
	done
	echo "server did not start" >&2
	exit 1
}

wait_server() { reap "$SERVER_PID"; }

v4-csum-join() {
	A sysctl -qw net.mptcp.checksum_enabled=1
	B sysctl -qw net.mptcp.checksum_enabled=1
	B ip mptcp limits set subflow 2 add_addr_accepted 0
	B ip mptcp endpoint add 10.0.2.1 dev b2 id 1 signal
	A ip mptcp limits set subflow 2 add_addr_accepted 2
	start_capture v4-csum-join
	start_server -recv 20000 -send 20000
	A "$WORK/mptcpxfer" -mode client -connect "10.0.1.1:$PORT" -send 20000 -recv 20000 -pieces 4 -pace 200ms -hold 100ms
	wait_server
	stop_capture
}

v4-port-prio-rm() {
	B ip mptcp limits set subflow 4 add_addr_accepted 0
	B ip mptcp endpoint add 10.0.2.1 dev b2 id 1 signal
	B ip mptcp endpoint add 10.0.1.1 port 10100 dev b1 id 2 signal
	A ip mptcp limits set subflow 4 add_addr_accepted 4
	start_capture v4-port-prio-rm
	start_server -recv 0 -send 6000
	ip netns exec "$NSA" "$WORK/mptcpxfer" -mode client -connect "10.0.1.1:$PORT" -recv-first \
		-recv 6000 -send 6000 -pieces 6 -pace 400ms -hold 300ms &
	local client=$!
	PIDS+=($client)
	sleep 0.8
	B ip mptcp endpoint change id 1 backup
	sleep 0.8
	B ip mptcp endpoint delete id 1
	reap "$client"
	wait_server
	stop_capture
}

v6-rm-fastclose() {
	B ip addr add fd00:3::1/64 dev b2 nodad
	B ip addr add fd00:4::1/64 dev b2 nodad
	B ip mptcp limits set subflow 2 add_addr_accepted 0
	B ip mptcp endpoint add fd00:2::1 dev b2 id 1 signal
	B ip mptcp endpoint add fd00:3::1 dev b2 id 2 signal
	B ip mptcp endpoint add fd00:4::1 dev b2 id 3 signal
	A ip mptcp limits set subflow 1 add_addr_accepted 1
	start_capture v6-rm-fastclose
	start_server -recv 4000 -send 30000
	ip netns exec "$NSA" "$WORK/mptcpxfer" -mode client -connect "[fd00:1::1]:$PORT" -send 4000 \
		-pieces 4 -pace 250ms -hold 1500ms -abort &
	local client=$!
	PIDS+=($client)
	sleep 1.2
	B ip mptcp endpoint flush
	reap "$client"
	wait_server || true # the server's read ends with ECONNRESET
	stop_capture
}

VARIANTS=(v4-csum-join v4-port-prio-rm v6-rm-fastclose)
if [ $# -gt 0 ]; then
	VARIANTS=("$@")
fi

mkdir -p "$OUT"
(cd "$ROOT" && go build -o "$WORK/mptcpxfer" ./mptcp/wire/testdata/mptcpxfer)
for v in "${VARIANTS[@]}"; do
	case "$v" in
	v4-csum-join | v4-port-prio-rm | v6-rm-fastclose) ;;
	*) echo "unknown variant $v" >&2; exit 2 ;;
	esac
	echo "=== $v"
	setup
	"$v"
	teardown
	ls -l "$OUT/$v.pcap"
done

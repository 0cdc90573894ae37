#!/usr/bin/env bash
# testbed.sh — the two-path interop bed of ../shared/INTEROP.md C.1 and C.2:
# two private network namespaces joined by one veth pair per path.
#
#   netns NAMEa                                  netns NAMEb
#   NAMEa1 10.0.1.2/24 fd00:1::2/64  <-- veth -->  NAMEb1 10.0.1.1/24 fd00:1::1/64   path 1
#   NAMEa2 10.0.2.2/24 fd00:2::2/64  <-- veth -->  NAMEb2 10.0.2.1/24 fd00:2::1/64   path 2
#
# Usage (as root):
#
#   scripts/testbed.sh up [NAME]     # build it (NAME defaults to mpxbed, at most 13 characters)
#   scripts/testbed.sh down [NAME]   # delete both namespaces (and with them the veths)
#
# Settings, from the environment of `up`:
#
#   PATHS=2        number of veth pairs (1..4; path i uses 10.0.i.0/24 and fd00:i::/64)
#   MTU=1500       MTU of every veth
#   QUEUES=1       RX and TX queues per veth (AF_XDP binds one socket per queue)
#   CSUM=0         net.mptcp.checksum_enabled in both namespaces
#   OFFLOADS=off   off: TX checksum offload off (and with it TSO/GSO) on every veth,
#                  so that every TCP checksum on the wire is complete. The engine
#                  verifies every checksum and a local kernel peer's frames carry
#                  only the pseudo-header sum otherwise (INTEROP C.2). "on" keeps
#                  the kernel's defaults, for kernel<->kernel baselines only.
#   CC=reno        TCP congestion control of both kernels (INTEROP C.2b: not bbr)
#
#   MIDDLE=0       1: put a third namespace NAMEm between them, with one kernel
#                  bridge per path (NAMEbr<i>, ports NAMEma<i> and NAMEmb<i>), so that
#                  tcpdump there sees traffic that AF_XDP on both ends hides
#                  (XDP takes frames before the capture taps; AF_XDP transmit
#                  bypasses them)
#
# Both namespaces get MPTCP on, rp_filter off, and `ip mptcp limits set
# subflow 8 add_addr_accepted 8`; path-manager endpoints are left to the
# user. Namespace A routes by source: a packet from 10.0.i.2 (fd00:i::2)
# leaves by path i whatever its destination (`ip rule from ... table 10i`),
# as multihomed MPTCP hosts are configured, so that a subflow from A's
# path-i address uses path i both ways (B answers by destination). The Go
# tests build the same bed by running this script (internal/testbed), so
# the two never drift apart.
#
# `up` deletes what it created if a step fails. Nothing outside the two
# namespaces is touched; send test traffic only to their addresses.
set -euo pipefail

usage() {
	echo "usage: $0 up|down [NAME]   (env: PATHS MTU QUEUES CSUM OFFLOADS CC MIDDLE)" >&2
	exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
name=${2:-mpxbed}
if [ ${#name} -gt 13 ] || ! [[ $name =~ ^[A-Za-z0-9_-]+$ ]]; then
	echo "testbed.sh: NAME must be 1-13 characters of [A-Za-z0-9_-] (device names are NAME plus 2)" >&2
	exit 2
fi
nsa=${name}a
nsb=${name}b
nsm=${name}m

if [ "$(id -u)" != 0 ]; then
	echo "testbed.sh: needs root (ip netns, veth, sysctl, ethtool); CI runs as root" >&2
	exit 1
fi
for tool in ip ethtool; do
	command -v "$tool" >/dev/null || { echo "testbed.sh: $tool not found (apt-get install iproute2 ethtool)" >&2; exit 1; }
done

down() {
	local ns rc=0
	for ns in "$nsa" "$nsb" "$nsm"; do
		if ip netns list | grep -qw -- "$ns"; then
			ip netns del "$ns" || rc=1
		fi
	done
	return $rc
}

up() {
	local paths=${PATHS:-2} mtu=${MTU:-1500} queues=${QUEUES:-1} csum=${CSUM:-0}
	local offloads=${OFFLOADS:-off} cc=${CC:-reno} middle=${MIDDLE:-0} ns i side dev peer
	[[ $paths =~ ^[1-4]$ ]] || { echo "testbed.sh: PATHS must be 1..4" >&2; exit 2; }
	[[ $csum =~ ^[01]$ ]] || { echo "testbed.sh: CSUM must be 0 or 1" >&2; exit 2; }
	[[ $offloads == off || $offloads == on ]] || { echo "testbed.sh: OFFLOADS must be off or on" >&2; exit 2; }
	[[ $middle =~ ^[01]$ ]] || { echo "testbed.sh: MIDDLE must be 0 or 1" >&2; exit 2; }
	for ns in "$nsa" "$nsb" "$nsm"; do
		if ip netns list | grep -qw -- "$ns"; then
			echo "testbed.sh: namespace $ns exists; run '$0 down $name' first" >&2
			exit 1
		fi
	done
	trap 'echo "testbed.sh: setting up failed; removing $nsa, $nsb (and $nsm)" >&2; down' ERR
	ip netns add "$nsa"
	ip netns add "$nsb"
	if [ "$middle" = 1 ]; then
		ip netns add "$nsm"
		ip -n "$nsm" link set lo up
	fi
	for ns in "$nsa" "$nsb"; do
		ip -n "$ns" link set lo up
		ip netns exec "$ns" sysctl -qw net.mptcp.enabled=1 net.mptcp.checksum_enabled="$csum" \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
			net.ipv4.tcp_congestion_control="$cc"
		ip -n "$ns" mptcp limits set subflow 8 add_addr_accepted 8
	done
	for ((i = 1; i <= paths; i++)); do
		if [ "$middle" = 1 ]; then
			ip -n "$nsm" link add "${name}br$i" type bridge
			for side in a b; do
				ip -n "$nsm" link add "${name}m$side$i" mtu "$mtu" type veth peer name "${name}$side$i" \
					netns "${name}$side" numtxqueues "$queues" numrxqueues "$queues"
				ip -n "$nsm" link set "${name}m$side$i" master "${name}br$i"
				if [ "$offloads" = off ]; then
					ip netns exec "$nsm" ethtool -K "${name}m$side$i" tx off >/dev/null
				fi
				ip -n "$nsm" link set "${name}m$side$i" up
			done
			ip -n "$nsm" link set "${name}br$i" mtu "$mtu" up
		else
			ip -n "$nsa" link add "${name}a$i" numtxqueues "$queues" numrxqueues "$queues" type veth \
				peer name "${name}b$i" netns "$nsb" numtxqueues "$queues" numrxqueues "$queues"
		fi
		for side in a b; do
			ns=${name}$side
			dev=${name}$side$i
			ip -n "$ns" link set "$dev" mtu "$mtu"
			if [ "$side" = a ]; then peer=2; else peer=1; fi
			ip -n "$ns" addr add "10.0.$i.$peer/24" dev "$dev"
			ip -n "$ns" addr add "fd00:$i::$peer/64" dev "$dev" nodad
			ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$dev.rp_filter=0"
			# No duplicate address detection, for the link-local address
			# either: while that is tentative (the first second) the kernel
			# solicits no neighbour for a request that carries no packet,
			# as mpxdp's NTF_USE requests are (docs/interop.md, "IPv6").
			ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.accept_dad=0"
			if [ "$offloads" = off ]; then
				ip netns exec "$ns" ethtool -K "$dev" tx off >/dev/null
			fi
			ip -n "$ns" link set "$dev" up
		done
		# Source routing in A (see above).
		ip -n "$nsa" rule add from "10.0.$i.2" table "10$i"
		ip -n "$nsa" route add 10.0.0.0/16 dev "${name}a$i" table "10$i"
		ip -n "$nsa" -6 rule add from "fd00:$i::2" table "10$i"
		# Through B's address on the path: B's kernel answers neighbour
		# solicitations only for addresses of the interface they arrive
		# on (ARP answers for any), so fd00:1::1 is not on-link on path 2.
		ip -n "$nsa" -6 route add fd00::/16 via "fd00:$i::1" dev "${name}a$i" table "10$i"
	done
	trap - ERR
	echo "testbed: $nsa ($name""a1..a$paths) <-> $nsb ($name""b1..b$paths), mtu $mtu, $queues queue(s), csum $csum, offloads $offloads, cc $cc, middle $middle"
}

case $cmd in
up) up ;;
down) down ;;
*) usage ;;
esac

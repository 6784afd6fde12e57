#!/usr/bin/env bash
# `sudo make demo`: tuninetd end to end in a throwaway network namespace.
# A tun device (held open so it has carrier) with 10.99.0.1/24; tuninetd
# watches it with examples/hook.sh and a 3 s TTL; a few datagrams to 10.99.0.2
# (routed into the tun) start the hook; 3 s of silence stop it. Everything
# is removed on exit, also on Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "demo needs root (network namespaces): sudo make demo" >&2
	exit 1
fi
command -v ip >/dev/null || { echo "demo needs 'ip' (iproute2)" >&2; exit 1; }
[ -x bin/tuninetd ] || { echo "bin/tuninetd missing: run make" >&2; exit 1; }

ns="tuninetd-demo-$$"
pids=()
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del "$ns" 2>/dev/null
}
trap cleanup EXIT INT TERM

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi

say "namespace $ns with tun0 10.99.0.1/24"
ip netns add "$ns"
ip -n "$ns" link set lo up
# No IPv6: router solicitations from the new device would count as traffic.
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
if [ -x bin/tuntapd ]; then
	# The companion holds the device, as on a router before the VPN runs.
	ip netns exec "$ns" bin/tuntapd -i tun0 -m tun >/dev/null 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do ip -n "$ns" link show tun0 >/dev/null 2>&1 && break; sleep 0.1; done
	holder=()
else
	# No tuntapd: tuninetd creates and holds the device itself (-m tun).
	ip -n "$ns" tuntap add dev tun0 mode tun
	holder=(-m tun)
fi
ip -n "$ns" addr add 10.99.0.1/24 dev tun0
ip -n "$ns" link set tun0 up

say "tuninetd -i tun0 -c examples/hook.sh -t 3 ${holder[*]}"
ip netns exec "$ns" bin/tuninetd -i tun0 -c "$PWD/examples/hook.sh" -t 3 "${holder[@]}" &
pids+=($!)
sleep 1

say "traffic: 3 UDP datagrams to 10.99.0.2:9999 (routed into the tun)"
ip netns exec "$ns" bash -c 'for i in 1 2 3; do echo hello >/dev/udp/10.99.0.2/9999; sleep 0.3; done'
sleep 0.5

say "silence: waiting for the stop (TTL 3 s)"
sleep 5

say "SIGUSR1: status report"
kill -USR1 "${pids[-1]}"
sleep 0.5

say "done; cleaning up"

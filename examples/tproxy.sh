#!/bin/sh
# A transparent-proxy tunnel on demand: connections to chosen destinations
# go through a TPROXY client (a tunnel client that accepts redirected
# connections, such as a SOCKS or SSH tunnel client in transparent mode)
# only while they are in use.
#
#   tproxy.sh setup      once, at boot: catch route and NFLOG trigger rules
#   tuninetd -n 6 -c /etc/tuninetd/tproxy.sh -t 600
#   tproxy.sh teardown   removes what setup made
#
# start runs the client, waits until it listens, then installs the
# interception: an nft table whose output chain marks local connections to
# the destinations and whose prerouting chain hands them (and forwarded
# LAN connections) to the client with tproxy, an ip rule for the mark and
# a routing table with a `local` default route that delivers marked
# packets to this host. stop removes all of that and ends the client.
#
# The trigger is an NFLOG rule on the destinations, so it sees traffic
# both before start (sent into the catch route, a tun device nobody reads,
# so the first SYN does not leave by the default route) and while the
# proxy is up (the rule is in output and prerouting, which intercepted
# traffic still passes). TCP's own SYN retransmission (after 1 s) carries
# the first connection into the proxy.
#
# Settings (environment; tuninetd passes its own environment on):
TPROXY_CLIENT=${TPROXY_CLIENT:-}                    # client command line (listens on TPROXY_PORT with IP_TRANSPARENT); required
TPROXY_PORT=${TPROXY_PORT:-12345}                   # its port
TPROXY_NET=${TPROXY_NET:-10.20.0.0/24}              # destinations, comma-separated
TPROXY_NFLOG_GROUP=${TPROXY_NFLOG_GROUP:-6}         # tuninetd -n
TPROXY_MARK=${TPROXY_MARK:-0x1}                     # fwmark of intercepted packets
TPROXY_ROUTE_TABLE=${TPROXY_ROUTE_TABLE:-100}       # routing table with the local route
TPROXY_CATCH=${TPROXY_CATCH:-tpcatch}               # catch device (tun, no reader)
TPROXY_NFT_TABLE=${TPROXY_NFT_TABLE:-tuninetd_tproxy} # interception, while up
TPROXY_NFT_TRIGGER=${TPROXY_NFT_TRIGGER:-tuninetd_tproxy_trigger}
TPROXY_PIDFILE=${TPROXY_PIDFILE:-/run/tuninetd-tproxy.pid}
set -eu

# listening PORT: true once a TCP socket listens on PORT (IPv4 or IPv6).
listening() {
	hex=$(printf ':%04X ' "$1")
	awk -v p="$hex" '$4 == "0A" && index($2 " ", p) { found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

stop_client() {
	[ -f "$TPROXY_PIDFILE" ] || return 0
	pid=$(cat "$TPROXY_PIDFILE")
	kill "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	rm -f "$TPROXY_PIDFILE"
}

case "${1:-}" in
setup)
	ip tuntap add dev "$TPROXY_CATCH" mode tun
	ip link set "$TPROXY_CATCH" up
	for net in $(echo "$TPROXY_NET" | tr ',' ' '); do
		ip route add "$net" dev "$TPROXY_CATCH" metric 1000
	done
	nft -f - <<NFT
table ip $TPROXY_NFT_TRIGGER {
	chain output {
		type filter hook output priority filter; policy accept;
		ip daddr { $TPROXY_NET } meta l4proto tcp log group $TPROXY_NFLOG_GROUP
	}
	chain prerouting {
		type filter hook prerouting priority filter; policy accept;
		iifname != "lo" ip daddr { $TPROXY_NET } meta l4proto tcp log group $TPROXY_NFLOG_GROUP
	}
}
NFT
	;;
teardown)
	nft delete table ip "$TPROXY_NFT_TRIGGER" || true
	ip link del "$TPROXY_CATCH" || true
	;;
start)
	if [ -z "$TPROXY_CLIENT" ]; then
		echo "TPROXY_CLIENT is not set" >&2
		exit 1
	fi
	# The client's words are split on purpose: it is a command line.
	# shellcheck disable=SC2086
	$TPROXY_CLIENT </dev/null >/dev/null 2>&1 &
	echo $! >"$TPROXY_PIDFILE"
	i=0
	until listening "$TPROXY_PORT"; do
		if [ $i -ge 100 ] || ! kill -0 "$(cat "$TPROXY_PIDFILE")" 2>/dev/null; then
			echo "the client does not listen on port $TPROXY_PORT" >&2
			stop_client
			exit 1
		fi
		sleep 0.05
		i=$((i + 1))
	done
	ip rule add fwmark "$TPROXY_MARK" lookup "$TPROXY_ROUTE_TABLE"
	ip route add local 0.0.0.0/0 dev lo table "$TPROXY_ROUTE_TABLE"
	nft -f - <<NFT
table ip $TPROXY_NFT_TABLE {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		ip daddr { $TPROXY_NET } meta l4proto tcp tproxy to :$TPROXY_PORT meta mark set $TPROXY_MARK accept
	}
	chain output {
		type route hook output priority mangle; policy accept;
		ip daddr { $TPROXY_NET } meta l4proto tcp meta mark set $TPROXY_MARK
	}
}
NFT
	;;
stop)
	# Everything, even when one step fails; the exit code tells.
	rc=0
	nft delete table ip "$TPROXY_NFT_TABLE" || rc=1
	ip rule del fwmark "$TPROXY_MARK" lookup "$TPROXY_ROUTE_TABLE" || rc=1
	ip route del local 0.0.0.0/0 dev lo table "$TPROXY_ROUTE_TABLE" || rc=1
	stop_client
	exit $rc
	;;
*)
	echo "usage: $0 setup|teardown|start|stop" >&2
	exit 2
	;;
esac

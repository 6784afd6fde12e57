#!/bin/sh
# A service woken on demand: the first connection to a port starts the
# server, -t seconds without a packet to the port stop it.
#
#   wake.sh setup      once, at boot: NFLOG rule and the closed gate
#   tuninetd -n 7 -c /etc/tuninetd/wake.sh -t 600
#   wake.sh teardown   removes what setup made
#
# While the server sleeps, nothing listens on the port and the kernel
# would answer a SYN with a reset: the client gives up at once. So a
# "gate" chain drops new connections instead, and the client retransmits
# its SYN (after 1 s, then 3 s, ...). The NFLOG rule in input sees the
# first SYN, tuninetd runs start, start runs the server, waits until it
# listens and opens the gate: the retransmitted SYN connects. Every packet
# to the port counts as activity, so a long download keeps the server up.
# stop closes the gate first, then ends the server.
#
# Settings (environment; tuninetd passes its own environment on):
WAKE_SERVER=${WAKE_SERVER:-busybox httpd -f -p 8080 -h /www} # server command line, in the foreground
WAKE_PORT=${WAKE_PORT:-8080}                    # TCP port it listens on
WAKE_NFLOG_GROUP=${WAKE_NFLOG_GROUP:-7}         # tuninetd -n
WAKE_NFT_TABLE=${WAKE_NFT_TABLE:-tuninetd_wake} # nft table (family inet: IPv4 and IPv6)
WAKE_PIDFILE=${WAKE_PIDFILE:-/run/tuninetd-wake.pid}
set -eu

# listening PORT: true once a TCP socket listens on PORT (IPv4 or IPv6).
listening() {
	hex=$(printf ':%04X ' "$1")
	awk -v p="$hex" '$4 == "0A" && index($2 " ", p) { found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

close_gate() {
	nft add rule inet "$WAKE_NFT_TABLE" gate 'tcp flags & (syn | ack) == syn drop'
}

stop_server() {
	[ -f "$WAKE_PIDFILE" ] || return 0
	pid=$(cat "$WAKE_PIDFILE")
	kill "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	rm -f "$WAKE_PIDFILE"
}

case "${1:-}" in
setup)
	nft -f - <<NFT
table inet $WAKE_NFT_TABLE {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport $WAKE_PORT log group $WAKE_NFLOG_GROUP
		tcp dport $WAKE_PORT jump gate
	}
	chain gate {
	}
}
NFT
	close_gate
	;;
teardown)
	nft delete table inet "$WAKE_NFT_TABLE" || true
	;;
start)
	# The server's words are split on purpose: it is a command line.
	# shellcheck disable=SC2086
	$WAKE_SERVER </dev/null >/dev/null 2>&1 &
	echo $! >"$WAKE_PIDFILE"
	i=0
	until listening "$WAKE_PORT"; do
		if [ $i -ge 100 ] || ! kill -0 "$(cat "$WAKE_PIDFILE")" 2>/dev/null; then
			echo "the server does not listen on port $WAKE_PORT" >&2
			stop_server
			exit 1
		fi
		sleep 0.05
		i=$((i + 1))
	done
	nft flush chain inet "$WAKE_NFT_TABLE" gate
	;;
stop)
	close_gate
	stop_server
	;;
*)
	echo "usage: $0 setup|teardown|start|stop" >&2
	exit 2
	;;
esac

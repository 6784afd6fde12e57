#!/bin/sh
# Example tuninetd command: tuninetd runs it as `hook.sh start` when traffic
# appears and `hook.sh stop` after -t seconds of silence. Whatever it prints
# ends up in tuninetd's log (stderr, or syslog with -d), line by line.
#
# Replace the echo lines with what your service needs. Ready-made, tested
# commands for WireGuard (wireguard.sh), ssh -w (ssh-tunnel.sh), a
# transparent proxy (tproxy.sh) and a server woken on demand (wake.sh) are
# next to this file; the README says which sensor each needs, and why.

case "$1" in
start)
	echo "bringing the link up: ${TUNINETD_REASON:-?} on ${TUNINETD_SENSOR:-?} ${TUNINETD_IFACE:-}${TUNINETD_NFLOG_GROUP:+group $TUNINETD_NFLOG_GROUP}"
	if [ -n "${TUNINETD_SRC:-}" ]; then
		echo "first packet: ${TUNINETD_PROTO:-?} ${TUNINETD_SRC}${TUNINETD_SRC_PORT:+:$TUNINETD_SRC_PORT} > ${TUNINETD_DST}${TUNINETD_DST_PORT:+:$TUNINETD_DST_PORT}"
	fi
	;;
stop)
	echo "taking the link down: ${TUNINETD_REASON:-?}, idle ${TUNINETD_IDLE:-?} s (TTL ${TUNINETD_TTL:-?} s)"
	;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac

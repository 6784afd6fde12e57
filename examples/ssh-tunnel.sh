#!/bin/sh
# An ssh -w tunnel on demand, the same tun device before and after.
#
#   ssh-tunnel.sh setup     once, at boot: tun0 with its address and route
#   tuninetd -i tun0 -m tun -c /etc/tuninetd/ssh-tunnel.sh -t 600
#
# tuninetd holds tun0 while the tunnel is down (a tun device without a
# reader has no carrier and the kernel drops what is routed to it before
# any capture sees it), lets go of it just before `ssh-tunnel.sh start`,
# and ssh attaches to the same tun0: the capture keeps seeing the traffic
# while the tunnel is up. `stop` closes the ssh master; tuninetd takes
# tun0 back. The device is persistent, so address and route stay.
#
# The server needs `PermitTunnel point-to-point` (or yes) in sshd_config
# and a tun device of its own, e.g. persistent, configured at boot:
#   ip tuntap add dev tun0 mode tun
#   ip addr add 10.10.0.1 peer 10.10.0.2 dev tun0; ip link set tun0 up
# and a route back to our side's networks if they are not 10.10.0.2.
#
# Settings (environment; tuninetd passes its own environment on):
SSH_HOST=${SSH_HOST:-office}                    # ssh destination (a Host in the ssh config)
SSH_CONFIG=${SSH_CONFIG:-}                      # ssh -F file; empty: ~/.ssh/config
SSH_TUN=${SSH_TUN:-0:0}                         # ssh -w local:remote tun numbers
SSH_CONTROL=${SSH_CONTROL:-/run/tuninetd-ssh.ctl} # control socket of the master
SSH_LOCAL_ADDR=${SSH_LOCAL_ADDR:-10.10.0.2}     # our end of the tunnel
SSH_REMOTE_ADDR=${SSH_REMOTE_ADDR:-10.10.0.1}   # the server's end
SSH_NET=${SSH_NET:-10.8.0.0/24}                 # networks behind the server, space-separated
set -eu

tun=tun${SSH_TUN%%:*}

ssh_() {
	if [ -n "$SSH_CONFIG" ]; then
		set -- -F "$SSH_CONFIG" "$@"
	fi
	ssh "$@"
}

case "${1:-}" in
setup)
	ip tuntap add dev "$tun" mode tun
	ip addr add "$SSH_LOCAL_ADDR" peer "$SSH_REMOTE_ADDR" dev "$tun"
	ip link set "$tun" up
	for net in $SSH_NET; do
		ip route add "$net" via "$SSH_REMOTE_ADDR" dev "$tun"
	done
	;;
teardown)
	ip link del "$tun" || true
	;;
start)
	# -f: background once authenticated; -N: no command; -M/-S: a master
	# that stop can close. ExitOnForwardFailure makes a refused tunnel
	# fail here rather than leave a useless connection.
	ssh_ -f -N -M -S "$SSH_CONTROL" -o ExitOnForwardFailure=yes \
		-o ServerAliveInterval=15 -w "$SSH_TUN" "$SSH_HOST"
	;;
stop)
	ssh_ -S "$SSH_CONTROL" -O exit "$SSH_HOST"
	;;
*)
	echo "usage: $0 setup|teardown|start|stop" >&2
	exit 2
	;;
esac

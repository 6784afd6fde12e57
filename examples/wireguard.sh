#!/bin/sh
# WireGuard on demand with wg-quick.
#
#   wireguard.sh setup      once, at boot: catch route and NFLOG rule
#   tuninetd -n 5 -c /etc/tuninetd/wireguard.sh -t 600
#   wireguard.sh teardown   removes what setup made
#
# tuninetd runs `wireguard.sh start` on the first packet to the office
# network and `wireguard.sh stop` after -t seconds without one.
#
# Why NFLOG on the destination and not a capture on a device: before the
# tunnel exists, traffic to the office needs a route that is not the
# default one (which would send it to the Internet, or nowhere): the catch
# route through a tun device nobody reads. Once wg-quick is up, its route
# through wg0 wins (metric 0 beats the catch route's), so a sensor on the
# catch device goes blind while the tunnel is in use and stops it under
# the user's feet. A "log group" rule in postrouting on the office network
# sees the packets whichever device they leave by (and forwarded LAN
# traffic too), so one -n sensor covers both states. The catch device needs
# no holder: the rule sees packets before the device drops them.
#
# Settings (environment; tuninetd passes its own environment on):
WG_CONF=${WG_CONF:-/etc/wireguard/wg0.conf} # wg-quick config; the interface is named after the file
WG_NET=${WG_NET:-10.8.0.0/24}               # office network(s), comma-separated, as in AllowedIPs
WG_NFLOG_GROUP=${WG_NFLOG_GROUP:-5}         # tuninetd -n
WG_CATCH=${WG_CATCH:-wgcatch}               # catch device (tun, no reader)
WG_NFT_TABLE=${WG_NFT_TABLE:-tuninetd_wg}   # nft table for the NFLOG rule (family ip)
set -eu

case "${1:-}" in
setup)
	ip tuntap add dev "$WG_CATCH" mode tun
	ip link set "$WG_CATCH" up
	for net in $(echo "$WG_NET" | tr ',' ' '); do
		ip route add "$net" dev "$WG_CATCH" metric 1000
	done
	nft -f - <<NFT
table ip $WG_NFT_TABLE {
	chain postrouting {
		type filter hook postrouting priority filter; policy accept;
		ip daddr { $WG_NET } log group $WG_NFLOG_GROUP
	}
}
NFT
	;;
teardown)
	nft delete table ip "$WG_NFT_TABLE" || true
	ip link del "$WG_CATCH" || true # takes the catch routes with it
	;;
start)
	wg-quick up "$WG_CONF"
	;;
stop)
	wg-quick down "$WG_CONF"
	;;
*)
	echo "usage: $0 setup|teardown|start|stop" >&2
	exit 2
	;;
esac

#!/bin/bash
# Regenerates clients.txt (run as root from this directory): captures real
# client DNS queries on a veth pair between two throwaway namespaces.
set -u
PCAP=$(mktemp)
A=dnsq-cap-a; B=dnsq-cap-b
cleanup() {
	[ -n "${TD:-}" ] && kill "$TD" 2>/dev/null; [ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null
	wait 2>/dev/null
	ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null
	rm -rf /etc/netns/$A "$PCAP"
}
trap cleanup EXIT
ip netns add $A; ip netns add $B
ip -n $A link add va type veth peer name vb netns $B
ip -n $A addr add 10.9.0.1/24 dev va; ip -n $A addr add fd00::1/64 dev va nodad
ip -n $B addr add 10.9.0.2/24 dev vb; ip -n $B addr add fd00::2/64 dev vb nodad
ip -n $A link set va up; ip -n $B link set vb up; ip -n $A link set lo up; ip -n $B link set lo up
# A TCP listener so +tcp queries get past the handshake; it reads and closes.
ip netns exec $B python3 -c '
import socket, threading
def serve(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 53)); s.listen(8)
    while True:
        c, _ = s.accept(); c.settimeout(2)
        try: c.recv(4096)
        except Exception: pass
        c.close()
for fam, addr in ((socket.AF_INET, "10.9.0.2"), (socket.AF_INET6, "fd00::2")):
    threading.Thread(target=serve, args=(fam, addr), daemon=True).start()
threading.Event().wait(30)
' & SRV=$!
ip netns exec $B tcpdump -i vb -U -s 0 -w "$PCAP" 'port 53' 2>/dev/null & TD=$!
sleep 2
d() { ip netns exec $A timeout 5 dig +tries=1 +timeout=1 "$@" >/dev/null 2>&1; }
d @10.9.0.2 git.corp.example
d @10.9.0.2 GIT.Corp.EXAMPLE. AAAA
d @10.9.0.2 corp.example HTTPS
d @10.9.0.2 notcorp.example
d @10.9.0.2 www.corp.example
d +tcp @10.9.0.2 tcp.corp.example
d @fd00::2 v6.corp.example AAAA
d +tcp @fd00::2 tcp6.corp.example
d +noedns @10.9.0.2 noedns.corp.example
mkdir -p /etc/netns/$A; echo "nameserver 10.9.0.2
options timeout:1 attempts:1" > /etc/netns/$A/resolv.conf
ip netns exec $A timeout 5 getent ahosts glibc.corp.example >/dev/null 2>&1
sleep 1
kill "$TD"; wait "$TD" 2>/dev/null; TD=
python3 - "$PCAP" > clients.txt <<'PY'
import struct, subprocess, sys
path = sys.argv[1]
data = open(path, "rb").read()
assert struct.unpack("<I", data[:4])[0] == 0xa1b2c3d4 and struct.unpack("<I", data[20:24])[0] == 1
summaries = subprocess.run(["tcpdump", "-nn", "-t", "-r", path], capture_output=True, text=True).stdout.splitlines()
print("""# DNS queries as real clients send them: dig 9.18 (UDP with EDNS and a cookie, +tcp,
# +noedns) and glibc getaddrinfo (getent ahosts: A and AAAA on one socket), from
# 10.9.0.1/fd00::1 to 10.9.0.2/fd00::2 on a veth pair between two namespaces, where a
# TCP listener on port 53 let the +tcp queries past the handshake. Captured with
# tcpdump -s 0 'port 53'; each Ethernet frame is a line of hex after tcpdump's summary.""")
off = 24
for s in summaries:
    incl = struct.unpack("<I", data[off + 8:off + 12])[0]
    print("# " + s)
    print(data[off + 16:off + 16 + incl].hex())
    off += 16 + incl
PY

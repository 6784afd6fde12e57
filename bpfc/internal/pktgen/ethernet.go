package pktgen

import (
	"fmt"
	"math/rand"
	"net/netip"
)

// l3 is a network-layer payload waiting for its link-layer framing.
type l3 struct {
	desc  string
	etype uint16 // 0: 802.3 length frame (data is the LLC payload)
	data  []byte
}

var (
	macA     = MAC{0x02, 0, 0, 0, 0, 0x01}
	macB     = MAC{0x02, 0, 0, 0, 0, 0x02}
	macC     = MAC{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	macBcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	macMC4   = MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
	macMC6   = MAC{0x33, 0x33, 0x00, 0x00, 0x00, 0xfb}
	macSTP   = MAC{0x01, 0x80, 0xc2, 0x00, 0x00, 0x00}
)

func a(s string) netip.Addr { return netip.MustParseAddr(s) }

// Addresses and ports the filter corpus names, plus near misses.
var (
	v4Addrs = []string{
		"10.0.0.1", "10.0.0.2", "1.2.3.4", "5.6.7.8", "9.9.9.9", "4.3.2.1",
		"192.168.1.1", "192.168.0.5", "192.168.1.255", "172.16.0.1", "172.31.255.254",
		"172.32.0.1", "224.0.0.251", "224.0.0.1", "239.255.255.250", "255.255.255.255",
		"10.255.255.255", "11.0.0.1", "8.8.8.8", "127.0.0.1", "0.0.0.0", "100.64.0.1",
	}
	v6Addrs = []string{
		"2001:db8::1", "2001:db8::2", "2001:db8:1::5", "2001:db9::1", "fe80::1", "fe80::abcd",
		"febf::1", "fec0::1", "ff02::fb", "ff02::1", "ff05::2", "::1", "::", "::ffff:10.0.0.1",
	}
	ports = []uint16{
		22, 53, 80, 443, 8080, 9899, 51820, 67, 68, 7000, 1024, 1023, 1025, 1, 0, 65535,
		6000, 6004, 6008, 6009, 5999, 123, 25, 21, 20, 23, 110, 143, 161, 162, 514, 3389,
		5353, 2049, 179, 8443, 4789, 500, 4500, 1194,
	}
)

// appearance of the HTTP request payload the corpus matches with
// tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420.
var httpGet = []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")

func v4(src, dst string, proto uint8, payload []byte) []byte {
	return ip4{src: a(src), dst: a(dst), proto: proto, id: 0x1234, df: true}.build(payload)
}

// structuredL3 returns the hand-picked network-layer payloads.
func structuredL3() []l3 {
	var out []l3
	add := func(desc string, et uint16, d []byte) { out = append(out, l3{desc, et, d}) }

	// IPv4 TCP across addresses, ports and flags.
	flagsets := []uint8{SYN, SYN | ACK, ACK, RST | ACK, FIN | ACK, PSH | ACK, RST, FIN | SYN, URG | ACK, ECE | CWR | SYN, 0, 0xff}
	for i, src := range v4Addrs {
		dst := v4Addrs[(i*7+3)%len(v4Addrs)]
		sp := ports[(i*5+1)%len(ports)]
		dp := ports[i%len(ports)]
		fl := flagsets[i%len(flagsets)]
		add(fmt.Sprintf("ip %s>%s tcp %d>%d flags %#x", src, dst, sp, dp, fl), EtherIPv4,
			v4(src, dst, ProtoTCP, tcp(sp, dp, fl, uint32(i)*1000, nil, nil)))
	}
	for i, p := range ports {
		src := v4Addrs[(i*3)%len(v4Addrs)]
		dst := v4Addrs[(i*11+1)%len(v4Addrs)]
		add(fmt.Sprintf("ip %s>%s tcp 40000>%d syn", src, dst, p), EtherIPv4,
			v4(src, dst, ProtoTCP, tcp(40000, p, SYN, 1, nil, nil)))
		add(fmt.Sprintf("ip %s>%s udp %d>33333", dst, src, p), EtherIPv4,
			v4(dst, src, ProtoUDP, udp(p, 33333, []byte{0x12, 0x34, 0x56, 0x78, 9, 9})))
		if i%3 == 0 {
			add(fmt.Sprintf("ip %s>%s sctp %d>%d", src, dst, p, p+1), EtherIPv4,
				v4(src, dst, ProtoSCTP, sctp(p, p+1)))
		}
	}
	// Both ports equal; src/dst swapped pairs.
	add("ip 10.0.0.1>10.0.0.2 tcp 80>80 ack", EtherIPv4, v4("10.0.0.1", "10.0.0.2", ProtoTCP, tcp(80, 80, ACK, 5, nil, nil)))
	add("ip 10.0.0.2>10.0.0.1 tcp 22>51000 psh|ack", EtherIPv4, v4("10.0.0.2", "10.0.0.1", ProtoTCP, tcp(22, 51000, PSH|ACK, 5, nil, []byte("SSH-2.0"))))
	add("ip 10.0.0.1>10.0.0.1 udp 53>53", EtherIPv4, v4("10.0.0.1", "10.0.0.1", ProtoUDP, udp(53, 53, nil)))
	add("ip 192.168.1.1>10.0.0.1 udp 51820>51820 12345678", EtherIPv4, v4("192.168.1.1", "10.0.0.1", ProtoUDP, udp(51820, 51820, []byte{0x12, 0x34, 0x56, 0x78})))
	add("ip 0.0.0.0>255.255.255.255 udp 68>67 dhcp", EtherIPv4, v4("0.0.0.0", "255.255.255.255", ProtoUDP, udp(68, 67, make([]byte, 240))))
	// HTTP GET with and without TCP options.
	add("ip 10.0.0.2>1.2.3.4 tcp 50000>80 GET", EtherIPv4, v4("10.0.0.2", "1.2.3.4", ProtoTCP, tcp(50000, 80, PSH|ACK, 7, nil, httpGet)))
	add("ip 10.0.0.2>1.2.3.4 tcp 50000>80 opts GET", EtherIPv4, v4("10.0.0.2", "1.2.3.4", ProtoTCP,
		tcp(50000, 80, PSH|ACK, 7, []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, httpGet)))
	add("ip 1.2.3.4>10.0.0.2 tcp 80>50000 HTTP reply", EtherIPv4, v4("1.2.3.4", "10.0.0.2", ProtoTCP, tcp(80, 50000, PSH|ACK, 8, nil, []byte("HTTP/1.1 200 OK\r\n"))))
	add("ip 10.0.0.2>1.2.3.4 tcp 50000>8080 GET", EtherIPv4, v4("10.0.0.2", "1.2.3.4", ProtoTCP, tcp(50000, 8080, PSH|ACK, 7, nil, httpGet)))
	// Big packets for len/greater.
	add("ip 5.6.7.8>10.0.0.1 tcp 443>40000 1460 bytes", EtherIPv4, v4("5.6.7.8", "10.0.0.1", ProtoTCP, tcp(443, 40000, ACK, 9, nil, make([]byte, 1460))))
	add("ip 5.6.7.8>10.0.0.1 udp 443>40000 1000 bytes", EtherIPv4, v4("5.6.7.8", "10.0.0.1", ProtoUDP, udp(443, 40000, make([]byte, 1000))))
	add("ip 10.0.0.1>5.6.7.8 udp 4000>4001 150 bytes", EtherIPv4, v4("10.0.0.1", "5.6.7.8", ProtoUDP, udp(4000, 4001, make([]byte, 150))))
	add("ip 10.0.0.1>5.6.7.8 udp 4000>4001 500 bytes", EtherIPv4, v4("10.0.0.1", "5.6.7.8", ProtoUDP, udp(4000, 4001, make([]byte, 500))))

	// IPv4 options and fragments.
	ra := []byte{0x94, 0x04, 0x00, 0x00}
	add("ip opts(RA) 10.0.0.1>224.0.0.1 igmp", EtherIPv4, ip4{src: a("10.0.0.1"), dst: a("224.0.0.1"), proto: ProtoIGMP, opts: ra, ttl: 1}.build([]byte{0x11, 0x64, 0, 0, 0, 0, 0, 0}))
	add("ip opts(RA) 10.0.0.1>1.2.3.4 tcp 1024>22", EtherIPv4, ip4{src: a("10.0.0.1"), dst: a("1.2.3.4"), proto: ProtoTCP, opts: ra}.build(tcp(1024, 22, SYN, 1, nil, nil)))
	add("ip opts(40) 5.6.7.8>10.0.0.1 udp 53>1024", EtherIPv4, ip4{src: a("5.6.7.8"), dst: a("10.0.0.1"), proto: ProtoUDP, opts: bytesN(40, 1)}.build(udp(53, 1024, []byte{1, 2, 3, 4})))
	add("ip opts(8) 10.0.0.1>1.2.3.4 tcp 80>7000 syn", EtherIPv4, ip4{src: a("10.0.0.1"), dst: a("1.2.3.4"), proto: ProtoTCP, opts: []byte{1, 1, 1, 1, 1, 1, 1, 0}}.build(tcp(80, 7000, SYN, 1, nil, nil)))
	add("ip opts(4) 10.0.0.1>1.2.3.4 icmp echo", EtherIPv4, ip4{src: a("10.0.0.1"), dst: a("1.2.3.4"), proto: ProtoICMP, opts: ra}.build(icmp(8, 0, nil)))
	for _, fr := range []struct {
		desc   string
		off    uint16
		mf, df bool
		proto  uint8
		body   []byte
	}{
		{"first frag mf tcp 1024>80", 0, true, false, ProtoTCP, tcp(1024, 80, SYN, 1, nil, make([]byte, 16))},
		{"frag off=185 tcp-ish", 185, true, false, ProtoTCP, tcp(22, 80, SYN, 1, nil, nil)},
		{"last frag off=370 tcp-ish", 370, false, false, ProtoTCP, tcp(80, 22, ACK, 1, nil, nil)},
		{"first frag mf udp 53>53", 0, true, false, ProtoUDP, udp(53, 53, make([]byte, 16))},
		{"frag off=1 udp-ish 53>53", 1, false, false, ProtoUDP, udp(53, 53, nil)},
		{"frag off=8191 udp-ish", 0x1fff, false, false, ProtoUDP, udp(67, 68, nil)},
		{"df udp 67>68", 0, false, true, ProtoUDP, udp(67, 68, nil)},
		{"frag off=2 icmp-ish echo", 2, false, false, ProtoICMP, icmp(8, 0, nil)},
		{"first frag mf icmp echo", 0, true, false, ProtoICMP, icmp(8, 0, nil)},
		{"frag off=3 sctp-ish 9899", 3, false, false, ProtoSCTP, sctp(9899, 9899)},
	} {
		add("ip 10.0.0.1>1.2.3.4 "+fr.desc, EtherIPv4, ip4{src: a("10.0.0.1"), dst: a("1.2.3.4"), proto: fr.proto, fragOff: fr.off, mf: fr.mf, df: fr.df}.build(fr.body))
		add("ip 5.6.7.8>10.0.0.1 "+fr.desc, EtherIPv4, ip4{src: a("5.6.7.8"), dst: a("10.0.0.1"), proto: fr.proto, fragOff: fr.off, mf: fr.mf, df: fr.df}.build(fr.body))
	}
	// Odd IPv4 headers: IHL < 5, IHL 15 with a short packet, version 6 in an 0x0800 frame.
	bad := v4("10.0.0.1", "1.2.3.4", ProtoTCP, tcp(1, 80, SYN, 0, nil, nil))
	bad[0] = 0x44
	add("ip ihl=4 (bogus) 10.0.0.1>1.2.3.4 tcp", EtherIPv4, bad)
	bad2 := v4("10.0.0.1", "1.2.3.4", ProtoUDP, udp(53, 53, nil))
	bad2[0] = 0x4f
	add("ip ihl=15 short 10.0.0.1>1.2.3.4 udp", EtherIPv4, bad2)
	bad3 := v4("10.0.0.1", "1.2.3.4", ProtoUDP, udp(53, 53, nil))
	bad3[0] = 0x65
	add("ethertype ipv4 with version 6", EtherIPv4, bad3)

	// ICMP types.
	for _, ty := range []uint8{0, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 255} {
		add(fmt.Sprintf("ip 10.0.0.1>5.6.7.8 icmp type %d", ty), EtherIPv4, v4("10.0.0.1", "5.6.7.8", ProtoICMP, icmp(ty, 0, nil)))
	}
	add("ip 1.2.3.4>10.0.0.1 icmp unreach code 3 with inner udp", EtherIPv4, v4("1.2.3.4", "10.0.0.1", ProtoICMP,
		icmp(3, 3, v4("10.0.0.1", "1.2.3.4", ProtoUDP, udp(53, 53, nil))[:28])))
	// GRE, ESP, AH, others.
	add("ip 10.0.0.1>1.2.3.4 gre ip tcp 1>80", EtherIPv4, v4("10.0.0.1", "1.2.3.4", ProtoGRE, gre(EtherIPv4, v4("192.168.1.1", "172.16.0.1", ProtoTCP, tcp(1, 80, SYN, 0, nil, nil)))))
	add("ip 10.0.0.1>1.2.3.4 esp", EtherIPv4, v4("10.0.0.1", "1.2.3.4", ProtoESP, esp(0x100)))
	add("ip 5.6.7.8>10.0.0.1 ah tcp 22>1024", EtherIPv4, v4("5.6.7.8", "10.0.0.1", ProtoAH, ah(ProtoTCP, tcp(22, 1024, ACK, 0, nil, nil))))
	add("ip 10.0.0.1>224.0.0.18 vrrp", EtherIPv4, v4("10.0.0.1", "224.0.0.18", ProtoVRRP, make([]byte, 20)))
	add("ip 10.0.0.1>224.0.0.13 pim", EtherIPv4, v4("10.0.0.1", "224.0.0.13", ProtoPIM, make([]byte, 20)))
	add("ip 10.0.0.1>1.2.3.4 proto 255", EtherIPv4, v4("10.0.0.1", "1.2.3.4", 255, make([]byte, 8)))
	add("ip 10.0.0.1>1.2.3.4 ipip udp", EtherIPv4, v4("10.0.0.1", "1.2.3.4", 4, v4("9.9.9.9", "8.8.8.8", ProtoUDP, udp(53, 53, nil))))
	add("ip 10.0.0.1>1.2.3.4 ipv6-in-ip tcp", EtherIPv4, v4("10.0.0.1", "1.2.3.4", 41, ip6(a("2001:db8::1"), a("2001:db8::2"), nil, ProtoTCP, 0, tcp(1, 80, SYN, 0, nil, nil))))
	add("ip 10.0.0.1>224.0.0.251 udp 5353>5353 mdns", EtherIPv4, v4("10.0.0.1", "224.0.0.251", ProtoUDP, udp(5353, 5353, make([]byte, 12))))
	add("ip 10.0.0.1>192.168.1.255 udp 137>137 subnet bcast", EtherIPv4, v4("10.0.0.1", "192.168.1.255", ProtoUDP, udp(137, 137, make([]byte, 12))))

	// IPv6.
	for i, src := range v6Addrs {
		dst := v6Addrs[(i*5+2)%len(v6Addrs)]
		sp := ports[(i*7+2)%len(ports)]
		dp := ports[(i*3)%len(ports)]
		add(fmt.Sprintf("ip6 %s>%s tcp %d>%d syn", src, dst, sp, dp), EtherIPv6,
			ip6(a(src), a(dst), nil, ProtoTCP, 0, tcp(sp, dp, SYN, 3, nil, nil)))
		add(fmt.Sprintf("ip6 %s>%s udp %d>%d", dst, src, dp, sp), EtherIPv6,
			ip6(a(dst), a(src), nil, ProtoUDP, 0, udp(dp, sp, []byte{0x12, 0x34, 0x56, 0x78})))
	}
	for _, p := range []uint16{22, 53, 80, 443, 7000, 51820, 9899, 6004} {
		add(fmt.Sprintf("ip6 2001:db8::1>2001:db8::2 tcp 1024>%d syn", p), EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), nil, ProtoTCP, 0, tcp(1024, p, SYN, 0, nil, nil)))
		add(fmt.Sprintf("ip6 fe80::1>ff02::1 udp %d>%d", p, p), EtherIPv6, ip6(a("fe80::1"), a("ff02::1"), nil, ProtoUDP, 0, udp(p, p, nil)))
		add(fmt.Sprintf("ip6 2001:db8::2>2001:db8::1 sctp %d>1", p), EtherIPv6, ip6(a("2001:db8::2"), a("2001:db8::1"), nil, ProtoSCTP, 0, sctp(p, 1)))
	}
	add("ip6 2001:db8::2>2001:db8::1 tcp 80>1024 GET", EtherIPv6, ip6(a("2001:db8::2"), a("2001:db8::1"), nil, ProtoTCP, 0, tcp(80, 1024, PSH|ACK, 1, nil, httpGet)))
	add("ip6 2001:db8::1>2001:db8::2 tcp 1024>22 flags=0x02 only", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), nil, ProtoTCP, 0, tcp(1024, 22, SYN, 0, nil, nil)))
	for _, ty := range []uint8{1, 2, 3, 4, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 143} {
		add(fmt.Sprintf("ip6 fe80::1>ff02::1 icmp6 type %d", ty), EtherIPv6, ip6(a("fe80::1"), a("ff02::1"), nil, ProtoICMPv6, 255, icmp(ty, 0, make([]byte, 8))))
	}
	add("ip6 fe80::1>ff02::2 hbh icmp6 type 143 (mld)", EtherIPv6, ip6(a("fe80::1"), a("ff02::2"), []ext6{{0, []byte{5, 2, 0, 0, 1, 0}}}, ProtoICMPv6, 1, icmp(143, 0, make([]byte, 8))))
	add("ip6 2001:db8::1>2001:db8::2 hbh tcp 1024>80", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), []ext6{{0, []byte{1, 4, 0, 0, 0, 0}}}, ProtoTCP, 0, tcp(1024, 80, SYN, 0, nil, nil)))
	add("ip6 2001:db8::1>2001:db8::2 frag(first) tcp 1024>80", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), []ext6{frag6(0, true, 9)}, ProtoTCP, 0, tcp(1024, 80, SYN, 0, nil, make([]byte, 8))))
	add("ip6 2001:db8::1>2001:db8::2 frag(off=100) tcp-ish", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), []ext6{frag6(100, false, 9)}, ProtoTCP, 0, tcp(1024, 80, SYN, 0, nil, nil)))
	add("ip6 2001:db8::2>2001:db8::1 frag(first) udp 53>53", EtherIPv6, ip6(a("2001:db8::2"), a("2001:db8::1"), []ext6{frag6(0, true, 10)}, ProtoUDP, 0, udp(53, 53, make([]byte, 8))))
	add("ip6 2001:db8::2>2001:db8::1 frag(off=5) udp-ish", EtherIPv6, ip6(a("2001:db8::2"), a("2001:db8::1"), []ext6{frag6(5, true, 10)}, ProtoUDP, 0, udp(53, 53, nil)))
	add("ip6 fe80::1>ff02::1 frag(first) icmp6 echo", EtherIPv6, ip6(a("fe80::1"), a("ff02::1"), []ext6{frag6(0, true, 11)}, ProtoICMPv6, 0, icmp(128, 0, nil)))
	add("ip6 fe80::1>ff02::1 frag(first) icmp6 133", EtherIPv6, ip6(a("fe80::1"), a("ff02::1"), []ext6{frag6(0, true, 11)}, ProtoICMPv6, 0, icmp(133, 0, nil)))
	add("ip6 2001:db8::1>2001:db8::2 hbh+frag(first) tcp 1024>80", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), []ext6{{0, []byte{1, 4, 0, 0, 0, 0}}, frag6(0, true, 12)}, ProtoTCP, 0, tcp(1024, 80, SYN, 0, nil, nil)))
	add("ip6 2001:db8::1>2001:db8::2 frag+frag tcp", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), []ext6{frag6(0, true, 12), frag6(0, true, 13)}, ProtoTCP, 0, tcp(1024, 80, SYN, 0, nil, nil)))
	add("ip6 2001:db8::1>2001:db8::2 routing tcp 1024>80", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), []ext6{{43, []byte{0, 0, 0, 0, 0, 0}}}, ProtoTCP, 0, tcp(1024, 80, SYN, 0, nil, nil)))
	add("ip6 2001:db8::1>2001:db8::2 dstopts udp 53>53", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), []ext6{{60, []byte{1, 4, 0, 0, 0, 0}}}, ProtoUDP, 0, udp(53, 53, nil)))
	add("ip6 2001:db8::1>2001:db8::2 hbh+routing+dstopts tcp 1024>22", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), []ext6{{0, []byte{1, 4, 0, 0, 0, 0}}, {43, make([]byte, 6)}, {60, []byte{1, 4, 0, 0, 0, 0}}}, ProtoTCP, 0, tcp(1024, 22, SYN, 0, nil, nil)))
	add("ip6 2001:db8::1>2001:db8::2 esp", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), nil, ProtoESP, 0, esp(5)))
	add("ip6 2001:db8::1>2001:db8::2 ah udp", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), nil, ProtoAH, 0, ah(ProtoUDP, udp(53, 53, nil))))
	add("ip6 2001:db8::1>2001:db8::2 gre", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), nil, ProtoGRE, 0, gre(EtherIPv6, nil)))
	add("ip6 2001:db8::1>2001:db8::2 no-next-header", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), nil, 59, 0, nil))
	add("ip6 2001:db8::1>2001:db8::2 icmp(v4 proto 1)", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), nil, ProtoICMP, 0, icmp(8, 0, nil)))
	add("ip6 fe80::1>ff02::fb udp 5353>5353 mdns", EtherIPv6, ip6(a("fe80::1"), a("ff02::fb"), nil, ProtoUDP, 255, udp(5353, 5353, make([]byte, 12))))
	add("ip6 2001:db8::1>2001:db8::2 udp 1000 bytes", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), nil, ProtoUDP, 0, udp(1, 2, make([]byte, 1000))))
	b6 := ip6(a("2001:db8::1"), a("2001:db8::2"), nil, ProtoTCP, 0, tcp(1, 2, SYN, 0, nil, nil))
	b6[0] = 0x45
	add("ethertype ipv6 with version 4", EtherIPv6, b6)

	// ARP and RARP.
	add("arp who-has 4.3.2.1 tell 10.0.0.1", EtherARP, arp(1, macA, a("10.0.0.1"), MAC{}, a("4.3.2.1")))
	add("arp reply 4.3.2.1 is-at", EtherARP, arp(2, macB, a("4.3.2.1"), macA, a("10.0.0.1")))
	add("arp who-has 10.0.0.2 tell 10.0.0.1", EtherARP, arp(1, macA, a("10.0.0.1"), MAC{}, a("10.0.0.2")))
	add("arp who-has 192.168.1.1 tell 192.168.1.5", EtherARP, arp(1, macC, a("192.168.1.5"), MAC{}, a("192.168.1.1")))
	add("rarp request", EtherRARP, arp(3, macA, a("0.0.0.0"), macA, a("0.0.0.0")))
	add("rarp reply 10.0.0.1", EtherRARP, arp(4, macB, a("10.0.0.2"), macA, a("10.0.0.1")))

	// MPLS.
	add("mpls 100 ip tcp 1024>80", EtherMPLS, mplsStack([]uint32{100}, v4("10.0.0.1", "1.2.3.4", ProtoTCP, tcp(1024, 80, SYN, 0, nil, nil))))
	add("mpls 100/200 ip udp 53>53", EtherMPLS, mplsStack([]uint32{100, 200}, v4("10.0.0.1", "1.2.3.4", ProtoUDP, udp(53, 53, nil))))
	add("mpls 1048575/42/7 ip6 tcp", EtherMPLS, mplsStack([]uint32{1048575, 42, 7}, ip6(a("2001:db8::1"), a("2001:db8::2"), nil, ProtoTCP, 0, tcp(1, 80, SYN, 0, nil, nil))))
	add("mpls 0 ip 10.0.0.1 icmp", EtherMPLS, mplsStack([]uint32{0}, v4("10.0.0.1", "9.9.9.9", ProtoICMP, icmp(8, 0, nil))))
	add("mpls-mc 300 ip", EtherMPLSMC, mplsStack([]uint32{300}, v4("10.0.0.1", "9.9.9.9", ProtoUDP, udp(1, 2, nil))))

	// Other ethertypes and 802.3/LLC.
	pppoe := func(session uint16, pppProto uint16, payload []byte) []byte {
		h := []byte{0x11, 0, byte(session >> 8), byte(session), byte((len(payload) + 2) >> 8), byte(len(payload) + 2), byte(pppProto >> 8), byte(pppProto)}
		return append(h, payload...)
	}
	add("pppoe-session 1 ip udp 53>53", EtherPPPoES, pppoe(1, 0x0021, v4("10.0.0.1", "1.2.3.4", ProtoUDP, udp(53, 53, nil))))
	add("pppoe-session 2 ip tcp 1024>80", EtherPPPoES, pppoe(2, 0x0021, v4("10.0.0.2", "5.6.7.8", ProtoTCP, tcp(1024, 80, SYN, 0, nil, nil))))
	add("pppoe-session 1 ip6 udp 53>53", EtherPPPoES, pppoe(1, 0x0057, ip6(a("2001:db8::1"), a("2001:db8::2"), nil, ProtoUDP, 0, udp(53, 53, nil))))
	add("pppoe-session 3 ip6 tcp 22>1024", EtherPPPoES, pppoe(3, 0x0057, ip6(a("2001:db8::2"), a("2001:db8::1"), nil, ProtoTCP, 0, tcp(22, 1024, ACK, 0, nil, nil))))
	add("pppoe-session 1 lcp", EtherPPPoES, pppoe(1, 0xc021, []byte{1, 1, 0, 4}))
	add("pppoe-discovery padi", EtherPPPoED, []byte{0x11, 0x09, 0, 0, 0, 4, 1, 1, 0, 0})
	add("ipx ethernet-ii", EtherIPX, make([]byte, 30))
	add("decnet", EtherDECnet, make([]byte, 30))
	add("atalk", EtherATalk, make([]byte, 30))
	add("aarp", EtherAARP, make([]byte, 28))
	add("loopback 0x9000", EtherLoop, make([]byte, 30))
	add("ethertype 0x1234", 0x1234, make([]byte, 30))
	// libpcap#1513 probes: a live filter that forgets the tag went to
	// metadata reads the ethertype 4 bytes late, i.e. payload[2:4].
	add("ethertype 0x8892 (profinet)", 0x8892, make([]byte, 40))
	add("ethertype 0x1234, payload[2:4]=0x8892", 0x1234, append([]byte{0, 0, 0x88, 0x92}, make([]byte, 40)...))
	add("ethertype 0x1234, payload[2:4]=0x0800 then an ip header", 0x1234, append([]byte{0, 0, 0x08, 0x00}, v4("10.0.0.1", "1.2.3.4", ProtoTCP, tcp(1024, 80, SYN, 0, nil, nil))...))
	add("ethertype 0x88cc (lldp)", 0x88cc, make([]byte, 40))
	add("ethertype 0x05dd (length boundary)", 0x05dd, make([]byte, 30))
	add("ethertype 0x0600", 0x0600, make([]byte, 30))
	add("802.3 llc stp", 0, append([]byte{0x42, 0x42, 0x03}, make([]byte, 35)...))
	add("802.3 llc ipx", 0, append([]byte{0xe0, 0xe0, 0x03}, make([]byte, 30)...))
	add("802.3 raw ipx (ffff)", 0, append([]byte{0xff, 0xff}, make([]byte, 30)...))
	add("802.3 llc iso (fe)", 0, append([]byte{0xfe, 0xfe, 0x03, 0x83}, make([]byte, 30)...))
	add("802.3 llc netbeui (f0)", 0, append([]byte{0xf0, 0xf0, 0x03}, make([]byte, 30)...))
	add("802.3 snap ip", 0, append([]byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00}, v4("10.0.0.1", "1.2.3.4", ProtoUDP, udp(53, 53, nil))...))
	add("802.3 snap atalk", 0, append([]byte{0xaa, 0xaa, 0x03, 0x08, 0x00, 0x07, 0x80, 0x9b}, make([]byte, 30)...))
	add("802.3 snap aarp", 0, append([]byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x80, 0xf3}, make([]byte, 30)...))
	return out
}

func bytesN(n int, v byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = v
	}
	return b
}

// framing describes the link layer one payload is wrapped in.
type framing struct {
	dst, src MAC
	tags     []Tag
}

func (f framing) desc() string {
	s := f.src.String() + ">" + f.dst.String()
	for _, t := range f.tags {
		s += fmt.Sprintf(" vlan(%#x) %d pcp %d", t.TPID, t.TCI&0xfff, t.TCI>>13)
	}
	return s
}

// Ethernet returns the EN10MB corpus: structured frames in several
// framings, VLAN-tagged variants, truncations and a seeded random tail.
// The result is the same on every call and every architecture.
func Ethernet() []Packet {
	var out []Packet
	add := func(desc string, d []byte) {
		out = append(out, Packet{Desc: desc, Data: d, WireLen: uint32(len(d))})
	}
	l3s := structuredL3()
	macs := []framing{
		{dst: macB, src: macA}, {dst: macA, src: macB}, {dst: macBcast, src: macC},
		{dst: macMC4, src: macA}, {dst: macMC6, src: macB}, {dst: macC, src: macA},
	}
	tagsets := [][]Tag{
		{{EtherVLAN, 100}},
		{{EtherVLAN, 300}},
		{{EtherVLAN, 0x2000 | 100}}, // PCP 1 vid 100
		{{EtherVLAN, 0}},            // priority tag
		{{EtherVLAN, 4095}},
		{{EtherQinQ, 300}, {EtherVLAN, 100}},
		{{EtherVLAN, 300}, {EtherVLAN, 100}},
		{{EtherVLAN, 100}, {EtherVLAN, 300}},
		{{EtherQinQ, 200}},
		{{Ether9100, 300}, {EtherVLAN, 100}},
		{{EtherQinQ, 100}, {EtherVLAN, 300}, {EtherVLAN, 7}},
	}
	for i, p := range l3s {
		fr := macs[i%len(macs)]
		// Broadcast/multicast MACs paired with unicast IPs and vice versa
		// is fine: filters test each layer independently.
		add(fr.desc()+" "+p.desc, ethernet(fr.dst, fr.src, nil, p.etype, p.data))
		if i%3 == 0 || p.etype == EtherMPLS || p.etype == EtherARP {
			ts := tagsets[(i/3)%len(tagsets)]
			tf := framing{dst: fr.dst, src: fr.src, tags: ts}
			add(tf.desc()+" "+p.desc, ethernet(tf.dst, tf.src, tf.tags, p.etype, p.data))
		}
		if i%7 == 0 {
			ts := tagsets[(i/7+5)%len(tagsets)]
			tf := framing{dst: macBcast, src: macA, tags: ts}
			add(tf.desc()+" "+p.desc, ethernet(tf.dst, tf.src, tf.tags, p.etype, p.data))
		}
	}
	// Every tag set over a few key payloads, so "vlan N and ..." is
	// exercised on each stacking shape.
	key := []l3{
		{"ip 10.0.0.1>1.2.3.4 tcp 1024>80 syn", EtherIPv4, v4("10.0.0.1", "1.2.3.4", ProtoTCP, tcp(1024, 80, SYN, 0, nil, nil))},
		{"ip6 2001:db8::1>2001:db8::2 udp 53>53", EtherIPv6, ip6(a("2001:db8::1"), a("2001:db8::2"), nil, ProtoUDP, 0, udp(53, 53, nil))},
		{"arp who-has 4.3.2.1", EtherARP, arp(1, macA, a("10.0.0.1"), MAC{}, a("4.3.2.1"))},
		{"mpls 100 ip udp", EtherMPLS, mplsStack([]uint32{100}, v4("10.0.0.1", "1.2.3.4", ProtoUDP, udp(53, 53, nil)))},
		{"ethertype 0x8892", 0x8892, make([]byte, 40)},
		{"pppoe-session 1 ip udp 53>53", EtherPPPoES, []byte{0x11, 0, 0, 1, 0, 30, 0, 0x21, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 1, 2, 3, 4, 0, 53, 0, 53, 0, 8, 0, 0}},
		{"ethertype 0x1234, payload[2:4]=0x8892", 0x1234, append([]byte{0, 0, 0x88, 0x92}, make([]byte, 40)...)},
		{"ethertype 0x1234, payload[2:4]=0x0800", 0x1234, append([]byte{0, 0, 0x08, 0x00}, v4("10.0.0.1", "1.2.3.4", ProtoUDP, udp(53, 53, nil))...)},
	}
	for _, ts := range tagsets {
		for _, p := range key {
			tf := framing{dst: macB, src: macA, tags: ts}
			add(tf.desc()+" "+p.desc, ethernet(tf.dst, tf.src, tf.tags, p.etype, p.data))
		}
	}
	// Ethernet address cases.
	add("eth 02:00:00:00:00:01>ff:ff:ff:ff:ff:ff arp", ethernet(macBcast, macA, nil, EtherARP, arp(1, macA, a("10.0.0.1"), MAC{}, a("10.0.0.2"))))
	add("eth 02:00:00:00:00:02>02:00:00:00:00:01 ip udp", ethernet(macA, macB, nil, EtherIPv4, v4("1.2.3.4", "10.0.0.1", ProtoUDP, udp(1, 2, nil))))
	add("eth 02:00:00:00:00:01>02:00:00:00:00:01 ip udp", ethernet(macA, macA, nil, EtherIPv4, v4("1.2.3.4", "10.0.0.1", ProtoUDP, udp(1, 2, nil))))
	add("eth stp bpdu", ethernet(macSTP, macC, nil, 0, append([]byte{0x42, 0x42, 0x03}, make([]byte, 35)...)))
	add("eth ff:ff:ff:ff:ff:fe>.. ip", ethernet(MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, macA, nil, EtherIPv4, v4("10.0.0.1", "255.255.255.255", ProtoUDP, udp(68, 67, nil))))
	add("eth 03:00:00:00:00:00>.. ip6", ethernet(MAC{3}, macA, nil, EtherIPv6, ip6(a("fe80::1"), a("ff02::1"), nil, ProtoICMPv6, 255, icmp(133, 0, nil))))

	// Truncations of representative frames, at every length up to the
	// transport header and a few past it. Half keep the original wire length
	// (a snaplen cut), half are genuinely short.
	reps := []int{}
	for i := range out {
		if i%9 == 0 {
			reps = append(reps, i)
		}
	}
	base := len(out)
	for n, ri := range reps {
		p := out[ri]
		for l := 0; l < len(p.Data) && l <= 90; l++ {
			if l > 62 && l%4 != 0 {
				continue
			}
			if (l+n)%3 != 0 && l > 20 && l < 60 && n%2 == 1 {
				continue
			}
			q := Packet{Desc: fmt.Sprintf("trunc %d/%d of %s", l, len(p.Data), p.Desc), Data: append([]byte{}, p.Data[:l]...), Truncated: true}
			if (l+n)%2 == 0 {
				q.WireLen = p.WireLen
			} else {
				q.WireLen = uint32(l)
			}
			out = append(out, q)
		}
	}
	_ = base

	out = append(out, random(rand.New(rand.NewSource(20261122)), 300)...)
	return out
}

// random builds n frames from a seeded RNG: half structured packets with
// random fields, half random bytes behind common ethertypes.
func random(r *rand.Rand, n int) []Packet {
	var out []Packet
	rv4 := func() netip.Addr {
		if r.Intn(2) == 0 {
			return a(v4Addrs[r.Intn(len(v4Addrs))])
		}
		var b [4]byte
		r.Read(b[:])
		return netip.AddrFrom4(b)
	}
	rv6 := func() netip.Addr {
		if r.Intn(2) == 0 {
			return a(v6Addrs[r.Intn(len(v6Addrs))])
		}
		var b [16]byte
		r.Read(b[:])
		return netip.AddrFrom16(b)
	}
	rport := func() uint16 {
		if r.Intn(2) == 0 {
			return ports[r.Intn(len(ports))]
		}
		return uint16(r.Intn(65536))
	}
	rmac := func() MAC {
		var m MAC
		r.Read(m[:])
		return m
	}
	rbytes := func(n int) []byte { b := make([]byte, n); r.Read(b); return b }
	for i := 0; i < n; i++ {
		var l4 []byte
		var proto uint8
		switch r.Intn(6) {
		case 0:
			proto, l4 = ProtoTCP, tcp(rport(), rport(), uint8(r.Intn(256)), r.Uint32(), nil, rbytes(r.Intn(20)))
		case 1:
			proto, l4 = ProtoUDP, udp(rport(), rport(), rbytes(r.Intn(20)))
		case 2:
			proto, l4 = ProtoICMP, icmp(uint8(r.Intn(20)), uint8(r.Intn(4)), nil)
		case 3:
			proto, l4 = ProtoSCTP, sctp(rport(), rport())
		case 4:
			proto, l4 = uint8(r.Intn(256)), rbytes(r.Intn(40))
		default:
			proto, l4 = ProtoICMPv6, icmp(uint8(128+r.Intn(10)), 0, nil)
		}
		var et uint16
		var d []byte
		desc := ""
		garbage := false // random bytes where headers belong: short or not, no header is trustworthy
		switch k := r.Intn(10); {
		case k < 5:
			h := ip4{src: rv4(), dst: rv4(), proto: proto, ttl: uint8(r.Intn(256)), id: uint16(r.Intn(65536))}
			if r.Intn(4) == 0 {
				h.opts = rbytes(4 * (1 + r.Intn(10)))
			}
			if r.Intn(4) == 0 {
				h.fragOff = uint16(r.Intn(3))
				h.mf = r.Intn(2) == 0
			}
			et, d = EtherIPv4, h.build(l4)
			desc = fmt.Sprintf("random ip %s>%s proto %d", h.src, h.dst, proto)
		case k < 8:
			var exts []ext6
			if r.Intn(3) == 0 {
				exts = append(exts, ext6{0, []byte{1, 4, 0, 0, 0, 0}})
			}
			if r.Intn(3) == 0 {
				exts = append(exts, frag6(uint16(r.Intn(2)), r.Intn(2) == 0, r.Uint32()))
			}
			s, dd := rv6(), rv6()
			et, d = EtherIPv6, ip6(s, dd, exts, proto, uint8(r.Intn(256)), l4)
			desc = fmt.Sprintf("random ip6 %s>%s exts %d proto %d", s, dd, len(exts), proto)
		case k < 9:
			ets := []uint16{EtherIPv4, EtherIPv6, EtherARP, EtherRARP, EtherVLAN, EtherMPLS, uint16(r.Intn(65536))}
			et = ets[r.Intn(len(ets))]
			d = rbytes(r.Intn(80))
			desc = fmt.Sprintf("random bytes behind ethertype %#04x", et)
			garbage = true
		default:
			raw := rbytes(r.Intn(100))
			out = append(out, Packet{Desc: fmt.Sprintf("random frame %d bytes", len(raw)), Data: raw, WireLen: uint32(len(raw)), Truncated: true})
			continue
		}
		var tags []Tag
		switch r.Intn(6) {
		case 0:
			tags = []Tag{{EtherVLAN, uint16(r.Intn(65536))}}
		case 1:
			tags = []Tag{{EtherQinQ, uint16(r.Intn(4096))}, {EtherVLAN, uint16(r.Intn(4096))}}
		}
		dst := rmac()
		switch r.Intn(3) {
		case 0:
			dst = macBcast
		case 1:
			dst = MAC{0x01, 0x00, 0x5e, 0, 0, byte(r.Intn(256))}
		}
		fr := framing{dst: dst, src: rmac(), tags: tags}
		f := ethernet(fr.dst, fr.src, fr.tags, et, d)
		trunc := garbage
		if r.Intn(8) == 0 {
			f = f[:r.Intn(len(f))]
			desc = "truncated " + desc
			trunc = true
		}
		out = append(out, Packet{Desc: fr.desc() + " " + desc, Data: f, WireLen: uint32(len(f)), Truncated: trunc})
	}
	return out
}

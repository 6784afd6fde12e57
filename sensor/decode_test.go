package sensor

import (
	"encoding/binary"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tuninetd/tuninetd/bpfc"
)

// The pcaps in testdata were captured with tcpdump on a veth pair between
// two network namespaces (02:00:00:00:00:01 = 10.9.0.1/fd00::1 sending to
// 02:00:00:00:00:02 = 10.9.0.2/fd00::2): veth.pcap on the receiving end
// (EN10MB), cooked.pcap on "any" with -y LINUX_SLL. Snaplen 256, so the big
// UDP datagrams are truncated captures, as a real sensor may deliver.

type pcapRecord struct {
	linkType bpfc.LinkType
	data     []byte
	origLen  int
}

// readPcap reads a classic pcap file in either byte order.
func readPcap(t testing.TB, path string) []pcapRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 {
		t.Fatalf("%s: short file", path)
	}
	var bo binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(b) == 0xa1b2c3d4:
		bo = binary.LittleEndian
	case binary.BigEndian.Uint32(b) == 0xa1b2c3d4:
		bo = binary.BigEndian
	default:
		t.Fatalf("%s: bad magic % x", path, b[:4])
	}
	lt := bpfc.LinkType(bo.Uint32(b[20:24]))
	var recs []pcapRecord
	for off := 24; off < len(b); {
		if len(b)-off < 16 {
			t.Fatalf("%s: truncated record header at %d", path, off)
		}
		incl := int(bo.Uint32(b[off+8:]))
		orig := int(bo.Uint32(b[off+12:]))
		off += 16
		if len(b)-off < incl {
			t.Fatalf("%s: truncated record at %d", path, off)
		}
		recs = append(recs, pcapRecord{lt, b[off : off+incl], orig})
		off += incl
	}
	return recs
}

func mustRecords(t testing.TB, path string, lt bpfc.LinkType, n int) []pcapRecord {
	t.Helper()
	recs := readPcap(t, path)
	if len(recs) != n {
		t.Fatalf("%s: %d records, want %d", path, len(recs), n)
	}
	for _, r := range recs {
		if r.linkType != lt {
			t.Fatalf("%s: link type %v, want %v", path, r.linkType, lt)
		}
	}
	return recs
}

type decodeCase struct {
	name  string
	index int // 1-based, as tcpdump -r | cat -n shows it
	lines []string
	env   []string
}

const (
	mac1 = "02:00:00:00:00:01"
	mac2 = "02:00:00:00:00:02"
)

func ipLine(v, src, dst, nh string) string {
	return "|- IPv" + v + " " + src + " > " + dst + ", NXT_HDR: " + nh
}

const (
	notIP    = "|- Not IPv4/6 protocol, L3 info not available"
	macV4    = "|- MAC: " + mac1 + " > " + mac2 + ", EtherType: 0x0800 (IPv4)"
	macV4Rev = "|- MAC: " + mac2 + " > " + mac1 + ", EtherType: 0x0800 (IPv4)"
	macV6    = "|- MAC: " + mac1 + " > " + mac2 + ", EtherType: 0x86DD (IPv6)"
	macV6Rev = "|- MAC: " + mac2 + " > " + mac1 + ", EtherType: 0x86DD (IPv6)"
)

var ethernetCases = []decodeCase{
	{"ipv6 hop-by-hop MLD report", 1,
		[]string{ipLine("6", "::", "ff02::16", "0x00 (unresolved)"),
			"|- MAC: " + mac1 + " > 33:33:00:00:00:16, EtherType: 0x86DD (IPv6)"},
		[]string{"TUNINETD_SRC=::", "TUNINETD_DST=ff02::16", "TUNINETD_PROTO=ipv6-icmp"}},
	{"ipv6 link-local hop-by-hop", 2,
		[]string{ipLine("6", "fe80::ff:fe00:1", "ff02::16", "0x00 (unresolved)"),
			"|- MAC: " + mac1 + " > 33:33:00:00:00:16, EtherType: 0x86DD (IPv6)"},
		[]string{"TUNINETD_SRC=fe80::ff:fe00:1", "TUNINETD_DST=ff02::16", "TUNINETD_PROTO=ipv6-icmp"}},
	{"arp request", 5,
		[]string{notIP, "|- MAC: " + mac1 + " > ff:ff:ff:ff:ff:ff, EtherType: 0x0806 (ARP)"},
		nil},
	{"arp reply", 6,
		[]string{notIP, "|- MAC: " + mac2 + " > " + mac1 + ", EtherType: 0x0806 (ARP)"},
		nil},
	{"udp v4", 7,
		[]string{ipLine("4", "10.9.0.1", "10.9.0.2", "0x11 (UDP)"), macV4},
		[]string{"TUNINETD_SRC=10.9.0.1", "TUNINETD_DST=10.9.0.2", "TUNINETD_PROTO=udp",
			"TUNINETD_SRC_PORT=48488", "TUNINETD_DST_PORT=5353"}},
	{"icmp port unreachable quoting udp", 8,
		[]string{ipLine("4", "10.9.0.2", "10.9.0.1", "0x01 (ICMP)"), macV4Rev},
		[]string{"TUNINETD_SRC=10.9.0.2", "TUNINETD_DST=10.9.0.1", "TUNINETD_PROTO=icmp"}},
	{"icmpv6 neighbor advertisement", 9,
		[]string{ipLine("6", "fd00::2", "fd00::1", "0x3A (IPv6-ICMP)"), macV6Rev},
		[]string{"TUNINETD_SRC=fd00::2", "TUNINETD_DST=fd00::1", "TUNINETD_PROTO=ipv6-icmp"}},
	{"tcp v6 syn", 10,
		[]string{ipLine("6", "fd00::1", "fd00::2", "0x06 (TCP)"), macV6},
		[]string{"TUNINETD_SRC=fd00::1", "TUNINETD_DST=fd00::2", "TUNINETD_PROTO=tcp",
			"TUNINETD_SRC_PORT=33736", "TUNINETD_DST_PORT=8080"}},
	{"tcp v6 rst", 11,
		[]string{ipLine("6", "fd00::2", "fd00::1", "0x06 (TCP)"), macV6Rev},
		[]string{"TUNINETD_SRC=fd00::2", "TUNINETD_DST=fd00::1", "TUNINETD_PROTO=tcp",
			"TUNINETD_SRC_PORT=8080", "TUNINETD_DST_PORT=33736"}},
	{"udp v6 first fragment", 12,
		[]string{ipLine("6", "fd00::1", "fd00::2", "0x2C (IPv6-Frag)"), macV6},
		[]string{"TUNINETD_SRC=fd00::1", "TUNINETD_DST=fd00::2", "TUNINETD_PROTO=udp",
			"TUNINETD_SRC_PORT=39837", "TUNINETD_DST_PORT=4444"}},
	{"udp v6 second fragment", 13,
		[]string{ipLine("6", "fd00::1", "fd00::2", "0x2C (IPv6-Frag)"), macV6},
		[]string{"TUNINETD_SRC=fd00::1", "TUNINETD_DST=fd00::2", "TUNINETD_PROTO=udp"}},
	{"udp v6 last fragment", 14,
		[]string{ipLine("6", "fd00::1", "fd00::2", "0x2C (IPv6-Frag)"), macV6},
		[]string{"TUNINETD_SRC=fd00::1", "TUNINETD_DST=fd00::2", "TUNINETD_PROTO=udp"}},
	{"icmpv6 port unreachable", 15,
		[]string{ipLine("6", "fd00::2", "fd00::1", "0x3A (IPv6-ICMP)"), macV6Rev},
		[]string{"TUNINETD_SRC=fd00::2", "TUNINETD_DST=fd00::1", "TUNINETD_PROTO=ipv6-icmp"}},
	{"udp v4 first fragment, truncated capture", 16,
		[]string{ipLine("4", "10.9.0.1", "10.9.0.2", "0x11 (UDP)"), macV4},
		[]string{"TUNINETD_SRC=10.9.0.1", "TUNINETD_DST=10.9.0.2", "TUNINETD_PROTO=udp",
			"TUNINETD_SRC_PORT=41579", "TUNINETD_DST_PORT=4444"}},
	{"udp v4 second fragment", 17,
		[]string{ipLine("4", "10.9.0.1", "10.9.0.2", "0x11 (UDP)"), macV4},
		[]string{"TUNINETD_SRC=10.9.0.1", "TUNINETD_DST=10.9.0.2", "TUNINETD_PROTO=udp"}},
	{"udp v4 last fragment", 18,
		[]string{ipLine("4", "10.9.0.1", "10.9.0.2", "0x11 (UDP)"), macV4},
		[]string{"TUNINETD_SRC=10.9.0.1", "TUNINETD_DST=10.9.0.2", "TUNINETD_PROTO=udp"}},
	{"icmp echo request", 20,
		[]string{ipLine("4", "10.9.0.1", "10.9.0.2", "0x01 (ICMP)"), macV4},
		[]string{"TUNINETD_SRC=10.9.0.1", "TUNINETD_DST=10.9.0.2", "TUNINETD_PROTO=icmp"}},
}

func checkDecode(t *testing.T, p *Packet, wantLines, wantEnv []string) {
	t.Helper()
	s := Decode(p)
	if got := s.Lines(); !reflect.DeepEqual(got, wantLines) {
		t.Errorf("Lines:\n got %q\nwant %q", got, wantLines)
	}
	if got := PacketEnv(s); !reflect.DeepEqual(got, wantEnv) {
		t.Errorf("Env:\n got %q\nwant %q", got, wantEnv)
	}
}

func TestDecodeEthernet(t *testing.T) {
	recs := mustRecords(t, "testdata/veth.pcap", bpfc.EN10MB, 21)
	for _, c := range ethernetCases {
		t.Run(c.name, func(t *testing.T) {
			r := recs[c.index-1]
			checkDecode(t, &Packet{Data: r.data, LinkType: r.linkType, OrigLen: r.origLen}, c.lines, c.env)
		})
	}
}

// TestDecodeRaw feeds the same packets without their Ethernet header, as a
// tun device delivers them: only the IP line remains, the env is unchanged.
func TestDecodeRaw(t *testing.T) {
	recs := mustRecords(t, "testdata/veth.pcap", bpfc.EN10MB, 21)
	for _, c := range ethernetCases {
		t.Run(c.name, func(t *testing.T) {
			p := &Packet{Data: recs[c.index-1].data[14:], LinkType: bpfc.RAW}
			checkDecode(t, p, c.lines[:1], c.env)
		})
	}
}

func TestDecodeCooked(t *testing.T) {
	recs := mustRecords(t, "testdata/cooked.pcap", bpfc.LinuxSLL, 17)
	cases := []decodeCase{
		{"arp broadcast in", 1,
			[]string{notIP, "|- MAC: " + mac1 + ", EtherType: 0x0806 (ARP)"}, nil},
		{"arp reply out", 2,
			[]string{notIP, "|- MAC: " + mac2 + ", EtherType: 0x0806 (ARP)"}, nil},
		{"udp v4 in", 3,
			[]string{ipLine("4", "10.9.0.1", "10.9.0.2", "0x11 (UDP)"), "|- MAC: " + mac1 + ", EtherType: 0x0800 (IPv4)"},
			[]string{"TUNINETD_SRC=10.9.0.1", "TUNINETD_DST=10.9.0.2", "TUNINETD_PROTO=udp",
				"TUNINETD_SRC_PORT=48488", "TUNINETD_DST_PORT=5353"}},
		{"tcp v6 syn in", 6,
			[]string{ipLine("6", "fd00::1", "fd00::2", "0x06 (TCP)"), "|- MAC: " + mac1 + ", EtherType: 0x86DD (IPv6)"},
			[]string{"TUNINETD_SRC=fd00::1", "TUNINETD_DST=fd00::2", "TUNINETD_PROTO=tcp",
				"TUNINETD_SRC_PORT=33736", "TUNINETD_DST_PORT=8080"}},
		{"udp v6 second fragment in", 9,
			[]string{ipLine("6", "fd00::1", "fd00::2", "0x2C (IPv6-Frag)"), "|- MAC: " + mac1 + ", EtherType: 0x86DD (IPv6)"},
			[]string{"TUNINETD_SRC=fd00::1", "TUNINETD_DST=fd00::2", "TUNINETD_PROTO=udp"}},
		{"icmp echo reply out", 17,
			[]string{ipLine("4", "10.9.0.2", "10.9.0.1", "0x01 (ICMP)"), "|- MAC: " + mac2 + ", EtherType: 0x0800 (IPv4)"},
			[]string{"TUNINETD_SRC=10.9.0.2", "TUNINETD_DST=10.9.0.1", "TUNINETD_PROTO=icmp"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := recs[c.index-1]
			checkDecode(t, &Packet{Data: r.data, LinkType: r.linkType}, c.lines, c.env)
		})
	}
	t.Run("no link address (ppp)", func(t *testing.T) {
		d := append([]byte(nil), recs[2].data...)
		d[5] = 0 // address length 0
		checkDecode(t, &Packet{Data: d, LinkType: bpfc.LinuxSLL},
			[]string{ipLine("4", "10.9.0.1", "10.9.0.2", "0x11 (UDP)"), "|- EtherType: 0x0800 (IPv4)"},
			cases[2].env)
	})
	t.Run("kernel-stripped vlan", func(t *testing.T) {
		checkDecode(t, &Packet{Data: recs[2].data, LinkType: bpfc.LinuxSLL, HasVLAN: true, VLANTCI: 0x0005},
			[]string{ipLine("4", "10.9.0.1", "10.9.0.2", "0x11 (UDP)"), "|- MAC: " + mac1 + ", 802.1Q VID: 5, EtherType: 0x0800 (IPv4)"},
			cases[2].env)
	})
}

// tagged inserts VLAN tags (TPID, TCI pairs) after the MAC addresses.
func tagged(frame []byte, tags ...uint16) []byte {
	out := append([]byte(nil), frame[:12]...)
	for _, v := range tags {
		out = binary.BigEndian.AppendUint16(out, v)
	}
	return append(out, frame[12:]...)
}

func TestDecodeVLAN(t *testing.T) {
	recs := mustRecords(t, "testdata/veth.pcap", bpfc.EN10MB, 21)
	udp4 := recs[6].data // udp v4 10.9.0.1:48488 > 10.9.0.2:5353
	tcp6 := recs[9].data // tcp v6 syn
	arp := recs[4].data  // arp request
	udpEnv := ethernetCases[4].env
	tcpEnv := ethernetCases[7].env
	udpLine := ethernetCases[4].lines[0]
	tcpLine := ethernetCases[7].lines[0]
	vlanV4 := func(vid string) string {
		return "|- MAC: " + mac1 + " > " + mac2 + ", 802.1Q VID: " + vid + ", EtherType: 0x0800 (IPv4)"
	}
	tests := []struct {
		name  string
		p     Packet
		lines []string
		env   []string
	}{
		{"kernel-stripped 802.1Q",
			Packet{Data: udp4, LinkType: bpfc.EN10MB, HasVLAN: true, VLANTCI: 0xa007, VLANTPID: 0x8100},
			[]string{udpLine, vlanV4("7")}, udpEnv},
		{"kernel-stripped 802.1ad outer, inner 802.1Q in frame",
			Packet{Data: tagged(tcp6, 0x8100, 0x0064), LinkType: bpfc.EN10MB, HasVLAN: true, VLANTCI: 0x0fff, VLANTPID: 0x88a8},
			[]string{tcpLine, "|- MAC: " + mac1 + " > " + mac2 + ", 802.1Q VID: 4095, EtherType: 0x86DD (IPv6)"}, tcpEnv},
		{"in-frame 802.1Q",
			Packet{Data: tagged(udp4, 0x8100, 0x2007), LinkType: bpfc.EN10MB},
			[]string{udpLine, vlanV4("7")}, udpEnv},
		{"in-frame 802.1ad + 802.1Q reports the outer VID",
			Packet{Data: tagged(udp4, 0x88a8, 0x0064, 0x8100, 0x00c8), LinkType: bpfc.EN10MB},
			[]string{udpLine, vlanV4("100")}, udpEnv},
		{"in-frame 802.1Q arp",
			Packet{Data: tagged(arp, 0x8100, 0x0001), LinkType: bpfc.EN10MB},
			[]string{notIP, "|- MAC: " + mac1 + " > ff:ff:ff:ff:ff:ff, 802.1Q VID: 1, EtherType: 0x0806 (ARP)"}, nil},
		{"truncated tag",
			Packet{Data: tagged(udp4, 0x8100, 0x0007)[:16], LinkType: bpfc.EN10MB},
			[]string{notIP, "|- MAC: " + mac1 + " > " + mac2 + ", EtherType: 0x8100 (802.1Q)"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkDecode(t, &tc.p, tc.lines, tc.env)
		})
	}
}

// ipv6Packet builds an IPv6 header with the given next header and payload.
func ipv6Packet(nh uint8, payload []byte) []byte {
	h := make([]byte, 40, 40+len(payload))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6] = nh
	h[7] = 64
	src := netip.MustParseAddr("2001:db8::1").As16()
	dst := netip.MustParseAddr("2001:db8::2").As16()
	copy(h[8:], src[:])
	copy(h[24:], dst[:])
	return append(h, payload...)
}

func TestDecodeIPv6ExtensionHeaders(t *testing.T) {
	udp := []byte{0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0} // 12345 > 53
	hbh := func(next uint8) []byte { return []byte{next, 0, 1, 4, 0, 0, 0, 0} }
	dst := func(next uint8) []byte { return []byte{next, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} }
	frag := func(next uint8, off uint16) []byte {
		return []byte{next, 0, byte(off >> 5), byte(off<<3) | 1, 0, 0, 0, 42}
	}
	ah := func(next uint8) []byte { // payload len 1: (1+2)*4 = 12 bytes
		return []byte{next, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	addrs := []string{"TUNINETD_SRC=2001:db8::1", "TUNINETD_DST=2001:db8::2"}
	withPorts := append(append([]string(nil), addrs...), "TUNINETD_PROTO=udp", "TUNINETD_SRC_PORT=12345", "TUNINETD_DST_PORT=53")
	udpOnly := append(append([]string(nil), addrs...), "TUNINETD_PROTO=udp")
	tests := []struct {
		name string
		pkt  []byte
		nh   string
		env  []string
	}{
		{"hop-by-hop, dest opts, udp", ipv6Packet(0, cat(hbh(60), dst(17), udp)), "0x00 (unresolved)", withPorts},
		{"first fragment", ipv6Packet(44, cat(frag(17, 0), udp)), "0x2C (IPv6-Frag)", withPorts},
		{"later fragment", ipv6Packet(44, cat(frag(17, 185), udp)), "0x2C (IPv6-Frag)", udpOnly},
		{"ah then udp", ipv6Packet(51, cat(ah(17), udp)), "0x33 (unresolved)", withPorts},
		{"esp stops the walk", ipv6Packet(50, udp), "0x32 (ESP)", append(append([]string(nil), addrs...), "TUNINETD_PROTO=esp")},
		{"no next header", ipv6Packet(59, nil), "0x3B (IPv6-NoNxt)", append(append([]string(nil), addrs...), "TUNINETD_PROTO=ipv6-nonxt")},
		{"unknown protocol number", ipv6Packet(253, nil), "0xFD (unresolved)", append(append([]string(nil), addrs...), "TUNINETD_PROTO=253")},
		{"truncated chain: protocol unknown", ipv6Packet(0, hbh(60)[:6]), "0x00 (unresolved)", addrs},
		{"chain longer than payload length", ipv6Packet(0, cat(hbh(60), []byte{17, 9, 0, 0, 0, 0, 0, 0}, udp)), "0x00 (unresolved)", addrs},
		{"ports cut off", ipv6Packet(17, udp[:3]), "0x11 (UDP)", udpOnly},
		{"sctp ports", ipv6Packet(132, udp), "0x84 (SCTP)", append(append([]string(nil), addrs...), "TUNINETD_PROTO=sctp", "TUNINETD_SRC_PORT=12345", "TUNINETD_DST_PORT=53")},
		{"udplite has no ports exported", ipv6Packet(136, udp), "0x88 (UDPLite)", append(append([]string(nil), addrs...), "TUNINETD_PROTO=udplite")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkDecode(t, &Packet{Data: tc.pkt, LinkType: bpfc.RAW},
				[]string{ipLine("6", "2001:db8::1", "2001:db8::2", tc.nh)}, tc.env)
		})
	}
	t.Run("jumbogram: zero payload length behind hop-by-hop", func(t *testing.T) {
		jumbo := []byte{17, 0, 0xc2, 4, 0, 1, 0, 0} // next udp, jumbo payload option
		p := ipv6Packet(0, append(jumbo, udp...))
		p[4], p[5] = 0, 0
		checkDecode(t, &Packet{Data: p, LinkType: bpfc.RAW},
			[]string{ipLine("6", "2001:db8::1", "2001:db8::2", "0x00 (unresolved)")}, withPorts)
	})
	t.Run("zero payload length without hop-by-hop is empty", func(t *testing.T) {
		p := ipv6Packet(17, udp)
		p[4], p[5] = 0, 0
		checkDecode(t, &Packet{Data: p, LinkType: bpfc.RAW},
			[]string{ipLine("6", "2001:db8::1", "2001:db8::2", "0x11 (UDP)")}, udpOnly)
	})
	t.Run("bytes beyond payload length are ignored", func(t *testing.T) {
		p := ipv6Packet(17, nil)
		p = append(p, udp...) // padding, not payload
		checkDecode(t, &Packet{Data: p, LinkType: bpfc.RAW},
			[]string{ipLine("6", "2001:db8::1", "2001:db8::2", "0x11 (UDP)")}, udpOnly)
	})
}

func TestDecodeIPv4Edges(t *testing.T) {
	recs := mustRecords(t, "testdata/veth.pcap", bpfc.EN10MB, 21)
	udp := recs[6].data[14:] // 10.9.0.1:48488 > 10.9.0.2:5353, IHL 5
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), udp...)) }
	line := ipLine("4", "10.9.0.1", "10.9.0.2", "0x11 (UDP)")
	noPorts := []string{"TUNINETD_SRC=10.9.0.1", "TUNINETD_DST=10.9.0.2", "TUNINETD_PROTO=udp"}
	tests := []struct {
		name  string
		pkt   []byte
		lines []string
		env   []string
	}{
		{"IHL below 5", mod(func(b []byte) []byte { b[0] = 0x44; return b }), []string{line}, noPorts},
		{"IHL beyond capture", mod(func(b []byte) []byte { b[0] = 0x4f; return b[:40] }), []string{line}, noPorts},
		{"total length shorter than header", mod(func(b []byte) []byte { b[2], b[3] = 0, 19; return b }), []string{line}, noPorts},
		{"total length ends before ports", mod(func(b []byte) []byte { b[2], b[3] = 0, 23; return b }), []string{line}, noPorts},
		{"fragment offset set", mod(func(b []byte) []byte { b[7] = 1; return b }), []string{line}, noPorts},
		{"19 bytes", udp[:19], []string{notIP}, nil},
		{"version 5", mod(func(b []byte) []byte { b[0] = 0x55; return b }), []string{notIP}, nil},
		{"empty", nil, []string{notIP}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkDecode(t, &Packet{Data: tc.pkt, LinkType: bpfc.RAW}, tc.lines, tc.env)
		})
	}
	t.Run("ethernet shorter than a header", func(t *testing.T) {
		checkDecode(t, &Packet{Data: recs[6].data[:13], LinkType: bpfc.EN10MB}, []string{notIP}, nil)
	})
	t.Run("unknown link type", func(t *testing.T) {
		checkDecode(t, &Packet{Data: udp, LinkType: 999}, []string{notIP}, nil)
	})
	t.Run("nil packet", func(t *testing.T) {
		checkDecode(t, nil, []string{notIP}, nil)
	})
}

func TestFormatAddr(t *testing.T) {
	// Expected strings are what glibc's inet_ntop prints.
	for in, want := range map[string]string{
		"10.0.0.1":        "10.0.0.1",
		"::":              "::",
		"::1":             "::1",
		"::2":             "::2",
		"::ffff:1.2.3.4":  "::ffff:1.2.3.4",
		"::1.2.3.4":       "::1.2.3.4",
		"::102:0":         "::1.2.0.0",
		"2001:db8::1":     "2001:db8::1",
		"2001:db8:0:1::1": "2001:db8:0:1::1",
		"fe80::ff:fe00:1": "fe80::ff:fe00:1",
		"1:0:0:2::3":      "1:0:0:2::3",
	} {
		if got := FormatAddr(netip.MustParseAddr(in)); got != want {
			t.Errorf("FormatAddr(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestNameTables(t *testing.T) {
	for p, want := range map[uint8]string{6: "TCP", 17: "UDP", 1: "ICMP", 58: "IPv6-ICMP", 47: "GRE", 50: "ESP",
		132: "SCTP", 4: "IP-in-IP", 143: "Ethernet", 51: "unresolved", 0: "unresolved", 255: "unresolved"} {
		if got := ProtoName(p); got != want {
			t.Errorf("ProtoName(%d) = %q, want %q", p, got, want)
		}
	}
	for et, want := range map[uint16]string{0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP", 0x8100: "802.1Q",
		0x80F3: "AppleTalk ARP", 0x88CC: "LLDP", 0x88A8: "unresolved", 0: "unresolved"} {
		if got := EtherTypeName(et); got != want {
			t.Errorf("EtherTypeName(%#04x) = %q, want %q", et, got, want)
		}
	}
}

// FuzzDecode checks that no input panics and that the summary never claims
// more than the bytes hold.
func FuzzDecode(f *testing.F) {
	for _, path := range []string{"testdata/veth.pcap", "testdata/cooked.pcap"} {
		for _, r := range readPcap(f, path) {
			f.Add(r.data, uint8(r.linkType), false, uint16(0))
			if r.linkType == bpfc.EN10MB {
				f.Add(r.data[14:], uint8(bpfc.RAW), false, uint16(0))
				f.Add(tagged(r.data, 0x88a8, 1, 0x8100, 2), uint8(bpfc.EN10MB), true, uint16(0x1003))
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, lt uint8, hasVLAN bool, tci uint16) {
		data := append([]byte(nil), in...) // mutated below; the fuzzer's input is not ours
		p := &Packet{Data: data, LinkType: bpfc.LinkType(lt), HasVLAN: hasVLAN, VLANTCI: tci}
		s := Decode(p)
		lines := s.Lines()
		if len(lines) == 0 || len(lines) > 2 {
			t.Fatalf("%d lines", len(lines))
		}
		for _, l := range append(lines, PacketEnv(s)...) {
			if strings.ContainsAny(l, "\n\r\x00") {
				t.Fatalf("control character in %q", l)
			}
		}
		if s.HasPorts && (!s.HasProto || s.IPVersion == 0) {
			t.Fatalf("ports without protocol: %+v", s)
		}
		if s.HasPorts && s.Proto != protoTCP && s.Proto != protoUDP && s.Proto != protoSCTP {
			t.Fatalf("ports for protocol %d", s.Proto)
		}
		if s.IPVersion == 4 && !s.Src.Is4() || s.IPVersion == 6 && !s.Src.Is6() {
			t.Fatalf("address family mismatch: %+v", s)
		}
		if s.HasVLAN && s.VLANID > 0x0fff {
			t.Fatalf("VID %d", s.VLANID)
		}
		if hasVLAN && (!s.HasVLAN || s.VLANID != tci&0x0fff) {
			t.Fatalf("kernel tag lost: %+v", s)
		}
		// Decoding must not keep references that change with the input.
		if s.Link != LinkNone && len(data) > 0 {
			before := s.Lines()
			for i := range data {
				data[i] ^= 0xff
			}
			if after := s.Lines(); !reflect.DeepEqual(before, after) {
				t.Fatalf("summary aliases packet bytes: %q vs %q", before, after)
			}
		}
	})
}

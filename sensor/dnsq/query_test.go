package dnsq

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

func testRules(tb testing.TB) *Rules {
	tb.Helper()
	r, err := NewRules([]string{"corp.example", "dev.example.org"}, []string{"www.corp.example"})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestInspect(t *testing.T) {
	r := testRules(t)
	q := query(t, "git.corp.example")
	eth4 := func(l4 []byte) *sensor.Packet { return pkt(bpfc.EN10MB, ether(ipv4(protoUDP, v4B, l4))) }
	udp4 := func(msg []byte) *sensor.Packet { return eth4(udp(40000, 53, msg)) }
	tcp4 := func(payload []byte) *sensor.Packet {
		return pkt(bpfc.EN10MB, ether(ipv4(protoTCP, v4B, tcp(40000, 53, payload))))
	}
	cut := func(p *sensor.Packet, drop int) *sensor.Packet {
		p.Data = p.Data[:len(p.Data)-drop]
		return p
	}
	response := dnsMsg(t, dnsmessage.Header{ID: 1, Response: true}, "git.corp.example")
	notify := dnsMsg(t, dnsmessage.Header{ID: 1, OpCode: 4}, "git.corp.example")
	// A question whose name is a pointer to itself.
	loop := rawQuery(1, 0xc0, 12, 0, 1, 0, 1)
	// Pointers back and forth: 12 -> 14 -> 12.
	loop2 := rawQuery(1, 0xc0, 14, 0xc0, 12, 0, 1, 0, 1)
	// A valid backward pointer ends the name in the header's zero bytes,
	// giving the root: not malformed.
	toHeader := rawQuery(1, append(labels("x"), 0xc0, 10, 0, 1, 0, 1)...)
	tests := []struct {
		name  string
		p     *sensor.Packet
		res   Result
		qname string
	}{
		{"udp4", udp4(q), Matched, "git.corp.example"},
		{"upper case", udp4(query(t, "GIT.Corp.EXAMPLE")), Matched, "git.corp.example"},
		{"0x20 mixed case", udp4(query(t, "gIt.CoRp.ExAmPlE")), Matched, "git.corp.example"},
		{"suffix itself", udp4(query(t, "corp.example")), Matched, "corp.example"},
		{"second suffix", udp4(query(t, "api.dev.example.org")), Matched, "api.dev.example.org"},
		{"contains suffix text", udp4(query(t, "notcorp.example")), Unlisted, ""},
		{"suffix in the middle", udp4(query(t, "corp.example.net")), Unlisted, ""},
		{"unlisted", udp4(query(t, "example.net")), Unlisted, ""},
		{"root", udp4(query(t, ".")), Unlisted, ""},
		{"never", udp4(query(t, "www.corp.example")), Excluded, ""},
		{"under never", udp4(query(t, "a.www.corp.example")), Excluded, ""},
		{"response", udp4(response), NotQuery, ""},
		{"from port 53", eth4(udp(53, 40000, q)), NotQuery, ""},
		{"53 to 53", eth4(udp(53, 53, q)), Matched, "git.corp.example"},
		{"notify", udp4(notify), NotQuery, ""},
		{"no question", udp4(rawQuery(0)), NotQuery, ""},
		{"two questions", udp4(dnsMsg(t, dnsmessage.Header{}, "git.corp.example", "x.corp.example")), Malformed, ""},
		{"question count larger than questions", udp4(rawQuery(2, append(labels("git", "corp", "example"), qtail...)...)), Malformed, ""},
		{"pointer loop", udp4(loop), Malformed, ""},
		{"pointer ping-pong", udp4(loop2), Malformed, ""},
		{"pointer into header", udp4(toHeader), Unlisted, ""},
		{"label type 0x40", udp4(rawQuery(1, append([]byte{0x40}, qtail...)...)), Malformed, ""},
		{"label type 0x80", udp4(rawQuery(1, append([]byte{0x80 | 3, 'a', 'b', 'c'}, qtail...)...)), Malformed, ""},
		{"label past the end", udp4(rawQuery(1, 63, 'a', 'b')), Malformed, ""},
		{"name over 255 octets", udp4(rawQuery(1, append(bytes.Repeat(labels(strings.Repeat("a", 63)), 5), qtail...)...)), Malformed, ""},
		{"dot inside a label", udp4(rawQuery(1, append(labels("git.corp", "example"), qtail...)...)), Malformed, ""},
		{"space in a label", udp4(rawQuery(1, append(labels("a b", "corp", "example"), qtail...)...)), BadName, ""},
		{"NUL in a label", udp4(rawQuery(1, append(labels("a\x00", "corp", "example"), qtail...)...)), BadName, ""},
		{"UTF-8 label", udp4(rawQuery(1, append(labels("bücher", "corp", "example"), qtail...)...)), BadName, ""},
		{"wildcard label", udp4(rawQuery(1, append(labels("*", "corp", "example"), qtail...)...)), BadName, ""},
		{"no QTYPE", udp4(rawQuery(1, append(labels("git", "corp", "example"), 0)...)), Malformed, ""},
		{"short header", udp4(q[:11]), Malformed, ""},
		{"empty datagram", udp4(nil), Malformed, ""},
		{"cut by the capture", cut(udp4(q), 5), Incomplete, ""},
		{"header cut by the capture", cut(udp4(q), len(q)-4), Incomplete, ""},
		// An NFLOG copy range cuts without telling: only the IP length does.
		{"cut by a copy range", pkt(bpfc.RAW, ipv4(protoUDP, v4B, udp(40000, 53, q))[:28+len(q)-5]), Incomplete, ""},
		{"cut by a copy range, IPv6", pkt(bpfc.RAW, ipv6(protoUDP, udp(40000, 53, q))[:48+len(q)-5]), Incomplete, ""},
		{"cut by a copy range after the question", pkt(bpfc.RAW, ipv4(protoUDP, v4B, udp(40000, 53, append(q, make([]byte, 11)...)))[:28+len(q)]), Matched, "git.corp.example"},
		{"garbage", udp4(bytes.Repeat([]byte{0xff}, 40)), NotQuery, ""},
		{"garbage query", udp4(append([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, bytes.Repeat([]byte{0xc1}, 30)...)), Malformed, ""},

		{"udp6", pkt(bpfc.EN10MB, ether(ipv6(protoUDP, udp(40000, 53, q)))), Matched, "git.corp.example"},
		{"tcp6", pkt(bpfc.EN10MB, ether(ipv6(protoTCP, tcp(40000, 53, withLen(q))))), Matched, "git.corp.example"},
		{"raw (NFLOG)", pkt(bpfc.RAW, ipv4(protoUDP, v4B, udp(40000, 53, q))), Matched, "git.corp.example"},
		{"raw IPv6", pkt(bpfc.RAW, ipv6(protoUDP, udp(40000, 53, q))), Matched, "git.corp.example"},
		{"cooked", pkt(bpfc.LinuxSLL, sll(ipv4(protoUDP, v4B, udp(40000, 53, q)))), Matched, "git.corp.example"},
		{"vlan", pkt(bpfc.EN10MB, ether(ipv4(protoUDP, v4B, udp(40000, 53, q)), 7)), Matched, "git.corp.example"},

		{"tcp", tcp4(withLen(q)), Matched, "git.corp.example"},
		{"tcp unlisted", tcp4(withLen(query(t, "example.net"))), Unlisted, ""},
		{"tcp two messages, second matches", tcp4(append(withLen(query(t, "example.net")), withLen(q)...)), Matched, "git.corp.example"},
		{"tcp two messages, none matches", tcp4(append(withLen(query(t, "example.net")), withLen(query(t, "www.corp.example"))...)), Excluded, ""},
		{"tcp malformed then matching", tcp4(append(withLen(loop), withLen(q)...)), Matched, "git.corp.example"},
		{"tcp matching then garbage", tcp4(append(withLen(q), 0, 5, 1)), Matched, "git.corp.example"},
		{"tcp unlisted then partial", tcp4(append(withLen(query(t, "example.net")), withLen(q)[:20]...)), Incomplete, ""},
		{"tcp partial with whole question", tcp4(withLen(append(q, make([]byte, 30)...))[:2+len(q)]), Matched, "git.corp.example"},
		{"tcp partial question", tcp4(withLen(q)[:20]), Incomplete, ""},
		{"tcp length prefix only", tcp4(withLen(q)[:2]), Incomplete, ""},
		{"tcp half a length prefix", tcp4(withLen(q)[:1]), Incomplete, ""},
		{"tcp length shorter than the question", tcp4(append([]byte{0, 20}, q...)), Malformed, ""},
		{"tcp length shorter than a header", tcp4(append([]byte{0, 11}, q...)), Malformed, ""},
		{"tcp without payload", tcp4(nil), NotDNS, ""},
		{"tcp from port 53", pkt(bpfc.EN10MB, ether(ipv4(protoTCP, v4B, tcp(53, 40000, withLen(q))))), NotQuery, ""},
		{"tcp from port 53 without payload", pkt(bpfc.EN10MB, ether(ipv4(protoTCP, v4B, tcp(53, 40000, nil)))), NotDNS, ""},

		{"port 5353", eth4(udp(5353, 5353, q)), NotDNS, ""},
		{"sctp port 53", pkt(bpfc.EN10MB, ether(ipv4(protoSCTP, v4B, udp(40000, 53, q)))), NotDNS, ""},
		{"icmp", pkt(bpfc.EN10MB, ether(ipv4(1, v4B, []byte{8, 0, 0, 0, 0, 1, 0, 1}))), NotDNS, ""},
		{"arp", pkt(bpfc.EN10MB, append([]byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x06}, make([]byte, 28)...)), NotDNS, ""},
		{"fragment", pkt(bpfc.RAW, func() []byte { b := ipv4(protoUDP, v4B, udp(40000, 53, q)); b[6], b[7] = 0, 8; return b }()), NotDNS, ""},
		{"empty", pkt(bpfc.RAW, nil), NotDNS, ""},
		{"nil packet", nil, NotDNS, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, res := r.Inspect(tt.p)
			if res != tt.res || got.Name != tt.qname {
				t.Fatalf("Inspect = %q, %v; want %q, %v", got.Name, res, tt.qname, tt.res)
			}
			if res != Matched && got != (Query{}) {
				t.Fatalf("query %+v set for %v", got, res)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	r := testRules(t)
	msg := dnsMsg(t, dnsmessage.Header{ID: 7, RecursionDesired: true}, "Git.Corp.Example")
	got, res := r.Inspect(pkt(bpfc.RAW, ipv4(protoUDP, v4B, udp(40000, 53, msg))))
	want := Query{Name: "git.corp.example", Type: 28, Suffix: "corp.example"}
	if res != Matched || got != want {
		t.Fatalf("Inspect = %+v, %v; want %+v", got, res, want)
	}
	if l := got.Line(); l != "|- DNS query: git.corp.example AAAA (--dns-name corp.example)" {
		t.Errorf("Line() = %q", l)
	}
	for typ, name := range map[uint16]string{1: "A", 28: "AAAA", 65: "HTTPS", 33: "SRV", 255: "ANY", 2: "NS", 257: "CAA", 64: "SVCB", 65280: "TYPE65280", 0: "TYPE0"} {
		if got := (Query{Type: typ}).TypeName(); got != name {
			t.Errorf("TypeName(%d) = %q, want %q", typ, got, name)
		}
	}
}

func TestCounters(t *testing.T) {
	var c Counters
	for _, r := range []Result{Matched, Matched, Malformed, NotDNS, Unlisted, numResults} {
		c.Add(r)
	}
	if c.Get(Matched) != 2 || c.Get(Malformed) != 1 || c.Get(NotDNS) != 1 || c.Get(numResults) != 0 {
		t.Errorf("counts: %d matched, %d malformed", c.Get(Matched), c.Get(Malformed))
	}
	want := "2 matching, 0 excluded by --dns-never, 1 unlisted, 0 unusable names, 0 not queries, 0 incomplete, 1 malformed"
	if got := c.String(); got != want {
		t.Errorf("String() = %q\nwant       %q", got, want)
	}
	if s := Result(200).String(); s != "Result(200)" {
		t.Errorf("String() = %q", s)
	}
}

// TestInspectAllocations checks that packets that are no matching query
// cost no garbage, and a matching one only its name.
func TestInspectAllocations(t *testing.T) {
	r := testRules(t)
	tests := []struct {
		name string
		p    *sensor.Packet
		max  float64
	}{
		{"unlisted udp", pkt(bpfc.EN10MB, ether(ipv4(protoUDP, v4B, udp(40000, 53, query(t, "www.example.net"))))), 0},
		{"excluded udp6", pkt(bpfc.EN10MB, ether(ipv6(protoUDP, udp(40000, 53, query(t, "a.www.corp.example"))))), 0},
		{"unlisted tcp", pkt(bpfc.LinuxSLL, sll(ipv4(protoTCP, v4B, tcp(40000, 53, withLen(query(t, "www.example.net")))))), 0},
		{"response", pkt(bpfc.EN10MB, ether(ipv4(protoUDP, v4B, udp(53, 40000, query(t, "git.corp.example"))))), 0},
		{"not dns", pkt(bpfc.EN10MB, ether(ipv4(protoTCP, v4B, tcp(40000, 443, make([]byte, 100))))), 0},
		{"matched", pkt(bpfc.EN10MB, ether(ipv4(protoUDP, v4B, udp(40000, 53, query(t, "git.corp.example"))))), 1},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, func() { r.Inspect(tt.p) }); n > tt.max {
			t.Errorf("%s: %v allocations, want at most %v", tt.name, n, tt.max)
		}
	}
}

func BenchmarkInspect(b *testing.B) {
	r, err := NewRules([]string{"corp.example", "dev.example.org", "vpn.example.com"}, []string{"www.corp.example"})
	if err != nil {
		b.Fatal(err)
	}
	benches := []struct {
		name string
		p    *sensor.Packet
	}{
		{"unlisted-udp4", pkt(bpfc.EN10MB, ether(ipv4(protoUDP, v4B, udp(40000, 53, query(b, "www.googleapis.com")))))},
		{"unlisted-long-udp6", pkt(bpfc.EN10MB, ether(ipv6(protoUDP, udp(40000, 53, query(b, "r3---sn-4g5edn7y.c.2mdn.googlevideo.com")))))},
		{"excluded-udp4", pkt(bpfc.EN10MB, ether(ipv4(protoUDP, v4B, udp(40000, 53, query(b, "www.corp.example")))))},
		{"unlisted-tcp4", pkt(bpfc.EN10MB, ether(ipv4(protoTCP, v4B, tcp(40000, 53, withLen(query(b, "www.googleapis.com"))))))},
		{"response-udp4", pkt(bpfc.EN10MB, ether(ipv4(protoUDP, v4B, udp(53, 40000, query(b, "www.googleapis.com")))))},
		{"matched-udp4", pkt(bpfc.EN10MB, ether(ipv4(protoUDP, v4B, udp(40000, 53, query(b, "git.corp.example")))))},
		{"not-dns-tcp4", pkt(bpfc.EN10MB, ether(ipv4(protoTCP, v4B, tcp(40000, 443, make([]byte, 100)))))},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Inspect(bb.p)
			}
		})
	}
}

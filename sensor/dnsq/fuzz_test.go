package dnsq

import (
	"strings"
	"testing"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

// FuzzInspect feeds arbitrary DNS payloads over UDP and TCP, IPv4 and
// IPv6, whole or cut by the capture. The seed corpus in testdata/fuzz
// holds well-formed queries and the malformed shapes the unit tests name:
// compression loops, reserved label types, over-long names, truncations
// and TCP length prefixes that disagree with the message.
func FuzzInspect(f *testing.F) {
	r, err := NewRules([]string{"corp.example", "b", "xn--bcher-kva.example"}, []string{"www.corp.example"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte, overTCP, overIPv6 bool, cut uint8) {
		l4 := udp(40000, Port, payload)
		proto := uint8(protoUDP)
		if overTCP {
			l4, proto = tcp(40000, Port, payload), protoTCP
		}
		var l3 []byte
		if overIPv6 {
			l3 = ipv6(proto, l4)
		} else {
			l3 = ipv4(proto, v4B, l4)
		}
		p := &sensor.Packet{Data: l3, LinkType: bpfc.RAW, OrigLen: len(l3)}
		if int(cut) <= len(payload) {
			p.Data = p.Data[:len(p.Data)-int(cut)]
		}
		q, res := r.Inspect(p)
		if res >= numResults {
			t.Fatalf("result %d", res)
		}
		if res != Matched {
			if q != (Query{}) {
				t.Fatalf("query %+v for %v", q, res)
			}
			return
		}
		if q.Name == "" || len(q.Name) > maxName || strings.HasSuffix(q.Name, ".") {
			t.Fatalf("name %q", q.Name)
		}
		for i := 0; i < len(q.Name); i++ {
			if c := q.Name[i]; c != '.' && (!nameByte(c) || 'A' <= c && c <= 'Z') {
				t.Fatalf("byte %q in name %q", c, q.Name)
			}
		}
		if suffix, res := r.Match(q.Name); res != Matched || suffix != q.Suffix {
			t.Fatalf("Inspect matched %q by %q, Match says %q, %v", q.Name, q.Suffix, suffix, res)
		}
		first, _, _ := strings.Cut(q.Name, ".")
		if !strings.Contains(strings.ToLower(string(payload)), first) {
			t.Fatalf("first label of %q is not in the payload", q.Name)
		}
	})
}

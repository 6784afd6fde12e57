package bpfc

import (
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"", "host 10.0.0.1", "! host 1.2.3.4 and 5.6.7.8", "tcp dst port 80 or 443",
	"net 10.0.0.0 mask 255.0.0.0", "ip6 net fe80::/10", "vlan 100 and tcp port 80",
	"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", "ether host 02:00:00:00:00:01",
	"mpls 5 and mpls and host 1.2.3.4", "portrange 1-1023", "len - 14 > 100",
	"not (icmp6[icmp6type] == icmp6-routersolicit)", "inbound", "ip[1] / 0 = 1",
	"((((", "host", ":::", "\\", "ip[", "tcp port 80 or (443)", "vlan and vlan and vlan",
}

// FuzzParse: the parser never panics, and errors are *Error with a position.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := Parse(s)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Line < 1 || e.Col < 1 || !strings.HasPrefix(e.Error(), "bpfc: ") {
				t.Fatalf("Parse(%q): bad error %#v", s, err)
			}
			return
		}
		if flt.String() != s {
			t.Fatalf("String() = %q, want %q", flt.String(), s)
		}
	})
}

// FuzzCompile: compiling never panics and every program passes Validate;
// the optimizer never changes the accept/reject decision on the packet
// given as the second input.
func FuzzCompile(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, uint8(i%3), []byte("\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x01\x08\x00E\x00\x00\x1c\x00\x00\x00\x00@\x06\x00\x00\x0a\x00\x00\x01\x0a\x00\x00\x02\x00\x50\x00\x16"))
	}
	f.Fuzz(func(t *testing.T, s string, lt uint8, pkt []byte) {
		if len(s) > 512 {
			return
		}
		opt := Options{LinkType: []LinkType{EN10MB, RAW, LinuxSLL}[lt%3], Target: Target(lt / 3 % 2)}
		a, err := Compile(s, opt)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Compile(%q): error %T", s, err)
			}
			return
		}
		if err := Validate(a); err != nil {
			t.Fatalf("Compile(%q): invalid program: %v", s, err)
		}
		opt.NoOptimize = true
		b, err := Compile(s, opt)
		if err != nil {
			t.Fatalf("Compile(%q) unoptimized fails (%v) but optimized works", s, err)
		}
		if err := Validate(b); err != nil {
			t.Fatalf("Compile(%q) unoptimized: invalid program: %v", s, err)
		}
		if opt.Target == Live {
			return // x/net/bpf's VM has no Linux extensions
		}
		va, errA := newVMFor(a)
		vb, errB := newVMFor(b)
		if errA != nil || errB != nil {
			return
		}
		// pad the packet: the optimizer may drop loads whose value is
		// unused, which changes the verdict only on packets cut short
		pkt = append(pkt[:len(pkt):len(pkt)], make([]byte, 4096)...)
		ra, errA := va.Run(pkt)
		rb, errB := vb.Run(pkt)
		if errA != nil || errB != nil {
			return // e.g. x/net/bpf's VM does not implement "neg"
		}
		if ra != rb {
			t.Fatalf("Compile(%q): optimized says %d, unoptimized %d", s, ra, rb)
		}
	})
}

package dnsq

import (
	"testing"

	"golang.org/x/net/bpf"

	"github.com/tuninetd/tuninetd/bpfc"
)

func TestCaptureFilterExpr(t *testing.T) {
	for _, tt := range []struct{ f, want string }{
		{"-", "udp port 53 or tcp port 53"},
		{"host 10.0.0.1", "(host 10.0.0.1) or udp port 53 or tcp port 53"},
		{"tcp or udp and not port 22", "(tcp or udp and not port 22) or udp port 53 or tcp port 53"},
		{"", ""},
		{"  ", "  "},
	} {
		var f *bpfc.Filter
		if tt.f != "-" {
			var err error
			if f, err = bpfc.Parse(tt.f); err != nil {
				t.Fatal(err)
			}
		}
		got, err := CaptureFilter(f)
		if err != nil {
			t.Fatalf("CaptureFilter(%q): %v", tt.f, err)
		}
		if got.String() != tt.want {
			t.Errorf("CaptureFilter(%q) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

// TestCaptureFilterVerdicts runs the compiled programs on generated
// packets of every link type the capture sensor compiles for.
func TestCaptureFilterVerdicts(t *testing.T) {
	q := query(t, "git.corp.example")
	type packet struct {
		name string
		l3   []byte
		// dns: passed for DNS; host: passed by "host 10.0.0.1"
		dns, host bool
	}
	v4C := [4]byte{192, 0, 2, 9}
	packets := []packet{
		{"udp4 query", ipv4(protoUDP, v4C, udp(40000, 53, q)), true, false},
		{"udp4 answer", ipv4(protoUDP, v4C, udp(53, 40000, q)), true, false},
		{"tcp4 query", ipv4(protoTCP, v4C, tcp(40000, 53, withLen(q))), true, false},
		{"tcp4 answer", ipv4(protoTCP, v4C, tcp(53, 40000, withLen(q))), true, false},
		{"udp6 query", ipv6(protoUDP, udp(40000, 53, q)), true, false},
		{"tcp6 query", ipv6(protoTCP, tcp(40000, 53, withLen(q))), true, false},
		{"udp6 answer", ipv6(protoUDP, udp(53, 40000, q)), true, false},
		{"udp4 5353", ipv4(protoUDP, v4C, udp(5353, 5353, q)), false, false},
		{"udp4 54", ipv4(protoUDP, v4C, udp(40000, 54, q)), false, false},
		{"sctp4 53", ipv4(protoSCTP, v4C, udp(40000, 53, nil)), false, false},
		{"tcp4 443", ipv4(protoTCP, v4C, tcp(40000, 443, nil)), false, false},
		{"tcp4 443 to host", ipv4(protoTCP, v4B, tcp(40000, 443, nil)), false, true},
		{"udp4 53 to host", ipv4(protoUDP, v4B, udp(40000, 53, q)), true, true},
		{"icmp4", ipv4(1, v4C, []byte{8, 0, 0, 0, 0, 1, 0, 1}), false, false},
		{"tcp6 443", ipv6(protoTCP, tcp(40000, 443, nil)), false, false},
	}
	frame := map[bpfc.LinkType]func([]byte) []byte{
		bpfc.EN10MB:   func(l3 []byte) []byte { return ether(l3) },
		bpfc.RAW:      func(l3 []byte) []byte { return l3 },
		bpfc.LinuxSLL: sll,
	}
	for _, withF := range []bool{false, true} {
		var f *bpfc.Filter
		if withF {
			var err error
			if f, err = bpfc.Parse("host 10.0.0.1"); err != nil {
				t.Fatal(err)
			}
		}
		cf, err := CaptureFilter(f)
		if err != nil {
			t.Fatal(err)
		}
		for lt, framer := range frame {
			raw, err := cf.Compile(bpfc.Options{LinkType: lt, Snaplen: 8192})
			if err != nil {
				t.Fatalf("%q for %v: %v", cf, lt, err)
			}
			insns, ok := bpf.Disassemble(raw)
			if !ok {
				t.Fatalf("%q for %v: program has instructions x/net/bpf does not know", cf, lt)
			}
			vm, err := bpf.NewVM(insns)
			if err != nil {
				t.Fatalf("%q for %v: %v", cf, lt, err)
			}
			for _, p := range packets {
				want := p.dns || withF && p.host
				n, err := vm.Run(framer(p.l3))
				if err != nil {
					t.Fatalf("%q for %v, %s: %v", cf, lt, p.name, err)
				}
				if got := n != 0; got != want {
					t.Errorf("%q for %v, %s: passed %v, want %v", cf, lt, p.name, got, want)
				}
				if n != 0 && n != 8192 {
					t.Errorf("%q for %v, %s: returns %d, want the snap length", cf, lt, p.name, n)
				}
			}
		}
	}
}

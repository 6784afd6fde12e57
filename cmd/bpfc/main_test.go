package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	cases := []struct {
		args       []string
		code       int
		out, errSS string
	}{
		{[]string{"-d", "ip"}, 0, "(000) ldh      [12]\n(001) jeq      #0x800           jt 2\tjf 3\n(002) ret      #262144\n(003) ret      #0\n", ""},
		{[]string{"-dd", "ip"}, 0, "{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 1, 0x00000800 },\n{ 0x6, 0, 0, 0x00040000 },\n{ 0x6, 0, 0, 0x00000000 },\n", ""},
		{[]string{"-ddd", "-s", "96", "ip"}, 0, "4\n40 0 0 12\n21 0 1 2048\n6 0 0 96\n6 0 0 0\n", ""},
		{[]string{"-y", "RAW", "-ddd", "ip"}, 0, "5\n48 0 0 0\n84 0 0 240\n21 0 1 64\n6 0 0 262144\n6 0 0 0\n", ""},
		{[]string{"-O", "-ddd", "len", ">", "1400"}, 0, "9\n128 0 0 0\n2 0 0 0\n0 0 0 1400\n2 0 0 1\n97 0 0 1\n96 0 0 0\n45 0 1 0\n6 0 0 262144\n6 0 0 0\n", ""},
		{[]string{"-ddd", "not", "host", "1.2.3.4"}, 0, "14\n", ""},
		{[]string{"--offline", "-d", "inbound"}, 1, "", "inbound/outbound not supported"},
		{[]string{"-d", "inbound"}, 0, "(000) ldh      [type]\n", ""},
		{[]string{"-y", "RAW", "-d", "ether", "host", "02:00:00:00:00:01"}, 1, "", "bpfc: 1:12: ethernet addresses are not supported on link type RAW"},
		{[]string{"-d", "tcp", "port"}, 1, "", `bpfc: 1:9: expected a port number or name after "port"`},
		{[]string{"-d", "tcp", "and", "udp"}, 1, "", "bpfc: 1:5: expression rejects all packets: no packet matches both sides of \"and\"\ntcp and udp\n    ^~~\n"},
		{[]string{"-d", "portrange", "10-"}, 1, "", "bpfc: 1:11: expected a port range (N-M) after \"portrange\", found \"10-\"\nportrange 10-\n          ^~~\n"},
		{[]string{"ip"}, 1, "", "one of -d, -dd or -ddd is required"},
		{[]string{"-y", "FOO", "-d", "ip"}, 1, "", "unknown link type"},
		{[]string{"-x", "-d", "ip"}, 1, "", "unknown option -x"},
		{[]string{"-d"}, 0, "(000) ret      #262144\n", ""},
	}
	for _, c := range cases {
		var out, errb strings.Builder
		code := run(c.args, &out, &errb)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, c.code, errb.String())
		}
		if !strings.HasPrefix(out.String(), c.out) {
			t.Errorf("%v: stdout\n%q\nwant prefix\n%q", c.args, out.String(), c.out)
		}
		if c.errSS != "" && !strings.Contains(errb.String(), c.errSS) {
			t.Errorf("%v: stderr %q, want it to contain %q", c.args, errb.String(), c.errSS)
		}
		if c.code == 0 && errb.Len() != 0 {
			t.Errorf("%v: unexpected stderr %q", c.args, errb.String())
		}
	}
}

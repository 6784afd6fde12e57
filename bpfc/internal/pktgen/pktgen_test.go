package pktgen

import (
	"bytes"
	"testing"
)

func TestCorpusDeterministicAndSized(t *testing.T) {
	for _, dlt := range []int{DLTEN10MB, DLTRAW, DLTLinuxSLL} {
		for _, live := range []bool{false, true} {
			a, b := Corpus(dlt, live), Corpus(dlt, live)
			if len(a) != len(b) {
				t.Fatalf("dlt %d live %v: sizes differ %d %d", dlt, live, len(a), len(b))
			}
			for i := range a {
				if a[i].Desc != b[i].Desc || !bytes.Equal(a[i].Data, b[i].Data) || a[i].Meta != b[i].Meta {
					t.Fatalf("dlt %d live %v: packet %d differs between calls", dlt, live, i)
				}
				if int(a[i].WireLen) < len(a[i].Data) {
					t.Errorf("dlt %d: %s: wire length below captured length", dlt, a[i])
				}
			}
			if len(a) < 300 {
				t.Errorf("dlt %d live %v: only %d packets", dlt, live, len(a))
			}
			t.Logf("dlt %d live %v: %d packets", dlt, live, len(a))
		}
	}
}

// TestCorpusHas checks that the shapes the filter corpus depends on are
// present, so a refactor of the generator cannot silently drop them.
func TestCorpusHas(t *testing.T) {
	eth := Ethernet()
	want := map[string]bool{
		"vlan(0x8100) 100": false, "vlan(0x88a8)": false, "frag off=185": false, "frag(first)": false,
		"hbh": false, "arp": false, "rarp": false, "mpls": false, "GET": false, "trunc": false,
		"icmp6 type 133": false, "sctp": false, "esp": false, " ah ": false, "gre": false, "random": false,
	}
	for _, p := range eth {
		for k := range want {
			if bytes.Contains([]byte(p.Desc), []byte(k)) {
				want[k] = true
			}
		}
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("no packet described with %q", k)
		}
	}
}

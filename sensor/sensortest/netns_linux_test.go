package sensortest

import (
	"strings"
	"testing"
)

func TestNamespaceTunAndVeth(t *testing.T) {
	ns := NewNamespace(t)
	ns.AddTun("tun0", "10.200.0.1/24")
	ns.AddVeth("va", "10.201.0.1/24", "vb", "10.201.0.2/24")
	out := ns.Run("ip", "-o", "link", "show", "tun0")
	if !strings.Contains(out, "LOWER_UP") {
		t.Fatalf("tun0 has no carrier with a holder attached: %s", out)
	}
	ns.SendUDP("10.200.0.2:9", 3)
	ns.SendTCP("10.201.0.2:9", 0)
}

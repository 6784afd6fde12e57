package bpfc

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/tuninetd/tuninetd/bpfc/internal/bpfvm"
)

// TestLiveOptimizerKeepsVerdicts is TestRandomCombinations for the live
// target, where vlan and inbound/outbound read socket metadata: run under
// a VM with Linux's ancillary loads, with the VLAN tag both in the frame
// and stripped into metadata, and both packet directions.
func TestLiveOptimizerKeepsVerdicts(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 100
	}
	prims := []string{"vlan", "vlan 100", "vlan 5", "inbound", "outbound", "ip", "ip6", "arp",
		"tcp port 80", "udp", "host 10.0.0.1", "net 10.0.0.0/8", "ether multicast",
		"ether broadcast", "ip[0] & 0xf = 5", "tcp[tcpflags] & tcp-syn != 0", "port 53",
		"ether proto 0x8100", "mpls", "len > 100", "icmp6"}
	pkts, truncated := testPackets()
	var frames [][]byte
	for _, p := range pkts[EN10MB] {
		if !truncated[string(p)] {
			frames = append(frames, append(p[:len(p):len(p)], make([]byte, 256)...))
		}
	}
	metas := []*bpfvm.Meta{{}, {PktType: 4}, {VLANPresent: true, VLANTCI: 100}, {VLANPresent: true, VLANTCI: 5, PktType: 4}}
	rng := rand.New(rand.NewSource(2))
	var build func(depth int) string
	build = func(depth int) string {
		if depth == 0 || rng.Intn(3) == 0 {
			return "(" + prims[rng.Intn(len(prims))] + ")"
		}
		l, r := build(depth-1), build(depth-1)
		switch rng.Intn(5) {
		case 0:
			return "not " + l
		case 1, 2:
			return l + " and " + r
		default:
			return l + " or " + r
		}
	}
	checked := 0
	defer func() { t.Logf("%d expressions on %d frames x %d metadata states", checked, len(frames), len(metas)) }()
	for i := 0; i < n; i++ {
		e := build(3)
		a, errA := Compile(e, Options{})
		b, errB := Compile(e, Options{NoOptimize: true})
		if errB != nil {
			continue
		}
		if errA != nil {
			if strings.Contains(errA.Error(), "rejects all packets") {
				a = nil
			} else {
				t.Fatalf("%q: optimized fails: %v", e, errA)
			}
		}
		checked++
		for j, f := range frames {
			for _, m := range metas {
				var ra uint32
				if a != nil {
					ra = bpfvm.Run(a, f, 0, m).Ret
				}
				rb := bpfvm.Run(b, f, 0, m).Ret
				if ra != rb {
					t.Fatalf("%q frame %d meta %+v: optimized %d, unoptimized %d", e, j, *m, ra, rb)
				}
			}
		}
	}
}

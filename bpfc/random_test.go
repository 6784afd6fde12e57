package bpfc

import (
	"math/rand"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestRandomCombinations joins corpus expressions with and/or/not at
// random and checks that the optimized program decides every intact test
// packet as the unoptimized one (which is libpcap's program) does.
func TestRandomCombinations(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 300
	}
	var prims []string
	for _, e := range readCorpus(t) {
		// A run-time division by zero aborts the program; like libpcap's,
		// the optimizer may skip a division whose result cannot change
		// the verdict, so such expressions are left out.
		if strings.ContainsAny(e, "/%") {
			continue
		}
		if _, err := Compile(e, Options{Target: Offline, NoOptimize: true}); err == nil {
			prims = append(prims, e)
		}
	}
	pkts, truncated := testPackets()
	rng := rand.New(rand.NewSource(1))
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
	lts := []LinkType{EN10MB, RAW, LinuxSLL}
	checked := 0
	for i := 0; i < n; i++ {
		e := build(3)
		lt := lts[rng.Intn(3)]
		opt := Options{LinkType: lt, Target: Offline}
		a, errA := Compile(e, opt)
		opt.NoOptimize = true
		b, errB := Compile(e, opt)
		if errB != nil {
			continue
		}
		if errA != nil {
			if e, ok := errA.(*Error); ok && strings.HasPrefix(e.Msg, "expression rejects all packets") {
				a = []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: 0}}
			} else {
				t.Fatalf("%v %q: optimized fails: %v", lt, e, errA)
			}
		}
		va, err1 := newVMFor(a)
		vb, err2 := newVMFor(b)
		if err1 != nil || err2 != nil {
			continue
		}
		for j, p := range pkts[lt] {
			if len(p) < 40 || truncated[string(p)] {
				continue
			}
			// padding keeps loads at computed offsets inside the packet
			p = append(p[:len(p):len(p)], make([]byte, 2048)...)
			ra, err1 := va.Run(p)
			rb, err2 := vb.Run(p)
			if err1 != nil || err2 != nil {
				break
			}
			if ra != rb {
				t.Fatalf("%v %q packet %d: optimized %d, unoptimized %d", lt, e, j, ra, rb)
			}
		}
		checked++
	}
	t.Logf("%d random expressions checked", checked)
}

package bpfc

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLongJumps: unoptimized programs over 256 instructions need "ja"
// trampolines; they must decide like the optimized program.
func TestLongJumps(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("port 1")
	for i := 2; i <= 40; i++ {
		fmt.Fprintf(&sb, " or %d", i*11)
	}
	sb.WriteString(" or host 10.0.0.1")
	e := sb.String()
	pkts, truncated := testPackets()
	for _, lt := range []LinkType{EN10MB, RAW, LinuxSLL} {
		a := mustCompile(t, e, Options{LinkType: lt, Target: Offline})
		b := mustCompile(t, e, Options{LinkType: lt, Target: Offline, NoOptimize: true})
		tramp := 0
		for _, in := range b {
			if in.Op == unix.BPF_JMP|unix.BPF_JA {
				tramp++
			}
		}
		if len(b) < 300 || tramp == 0 {
			t.Fatalf("%v: %d insns, %d trampolines: the test needs long jumps", lt, len(b), tramp)
		}
		va, err := newVMFor(a)
		if err != nil {
			t.Fatal(err)
		}
		vb, err := newVMFor(b)
		if err != nil {
			t.Fatal(err)
		}
		acc := 0
		for i, p := range pkts[lt] {
			if truncated[string(p)] {
				continue
			}
			ra, _ := va.Run(p)
			rb, _ := vb.Run(p)
			if ra != rb {
				t.Fatalf("%v packet %d: optimized %d, unoptimized %d", lt, i, ra, rb)
			}
			if ra != 0 {
				acc++
			}
		}
		if acc == 0 {
			t.Errorf("%v: no packet accepted; the test proves nothing", lt)
		}
		t.Logf("%v: %d insns (%d trampolines) unoptimized, %d optimized; %d packets accepted", lt, len(b), tramp, len(a), acc)
	}
}

package bpfc_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/bpfc/internal/bpfvm"
	"github.com/tuninetd/tuninetd/bpfc/internal/fixture"
	"github.com/tuninetd/tuninetd/bpfc/internal/pktgen"
)

// maxReported bounds the failure messages per variant; the summary still
// lists every disagreeing expression.
const maxReported = 25

// options maps a fixture variant to compiler options.
func options(v fixture.Variant) bpfc.Options {
	o := bpfc.Options{LinkType: bpfc.LinkType(v.DLT), NoOptimize: !v.Optimize, Target: bpfc.Offline}
	if v.Live {
		o.Target = bpfc.Live
	}
	return o
}

// knownGaps reads bpfc/testdata/diff-known-gaps.txt: expressions libpcap
// compiles that bpfc deliberately rejects as unsupported.
func knownGaps(t testing.TB) map[string]string {
	b, err := os.ReadFile(filepath.Join("testdata", "diff-known-gaps.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		e, why, ok := strings.Cut(l, "\t")
		if !ok {
			t.Fatalf("diff-known-gaps.txt: no tab in %q", l)
		}
		m[e] = why
	}
	return m
}

// judgeExpr compares our compilation of expr with libpcap's result. ref,
// when not nil, is libpcap's unoptimized program, used instead of lib's
// program where libpcap's optimizer is known to miscompile (see
// optimizerBugs).
func judgeExpr(v fixture.Variant, lib fixture.Result, ref []bpf.RawInstruction, pkts []pktgen.Packet, gaps map[string]string) verdict {
	expr := lib.Expr
	note := ""
	if ref != nil {
		lib.Prog = ref
		note = " [reference: libpcap's unoptimized program; its optimizer miscompiles this one]"
	}
	prog, err := bpfc.Compile(expr, options(v))
	switch {
	case lib.Err != "" && err != nil:
		return verdict{expr: expr}
	case lib.Err != "" && err == nil:
		kind := "error-mismatch"
		if strings.Contains(lib.Err, "rejects all packets") {
			kind = "rejects-all"
		}
		return verdict{expr: expr, kind: kind, detail: fmt.Sprintf("libpcap errors %q; ours compiles (%d instructions):\n%s",
			lib.Err, len(prog), listing(prog))}
	case lib.Err == "" && err != nil && gaps[expr] != "" && strings.Contains(err.Error(), "not supported"):
		return verdict{expr: expr, kind: "known-gap", detail: fmt.Sprintf("ours errors %q (%s)", err, gaps[expr])}
	case lib.Err == "" && err != nil:
		return verdict{expr: expr, kind: "error-mismatch", detail: fmt.Sprintf("ours errors %q; libpcap compiles (%d instructions):\n%s",
			err, len(lib.Prog), listing(lib.Prog))}
	}
	if verr := bpfvm.Validate(prog); verr != nil {
		return verdict{expr: expr, kind: "invalid", detail: fmt.Sprintf("our program is invalid: %v\n%s", verr, listing(prog))}
	}
	if !v.Live {
		// Savefiles have no socket metadata: an ancillary load would read
		// zeros here and could hide behind the in-frame fallback.
		for i, ins := range prog {
			if ins.Op&0x07 == 0x00 && ins.Op&0xe0 == 0x20 && ins.K >= bpfvm.SKFLLOff {
				return verdict{expr: expr, kind: "invalid", detail: fmt.Sprintf("offline program uses a Linux ancillary/negative load at %d\n%s", i, listing(prog))}
			}
		}
	}
	diffs := diffPrograms(prog, lib.Prog, pkts, v.Live)
	if len(diffs) == 0 {
		return verdict{expr: expr, ourLen: len(prog), libLen: len(lib.Prog)}
	}
	// Intact packets first: they are what a capture socket sees.
	kind := "truncated-only"
	var intact, short []packetDiff
	for _, d := range diffs {
		if d.pkt.Truncated {
			short = append(short, d)
		} else {
			intact = append(intact, d)
		}
	}
	if len(intact) > 0 {
		kind = "decision"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d of %d packets decided differently (%d intact, %d truncated), first ones:\n", len(diffs), len(pkts), len(intact), len(short))
	for i, d := range append(intact, short...) {
		if i == 4 {
			break
		}
		fmt.Fprintf(&sb, "  packet %s\n    ours %d%s, libpcap %d%s\n    bytes %s\n", d.pkt, d.ours.Ret, abort(d.ours), d.theirs.Ret, abort(d.theirs), hexdump(d.pkt.Data))
	}
	fmt.Fprintf(&sb, "  ours (%d):\n%s  libpcap (%d):\n%s", len(prog), listing(prog), len(lib.Prog), listing(lib.Prog))
	return verdict{expr: expr, kind: kind, detail: sb.String() + note}
}

// TestDiffLibpcap is the proof: for every corpus expression, link type,
// target and optimizer setting, our program decides every corpus packet
// exactly as libpcap's (same return value: 0 or the snaplen), and we fail to
// compile exactly where libpcap does. libpcap's programs come from the
// checked-in fixtures (testdata/bpfc, see TestFixturesFresh and the regen
// command), so no tcpdump is needed here.
//
// Disagreements only on truncated packets (kind "truncated-only": the frame
// is shorter than its headers say, so the answer depends on which load runs
// first) are listed in the summary but fail only with BPFC_DIFF_STRICT=1:
// libpcap's own optimized and unoptimized programs differ on such packets.
// The same holds for kind "known-gap": expressions listed in
// testdata/diff-known-gaps.txt that bpfc rejects as "not supported".
func TestDiffLibpcap(t *testing.T) {
	strict := os.Getenv("BPFC_DIFF_STRICT") == "1"
	gaps := knownGaps(t)
	var sum summary
	t.Cleanup(func() {
		sum.write(t)
		// A gap no variant shows any more should leave the list; only
		// logged, because the compiler's author cannot edit the list.
		still := map[string]bool{}
		for _, vs := range sum.rows {
			for _, vd := range vs {
				if vd.kind == "known-gap" {
					still[vd.expr] = true
				}
			}
		}
		for e := range gaps {
			if !still[e] && len(sum.rows) == len(fixture.Variants()) {
				t.Logf("stale: %q agrees with libpcap everywhere now; remove it from testdata/diff-known-gaps.txt", e)
			}
		}
	})
	for _, v := range fixture.Variants() {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			f, err := fixture.Read(fixtureDir, v)
			if err != nil {
				t.Fatal(err)
			}
			pkts := packetsFor(v)
			bugs := optimizerBugs(t, v, f, pkts)
			var vs []verdict
			reported := 0
			for _, r := range f.Results {
				vd := judgeExpr(v, r, bugs[r.Expr], pkts, gaps)
				vs = append(vs, vd)
				if vd.kind == "" || (vd.kind == "truncated-only" || vd.kind == "known-gap") && !strict {
					continue
				}
				if reported < maxReported {
					t.Errorf("%s %q [%s]: %s", v, vd.expr, vd.kind, vd.detail)
				} else if reported == maxReported {
					t.Errorf("%s: further disagreements only in the summary", v)
				}
				reported++
			}
			sum.add(v.String(), vs)
		})
	}
}

// TestSnaplenOption checks Options.Snaplen is what accepting returns: the
// program with Snaplen 96 is the default program with every 262144 return
// replaced by 96, for every corpus expression that compiles.
func TestSnaplenOption(t *testing.T) {
	exprs, err := fixture.ReadCorpus(filepath.Join(fixtureDir, "corpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exprs {
		def, err := bpfc.Compile(e, bpfc.Options{Target: bpfc.Offline})
		if err != nil {
			continue
		}
		small, err := bpfc.Compile(e, bpfc.Options{Target: bpfc.Offline, Snaplen: 96})
		if err != nil {
			t.Errorf("%q: compiles with the default snaplen, not with 96: %v", e, err)
			continue
		}
		want := make([]bpf.RawInstruction, len(def))
		for i, ins := range def {
			if ins.Op == 0x06 && ins.K == 262144 {
				ins.K = 96
			}
			want[i] = ins
		}
		if fixture.FormatProg(small) != fixture.FormatProg(want) {
			t.Errorf("%q: Snaplen 96 gives\n%s want\n%s", e, listing(small), listing(want))
		}
	}
}

package bpfc_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/tuninetd/tuninetd/bpfc/internal/bpfvm"
	"github.com/tuninetd/tuninetd/bpfc/internal/fixture"
)

// TestFixturesCoverCorpus checks the fixtures were regenerated after the
// corpus last changed.
func TestFixturesCoverCorpus(t *testing.T) {
	exprs, err := fixture.ReadCorpus(filepath.Join(fixtureDir, "corpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range fixture.Variants() {
		f, err := fixture.Read(fixtureDir, v)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(f.Version, "libpcap version") {
			t.Errorf("%s: no libpcap version recorded", v)
		}
		m := f.Map()
		for _, e := range exprs {
			if _, ok := m[e]; !ok {
				t.Errorf("%s: no fixture for %q; run go run ./bpfc/internal/fixture/regen", v, e)
			}
		}
		if len(m) != len(exprs) {
			t.Errorf("%s: %d fixtures for %d corpus expressions", v, len(m), len(exprs))
		}
	}
}

// TestFixturesMatchSharedLengths cross-checks the fixtures against the
// independently recorded program lengths of the shared 120-expression corpus.
func TestFixturesMatchSharedLengths(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtureDir, "libpcap-1.10.3-lengths.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(live bool, dlt int, opt bool) map[string]fixture.Result {
		f, err := fixture.Read(fixtureDir, fixture.Variant{Live: live, DLT: dlt, Optimize: opt})
		if err != nil {
			t.Fatal(err)
		}
		return f.Map()
	}
	cols := []map[string]fixture.Result{
		get(false, fixture.DLTEN10MB, true), get(false, fixture.DLTRAW, true), get(false, fixture.DLTLinuxSLL, true),
		get(false, fixture.DLTEN10MB, false), get(false, fixture.DLTRAW, false),
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		for i, m := range cols {
			r, ok := m[f[0]]
			if !ok {
				t.Errorf("%q: missing from fixtures", f[0])
				continue
			}
			want := f[1+i]
			got := "error"
			if r.Err == "" {
				got = strconv.Itoa(len(r.Prog))
			}
			if got != want {
				t.Errorf("%q column %d: fixture %s, shared table %s", f[0], i+1, got, want)
			}
		}
	}
}

// TestFixturesFresh recompiles a sample of the corpus with the installed
// tcpdump and checks the checked-in fixtures still say the same. Skipped
// without tcpdump or when its libpcap is not the recorded version. Live
// variants need root and unshare; -short checks fewer expressions.
func TestFixturesFresh(t *testing.T) {
	td, err := fixture.NewTcpdump(t.TempDir())
	if errors.Is(err, fixture.ErrNoTcpdump) {
		t.Skip("tcpdump not on PATH")
	}
	if err != nil {
		t.Fatal(err)
	}
	ver, err := td.Version()
	if err != nil {
		t.Fatal(err)
	}
	// A sample keeps this to a few seconds: offline runs cost ~15 ms each,
	// live ones (a fresh network namespace each) several times that.
	step, liveStep := 30, 120
	if testing.Short() {
		step, liveStep = 120, 400
	}
	_, unshareErr := exec.LookPath("unshare")
	for _, v := range fixture.Variants() {
		t.Run(v.String(), func(t *testing.T) {
			if v.Live && (os.Geteuid() != 0 || unshareErr != nil) {
				t.Skip("live programs need root and unshare")
			}
			f, err := fixture.Read(fixtureDir, v)
			if err != nil {
				t.Fatal(err)
			}
			if f.Version != ver {
				t.Skipf("fixtures from %q, installed %q", f.Version, ver)
			}
			st := step
			if v.Live {
				st = liveStep
			}
			for i := v.DLT % st; i < len(f.Results); i += st {
				want := f.Results[i]
				got, err := td.Compile(context.Background(), want.Expr, v)
				if err != nil {
					t.Fatal(err)
				}
				if got.Err != want.Err || fixture.FormatProg(got.Prog) != fixture.FormatProg(want.Prog) {
					t.Errorf("%q: fixture says %q/%s, tcpdump now %q/%s; regenerate with go run ./bpfc/internal/fixture/regen",
						want.Expr, want.Err, fixture.FormatProg(want.Prog), got.Err, fixture.FormatProg(got.Prog))
				}
			}
		})
	}
}

// TestLibpcapSelfConsistent checks the harness (corpus, interpreter,
// fixtures) on libpcap alone: its optimized and unoptimized programs must
// decide every packet alike, and where the optimizer reports "expression
// rejects all packets" the unoptimized program must reject every packet.
// Truncated packets are exempt: the optimizer reorders and drops loads, so
// libpcap's two programs legitimately disagree on some of them.
// A failure here is a harness bug, not a compiler bug.
func TestLibpcapSelfConsistent(t *testing.T) {
	for _, live := range []bool{false, true} {
		for _, dlt := range []int{fixture.DLTEN10MB, fixture.DLTRAW, fixture.DLTLinuxSLL} {
			vo := fixture.Variant{Live: live, DLT: dlt, Optimize: true}
			vn := fixture.Variant{Live: live, DLT: dlt, Optimize: false}
			t.Run(vo.String(), func(t *testing.T) {
				t.Parallel()
				fo, err := fixture.Read(fixtureDir, vo)
				if err != nil {
					t.Fatal(err)
				}
				fn, err := fixture.Read(fixtureDir, vn)
				if err != nil {
					t.Fatal(err)
				}
				pkts := packetsFor(vo)
				accepted := 0
				noopt := fn.Map()
				for _, o := range fo.Results {
					n, ok := noopt[o.Expr]
					if !ok {
						t.Fatalf("%q missing from %s", o.Expr, vn)
					}
					switch {
					case o.Err != "" && n.Err != "":
						continue
					case o.Err != "" && strings.Contains(o.Err, "rejects all packets"):
						for i := range pkts {
							p := &pkts[i]
							if r := bpfvm.Run(n.Prog, p.Data, p.WireLen, vmMeta(p, live)); r.Ret != 0 {
								t.Errorf("%q: optimizer says rejects all, unoptimized accepts %s", o.Expr, p)
								break
							}
						}
						continue
					case o.Err != "" || n.Err != "":
						t.Errorf("%q: optimized error %q, unoptimized error %q", o.Expr, o.Err, n.Err)
						continue
					}
					for _, prog := range [][]bpf.RawInstruction{o.Prog, n.Prog} {
						if err := bpfvm.ValidateLibpcap(prog); err != nil {
							t.Errorf("%q: libpcap program invalid for the interpreter: %v", o.Expr, err)
						}
					}
					var diffs []packetDiff
					for _, d := range diffPrograms(o.Prog, n.Prog, pkts, live) {
						if !d.pkt.Truncated {
							diffs = append(diffs, d)
						}
					}
					if len(diffs) > 0 && live && strings.Contains(o.Expr, "vlan") {
						// libpcap#1513: the optimizer mishandles the live VLAN
						// extension code; TestDiffLibpcap judges these against
						// the unoptimized program (see optimizerBugs).
						d := diffs[0]
						t.Logf("known libpcap optimizer bug: %q: %d packets differ, e.g. %s: optimized %d, unoptimized %d",
							o.Expr, len(diffs), d.pkt, d.ours.Ret, d.theirs.Ret)
					} else if len(diffs) > 0 {
						d := diffs[0]
						t.Errorf("%q: %d packets differ between optimized and not, e.g. %s: %d vs %d (%s/%s)",
							o.Expr, len(diffs), d.pkt, d.ours.Ret, d.theirs.Ret, d.ours.Abort, d.theirs.Abort)
					}
					for i := range pkts {
						p := &pkts[i]
						if bpfvm.Run(o.Prog, p.Data, p.WireLen, vmMeta(p, live)).Ret != 0 {
							accepted++
						}
					}
				}
				t.Logf("%s: %d expressions x %d packets, %d acceptances", vo, len(fo.Results), len(pkts), accepted)
			})
		}
	}
}

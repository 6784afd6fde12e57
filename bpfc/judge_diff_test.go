package bpfc_test

// Shared machinery of the differential tests: packet corpora per link type
// and target, running two programs over them in the kernel-semantics
// interpreter, and describing disagreements so the compiler's author can act
// on them (expression, link type, packet, both return values, both programs).

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/tuninetd/tuninetd/bpfc/internal/bpfvm"
	"github.com/tuninetd/tuninetd/bpfc/internal/fixture"
	"github.com/tuninetd/tuninetd/bpfc/internal/pktgen"
)

// fixtureDir holds the corpus and libpcap's programs (repository testdata).
var fixtureDir = filepath.Join("..", "testdata", "bpfc")

// corpusKey selects a packet corpus.
type corpusKey struct {
	dlt  int
	live bool
}

// packetCorpus builds each corpus once per test binary; the result is never
// modified after construction.
var packetCorpus = sync.OnceValue(func() map[corpusKey][]pktgen.Packet {
	m := map[corpusKey][]pktgen.Packet{}
	for _, dlt := range []int{pktgen.DLTEN10MB, pktgen.DLTRAW, pktgen.DLTLinuxSLL} {
		for _, live := range []bool{false, true} {
			m[corpusKey{dlt, live}] = pktgen.Corpus(dlt, live)
		}
	}
	return m
})

// packetsFor returns the corpus for a variant; in -short mode, and on
// architectures CI runs under qemu (make test-mips), every third packet only:
// emulation is ~20 times slower, and the sample still has every packet shape.
func packetsFor(v fixture.Variant) []pktgen.Packet {
	all := packetCorpus()[corpusKey{v.DLT, v.Live}]
	if !testing.Short() && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64") {
		return all
	}
	out := make([]pktgen.Packet, 0, len(all)/3+1)
	for i := 0; i < len(all); i += 3 {
		out = append(out, all[i])
	}
	return out
}

func vmMeta(p *pktgen.Packet, live bool) *bpfvm.Meta {
	if !live {
		return nil
	}
	return &bpfvm.Meta{
		VLANPresent: p.Meta.VLANPresent, VLANTCI: p.Meta.VLANTCI, VLANTPID: p.Meta.VLANTPID,
		PktType: p.Meta.PktType, Protocol: p.Meta.Protocol, IfIndex: p.Meta.IfIndex, HAType: p.Meta.HAType,
	}
}

// packetDiff is one packet two programs decide differently.
type packetDiff struct {
	pkt          *pktgen.Packet
	ours, theirs bpfvm.Result
}

// diffPrograms runs both programs over pkts and returns the disagreements.
func diffPrograms(ours, theirs []bpf.RawInstruction, pkts []pktgen.Packet, live bool) []packetDiff {
	var out []packetDiff
	for i := range pkts {
		p := &pkts[i]
		m := vmMeta(p, live)
		a := bpfvm.Run(ours, p.Data, p.WireLen, m)
		b := bpfvm.Run(theirs, p.Data, p.WireLen, m)
		if a.Ret != b.Ret {
			out = append(out, packetDiff{pkt: p, ours: a, theirs: b})
		}
	}
	return out
}

// listing renders a program one instruction per line, tcpdump -d style
// enough to compare by eye.
func listing(p []bpf.RawInstruction) string {
	var sb strings.Builder
	for i, ri := range p {
		ins := ri.Disassemble()
		s := fmt.Sprint(ins)
		if _, ok := ins.(bpf.RawInstruction); ok || strings.HasPrefix(s, "unknown") {
			s = fmt.Sprintf("raw {%#x %d %d %#x}", ri.Op, ri.Jt, ri.Jf, ri.K)
		}
		if ri.Op&0x07 == 0x05 && ri.Op != 0x05 {
			s += fmt.Sprintf("   (jt %d jf %d)", i+1+int(ri.Jt), i+1+int(ri.Jf))
		}
		fmt.Fprintf(&sb, "    (%03d) %s\n", i, s)
	}
	return sb.String()
}

func hexdump(b []byte) string {
	if len(b) > 80 {
		return fmt.Sprintf("%x...", b[:80])
	}
	return fmt.Sprintf("%x", b)
}

// verdict is the outcome for one expression under one variant.
type verdict struct {
	expr   string
	kind   string // "", "error-mismatch", "rejects-all", "decision", "truncated-only", "known-gap", "invalid"
	detail string
	// Program lengths when both compiled and agree (0 otherwise).
	ourLen, libLen int
}

func abort(r bpfvm.Result) string {
	if r.Abort != "" {
		return " (" + r.Abort + ")"
	}
	return ""
}

// summary aggregates verdicts per variant for the log and the optional
// report file (BPFC_DIFF_REPORT=path).
type summary struct {
	mu   sync.Mutex
	rows map[string][]verdict
}

func (s *summary) add(variant string, vs []verdict) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rows == nil {
		s.rows = map[string][]verdict{}
	}
	s.rows[variant] = vs
}

func (s *summary) write(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sb strings.Builder
	names := make([]string, 0, len(s.rows))
	for n := range s.rows {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		vs := s.rows[n]
		bad := map[string][]string{}
		for _, v := range vs {
			if v.kind != "" {
				bad[v.kind] = append(bad[v.kind], v.expr)
			}
		}
		ok := len(vs)
		for _, l := range bad {
			ok -= len(l)
		}
		both, shorter, equal := 0, 0, 0
		for _, v := range vs {
			if v.libLen > 0 {
				both++
				if v.ourLen < v.libLen {
					shorter++
				} else if v.ourLen == v.libLen {
					equal++
				}
			}
		}
		fmt.Fprintf(&sb, "%s: %d/%d expressions agree (program length vs libpcap over %d: %d shorter, %d equal, %d longer)",
			n, ok, len(vs), both, shorter, equal, both-shorter-equal)
		for _, k := range []string{"decision", "error-mismatch", "rejects-all", "invalid", "truncated-only", "known-gap"} {
			if len(bad[k]) > 0 {
				fmt.Fprintf(&sb, "; %s %d", k, len(bad[k]))
			}
		}
		sb.WriteString("\n")
		for _, k := range []string{"decision", "error-mismatch", "rejects-all", "invalid", "truncated-only", "known-gap"} {
			for _, e := range bad[k] {
				fmt.Fprintf(&sb, "    %-14s %q\n", k, e)
			}
		}
	}
	t.Logf("differential summary:\n%s", sb.String())
	if p := os.Getenv("BPFC_DIFF_REPORT"); p != "" {
		var full strings.Builder
		full.WriteString(sb.String())
		full.WriteString("\n\nDetails\n=======\n")
		for _, n := range names {
			for _, v := range s.rows[n] {
				if v.kind != "" {
					fmt.Fprintf(&full, "\n### %s %q [%s]\n%s\n", n, v.expr, v.kind, v.detail)
				}
			}
		}
		if err := os.WriteFile(p, []byte(full.String()), 0o644); err != nil {
			t.Errorf("write report: %v", err)
		}
	}
}

// optimizerBugs finds the expressions of an optimized variant whose libpcap
// program decides some intact packet differently from libpcap's unoptimized
// program, and returns the unoptimized program for each: the code
// generator's intent, which is what our compiler must match. libpcap 1.10's
// optimizer mishandles the live-handle VLAN code (SKF_AD_VLAN_TAG_PRESENT
// with the in-frame fallback; the-tcpdump-group/libpcap#1513): e.g. for
// "ip and vlan 100" it compares the tag-present flag, not the VLAN ID.
// Unoptimized variants return nil.
func optimizerBugs(t testing.TB, v fixture.Variant, f *fixture.File, pkts []pktgen.Packet) map[string][]bpf.RawInstruction {
	if !v.Optimize {
		return nil
	}
	nv := v
	nv.Optimize = false
	nf, err := fixture.Read(fixtureDir, nv)
	if err != nil {
		t.Fatal(err)
	}
	noopt := nf.Map()
	out := map[string][]bpf.RawInstruction{}
	for _, r := range f.Results {
		n, ok := noopt[r.Expr]
		if r.Err != "" || !ok || n.Err != "" {
			continue
		}
		for _, d := range diffPrograms(r.Prog, n.Prog, pkts, v.Live) {
			if !d.pkt.Truncated {
				out[r.Expr] = n.Prog
				break
			}
		}
	}
	return out
}

package bpfc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/bpfc/internal/bpfvm"
	"github.com/tuninetd/tuninetd/bpfc/internal/fixture"
	"github.com/tuninetd/tuninetd/bpfc/internal/pktgen"
)

// exprGen turns fuzz bytes into a filter expression from the tcpdump
// grammar. Every byte sequence yields some expression (running out of
// bytes reads zeros, which picks the simplest choices), mostly valid, so
// the fuzzer explores the compiler rather than the parser's error paths.
type exprGen struct {
	b []byte
	i int
}

func (g *exprGen) next() byte {
	if g.i >= len(g.b) {
		return 0
	}
	c := g.b[g.i]
	g.i++
	return c
}

func (g *exprGen) pick(n int) int { return int(g.next()) % n }

func (g *exprGen) one(xs ...string) string { return xs[g.pick(len(xs))] }

var (
	genV4    = []string{"10.0.0.1", "10.0.0.2", "1.2.3.4", "5.6.7.8", "192.168.1.1", "172.16.0.1", "224.0.0.251", "255.255.255.255", "4.3.2.1"}
	genV6    = []string{"2001:db8::1", "2001:db8::2", "fe80::1", "ff02::fb", "ff02::1", "::1"}
	genNets  = []string{"10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "10", "192.168.1", "224.0.0.0/4", "2001:db8::/32", "fe80::/10", "ff02::/16", "10.0.0.0 mask 255.0.0.0", "0.0.0.0/0"}
	genPorts = []string{"22", "53", "80", "443", "8080", "67", "68", "7000", "1024", "9899", "51820", "http", "domain", "ssh", "0", "65535"}
	genMACs  = []string{"02:00:00:00:00:01", "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:fb"}
)

func (g *exprGen) dir() string {
	return g.one("", "", "src ", "dst ", "src or dst ", "src and dst ")
}

// prim returns a primitive and the kind of bare value that may follow it
// through qualifier inheritance ("host A or B").
func (g *exprGen) prim() (string, func() string) {
	switch g.pick(18) {
	case 0, 1:
		v := func() string {
			if g.pick(3) == 0 {
				return genV6[g.pick(len(genV6))]
			}
			return genV4[g.pick(len(genV4))]
		}
		return g.one("", "", "ip ", "ip6 ", "arp ") + g.dir() + "host " + v(), v
	case 2:
		v := func() string { return genNets[g.pick(len(genNets))] }
		return g.one("", "ip ", "ip6 ") + g.dir() + "net " + v(), v
	case 3, 4:
		v := func() string { return genPorts[g.pick(len(genPorts))] }
		return g.one("", "tcp ", "udp ", "sctp ") + g.dir() + "port " + v(), v
	case 5:
		lo := g.pick(9000)
		return g.one("", "tcp ", "udp ") + g.dir() + fmt.Sprintf("portrange %d-%d", lo, lo+g.pick(100)), nil
	case 6:
		return g.one("tcp", "udp", "icmp", "icmp6", "sctp", "ip", "ip6", "arp", "rarp", "esp", "ah", "gre", "igmp", "pim", "vrrp", "stp", "ipx", "pppoes", "pppoes 1", "pppoed", "atalk", "decnet", "netbeui"), nil
	case 7:
		v := func() string {
			return fmt.Sprint(g.one("1", "6", "17", "47", "50", "58", "132", "\\tcp", "\\udp", "\\icmp"))
		}
		return g.one("ip proto ", "ip6 proto ", "proto ", "ip6 protochain ") + v(), v
	case 8:
		v := func() string { return genMACs[g.pick(len(genMACs))] }
		return "ether " + g.one("", "src ", "dst ") + "host " + v(), v
	case 9:
		return g.one("ether proto \\ip", "ether proto \\arp", "ether proto 0x86dd", "ether broadcast", "ether multicast", "broadcast", "multicast", "ip multicast", "ip6 multicast", "ip broadcast"), nil
	case 10:
		v := func() string { return g.one("100", "300", "0", "4095", "7") }
		if g.pick(2) == 0 {
			return "vlan", nil
		}
		return "vlan " + v(), v
	case 11:
		v := func() string { return g.one("100", "200", "0") }
		if g.pick(2) == 0 {
			return "mpls", nil
		}
		return "mpls " + v(), v
	case 12:
		n := g.pick(1600)
		return g.one("len > ", "len < ", "len = ", "less ", "greater ", "len >= ", "len <= ") + fmt.Sprint(n), nil
	case 13:
		return g.one("tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "tcp[tcpflags] == tcp-syn", "tcp[tcpflags] & tcp-rst != 0",
			"icmp[icmptype] == icmp-echo", "icmp6[icmp6type] == icmp6-echo", "icmp6[icmp6type] = icmp6-neighborsolicit"), nil
	default:
		return g.arth(0) + " " + g.one("=", "!=", ">", "<", ">=", "<=") + " " + g.arth(0), nil
	}
}

func (g *exprGen) arth(depth int) string {
	if depth > 2 {
		return fmt.Sprint(g.pick(300))
	}
	switch g.pick(7) {
	case 0, 1:
		return fmt.Sprint(g.one("0", "1", "2", "4", "5", "6", "17", "0x45", "0x1fff", "0xf0", "64", "255", "1000"))
	case 2:
		return "len"
	case 3, 4:
		proto := g.one("ip", "ip6", "tcp", "udp", "icmp", "ether", "icmp6", "arp", "sctp")
		off := fmt.Sprint(g.pick(44))
		if g.pick(4) == 0 {
			off = g.arth(depth + 1)
		}
		return proto + "[" + off + g.one("", ":1", ":2", ":4") + "]"
	case 5:
		return "(" + g.arth(depth+1) + ")"
	default:
		op := g.one("+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>")
		r := g.arth(depth + 1)
		if op == "/" || op == "%" || op == "<<" || op == ">>" {
			r = fmt.Sprint(1 + g.pick(31))
		}
		return g.arth(depth+1) + " " + op + " " + r
	}
}

func (g *exprGen) expr(depth int) string {
	if depth > 3 {
		p, _ := g.prim()
		return p
	}
	switch g.pick(9) {
	case 0, 1, 2:
		p, _ := g.prim()
		return p
	case 3:
		return g.expr(depth+1) + g.one(" and ", " && ") + g.expr(depth+1)
	case 4:
		return g.expr(depth+1) + g.one(" or ", " || ") + g.expr(depth+1)
	case 5:
		return g.one("not ", "!") + g.expr(depth+1)
	case 6:
		return "(" + g.expr(depth+1) + ")"
	default:
		p, more := g.prim()
		if more == nil {
			return p
		}
		return p + g.one(" or ", " and ", " and not ") + more()
	}
}

// FuzzDiffTcpdump compiles a generated expression with bpfc and with
// tcpdump -ddd (link type, optimizer and, when root, live or offline target
// from the input) and
// requires the same error-or-not outcome and the same decision on every
// packet of a corpus sample. Skipped without tcpdump or when its libpcap is
// not the one the fixtures were made with.
func FuzzDiffTcpdump(f *testing.F) {
	td, err := fixture.NewTcpdump(f.TempDir())
	if errors.Is(err, fixture.ErrNoTcpdump) {
		f.Skip("tcpdump not on PATH")
	}
	if err != nil {
		f.Fatal(err)
	}
	// Another libpcap may legitimately compile differently; the fixtures
	// record which one this package was proven against.
	ver, err := td.Version()
	if err != nil {
		f.Fatal(err)
	}
	fx, err := fixture.Read(fixtureDir, fixture.Variant{DLT: fixture.DLTEN10MB, Optimize: true})
	if err != nil {
		f.Fatal(err)
	}
	if fx.Version != ver && os.Getenv("BPFC_FUZZ_ANY_LIBPCAP") != "1" {
		f.Skipf("installed %q, fixtures from %q (BPFC_FUZZ_ANY_LIBPCAP=1 to fuzz anyway)", ver, fx.Version)
	}
	for _, s := range []string{
		"\x00\x00\x00", "\x01\x03\x00\x00\x04\x05", "\x02\x04\x07\x03\x00\x01\x02",
		"\x00\x07\x00\x03\x02\x01", "\x01\x04\x01\x00\x0a\x05\x0a\x01", "\x02\x03\x0e\x03\x00\x0c\x05",
		"\x00\x05\x0b\x01\x06\x02", "\x01\x03\x08\x00\x01\x04\x0d\x00", "\x00\x11\x03\x04\x02\x06\x01\x02\x03\x00",
		"\x02\x07\x01\x02\x01\x01\x00", "\x00\x04\x0a\x01\x0a", "\x01\x06\x05\x05\x00\x12\x04\x06\x02\x01\x03",
	} {
		f.Add([]byte(s))
	}
	_, unshareErr := exec.LookPath("unshare")
	canLive := os.Geteuid() == 0 && unshareErr == nil
	f.Fuzz(func(t *testing.T, in []byte) {
		g := &exprGen{b: in}
		dlt := []int{fixture.DLTEN10MB, fixture.DLTRAW, fixture.DLTLinuxSLL}[g.pick(3)]
		b := g.next()
		opt := b%2 == 0
		// A quarter of the inputs (when root with unshare) compile for a
		// live handle, judged on the live corpus with socket metadata.
		live := canLive && (b/2)%4 == 0
		expr := g.expr(0)
		// BPFC_FUZZ_SKIP lists comma-separated substrings of expressions
		// to leave out while a known gap is being fixed, so a fuzzing
		// session can find something new.
		for _, skip := range strings.Split(os.Getenv("BPFC_FUZZ_SKIP"), ",") {
			if skip != "" && strings.Contains(expr, skip) {
				t.Skip("skipped by BPFC_FUZZ_SKIP")
			}
		}
		v := fixture.Variant{Live: live, DLT: dlt, Optimize: opt}
		lib, err := td.Compile(context.Background(), expr, v)
		if err != nil {
			t.Fatal(err)
		}
		prog, cerr := bpfc.Compile(expr, options(v))
		switch {
		case lib.Err != "" && cerr != nil:
			return
		case strings.Contains(lib.Err, "rejects all packets") && os.Getenv("BPFC_DIFF_STRICT") != "1":
			// The error itself is TestDiffLibpcap's business (kind
			// rejects-all); here ours must at least reject everything.
			for _, p := range packetCorpus()[corpusKey{dlt, live}] {
				if r := bpfvm.Run(prog, p.Data, p.WireLen, vmMeta(&p, live)); r.Ret != 0 {
					t.Fatalf("%s %q: libpcap: %s; ours accepts %s:\n%s", v, expr, lib.Err, &p, listing(prog))
				}
			}
			return
		case lib.Err != "":
			t.Fatalf("%s %q: libpcap errors %q, ours compiles:\n%s", v, expr, lib.Err, listing(prog))
		case cerr != nil:
			t.Fatalf("%s %q: ours errors %v, libpcap compiles:\n%s", v, expr, cerr, listing(lib.Prog))
		}
		all := packetCorpus()[corpusKey{dlt, live}]
		var sample []pktgen.Packet
		for i := g.i % 4; i < len(all); i += 4 {
			sample = append(sample, all[i])
		}
		var diffs []packetDiff
		ref := lib.Prog
		if live && opt && len(diffPrograms(prog, ref, sample, live)) > 0 {
			// libpcap#1513: where libpcap's optimizer mangles the live
			// VLAN code, its unoptimized program is the reference (as in
			// optimizerBugs).
			n, err := td.Compile(context.Background(), expr, fixture.Variant{Live: true, DLT: dlt})
			if err != nil {
				t.Fatal(err)
			}
			if n.Err == "" && intactDiffers(lib.Prog, n.Prog, sample, live) {
				ref = n.Prog
			}
		}
		for _, d := range diffPrograms(prog, ref, sample, live) {
			// As in TestDiffLibpcap, truncated packets count only in
			// strict mode.
			if !d.pkt.Truncated || os.Getenv("BPFC_DIFF_STRICT") == "1" {
				diffs = append(diffs, d)
			}
		}
		if len(diffs) > 0 {
			var sb strings.Builder
			for i, d := range diffs {
				if i == 3 {
					break
				}
				fmt.Fprintf(&sb, "  %s: ours %d, libpcap %d\n", d.pkt, d.ours.Ret, d.theirs.Ret)
			}
			t.Fatalf("%s %q: %d packets differ:\n%s  ours:\n%s  libpcap:\n%s", v, expr, len(diffs), sb.String(), listing(prog), listing(ref))
		}
	})
}

// TestExprGenCoversGrammar keeps the generator honest: over a range of
// inputs it must produce each construct at least once.
func TestExprGenCoversGrammar(t *testing.T) {
	seen := map[string]bool{}
	want := []string{" and ", " or ", "not ", "(", "host ", "net ", "port ", "portrange ", "vlan", "mpls", "len", "[", "ether ", "proto "}
	for i := 0; i < 3000; i++ {
		in := []byte{byte(i), byte(i >> 3), byte(i * 7), byte(i * 13), byte(i >> 1), byte(i * 3), byte(i * 5), byte(i * 11)}
		g := &exprGen{b: in}
		g.pick(3)
		g.pick(2)
		e := g.expr(0)
		for _, w := range want {
			if strings.Contains(e, w) {
				seen[w] = true
			}
		}
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("generator never produced %q", w)
		}
	}
}

// intactDiffers reports whether two programs decide some untruncated packet
// differently.
func intactDiffers(a, b []bpf.RawInstruction, pkts []pktgen.Packet, live bool) bool {
	for _, d := range diffPrograms(a, b, pkts, live) {
		if !d.pkt.Truncated {
			return true
		}
	}
	return false
}

package bpfc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func mustCompile(t *testing.T, expr string, opt Options) []bpf.RawInstruction {
	t.Helper()
	p, err := Compile(expr, opt)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	return p
}

// TestPrecedenceAndInheritance checks the grammar by comparing the
// unoptimized programs of expressions that must mean the same.
func TestPrecedenceAndInheritance(t *testing.T) {
	same := [][2]string{
		{"host 1.2.3.4 or 5.6.7.8", "host 1.2.3.4 or host 5.6.7.8"},
		{"not host 1.2.3.4 and 5.6.7.8", "(not host 1.2.3.4) and host 5.6.7.8"},
		{"! host 1.2.3.4 and 5.6.7.8", "(not host 1.2.3.4) and host 5.6.7.8"},
		{"tcp dst port 80 or 443", "tcp dst port 80 or tcp dst port 443"},
		{"tcp dst port http or https", "tcp dst port 80 or tcp dst port 443"},
		{"udp or tcp and port 80", "(udp or tcp) and port 80"},
		{"tcp and port 80 or udp", "(tcp and port 80) or udp"},
		{"not tcp and udp", "(not tcp) and udp"},
		{"tcp && !udp || icmp", "(tcp and not udp) or icmp"},
		{"host 1.2.3.4 and not 5.6.7.8", "host 1.2.3.4 and not host 5.6.7.8"},
		{"host 1.2.3.4 and (5.6.7.8 or 9.9.9.9)", "host 1.2.3.4 and (host 5.6.7.8 or host 9.9.9.9)"},
		{"src net 10.0.0.0/8 or 192.168.0.0/16", "src net 10.0.0.0/8 or src net 192.168.0.0/16"},
		{"net 10.0.0.0 mask 255.0.0.0", "net 10.0.0.0/8"},
		{"net 192.168.1", "net 192.168.1.0/24"},
		{"net 10", "net 10.0.0.0/8"},
		{"ip proto \\tcp", "ip proto 6"},
		{"ip proto \\gre", "ip proto 47"},
		{"ether proto \\ip6", "ether proto 0x86dd"},
		{"port domain", "port 53"},
		{"tcp[tcpflags] & tcp-syn != 0", "tcp[13] & 2 != 0"},
		{"icmp[icmptype] == icmp-echo", "icmp[0] = 8"},
		{"2 + 3 * 4 = 14", "2 + (3 * 4) = 14"},
		{"1 | 2 & 3 = 3", "1 | (2 & 3) = 3"},
		{"1 - 2 - 3 = 0", "(1 - 2) - 3 = 0"},
		{"src or dst host 1.2.3.4", "host 1.2.3.4"},
		{"ether host 02:00:00:00:00:01", "ether host 0200.0000.0001"},
		{"((tcp))", "tcp"},
	}
	opt := Options{NoOptimize: true, Target: Offline}
	for _, c := range same {
		a, b := mustCompile(t, c[0], opt), mustCompile(t, c[1], opt)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%q and %q compile differently", c[0], c[1])
		}
	}
	differ := [][2]string{
		{"! host 1.2.3.4", "host 1.2.3.4"},
		{"udp or tcp and port 80", "udp or (tcp and port 80)"},
		{"not tcp and udp", "not (tcp and udp)"},
	}
	for _, c := range differ {
		a, b := mustCompile(t, c[0], opt), mustCompile(t, c[1], opt)
		if reflect.DeepEqual(a, b) {
			t.Errorf("%q and %q compile the same", c[0], c[1])
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		expr string
		lt   LinkType
		tgt  Target
		want string
	}{
		{"tcp port", 0, Live, `bpfc: 1:9: expected a port number or name after "port", found end of expression`},
		{"host 1.2.3.4 and port", 0, Live, `bpfc: 1:22: expected a port number or name after "port", found end of expression`},
		{"ip proto tcp", 0, Live, `bpfc: 1:10: expected a protocol number or name after "proto", found "tcp"`},
		{"net 10.1.2.3/8", 0, Live, `bpfc: 1:5: non-network bits set in "10.1.2.3/8"`},
		{"net 10.0.0.1 mask 255.0.0.0", 0, Live, `bpfc: 1:5: non-network bits set in "10.0.0.1 mask 255.0.0.0"`},
		{"host 10.0.0.0/8", 0, Live, "bpfc: 1:6: Mask syntax for networks only"},
		{"10.0.0.0/8", 0, Live, `bpfc: 1:1: expected a qualifier (host, net, port, ...) before "10.0.0.0"`},
		{"(host 1.2.3.4) and 5.6.7.8", 0, Live, "bpfc: 1:20: expected a qualifier (host, net, port, ...) before this address or number"},
		{"port 70000", 0, Live, "bpfc: 1:6: illegal port number 70000 > 65535"},
		{"port nosuchservice", 0, Live, "bpfc: 1:6: unknown port 'nosuchservice'"},
		{"udp port ssh", 0, Live, "bpfc: 1:10: port 'ssh' is tcp"},
		{"host example.com", 0, Live, "bpfc: 1:6: unknown host 'example.com' (names are not resolved)"},
		{"ip[0:3] = 1", 0, Live, "bpfc: 1:6: data size must be 1, 2, or 4"},
		{"ip[1] / 0 = 1", 0, Live, "bpfc: 1:7: division by zero"},
		{"ip[1] << 33 = 1", 0, Live, "bpfc: 1:7: shift by more than 31 bits"},
		{"tcp and", 0, Live, `bpfc: 1:8: expected an expression after "and"`},
		{"(tcp", 0, Live, `bpfc: 1:5: expected ")", found end of expression`},
		{"tcp)", 0, Live, `bpfc: 1:4: unbalanced ")"`},
		{"tcp udp", 0, Live, `bpfc: 1:5: expected "and", "or" or end of expression, found "udp"`},
		{"vlan 5000", 0, Live, "bpfc: 1:1: VLAN tag 5000 greater than maximum 4095"},
		{"ip host 10.0.0.1 and ip6", 0, Live, `bpfc: 1:18: expression rejects all packets: no packet matches both sides of "and"`},
		{"ether host 02:00:00:00:00:01", RAW, Live, "bpfc: 1:12: ethernet addresses are not supported on link type RAW (raw IP)"},
		{"ether src 02:00:00:00:00:01", LinuxSLL, Live, "bpfc: 1:11: ethernet addresses are not supported on link type LINUX_SLL (Linux cooked)"},
		{"vlan", RAW, Live, "bpfc: 1:1: no VLAN support for link type RAW (raw IP)"},
		{"mpls", LinuxSLL, Live, "bpfc: 1:1: no MPLS support for link type LINUX_SLL (Linux cooked)"},
		{"broadcast", RAW, Live, "bpfc: 1:1: link-layer broadcast is not supported on link type RAW (raw IP) (not a broadcast link)"},
		{"inbound", EN10MB, Offline, "bpfc: 1:1: inbound/outbound not supported on link type EN10MB (Ethernet) when reading savefiles"},
		{"arp", RAW, Live, "bpfc: 1:1: expression rejects all packets"},
		{"tcp\nand port", 0, Live, `bpfc: 2:9: expected a port number or name after "port", found end of expression`},
		{"tcp $ 1", 0, Live, `bpfc: 1:5: unexpected character "$"`},
	}
	for _, c := range cases {
		_, err := Compile(c.expr, Options{LinkType: c.lt, Target: c.tgt})
		if err == nil {
			t.Errorf("Compile(%q): no error, want %q", c.expr, c.want)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Compile(%q): error %T is not *Error", c.expr, err)
		}
		if err.Error() != c.want {
			t.Errorf("Compile(%q):\n got %s\nwant %s", c.expr, err, c.want)
		}
	}
}

func TestEmptyAndAck(t *testing.T) {
	p := mustCompile(t, "", Options{})
	if len(p) != 1 || p[0].Op != unix.BPF_RET|unix.BPF_K || p[0].K != DefaultSnaplen {
		t.Errorf("empty filter = %v", p)
	}
	p = mustCompile(t, "", Options{Snaplen: 96})
	if p[0].K != 96 {
		t.Errorf("snaplen not used: %v", p)
	}
	var zero *Filter
	if _, err := zero.Compile(Options{}); err != nil {
		t.Errorf("nil filter: %v", err)
	}
	f, err := Parse("! host 1.2.3.4")
	if err != nil {
		t.Fatal(err)
	}
	if f.String() != "! host 1.2.3.4" {
		t.Errorf("String() = %q", f.String())
	}
	ack := f.AndTCPAck()
	for _, lt := range []LinkType{EN10MB, RAW, LinuxSLL} {
		if _, err := ack.Compile(Options{LinkType: lt}); err != nil {
			t.Errorf("AndTCPAck on %v: %v", lt, err)
		}
	}
	if !strings.Contains(ack.String(), "(! host 1.2.3.4) and") {
		t.Errorf("AndTCPAck().String() = %q", ack.String())
	}
	if _, err := zero.AndTCPAck().Compile(Options{}); err != nil {
		t.Errorf("nil AndTCPAck: %v", err)
	}
}

// TestListing checks the tcpdump -d/-dd/-ddd formats against tcpdump 4.99.3 output.
func TestListing(t *testing.T) {
	p := mustCompile(t, "tcp port 22", Options{Target: Offline, NoOptimize: true})
	var sb strings.Builder
	if err := Fprint(&sb, p[:2], Listing); err != nil {
		t.Fatal(err)
	}
	want := "(000) ldh      [12]\n(001) jeq      #0x86dd          jt 2\tjf 8\n"
	if sb.String() != want {
		t.Errorf("listing:\n%q\nwant\n%q", sb.String(), want)
	}
	sb.Reset()
	Fprint(&sb, p[:2], CArray)
	if want := "{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 6, 0x000086dd },\n"; sb.String() != want {
		t.Errorf("C array:\n%q\nwant\n%q", sb.String(), want)
	}
	sb.Reset()
	Fprint(&sb, p[:2], Decimal)
	if want := "2\n40 0 0 12\n21 0 6 34525\n"; sb.String() != want {
		t.Errorf("decimal:\n%q\nwant\n%q", sb.String(), want)
	}
	imgs := map[bpf.RawInstruction]string{
		{Op: unix.BPF_RET | unix.BPF_K, K: 262144}:                   "(000) ret      #262144",
		{Op: unix.BPF_MISC | unix.BPF_TAX}:                           "(000) tax      ",
		{Op: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, K: 14}:        "(000) ldxb     4*([14]&0xf)",
		{Op: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 0xfffff030}: "(000) ldb      [vlanp]",
		{Op: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 0xfffff004}: "(000) ldh      [type]",
		{Op: unix.BPF_JMP | unix.BPF_JA, K: 1}:                       "(000) ja       2",
		{Op: unix.BPF_LD | unix.BPF_LEN}:                             "(000) ld       #pktlen",
		{Op: unix.BPF_ALU | unix.BPF_ADD | unix.BPF_K, K: 4}:         "(000) add      #4",
		{Op: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: 15}:        "(000) and      #0xf",
		{Op: unix.BPF_JMP | unix.BPF_JGT | unix.BPF_X, Jt: 1}:        "(000) jgt      x                jt 2\tjf 1",
	}
	for in, want := range imgs {
		if got := Image(in, 0); got != want {
			t.Errorf("Image(%+v) = %q, want %q", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	ret := bpf.RawInstruction{Op: unix.BPF_RET | unix.BPF_K}
	bad := map[string][]bpf.RawInstruction{
		"empty":       nil,
		"no return":   {{Op: unix.BPF_LD | unix.BPF_IMM}},
		"jump past":   {{Op: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1}, ret},
		"ja past":     {{Op: unix.BPF_JMP | unix.BPF_JA, K: 1}, ret},
		"mem index":   {{Op: unix.BPF_ST, K: 16}, ret},
		"div by zero": {{Op: unix.BPF_ALU | unix.BPF_DIV | unix.BPF_K}, ret},
		"too long":    make([]bpf.RawInstruction, MaxInsns+1),
	}
	for name, p := range bad {
		if err := Validate(p); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
	if err := Validate([]bpf.RawInstruction{{Op: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: 1}, ret, ret}); err != nil {
		t.Errorf("valid program rejected: %v", err)
	}
}

// fixture is one libpcap program from testdata/bpfc (written by tcpdump -ddd).
type fixture struct {
	expr string
	prog []bpf.RawInstruction
	err  string
}

func readFixtures(t *testing.T, name string) []fixture {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "bpfc", name))
	if err != nil {
		t.Fatalf("libpcap fixtures: %v", err)
	}
	defer f.Close()
	var out []fixture
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		kind, val, _ := strings.Cut(sc.Text(), "\t")
		switch kind {
		case "expr":
			out = append(out, fixture{expr: val})
		case "error":
			out[len(out)-1].err = val
		case "prog":
			var prog []bpf.RawInstruction
			for _, in := range strings.Split(val, ";") {
				var a [4]uint64
				for i, fld := range strings.Fields(in) {
					a[i], _ = strconv.ParseUint(fld, 10, 32)
				}
				prog = append(prog, bpf.RawInstruction{Op: uint16(a[0]), Jt: uint8(a[1]), Jf: uint8(a[2]), K: uint32(a[3])})
			}
			out[len(out)-1].prog = prog
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUnoptimizedEqualsLibpcap: with the optimizer off, the program must be
// libpcap's, instruction for instruction, and we must fail where it fails.
func TestUnoptimizedEqualsLibpcap(t *testing.T) {
	for _, v := range []struct {
		file string
		opt  Options
	}{
		{"offline-EN10MB-noopt.txt", Options{LinkType: EN10MB, Target: Offline, NoOptimize: true}},
		{"offline-RAW-noopt.txt", Options{LinkType: RAW, Target: Offline, NoOptimize: true}},
		{"offline-LINUX_SLL-noopt.txt", Options{LinkType: LinuxSLL, Target: Offline, NoOptimize: true}},
		{"live-EN10MB-noopt.txt", Options{LinkType: EN10MB, Target: Live, NoOptimize: true}},
	} {
		fx := readFixtures(t, v.file)
		same, bothErr, mismatch, weErr, theyErr := 0, 0, 0, 0, 0
		for _, f := range fx {
			got, err := Compile(f.expr, v.opt)
			switch {
			case err != nil && f.err != "":
				bothErr++
			case err != nil:
				weErr++
				t.Logf("%s: %q: we fail (%v), libpcap compiles", v.file, f.expr, err)
			case f.err != "":
				theyErr++
				t.Errorf("%s: %q: libpcap fails (%s), we compile", v.file, f.expr, f.err)
			case reflect.DeepEqual(got, f.prog):
				same++
			default:
				mismatch++
				t.Errorf("%s: %q: program differs from libpcap's", v.file, f.expr)
			}
		}
		t.Logf("%s: %d identical, %d both fail, %d differ, %d only we fail, %d only libpcap fails",
			v.file, same, bothErr, mismatch, weErr, theyErr)
		if limit := len(fx) / 10; weErr > limit {
			t.Errorf("%s: %d expressions libpcap compiles fail here (limit %d)", v.file, weErr, limit)
		}
	}
}

// TestOptimizedLength compares optimized program lengths with libpcap's on
// the shared corpus (offline target, all three link types) and requires
// ours to be no longer for at least 90% of the (expression, link type)
// pairs libpcap compiles.
func TestOptimizedLength(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "testdata", "bpfc", "libpcap-1.10.3-lengths.tsv"))
	if err != nil {
		t.Fatalf("lengths table: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	lts := []LinkType{EN10MB, RAW, LinuxSLL}
	total, ok := 0, 0
	dist := map[int]int{} // our length minus libpcap's
	perLT := map[LinkType][2]int{}
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) < 4 {
			continue
		}
		for i, lt := range lts {
			want, err := strconv.Atoi(fields[1+i])
			if err != nil {
				continue // libpcap fails on it
			}
			total++
			c := perLT[lt]
			c[1]++
			prog, err := Compile(fields[0], Options{LinkType: lt, Target: Offline})
			if err != nil {
				t.Logf("%v %q: %v (libpcap: %d insns)", lt, fields[0], err, want)
				perLT[lt] = c
				continue
			}
			d := len(prog) - want
			dist[d]++
			if d <= 0 {
				ok++
				c[0]++
			} else {
				t.Logf("%v %q: %d insns, libpcap %d", lt, fields[0], len(prog), want)
			}
			perLT[lt] = c
		}
	}
	var keys []int
	for k := range dist {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, " %+d:%d", k, dist[k])
	}
	t.Logf("length minus libpcap's (delta:count):%s", sb.String())
	for _, lt := range lts {
		t.Logf("%v: %d/%d no longer than libpcap", lt, perLT[lt][0], perLT[lt][1])
	}
	t.Logf("total: %d/%d (%.1f%%) no longer than libpcap", ok, total, 100*float64(ok)/float64(total))
	if ok*10 < total*9 {
		t.Errorf("only %d of %d programs are no longer than libpcap's (want >= 90%%)", ok, total)
	}
}

// TestOptimizerKeepsVerdicts runs optimized and unoptimized programs on
// generated packets; they must agree on every packet.
func TestOptimizerKeepsVerdicts(t *testing.T) {
	exprs := readCorpus(t)
	pkts, truncated := testPackets()
	for _, lt := range []LinkType{EN10MB, RAW, LinuxSLL} {
		for _, e := range exprs {
			opt := Options{LinkType: lt, Target: Offline}
			a, errA := Compile(e, opt)
			opt.NoOptimize = true
			b, errB := Compile(e, opt)
			if errA != nil || errB != nil {
				continue
			}
			va, err := bpf.NewVM(toInsns(t, a))
			if err != nil {
				t.Fatalf("%q: %v", e, err)
			}
			vb, err := bpf.NewVM(toInsns(t, b))
			if err != nil {
				t.Fatalf("%q: %v", e, err)
			}
			for i, p := range pkts[lt] {
				if len(p) < 40 || truncated[string(p)] {
					// like libpcap's, the optimizer drops loads whose
					// value is not needed, so a packet cut short can
					// be decided differently: compare intact ones only
					continue
				}
				ra, errA := va.Run(p)
				rb, errB := vb.Run(p)
				if errA != nil || errB != nil {
					break
				}
				if ra != rb {
					t.Errorf("%v %q packet %d: optimized %d, unoptimized %d", lt, e, i, ra, rb)
					break
				}
			}
		}
	}
}

func toInsns(t *testing.T, p []bpf.RawInstruction) []bpf.Instruction {
	t.Helper()
	ins, ok := bpf.Disassemble(p)
	if !ok {
		t.Fatalf("cannot disassemble %v", p)
	}
	return ins
}

func readCorpus(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "bpfc", "corpus.txt"))
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// testPackets builds a small packet set per link type: IPv4/IPv6 with
// TCP/UDP/ICMP, fragments, ARP, VLAN tags, broadcasts, truncations.
func testPackets() (map[LinkType][][]byte, map[string]bool) {
	truncated := map[string]bool{}
	ip4 := func(proto byte, frag uint16, src, dst [4]byte, payload []byte) []byte {
		h := []byte{0x45, 0, 0, 0, 0, 0, byte(frag >> 8), byte(frag), 64, proto, 0, 0}
		h = append(h, src[:]...)
		h = append(h, dst[:]...)
		n := len(h) + len(payload)
		h[2], h[3] = byte(n>>8), byte(n)
		return append(h, payload...)
	}
	ip6 := func(next byte, src, dst byte, payload []byte) []byte {
		h := make([]byte, 40)
		h[0] = 0x60
		h[4], h[5] = byte(len(payload)>>8), byte(len(payload))
		h[6], h[7] = next, 64
		h[8], h[23] = 0x20, src
		h[9], h[10], h[11] = 0x01, 0x0d, 0xb8
		h[24], h[39] = 0xfe, dst
		h[25] = 0x80
		return append(h, payload...)
	}
	tcp := func(sp, dp uint16, flags byte) []byte {
		return []byte{byte(sp >> 8), byte(sp), byte(dp >> 8), byte(dp), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 1, 0, 0, 0, 0, 0, 'G', 'E', 'T', ' '}
	}
	udp := func(sp, dp uint16) []byte {
		return []byte{byte(sp >> 8), byte(sp), byte(dp >> 8), byte(dp), 0, 12, 0, 0, 0x12, 0x34, 0x56, 0x78}
	}
	var l3 [][]byte
	addrs := [][4]byte{{10, 0, 0, 1}, {10, 0, 0, 2}, {1, 2, 3, 4}, {5, 6, 7, 8}, {192, 168, 1, 9}, {224, 0, 0, 251}, {255, 255, 255, 255}, {172, 16, 0, 1}}
	for i, a := range addrs {
		b := addrs[(i+3)%len(addrs)]
		for _, port := range []uint16{22, 53, 80, 443, 6003, 7000, 51820, 67} {
			for _, fl := range []byte{0x02, 0x12, 0x10, 0x04} {
				l3 = append(l3, ip4(6, 0, a, b, tcp(port, 1024+uint16(i), fl)))
			}
			l3 = append(l3, ip4(17, 0, b, a, udp(1024, port)))
			l3 = append(l3, ip4(132, 0, a, b, udp(port, port)))
			l3 = append(l3, ip4(6, 0x0010, a, b, tcp(port, port, 2))) // non-first fragment
		}
		l3 = append(l3, ip4(1, 0, a, b, []byte{8, 0, 0, 0}), ip4(1, 0, a, b, []byte{0, 0, 0, 0}), ip4(47, 0, a, b, nil), ip4(50, 0, a, b, nil))
		for _, port := range []uint16{22, 53, 80, 443} {
			l3 = append(l3, ip6(6, byte(i), byte(i+1), tcp(port, 999, 0x02)), ip6(17, byte(i), 0xfb, udp(port, 53)))
			fragHdr := append([]byte{6, 0, 0, 0, 0, 0, 0, 1}, tcp(port, 80, 2)...)
			l3 = append(l3, ip6(44, 1, 1, fragHdr))
		}
		l3 = append(l3, ip6(58, 1, 2, []byte{128, 0, 0, 0}), ip6(58, 1, 2, []byte{133, 0, 0, 0}))
	}
	arp := []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 4, 3, 2, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1}
	out := map[LinkType][][]byte{}
	for _, p := range l3 {
		et := []byte{0x08, 0x00}
		if p[0]>>4 == 6 {
			et = []byte{0x86, 0xdd}
		}
		eth := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1}, et...)
		out[EN10MB] = append(out[EN10MB], append(append([]byte{}, eth...), p...))
		v := append([]byte{1, 0, 0x5e, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x81, 0x00, 0, 100}, et...)
		out[EN10MB] = append(out[EN10MB], append(v, p...))
		sll := append([]byte{0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, et...)
		out[LinuxSLL] = append(out[LinuxSLL], append(sll, p...))
		out[RAW] = append(out[RAW], p, p[:len(p)/2])
		truncated[string(p[:len(p)/2])] = true
	}
	out[EN10MB] = append(out[EN10MB], append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 8, 6}, arp...))
	out[LinuxSLL] = append(out[LinuxSLL], append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 8, 6}, arp...))
	n := len(out[EN10MB])
	for i := 0; i < n; i += 7 {
		p := out[EN10MB][i]
		out[EN10MB] = append(out[EN10MB], p[:len(p)*2/3])
		truncated[string(p[:len(p)*2/3])] = true
	}
	return out, truncated
}

// The compiler's ancillary loads land where x/net/bpf assembles them.
func TestAncillaryMatchesXNetBPF(t *testing.T) {
	for _, e := range []bpf.Extension{bpf.ExtProto, bpf.ExtType, bpf.ExtVLANTag, bpf.ExtVLANTagPresent} {
		ins, err := bpf.LoadExtension{Num: e}.Assemble()
		if err != nil {
			t.Fatal(err)
		}
		if got := ancillary(e); got != ins.K {
			t.Errorf("ancillary(%d) = %#x, x/net/bpf assembles %#x", e, got, ins.K)
		}
	}
}

// Errors point at the token that is wrong, say what was expected there,
// and draw a caret under it.
func TestErrorCaret(t *testing.T) {
	cases := []struct {
		expr  string
		lt    LinkType
		want  string
		caret string
	}{
		{"ether host zz:zz", 0,
			`bpfc: 1:12: expected an Ethernet address (xx:xx:xx:xx:xx:xx) after "ether host", found "zz:zz"`,
			"ether host zz:zz\n           ^~~~~"},
		{"(ether src 1:2:3)", 0,
			`bpfc: 1:12: expected an Ethernet address (xx:xx:xx:xx:xx:xx) after "ether src", found "1:2:3"`,
			"(ether src 1:2:3)\n           ^~~~~"},
		{"portrange 10-", 0,
			`bpfc: 1:11: expected a port range (N-M) after "portrange", found "10-"`,
			"portrange 10-\n          ^~~"},
		{"tcp port 80-", 0,
			`bpfc: 1:10: expected a port number or name after "tcp port", found "80-"`,
			"tcp port 80-\n         ^~~"},
		{"net 10.0.0.0/33", 0,
			`bpfc: 1:14: expected an IPv4 mask length of 0 to 32 after "/", found 33`,
			"net 10.0.0.0/33\n             ^~"},
		{"net ::/129", 0,
			`bpfc: 1:8: expected an IPv6 mask length of 0 to 128 after "/", found 129`,
			"net ::/129\n       ^~~"},
		{"tcp and udp", 0,
			`bpfc: 1:5: expression rejects all packets: no packet matches both sides of "and"`,
			"tcp and udp\n    ^~~"},
		{"port 53 and (tcp && udp)", 0,
			`bpfc: 1:18: expression rejects all packets: no packet matches both sides of "&&"`,
			"port 53 and (tcp && udp)\n                 ^~"},
		{"arp", RAW, "bpfc: 1:1: expression rejects all packets", "arp\n^~~"},
		{"tcp\n\tand port", 0,
			`bpfc: 2:10: expected a port number or name after "port", found end of expression`,
			"\tand port\n\t        ^"},
		{"tcp $ 1", 0, `bpfc: 1:5: unexpected character "$"`, "tcp $ 1\n    ^"},
		{"tcp", LinkType(9999), "bpfc: link type DLT(9999) is not supported", ""},
	}
	for _, c := range cases {
		_, err := Compile(c.expr, Options{LinkType: c.lt})
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Compile(%q): error %v, want an *Error", c.expr, err)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("Compile(%q):\n got %s\nwant %s", c.expr, err, c.want)
		}
		if got := e.Caret(c.expr); got != c.caret {
			t.Errorf("Caret(%q):\n got %q\nwant %q", c.expr, got, c.caret)
		}
	}
}

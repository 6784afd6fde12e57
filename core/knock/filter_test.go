package knock

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

// Packets built by hand: the bpfc corpus generator is internal to bpfc.

func ipv4Packet(src, dst netip.Addr, proto uint8, fragOff uint16, l4 []byte) []byte {
	h := make([]byte, 20, 20+len(l4))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(h[6:], fragOff)
	h[8] = 64
	h[9] = proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	return append(h, l4...)
}

// ipv6Packet puts an 8-byte hop-by-hop header in front of l4 when ext.
func ipv6Packet(src, dst netip.Addr, proto uint8, ext bool, l4 []byte) []byte {
	h := make([]byte, 40, 48+len(l4))
	h[0] = 0x60
	nh := proto
	var e []byte
	if ext {
		e = []byte{proto, 0, 1, 4, 0, 0, 0, 0} // PadN option
		nh = 0
	}
	binary.BigEndian.PutUint16(h[4:], uint16(len(e)+len(l4)))
	h[6] = nh
	h[7] = 64
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(append(h, e...), l4...)
}

func tcpHeader(sport, dport uint16, flags uint8) []byte {
	t := make([]byte, 20)
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	t[12] = 5 << 4
	t[13] = flags
	binary.BigEndian.PutUint16(t[14:], 1024)
	return t
}

func udpHeader(sport, dport uint16) []byte {
	u := make([]byte, 8)
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], 8)
	return u
}

// frame wraps an IP packet in the link header of lt.
func frame(lt bpfc.LinkType, ip []byte) []byte {
	et := uint16(0x0800)
	if ip[0]>>4 == 6 {
		et = 0x86dd
	}
	switch lt {
	case bpfc.EN10MB:
		h := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0, 0}
		binary.BigEndian.PutUint16(h[12:], et)
		return append(h, ip...)
	case bpfc.LinuxSLL:
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], []byte{2, 0, 0, 0, 0, 2})
		binary.BigEndian.PutUint16(h[14:], et)
		return append(h, ip...)
	}
	return ip
}

var linkTypes = []bpfc.LinkType{bpfc.EN10MB, bpfc.RAW, bpfc.LinuxSLL}

type vmFilter map[bpfc.LinkType]*bpf.VM

func compileVMs(t *testing.T, f *Filter) vmFilter {
	t.Helper()
	vms := make(vmFilter)
	for _, lt := range linkTypes {
		raw, err := f.Compile(lt)
		if err != nil {
			t.Fatalf("compile %v: %v\n%s", lt, err, f.Expr)
		}
		insns, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatalf("%v: program does not disassemble", lt)
		}
		vm, err := bpf.NewVM(insns)
		if err != nil {
			t.Fatalf("%v: %v", lt, err)
		}
		vms[lt] = vm
	}
	return vms
}

func (v vmFilter) pass(t *testing.T, lt bpfc.LinkType, pkt []byte) bool {
	t.Helper()
	n, err := v[lt].Run(pkt)
	if err != nil {
		t.Fatalf("%v: run: %v", lt, err)
	}
	if n != 0 && n != Snaplen {
		t.Fatalf("%v: accept returned %d, want snaplen %d", lt, n, Snaplen)
	}
	return n != 0
}

var (
	local4  = netip.MustParseAddr("192.0.2.1")
	local6  = netip.MustParseAddr("2001:db8::1")
	other4  = netip.MustParseAddr("192.0.2.99")
	other6  = netip.MustParseAddr("2001:db8::99")
	remote4 = netip.MustParseAddr("198.51.100.7")
	remote6 = netip.MustParseAddr("2001:db8:1::7")
)

func exampleEvents(t testing.TB) []Event {
	return []Event{
		mustEvent(t, "SSH", "udp:1234 tcp:543 tcp:543:i tcp:123:frap tcp:434:x tcp:2345:n", 10e9, 0),
		mustEvent(t, "SSH2", "tcp:2222:s tcp:2222:fpu tcp:2222:n tcp:2222:ar", 10e9, 0),
	}
}

func TestFilterExpression(t *testing.T) {
	f := NewFilter(exampleEvents(t), []netip.Addr{local6, local4, netip.MustParseAddr("::ffff:192.0.2.1"), netip.MustParseAddr("2001:db8::1%eth0")})
	want := "(dst host 192.0.2.1 or dst host 2001:db8::1) and (" +
		"(udp dst port 1234) or (tcp dst port 543) or " +
		"(ip and (((tcp dst port 543 or tcp dst port 2222 or tcp dst port 2345) and tcp[tcpflags] & 0x3f == 0x00) or " +
		"((tcp dst port 2222) and tcp[tcpflags] & 0x3f == 0x02) or " +
		"((tcp dst port 2222) and tcp[tcpflags] & 0x3f == 0x14) or " +
		"((tcp dst port 123) and tcp[tcpflags] & 0x3f == 0x1d) or " +
		"((tcp dst port 2222) and tcp[tcpflags] & 0x3f == 0x29) or " +
		"((tcp dst port 434) and tcp[tcpflags] & 0x3f == 0x3f))) or " +
		"(ip6[6] == 6 and (((tcp dst port 543 or tcp dst port 2222 or tcp dst port 2345) and ip6[53] & 0x3f == 0x00) or " +
		"((tcp dst port 2222) and ip6[53] & 0x3f == 0x02) or " +
		"((tcp dst port 2222) and ip6[53] & 0x3f == 0x14) or " +
		"((tcp dst port 123) and ip6[53] & 0x3f == 0x1d) or " +
		"((tcp dst port 2222) and ip6[53] & 0x3f == 0x29) or " +
		"((tcp dst port 434) and ip6[53] & 0x3f == 0x3f))))"
	if f.Expr != want {
		t.Fatalf("expression\n got %s\nwant %s", f.Expr, want)
	}
}

// TestFilterPassesOnlyCandidates runs the compiled program for every link
// type over hand-picked knocks and near misses.
func TestFilterPassesOnlyCandidates(t *testing.T) {
	f := NewFilter(exampleEvents(t), []netip.Addr{local4, local6})
	vms := compileVMs(t, f)
	type pk struct {
		desc string
		ip   []byte
		want bool
	}
	var cases []pk
	for _, fam := range []struct {
		name                 string
		local, other, remote netip.Addr
	}{{"v4", local4, other4, remote4}, {"v6", local6, other6, remote6}} {
		ip := func(proto uint8, l4 []byte) []byte {
			if fam.name == "v4" {
				return ipv4Packet(fam.remote, fam.local, proto, 0, l4)
			}
			return ipv6Packet(fam.remote, fam.local, proto, false, l4)
		}
		to := func(dst netip.Addr, proto uint8, l4 []byte) []byte {
			if fam.name == "v4" {
				return ipv4Packet(fam.remote, dst, proto, 0, l4)
			}
			return ipv6Packet(fam.remote, dst, proto, false, l4)
		}
		n := fam.name + " "
		cases = append(cases,
			pk{n + "udp:1234", ip(17, udpHeader(40000, 1234)), true},
			pk{n + "tcp:543 no flags", ip(6, tcpHeader(40000, 543, 0)), true},
			pk{n + "tcp:543 any flags (i)", ip(6, tcpHeader(40000, 543, 0x12)), true},
			pk{n + "tcp:123 FIN RST PSH ACK", ip(6, tcpHeader(40000, 123, 0x1d)), true},
			pk{n + "tcp:123 FIN RST PSH ACK + ECE CWR", ip(6, tcpHeader(40000, 123, 0xdd)), true},
			pk{n + "tcp:434 all six", ip(6, tcpHeader(40000, 434, 0x3f)), true},
			pk{n + "tcp:2345 none", ip(6, tcpHeader(40000, 2345, 0)), true},
			pk{n + "tcp:2345 CWR only", ip(6, tcpHeader(40000, 2345, 0x80)), true},
			pk{n + "tcp:2222 SYN", ip(6, tcpHeader(40000, 2222, 0x02)), true},
			pk{n + "tcp:2222 SYN ECE CWR", ip(6, tcpHeader(40000, 2222, 0xc2)), true},
			pk{n + "tcp:2222 ACK RST", ip(6, tcpHeader(40000, 2222, 0x14)), true},

			pk{n + "udp wrong port", ip(17, udpHeader(40000, 1235)), false},
			pk{n + "udp source port only", ip(17, udpHeader(1234, 9)), false},
			pk{n + "udp to a tcp-only port", ip(17, udpHeader(40000, 543)), false},
			pk{n + "tcp to a udp-only port", ip(6, tcpHeader(40000, 1234, 0)), false},
			pk{n + "tcp:123 missing PSH", ip(6, tcpHeader(40000, 123, 0x15)), false},
			pk{n + "tcp:434 without URG", ip(6, tcpHeader(40000, 434, 0x1f)), false},
			pk{n + "tcp:2345 SYN", ip(6, tcpHeader(40000, 2345, 0x02)), false},
			pk{n + "tcp:2222 SYN ACK", ip(6, tcpHeader(40000, 2222, 0x12)), false},
			pk{n + "tcp wrong port", ip(6, tcpHeader(40000, 544, 0)), false},
			pk{n + "sctp to a knock port", ip(132, udpHeader(40000, 1234)), false},
			pk{n + "icmp", ip(1, []byte{8, 0, 0, 0, 0, 1, 0, 1}), false},
			pk{n + "udp:1234 to another address", to(fam.other, 17, udpHeader(40000, 1234)), false},
			pk{n + "tcp:543 to another address", to(fam.other, 6, tcpHeader(40000, 543, 0)), false},
		)
	}
	cases = append(cases,
		pk{"v4 udp:1234 non-first fragment", ipv4Packet(remote4, local4, 17, 100, udpHeader(40000, 1234)), false},
		pk{"v4 tcp:2345 non-first fragment", ipv4Packet(remote4, local4, 6, 100, tcpHeader(40000, 2345, 0)), false},
		pk{"v6 tcp:2222 SYN behind a hop-by-hop header", ipv6Packet(remote6, local6, 6, true, tcpHeader(40000, 2222, 0x02)), false},
	)
	for _, lt := range linkTypes {
		for _, c := range cases {
			if got := vms.pass(t, lt, frame(lt, c.ip)); got != c.want {
				t.Errorf("%v %s: pass = %v, want %v", lt, c.desc, got, c.want)
			}
		}
	}
}

// TestFilterAgreesWithUserSpace: over a grid of packets, the kernel
// program, the user-space Filter.Match on the decoder's candidate, and
// the machine's frames agree.
func TestFilterAgreesWithUserSpace(t *testing.T) {
	evs := exampleEvents(t)
	f := NewFilter(evs, []netip.Addr{local4, local6})
	vms := compileVMs(t, f)
	ports := []uint16{123, 434, 543, 1234, 2222, 2345, 22, 65535}
	flagSet := make([]uint8, 0, 80)
	for i := 0; i < 64; i++ {
		flagSet = append(flagSet, uint8(i))
	}
	flagSet = append(flagSet, 0x40, 0x80, 0xc2, 0x5d, 0xbf, 0xd4, 0xff)
	n, passed := 0, 0
	for _, dst := range []netip.Addr{local4, other4, local6, other6} {
		src := remote4
		if dst.Is6() {
			src = remote6
		}
		for _, proto := range []uint8{6, 17} {
			for _, port := range ports {
				for _, fl := range flagSet {
					var l4 []byte
					if proto == 6 {
						l4 = tcpHeader(50000, port, fl)
					} else if fl != 0 {
						continue
					} else {
						l4 = udpHeader(50000, port)
					}
					var ip []byte
					if dst.Is4() {
						ip = ipv4Packet(src, dst, proto, 0, l4)
					} else {
						ip = ipv6Packet(src, dst, proto, false, l4)
					}
					for _, lt := range linkTypes {
						pkt := frame(lt, ip)
						c, ok := CandidateFrom(sensor.Decode(&sensor.Packet{Data: pkt, LinkType: lt}))
						if !ok {
							t.Fatalf("%v: no candidate from %x", lt, pkt)
						}
						user := f.Match(c)
						kernel := vms.pass(t, lt, pkt)
						if user != kernel {
							t.Errorf("%v %v %v:%d flags %#02x: kernel %v, user space %v", lt, dst, Proto(proto), port, fl, kernel, user)
						}
						var inSome bool
						for i := range evs {
							inSome = inSome || matchesAny(evs[i].Sequence, c)
						}
						if want := inSome && (dst == local4 || dst == local6); user != want {
							t.Errorf("%v: Match = %v, frames say %v", c, user, want)
						}
						n++
						if kernel {
							passed++
						}
					}
				}
			}
		}
	}
	if passed == 0 || passed == n {
		t.Fatalf("%d of %d passed: the grid tests nothing", passed, n)
	}
	t.Logf("%d packets, %d passed", n, passed)
}

func TestFilterWithoutAddressesRejectsAll(t *testing.T) {
	f := NewFilter(exampleEvents(t), nil)
	if f.Expr != "" {
		t.Fatalf("expression %q", f.Expr)
	}
	vms := compileVMs(t, f)
	for _, lt := range linkTypes {
		if vms.pass(t, lt, frame(lt, ipv4Packet(remote4, local4, 17, 0, udpHeader(1, 1234)))) {
			t.Errorf("%v: a knock passed a filter without addresses", lt)
		}
	}
	if f.Match(Candidate{Src: remote4, Dst: local4, Proto: UDP, DstPort: 1234}) {
		t.Error("Match without addresses")
	}
}

// TestFilterManyFlagSets: beyond maxFlagClasses distinct flag sets the
// kernel tests TCP frames by port only, and user space still decides.
func TestFilterManyFlagSets(t *testing.T) {
	letters := []string{"s", "a", "f", "r", "p", "u", "sa", "x", "n"}
	for _, n := range []int{maxFlagClasses, maxFlagClasses + 1, len(letters)} {
		var b strings.Builder
		for i := 0; i < MaxFrames; i++ {
			fmt.Fprintf(&b, " tcp:%d:%s", 1000+i, letters[i%n])
		}
		evs := []Event{mustEvent(t, "E", b.String(), 10e9, 0)}
		f := NewFilter(evs, []netip.Addr{local4, local6})
		if got, want := strings.Contains(f.Expr, "tcpflags"), n <= maxFlagClasses; got != want {
			t.Errorf("%d flag sets: flag test in the kernel = %v, want %v", n, got, want)
		}
		vms := compileVMs(t, f)
		for _, lt := range linkTypes {
			for _, fl := range []uint8{0, 0x02, 0x10, 0x12, 0x3f, 0xc2} {
				pkt := frame(lt, ipv4Packet(remote4, local4, 6, 0, tcpHeader(1, 1000, fl)))
				c, _ := CandidateFrom(sensor.Decode(&sensor.Packet{Data: pkt, LinkType: lt}))
				user, kernel := f.Match(c), vms.pass(t, lt, pkt)
				if user && !kernel || (n <= maxFlagClasses && user != kernel) {
					t.Errorf("%d flag sets, %v, flags %#02x: kernel %v, user space %v", n, lt, fl, kernel, user)
				}
				if n > maxFlagClasses && !kernel {
					t.Errorf("%d flag sets: port-only kernel test rejected flags %#02x", n, fl)
				}
			}
		}
	}
}

func TestCandidateFrom(t *testing.T) {
	pkt := frame(bpfc.EN10MB, ipv6Packet(remote6, local6, 6, true, tcpHeader(1, 2222, 0xc2)))
	c, ok := CandidateFrom(sensor.Decode(&sensor.Packet{Data: pkt, LinkType: bpfc.EN10MB}))
	want := Candidate{Src: remote6, Dst: local6, Proto: TCP, DstPort: 2222, Flags: 0xc2}
	if !ok || c != want {
		t.Fatalf("got %+v %v, want %+v", c, ok, want)
	}
	for _, bad := range []struct {
		desc string
		pkt  []byte
	}{
		{"icmp", ipv4Packet(remote4, local4, 1, 0, []byte{8, 0, 0, 0, 0, 0, 0, 0})},
		{"sctp", ipv4Packet(remote4, local4, 132, 0, udpHeader(1, 2))},
		{"fragment", ipv4Packet(remote4, local4, 17, 100, udpHeader(1, 2))},
		{"tcp cut before the flags", ipv4Packet(remote4, local4, 6, 0, tcpHeader(1, 2, 2)[:13])},
		{"not ip", []byte{0x10, 0, 0}},
	} {
		if c, ok := CandidateFrom(sensor.Decode(&sensor.Packet{Data: bad.pkt, LinkType: bpfc.RAW})); ok {
			t.Errorf("%s: candidate %+v", bad.desc, c)
		}
	}
}

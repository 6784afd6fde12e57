package knock

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"

	"github.com/tuninetd/tuninetd/bpfc"
)

// Snaplen is what the kernel filter keeps of an accepted packet: enough
// for a link header with VLAN tags, an IPv6 header with extension headers
// and a TCP header, which is all a knock is.
const Snaplen = 256

// Filter is the kernel-side test for knock candidates: the union of every
// event's frames, addressed to one of the device's addresses. Match is the
// same test in user space, which the daemon applies again, because a
// packet accepted by the previous program can still arrive after the
// device's addresses changed.
type Filter struct {
	// Expr is the tcpdump-language expression, empty when the device has
	// no address (then nothing can be a knock and Compile rejects all).
	Expr   string
	hosts  []netip.Addr // sorted
	addrs  map[netip.Addr]bool
	frames []Frame
}

// NewFilter builds the filter for events and the device's addresses
// (IPv4 and IPv6; zones and IPv4-mapped forms are normalized away,
// duplicates dropped).
//
// The expression lists the ports of each protocol and flag test once:
//
//	(dst host A or dst host B ...) and ((udp dst port P or ...) or
//	  (tcp dst port P or ...) or
//	  (ip and (((tcp dst port P or ...) and tcp[tcpflags] & 0x3f == V) or ...)) or
//	  (ip6[6] == 6 and (((tcp dst port P or ...) and ip6[53] & 0x3f == V) or ...)))
//
// The second line holds the frames with i (any flags), tested by port
// only. tcp[] addresses IPv4 only, so the IPv6 flag test reads the flags
// at their fixed offset behind a 40-byte header whose next header is TCP.
// As in libpcap, the IPv6 protocol tests read the fixed header's next
// header: a TCP segment or UDP datagram behind IPv6 extension headers does
// not pass the kernel filter (no knock sender puts one there).
func NewFilter(events []Event, addrs []netip.Addr) *Filter {
	f := &Filter{addrs: make(map[netip.Addr]bool)}
	var hosts []netip.Addr
	for _, a := range addrs {
		a = a.WithZone("").Unmap()
		if !a.IsValid() || f.addrs[a] {
			continue
		}
		f.addrs[a] = true
		hosts = append(hosts, a)
	}
	seen := make(map[Frame]bool)
	for i := range events {
		for _, fr := range events[i].Sequence {
			if !seen[fr] {
				seen[fr] = true
				f.frames = append(f.frames, fr)
			}
		}
	}
	if len(hosts) == 0 || len(f.frames) == 0 {
		return f
	}
	sortSmall(hosts, netip.Addr.Less)
	f.hosts = hosts
	f.Expr = "(" + hostsExpr(hosts) + ") and (" + framesExpr(f.frames) + ")"
	return f
}

func hostsExpr(hosts []netip.Addr) string {
	parts := make([]string, len(hosts))
	for i, a := range hosts {
		parts[i] = "dst host " + a.String()
	}
	return strings.Join(parts, " or ")
}

// maxFlagClasses bounds the distinct flag tests put into the kernel
// filter. libpcap's language, and so bpfc, runs out of scratch registers
// after about 14 byte-access comparisons in one expression; each flag set
// costs two (IPv4, IPv6) plus one shared IPv6 next-header test. With more
// distinct flag sets, TCP frames are tested by port only in the kernel
// and their flags in user space (Filter.Match, Machine), which decide
// anyway.
const maxFlagClasses = 6

func framesExpr(frames []Frame) string {
	var udp, anyTCP []uint16
	byFlags := make(map[Flags][]uint16)
	var classes []Flags
	for _, fr := range frames {
		switch {
		case fr.Proto == UDP:
			udp = append(udp, fr.Port)
		case fr.AnyFlags:
			anyTCP = append(anyTCP, fr.Port)
		default:
			if _, ok := byFlags[fr.Flags]; !ok {
				classes = append(classes, fr.Flags)
			}
			byFlags[fr.Flags] = append(byFlags[fr.Flags], fr.Port)
		}
	}
	if len(classes) > maxFlagClasses {
		for _, c := range classes {
			anyTCP = append(anyTCP, byFlags[c]...)
		}
		classes = nil
	}
	sortSmall(classes, func(a, b Flags) bool { return a < b })
	var parts []string
	if len(udp) > 0 {
		parts = append(parts, "("+portsExpr(UDP, udp)+")")
	}
	if len(anyTCP) > 0 {
		parts = append(parts, "("+portsExpr(TCP, anyTCP)+")")
	}
	if len(classes) > 0 {
		var v4, v6 []string
		for _, c := range classes {
			ports := portsExpr(TCP, byFlags[c])
			v4 = append(v4, fmt.Sprintf("((%s) and tcp[tcpflags] & 0x%02x == 0x%02x)", ports, uint8(Tested), uint8(c)))
			v6 = append(v6, fmt.Sprintf("((%s) and ip6[53] & 0x%02x == 0x%02x)", ports, uint8(Tested), uint8(c)))
		}
		parts = append(parts,
			"(ip and ("+strings.Join(v4, " or ")+"))",
			"(ip6[6] == 6 and ("+strings.Join(v6, " or ")+"))")
	}
	return strings.Join(parts, " or ")
}

// portsExpr tests the destination port against a list (sorted, deduplicated).
func portsExpr(p Proto, ports []uint16) string {
	ps := append([]uint16(nil), ports...)
	sortSmall(ps, func(a, b uint16) bool { return a < b })
	var out []string
	for i, port := range ps {
		if i > 0 && port == ps[i-1] {
			continue
		}
		out = append(out, p.String()+" dst port "+strconv.Itoa(int(port)))
	}
	return strings.Join(out, " or ")
}

// Addrs returns the addresses the filter passes packets to, sorted.
func (f *Filter) Addrs() []netip.Addr { return f.hosts }

// sortSmall sorts the short lists a filter is made of (a device's
// addresses, ports, flag sets) in place: an insertion sort, smaller in the
// binary than package sort or slices for three element types.
func sortSmall[T any](s []T, less func(a, b T) bool) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && less(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Compile returns the socket filter program for a link type. Without an
// address (Expr empty) the program rejects every packet.
func (f *Filter) Compile(lt bpfc.LinkType) ([]bpf.RawInstruction, error) {
	if f.Expr == "" {
		return bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	}
	prog, err := bpfc.Compile(f.Expr, bpfc.Options{LinkType: lt, Snaplen: Snaplen, Target: bpfc.Live})
	if err != nil {
		return nil, fmt.Errorf("knock filter for %v: %w", lt, err)
	}
	return prog, nil
}

// Match tells whether c passes the filter: addressed to one of the
// addresses and a frame of some event. It is the user-space test; the
// kernel's differs only for IPv6 transport headers behind extension
// headers, which it rejects.
func (f *Filter) Match(c Candidate) bool {
	if !f.addrs[c.Dst.WithZone("").Unmap()] {
		return false
	}
	return matchesAny(f.frames, c)
}

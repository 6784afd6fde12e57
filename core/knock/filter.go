package knock

import (
	"fmt"
	"net/netip"
	"sort"
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
	addrs  map[netip.Addr]bool
	frames []Frame
}

// NewFilter builds the filter for events and the device's addresses
// (IPv4 and IPv6; zones and IPv4-mapped forms are normalized away,
// duplicates dropped).
//
// The expression spells each frame out; frames with the same protocol
// and flag test share one test of their ports:
//
//	(dst host A or dst host B ...) and (udp dst port P ... or
//	  ((tcp dst port P ...) and (tcp[tcpflags] & 0x3f == V or
//	   (ip6[6] == 6 and ip6[53] & 0x3f == V))) ...)
//
// tcp[] addresses IPv4 only, so the IPv6 flag test reads the flags at
// their fixed offset behind a 40-byte header whose next header is TCP: a
// TCP segment behind IPv6 extension headers does not pass a flag test in
// the kernel. Frames with i (any flags) test only the port, for both.
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
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Less(hosts[j]) })
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

// flagClass groups frames by what their flag test is.
type flagClass struct {
	proto Proto
	any   bool
	flags Flags
}

func framesExpr(frames []Frame) string {
	ports := make(map[flagClass][]uint16)
	var order []flagClass
	for _, fr := range frames {
		c := flagClass{proto: fr.Proto, any: fr.AnyFlags, flags: fr.Flags}
		if fr.Proto == UDP {
			c = flagClass{proto: UDP}
		}
		if _, ok := ports[c]; !ok {
			order = append(order, c)
		}
		ports[c] = append(ports[c], fr.Port)
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.proto != b.proto {
			return a.proto > b.proto // udp first: its test is the cheapest
		}
		if a.any != b.any {
			return a.any
		}
		return a.flags < b.flags
	})
	var parts []string
	for _, c := range order {
		ps := ports[c]
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		var pp []string
		for i, p := range ps {
			if i > 0 && p == ps[i-1] {
				continue
			}
			pp = append(pp, c.proto.String()+" dst port "+strconv.Itoa(int(p)))
		}
		portTest := strings.Join(pp, " or ")
		if c.proto == UDP || c.any {
			parts = append(parts, "("+portTest+")")
			continue
		}
		v := fmt.Sprintf("0x%02x", uint8(c.flags))
		parts = append(parts, fmt.Sprintf("((%s) and (tcp[tcpflags] & 0x%02x == %s or (ip6[6] == 6 and ip6[53] & 0x%02x == %s)))",
			portTest, uint8(Tested), v, uint8(Tested), v))
	}
	return strings.Join(parts, " or ")
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
// kernel's differs only for IPv6 TCP behind extension headers.
func (f *Filter) Match(c Candidate) bool {
	if !f.addrs[c.Dst.WithZone("").Unmap()] {
		return false
	}
	return matchesAny(f.frames, c)
}

package bpfc

import (
	"fmt"
	"strings"
)

// LinkType is a libpcap DLT_ value: the framing a filter program reads
// packets in. Only the three that Linux capture sockets produce are known.
type LinkType int

// Link types the compiler generates code for. The values are libpcap's
// DLT_ numbers on Linux, so they can be compared with tcpdump's output.
const (
	// EN10MB is Ethernet framing: tap, veth, bridges, loopback.
	EN10MB LinkType = 1
	// RAW is raw IP: offset 0 is the IPv4 or IPv6 header (tun, WireGuard).
	RAW LinkType = 12
	// LinuxSLL is Linux "cooked" capture v1: a 16-byte pseudo header (ppp, "any").
	LinuxSLL LinkType = 113
)

// String returns the DLT name as tcpdump -y spells it.
func (t LinkType) String() string {
	switch t {
	case EN10MB:
		return "EN10MB"
	case RAW:
		return "RAW"
	case LinuxSLL:
		return "LINUX_SLL"
	}
	return fmt.Sprintf("DLT(%d)", int(t))
}

// ParseLinkType reads a DLT name as tcpdump -y accepts it (case-insensitive).
func ParseLinkType(s string) (LinkType, error) {
	switch strings.ToUpper(s) {
	case "EN10MB":
		return EN10MB, nil
	case "RAW":
		return RAW, nil
	case "LINUX_SLL":
		return LinuxSLL, nil
	}
	return 0, fmt.Errorf("unknown link type %q (want EN10MB, RAW or LINUX_SLL)", s)
}

package dnsq

import (
	"strings"

	"github.com/tuninetd/tuninetd/bpfc"
)

// PortExpr is the kernel filter term that passes DNS: UDP and TCP port 53
// in either direction, over IPv4 and IPv6 (without IPv6 extension
// headers, as in libpcap's port primitives).
const PortExpr = "udp port 53 or tcp port 53"

// CaptureFilter returns the filter a capture sensor attaches when there
// are DNS rules: the traffic of f (the -f filter, nil when none was given)
// plus DNS, "(f) or udp port 53 or tcp port 53". A filter that matches
// everything is returned as it is.
//
// The kernel's verdict does not tell which part passed a packet: a port-53
// packet that is no matching query counts as activity only if f matches it
// on its own.
func CaptureFilter(f *bpfc.Filter) (*bpfc.Filter, error) {
	if f == nil {
		return bpfc.Parse(PortExpr)
	}
	if strings.TrimSpace(f.String()) == "" {
		return f, nil
	}
	return bpfc.Parse("(" + f.String() + ") or " + PortExpr)
}

package sensor

import "strconv"

// DNSQuery is a DNS query a sensor counted as activity because its name
// is under a --dns-name suffix. It travels with the Packet so the loop can
// name it in the start log and the command's environment.
type DNSQuery struct {
	// Name is the QNAME as the matcher formats it: lower case, dotted,
	// without the trailing dot, only letters, digits, hyphens and
	// underscores, so it is safe in a log line and an environment.
	Name string
	// Type is the QTYPE.
	Type uint16
	// Suffix is the --dns-name suffix that matched.
	Suffix string
}

// TypeName returns the QTYPE's mnemonic for the types clients commonly
// look up (A, AAAA, HTTPS, ...), or TYPEn (the RFC 3597 spelling). A
// switch rather than dnsmessage's Type.String, whose name map costs flash
// and start-up work.
func (q DNSQuery) TypeName() string {
	switch q.Type {
	case 1:
		return "A"
	case 2:
		return "NS"
	case 5:
		return "CNAME"
	case 6:
		return "SOA"
	case 12:
		return "PTR"
	case 15:
		return "MX"
	case 16:
		return "TXT"
	case 28:
		return "AAAA"
	case 33:
		return "SRV"
	case 35:
		return "NAPTR"
	case 43:
		return "DS"
	case 48:
		return "DNSKEY"
	case 64:
		return "SVCB"
	case 65:
		return "HTTPS"
	case 255:
		return "ANY"
	case 257:
		return "CAA"
	}
	return "TYPE" + strconv.Itoa(int(q.Type))
}

// Line returns the log line naming the query, in the style of the packet
// summary lines.
func (q DNSQuery) Line() string {
	return "|- DNS query: " + q.Name + " " + q.TypeName() + " (--dns-name " + q.Suffix + ")"
}

package bpfc

import (
	"net/netip"
	"strconv"
	"strings"
)

// tokKind classifies a token.
type tokKind int

const (
	tEOF  tokKind = iota
	tNum          // number, also the named constants (tcp-syn, icmp-echo, ...)
	tHID          // dotted IPv4 address or prefix: 10, 10.1, 10.1.2, 10.1.2.3 (only with dots)
	tHID6         // IPv6 address
	tEID          // MAC address
	tID           // name (possibly escaped with a backslash)
	tKW           // keyword; text holds it in lower case
	tOp           // operator or punctuation; text holds it
)

// token is one lexeme with its position.
type token struct {
	kind tokKind
	text string // source text (keywords lower-cased, escaped names without '\')
	num  uint32
	mac  [6]byte
	pos  pos
	end  pos
}

// keywords of the libpcap language that the lexer recognises. Names in this
// set are never IDs unless escaped with a backslash, exactly as in libpcap
// (so "ip proto tcp" is a syntax error while "ip proto \tcp" works).
var keywords = map[string]bool{
	"dst": true, "src": true, "host": true, "net": true, "mask": true, "netmask": true,
	"port": true, "portrange": true, "proto": true, "protochain": true, "gateway": true,
	"less": true, "greater": true, "byte": true, "broadcast": true, "multicast": true,
	"and": true, "or": true, "not": true, "len": true, "length": true,
	"inbound": true, "outbound": true, "vlan": true, "mpls": true,
	"link": true, "ether": true, "ppp": true, "slip": true, "fddi": true, "tr": true, "wlan": true,
	"arp": true, "rarp": true, "ip": true, "sctp": true, "tcp": true, "udp": true, "icmp": true,
	"igmp": true, "igrp": true, "pim": true, "vrrp": true, "carp": true, "ip6": true, "icmp6": true,
	"ah": true, "esp": true,
	// recognised only to report them as unsupported, as libpcap would not
	// treat them as names either
	"radio": true, "atalk": true, "aarp": true, "decnet": true, "lat": true, "sca": true,
	"moprc": true, "mopdl": true, "iso": true, "esis": true, "es-is": true, "isis": true,
	"is-is": true, "l1": true, "l2": true, "iih": true, "lsp": true, "snp": true, "csnp": true,
	"psnp": true, "clnp": true, "stp": true, "ipx": true, "netbeui": true,
	"ifindex": true, "pppoed": true, "pppoes": true, "geneve": true, "lane": true, "llc": true,
	"type": true, "subtype": true, "direction": true, "dir": true,
	"address1": true, "addr1": true, "address2": true, "addr2": true, "address3": true,
	"addr3": true, "address4": true, "addr4": true, "ra": true, "ta": true, "on": true,
	"ifname": true, "rnr": true, "rulenum": true, "reason": true, "rset": true, "ruleset": true,
	"srnr": true, "subrulenum": true, "action": true,
}

// numNames are the names libpcap's scanner turns into numbers.
var numNames = map[string]uint32{
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5,
	"icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
	"icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6type": 0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
	"icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133, "icmp6-routeradvert": 134,
	"icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136, "icmp6-redirect": 137,
	"icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139,
	"icmp6-nodeinformationresponse": 140, "icmp6-ineighbordiscoverysolicit": 141,
	"icmp6-ineighbordiscoveryadvert": 142, "icmp6-multicastlistenerreportv2": 143,
	"icmp6-homeagentdiscoveryrequest": 144, "icmp6-homeagentdiscoveryreply": 145,
	"icmp6-mobileprefixsolicit": 146, "icmp6-mobileprefixadvert": 147,
	"icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
	"icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152,
	"icmp6-multicastrouterterm": 153,
	"tcpflags":                  13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c >= '0' && c <= '9'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// lex splits src into tokens. Like libpcap's flex scanner it takes the
// longest match, so "len-20" is one name and "6000-6008" a port range name.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
			i++
		}
		if i >= len(src) {
			toks = append(toks, token{kind: tEOF, pos: pos(i), end: pos(i)})
			return toks, nil
		}
		c := src[i]
		start := i
		if c == '\\' {
			j := i + 1
			for j < len(src) && !strings.ContainsRune(" !()\n\t\r", rune(src[j])) {
				j++
			}
			if j == i+1 {
				return nil, errAt(src, pos(i), 1, "expected a name after '\\'")
			}
			toks = append(toks, token{kind: tID, text: src[i+1 : j], pos: pos(i), end: pos(j)})
			i = j
			continue
		}
		if isAlnum(c) || c == ':' {
			t, err := lexWord(src, i)
			if err != nil && c == ':' {
				toks = append(toks, token{kind: tOp, text: ":", pos: pos(i), end: pos(i + 1)})
				i++
				continue
			}
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = int(t.end)
			continue
		}
		for _, op := range []string{">=", "<=", "!=", "==", "<<", ">>", "&&", "||"} {
			if strings.HasPrefix(src[i:], op) {
				toks = append(toks, token{kind: tOp, text: op, pos: pos(i), end: pos(i + 2)})
				i += 2
				goto next
			}
		}
		if strings.IndexByte("()[]:+-*/%&|^!=<>", c) >= 0 {
			toks = append(toks, token{kind: tOp, text: string(c), pos: pos(i), end: pos(i + 1)})
			i++
			continue
		}
		return nil, errAt(src, pos(start), 1, "unexpected character %q", string(c))
	next:
	}
}

// lexWord lexes a token starting with an alphanumeric character or ':':
// the longest of the name, number, dotted IPv4, IPv6 and MAC address that
// start at i, classified as libpcap's scanner would.
func lexWord(src string, i int) (token, error) {
	idLen, numLen, hidLen := nameLen(src, i), numberLen(src, i), dottedLen(src, i)
	macLen, mac := macAddrLen(src, i)
	addrLen := ipv6Len(src, i)
	best := max(idLen, numLen, hidLen, addrLen, macLen)
	if best == 0 {
		return token{}, errAt(src, pos(i), 1, "unexpected character %q", string(src[i]))
	}
	p := pos(i)
	e := pos(i + best)
	text := src[i : i+best]
	switch {
	case idLen == best && keywords[strings.ToLower(text)]:
		return token{kind: tKW, text: strings.ToLower(text), pos: p, end: e}, nil
	case idLen == best && hasNumName(text):
		return token{kind: tNum, text: text, num: numNames[strings.ToLower(text)], pos: p, end: e}, nil
	case macLen == best:
		return token{kind: tEID, text: text, mac: mac, pos: p, end: e}, nil
	case numLen == best:
		v, err := parseNum(text)
		if err != nil {
			return token{}, errAt(src, p, best, "%v", err)
		}
		return token{kind: tNum, text: text, num: v, pos: p, end: e}, nil
	case hidLen == best:
		return token{kind: tHID, text: text, pos: p, end: e}, nil
	case addrLen == best:
		return token{kind: tHID6, text: text, pos: p, end: e}, nil
	}
	return token{kind: tID, text: text, pos: p, end: e}, nil
}

// nameLen is the length of the name at i: alphanumerics, '-', '_' and
// '.', not ending in '-' or '_'.
func nameLen(src string, i int) int {
	if !isAlnum(src[i]) {
		return 0
	}
	j := i + 1
	for j < len(src) && (isAlnum(src[j]) || src[j] == '-' || src[j] == '_' || src[j] == '.') {
		j++
	}
	for j > i+1 && (src[j-1] == '-' || src[j-1] == '_') {
		j--
	}
	return j - i
}

// numberLen is the length of the decimal, octal or 0x number at i.
func numberLen(src string, i int) int {
	if !isDigit(src[i]) {
		return 0
	}
	j := i
	if strings.HasPrefix(src[i:], "0x") || strings.HasPrefix(src[i:], "0X") {
		j = i + 2
		for j < len(src) && isHex(src[j]) {
			j++
		}
		if j == i+2 {
			j = i + 1
		}
	} else {
		for j < len(src) && isDigit(src[j]) {
			j++
		}
	}
	return j - i
}

// dottedLen is the length of the dotted IPv4 address or prefix at i (two
// to four decimal parts), or 0.
func dottedLen(src string, i int) int {
	if !isDigit(src[i]) {
		return 0
	}
	n, parts := 0, 0
	j := i
	for {
		k := j
		for k < len(src) && isDigit(src[k]) {
			k++
		}
		if k == j {
			break
		}
		parts++
		j = k
		n = j - i
		if parts == 4 || j >= len(src) || src[j] != '.' || j+1 >= len(src) || !isDigit(src[j+1]) {
			break
		}
		j++
	}
	if parts < 2 {
		return 0
	}
	return n
}

// macAddrLen is the length and value of the longest prefix of the run of hex
// digits, ':', '.' and '-' at i that parses as a MAC address.
func macAddrLen(src string, i int) (int, [6]byte) {
	j := i
	for j < len(src) && j-i < 64 && (isHex(src[j]) || src[j] == ':' || src[j] == '.' || src[j] == '-') {
		j++
	}
	for ; j > i; j-- {
		if m, ok := parseMAC(src[i:j]); ok {
			return j - i, m
		}
	}
	return 0, [6]byte{}
}

// ipv6Len is the length of the longest prefix of the run of hex digits,
// ':' and '.' at i that parses as an IPv6 address without a zone.
func ipv6Len(src string, i int) int {
	j := i
	for j < len(src) && j-i < 64 && (isHex(src[j]) || src[j] == ':' || src[j] == '.') {
		j++
	}
	for ; j > i; j-- {
		s := src[i:j]
		if !strings.Contains(s, ":") {
			break
		}
		if a, err := netip.ParseAddr(s); err == nil && a.Is6() && a.Zone() == "" {
			return j - i
		}
	}
	return 0
}

func hasNumName(s string) bool {
	_, ok := numNames[strings.ToLower(s)]
	return ok
}

// parseNum reads a decimal, 0x hexadecimal or 0-prefixed octal number.
func parseNum(s string) (uint32, error) {
	base := 10
	digits := s
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, digits = 8, s[1:]
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, &numError{"number " + s + " overflows 32 bits"}
		}
		return 0, &numError{"invalid number " + s}
	}
	return uint32(v), nil
}

type numError struct{ s string }

func (e *numError) Error() string { return e.s }

// parseMAC accepts xx:xx:xx:xx:xx:xx (one or two hex digits per byte),
// xx.xx.xx.xx.xx.xx and xxxx.xxxx.xxxx.
func parseMAC(s string) ([6]byte, bool) {
	var m [6]byte
	if len(s) == 12 {
		ok := true
		for i := 0; i < 6; i++ {
			v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
			if err != nil {
				ok = false
				break
			}
			m[i] = byte(v)
		}
		if ok {
			return m, true
		}
	}
	for _, sep := range []string{":", ".", "-"} {
		parts := strings.Split(s, sep)
		if len(parts) == 6 {
			ok := true
			for i, p := range parts {
				if len(p) < 1 || len(p) > 2 {
					ok = false
					break
				}
				v, err := strconv.ParseUint(p, 16, 8)
				if err != nil {
					ok = false
					break
				}
				m[i] = byte(v)
			}
			if ok {
				return m, true
			}
		}
	}
	parts := strings.Split(s, ".")
	if len(parts) == 3 {
		for i, p := range parts {
			if len(p) != 4 {
				return m, false
			}
			v, err := strconv.ParseUint(p, 16, 16)
			if err != nil {
				return m, false
			}
			m[2*i], m[2*i+1] = byte(v>>8), byte(v)
		}
		return m, true
	}
	return m, false
}

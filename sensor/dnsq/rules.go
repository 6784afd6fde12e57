// Package dnsq decides whether a captured packet is a DNS query for a name
// the user listed with --dns-name and did not exclude with --dns-never, so
// a sensor can count looking a name up as activity.
//
// It reads UDP and TCP port-53 packets as the sensor package decodes them
// and parses DNS with golang.org/x/net/dns/dnsmessage. Inspecting a packet
// that does not match allocates nothing: a sensor runs it for every DNS
// packet the kernel filter passes.
package dnsq

import (
	"fmt"
	"strings"
)

// Suffix limits, in octets of the dotted name without the trailing dot.
const (
	maxLabel = 63
	maxName  = 253
)

// Rules is the set of --dns-name and --dns-never suffixes. It is read-only
// once built, so sensors may share it.
type Rules struct {
	// bySuffix maps a suffix (lower case, no trailing dot) to its rule.
	bySuffix map[string]rule
	// lengths has bit n set when some suffix is n octets long, so a name
	// is looked up only at offsets where a suffix could start.
	lengths [(maxName + 64) / 64]uint64
	names   []string
	nevers  []string
}

type rule struct {
	suffix string // the key again, so a match returns it without allocating
	never  bool
}

// SuffixError reports a --dns-name or --dns-never value that is no usable
// domain suffix.
type SuffixError struct {
	Option string // "--dns-name" or "--dns-never"
	Suffix string // the value as given
	Reason string
}

func (e *SuffixError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.Option, e.Suffix, e.Reason)
}

// NewRules builds the rules from the values of the repeated --dns-name and
// --dns-never options; each value may be a comma-separated list. A suffix
// given to both options is an error, one given twice to the same option is
// not, and so is --dns-never without --dns-name, which could never matter.
// No values at all give rules that are Empty. Errors are *SuffixError.
func NewRules(names, nevers []string) (*Rules, error) {
	r := &Rules{bySuffix: make(map[string]rule)}
	if err := r.add("--dns-name", names, false); err != nil {
		return nil, err
	}
	if err := r.add("--dns-never", nevers, true); err != nil {
		return nil, err
	}
	if len(r.names) == 0 && len(r.nevers) > 0 {
		return nil, &SuffixError{Option: "--dns-never", Suffix: r.nevers[0], Reason: "has no effect without --dns-name"}
	}
	return r, nil
}

func (r *Rules) add(option string, values []string, never bool) error {
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			s, reason := parseSuffix(item)
			if reason != "" {
				return &SuffixError{Option: option, Suffix: item, Reason: reason}
			}
			if old, ok := r.bySuffix[s]; ok {
				if old.never != never {
					other := "--dns-name"
					if old.never {
						other = "--dns-never"
					}
					return &SuffixError{Option: option, Suffix: item, Reason: "also given to " + other}
				}
				continue
			}
			r.bySuffix[s] = rule{suffix: s, never: never}
			r.lengths[len(s)/64] |= 1 << (len(s) % 64)
			if never {
				r.nevers = append(r.nevers, s)
			} else {
				r.names = append(r.names, s)
			}
		}
	}
	return nil
}

// parseSuffix returns the suffix in the form names are matched in (lower
// case, no trailing dot), or why it is unusable.
func parseSuffix(s string) (string, string) {
	switch {
	case s == "":
		return "", "empty suffix"
	case s == ".":
		return "", "the root would match every name; list the domains to match"
	case s[0] == '.':
		return "", fmt.Sprintf("leading dot: write %q, which matches the name itself and every name under it", strings.TrimLeft(s, "."))
	case strings.HasPrefix(s, "*."):
		return "", fmt.Sprintf("no wildcard needed: %q matches the name itself and every name under it", s[2:])
	}
	s = strings.TrimSuffix(s, ".")
	if len(s) > maxName {
		return "", fmt.Sprintf("%d octets long, more than %d", len(s), maxName)
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if reason := checkLabel(l); reason != "" {
			return "", reason
		}
	}
	if label := labels[len(labels)-1]; allDigits(label) {
		return "", fmt.Sprintf("last label %q is all digits: no top-level domain is, so this is no domain name", label)
	}
	return strings.ToLower(s), ""
}

// checkLabel applies the host name rules (letters, digits, hyphens, not at
// either end) plus the underscore of service labels such as _ldap._tcp.
func checkLabel(l string) string {
	switch {
	case l == "":
		return "empty label between dots"
	case len(l) > maxLabel:
		return fmt.Sprintf("label %q is %d octets long, more than %d", l, len(l), maxLabel)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Sprintf("label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 0x80:
			return "non-ASCII character: give internationalised names as A-labels (xn--...)"
		case c == '*':
			return "a wildcard inside a name: give the suffix, which matches every name under it"
		case !nameByte(c):
			return fmt.Sprintf("character %q not allowed (letters, digits, hyphen, underscore)", c)
		}
	}
	return ""
}

// nameByte reports whether c may appear in a label: LDH and underscore,
// either case.
func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Empty reports whether there are no rules: no name can match, and the
// sensors need not look at DNS at all. A nil *Rules is Empty.
func (r *Rules) Empty() bool { return r == nil || len(r.names) == 0 }

// Names returns the --dns-name suffixes in the order given, normalised.
func (r *Rules) Names() []string {
	if r == nil {
		return nil
	}
	return append([]string(nil), r.names...)
}

// Nevers returns the --dns-never suffixes in the order given, normalised.
func (r *Rules) Nevers() []string {
	if r == nil {
		return nil
	}
	return append([]string(nil), r.nevers...)
}

// Match decides a name the way Inspect decides a query's QNAME: Matched
// with the --dns-name suffix when the longest suffix that matches is one,
// Excluded with the --dns-never suffix when it is one of those, Unlisted
// when none matches, BadName when the name has characters no suffix can
// hold. Case and a trailing dot do not matter.
func (r *Rules) Match(name string) (suffix string, res Result) {
	name = strings.TrimSuffix(name, ".")
	if len(name) > maxName {
		return "", BadName
	}
	var buf [maxName]byte
	n, ok := formatName(buf[:], name)
	if !ok {
		return "", BadName
	}
	return r.decide(buf[:n])
}

// formatName copies name into buf in lower case, refusing bytes outside
// LDH and underscore and empty labels. buf must hold len(name) bytes; it
// may be name itself.
func formatName[T string | []byte](buf []byte, name T) (int, bool) {
	prevDot := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if prevDot {
				return 0, false
			}
			prevDot = true
		case nameByte(c):
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			prevDot = false
		default:
			return 0, false
		}
		buf[i] = c
	}
	if prevDot && len(name) > 0 {
		return 0, false
	}
	return len(name), true
}

// decide looks up name and each of its parent domains, longest first; the
// first rule found decides. name is lower case without a trailing dot.
func (r *Rules) decide(name []byte) (string, Result) {
	if r == nil {
		return "", Unlisted
	}
	for i := 0; i < len(name); i++ {
		if i > 0 && name[i-1] != '.' {
			continue
		}
		n := len(name) - i
		if r.lengths[n/64]&(1<<(n%64)) == 0 {
			continue
		}
		// The string conversion in a map index does not allocate.
		if ru, ok := r.bySuffix[string(name[i:])]; ok {
			if ru.never {
				return ru.suffix, Excluded
			}
			return ru.suffix, Matched
		}
	}
	return "", Unlisted
}

package dnsq

import (
	"encoding/binary"
	"strconv"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/tuninetd/tuninetd/sensor"
)

// Port is the DNS port: queries are sent to it.
const Port = 53

// IP protocol numbers DNS travels over.
const (
	protoTCP = 6
	protoUDP = 17
)

// dnsHeaderLen is the fixed DNS header; a TCP length prefix below it
// cannot frame a message.
const dnsHeaderLen = 12

// Result is what Inspect found in a packet.
type Result uint8

// Results, in the order of precedence Inspect uses when one TCP segment
// holds several messages: the first Matched wins, else the highest below.
const (
	// NotDNS: not UDP or TCP with port 53 on either side, or a TCP
	// segment without payload (handshake, bare ACK). Such a packet passed
	// the kernel filter for -f, or carries no message.
	NotDNS Result = iota
	// NotQuery: a well-formed message that asks nothing: a response, an
	// opcode other than QUERY (NOTIFY, UPDATE), or no question. Packets
	// from port 53 to another port are answers and are not parsed.
	NotQuery
	// Unlisted: a query for a name no suffix matches (or the root).
	Unlisted
	// BadName: a query for a name with bytes other than letters, digits,
	// hyphen and underscore, which no suffix can match and which is never
	// shown or passed to a command.
	BadName
	// Excluded: a query whose longest matching suffix is a --dns-never one.
	Excluded
	// Incomplete: the bytes end before the question does, because the
	// capture length or an NFLOG copy range cut the packet, or a TCP
	// segment holds only part of a message. Nobody's fault; nothing is
	// known about the name.
	Incomplete
	// Malformed: no valid DNS query: a header or question that does not
	// parse (truncated, compression loop, reserved label type, name too
	// long, a label holding a dot), more than one question (which RFC 9619
	// forbids for QUERY), or a TCP length prefix that disagrees with the
	// message.
	Malformed
	// Matched: a query whose longest matching suffix is a --dns-name one.
	Matched
	numResults
)

var resultNames = [numResults]string{
	NotDNS:     "not DNS",
	NotQuery:   "not queries",
	Unlisted:   "unlisted",
	BadName:    "unusable names",
	Excluded:   "excluded by --dns-never",
	Incomplete: "incomplete",
	Malformed:  "malformed",
	Matched:    "matching",
}

func (r Result) String() string {
	if r < numResults {
		return resultNames[r]
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// Query is a matching DNS query. It is the sensor package's DNSQuery, so
// a sensor can hand it to the loop with the packet.
type Query = sensor.DNSQuery

// Inspect decides whether p is a DNS query the rules count as activity.
// The Query is set only for Matched. It never panics, whatever the bytes,
// and it allocates only for a Matched query's name.
//
// Packets are judged one by one, without TCP stream state: a segment's
// payload must start with a message's length prefix, as clients send it.
// A segment that continues a message split across segments is parsed from
// its first byte and usually reported Malformed.
func (r *Rules) Inspect(p *sensor.Packet) (Query, Result) {
	q, res, _ := r.InspectPort(p)
	return q, res
}

// InspectPort is Inspect that also reports whether p is UDP or TCP with
// port 53 on either side, which a sensor needs to tell DNS it must judge
// (a TCP handshake on port 53 is NotDNS too) from other traffic.
func (r *Rules) InspectPort(p *sensor.Packet) (Query, Result, bool) {
	s := sensor.DecodeTransport(p)
	if !s.HasPorts || s.Proto != protoUDP && s.Proto != protoTCP || s.DstPort != Port && s.SrcPort != Port {
		return Query{}, NotDNS, false
	}
	q, res := r.inspect(p, s)
	return q, res, true
}

// inspect judges a UDP or TCP packet on port 53, decoded as s.
func (r *Rules) inspect(p *sensor.Packet, s sensor.Summary) (Query, Result) {
	payload, whole := s.Payload()
	if s.Proto == protoTCP && len(payload) == 0 {
		return Query{}, NotDNS
	}
	if s.DstPort != Port {
		return Query{}, NotQuery // an answer
	}
	if s.Proto == protoTCP {
		return r.stream(payload)
	}
	// The capture length (OrigLen) or the copy range of an NFLOG rule,
	// which only the IP and UDP lengths reveal, may have cut the message.
	cut := p.OrigLen > len(p.Data) || payload != nil && !whole
	if payload == nil {
		// The UDP header itself is short.
		if cut {
			return Query{}, Incomplete
		}
		return Query{}, Malformed
	}
	var q Query
	res := r.message(payload, &q)
	if res == Malformed && cut {
		res = Incomplete
	}
	return q, res
}

// stream reads the length-prefixed messages of a TCP segment.
func (r *Rules) stream(b []byte) (Query, Result) {
	var q Query
	best := NotDNS
	for len(b) > 0 {
		if len(b) < 2 {
			return q, max(best, Incomplete)
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n < dnsHeaderLen {
			return q, Malformed
		}
		partial := len(b) < n
		msg := b
		if !partial {
			msg = b[:n]
		}
		res := r.message(msg, &q)
		if res == Matched {
			return q, res
		}
		if res == Malformed && partial {
			res = Incomplete
		}
		best = max(best, res)
		if partial {
			break
		}
		b = b[n:]
	}
	return q, best
}

// message judges one DNS message. It sets q only for Matched.
func (r *Rules) message(msg []byte, q *Query) Result {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return Malformed
	}
	if h.Response || h.OpCode != 0 {
		return NotQuery
	}
	question, err := p.Question()
	if err == dnsmessage.ErrSectionDone {
		return NotQuery
	}
	if err != nil {
		return Malformed
	}
	// Only QDCOUNT 1 is valid for QUERY; a second question, parseable or
	// not, makes the message malformed. With one, this parses nothing.
	if _, err := p.Question(); err != dnsmessage.ErrSectionDone {
		return Malformed
	}
	// dnsmessage gives the name dotted, with a trailing dot, and refuses
	// labels holding a dot, so every dot here separates labels.
	name := question.Name.Data[:question.Name.Length]
	name = name[:max(len(name)-1, 0)] // the root is "." and becomes ""
	if len(name) > maxName {
		return BadName
	}
	// The question is our copy: format the name in place.
	n, ok := formatName(name, name)
	if !ok {
		return BadName
	}
	suffix, res := r.decide(name[:n])
	if res == Matched {
		*q = Query{Name: string(name[:n]), Type: uint16(question.Type), Suffix: suffix}
	}
	return res
}

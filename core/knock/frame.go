package knock

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Proto is the transport protocol of a frame: an IP protocol number.
type Proto uint8

// The protocols a knock frame can use.
const (
	TCP Proto = 6
	UDP Proto = 17
)

// String returns "tcp" or "udp" (the number for anything else).
func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return strconv.Itoa(int(p))
}

// Flags is a set of TCP flags, with the TCP header's bit values.
type Flags uint8

// The six flags a frame can test, and the two it never tests.
const (
	FIN Flags = 0x01
	SYN Flags = 0x02
	RST Flags = 0x04
	PSH Flags = 0x08
	ACK Flags = 0x10
	URG Flags = 0x20
	// ECE and CWR are the ECN bits. Frames never test them: an
	// ECN-capable stack sets both on a SYN it sends, so a frame that
	// asked for "SYN only" would otherwise miss a knock sent with a plain
	// connect() on such a host.
	ECE Flags = 0x40
	CWR Flags = 0x80

	// Tested is the mask a frame's flag test applies: the six flags.
	Tested = FIN | SYN | RST | PSH | ACK | URG
)

// flagLetters maps each tested flag to its letter, in bit order; String
// writes letters in this order, which makes the normalized form unique.
var flagLetters = [...]struct {
	f Flags
	c byte
}{{FIN, 'f'}, {SYN, 's'}, {RST, 'r'}, {PSH, 'p'}, {ACK, 'a'}, {URG, 'u'}}

// Frame is one step of a knock sequence: a packet of a protocol to a
// destination port and, for TCP, with a flag set.
type Frame struct {
	Proto Proto
	Port  uint16
	// Flags is the exact set of tested flags (FIN SYN RST PSH ACK URG)
	// a TCP segment must carry; ECE and CWR are not looked at. Zero
	// means none of the six. Unused for UDP.
	Flags Flags
	// AnyFlags makes a TCP frame accept a segment whatever its flags
	// (the letter i).
	AnyFlags bool
}

// Candidate is what a frame is matched against: the fields of a packet
// that can make it a knock. Only Src leaves the package's logic, as the
// formatted address.
type Candidate struct {
	Src, Dst netip.Addr
	Proto    Proto
	DstPort  uint16
	// Flags is the TCP flags byte as received (all eight bits); zero for UDP.
	Flags Flags
}

// Match tells whether c is this frame.
func (f Frame) Match(c Candidate) bool {
	if c.Proto != f.Proto || c.DstPort != f.Port {
		return false
	}
	return f.Proto != TCP || f.AnyFlags || c.Flags&Tested == f.Flags
}

// String returns the frame in its normalized form: proto:port, then for
// TCP ":i" for any flags, ":x" for all six, or the letters in the order
// f s r p a u; no suffix means no flag (the default, "n" when written).
func (f Frame) String() string {
	s := f.Proto.String() + ":" + strconv.Itoa(int(f.Port))
	if f.Proto != TCP {
		return s
	}
	switch {
	case f.AnyFlags:
		return s + ":i"
	case f.Flags == Tested:
		return s + ":x"
	case f.Flags == 0:
		return s
	}
	b := []byte(s + ":")
	for _, l := range flagLetters {
		if f.Flags&l.f != 0 {
			b = append(b, l.c)
		}
	}
	return string(b)
}

// ParseFrame reads one frame: tcp|udp:PORT[:FLAGS], PORT 1 to 65535 in
// decimal, FLAGS (TCP only) letters from f s r p a u (FIN SYN RST PSH ACK
// URG: exactly these flags), or x (all six), n (none: the default) or i
// (any flags, alone). Letters may repeat and come in any order; n combined
// with others adds nothing.
func ParseFrame(s string) (Frame, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Frame{}, fmt.Errorf("bad frame %q: want tcp:PORT[:FLAGS] or udp:PORT", s)
	}
	var f Frame
	switch strings.ToLower(parts[0]) {
	case "tcp":
		f.Proto = TCP
	case "udp":
		f.Proto = UDP
	default:
		return Frame{}, fmt.Errorf("bad frame %q: protocol %q is not tcp or udp", s, parts[0])
	}
	port, err := parsePort(parts[1])
	if err != nil {
		return Frame{}, fmt.Errorf("bad frame %q: %v", s, err)
	}
	f.Port = port
	if len(parts) == 2 {
		return f, nil
	}
	if f.Proto != TCP {
		return Frame{}, fmt.Errorf("bad frame %q: flags apply to tcp frames only", s)
	}
	letters := parts[2]
	if letters == "" {
		return Frame{}, fmt.Errorf("bad frame %q: empty flags after ':'", s)
	}
	for i := 0; i < len(letters); i++ {
		switch c := letters[i]; c {
		case 'i', 'I':
			if len(letters) != 1 {
				return Frame{}, fmt.Errorf("bad frame %q: flag i (ignore flags) cannot be combined with other letters", s)
			}
			f.AnyFlags = true
		case 'x', 'X':
			f.Flags = Tested
		case 'n', 'N':
		default:
			fl, ok := letterFlag(c)
			if !ok {
				return Frame{}, fmt.Errorf("bad frame %q: unknown flag letter %q (want f s r p a u, x, n or i)", s, string(c))
			}
			f.Flags |= fl
		}
	}
	return f, nil
}

func letterFlag(c byte) (Flags, bool) {
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	for _, l := range flagLetters {
		if l.c == c {
			return l.f, true
		}
	}
	return 0, false
}

// parsePort reads a decimal port 1..65535 (no sign, no base prefix).
func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("bad port %q: want 1 to 65535", s)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("bad port %q: want 1 to 65535", s)
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("bad port %q: want 1 to 65535", s)
	}
	return uint16(n), nil
}

// MaxFrames bounds a sequence's length. Longer knocks add nothing a
// sender can type or a router should hold per source.
const MaxFrames = 64

// ParseSequence reads a sequence of frames separated by blanks or commas.
func ParseSequence(s string) ([]Frame, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == ','
	})
	if len(fields) == 0 {
		return nil, fmt.Errorf("empty sequence")
	}
	if len(fields) > MaxFrames {
		return nil, fmt.Errorf("sequence has %d frames, more than %d", len(fields), MaxFrames)
	}
	seq := make([]Frame, 0, len(fields))
	for _, fs := range fields {
		f, err := ParseFrame(fs)
		if err != nil {
			return nil, err
		}
		seq = append(seq, f)
	}
	return seq, nil
}

// SequenceString returns the frames' normalized forms joined by blanks.
func SequenceString(seq []Frame) string {
	var b strings.Builder
	for i, f := range seq {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.String())
	}
	return b.String()
}

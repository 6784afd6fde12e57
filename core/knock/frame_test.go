package knock

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseFrame(t *testing.T) {
	tests := []struct {
		in   string
		want Frame
		norm string
	}{
		{"udp:1234", Frame{Proto: UDP, Port: 1234}, "udp:1234"},
		{"tcp:543", Frame{Proto: TCP, Port: 543}, "tcp:543"},
		{"tcp:2345:n", Frame{Proto: TCP, Port: 2345}, "tcp:2345"},
		{"tcp:543:i", Frame{Proto: TCP, Port: 543, AnyFlags: true}, "tcp:543:i"},
		{"tcp:123:frap", Frame{Proto: TCP, Port: 123, Flags: FIN | RST | ACK | PSH}, "tcp:123:frpa"},
		{"tcp:434:x", Frame{Proto: TCP, Port: 434, Flags: Tested}, "tcp:434:x"},
		{"tcp:1:fsrpau", Frame{Proto: TCP, Port: 1, Flags: Tested}, "tcp:1:x"},
		{"tcp:65535:s", Frame{Proto: TCP, Port: 65535, Flags: SYN}, "tcp:65535:s"},
		{"tcp:22:ss", Frame{Proto: TCP, Port: 22, Flags: SYN}, "tcp:22:s"},
		{"tcp:22:sn", Frame{Proto: TCP, Port: 22, Flags: SYN}, "tcp:22:s"},
		{"TCP:22:SA", Frame{Proto: TCP, Port: 22, Flags: SYN | ACK}, "tcp:22:sa"},
		{"tcp:80:u", Frame{Proto: TCP, Port: 80, Flags: URG}, "tcp:80:u"},
	}
	for _, tt := range tests {
		got, err := ParseFrame(tt.in)
		if err != nil {
			t.Errorf("ParseFrame(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseFrame(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if s := got.String(); s != tt.norm {
			t.Errorf("ParseFrame(%q).String() = %q, want %q", tt.in, s, tt.norm)
		}
		if again, err := ParseFrame(got.String()); err != nil || again != got {
			t.Errorf("normalized %q does not parse back: %+v, %v", got.String(), again, err)
		}
	}
}

func TestParseFrameErrors(t *testing.T) {
	tests := []struct{ in, msg string }{
		{"tcp", "want tcp:PORT"},
		{"tcp:1:2:3", "want tcp:PORT"},
		{"icmp:1", `protocol "icmp" is not tcp or udp`},
		{"tcp:0", `bad port "0"`},
		{"tcp:65536", `bad port "65536"`},
		{"tcp:-1", `bad port "-1"`},
		{"tcp:+1", `bad port "+1"`},
		{"tcp:0x10", `bad port "0x10"`},
		{"tcp:", `bad port ""`},
		{"tcp:123456", `bad port "123456"`},
		{"tcp:22:", "empty flags"},
		{"tcp:22:sq", `unknown flag letter "q"`},
		{"tcp:22:e", `unknown flag letter "e"`},
		{"tcp:22:is", "flag i (ignore flags) cannot be combined"},
		{"tcp:22:si", "flag i (ignore flags) cannot be combined"},
		{"tcp:22:ii", "flag i (ignore flags) cannot be combined"},
		{"udp:53:s", "flags apply to tcp frames only"},
		{"udp:53:i", "flags apply to tcp frames only"},
	}
	for _, tt := range tests {
		_, err := ParseFrame(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseFrame(%q) error = %v, want it to contain %q", tt.in, err, tt.msg)
		}
	}
}

func TestParseSequence(t *testing.T) {
	seq, err := ParseSequence(" udp:1234 tcp:543,tcp:543:i ,\ttcp:123:frap  tcp:434:x,tcp:2345:n ")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := SequenceString(seq), "udp:1234 tcp:543 tcp:543:i tcp:123:frpa tcp:434:x tcp:2345"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := ParseSequence(" , "); err == nil || !strings.Contains(err.Error(), "empty sequence") {
		t.Errorf("empty sequence: %v", err)
	}
	long := strings.Repeat("udp:1 ", MaxFrames)
	if _, err := ParseSequence(long); err != nil {
		t.Errorf("%d frames: %v", MaxFrames, err)
	}
	if _, err := ParseSequence(long + "udp:2"); err == nil || !strings.Contains(err.Error(), "more than 64") {
		t.Errorf("%d frames: %v", MaxFrames+1, err)
	}
}

func cand(proto Proto, port uint16, flags Flags) Candidate {
	return Candidate{Src: netip.MustParseAddr("192.0.2.7"), Dst: netip.MustParseAddr("192.0.2.1"), Proto: proto, DstPort: port, Flags: flags}
}

func TestFrameMatch(t *testing.T) {
	mustFrame := func(s string) Frame {
		f, err := ParseFrame(s)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := []struct {
		frame string
		c     Candidate
		want  bool
	}{
		{"udp:1234", cand(UDP, 1234, 0), true},
		{"udp:1234", cand(UDP, 1235, 0), false},
		{"udp:1234", cand(TCP, 1234, 0), false},
		{"tcp:543", cand(TCP, 543, 0), true},
		{"tcp:543", cand(TCP, 543, SYN), false},
		{"tcp:543", cand(UDP, 543, 0), false},
		{"tcp:543:i", cand(TCP, 543, SYN|ACK|FIN), true},
		{"tcp:543:i", cand(TCP, 543, 0), true},
		{"tcp:543:i", cand(TCP, 544, 0), false},
		{"tcp:123:frap", cand(TCP, 123, FIN|RST|ACK|PSH), true},
		{"tcp:123:frap", cand(TCP, 123, FIN|RST|ACK), false},
		{"tcp:123:frap", cand(TCP, 123, FIN|RST|ACK|PSH|URG), false},
		{"tcp:434:x", cand(TCP, 434, Tested), true},
		{"tcp:434:x", cand(TCP, 434, Tested&^URG), false},
		// ECE and CWR are never tested.
		{"tcp:22:s", cand(TCP, 22, SYN|ECE|CWR), true},
		{"tcp:22:s", cand(TCP, 22, SYN|ECE), true},
		{"tcp:22:n", cand(TCP, 22, CWR), true},
		{"tcp:434:x", cand(TCP, 434, 0xff), true},
		{"tcp:22:s", cand(TCP, 22, SYN|ACK|ECE), false},
	}
	for _, tt := range tests {
		if got := mustFrame(tt.frame).Match(tt.c); got != tt.want {
			t.Errorf("%s.Match(%+v) = %v, want %v", tt.frame, tt.c, got, tt.want)
		}
	}
}

func TestCommand(t *testing.T) {
	tests := []struct{ cmd, addr, want string }{
		{"iptables -A INPUT -s %IP% -j ACCEPT", "192.0.2.7", "iptables -A INPUT -s 192.0.2.7 -j ACCEPT"},
		{"x %IP% %IP%", "2001:0db8:0:0:0:0:0:1", "x 2001:db8::1 2001:db8::1"},
		{"ip6 %IP%", "fe80::1%eth0;rm", "ip6 fe80::1"},
		{"no placeholder %ip% %IP", "192.0.2.7", "no placeholder %ip% %IP"},
		{"mapped %IP%", "::ffff:192.0.2.7", "mapped ::ffff:192.0.2.7"},
	}
	for _, tt := range tests {
		if got := Command(tt.cmd, netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Command(%q, %s) = %q, want %q", tt.cmd, tt.addr, got, tt.want)
		}
	}
	ev := &Event{Name: "SSH", StartCommand: "open %IP%", StopCommand: "close %IP%"}
	a := Action{Kind: Stop, Event: ev, Src: netip.MustParseAddr("2001:db8::7")}
	if a.Command() != "close 2001:db8::7" || a.Family() != 6 || a.Kind.String() != "stop" {
		t.Errorf("stop action: %q family %d %v", a.Command(), a.Family(), a.Kind)
	}
	a = Action{Kind: Start, Event: ev, Src: netip.MustParseAddr("192.0.2.7")}
	if a.Command() != "open 192.0.2.7" || a.Family() != 4 || a.Kind.String() != "start" {
		t.Errorf("start action: %q family %d %v", a.Command(), a.Family(), a.Kind)
	}
}

// FuzzFrame: any text either fails to parse or parses to a frame whose
// normalized form parses back to the same frame, and matching agrees with
// the frame's definition for the fuzzed packet fields.
func FuzzFrame(f *testing.F) {
	for _, s := range []string{"udp:1234", "tcp:543:i", "tcp:123:frap", "tcp:434:x", "tcp:2345:n", "tcp:22:S"} {
		f.Add(s, uint8(6), uint16(22), uint8(0x02))
	}
	f.Fuzz(func(t *testing.T, s string, proto uint8, port uint16, flags uint8) {
		fr, err := ParseFrame(s)
		if err != nil {
			return
		}
		again, err := ParseFrame(fr.String())
		if err != nil || again != fr {
			t.Fatalf("%q -> %q -> %+v, %v", s, fr.String(), again, err)
		}
		if fr.Port == 0 || (fr.Proto != TCP && fr.Proto != UDP) || fr.Flags&^Tested != 0 {
			t.Fatalf("%q parsed to an invalid frame %+v", s, fr)
		}
		c := Candidate{Proto: Proto(proto), DstPort: port, Flags: Flags(flags)}
		want := c.Proto == fr.Proto && c.DstPort == fr.Port &&
			(fr.Proto == UDP || fr.AnyFlags || Flags(flags)&Tested == fr.Flags)
		if got := fr.Match(c); got != want {
			t.Fatalf("%v.Match(%+v) = %v, want %v", fr, c, got, want)
		}
		// ECE and CWR never change a verdict.
		c.Flags ^= ECE | CWR
		if got := fr.Match(c); got != want {
			t.Fatalf("%v.Match(%+v) with ECN bits flipped = %v", fr, c, got)
		}
	})
}

package tportknockd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/core/knock"
)

const issueExample = `<SSH>                              # an event; names are unique
 sequence      = udp:1234 tcp:543 tcp:543:i tcp:123:frap tcp:434:x tcp:2345:n
 timeout       = 10                # seconds for the whole sequence
 start_command = /usr/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
 stop_command  = /usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT   # optional
 command_delay = 30                # optional: seconds until stop_command
</SSH>
`

func TestParseConfig(t *testing.T) {
	evs, err := ParseConfig("k.conf", strings.NewReader(issueExample))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	e := evs[0]
	if e.Name != "SSH" || e.Timeout != 10*time.Second || e.CommandDelay != 30*time.Second ||
		e.StartCommand != "/usr/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT" ||
		e.StopCommand != "/usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT" {
		t.Errorf("event %+v", e)
	}
	want := "SSH: udp:1234 tcp:543 tcp:543:i tcp:123:frpa tcp:434:x tcp:2345 timeout 10s stop after 30s\n"
	if got := Summary(evs); got != want {
		t.Errorf("Summary\n got %q\nwant %q", got, want)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	evs, err := ParseConfig("k.conf", strings.NewReader("<A>\nsequence=udp:1\nstart_command=true\n</A>\n<B>\nsequence = tcp:2:s\nstart_command = x # c\n</B>\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Summary(evs), "A: udp:1 timeout 10s\nB: tcp:2:s timeout 10s\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if evs[1].StartCommand != "x" {
		t.Errorf("trailing comment kept: %q", evs[1].StartCommand)
	}
}

func TestParseConfigErrors(t *testing.T) {
	block := func(body string) string { return "<E>\n" + body + "</E>\n" }
	const seq, start = "sequence = udp:1\n", "start_command = true\n"
	tests := []struct{ text, want string }{
		{block(seq + start + "sequense = udp:2\n"), `k.conf:4: unknown key "sequense" in <E>`},
		{block(start), "k.conf:1: <E> has no sequence"},
		{block(seq), "k.conf:1: <E> has no start_command"},
		{block("sequence = udp:0\n" + start), `k.conf:2: sequence: bad frame "udp:0": bad port "0": want 1 to 65535`},
		{block("sequence = tcp:70000\n" + start), `k.conf:2: sequence: bad frame "tcp:70000": bad port "70000"`},
		{block("sequence = tcp:22:sq\n" + start), `k.conf:2: sequence: bad frame "tcp:22:sq": unknown flag letter "q"`},
		{block("sequence = tcp:22:is\n" + start), `k.conf:2: sequence: bad frame "tcp:22:is": flag i (ignore flags) cannot be combined with other letters`},
		{block("sequence = udp:22:s\n" + start), `k.conf:2: sequence: bad frame "udp:22:s": flags apply to tcp frames only`},
		{block("sequence = icmp:1\n" + start), `k.conf:2: sequence: bad frame "icmp:1": protocol "icmp" is not tcp or udp`},
		{block(seq + seq + start), "k.conf:3: sequence given twice in <E> (first at line 2)"},
		{block(seq + start + "timeout = 5\ntimeout = 6\n"), "k.conf:5: timeout given twice in <E> (first at line 4)"},
		{block(seq + start + "timeout = 0\n"), "k.conf:4: timeout: 0 seconds out of range: want 1 to 3600"},
		{block(seq + start + "timeout = 3601\n"), "k.conf:4: timeout: 3601 seconds out of range: want 1 to 3600"},
		{block(seq + start + "timeout = 99999999999999999999999\n"), "k.conf:4: timeout: 99999999999999999999999 seconds out of range"},
		{block(seq + start + "timeout = 10s\n"), `k.conf:4: timeout: invalid value "10s": want whole seconds, 1 to 3600`},
		{block(seq + start + "timeout = -1\n"), `k.conf:4: timeout: invalid value "-1"`},
		{block(seq + start + "command_delay = 30\n"), "k.conf:4: command_delay without stop_command: there is no command to delay"},
		{block(seq + start + "stop_command = false\n"), "k.conf:4: stop_command needs command_delay (seconds after the start command)"},
		{block(seq + start + "stop_command = false\ncommand_delay = 0\n"), "k.conf:5: command_delay: 0 seconds out of range: want 1 to 2592000"},
		{block(seq + "start_command =\n"), "k.conf:3: start_command needs a value"},
		{block("sequence = ,\n" + start), "k.conf:2: sequence: empty sequence"},
		{"timeout = 10\n" + block(seq+start), "k.conf:1: timeout outside any <EVENT> block"},
		{block(seq+start) + "sequence = udp:1\n", "k.conf:5: sequence outside any <EVENT> block"},
		{block(seq+start) + block(seq+start), "k.conf:5: duplicate block <E> (first at line 1)"},
		{"<E>\n" + seq + start, "k.conf:1: block <E> is not closed (no </E>)"},
		{"# nothing\n", "k.conf: no knock events"},
		{block(seq + start + "just words\n"), "k.conf:4: want name = value"},
	}
	for _, tt := range tests {
		_, err := ParseConfig("k.conf", strings.NewReader(tt.text))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("config %q:\n got %v\nwant %s...", tt.text, err, tt.want)
		}
	}
}

// TestExampleConfig: the shipped example parses and prints its three
// events in normalized form.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "..", "examples", "tportknockd.conf")
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	evs, err := ParseConfig(path, fh)
	if err != nil {
		t.Fatal(err)
	}
	want := "SSH: tcp:7000 tcp:8000 udp:9000 timeout 10s stop after 30s\n" +
		"OpenVPN: udp:1194 udp:4711 tcp:4712 udp:1194 timeout 15s\n" +
		"SSH2: tcp:2222:s tcp:2222:fpu tcp:2222 tcp:2222:ra timeout 20s stop after 60s\n"
	if got := Summary(evs); got != want {
		t.Errorf("Summary\n got %q\nwant %q", got, want)
	}
	if _, err := knock.NewMachine(evs, knock.Options{}); err != nil {
		t.Errorf("machine: %v", err)
	}
}

// FuzzParseConfig: whatever the text, the parser returns events the
// machine accepts, with normalized forms that parse back the same, or an
// error that names the file.
func FuzzParseConfig(f *testing.F) {
	f.Add(issueExample)
	f.Add("<A>\nsequence=udp:1,tcp:2:i\nstart_command=x\n</A>\n")
	f.Add("<A>\nsequence=tcp:1:x\ntimeout=3600\nstart_command=x %IP%\nstop_command=y\ncommand_delay=2592000\n</A>\n")
	f.Fuzz(func(t *testing.T, text string) {
		evs, err := ParseConfig("f.conf", strings.NewReader(text))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.conf") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if _, err := knock.NewMachine(evs, knock.Options{}); err != nil {
			t.Fatalf("parsed events rejected by the machine: %v", err)
		}
		for _, e := range evs {
			seq, err := knock.ParseSequence(knock.SequenceString(e.Sequence))
			if err != nil || knock.SequenceString(seq) != knock.SequenceString(e.Sequence) {
				t.Fatalf("%s: normalized sequence does not parse back: %v", e.Name, err)
			}
		}
	})
}

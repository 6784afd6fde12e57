package tuninetd

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/cmd/internal/getopt"
	"github.com/tuninetd/tuninetd/tuntap"
)

func TestParseCommandLine(t *testing.T) {
	o, st := parseCommandLine([]string{"tuninetd", "-adi", "tun0", "-t3600", "-c", "/usr/bin/vpn wg0", "-f", "! host 1.2.3.4", "-n0", "-w", "/tmp/x.pcap", "-m", "tap",
		"--cmd-timeout=30", "--holdoff", "5", "--stop-on-exit", "--ring-blocks=4", "--ring-block-size=65536"}, "9.9")
	if st != nil {
		t.Fatalf("exit %d: %s", st.code, st.text)
	}
	want := options{
		iface: "tun0", filter: "! host 1.2.3.4", hasFilter: true, group: 0, command: "/usr/bin/vpn wg0",
		ttl: 3600, ackOnly: true, savefile: "/tmp/x.pcap", mode: tuntap.TAP, hasMode: true, daemon: true,
		cmdTimeout: 30 * time.Second, holdoff: 5 * time.Second, stopOnExit: true, ringBlocks: 4, ringBlockSize: 65536,
	}
	if *o != want {
		t.Errorf("got  %+v\nwant %+v", *o, want)
	}

	o, st = parseCommandLine([]string{"tuninetd", "-n", "65535", "-c", "x"}, "9.9")
	if st != nil {
		t.Fatalf("exit %d: %s", st.code, st.text)
	}
	defaults := options{group: 65535, command: "x", ttl: 600, mode: tuntap.TUN, cmdTimeout: 300 * time.Second}
	if *o != defaults {
		t.Errorf("defaults: got %+v\nwant %+v", *o, defaults)
	}
}

func TestParseCommandLineExits(t *testing.T) {
	u := usage("9.9")
	tests := []struct {
		name string
		args string // split on '|'
		code int
		text string // exact, or a prefix when it ends in "..."
	}{
		{"help", "-h", 1, u},
		{"long help", "--help", 1, u},
		{"help wins over later errors", "-h|-x", 1, u},
		{"version", "-v", 0, "tuninetd 9.9\n"},
		{"long version", "--version", 0, "tuninetd 9.9\n"},
		{"version before bad option", "-v|-x", 0, "tuninetd 9.9\n"},
		{"invalid option", "-x", 1, "prog: invalid option -- 'x'\n" + u},
		{"missing argument", "-i|tun0|-c", 1, "prog: option requires an argument -- 'c'\n" + u},
		{"unknown long", "--frobnicate", 1, "prog: unrecognized option '--frobnicate'\n" + u},
		{"no sensor", "-c|/bin/true", 1, "Network device or nflog-group must be specified. Abort\n" + u},
		{"no sensor, nothing", "", 1, "Network device or nflog-group must be specified. Abort\n" + u},
		{"no command", "-i|tun0", 1, "Executable path must be specified. Abort\n" + u},
		{"empty command", "-i|tun0|-c|", 1, "Executable path must be specified. Abort\n" + u},
		{"ttl garbage", "-i|tun0|-c|x|-t|abc", 1, "-t: invalid value \"abc\": want a whole number of seconds from 1 to 2147483647. Abort\n"},
		{"ttl zero", "-i|tun0|-c|x|-t0", 1, "-t: invalid value \"0\": want a whole number of seconds from 1 to 2147483647. Abort\n"},
		{"ttl negative", "-i|tun0|-c|x|-t|-5", 1, "-t: invalid value \"-5\": ..."},
		{"ttl trailing garbage", "-i|tun0|-c|x|-t|10s", 1, "-t: invalid value \"10s\": ..."},
		{"ttl too big", "-i|tun0|-c|x|-t|2147483648", 1, "-t: invalid value \"2147483648\": ..."},
		{"group garbage", "-n|one|-c|x", 1, "-n: invalid value \"one\": want a whole number from 0 to 65535. Abort\n"},
		{"group too big", "-n|65536|-c|x", 1, "-n: invalid value \"65536\": ..."},
		{"group negative", "-n|-1|-c|x", 1, "-n: invalid value \"-1\": ..."},
		{"bad mode", "-i|tun0|-c|x|-m|tup", 1, "-m: invalid device type \"tup\" (want tun or tap). Abort\n"},
		{"bad cmd timeout", "-i|tun0|-c|x|--cmd-timeout=-1", 1, "--cmd-timeout: invalid value \"-1\": want a whole number of seconds from 0 to 2147483647. Abort\n"},
		{"bad holdoff", "-i|tun0|-c|x|--holdoff=-1", 1, "--holdoff: invalid value \"-1\": ..."},
		{"bad ring size", "-i|tun0|-c|x|--ring-block-size=100", 1, "--ring-block-size: invalid value \"100\": want a whole number of bytes from 4096 to 1073741824. Abort\n"},
		{"stray operand", "-i|tun0|-c|/bin/vpn|wg0", 1, "Unexpected argument \"wg0\" (quote -c and -f values that contain spaces). Abort\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"prog"}
			if tt.args != "" {
				args = append(args, strings.Split(tt.args, "|")...)
			}
			o, st := parseCommandLine(args, "9.9")
			if st == nil {
				t.Fatalf("parsed to %+v, want exit %d", o, tt.code)
			}
			if st.code != tt.code {
				t.Errorf("code %d, want %d", st.code, tt.code)
			}
			if p, ok := strings.CutSuffix(tt.text, "..."); ok {
				if !strings.HasPrefix(st.text, p) {
					t.Errorf("text %q, want prefix %q", st.text, p)
				}
			} else if st.text != tt.text {
				t.Errorf("text\n%s\nwant\n%s", st.text, tt.text)
			}
		})
	}
}

// TestUsageText pins the lines of the original's usage text, in order
// (../shared/tuninetd-1.5.1.md): scripts and docs quote them.
func TestUsageText(t *testing.T) {
	want := []string{
		"tuninetd 9.9",
		"",
		"Event emitter with pcap and nflog sensors which could be used at the same time",
		"tuninetd -i <ifname> -c <path> [-a] [-d] [-f <filter>] [-n <nflog-group>] [-t <ttl>] [-w <path>]",
		"tuninetd -n <nflog-group> -c <path> [-a] [-d] [-i <ifname> [-f <filter>]] [-t <ttl>] [-w <path>]",
		"-a: use only tcp[ack] packets to zero TTL timer (see -t)",
		"-c <path>: to executable, will be run with 'start' and 'stop' parameter accordingly",
		"-d: daemonize process",
		"-f <filter>: apply packet filter, similar to tcpdump",
		"-i <ifname>: network interface to use with pcap",
		"-n <nflog-group>: netfilter nflog group ID",
		"-t <ttl>: seconds of interface idle before 'stop' command will be run. Default 600",
		"-w <path>: dump \"start event\" packets to pcap-savefile as well",
		"-h: print this help",
		"-v: print version",
		"Examples:",
		"--cmd-timeout=SECONDS",
	}
	u := usage("9.9")
	if !strings.HasPrefix(u, want[0]+"\n\n"+want[2]+"\n") {
		t.Errorf("usage does not start with the version line, a blank line and the description:\n%s", u)
	}
	rest := u
	for _, w := range want[2:] {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("usage lacks %q (in order) in:\n%s", w, u)
		}
		rest = rest[i+len(w):]
	}
}

// TestOptionTable keeps optionTable in step with the original's getopt
// string, letter for letter and in order: the parser's own tests
// (cmd/internal/getopt) run on a copy of this table.
func TestOptionTable(t *testing.T) {
	var short []getopt.Option
	var long []string
	for _, o := range optionTable {
		if o.Short != 0 {
			short = append(short, getopt.Option{Short: o.Short, HasArg: o.HasArg})
		}
		if o.Long != "" {
			long = append(long, o.Long)
		}
	}
	if want := getopt.Short("i:t:c:f:m:n:w:adhv"); !reflect.DeepEqual(short, want) {
		t.Errorf("short options %+v, want %+v", short, want)
	}
	if want := []string{"interface", "ttl", "command", "filter", "hold", "nflog-group", "write", "ack-only", "daemon", "help", "version",
		"cmd-timeout", "holdoff", "stop-on-exit", "ring-blocks", "ring-block-size", "wait-iface", "config"}; !reflect.DeepEqual(long, want) {
		t.Errorf("long options %q, want %q", long, want)
	}
}

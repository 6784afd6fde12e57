package tuninetd

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/cmd/internal/getopt"
	"github.com/tuninetd/tuninetd/tuntap"
)

func TestParseCommandLine(t *testing.T) {
	o, st := parseCommandLine([]string{"tuninetd", "-adi", "tun0", "-t3600", "-c", "/usr/bin/vpn wg0", "-f", "! host 1.2.3.4", "-n0", "-w", "/tmp/x.pcap", "-m", "tap",
		"--cmd-timeout=30", "--holdoff", "5", "--stop-on-exit", "--ring-blocks=4", "--ring-block-size=65536", "--netns", "/proc/1/ns/net"}, "9.9")
	if st != nil {
		t.Fatalf("exit %d: %s", st.code, st.text)
	}
	want := options{
		iface: "tun0", filter: "! host 1.2.3.4", hasFilter: true, group: 0, command: "/usr/bin/vpn wg0",
		ttl: 3600, ackOnly: true, savefile: "/tmp/x.pcap", mode: tuntap.TAP, hasMode: true, daemon: true,
		cmdTimeout: 30 * time.Second, holdoff: 5 * time.Second, stopOnExit: true, ringBlocks: 4, ringBlockSize: 65536,
		netns: "/proc/1/ns/net",
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
		{"empty netns", "-i|tun0|-c|x|--netns=", 1, "--netns: empty path. Abort\n"},
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
		"cmd-timeout", "holdoff", "stop-on-exit", "ring-blocks", "ring-block-size", "wait-iface", "netns", "dns-name", "dns-never", "config"}; !reflect.DeepEqual(long, want) {
		t.Errorf("long options %q, want %q", long, want)
	}
}

// TestOptionSources holds the option table, -h, the --config keys and
// README's Flags table together: every long name is in each.
func TestOptionSources(t *testing.T) {
	u := usage("9.9")
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, k := range optionTable.ConfigKeys() {
		keys[k] = true
	}
	for _, o := range optionTable {
		if o.Long == "" {
			t.Errorf("-%c has no long name", o.Short)
			continue
		}
		spelled := "--" + o.Long
		if o.Arg != "" {
			spelled += "=" + o.Arg
		}
		if !strings.Contains(u, spelled) {
			t.Errorf("-h lacks %s", spelled)
		}
		// A '|' in a Markdown table cell is written \|.
		if !strings.Contains(string(readme), "`"+strings.ReplaceAll(spelled, "|", `\|`)+"`") {
			t.Errorf("README's Flags table lacks `%s`", spelled)
		}
		if keys[o.Long] == o.CommandLineOnly {
			t.Errorf("--%s: config key %v, command-line only %v", o.Long, keys[o.Long], o.CommandLineOnly)
		}
	}
}

// writeConfig makes a config file only its owner can change.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tuninetd.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFile(t *testing.T) {
	conf := writeConfig(t, `# every option by its long name
interface = wg0
nflog-group = 3
command = /usr/bin/vpn wg0 "quoted"
filter = tcp port 22 and not host 10.0.0.1
ttl = 900
ack-only = yes
write = /var/log/x.pcap
hold = tap
daemon = no
cmd-timeout = 30
holdoff = 5
stop-on-exit = yes
ring-blocks = 8
ring-block-size = 8192
wait-iface = yes
netns = /run/netns/vpn
`)
	o, st := parseCommandLine([]string{"tuninetd", "--config", conf}, "9.9")
	if st != nil {
		t.Fatalf("exit %d: %s", st.code, st.text)
	}
	want := options{
		iface: "wg0", group: 3, command: `/usr/bin/vpn wg0 "quoted"`, filter: "tcp port 22 and not host 10.0.0.1", hasFilter: true,
		ttl: 900, ackOnly: true, savefile: "/var/log/x.pcap", mode: tuntap.TAP, hasMode: true,
		cmdTimeout: 30 * time.Second, holdoff: 5 * time.Second, stopOnExit: true, ringBlocks: 8, ringBlockSize: 8192, waitIface: true,
		netns: "/run/netns/vpn",
	}
	if *o != want {
		t.Errorf("got  %+v\nwant %+v", *o, want)
	}

	// The command line wins, wherever --config stands on it.
	o, st = parseCommandLine([]string{"tuninetd", "-t", "60", "--config", conf, "--interface=tun1", "-d", "--hold", "tun"}, "9.9")
	if st != nil {
		t.Fatalf("exit %d: %s", st.code, st.text)
	}
	want.ttl, want.iface, want.daemon, want.mode = 60, "tun1", true, tuntap.TUN
	if *o != want {
		t.Errorf("with overrides: got  %+v\nwant %+v", *o, want)
	}

	// Long names on the command line are the short options.
	o, st = parseCommandLine([]string{"tuninetd", "--nflog-group", "7", "--command=x", "--ack-only", "--daemon", "--write", "w", "--ttl=5", "--filter", "udp"}, "9.9")
	if st != nil {
		t.Fatalf("exit %d: %s", st.code, st.text)
	}
	long := options{group: 7, command: "x", ackOnly: true, daemon: true, savefile: "w", ttl: 5, filter: "udp", hasFilter: true, mode: tuntap.TUN, cmdTimeout: 300 * time.Second}
	if *o != long {
		t.Errorf("long names: got  %+v\nwant %+v", *o, long)
	}
}

func TestConfigFileErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"ttl = abc\n", ":1: ttl: invalid value \"abc\": want a whole number of seconds from 1 to 2147483647. Abort\n"},
		{"interface = a\n\nhold = tup\n", ":3: hold: invalid device type \"tup\" (want tun or tap). Abort\n"},
		{"nflog-group = 70000\n", ":1: nflog-group: invalid value \"70000\": want a whole number from 0 to 65535. Abort\n"},
		{"ttl = 1\nttl = 2\n", ":2: ttl given twice (first at line 1). Abort\n"},
		{"tll = 1\n", ":1: unknown option \"tll\". Abort\n"},
		{"version = yes\n", ":1: unknown option \"version\". Abort\n"},
		{"ack-only = sure\n", ":1: ack-only: invalid value \"sure\": want yes or no. Abort\n"},
	}
	for _, tt := range tests {
		conf := writeConfig(t, tt.text)
		_, st := parseCommandLine([]string{"tuninetd", "--config", conf, "-i", "tun0", "-c", "x"}, "9.9")
		if st == nil || st.code != 1 || st.text != conf+tt.want {
			t.Errorf("%q: got %+v, want exit 1 and %q", tt.text, st, conf+tt.want)
		}
	}
	// A bad value on the command line overriding a good one in the file
	// is the command line's error.
	conf := writeConfig(t, "ttl = 5\n")
	_, st := parseCommandLine([]string{"tuninetd", "--config", conf, "-t", "x", "-i", "tun0", "-c", "x"}, "9.9")
	if st == nil || st.text != "-t: invalid value \"x\": want a whole number of seconds from 1 to 2147483647. Abort\n" {
		t.Errorf("got %+v", st)
	}
	// The file's settings still need the required options from somewhere.
	conf = writeConfig(t, "ttl = 5\n")
	_, st = parseCommandLine([]string{"tuninetd", "--config", conf}, "9.9")
	if st == nil || !strings.HasPrefix(st.text, "Network device or nflog-group must be specified. Abort\n") {
		t.Errorf("got %+v", st)
	}
}

// TestDNSOptions: --dns-name and --dns-never repeat (and take comma
// lists) on the command line and in a file; a bad suffix names itself.
func TestDNSOptions(t *testing.T) {
	conf := writeConfig(t, "interface = br-lan\ncommand = /bin/true\ndns-name = corp.example\ndns-name = lab.example, corp.internal\ndns-never = www.corp.example\n")
	o, st := parseCommandLine([]string{"tuninetd", "--config", conf, "--dns-name=extra.example", "--dns-never", "x.lab.example"}, "9.9")
	if st != nil {
		t.Fatalf("exit %d: %s", st.code, st.text)
	}
	if got, want := o.dns.Names(), []string{"corp.example", "lab.example", "corp.internal", "extra.example"}; !reflect.DeepEqual(got, want) {
		t.Errorf("names %q, want %q", got, want)
	}
	if got, want := o.dns.Nevers(), []string{"www.corp.example", "x.lab.example"}; !reflect.DeepEqual(got, want) {
		t.Errorf("nevers %q, want %q", got, want)
	}
	o, st = parseCommandLine([]string{"tuninetd", "-i", "eth0", "-c", "/bin/true"}, "9.9")
	if st != nil || o.dns != nil {
		t.Errorf("no DNS options: rules %v, exit %+v", o, st)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--dns-name", "*.corp.example"}, `--dns-name "*.corp.example": no wildcard needed`},
		{[]string{"--dns-never", "a..b"}, `--dns-never "a..b": empty label between dots`},
		{[]string{"--dns-never", "corp.example"}, `--dns-never "corp.example": has no effect without --dns-name`},
		{[]string{"--dns-name", "corp.example", "--dns-never", "CORP.example."}, `also given to --dns-name`},
	} {
		_, st := parseCommandLine(append([]string{"tuninetd", "-i", "eth0", "-c", "/bin/true"}, c.args...), "9.9")
		if st == nil || st.code != 1 || !strings.Contains(st.text, c.want) || !strings.HasSuffix(st.text, ". Abort\n") {
			t.Errorf("%q: %+v, want exit 1 with %q", c.args, st, c.want)
		}
	}
	// A never-suffix is checked on its own where it is given.
	if _, st := parseCommandLine([]string{"tuninetd", "-i", "eth0", "-c", "/bin/true", "--dns-name", "corp.example", "--dns-never", "example"}, "9.9"); st != nil {
		t.Errorf("--dns-never example: %+v", st)
	}
	bad := writeConfig(t, "interface = eth0\ncommand = /bin/true\ndns-name = ok.example\ndns-name = -bad.example\n")
	if _, st := parseCommandLine([]string{"tuninetd", "--config", bad}, "9.9"); st == nil || !strings.Contains(st.text, ":4: ") {
		t.Errorf("bad suffix in a file: %+v, want FILE:4:", st)
	}
}

package tuntapd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuninetd/tuninetd/tuntap"
)

func TestParseArgs(t *testing.T) {
	const usageLine = "Usage: tuntapd -i <ifname> [-m <iftype>] [-d]\n"
	tests := []parseCase{
		{name: "no args", args: nil, status: 1, want: []string{"tuntapd: tun/tap device must be specified. Abort\n", "tuntapd 2.0.0\n", usageLine}},
		{name: "help", args: []string{"-h"}, status: 1, want: []string{"tuntapd 2.0.0\n\nStub for tun/tap device to keep it alive\n\n" + usageLine, "-m <iftype>: 'tun' or 'tap'. Default is 'tun'\n", "-h: print this help\n", "-v: print version\n"}},
		{name: "version", args: []string{"-v"}, status: 0, want: []string{"tuntapd 2.0.0\n"}},
		{name: "version before bad option", args: []string{"-v", "-x"}, status: 0, want: []string{"tuntapd 2.0.0\n"}},
		{name: "bad option", args: []string{"-i", "tun0", "-x"}, status: 1, want: []string{"tuntapd: invalid option -- 'x'\n", usageLine}},
		{name: "missing argument", args: []string{"-i"}, status: 1, want: []string{"tuntapd: option requires an argument -- 'i'\n", usageLine}},
		{name: "bad mode", args: []string{"-i", "tun0", "-m", "tup"}, status: 1, want: []string{"tuntapd: device mode must be \"tun\" or \"tap\". Abort\n"}},
		{name: "operand", args: []string{"-i", "tun0", "tun1"}, status: 1, want: []string{"tuntapd: unexpected argument \"tun1\". Abort\n"}},
		{name: "defaults", args: []string{"-i", "tun0"}, ok: true, cfg: config{ifname: "tun0", mode: tuntap.TUN}},
		{name: "grouped", args: []string{"-dmtap", "-itap0", "-w", "/tmp/x.pcap"}, ok: true,
			cfg: config{ifname: "tap0", mode: tuntap.TAP, daemon: true, savefile: "/tmp/x.pcap"}},
		{name: "last mode wins", args: []string{"-m", "bad", "-m", "tap", "-i", "tap0"}, ok: true, cfg: config{ifname: "tap0", mode: tuntap.TAP}},
		{name: "double dash", args: []string{"-i", "tun0", "--"}, ok: true, cfg: config{ifname: "tun0", mode: tuntap.TUN}},
		{name: "netns", args: []string{"-i", "tun0", "--netns", "/run/netns/vpn"}, ok: true, cfg: config{ifname: "tun0", mode: tuntap.TUN, netns: "/run/netns/vpn"}},
		{name: "empty netns", args: []string{"-i", "tun0", "--netns="}, status: 1, want: []string{"tuntapd: --netns: empty path. Abort\n"}},
	}
	checkParseArgs(t, tests)
}

// parseCase is a command line and what parseArgs makes of it.
type parseCase struct {
	name   string
	args   []string
	ok     bool
	status int
	want   []string // substrings of stderr, in order
	cfg    config
}

func checkParseArgs(t *testing.T, tests []parseCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, status, ok := parseArgs(tt.args, &stderr)
			if ok != tt.ok || status != tt.status {
				t.Fatalf("ok=%v status=%d, want ok=%v status=%d; stderr:\n%s", ok, status, tt.ok, tt.status, stderr.String())
			}
			if ok && cfg != tt.cfg {
				t.Errorf("config %+v, want %+v", cfg, tt.cfg)
			}
			out := stderr.String()
			for _, w := range tt.want {
				i := strings.Index(out, w)
				if i < 0 {
					t.Fatalf("stderr lacks %q (in order):\n%s", w, stderr.String())
				}
				out = out[i+len(w):]
			}
			if ok && stderr.Len() != 0 {
				t.Errorf("unexpected stderr: %s", stderr.String())
			}
		})
	}
}

// TestOptionSources holds the option table, -h and the --config keys
// together.
func TestOptionSources(t *testing.T) {
	var help bytes.Buffer
	usage(&help)
	keys := map[string]bool{}
	for _, k := range optionTable.ConfigKeys() {
		keys[k] = true
	}
	for _, o := range optionTable {
		spelled := "--" + o.Long
		if o.Arg != "" {
			spelled += "=" + o.Arg
		}
		if o.Long == "" || !strings.Contains(help.String(), spelled) {
			t.Errorf("-h lacks %q", spelled)
		}
		if keys[o.Long] == o.CommandLineOnly {
			t.Errorf("--%s: config key %v, command-line only %v", o.Long, keys[o.Long], o.CommandLineOnly)
		}
	}
}

func TestParseArgsConfig(t *testing.T) {
	dir := t.TempDir()
	conf := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := conf("good.conf", "# held for OpenVPN\ninterface = tap0\nmode = tap\nwrite = /tmp/x.pcap\ndaemon = yes\n")
	tests := []parseCase{
		{name: "file", args: []string{"--config", good}, ok: true,
			cfg: config{ifname: "tap0", mode: tuntap.TAP, daemon: true, savefile: "/tmp/x.pcap"}},
		{name: "netns in file", args: []string{"--config", conf("netns.conf", "interface = tun0\nnetns = /run/netns/vpn\n")}, ok: true,
			cfg: config{ifname: "tun0", mode: tuntap.TUN, netns: "/run/netns/vpn"}},
		{name: "command line wins", args: []string{"-m", "tun", "--config=" + good, "--interface", "tun5"}, ok: true,
			cfg: config{ifname: "tun5", mode: tuntap.TUN, daemon: true, savefile: "/tmp/x.pcap"}},
		{name: "long names", args: []string{"--interface=tun1", "--mode", "tap", "--write", "w.pcap", "--daemon"}, ok: true,
			cfg: config{ifname: "tun1", mode: tuntap.TAP, daemon: true, savefile: "w.pcap"}},
		{name: "bad mode in file", args: []string{"--config", conf("badmode.conf", "interface = tun0\nmode = tup\n")}, status: 1,
			want: []string{"tuntapd: " + filepath.Join(dir, "badmode.conf") + ":2: device mode must be \"tun\" or \"tap\". Abort\n"}},
		{name: "bad mode in file, good one given", args: []string{"--config", filepath.Join(dir, "badmode.conf"), "-m", "tun"}, ok: true,
			cfg: config{ifname: "tun0", mode: tuntap.TUN}},
		{name: "unknown name", args: []string{"--config", conf("ttl.conf", "interface = tun0\nttl = 5\n")}, status: 1,
			want: []string{"tuntapd: " + filepath.Join(dir, "ttl.conf") + ":2: unknown option \"ttl\". Abort\n"}},
		{name: "missing file", args: []string{"--config", filepath.Join(dir, "none.conf")}, status: 1,
			want: []string{"tuntapd: config: open " + filepath.Join(dir, "none.conf") + ": no such file or directory. Abort\n"}},
		{name: "unknown long option", args: []string{"-i", "tun0", "--wait-iface"}, status: 1,
			want: []string{"tuntapd: unrecognized option '--wait-iface'\n"}},
	}
	checkParseArgs(t, tests)
}

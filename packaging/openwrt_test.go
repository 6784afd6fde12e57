package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const (
	owrtInit   = "packaging/openwrt/tuninetd/files/tuninetd.init"
	owrtConfig = "packaging/openwrt/tuninetd/files/tuninetd.config"
	owrtMake   = "packaging/openwrt/tuninetd/Makefile"
)

// procdCall is one recorded call of the stand-in procd functions.
type procdCall struct {
	name string
	args []string
}

// procdInstance is what procd would be told about one instance.
type procdInstance struct {
	name    string
	argv    []string            // procd_set_param command + every procd_append_param command
	params  map[string][]string // the other procd_set_param calls
	appends int                 // procd_append_param calls, one per option
}

// runInit runs the init script's start_service and service_triggers with
// stand-ins for OpenWrt's functions under shell sh, on the UCI file uci.
func runInit(t *testing.T, sh []string, uci string) []procdCall {
	t.Helper()
	out := filepath.Join(t.TempDir(), "calls")
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	args := append(sh[1:], abs("openwrt/testdata/procd-stubs.sh"), abs(filepath.Join(root, owrtInit)), abs(uci), out)
	cmd := exec.Command(sh[0], args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/nonexistent"}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var calls []procdCall
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.Split(strings.TrimSuffix(line, "\x00"), "\x00")
		calls = append(calls, procdCall{f[0], f[1:]})
	}
	return calls
}

// instances groups the calls into instances; everything outside one is
// returned in other.
func instances(t *testing.T, calls []procdCall) (inst []procdInstance, other []procdCall) {
	t.Helper()
	var cur *procdInstance
	for _, c := range calls {
		switch c.name {
		case "procd_open_instance":
			if cur != nil {
				t.Fatalf("procd_open_instance %v inside instance %s", c.args, cur.name)
			}
			cur = &procdInstance{name: strings.Join(c.args, " "), params: map[string][]string{}}
		case "procd_close_instance":
			if cur == nil {
				t.Fatal("procd_close_instance without an open instance")
			}
			inst = append(inst, *cur)
			cur = nil
		case "procd_set_param", "procd_append_param":
			if cur == nil {
				t.Fatalf("%s %v outside an instance", c.name, c.args)
			}
			if len(c.args) == 0 {
				t.Fatalf("%s without a parameter name", c.name)
			}
			switch {
			case c.args[0] == "command" && c.name == "procd_set_param":
				cur.argv = append([]string(nil), c.args[1:]...)
			case c.args[0] == "command":
				cur.argv = append(cur.argv, c.args[1:]...)
				cur.appends++
			default:
				cur.params[c.args[0]] = c.args[1:]
			}
		default:
			other = append(other, c)
		}
	}
	if cur != nil {
		t.Fatalf("instance %s not closed", cur.name)
	}
	return inst, other
}

// shells are the shells the init script runs under: OpenWrt's is busybox
// ash; /bin/sh (dash on Debian) keeps it to POSIX plus local.
func shells(t *testing.T) map[string][]string {
	sh := map[string][]string{"sh": {"/bin/sh"}}
	if p, err := exec.LookPath("busybox"); err == nil {
		sh["busybox-ash"] = []string{p, "ash"}
	} else if os.Getenv("CI") == "true" {
		t.Fatal("busybox is not installed (CI=true): apt-get install busybox")
	} else {
		t.Log("busybox not installed: init script tested under /bin/sh only")
	}
	return sh
}

func TestOpenWrtInitInstances(t *testing.T) {
	want := []procdInstance{{
		name: "tuntapd-tun1",
		argv: []string{"/usr/sbin/tuntapd", "--interface", "tun1", "--mode", "tap", "--write", "/tmp/held tun1.pcap", "--netns", "/proc/1/ns/net"},
	}, {
		name: "tuninetd-vpn",
		argv: []string{"/usr/sbin/tuninetd", "--interface", "tun0", "--command", "/etc/tuninetd/vpn.sh wg0",
			"--filter", `tcp port 22 and not host "10.0.0.1" and '$HOME' * ip[2:2] > 100 `,
			"--ttl", "900", "--hold", "tun", "--cmd-timeout", "30", "--netns", "/run/netns/vpn", "--ack-only", "--wait-iface",
			"--dns-name", "corp.example", "--dns-name", "corp.internal, lab.example", "--dns-never", "www.corp.example"},
	}, {
		name: "tuninetd-cfg9",
		argv: []string{"/usr/sbin/tuninetd", "--nflog-group", "0", "--command", "/usr/bin/logger -t vpn",
			"--write", "/tmp/start events.pcap", "--holdoff", "5", "--ring-blocks", "8", "--ring-block-size", "131072",
			"--stop-on-exit"},
	}, {
		name: "tportknockd-knock",
		argv: []string{"/usr/sbin/tportknockd", "--config-file", "/etc/tportknockd.conf", "--interface", "eth0.2",
			"--refresh", "60", "--cmd-timeout", "20", "--max-sources", "1024", "--debug", "--wait-iface"},
	}}
	wantLogs := []string{
		"daemon.warn section 'vpn': unknown option 'tll' ignored",
		"daemon.warn section 'vpn': unknown list 'dns_nmae' ignored",
		"daemon.warn section 'typo': unknown section type 'tunineted' ignored",
		"daemon.warn section 'knock': unknown option 'command' ignored",
		"daemon.err section 'noiface': option 'interface' is required; not started",
		"daemon.err section 'nocommand': option 'command' is required; not started",
		"daemon.err section 'nosensor': option 'interface' or 'nflog_group' is required; not started",
		"daemon.err section 'noconf': options 'config_file' and 'interface' are required; not started",
	}
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			got, other := instances(t, runInit(t, sh, "openwrt/testdata/instances.uci"))
			if len(got) != len(want) {
				var names []string
				for _, g := range got {
					names = append(names, g.name)
				}
				t.Fatalf("instances %v, want %d", names, len(want))
			}
			for i, w := range want {
				g := got[i]
				if g.name != w.name {
					t.Errorf("instance %d is %q, want %q", i, g.name, w.name)
				}
				if !reflect.DeepEqual(g.argv, w.argv) {
					t.Errorf("%s argv\n got %q\nwant %q", w.name, g.argv, w.argv)
				}
				// One procd_append_param per option: "--name value" or "--flag".
				opts := 0
				for _, a := range w.argv[1:] {
					if strings.HasPrefix(a, "--") {
						opts++
					}
				}
				if g.appends != opts {
					t.Errorf("%s: %d procd_append_param calls for %d options", w.name, g.appends, opts)
				}
				for _, a := range g.argv {
					if a == "-d" || a == "--daemon" {
						t.Errorf("%s daemonizes (%s): procd needs it in the foreground", w.name, a)
					}
				}
				wantParams := map[string][]string{"respawn": {"3600", "5", "5"}, "stdout": {"1"}, "stderr": {"1"}}
				if strings.HasPrefix(w.name, "tportknockd-") {
					// Time for the pending stop commands at SIGTERM.
					wantParams["term_timeout"] = []string{"60"}
				}
				if !reflect.DeepEqual(g.params, wantParams) {
					t.Errorf("%s params %q, want %q", w.name, g.params, wantParams)
				}
			}
			var logs []string
			var trigger, procd bool
			for _, c := range other {
				switch c.name {
				case "logger":
					if len(c.args) != 5 || c.args[0] != "-t" || c.args[1] != "tuninetd" || c.args[2] != "-p" {
						t.Errorf("logger %q: want -t tuninetd -p PRIORITY MESSAGE", c.args)
						continue
					}
					logs = append(logs, c.args[3]+" "+c.args[4])
				case "procd_add_reload_trigger":
					trigger = reflect.DeepEqual(c.args, []string{"tuninetd"})
				case "USE_PROCD":
					procd = reflect.DeepEqual(c.args, []string{"1"})
				case "config_load":
					if !reflect.DeepEqual(c.args, []string{"tuninetd"}) {
						t.Errorf("config_load %q, want tuninetd", c.args)
					}
				default:
					t.Errorf("unexpected call %s %q", c.name, c.args)
				}
			}
			if !reflect.DeepEqual(logs, wantLogs) {
				t.Errorf("log lines\n got %q\nwant %q", logs, wantLogs)
			}
			if !trigger {
				t.Error("no procd_add_reload_trigger tuninetd")
			}
			if !procd {
				t.Error("USE_PROCD is not 1")
			}
		})
	}
}

// The shipped /etc/config/tuninetd starts nothing until edited, and every
// section in it is one the init script reads.
func TestOpenWrtShippedConfigStartsNothing(t *testing.T) {
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			got, other := instances(t, runInit(t, sh, filepath.Join(root, owrtConfig)))
			if len(got) != 0 {
				t.Errorf("shipped config starts %d instances", len(got))
			}
			for _, c := range other {
				if c.name == "logger" || c.name == "list-unsupported" {
					t.Errorf("shipped config: %s %q", c.name, c.args)
				}
			}
		})
	}
}

// uciList reads one of the init script's option lists, e.g. TUNINETD_VALUES.
func uciList(t *testing.T, script, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `='([^']*)'$`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("%s: no %s='...' line", owrtInit, name)
	}
	return strings.Fields(m[1])
}

// Every long option of each daemon's -h, except those that make no sense
// under procd, has its UCI option in the init script, in the right list
// (value or boolean, as the binary parses it), and in the shipped config.
func TestOpenWrtOptionsCoverHelp(t *testing.T) {
	bin := binDir(t)
	script := readFile(t, owrtInit)
	config := readFile(t, owrtConfig)
	// help and version exit, daemon is never wanted under procd, and UCI is
	// the configuration file.
	// tportknockd's check and list print and exit.
	notUCI := map[string]bool{"help": true, "version": true, "daemon": true, "config": true, "check": true, "list": true}
	for _, d := range []struct{ prog, prefix, section string }{
		{"tuninetd", "TUNINETD", "tuninetd"},
		{"tuntapd", "TUNTAPD", "tuntapd"},
		{"tportknockd", "TPORTKNOCKD", "tportknockd"},
	} {
		t.Run(d.prog, func(t *testing.T) {
			prog := filepath.Join(bin, d.prog)
			values := uciList(t, script, d.prefix+"_VALUES")
			flags := uciList(t, script, d.prefix+"_FLAGS")
			lists := uciList(t, script, d.prefix+"_LISTS")
			mapped := map[string]bool{}
			for _, v := range append(values, lists...) {
				mapped[v] = true
			}
			for _, f := range flags {
				mapped[f] = false
			}
			long := longOptions(helpOptions(helpText(t, prog)))
			if len(long) == 0 {
				t.Fatalf("%s -h lists no long options", d.prog)
			}
			inHelp := map[string]bool{}
			for _, name := range long {
				if notUCI[name] {
					continue
				}
				uci := strings.ReplaceAll(name, "-", "_")
				inHelp[uci] = true
				isValue, ok := mapped[uci]
				if !ok {
					t.Errorf("--%s has no UCI option %q in %s", name, uci, owrtInit)
					continue
				}
				if want := takesValue(t, prog, name); isValue != want {
					t.Errorf("UCI option %q: init script treats it as value=%v, %s --%s takes a value: %v", uci, isValue, d.prog, name, want)
				}
				if !regexp.MustCompile(`(?m)^\s*#?(option|list) ` + uci + ` '`).MatchString(configSection(config, d.section)) {
					t.Errorf("UCI option %q is not shown in a %q section of %s", uci, d.section, owrtConfig)
				}
			}
			for uci := range mapped {
				if !inHelp[uci] {
					t.Errorf("UCI option %q of %s maps to no option in %s -h", uci, owrtInit, d.prog)
				}
			}
		})
	}
}

// configSection returns the text of every `config TYPE` section of a UCI
// file.
func configSection(uci, typ string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(uci, "\n") {
		if strings.HasPrefix(l, "config ") {
			f := strings.Fields(l)
			in = len(f) > 1 && f[1] == typ
		}
		if in {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// The init script and the test's stand-ins pass shellcheck.
func TestOpenWrtShellcheck(t *testing.T) {
	sc := requireTool(t, "shellcheck", "shellcheck")
	out, code := run(t, root, sc, owrtInit, "packaging/openwrt/testdata/procd-stubs.sh")
	if code != 0 {
		t.Errorf("shellcheck:\n%s", out)
	}
}

// The package Makefile builds the one binary with the version, static, and
// installs the links the binary answers to.
func TestOpenWrtMakefile(t *testing.T) {
	mk := readFile(t, owrtMake)
	for _, want := range []string{
		"include ../../lang/golang/golang-package.mk",
		"GO_PKG:=github.com/tuninetd/tuninetd",
		"GO_PKG_BUILD_PKG:=github.com/tuninetd/tuninetd/cmd/tuninetd",
		"PKG_BUILD_FLAGS:=no-mips16",
		"+kmod-tun",
		"+kmod-nfnetlink-log",
		"CGO_ENABLED=0",
		"$(eval $(call GoBinPackage,tuninetd))",
		"$(eval $(call BuildPackage,tuninetd))",
		"/etc/init.d/tuninetd",
		"/etc/config/tuninetd",
	} {
		if !strings.Contains(mk, want) {
			t.Errorf("%s lacks %q", owrtMake, want)
		}
	}
	for _, l := range linkNames(t) {
		if !strings.Contains(mk, "$(LN) tuninetd $(1)/usr/sbin/"+l) {
			t.Errorf("%s does not link /usr/sbin/%s to tuninetd", owrtMake, l)
		}
	}
	// The package builds the version `make` does, stamped into the same
	// variable.
	m := regexp.MustCompile(`(?m)^PKG_VERSION:=(\S+)$`).FindStringSubmatch(mk)
	if v := binaryVersion(t); m == nil || m[1] != v {
		t.Errorf("%s: PKG_VERSION %v, make builds %s", owrtMake, m, v)
	}
	x := regexp.MustCompile(`-X (\S+)=`).FindStringSubmatch(makeValue(t, "LDFLAGS"))
	if x == nil {
		t.Fatal("Makefile: LDFLAGS sets no -X version")
	}
	if want := "GO_PKG_LDFLAGS_X:=" + x[1] + "=$(PKG_VERSION)"; !strings.Contains(mk, want) {
		t.Errorf("%s lacks %q", owrtMake, want)
	}
}

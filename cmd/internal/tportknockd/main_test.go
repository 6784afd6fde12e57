package tportknockd

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func runArgs(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(append([]string{"/usr/sbin/tportknockd"}, args...), &o, &e)
	return code, o.String(), e.String()
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "k.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckConfig(t *testing.T) {
	code, out, errs := runArgs("-C", filepath.Join("..", "..", "..", "examples", "tportknockd.conf"))
	want := "SSH: tcp:7000 tcp:8000 udp:9000 timeout 10s stop after 30s\n" +
		"OpenVPN: udp:1194 udp:4711 tcp:4712 udp:1194 timeout 15s\n" +
		"SSH2: tcp:2222:s tcp:2222:fpu tcp:2222 tcp:2222:ra timeout 20s stop after 60s\n"
	if code != 0 || out != want || errs != "" {
		t.Fatalf("-C example: %d\n%s\nstderr %q", code, out, errs)
	}
	bad := writeConfig(t, "<A>\n sequence = tcp:22:sz\n start_command = x\n</A>\n")
	code, out, errs = runArgs("-C", bad)
	if code != 1 || out != "" || errs != bad+`:2: sequence: bad frame "tcp:22:sz": unknown flag letter "z" (want f s r p a u, x, n or i)`+"\n" {
		t.Fatalf("-C bad: %d %q %q", code, out, errs)
	}
	code, _, errs = runArgs("-C", filepath.Join(t.TempDir(), "missing.conf"))
	if code != 1 || !strings.Contains(errs, "missing.conf") {
		t.Fatalf("-C missing: %d %q", code, errs)
	}
}

// skipQemuNetlink skips a test whose netlink answer a qemu-user
// emulated big-endian run cannot read: qemu passes the host kernel's
// little-endian route messages through unconverted.
func skipQemuNetlink(t *testing.T, errs string) {
	if strings.Contains(errs, "parsenetlinkrouteattr") && (runtime.GOARCH == "mips" || runtime.GOARCH == "mips64" || runtime.GOARCH == "ppc64" || runtime.GOARCH == "s390x") {
		t.Skipf("netlink through qemu-user on %s: %s", runtime.GOARCH, errs)
	}
}

func TestListDevices(t *testing.T) {
	code, out, errs := runArgs("-l")
	skipQemuNetlink(t, errs)
	if code != 0 || errs != "" {
		t.Fatalf("-l: %d %q", code, errs)
	}
	var lo bool
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || (f[1] != "up" && f[1] != "down") {
			t.Errorf("line %q: want NAME up|down ADDR...", l)
		}
		if f[0] == "lo" {
			lo = true
		}
	}
	if !lo {
		t.Errorf("no lo in\n%s", out)
	}
}

func TestCommandLineErrors(t *testing.T) {
	conf := writeConfig(t, "<A>\n sequence = udp:1\n start_command = x\n</A>\n")
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"-x"}, 1, "tportknockd: invalid option -- 'x'\n"},
		{[]string{"-C"}, 1, "tportknockd: option requires an argument -- 'C'\n"},
		{[]string{"--max-sources=0", "-C", conf}, 1, `tportknockd: --max-sources: invalid value "0": want a whole number of sources from 1 to 16777216` + "\n"},
		{[]string{"-r", "x", "-C", conf}, 1, `tportknockd: -r: invalid value "x"`},
		{[]string{"--cmd-timeout=-1", "-C", conf}, 1, `tportknockd: --cmd-timeout: invalid value "-1"`},
		{[]string{"-i", "lo"}, 1, "tportknockd: a configuration file must be given with -c\n"},
		{[]string{"-c", conf}, 1, "tportknockd: a network device must be given with -i\n"},
		{[]string{"-c", conf, "-i", "lo", "stray"}, 1, `tportknockd: unexpected argument "stray"`},
	}
	for _, tt := range tests {
		code, _, errs := runArgs(tt.args...)
		if code != tt.code || !strings.HasPrefix(errs, tt.err) {
			t.Errorf("%q: %d %q, want %d %q...", tt.args, code, errs, tt.code, tt.err)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	// As tuninetd and tuntapd: the usage on stderr, status 1, the
	// version line first.
	for _, a := range []string{"-h", "--help", "--he"} {
		code, out, errs := runArgs(a)
		if code != 1 || out != "" || !strings.HasPrefix(errs, "tportknockd "+Version+"\n") ||
			!strings.Contains(errs, "-C <config>") || !strings.Contains(errs, "--max-sources=N") {
			t.Errorf("%s: %d %q %q", a, code, out, errs)
		}
	}
	for _, a := range []string{"-v", "--version"} {
		code, out, _ := runArgs(a)
		if code != 0 || out != "tportknockd "+Version+"\n" {
			t.Errorf("%s: %d %q", a, code, out)
		}
	}
}

// TestMissingDevice: without --wait-iface a missing -i device is a
// start-up error naming it.
func TestMissingDevice(t *testing.T) {
	conf := writeConfig(t, "<A>\n sequence = udp:1234 tcp:22:s\n start_command = x\n</A>\n")
	code, _, errs := runArgs("-d", "-c", conf, "-i", "no-such-device0")
	if code != 1 || !strings.Contains(errs, "no-such-device0") {
		t.Errorf("missing device: %d %q", code, errs)
	}
}

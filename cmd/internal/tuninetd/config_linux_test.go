package tuninetd

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestConfigFileBinary runs the binary with --config: settings from the
// file, FILE:LINE errors before detaching, a relative path that the -d
// child (which runs in /) still finds, and a file others can write
// refused as root.
func TestConfigFileBinary(t *testing.T) {
	ns := tunNamespace(t)
	script, logPath := hookScript(t)
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("bad.conf", "interface = tun0\ncommand = "+script+"\nttl = soon\n", 0o600)
	cmd := ns.Command(binary(t), "--config", "bad.conf", "-d")
	cmd.Dir = dir
	out, code := runBinary(t, cmd)
	if code != 1 || out != "bad.conf:3: ttl: invalid value \"soon\": want a whole number of seconds from 1 to 2147483647. Abort\n" {
		t.Errorf("bad config: exit %d, output %q", code, out)
	}

	write("open.conf", "interface = tun0\ncommand = "+script+"\n", 0o646)
	out, code = runBinary(t, ns.Command(binary(t), "--config", filepath.Join(dir, "open.conf")))
	if code != 1 || !strings.Contains(out, "refused: it is writable by others and we run as root") {
		t.Errorf("world-writable config: exit %d, output %q", code, out)
	}

	write("good.conf", "# a daemon from a file\ninterface = tun0\ncommand = "+script+"\nttl = 1\nfilter = udp port 9999\n", 0o600)
	cmd = ns.Command(binary(t), "--config", "good.conf", "--daemon")
	cmd.Dir = dir
	out, code = runBinary(t, cmd)
	if code != 0 {
		t.Fatalf("good config with -d: exit %d, output %q", code, out)
	}
	pid := daemonPid(t, out)
	sendUntilStart(t, ns, logPath)
	if evs := readEvents(t, logPath); evs[0].env["TUNINETD_DST_PORT"] != "9999" {
		t.Errorf("start event %v", evs[0].env)
	}
	syscall.Kill(pid, syscall.SIGTERM)
}

// TestWritableCommandWarning: running as root, a -c program others can
// write is logged as a warning, and tuninetd runs on as the original did.
func TestWritableCommandWarning(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the warning is for a daemon running as root")
	}
	ns := tunNamespace(t)
	script, _ := hookScript(t)
	if err := os.Chmod(script, 0o777); err != nil {
		t.Fatal(err)
	}
	p := startTuninetd(t, ns, "-i", "tun0", "-c", script)
	p.waitLine("Warning! Executable path "+script+" is writable by others and runs as root", 1, lineWait)
	p.ready()
	p.signal(syscall.SIGTERM)
	if code := p.wait(lineWait); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

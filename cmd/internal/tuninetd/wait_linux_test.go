package tuninetd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

const waitingLine = "Interface tun0 does not exist yet, waiting for it (--wait-iface)"

// TestWaitIface starts tuninetd before its interface exists: it waits,
// answers SIGUSR1 meanwhile, and once the tun device appears it runs as if
// the device had been there: traffic starts the command, silence stops it.
func TestWaitIface(t *testing.T) {
	ns := quietNamespace(t)
	script, logPath := hookScript(t)
	p := startTuninetd(t, ns, "--interface", "tun0", "-c", script, "-t", "1", "--wait-iface", "-f", "udp port 9999")
	p.waitLine(waitingLine, 1, lineWait)

	p.signal(syscall.SIGUSR1)
	p.waitLine("- current status: waiting for interface tun0 (--wait-iface)", 1, lineWait)
	out := strings.Join(p.output(), "\n")
	for _, want := range []string{"SIGUSR1 caught:\n- capture engine: pcap, tun0\n-- pcap filter: \"udp port 9999\"", "- TTL: 1 sec."} {
		if !strings.Contains(out, want) {
			t.Errorf("SIGUSR1 while waiting: output lacks %q:\n%s", want, out)
		}
	}
	if n := p.count("Binding to interface tun0"); n != 0 {
		t.Fatalf("bound %d times before the interface existed", n)
	}

	ns.AddTun("tun0", "10.77.0.1/24")
	p.waitLine("Interface tun0 appeared", 1, lineWait)
	p.waitLine("Binding to interface tun0", 1, lineWait)
	p.ready()
	if evs := readEvents(t, logPath); len(evs) != 0 {
		t.Fatalf("hook ran before any traffic: %v", names(evs))
	}
	ns.SendUDP("10.77.0.2:9999", 1)
	evs := waitEvents(t, logPath, 2, lineWait)
	if evs[0].name != "start" || evs[1].name != "stop" {
		t.Fatalf("hook events %v, want start, stop", names(evs))
	}
	checkEnv(t, evs[0], map[string]string{"TUNINETD_REASON": "packet", "TUNINETD_IFACE": "tun0", "TUNINETD_DST_PORT": "9999"})

	// The order of the log: waiting, appeared, then the usual start-up.
	lines := p.output()
	order := []string{waitingLine, "Interface tun0 appeared", "Binding to interface tun0", "PCAP: start command done", "CORE: executing STOP command..."}
	i := 0
	for _, l := range lines {
		if i < len(order) && l == order[i] {
			i++
		}
	}
	if i != len(order) {
		t.Errorf("log lacks %q in order:\n%s", order[i:], strings.Join(lines, "\n"))
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(lineWait); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
}

// TestWaitIfaceSignals: SIGHUP while waiting has nothing to stop, SIGTERM
// ends the wait with status 0 and no command run.
func TestWaitIfaceSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			ns := quietNamespace(t)
			script, logPath := hookScript(t)
			p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "--wait-iface", "--stop-on-exit")
			p.waitLine(waitingLine, 1, lineWait)
			p.signal(syscall.SIGHUP)
			p.waitLine("Warning! Tuninetd is already in standby mode", 1, lineWait)
			p.signal(sig)
			if code := p.wait(lineWait); code != 0 {
				t.Fatalf("exit %d after %v while waiting, want 0", code, sig)
			}
			name := map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT"}[sig]
			if p.count(name+" caught while waiting for interface tun0, exiting") != 1 {
				t.Errorf("no exit line:\n%s", strings.Join(p.output(), "\n"))
			}
			if evs := readEvents(t, logPath); len(evs) != 0 {
				t.Errorf("hook ran: %v", names(evs))
			}
		})
	}
}

// TestWaitIfaceChecksFirst: with --wait-iface everything but the
// interface is still checked before waiting (and before -d detaches), and
// errors exit 1; without it a missing interface is an error as before.
func TestWaitIfaceChecksFirst(t *testing.T) {
	ns := quietNamespace(t)
	script, _ := hookScript(t)
	missingDir := filepath.Join(t.TempDir(), "missing", "x.pcap")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"filter syntax", []string{"-i", "tun0", "-c", script, "--wait-iface", "-f", "port foo"}, `Pcap: wrong filter: "port foo". `},
		{"filter syntax, daemon", []string{"-d", "-i", "tun0", "-c", script, "--wait-iface", "-f", "port foo"}, `Pcap: wrong filter: "port foo". `},
		{"command", []string{"-i", "tun0", "-c", "/nonexistent/vpn.sh", "--wait-iface"}, "Executable path is not usable: "},
		{"savefile", []string{"-d", "-i", "tun0", "-c", script, "--wait-iface", "-w", missingDir}, "Can't open pcap file for -w: "},
		{"no wait", []string{"-i", "tun0", "-c", script}, "Pcap: afpacket: interface tun0: no such device. Abort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runBinary(t, ns.Command(binary(t), tt.args...))
			if code != 1 || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, output:\n%s\nwant exit 1 and %q", code, out, tt.want)
			}
			if strings.Contains(out, "waiting for it") {
				t.Errorf("waited although start-up failed:\n%s", out)
			}
		})
	}
}

// TestWaitIfaceDaemon: with -d the parent reports success once all checks
// passed, while the daemon still waits for its interface.
func TestWaitIfaceDaemon(t *testing.T) {
	ns := quietNamespace(t)
	script, logPath := hookScript(t)
	out, code := runBinary(t, ns.Command(binary(t), "-d", "-i", "tun0", "-c", script, "-t", "1", "--wait-iface"))
	if code != 0 || !strings.Contains(out, "Success! Tuninetd has been started with PID: ") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	pid := daemonPid(t, out)
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
		t.Fatalf("daemon %d is not running: %v", pid, err)
	}
	ns.AddTun("tun0", "10.77.0.1/24")
	// The daemon binds when the device appears.
	sendUntilStart(t, ns, logPath)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// daemonPid reads the pid from the -d parent's success line; the test's
// end kills the daemon.
func daemonPid(t *testing.T, out string) int {
	t.Helper()
	_, after, _ := strings.Cut(out, "Success! Tuninetd has been started with PID: ")
	pid, err := strconv.Atoi(strings.TrimSpace(after))
	if err != nil {
		t.Fatalf("no pid in:\n%s", out)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// sendUntilStart sends to 10.77.0.2:9999 until the hook logs an event: a
// daemon's log is syslog, so the test cannot wait for its lines.
func sendUntilStart(t *testing.T, ns *sensortest.Namespace, logPath string) {
	t.Helper()
	deadline := time.Now().Add(lineWait)
	for len(readEvents(t, logPath)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the daemon never ran start")
		}
		ns.SendUDP("10.77.0.2:9999", 1)
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWaitIfaceWrongLinkType: a filter that compiles for some link type
// but not for the interface that appears ends the daemon with the
// original's message and status 1.
func TestWaitIfaceWrongLinkType(t *testing.T) {
	ns := quietNamespace(t)
	script, logPath := hookScript(t)
	p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "--wait-iface", "-f", "ether host 00:11:22:33:44:55")
	p.waitLine(waitingLine, 1, lineWait)
	ns.AddTun("tun0", "10.77.0.1/24")
	if code := p.wait(lineWait); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, strings.Join(p.output(), "\n"))
	}
	out := strings.Join(p.output(), "\n")
	if !strings.Contains(out, `Pcap: wrong filter: "ether host 00:11:22:33:44:55". `) {
		t.Errorf("output:\n%s", out)
	}
	if evs := readEvents(t, logPath); len(evs) != 0 {
		t.Errorf("hook ran: %v", names(evs))
	}
}

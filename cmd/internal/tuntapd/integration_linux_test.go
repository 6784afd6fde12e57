package tuntapd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// bin is the multi-call binary under test, run through a tuntapd symlink
// as it is installed (its directory is searchable by an unprivileged user,
// for the setpriv tests).
var bin sensortest.Binary

func TestMain(m *testing.M) {
	code := m.Run()
	bin.Remove()
	os.Exit(code)
}

// buildBinary skips unless namespaces can be made, and returns tuntapd.
func buildBinary(t *testing.T) string {
	t.Helper()
	sensortest.RequireNetns(t)
	return bin.Link(t, "tuntapd")
}

// proc is a running tuntapd whose stderr lines are collected.
type proc struct {
	*sensortest.Proc
	t *testing.T
}

// startProc runs argv inside ns (nil: the test's own namespace) and
// collects its stderr.
func startProc(t *testing.T, ns *sensortest.Namespace, argv ...string) *proc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if ns != nil {
		cmd = ns.Command(argv[0], argv[1:]...)
	}
	return &proc{Proc: sensortest.StartProc(t, cmd), t: t}
}

func (p *proc) output() string { return p.Output() }

// waitLine waits for a stderr line containing s.
func (p *proc) waitLine(s string, timeout time.Duration) {
	p.t.Helper()
	p.WaitFor(fmt.Sprintf("a line containing %q", s), 1, timeout, func(l string) bool { return strings.Contains(l, s) })
}

// wait waits for the process to exit and returns its exit status.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	return p.Wait(timeout)
}

func (p *proc) signal(s os.Signal) {
	p.t.Helper()
	p.Signal(s)
}

// waitLink polls until ip link show name succeeds (want true) or fails.
func waitLink(t *testing.T, ns *sensortest.Namespace, name string, want bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if (ns.Command("ip", "link", "show", name).Run() == nil) == want {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("ip link show %s: exists=%v never happened", name, want)
}

func linkShow(ns *sensortest.Namespace, name string) string {
	return ns.Run("ip", "-o", "link", "show", name)
}

func TestForegroundTunCaptureAndSignals(t *testing.T) {
	bin := buildBinary(t)
	ns := sensortest.NewNamespace(t)
	save := filepath.Join(t.TempDir(), "start.pcap")
	p := startProc(t, ns, bin, "-i", "tun0", "-w", save)
	p.waitLine("tuntapd: started with pid ", 10*time.Second)
	waitLink(t, ns, "tun0", true)
	ns.Run("ip", "addr", "add", "10.91.0.1/24", "dev", "tun0")
	ns.Run("ip", "link", "set", "tun0", "up")
	if out := linkShow(ns, "tun0"); !strings.Contains(out, "LOWER_UP") {
		t.Fatalf("no carrier with tuntapd attached: %s", out)
	}

	// A capture on tun0 sees packets routed to it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	td := ns.CommandContext(ctx, "tcpdump", "-i", "tun0", "-n", "-l", "-c", "1", "udp")
	var tdOut bytes.Buffer
	td.Stdout = &tdOut
	tdErr, err := td.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := td.Start(); err != nil {
		t.Skipf("tcpdump: %v", err)
	}
	sc := bufio.NewScanner(tdErr)
	listening := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "listening on") {
			listening = true
			break
		}
	}
	if !listening {
		t.Fatalf("tcpdump did not start listening")
	}
	go io.Copy(io.Discard, tdErr)
	ns.SendUDP("10.91.0.2:9", 3)
	if err := td.Wait(); err != nil {
		t.Fatalf("tcpdump: %v (out: %s)", err, tdOut.String())
	}
	if !strings.Contains(tdOut.String(), "10.91.0.1") || !strings.Contains(tdOut.String(), "10.91.0.2.9") {
		t.Fatalf("tcpdump saw: %s", tdOut.String())
	}

	// The foreground logs a summary of each packet read.
	p.waitLine("|- IPv4 10.91.0.1 > 10.91.0.2, NXT_HDR: 0x11 (UDP)", 10*time.Second)

	p.signal(syscall.SIGUSR1)
	p.waitLine("tuntapd: SIGUSR1 caught. Running on tun0, mode 0x0001", 10*time.Second)
	p.signal(syscall.SIGHUP)
	p.waitLine("tuntapd: SIGHUP caught. NoOp", 10*time.Second)
	if out := linkShow(ns, "tun0"); !strings.Contains(out, "LOWER_UP") {
		t.Fatalf("no carrier after SIGHUP: %s", out)
	}
	p.signal(syscall.SIGTERM)
	if st := p.wait(10 * time.Second); st != 0 {
		t.Fatalf("exit status %d after SIGTERM:\n%s", st, p.output())
	}
	if !strings.Contains(p.output(), "tuntapd: SIGTERM caught. Shutting down...") {
		t.Errorf("no SIGTERM line:\n%s", p.output())
	}
	// tuntapd created tun0, so it is gone with tuntapd.
	waitLink(t, ns, "tun0", false)

	// -w: the packets read are in the savefile, readable by tcpdump.
	out, err := exec.Command("tcpdump", "-n", "-r", save).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "10.91.0.1.") || !strings.Contains(string(out), "> 10.91.0.2.9:") {
		t.Fatalf("tcpdump -r %s: %v\n%s", save, err, out)
	}
}

func TestSavefileError(t *testing.T) {
	bin := buildBinary(t)
	ns := sensortest.NewNamespace(t)
	p := startProc(t, ns, bin, "-i", "tun0", "-w", filepath.Join(t.TempDir(), "missing", "x.pcap"))
	if st := p.wait(10 * time.Second); st != 1 {
		t.Fatalf("exit %d, want 1:\n%s", st, p.output())
	}
	if !strings.Contains(p.output(), "tuntapd: can't open or create pcap file: ") {
		t.Fatalf("output:\n%s", p.output())
	}
	if ns.Command("ip", "link", "show", "tun0").Run() == nil {
		t.Fatal("device created although startup failed")
	}
}

func TestForegroundTapSIGINT(t *testing.T) {
	bin := buildBinary(t)
	ns := sensortest.NewNamespace(t)
	ns.Run("ip", "tuntap", "add", "dev", "tap0", "mode", "tap")
	p := startProc(t, ns, bin, "-m", "tap", "-i", "tap0")
	p.waitLine("tuntapd: started with pid ", 10*time.Second)
	ns.Run("ip", "link", "set", "tap0", "up")
	out := ""
	for i := 0; i < 200; i++ {
		if out = linkShow(ns, "tap0"); strings.Contains(out, "LOWER_UP") {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if !strings.Contains(out, "LOWER_UP") || !strings.Contains(out, "link/ether") {
		t.Fatalf("tap0 with tuntapd: %s", out)
	}
	// IPv6 router solicitation / ARP etc. show as MAC lines.
	ns.Run("ip", "addr", "add", "10.92.0.1/24", "dev", "tap0")
	ns.SendUDP("10.92.0.2:9", 1)
	p.waitLine("|- MAC: ", 10*time.Second)

	p.signal(syscall.SIGUSR1)
	p.waitLine("tuntapd: SIGUSR1 caught. Running on tap0, mode 0x0002", 10*time.Second)
	p.signal(syscall.SIGINT)
	if st := p.wait(10 * time.Second); st != 0 {
		t.Fatalf("exit status %d after SIGINT:\n%s", st, p.output())
	}
	// An existing device stays.
	if out := linkShow(ns, "tap0"); strings.Contains(out, "LOWER_UP") {
		t.Fatalf("carrier after tuntapd exited: %s", out)
	}
}

var pidRE = regexp.MustCompile(`tuntapd: success! Has been started with PID: (\d+)\n`)

func TestDaemon(t *testing.T) {
	bin := buildBinary(t)
	ns := sensortest.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	cmd := ns.CommandContext(ctx, bin, "-d", "-i", "tun0", "-w", "rel.pcap")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tuntapd -d: %v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(stderr.String(), "---\n") {
		t.Errorf("stderr does not start with ---: %q", stderr.String())
	}
	m := pidRE.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no success line: %q", stderr.String())
	}
	pid, _ := strconv.Atoi(m[1])
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })

	// The child is a session leader in /, holding the device.
	if sid, err := unix.Getsid(pid); err != nil || sid != pid {
		t.Errorf("daemon %d: session %d (%v), want its own", pid, sid, err)
	}
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || cwd != "/" {
		t.Errorf("daemon cwd %q (%v), want /", cwd, err)
	}
	ns.Run("ip", "addr", "add", "10.93.0.1/24", "dev", "tun0")
	ns.Run("ip", "link", "set", "tun0", "up")
	if out := linkShow(ns, "tun0"); !strings.Contains(out, "LOWER_UP") {
		t.Fatalf("no carrier with the daemon attached: %s", out)
	}
	// -w with a relative path names a file in the directory tuntapd was
	// started from, although the daemon runs in /.
	ns.SendUDP("10.93.0.2:9", 1)
	for i := 0; ; i++ {
		if fi, err := os.Stat(filepath.Join(dir, "rel.pcap")); err == nil && fi.Size() > 24 {
			break
		}
		if i == 200 {
			t.Fatal("the daemon wrote no packet to rel.pcap")
		}
		time.Sleep(25 * time.Millisecond)
	}

	// A second daemon on the same device fails, and says so here.
	cmd = ns.CommandContext(ctx, bin, "-d", "-i", "tun0")
	stderr.Reset()
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("second daemon: %v, want exit 1; stderr:\n%s", err, stderr.String())
	}
	for _, want := range []string{"held by another process", "tuntapd: mapping to tun/tap interface tun0 mode 0x0001 failed. Abort"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("second daemon's stderr lacks %q:\n%s", want, stderr.String())
		}
	}

	// SIGTERM ends the daemon, which deletes the device it created.
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLink(t, ns, "tun0", false)
}

func TestBusyForeground(t *testing.T) {
	bin := buildBinary(t)
	ns := sensortest.NewNamespace(t)
	p := startProc(t, ns, bin, "-i", "tun0")
	p.waitLine("started with pid", 10*time.Second)
	waitLink(t, ns, "tun0", true)
	q := startProc(t, ns, bin, "-i", "tun0")
	if st := q.wait(10 * time.Second); st != 1 {
		t.Fatalf("second tuntapd exit %d, want 1:\n%s", st, q.output())
	}
	if !strings.Contains(q.output(), "tuntapd: mapping to tun/tap interface tun0 mode 0x0001 failed. Abort") {
		t.Fatalf("second tuntapd:\n%s", q.output())
	}
}

func TestDeviceDeleted(t *testing.T) {
	bin := buildBinary(t)
	ns := sensortest.NewNamespace(t)
	p := startProc(t, ns, bin, "-i", "tun0")
	p.waitLine("started with pid", 10*time.Second)
	waitLink(t, ns, "tun0", true)
	ns.Run("ip", "link", "del", "tun0")
	if st := p.wait(10 * time.Second); st != 1 {
		t.Fatalf("exit %d after the device was deleted, want 1:\n%s", st, p.output())
	}
	if !strings.Contains(p.output(), "tuntapd: error, while reading data. Abort") {
		t.Fatalf("output:\n%s", p.output())
	}
}

// tunNode makes a world-writable tun character device (10, 200).
// Distributions make /dev/net/tun 0666, leaving the check to TUNSETIFF
// (CAP_NET_ADMIN); some containers make it 0600, so the privilege tests
// bind-mount this node over it inside the private mount namespace that ip
// netns exec runs in.
func tunNode(t *testing.T) string {
	t.Helper()
	node := filepath.Join(t.TempDir(), "tun")
	if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 200))); err != nil {
		t.Skipf("cannot make a tun device node: %v", err)
	}
	if err := os.Chmod(node, 0o666); err != nil {
		t.Fatal(err)
	}
	return node
}

// asNobody wraps argv to run as nobody with only caps ("" = none).
func asNobody(node, caps string, argv ...string) []string {
	args := []string{"sh", "-c", `mount --bind "$0" /dev/net/tun && exec "$@"`, node,
		"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
	if caps == "" {
		args = append(args, "--inh-caps=-all", "--bounding-set=-all")
	} else {
		args = append(args, "--inh-caps=+"+caps, "--ambient-caps=+"+caps)
	}
	return append(args, argv...)
}

func TestPrivileges(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv not installed")
	}
	bin := buildBinary(t)
	ns := sensortest.NewNamespace(t)
	node := tunNode(t)

	p := startProc(t, ns, asNobody(node, "", bin, "-i", "tun0")...)
	if st := p.wait(10 * time.Second); st != 1 {
		t.Fatalf("without capabilities: exit %d, want 1:\n%s", st, p.output())
	}
	for _, want := range []string{"need CAP_NET_ADMIN to attach to tun device tun0", "tuntapd: mapping to tun/tap interface tun0 mode 0x0001 failed. Abort"} {
		if !strings.Contains(p.output(), want) {
			t.Errorf("without capabilities, output lacks %q:\n%s", want, p.output())
		}
	}

	p = startProc(t, ns, asNobody(node, "net_admin", bin, "-i", "tun0")...)
	p.waitLine("started with pid", 10*time.Second)
	waitLink(t, ns, "tun0", true)
	ns.Run("ip", "link", "set", "tun0", "up")
	if out := linkShow(ns, "tun0"); !strings.Contains(out, "LOWER_UP") {
		t.Fatalf("as nobody with CAP_NET_ADMIN, no carrier: %s\n%s", out, p.output())
	}
	p.signal(syscall.SIGTERM)
	if st := p.wait(10 * time.Second); st != 0 {
		t.Fatalf("exit %d:\n%s", st, p.output())
	}
	waitLink(t, ns, "tun0", false)
}

// TestNetns: tuntapd in the test's namespace with --netns holds (and
// creates) the device inside the other one, with carrier, deletes it on
// SIGTERM, and refuses a path that is not a network namespace.
func TestNetns(t *testing.T) {
	bin := buildBinary(t)
	ns := sensortest.NewNamespace(t)
	const dev = "tndns2" // unlikely to exist in the root namespace
	p := startProc(t, nil, bin, "-i", dev, "--netns", "/run/netns/"+ns.Name)
	p.waitLine("tuntapd: holding "+dev+" in network namespace /run/netns/"+ns.Name, 10*time.Second)
	waitLink(t, ns, dev, true)
	if _, err := os.Stat("/sys/class/net/" + dev); err == nil {
		t.Fatalf("%s exists in the root namespace", dev)
	}
	ns.Run("ip", "link", "set", dev, "up")
	if out := linkShow(ns, dev); !strings.Contains(out, "LOWER_UP") {
		t.Fatalf("no carrier with tuntapd attached from outside: %s", out)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, p.output())
	}
	waitLink(t, ns, dev, false)

	for _, path := range []string{"/proc/self/ns/uts", "/nonexistent"} {
		for _, daemon := range []bool{false, true} {
			args := []string{"-i", dev, "--netns", path}
			if daemon {
				args = append(args, "-d")
			}
			var out bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Stderr = &out
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			want := "tuntapd: can't use network namespace " + path + ": "
			if code != 1 || !strings.Contains(out.String(), want) {
				t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", args, code, out.String(), want)
			}
		}
	}
}

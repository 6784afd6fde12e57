package tuninetd

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/netns"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// --netns: tuninetd runs in the test's own (root) namespace and watches
// devices and NFLOG groups inside a throwaway one.

// netnsHook is a -c script that logs like hookScript's and also records
// the network namespace the command runs in; nsLog returns those lines
// ("start net:[...]").
func netnsHook(t *testing.T) (script, logPath string, nsLog func() []string) {
	t.Helper()
	script, logPath, dir := e2eScript(t, `echo "$1 $(readlink /proc/self/ns/net)" >> netns.log`)
	return script, logPath, func() []string {
		b, err := os.ReadFile(filepath.Join(dir, "netns.log"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return strings.Fields(strings.ReplaceAll(string(b), "\n", " "))
	}
}

// ownNetns is the network namespace of the test process, as readlink
// shows it.
func ownNetns(t *testing.T) string {
	t.Helper()
	l, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// checkCommandNetns asserts that every command ran in want, and that there
// were n of them. The hook records its namespace after its event line, so
// the last one may still be on its way.
func checkCommandNetns(t *testing.T, nsLog func() []string, n int, want string) {
	t.Helper()
	var entries []string
	for deadline := time.Now().Add(lineWait); ; time.Sleep(10 * time.Millisecond) {
		if entries = nsLog(); len(entries) >= 2*n || time.Now().After(deadline) {
			break
		}
	}
	if len(entries) != 2*n {
		t.Fatalf("commands' namespaces: %q, want %d entries", entries, n)
	}
	for i := 1; i < len(entries); i += 2 {
		if entries[i] != want {
			t.Errorf("%s command ran in %s, want tuninetd's own %s", entries[i-1], entries[i], want)
		}
	}
}

// startRootTuninetd runs the binary in the test's namespace.
func startRootTuninetd(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	return startProc(t, exec.Command(binary(t), args...))
}

// hasLink reports whether ns has an interface name.
func hasLink(ns *sensortest.Namespace, name string) bool {
	return ns.Command("ip", "link", "show", "dev", name).Run() == nil
}

// TestNetnsCapture: tuninetd in the root namespace, -i tun0 -m tun -f in
// another one. The holder creates tun0 there (not here), the filter
// applies, commands run here, the holder takes the device again after
// stop (in that namespace: its traffic is seen again), and when tun0 is
// deleted and re-created inside the namespace capture resumes.
func TestNetnsCapture(t *testing.T) {
	ns := quietNamespace(t)
	const dev = "tndns0" // unlikely to exist in the root namespace
	if _, err := os.Stat("/sys/class/net/" + dev); err == nil {
		t.Fatalf("%s exists in the root namespace; the test cannot tell where the holder creates it", dev)
	}
	script, logPath, nsLog := netnsHook(t)
	p := startRootTuninetd(t, "-i", dev, "-m", "tun", "-f", "udp dst port 9999",
		"--netns", "/run/netns/"+ns.Name, "-c", script, "-t", "1")
	p.ready()
	if !hasLink(ns, dev) {
		t.Fatalf("-m did not create %s inside %s", dev, ns.Name)
	}
	if _, err := os.Stat("/sys/class/net/" + dev); err == nil {
		t.Fatalf("-m created %s in the root namespace", dev)
	}
	ns.Run("ip", "addr", "add", "10.78.0.1/24", "dev", dev)
	ns.Run("ip", "link", "set", dev, "up")

	// The filter runs on the sensor there: other ports do not start.
	ns.SendUDP("10.78.0.2:9998", 3)
	e2eQuiet(t, logPath, 0, 500*time.Millisecond, "traffic the filter rejects")
	root := ownNetns(t)

	round := func(n int, what string) {
		t.Helper()
		for try := 0; len(readEvents(t, logPath)) < 2*n-1; try++ {
			if try == 200 {
				t.Fatalf("%s: no start after %d packets; stderr:\n%s", what, try, strings.Join(p.output(), "\n"))
			}
			ns.SendUDP("10.78.0.2:9999", 1)
			time.Sleep(20 * time.Millisecond)
		}
		evs := waitEvents(t, logPath, 2*n, stopLate)
		e2eAlternate(t, evs)
		if len(evs) != 2*n {
			t.Fatalf("%s: events %v, want %d", what, names(evs), 2*n)
		}
	}
	round(1, "first round")
	checkCommandNetns(t, nsLog, 2, root)

	// After stop the holder takes the device again, in the namespace;
	// without it the device has no carrier and nothing would be seen.
	p.waitLine("Holding tun device "+dev, 1, lineWait)
	round(2, "after the holder took the device again")

	// Deleted and re-created inside the namespace: the sensor re-binds
	// there (the holder has lost the device; the test holds the new one).
	p.waitLine("Holding tun device "+dev, 2, lineWait)
	ns.Run("ip", "link", "del", dev)
	e2eWaitPrefix(p, "pcap: interface "+dev+" disappeared", lineWait)
	ns.AddTun(dev, "10.78.0.1/24")
	e2eWaitPrefix(p, "pcap: interface "+dev+" is back", lineWait)
	round(3, "after re-creating the device")
	checkCommandNetns(t, nsLog, 6, root)

	p.signal(syscall.SIGTERM)
	if code := p.wait(lineWait); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
}

// TestNetnsNFLOG: -n binds the group of the other namespace, where the
// rule logs; the commands run here.
func TestNetnsNFLOG(t *testing.T) {
	ns := tunNamespace(t)
	const group = 17
	e2eLogRule(t, ns, "nft", group, 9999)
	script, logPath, nsLog := netnsHook(t)
	p := startRootTuninetd(t, "-n", strconv.Itoa(group), "--netns", "/run/netns/"+ns.Name, "-c", script, "-t", "1")
	p.ready()
	if e2eNflogInstance(t, ns, group) == "" {
		t.Fatalf("group %d is not bound inside %s", group, ns.Name)
	}
	// The group is the namespace's: a second tuninetd there is refused,
	// naming the holder found in that namespace's instance table.
	out, code := runBinary(t, exec.Command(binary(t), "-n", strconv.Itoa(group), "--netns", "/run/netns/"+ns.Name, "-c", script))
	want := "nflog group " + strconv.Itoa(group) + " is already bound by another program (probably tuninetd, pid " + strconv.Itoa(p.cmd.Process.Pid) + ")"
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("second tuninetd in the namespace: exit %d, want 1 and %q:\n%s", code, want, out)
	}
	ns.SendUDP("10.77.0.2:9999", 1)
	evs := waitEvents(t, logPath, 2, stopLate)
	e2eAlternate(t, evs)
	checkEnv(t, evs[0], map[string]string{"TUNINETD_SENSOR": "nflog", "TUNINETD_DST": "10.77.0.2"})
	checkCommandNetns(t, nsLog, 2, ownNetns(t))
	p.signal(syscall.SIGTERM)
	if code := p.wait(lineWait); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	if l := e2eNflogInstance(t, ns, group); l != "" {
		t.Errorf("group still bound after exit: %s", l)
	}
}

// TestNetnsBadPath: a path that is not a network namespace, or none, is
// an error before anything runs, exit 1, in the foreground and with -d.
func TestNetnsBadPath(t *testing.T) {
	sensortest.RequireNetns(t)
	script, logPath := hookScript(t)
	file := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, c := range []struct{ path, why string }{
		{"/nonexistent/netns", "no such file or directory"},
		{"/proc/self/ns/uts", "not a network namespace (a uts namespace)"},
		{file, "not a network namespace (not a namespace file)"},
		{"/proc/self/ns", "not a network namespace (not a namespace file)"},
	} {
		for _, daemon := range []bool{false, true} {
			args := []string{"-i", "lo", "--netns", c.path, "-c", script}
			if daemon {
				args = append(args, "-d")
			}
			out, code := runBinary(t, exec.Command(binary(t), args...))
			want := "Can't use network namespace " + c.path + ": " + c.why + ". Abort"
			if code != 1 || !strings.Contains(out, want) {
				t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", args, code, out, want)
			}
			if daemon && strings.Contains(out, "Success!") {
				t.Errorf("%v: -d reported success: %q", args, out)
			}
		}
	}
	if evs := readEvents(t, logPath); len(evs) != 0 {
		t.Errorf("commands ran: %v", names(evs))
	}
}

// TestNetnsDeleted: "ip netns del" while tuninetd watches the namespace
// only removes its name; the namespace lives on as long as tuninetd holds
// sockets and the device in it. tuninetd logs that once, does not spin,
// and goes on capturing there (traffic sent through a handle the test
// opened before the deletion starts the command).
func TestNetnsDeleted(t *testing.T) {
	sensortest.RequireNetns(t)
	name := "tnd-test-del-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if _, err := os.Stat("/run/netns/" + name); err == nil {
			exec.Command("ip", "netns", "del", name).Run()
		}
	})
	path := "/run/netns/" + name
	h, err := netns.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ipIn := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"-n", name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip -n %s %v: %v: %s", name, args, err, out)
		}
	}
	ipIn("link", "set", "lo", "up")
	script, logPath := hookScript(t)
	p := startRootTuninetd(t, "-i", "tndns1", "-m", "tun", "--netns", path, "-c", script, "-t", "1")
	p.ready()
	ipIn("addr", "add", "10.79.0.1/24", "dev", "tndns1")
	ipIn("link", "set", "tndns1", "up")

	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	e2eWaitPrefix(p, "Warning! Network namespace "+path+" was deleted or replaced", lineWait)

	// Idle after the deletion: the daemon must sleep, not spin.
	pid := p.cmd.Process.Pid
	before := sensortest.CPUTicks(t, pid)
	time.Sleep(2 * time.Second)
	used := sensortest.CPUTicks(t, pid) - before
	t.Logf("CPU in 2 s idle after the deletion: %d clock ticks", used)
	if used > 50 {
		t.Errorf("%d clock ticks of CPU in 2 s idle after the deletion: spinning?", used)
	}

	// Still capturing in the namespace, which has no name any more.
	send := func() {
		if err := h.Do(func() error {
			c, err := net.Dial("udp", "10.79.0.2:9999")
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("x"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	for try := 0; len(readEvents(t, logPath)) < 1; try++ {
		if try == 100 {
			t.Fatalf("no start after the name was deleted; stderr:\n%s", strings.Join(p.output(), "\n"))
		}
		send()
		time.Sleep(20 * time.Millisecond)
	}
	evs := waitEvents(t, logPath, 2, stopLate)
	e2eAlternate(t, evs)
	if n := e2eCountPrefix(p, "Warning! Network namespace "); n != 1 {
		t.Errorf("%d deletion warnings, want 1", n)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(lineWait); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
}

// TestNetnsWaitIface: --wait-iface looks for the interface in the other
// namespace, and waits for it there: a device of that name in our own
// namespace does not count.
func TestNetnsWaitIface(t *testing.T) {
	ns := quietNamespace(t)
	const dev = "tndns3"
	if out, err := exec.Command("ip", "tuntap", "add", dev, "mode", "tun").CombinedOutput(); err != nil {
		t.Fatalf("ip tuntap add %s here: %v: %s", dev, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", dev).Run() })
	script, logPath := hookScript(t)
	p := startRootTuninetd(t, "-i", dev, "--wait-iface", "--netns", "/run/netns/"+ns.Name, "-c", script, "-t", "1")
	p.waitLine("Interface "+dev+" does not exist yet, waiting for it (--wait-iface)", 1, lineWait)
	p.ready()
	// Link changes here are not the namespace's.
	exec.Command("ip", "link", "set", dev, "up").Run()
	exec.Command("ip", "link", "set", dev, "down").Run()
	time.Sleep(300 * time.Millisecond)
	if n := p.count("Interface " + dev + " appeared"); n != 0 {
		t.Fatalf("took our own %s for the namespace's", dev)
	}
	ns.AddTun(dev, "10.80.0.1/24")
	p.waitLine("Interface "+dev+" appeared", 1, lineWait)
	for try := 0; len(readEvents(t, logPath)) < 1; try++ {
		if try == 200 {
			t.Fatalf("no start; stderr:\n%s", strings.Join(p.output(), "\n"))
		}
		ns.SendUDP("10.80.0.2:9999", 1)
		time.Sleep(20 * time.Millisecond)
	}
	e2eAlternate(t, waitEvents(t, logPath, 2, stopLate))
}

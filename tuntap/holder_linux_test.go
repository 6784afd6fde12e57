package tuntap_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/sensor/netns"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
	"github.com/tuninetd/tuninetd/tuntap"
)

// helperEnv makes the test binary act as "another process" that attaches
// to a device: TUNTAP_TEST_ATTACH=name:mode. It prints "attached" or
// "error: ..." and holds the device until its stdin closes.
const helperEnv = "TUNTAP_TEST_ATTACH"

func TestMain(m *testing.M) {
	if v := os.Getenv(helperEnv); v != "" {
		os.Exit(attachHelper(v))
	}
	os.Exit(m.Run())
}

func attachHelper(spec string) int {
	name, m, _ := strings.Cut(spec, ":")
	mode, err := tuntap.ParseMode(m)
	if err != nil {
		fmt.Printf("error: %v\n", err)
		return 1
	}
	dev, err := tuntap.Open(name, mode, false)
	if err != nil {
		fmt.Printf("error: %v\n", err)
		return 1
	}
	fmt.Println("attached")
	io.Copy(io.Discard, os.Stdin)
	dev.Close()
	return 0
}

// other is a separate process attached (or failing to attach) to a device.
type other struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	// Line is the helper's first output line: "attached" or "error: ...".
	Line string
}

// startOther runs the attach helper inside ns, optionally wrapped (setpriv
// ...), and waits for its first line.
func startOther(t *testing.T, ns *sensortest.Namespace, exe, name string, mode tuntap.Mode, wrap ...string) *other {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	args := append(append([]string{}, wrap...), exe, "-test.run=^$")
	cmd := ns.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), helperEnv+"="+name+":"+mode.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	o := &other{cmd: cmd, stdin: stdin}
	t.Cleanup(func() { o.Stop(); cancel() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("attach helper: %v", err)
	}
	o.Line = strings.TrimSpace(line)
	return o
}

// Stop lets the helper detach and exit and waits for it.
func (o *other) Stop() {
	if o.stdin != nil {
		o.stdin.Close()
		o.stdin = nil
		o.cmd.Wait()
	}
}

func newHolder(t *testing.T, ns *sensortest.Namespace, cfg tuntap.HolderConfig) *tuntap.Holder {
	t.Helper()
	h, err := tuntap.NewHolder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Do(h.Close) })
	return h
}

func hasCarrier(ns *sensortest.Namespace, name string) bool {
	return strings.Contains(ns.Run("ip", "-o", "link", "show", name), "LOWER_UP")
}

func exists(ns *sensortest.Namespace, name string) bool {
	return ns.Command("ip", "link", "show", name).Run() == nil
}

// executable returns the test binary copied where an unprivileged user may
// run it (go test's build directory is private to root).
func executable(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "tuntap-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "tuntap.test")
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestHolderCarrierAndCreatedDeviceDeleted(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	var l sensortest.Log
	h := newHolder(t, ns, tuntap.HolderConfig{Name: "tun0", Mode: tuntap.TUN, Logf: l.Logf})
	if err := ns.Do(h.Hold); err != nil {
		t.Fatal(err)
	}
	if !h.Held() {
		t.Fatal("Held() = false after Hold")
	}
	if err := ns.Do(h.Hold); err != nil {
		t.Fatalf("second Hold: %v", err)
	}
	ns.Run("ip", "link", "set", "tun0", "up")
	if !hasCarrier(ns, "tun0") {
		t.Fatal("no carrier while held")
	}
	if l.Count("Holding tun device tun0 (created it)") == 0 {
		t.Errorf("log: %s", l.String())
	}
	if err := ns.Do(h.Close); err != nil {
		t.Fatal(err)
	}
	if exists(ns, "tun0") {
		t.Fatal("device the holder created survived Close")
	}
	if err := ns.Do(h.Close); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := ns.Do(h.Hold); err == nil {
		t.Fatal("Hold after Close succeeded")
	}
}

func TestHolderReleaseOtherAttachesThenHoldAgain(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	exe := executable(t)
	var l sensortest.Log
	h := newHolder(t, ns, tuntap.HolderConfig{Name: "tun0", Mode: tuntap.TUN, Logf: l.Logf})
	if err := ns.Do(h.Hold); err != nil {
		t.Fatal(err)
	}
	ns.Run("ip", "addr", "add", "10.77.0.1/24", "dev", "tun0")
	ns.Run("ip", "link", "set", "tun0", "up")

	// While held, a second reader is refused.
	if o := startOther(t, ns, exe, "tun0", tuntap.TUN); !strings.Contains(o.Line, "held by another process") {
		t.Fatalf("second attacher while held: %q, want busy", o.Line)
	}

	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if err := h.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if h.Held() {
		t.Fatal("Held() after Release")
	}
	if !exists(ns, "tun0") {
		t.Fatal("released device disappeared")
	}
	if hasCarrier(ns, "tun0") {
		t.Fatal("carrier with nobody attached")
	}
	o := startOther(t, ns, exe, "tun0", tuntap.TUN)
	if o.Line != "attached" {
		t.Fatalf("other process after Release: %q", o.Line)
	}
	if !hasCarrier(ns, "tun0") {
		t.Fatal("no carrier with the other process attached")
	}
	if out := ns.Run("ip", "-o", "addr", "show", "dev", "tun0"); !strings.Contains(out, "10.77.0.1/24") {
		t.Fatalf("address lost across release: %s", out)
	}

	// Hold while the other process has it: logged, no holding.
	err := ns.Do(h.Hold)
	if !errors.Is(err, tuntap.ErrBusy) {
		t.Fatalf("Hold while busy: %v, want ErrBusy", err)
	}
	if h.Held() || l.Count("tun device tun0 is held by another process, going on without holding it") == 0 {
		t.Fatalf("busy Hold: held=%v log:\n%s", h.Held(), l.String())
	}

	o.Stop()
	if err := ns.Do(h.Hold); err != nil {
		t.Fatalf("Hold after the other process exited: %v", err)
	}
	if !h.Held() || !hasCarrier(ns, "tun0") {
		t.Fatal("not holding after re-Hold")
	}
	// Still ours: Close deletes it even though it is persistent now.
	if err := ns.Do(h.Close); err != nil {
		t.Fatal(err)
	}
	if exists(ns, "tun0") {
		t.Fatal("device the holder created survived Close after a release cycle")
	}
}

func TestHolderCloseWhileOtherHoldsLeavesDevice(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	exe := executable(t)
	var l sensortest.Log
	h := newHolder(t, ns, tuntap.HolderConfig{Name: "tun0", Mode: tuntap.TUN, Logf: l.Logf})
	if err := ns.Do(h.Hold); err != nil {
		t.Fatal(err)
	}
	ns.Run("ip", "link", "set", "tun0", "up")
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	o := startOther(t, ns, exe, "tun0", tuntap.TUN)
	if o.Line != "attached" {
		t.Fatal(o.Line)
	}
	if err := ns.Do(h.Close); err != nil {
		t.Fatal(err)
	}
	if !exists(ns, "tun0") || !hasCarrier(ns, "tun0") {
		t.Fatalf("Close took the device away from the process holding it: %s", l.String())
	}
	if l.Count("leaving it in place") == 0 {
		t.Errorf("log: %s", l.String())
	}
}

func TestHolderKeepsExistingDevice(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ns.Run("ip", "tuntap", "add", "dev", "tun0", "mode", "tun")
	h := newHolder(t, ns, tuntap.HolderConfig{Name: "tun0", Mode: tuntap.TUN})
	if err := ns.Do(h.Hold); err != nil {
		t.Fatal(err)
	}
	ns.Run("ip", "link", "set", "tun0", "up")
	if !hasCarrier(ns, "tun0") {
		t.Fatal("no carrier while held")
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(h.Hold); err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(h.Close); err != nil {
		t.Fatal(err)
	}
	if !exists(ns, "tun0") {
		t.Fatal("Close deleted a device the holder did not create")
	}
	// Wrong mode for an existing device: a clear error.
	ht := newHolder(t, ns, tuntap.HolderConfig{Name: "tun0", Mode: tuntap.TAP})
	if err := ns.Do(ht.Hold); err == nil || !strings.Contains(err.Error(), "is not a tap device") {
		t.Fatalf("tap holder on a tun device: %v", err)
	}
}

func TestHolderBusyAtFirstHold(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	exe := executable(t)
	o := startOther(t, ns, exe, "tun0", tuntap.TUN)
	if o.Line != "attached" {
		t.Fatal(o.Line)
	}
	var l sensortest.Log
	h := newHolder(t, ns, tuntap.HolderConfig{Name: "tun0", Mode: tuntap.TUN, Logf: l.Logf})
	err := ns.Do(h.Hold)
	if !errors.Is(err, tuntap.ErrBusy) || h.Held() {
		t.Fatalf("Hold on a held device: %v held=%v", err, h.Held())
	}
	if l.Count("held by another process") == 0 {
		t.Fatalf("busy not logged: %s", l.String())
	}
	o.Stop()
	// The other process created it non-persistent: it is gone, and the
	// next Hold creates it.
	if err := ns.Do(h.Hold); err != nil {
		t.Fatal(err)
	}
	if !h.Held() {
		t.Fatal("not held")
	}
}

// packets collects what a Holder read.
type packets struct {
	mu sync.Mutex
	p  [][]byte
	c  chan struct{}
}

func newPackets() *packets { return &packets{c: make(chan struct{}, 1)} }

func (p *packets) add(b []byte) {
	p.mu.Lock()
	p.p = append(p.p, append([]byte(nil), b...))
	p.mu.Unlock()
	select {
	case p.c <- struct{}{}:
	default:
	}
}

// wait returns the first packet match accepts, or nil after timeout.
func (p *packets) wait(timeout time.Duration, match func([]byte) bool) []byte {
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		for _, b := range p.p {
			if match(b) {
				p.mu.Unlock()
				return b
			}
		}
		p.mu.Unlock()
		select {
		case <-p.c:
		case <-deadline:
			return nil
		}
	}
}

func TestHolderReadsTunPackets(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	pk := newPackets()
	h := newHolder(t, ns, tuntap.HolderConfig{Name: "tun0", Mode: tuntap.TUN, Packet: pk.add})
	if err := ns.Do(h.Hold); err != nil {
		t.Fatal(err)
	}
	ns.Run("ip", "addr", "add", "10.78.0.1/24", "dev", "tun0")
	ns.Run("ip", "link", "set", "tun0", "up")
	ns.SendUDP("10.78.0.2:9", 3)
	b := pk.wait(10*time.Second, func(b []byte) bool {
		// IPv4 (no packet-information prefix) to 10.78.0.2, UDP.
		return len(b) >= 20 && b[0]>>4 == 4 && b[9] == 17 && string(b[16:20]) == "\x0a\x4e\x00\x02"
	})
	if b == nil {
		t.Fatal("no UDP packet to 10.78.0.2 read from tun0")
	}
}

func TestHolderTap(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	exe := executable(t)
	pk := newPackets()
	h := newHolder(t, ns, tuntap.HolderConfig{Name: "tap0", Mode: tuntap.TAP, Packet: pk.add})
	if err := ns.Do(h.Hold); err != nil {
		t.Fatal(err)
	}
	out := ns.Run("ip", "-o", "link", "show", "tap0")
	if !strings.Contains(out, "link/ether") {
		t.Fatalf("tap0 is not an Ethernet device: %s", out)
	}
	ns.Run("ip", "addr", "add", "10.79.0.1/24", "dev", "tap0")
	ns.Run("ip", "link", "set", "tap0", "up")
	if !hasCarrier(ns, "tap0") {
		t.Fatal("no carrier while held")
	}
	ns.SendUDP("10.79.0.2:9", 1)
	// The kernel resolves 10.79.0.2 first: an ARP request (EtherType 0x0806).
	if b := pk.wait(10*time.Second, func(b []byte) bool {
		return len(b) >= 14 && b[12] == 0x08 && b[13] == 0x06
	}); b == nil {
		t.Fatal("no ARP frame read from tap0")
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if o := startOther(t, ns, exe, "tap0", tuntap.TAP); o.Line != "attached" {
		t.Fatalf("other process after Release: %q", o.Line)
	}
}

func TestHolderLostWhenDeleted(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	var l sensortest.Log
	lost := make(chan error, 1)
	h := newHolder(t, ns, tuntap.HolderConfig{Name: "tun0", Mode: tuntap.TUN, Logf: l.Logf,
		Lost: func(err error) { lost <- err }})
	if err := ns.Do(h.Hold); err != nil {
		t.Fatal(err)
	}
	ns.Run("ip", "link", "del", "tun0")
	select {
	case err := <-lost:
		t.Logf("lost: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Lost not called after the device was deleted")
	}
	if h.Held() {
		t.Fatal("Held() after the device was deleted")
	}
	if err := ns.Do(h.Hold); err != nil {
		t.Fatal(err)
	}
	if !exists(ns, "tun0") {
		t.Fatal("Hold did not re-create the device")
	}
}

// setpriv runs a command as nobody with only the listed ambient
// capabilities. Distributions make /dev/net/tun mode 0666, so that opening
// it needs no privilege and TUNSETIFF checks the capability; where it is
// 0600 (containers), node is a 0666 tun node bind-mounted over it inside
// the private mount namespace ip netns exec runs in.
func setpriv(node, caps string) []string {
	args := []string{"sh", "-c", `mount --bind "$0" /dev/net/tun && exec "$@"`, node,
		"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
	if caps == "" {
		return append(args, "--inh-caps=-all", "--bounding-set=-all")
	}
	return append(args, "--inh-caps=+"+caps, "--ambient-caps=+"+caps)
}

func TestPrivileges(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv not installed")
	}
	ns := sensortest.NewNamespace(t)
	exe := executable(t)
	node := TunNode(t)

	o := startOther(t, ns, exe, "tun0", tuntap.TUN, setpriv(node, "")...)
	if !strings.Contains(o.Line, "need CAP_NET_ADMIN to attach to tun device tun0") {
		t.Fatalf("without capabilities: %q", o.Line)
	}
	o.Stop()

	o = startOther(t, ns, exe, "tun0", tuntap.TUN, setpriv(node, "net_admin")...)
	if o.Line != "attached" {
		t.Fatalf("with CAP_NET_ADMIN: %q", o.Line)
	}
	ns.Run("ip", "link", "set", "tun0", "up")
	if !hasCarrier(ns, "tun0") {
		t.Fatal("no carrier")
	}
	o.Stop()

	// A device made for the user needs no capability.
	ns.Run("ip", "tuntap", "add", "dev", "tun1", "mode", "tun", "user", "65534")
	o = startOther(t, ns, exe, "tun1", tuntap.TUN, setpriv(node, "")...)
	if o.Line != "attached" {
		t.Fatalf("device owned by the user, no capabilities: %q", o.Line)
	}
}

// TunNode makes a world-writable tun character device (10, 200) in a
// temporary directory.
func TunNode(t *testing.T) string {
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

func fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestHolderCyclesLeakNothing(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	pk := newPackets()
	h := newHolder(t, ns, tuntap.HolderConfig{Name: "tun0", Mode: tuntap.TUN, Packet: func(b []byte) { pk.add(b) }})
	if err := ns.Do(h.Hold); err != nil {
		t.Fatal(err)
	}
	ns.Run("ip", "addr", "add", "10.80.0.1/24", "dev", "tun0")
	ns.Run("ip", "link", "set", "tun0", "up")
	// Settle: the first cycle starts the netpoller and the like.
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(h.Hold); err != nil {
		t.Fatal(err)
	}
	fds, gs := fdCount(t), runtime.NumGoroutine()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		// Concurrent observers must not race with the cycles.
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				h.Held()
				time.Sleep(time.Millisecond)
			}
		}
	}()
	for i := 0; i < 100; i++ {
		if err := h.Release(); err != nil {
			t.Fatal(err)
		}
		if err := ns.Do(h.Hold); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if i%10 == 0 {
			ns.SendUDP("10.80.0.2:9", 1)
		}
	}
	close(stop)
	wg.Wait()
	if !hasCarrier(ns, "tun0") {
		t.Fatal("no carrier after the cycles")
	}
	if got := fdCount(t); got != fds {
		t.Errorf("open fds %d after 100 cycles, %d before", got, fds)
	}
	// Goroutines wind down asynchronously (netns.Do's helpers); allow a
	// moment, not a margin.
	sensortest.Eventually(func() bool { return runtime.NumGoroutine() <= gs })
	if got := runtime.NumGoroutine(); got > gs {
		t.Errorf("goroutines %d after 100 cycles, %d before", got, gs)
	}
	// The device still reads what is routed to it. The kernel turns the
	// carrier on at each Hold but activates the device's queue only from
	// its delayed link-watch work, so packets sent in the middle of fast
	// cycles may all have been dropped before the device (seen with
	// GOMAXPROCS=1): send until one arrives, boundedly.
	isUDP := func(b []byte) bool { return len(b) >= 20 && b[9] == 17 }
	got := false
	for i := 0; i < 50 && !got; i++ {
		ns.SendUDP("10.80.0.2:9", 1)
		got = pk.wait(200*time.Millisecond, isUDP) != nil
	}
	if !got {
		t.Error("no UDP packet read after the cycles")
	}
}

// waitHeld polls h.Held until it is want or timeout passes.
func waitHeld(h *tuntap.Holder, want bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if h.Held() == want {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return h.Held() == want
}

func TestHolderRetryTakesDeviceWhenFree(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	exe := executable(t)
	// A persistent device (as a VPN's would be), held by another process.
	ns.Run("ip", "tuntap", "add", "dev", "tnr0", "mode", "tun")
	o := startOther(t, ns, exe, "tnr0", tuntap.TUN)
	if o.Line != "attached" {
		t.Fatal(o.Line)
	}
	var l sensortest.Log
	h := newHolder(t, ns, tuntap.HolderConfig{Name: "tnr0", Mode: tuntap.TUN, Logf: l.Logf, Retry: 20 * time.Millisecond})
	if err := ns.Do(h.Hold); !errors.Is(err, tuntap.ErrBusy) {
		t.Fatalf("Hold on a held device: %v", err)
	}
	o.Stop()
	if !waitHeld(h, true, 10*time.Second) {
		t.Fatalf("retry did not take the device after the other process exited:\n%s", l.String())
	}
	ns.Run("ip", "link", "set", "tnr0", "up")
	if !hasCarrier(ns, "tnr0") {
		t.Fatal("no carrier")
	}
	// The retry attached in the namespace Hold ran in, not in ours.
	if exec.Command("ip", "link", "show", "tnr0").Run() == nil {
		t.Fatal("tnr0 appeared outside the test namespace")
	}
	if err := ns.Do(h.Close); err != nil {
		t.Fatal(err)
	}
	if !exists(ns, "tnr0") {
		t.Fatal("Close deleted a device the holder did not create")
	}
}

func TestHolderRetryRecreatesInNamespace(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	exe := executable(t)
	// Non-persistent, made by the other process: it disappears with it,
	// and the retry creates it again, in the namespace Hold ran in.
	o := startOther(t, ns, exe, "tnr1", tuntap.TUN)
	if o.Line != "attached" {
		t.Fatal(o.Line)
	}
	h := newHolder(t, ns, tuntap.HolderConfig{Name: "tnr1", Mode: tuntap.TUN, Retry: 20 * time.Millisecond})
	if err := ns.Do(h.Hold); !errors.Is(err, tuntap.ErrBusy) {
		t.Fatalf("Hold on a held device: %v", err)
	}
	o.Stop()
	if !waitHeld(h, true, 10*time.Second) {
		t.Fatal("retry did not take the device")
	}
	if !exists(ns, "tnr1") {
		t.Fatal("tnr1 not in the test namespace")
	}
	if exec.Command("ip", "link", "show", "tnr1").Run() == nil {
		t.Fatal("tnr1 appeared outside the test namespace")
	}
	if err := ns.Do(h.Close); err != nil {
		t.Fatal(err)
	}
	if exists(ns, "tnr1") {
		t.Fatal("device the holder created survived Close")
	}
}

func TestHolderReleaseEndsRetry(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	exe := executable(t)
	ns.Run("ip", "tuntap", "add", "dev", "tnr2", "mode", "tun")
	o := startOther(t, ns, exe, "tnr2", tuntap.TUN)
	if o.Line != "attached" {
		t.Fatal(o.Line)
	}
	h := newHolder(t, ns, tuntap.HolderConfig{Name: "tnr2", Mode: tuntap.TUN, Retry: 10 * time.Millisecond})
	if err := ns.Do(h.Hold); !errors.Is(err, tuntap.ErrBusy) {
		t.Fatalf("Hold on a held device: %v", err)
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	o.Stop()
	// Ten retry periods: a retrier still running would have attached.
	time.Sleep(100 * time.Millisecond)
	if h.Held() {
		t.Fatal("holding after Release ended the retry")
	}
	o = startOther(t, ns, exe, "tnr2", tuntap.TUN)
	if o.Line != "attached" {
		t.Fatalf("another process after Release: %q", o.Line)
	}
}

// TestHolderNetNS: with HolderConfig.NetNS, Hold, Release, Hold again and
// Close work from outside the namespace: the device is created there, kept
// (persistent, same index) across the release, and deleted there at Close,
// through the Release-then-Close path that attaches once more.
func TestHolderNetNS(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	n, err := netns.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	const dev = "tndns4" // unlikely to exist in the test's namespace
	var l sensortest.Log
	h, err := tuntap.NewHolder(tuntap.HolderConfig{Name: dev, Mode: tuntap.TUN, Logf: l.Logf, NetNS: n})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Hold(); err != nil {
		t.Fatal(err)
	}
	if !exists(ns, dev) {
		t.Fatalf("%s not created in the namespace", dev)
	}
	if _, err := os.Stat("/sys/class/net/" + dev); err == nil {
		t.Fatalf("%s created in the test's own namespace", dev)
	}
	ns.Run("ip", "link", "set", dev, "up")
	if !hasCarrier(ns, dev) {
		t.Fatal("no carrier while held")
	}
	index := ns.Run("cat", "/sys/class/net/"+dev+"/ifindex")
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if !exists(ns, dev) || hasCarrier(ns, dev) {
		t.Fatal("released device: want it kept, without carrier")
	}
	if err := h.Hold(); err != nil {
		t.Fatal(err)
	}
	if got := ns.Run("cat", "/sys/class/net/"+dev+"/ifindex"); got != index || !hasCarrier(ns, dev) {
		t.Fatalf("held again: index %q (was %q), carrier %v", got, index, hasCarrier(ns, dev))
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if exists(ns, dev) {
		t.Fatalf("device the holder created survived Close; log:\n%s", l.String())
	}
}

package examples

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// Each recipe test runs the real tuninetd with the recipe's script in a
// "home" namespace, joined by a veth pair to an "office" namespace that
// plays the far end (a WireGuard peer, an sshd, a server), and lives
// through rounds of: first traffic starts the tunnel, traffic gets
// through, continuous use keeps it up, silence takes it down and back to
// the catch state.

const (
	homeAddr   = "192.168.77.1"
	officeAddr = "192.168.77.2"
	// officeHost is an address of the office network, behind the tunnel.
	officeHost = "10.8.0.1"
	// ttl0 is tuninetd's -t in the tests.
	ttl0 = 2 * time.Second
	// tcpTTL is -t for the recipes whose first traffic is a TCP
	// connection that only its own SYN retransmissions (1 s, 3 s, 7 s
	// after the first SYN) carry through once start has run. With a TTL
	// no longer than the gap between two of them, a start command that
	// takes more than a second (a saturated machine) let the TTL run out
	// between retransmissions: a stop, then a second start, in the round
	// the client was still connecting. 5 s covers start commands up to
	// about 7 s.
	tcpTTL = 5 * time.Second
	// rounds of start and stop per recipe: the first with 3 x TTL of
	// use, all measured (first packet -> first reply).
	rounds = 5
)

// bin is the multi-call binary under test, built from ../cmd/tuninetd as
// make builds it.
var bin sensortest.Binary

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == standinArg {
		os.Exit(tproxyStandin())
	}
	code := m.Run()
	bin.Remove()
	os.Exit(code)
}

// binary returns the path of tuninetd.
func binary(t *testing.T) string {
	t.Helper()
	return bin.Path(t)
}

// requireTools fails (CI, TUNINETD_REQUIRE_NETNS=1) or skips unless every
// named program is installed.
func requireTools(t *testing.T, names ...string) {
	t.Helper()
	sensortest.RequireNetns(t)
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		missingTool(t, strings.Join(missing, ", "))
	}
}

// missingTool skips t, or fails it where the tests must run (CI=true or
// TUNINETD_REQUIRE_NETNS=1).
func missingTool(t *testing.T, what string) {
	t.Helper()
	sensortest.MissingTool(t, what)
}

// lab is the pair of namespaces of one test and a directory for its files.
type lab struct {
	t            *testing.T
	home, office *sensortest.Namespace
	dir          string
	// tag is unique to this test run, for names outside the namespaces
	// (wireguard-go's sockets live in /var/run/wireguard by interface).
	tag string
}

// newLab makes home and office, joined by a veth pair, IPv6 off (router
// solicitations and the like would count as traffic on a captured tun),
// and checks when the test ends that nothing of it is left: no namespace
// and no process mentioning its directory or tag.
func newLab(t *testing.T) *lab {
	t.Helper()
	var b [3]byte
	rand.Read(b[:])
	l := &lab{t: t, tag: hex.EncodeToString(b[:])}
	// Registered first, so it runs after every other cleanup.
	t.Cleanup(func() { l.checkNothingLeft() })
	l.dir = t.TempDir()
	l.home = sensortest.NewNamespace(t)
	l.office = sensortest.NewNamespace(t)
	for _, ns := range []*sensortest.Namespace{l.home, l.office} {
		ns.Run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	l.home.Run("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", l.office.Name)
	l.home.Run("ip", "addr", "add", homeAddr+"/24", "dev", "veth0")
	l.home.Run("ip", "link", "set", "veth0", "up")
	l.office.Run("ip", "addr", "add", officeAddr+"/24", "dev", "veth1")
	l.office.Run("ip", "link", "set", "veth1", "up")
	// The office network, behind the tunnel.
	l.office.Run("ip", "addr", "add", officeHost+"/32", "dev", "lo")
	return l
}

func (l *lab) checkNothingLeft() {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		l.t.Errorf("ip netns list: %v", err)
	}
	for _, ns := range []*sensortest.Namespace{l.home, l.office} {
		if ns != nil && strings.Contains(string(out), ns.Name) {
			l.t.Errorf("namespace %s left behind", ns.Name)
		}
	}
	// Processes (killed by the namespaces' cleanup) may take a moment to
	// be reaped.
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := l.processes()
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			l.t.Errorf("processes left behind: %s", strings.Join(left, "; "))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m, _ := filepath.Glob("/var/run/wireguard/*" + l.tag + "*"); len(m) > 0 {
		l.t.Errorf("files left behind: %v", m)
	}
}

// processes lists the command lines that mention the lab's directory or tag.
func (l *lab) processes() []string {
	var left []string
	self := fmt.Sprint(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name() == self || e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		if (l.dir != "" && strings.Contains(cmd, l.dir)) || strings.Contains(cmd, l.tag) {
			left = append(left, e.Name()+": "+cmd)
		}
	}
	return left
}

// file writes a file in the lab's directory and returns its path.
func (l *lab) file(name, content string, mode os.FileMode) string {
	l.t.Helper()
	p := filepath.Join(l.dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		l.t.Fatal(err)
	}
	return p
}

// setup runs the recipe script's setup in home with env and registers its
// teardown. When the file upWhile exists at the end (the pidfile of what
// start runs: the test failed while up), stop runs first. It returns the
// script's absolute path, for -c.
func (l *lab) setup(name string, env []string, upWhile string) string {
	l.t.Helper()
	sh, err := filepath.Abs(name)
	if err != nil {
		l.t.Fatal(err)
	}
	runIn(l.t, l.home, env, sh, "setup")
	l.t.Cleanup(func() {
		run := func(arg string) {
			cmd := l.home.Command(sh, arg)
			cmd.Env = append(os.Environ(), env...)
			cmd.Run()
		}
		if _, err := os.Stat(upWhile); upWhile != "" && err == nil {
			run("stop")
		}
		run("teardown")
	})
	return sh
}

// out runs a command in home and returns its combined output, errors
// included: for checks that look at what a command prints.
func (l *lab) out(name string, args ...string) string {
	b, _ := l.home.Command(name, args...).CombinedOutput()
	return string(b)
}

// runIn runs a command in ns with extra environment, failing the test if
// it fails, and returns its combined output.
func runIn(t *testing.T, ns *sensortest.Namespace, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := ns.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %s %s: %v\n%s", ns.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// daemon is tuninetd running in the foreground, its stderr collected.
type daemon struct {
	*sensortest.Proc
	t *testing.T
}

// startTuninetd runs tuninetd in ns with env added to the test's.
func startTuninetd(t *testing.T, ns *sensortest.Namespace, env []string, args ...string) *daemon {
	t.Helper()
	cmd := ns.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	d := &daemon{Proc: sensortest.StartProc(t, cmd), t: t}
	t.Cleanup(func() {
		// SIGTERM: tuninetd exits 0 without running stop; what start
		// made is removed by the test's own cleanups. (Runs before
		// StartProc's kill.)
		d.Terminate(10 * time.Second)
	})
	d.waitStandby()
	return d
}

func (d *daemon) output() string { return d.Output() }

// count returns how many stderr lines end with suffix.
func (d *daemon) count(suffix string) int {
	return d.Count(func(l string) bool { return strings.HasSuffix(l, suffix) })
}

const (
	lineStarted = ": start command done"
	lineStop    = "CORE: executing STOP command..."
)

// waitCount waits until count(suffix) >= n.
func (d *daemon) waitCount(suffix string, n int, timeout time.Duration) {
	d.t.Helper()
	d.WaitFor(fmt.Sprintf("%q", suffix), n, timeout, func(l string) bool { return strings.HasSuffix(l, suffix) })
}

// waitStandby waits until tuninetd reports standby on SIGUSR1: running,
// sensors open, and no command in flight.
func (d *daemon) waitStandby() {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for d.count("") == 0 || !strings.Contains(d.output(), "Started with pid") {
		if time.Now().After(deadline) {
			d.t.Fatalf("tuninetd did not start; stderr:\n%s", d.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		n := d.count("- current status: standby (OFF)")
		d.Signal(syscall.SIGUSR1)
		wait := time.Now().Add(time.Second)
		for time.Now().Before(wait) {
			if d.count("- current status: standby (OFF)") > n {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("tuninetd not in standby; stderr:\n%s", d.output())
		}
	}
}

// A prober sends one request through the tunnel and waits up to timeout
// for its answer.
type prober interface {
	probe(timeout time.Duration) error
}

// recipe describes one recipe's test for runRounds.
type recipe struct {
	d *daemon
	p prober
	// firstTimeout bounds each probe while waiting for the first answer:
	// short for pings (a new one is sent each time), long for TCP (the
	// connection's own SYN retransmission gets through).
	firstTimeout time.Duration
	// up says what shows the tunnel is up (nil) or not.
	up func() error
	// caught says whether everything is back to the catch state (nil).
	caught func() error
	// ttl is the -t tuninetd runs with; 0 means ttl.
	ttl time.Duration
}

// runRounds runs the rounds and returns first packet -> first answer of
// each.
func (r recipe) runRounds(t *testing.T) []time.Duration {
	t.Helper()
	if err := r.caught(); err != nil {
		t.Fatalf("before the first round: %v", err)
	}
	ttl := r.ttl
	if ttl == 0 {
		ttl = ttl0
	}
	var lat []time.Duration
	for round := 1; round <= rounds; round++ {
		r.d.waitStandby()
		if n := r.d.count(lineStarted); n != round-1 {
			t.Fatalf("round %d: %d starts before any traffic", round, n)
		}
		t0 := time.Now()
		for {
			if err := r.p.probe(r.firstTimeout); err == nil {
				break
			} else if time.Since(t0) > 60*time.Second {
				t.Fatalf("round %d: no answer through the tunnel after %v: %v; tuninetd:\n%s", round, time.Since(t0), err, r.d.output())
			}
		}
		lat = append(lat, time.Since(t0))
		// The answer came through the tunnel, so start has run; its
		// "done" line may trail by a moment.
		r.d.waitCount(lineStarted, round, 30*time.Second)
		// What shows it may trail too (ssh's control socket appears
		// after the tunnel works).
		waitFor(t, 10*time.Second, fmt.Sprintf("round %d: answered, but the tunnel is not up", round), r.up)
		// Use: every probe answered, no stop. The first round keeps it
		// up for 3 x TTL, the others briefly.
		use := 3 * ttl
		if round > 1 {
			use = ttl / 2
		}
		n := 0
		for end := time.Now().Add(use); time.Now().Before(end); n++ {
			if err := r.p.probe(5 * time.Second); err != nil {
				t.Fatalf("round %d: probe %d during use lost: %v; tuninetd:\n%s", round, n+1, err, r.d.output())
			}
			time.Sleep(250 * time.Millisecond)
		}
		if got := r.d.count(lineStop); got != round-1 {
			t.Fatalf("round %d: stop during use (%d stops after %d probes in %v); tuninetd:\n%s", round, got, n, use, r.d.output())
		}
		if err := r.up(); err != nil {
			t.Fatalf("round %d: tunnel not up after %v of use: %v", round, use, err)
		}
		// Silence: stop after TTL, and the catch state again.
		r.d.waitCount(lineStop, round, ttl+30*time.Second)
		waitFor(t, 30*time.Second, fmt.Sprintf("round %d: back to the catch state after stop", round), r.caught)
		if n := r.d.count(lineStarted); n != round {
			t.Fatalf("round %d: %d starts, want %d", round, n, round)
		}
	}
	t.Logf("first packet -> first answer through the tunnel: median %v of %v", median(lat), lat)
	return lat
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// waitFor polls cond until it returns nil.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pinger sends ICMP echo requests from inside a namespace.
type pinger struct {
	c   net.PacketConn
	dst net.Addr
	id  int
	seq int
}

func newPinger(t *testing.T, ns *sensortest.Namespace, dst string) *pinger {
	t.Helper()
	var b [2]byte
	rand.Read(b[:])
	p := &pinger{dst: &net.IPAddr{IP: net.ParseIP(dst)}, id: int(b[0])<<8 | int(b[1])}
	if err := ns.Do(func() (err error) {
		p.c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		t.Fatalf("icmp socket in %s: %v", ns.Name, err)
	}
	t.Cleanup(func() { p.c.Close() })
	return p
}

// probe sends an echo request and waits for a reply to it, or, when
// waiting for the first answer, to any earlier one.
func (p *pinger) probe(timeout time.Duration) error {
	p.seq = (p.seq + 1) & 0xffff
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: p.id, Seq: p.seq, Data: []byte("tuninetd-recipe")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	// A send into a device without carrier may fail (no buffer space):
	// the packet is lost either way, and the sensor saw it.
	p.c.WriteTo(b, p.dst)
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1500)
	for {
		p.c.SetReadDeadline(deadline)
		n, _, err := p.c.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("echo %d: %w", p.seq, err)
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == p.id && (e.Seq == p.seq || timeout < time.Second) {
			return nil
		}
	}
}

// routeDev returns the device `ip route get dst` picks in ns.
func routeDev(ns *sensortest.Namespace, dst string) (string, error) {
	out, err := ns.Command("ip", "route", "get", dst).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ip route get %s: %v: %s", dst, err, out)
	}
	f := strings.Fields(string(out))
	if i := slices.Index(f, "dev"); i >= 0 && i+1 < len(f) {
		return f[i+1], nil
	}
	return "", fmt.Errorf("ip route get %s: no dev in %q", dst, out)
}

// linkExists reports whether ns has a link named name.
func linkExists(ns *sensortest.Namespace, name string) bool {
	return ns.Command("ip", "link", "show", "dev", name).Run() == nil
}

// execOutput runs a command with stdin and returns its trimmed stdout.
func execOutput(stdin, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

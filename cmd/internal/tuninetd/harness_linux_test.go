package tuninetd

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// The integration tests run the real binary, built once per test run
// with the same flags as `make` (CGO off), inside throwaway namespaces.

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// mainPackage is the multi-call binary; versionVar its version string.
const (
	mainPackage = "github.com/tuninetd/tuninetd/cmd/tuninetd"
	versionVar  = "github.com/tuninetd/tuninetd/cmd/internal/version.Version"
)

// binary returns the path of a freshly built tuninetd.
func binary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "tuninetd-test-bin-")
		if build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "tuninetd")
		gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			gobin = "go"
		}
		cmd := exec.Command(gobin, "build", "-buildvcs=false", "-trimpath", "-ldflags", "-X "+versionVar+"=test", "-o", build.path, mainPackage)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// hookScript writes a -c script that appends one line per call to a log:
// "<unix time with ns> <start|stop> TUNINETD_...=... E2E_...=..." (see
// e2eScript, whose fork-time stamps let e2eCheckStopTiming measure the
// daemon rather than the shell's start-up).
func hookScript(t *testing.T) (script, logPath string) {
	t.Helper()
	script, logPath, _ = e2eScript(t, "")
	return script, logPath
}

// event is one line of the hook's log.
type event struct {
	at   time.Time
	name string // start or stop
	env  map[string]string
}

func readEvents(t *testing.T, logPath string) []event {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var evs []event
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("bad hook log line %q", line)
		}
		sec, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			t.Fatalf("bad time in hook log line %q", line)
		}
		ev := event{at: time.Unix(0, int64(sec*1e9)), name: f[1], env: map[string]string{}}
		for _, kv := range f[2:] {
			k, v, _ := strings.Cut(kv, "=")
			ev.env[k] = v
		}
		evs = append(evs, ev)
	}
	return evs
}

// waitEvents waits until the hook log has at least n events.
func waitEvents(t *testing.T, logPath string, n int, timeout time.Duration) []event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		evs := readEvents(t, logPath)
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d hook events, want %d: %v", timeout, len(evs), n, names(evs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func names(evs []event) []string {
	var s []string
	for _, e := range evs {
		s = append(s, e.name)
	}
	return s
}

// checkEnv compares the wanted variables; a want of "*" only requires
// presence.
func checkEnv(t *testing.T, ev event, want map[string]string) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		got, ok := ev.env[k]
		switch {
		case !ok:
			t.Errorf("%s event: %s missing (env %v)", ev.name, k, ev.env)
		case want[k] != "*" && got != want[k]:
			t.Errorf("%s event: %s=%q, want %q", ev.name, k, got, want[k])
		}
	}
}

// daemonProc is a tuninetd running in the foreground with its stderr
// collected line by line.
type daemonProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{} // closed when the process has exited
	err   error         // Wait's result, valid after done
}

// startTuninetd runs the binary inside ns with args; t.Cleanup kills it.
func startTuninetd(t *testing.T, ns *sensortest.Namespace, args ...string) *daemonProc {
	t.Helper()
	return startProc(t, ns.Command(binary(t), args...))
}

// startProc starts cmd, a tuninetd or a command that execs one (same pid).
func startProc(t *testing.T, cmd *exec.Cmd) *daemonProc {
	t.Helper()
	p := &daemonProc{t: t, cmd: cmd, done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("tuninetd stderr:\n%s", strings.Join(p.output(), "\n"))
		}
	})
	return p
}

func (p *daemonProc) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// count returns how many stderr lines equal line.
func (p *daemonProc) count(line string) int {
	n := 0
	for _, l := range p.output() {
		if l == line {
			n++
		}
	}
	return n
}

// lineWait bounds the wait for a log line the daemon prints in reaction to
// something the test did. It only ends a test that is already failing, so
// it is generous: a busy machine may delay a line by seconds, and order and
// counts are what the tests assert.
const lineWait = 15 * time.Second

// waitLine waits until stderr has at least n lines equal to line.
func (p *daemonProc) waitLine(line string, n int, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for p.count(line) < n {
		select {
		case <-p.done:
			p.t.Fatalf("tuninetd exited (%v) before printing %q (x%d); stderr:\n%s", p.err, line, n, strings.Join(p.output(), "\n"))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %q (x%d) within %v; stderr:\n%s", line, n, timeout, strings.Join(p.output(), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signal sends sig to the daemon (ip netns exec execs it: same pid).
func (p *daemonProc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// ready waits until the loop runs (it answers SIGUSR1 only then; the
// sensors are open before it starts) and returns the report's status.
func (p *daemonProc) ready() {
	p.t.Helper()
	// Signals are caught from before the first line on; earlier, SIGUSR1
	// would kill it.
	deadline := time.Now().Add(10 * time.Second)
	for !hasPrefixLine(p.output(), "Started with pid ") {
		if time.Now().After(deadline) {
			p.t.Fatalf("no start-up line; stderr:\n%s", strings.Join(p.output(), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	n := p.count("SIGUSR1 caught:")
	p.signal(syscall.SIGUSR1)
	p.waitLine("SIGUSR1 caught:", n+1, 10*time.Second)
}

// wait waits for the process to exit and returns its exit code.
func (p *daemonProc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("tuninetd still running after %v", timeout)
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("wait: %v", p.err)
	}
	return 0
}

// runBinary runs the binary to completion (bounded) and returns its
// stderr and exit code. tuninetd, like the original, writes nothing to
// stdout: anything there fails the test.
func runBinary(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	var out, stdout strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &out
	defer func() {
		if stdout.Len() > 0 {
			t.Errorf("%v wrote to stdout: %q", cmd.Args, stdout.String())
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), 0
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish in 30s; output:\n%s", cmd.Args, out.String())
	}
	return "", -1
}

// sendEvery calls send every period until ctx ends; it returns the time of
// the last send once stopped.
func sendEvery(ctx context.Context, period time.Duration, send func()) <-chan time.Time {
	last := make(chan time.Time, 1)
	go func() {
		var at time.Time
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			send()
			at = time.Now()
			select {
			case <-ctx.Done():
				last <- at
				return
			case <-tk.C:
			}
		}
	}()
	return last
}

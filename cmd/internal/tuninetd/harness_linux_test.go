package tuninetd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// The integration tests run the real binary, built once per test run
// with the same flags as `make` (CGO off), inside throwaway namespaces.

// bin is the multi-call binary under test.
var bin sensortest.Binary

func TestMain(m *testing.M) {
	code := m.Run()
	bin.Remove()
	os.Exit(code)
}

// binary returns the path of a freshly built tuninetd.
func binary(t *testing.T) string {
	t.Helper()
	return bin.Path(t)
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
	*sensortest.Proc
	t   *testing.T
	cmd *exec.Cmd
}

// startTuninetd runs the binary inside ns with args; t.Cleanup kills it.
func startTuninetd(t *testing.T, ns *sensortest.Namespace, args ...string) *daemonProc {
	t.Helper()
	return startProc(t, ns.Command(binary(t), args...))
}

// startProc starts cmd, a tuninetd or a command that execs one (same pid).
func startProc(t *testing.T, cmd *exec.Cmd) *daemonProc {
	t.Helper()
	return &daemonProc{Proc: sensortest.StartProc(t, cmd), t: t, cmd: cmd}
}

func (p *daemonProc) output() []string { return p.Lines() }

// count returns how many stderr lines equal line.
func (p *daemonProc) count(line string) int {
	return p.Count(func(l string) bool { return l == line })
}

// lineWait bounds the wait for a log line the daemon prints in reaction to
// something the test did. It only ends a test that is already failing, so
// it is generous: a busy machine may delay a line by seconds, and order and
// counts are what the tests assert.
const lineWait = 15 * time.Second

// waitLine waits until stderr has at least n lines equal to line.
func (p *daemonProc) waitLine(line string, n int, timeout time.Duration) {
	p.t.Helper()
	p.WaitFor(fmt.Sprintf("%q", line), n, timeout, func(l string) bool { return l == line })
}

// signal sends sig to the daemon (ip netns exec execs it: same pid).
func (p *daemonProc) signal(sig syscall.Signal) {
	p.t.Helper()
	p.Signal(sig)
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
	return p.Wait(timeout)
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

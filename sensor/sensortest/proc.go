package sensortest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MainPackage is the multi-call binary every daemon runs as; VersionVar is
// the variable its version is linked into.
const (
	MainPackage = "github.com/tuninetd/tuninetd/cmd/tuninetd"
	VersionVar  = "github.com/tuninetd/tuninetd/cmd/internal/version.Version"
)

// Binary is the multi-call binary, built once per test process the way
// `make` builds it (CGO off, -trimpath, version "test"), in a directory
// any user can read and search (tests run it unprivileged too). A test
// package keeps one in a variable and removes it from TestMain.
type Binary struct {
	once sync.Once
	dir  string
	path string
	err  error
	mu   sync.Mutex // guards links made beside path
}

// Path builds the binary on first use and returns its path; it is called
// tuninetd.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(b.build)
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Link returns the path of a symlink called name beside the binary, so it
// runs as that daemon (tuntapd, tportknockd), as installed.
func (b *Binary) Link(t testing.TB, name string) string {
	t.Helper()
	bin := b.Path(t)
	link := filepath.Join(b.dir, name)
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := os.Lstat(link); err == nil {
		return link
	}
	if err := os.Symlink(filepath.Base(bin), link); err != nil {
		t.Fatal(err)
	}
	return link
}

// Remove deletes the binary and its links.
func (b *Binary) Remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

func (b *Binary) build() {
	b.dir, b.err = os.MkdirTemp("", "tuninetd-test-bin-")
	if b.err != nil {
		return
	}
	if b.err = os.Chmod(b.dir, 0o755); b.err != nil {
		return
	}
	b.path = filepath.Join(b.dir, "tuninetd")
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "build", "-buildvcs=false", "-trimpath", "-ldflags", "-X "+VersionVar+"=test", "-o", b.path, MainPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.err = fmt.Errorf("go build: %v\n%s", err, out)
	}
}

// Proc is a daemon under test: a started command whose stderr lines are
// collected as they come. t.Cleanup kills it (SIGKILL) and waits for it,
// and logs its stderr when the test failed.
type Proc struct {
	t     testing.TB
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	more  chan struct{} // 1-slot: a line arrived
	done  chan struct{} // closed when the process has exited
	err   error         // Wait's result, valid after done
}

// StartProc starts cmd (its Stderr must be unset) and collects its stderr.
func StartProc(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{t: t, cmd: cmd, more: make(chan struct{}, 1), done: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s stderr:\n%s", p.name(), p.Output())
		}
	})
	return p
}

// Pid is the process id (`ip netns exec` execs the daemon: the same pid).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's Wait result; valid once Done is closed.
func (p *Proc) Err() error { return p.err }

// Lines returns a copy of the stderr lines so far.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Output returns the stderr lines so far, joined by newlines.
func (p *Proc) Output() string { return strings.Join(p.Lines(), "\n") }

// Count returns how many stderr lines match.
func (p *Proc) Count(match func(line string) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if match(l) {
			n++
		}
	}
	return n
}

// WaitFor waits until at least n stderr lines match, and fails the test
// if the process exits first or timeout passes; what names the lines in
// the message.
func (p *Proc) WaitFor(what string, n int, timeout time.Duration, match func(line string) bool) {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for p.Count(match) < n {
		select {
		case <-p.more:
		case <-p.done:
			// Lines may have arrived with the exit.
			if p.Count(match) >= n {
				return
			}
			p.t.Fatalf("%s exited (%v) before printing %s (x%d); stderr:\n%s", p.name(), p.err, what, n, p.Output())
		case <-deadline.C:
			p.t.Fatalf("no %s (x%d) within %v; stderr:\n%s", what, n, timeout, p.Output())
		}
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// Terminate sends SIGTERM, if the process still runs, and waits up to
// timeout for it to exit; the cleanup's SIGKILL ends it otherwise.
func (p *Proc) Terminate(timeout time.Duration) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
	}
}

// Wait waits for the process to exit and returns its exit code; it fails
// the test when the process is still running after timeout.
func (p *Proc) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %v; stderr:\n%s", p.name(), timeout, p.Output())
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("wait: %v", p.err)
	}
	return 0
}

// name is the program's base name, looking through `ip netns exec NS`.
func (p *Proc) name() string {
	args := p.cmd.Args
	if len(args) > 4 && filepath.Base(args[0]) == "ip" && args[1] == "netns" && args[2] == "exec" {
		args = args[4:]
	}
	return filepath.Base(args[0])
}

// CPUTicks is the user plus system CPU time of process pid so far, in
// clock ticks (100 a second on Linux), from /proc/PID/stat.
func CPUTicks(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The command name (field 2) may hold blanks: count from its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}

// RequireTool returns the path of a program a test calls. When it is not
// installed the test fails where the tests must run (CI=true or
// TUNINETD_REQUIRE_NETNS=1, as .ci/run sets, which installs it) and is
// skipped elsewhere; pkg, if given, names the Debian package to install.
func RequireTool(t testing.TB, name string, pkg ...string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	MissingTool(t, name, pkg...)
	return ""
}

// MissingTool fails t where the tests must run (CI=true or
// TUNINETD_REQUIRE_NETNS=1) and skips it elsewhere, for a program or
// feature what the machine lacks.
func MissingTool(t testing.TB, what string, pkg ...string) {
	t.Helper()
	msg := what + " is not installed"
	if len(pkg) > 0 {
		msg += " (apt-get install " + strings.Join(pkg, " ") + ")"
	}
	if os.Getenv("CI") == "true" || os.Getenv("TUNINETD_REQUIRE_NETNS") == "1" {
		t.Fatal(msg + "; CI installs it (.ci/run)")
	}
	t.Skip(msg)
}

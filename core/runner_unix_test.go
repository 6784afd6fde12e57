//go:build unix

package core

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor"
)

func needShell(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh:", err)
	}
}

// script writes an executable shell script into a temporary directory.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cmd.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// gone reports whether pid no longer runs (absent, or a zombie waiting
// for init: it has been killed either way).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShellRunnerOutputEnvGroupStdin(t *testing.T) {
	needShell(t)
	t.Setenv("TUNINETD_STALE", "from-the-daemon")
	t.Setenv("KEEP_ME", "yes")
	t.Setenv("TEST_PGRP", strconv.Itoa(syscall.Getpgrp()))
	p := script(t, `echo "arg=$1"
echo "to stderr" >&2
echo "event=$TUNINETD_EVENT src=$TUNINETD_SRC stale=${TUNINETD_STALE-unset} keep=$KEEP_ME"
g=$(cut -d' ' -f5 /proc/$$/stat)
# The group leader is /bin/sh -c, which may have exec'd this script.
{ [ "$g" = "$$" ] || [ "$g" = "$PPID" ]; } && [ "$g" != "$TEST_PGRP" ] && echo "own group"
[ "$(readlink /proc/$$/fd/0)" = /dev/null ] && echo "stdin null"
printf 'no newline at end'
`)
	log := &testLog{}
	r := &ShellRunner{Log: log}
	env := NewEnv("TUNINETD_")
	env.Set("EVENT", "start")
	env.Set("SRC", "10.0.0.1")
	err := r.Run(t.Context(), Command{Event: "start", Line: p + " start", Env: env})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"start: arg=start",
		"start: to stderr",
		"start: event=start src=10.0.0.1 stale=unset keep=yes",
		"start: own group",
		"start: stdin null",
		"start: no newline at end",
	}
	if got := log.all(); !slices.Equal(got, want) {
		t.Errorf("log\n%q\nwant\n%q", got, want)
	}
}

func TestShellRunnerNonZeroNotFoundNotExecutable(t *testing.T) {
	needShell(t)
	notExec := filepath.Join(t.TempDir(), "plain.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, line, code string }{
		{"exit 3", script(t, "exit 3\n") + " stop", "exit status 3"},
		{"not found", "/nonexistent/tuninetd-test stop", "exit status 127"},
		{"not executable", notExec + " stop", "exit status 126"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &testLog{}
			err := (&ShellRunner{Log: log}).Run(t.Context(), Command{Event: "stop", Line: tc.line})
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.code) {
				t.Fatalf("err %v, want %s", err, tc.code)
			}
			if tc.code != "exit status 3" && log.countPrefix("stop: ") == 0 {
				t.Errorf("the shell's complaint was not logged: %q", log.all())
			}
		})
	}
	// A missing shell is an error too, not a panic.
	err := (&ShellRunner{Shell: "/nonexistent/sh"}).Run(t.Context(), Command{Event: "start", Line: "true"})
	if err == nil {
		t.Error("missing shell succeeded")
	}
}

// TestShellRunnerTimeoutKillsGroup: when the timeout expires, the whole
// process group dies, including a child the script put in the background,
// and output written before the kill is logged.
//
// The timeout runs on the real clock from the moment Run is called, and
// on a loaded box (or under qemu, where even the fork is slow) the shell
// may not have started its child before a short timeout kills it. Such an
// attempt proves nothing about the child, so it is repeated with twice
// the timeout until the script reports that it reached its final sleep.
func TestShellRunnerTimeoutKillsGroup(t *testing.T) {
	needShell(t)
	for timeout := 300 * time.Millisecond; ; timeout *= 2 {
		if timeoutKillsGroup(t, timeout) {
			return
		}
		if timeout > waitLimit/2 {
			t.Fatalf("the script never reached its sleep before the timeout (last %v)", timeout)
		}
		t.Logf("killed before the script was ready with a %v timeout; retrying", timeout)
	}
}

// timeoutKillsGroup runs one attempt; it reports false when the script
// was killed before it was ready (then there is nothing to check about the
// child).
func timeoutKillsGroup(t *testing.T, timeout time.Duration) bool {
	t.Helper()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	readyFile := filepath.Join(dir, "ready")
	p := script(t, `sleep 100 &
echo $! > `+pidFile+`
echo started
echo ready > `+readyFile+`
sleep 100
`)
	log := &testLog{}
	err := (&ShellRunner{Log: log}).Run(t.Context(), Command{Event: "start", Line: p + " start", Timeout: timeout})
	// ErrTimeout means the kill, not the script's 100 s sleep, ended
	// the run.
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	msg := "CORE: start command timed out after " + timeout.String()
	if n := log.countPrefix(msg); n != 1 {
		t.Errorf("%d %q lines in %q", n, msg, log.all())
	}
	// Whatever the script got to do, a child it started must be gone:
	// Run returned, so the group was killed.
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			waitGone(t, pid)
		}
	}
	if b, err := os.ReadFile(readyFile); err != nil || string(b) != "ready\n" {
		return false
	}
	// Ready: the child was started before the kill, and "started" was
	// written before it, so it must have been logged.
	waitGone(t, readPid(t, pidFile))
	if log.count("start: started") != 1 || log.countPrefix(msg+", killing its process group") != 1 {
		t.Errorf("log %q", log.all())
	}
	return true
}

// TestShellRunnerTimeoutBeforeStart: a timeout that runs out before the
// shell could be started is a timeout too, logged as one.
func TestShellRunnerTimeoutBeforeStart(t *testing.T) {
	needShell(t)
	log := &testLog{}
	err := (&ShellRunner{Log: log}).Run(t.Context(), Command{Event: "stop", Line: "sleep 100", Timeout: time.Nanosecond})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	// Whether it ran out before or after the start, one message.
	if n := log.countPrefix("CORE: stop command timed out after 1ns"); n != 1 {
		t.Errorf("log %q", log.all())
	}
}

func TestShellRunnerDaemonHoldingStdout(t *testing.T) {
	needShell(t)
	pidFile := filepath.Join(t.TempDir(), "daemon.pid")
	// The backgrounded sleep inherits stdout and stderr and outlives the
	// script by 100 s.
	p := script(t, `sleep 100 &
echo $! > `+pidFile+`
echo daemon started
exit 0
`)
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	log := &testLog{}
	err := (&ShellRunner{Log: log}).Run(t.Context(), Command{Event: "start", Line: p + " start", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if log.count("start: daemon started") != 1 {
		t.Errorf("log %q", log.all())
	}
	// The daemon still runs, so Run returned without waiting for the
	// pipe it holds (err is nil: no timeout cut it short), and it was
	// not killed: only a timeout kills the group.
	if gone(readPid(t, pidFile)) {
		t.Error("daemon was killed, or Run waited for it to exit")
	}
}

// TestShellRunnerKeepsOutputWrittenBeforeExit: output the script wrote
// before it exited is logged in full even when the grace for the end of
// the output is over before the reader ran (a loaded box). A daemon keeps
// the pipe open, so the end never comes; the grace here is 1 ns.
func TestShellRunnerKeepsOutputWrittenBeforeExit(t *testing.T) {
	needShell(t)
	pidFile := filepath.Join(t.TempDir(), "daemon.pid")
	p := script(t, `sleep 100 &
echo $! > `+pidFile+`
i=0
while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done
printf 'last, no newline'
`)
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	log := &testLog{}
	err := (&ShellRunner{Log: log, OutputGrace: time.Nanosecond}).Run(t.Context(), Command{Event: "start", Line: p})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 2000 {
		want = append(want, "start: line "+strconv.Itoa(i))
	}
	want = append(want, "start: last, no newline")
	if got := log.all(); !slices.Equal(got, want) {
		t.Errorf("got %d lines, want %d; first %q, last %q", len(got), len(want), got[:min(len(got), 1)], got[max(len(got)-1, 0):])
	}
}

func TestShellRunnerCancel(t *testing.T) {
	needShell(t)
	ctx, cancel := context.WithCancel(t.Context())
	ready := filepath.Join(t.TempDir(), "ready")
	p := script(t, "echo $$ > "+ready+"\nsleep 100\n")
	errc := make(chan error, 1)
	go func() { errc <- (&ShellRunner{}).Run(ctx, Command{Event: "stop", Line: p}) }()
	// Cancel a command that really runs (not one that never started),
	// and check that it is killed.
	pid := readPid(t, ready)
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("cancelled command succeeded")
		}
	case <-time.After(waitLimit):
		t.Fatal("cancel did not kill the command")
	}
	waitGone(t, pid)
}

func TestLineLoggerSplitsLongLines(t *testing.T) {
	log := &testLog{}
	w := &lineLogger{log: log, prefix: "x: "}
	long := strings.Repeat("a", maxLogLine+10)
	_, _ = w.Write([]byte(long + "\r\nb"))
	_, _ = w.Write([]byte("c\n"))
	w.flush()
	got := log.all()
	want := []string{"x: " + long[:maxLogLine], "x: " + long[maxLogLine:], "x: bc"}
	if !slices.Equal(got, want) {
		t.Errorf("got %d lines %q", len(got), got)
	}
}

// TestLoopWithShellRunner runs the loop with the real runner: the env
// reaches the script, failures give the original's warning, and a command
// that cannot run leaves the state machine intact.
func TestLoopWithShellRunner(t *testing.T) {
	needShell(t)
	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	p := script(t, `echo "$1 $TUNINETD_REASON $TUNINETD_SRC $TUNINETD_DST_PORT ${TUNINETD_IDLE-}" >> `+events+`
echo "hello from $1"
exit 4
`)
	clk := NewFakeClock()
	log := &testLog{}
	f := newFakeSensor(sensor.Pcap)
	l := newTestLoop(Config{Command: p, TTL: 5 * time.Second, CmdTimeout: time.Minute, Clock: clk, Log: log}, f)
	h := &harness{t: t, clk: clk, log: log, l: l, sensors: []*fakeSensor{f}}
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() { res <- l.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-res })
	h.sinks = []sensor.Sink{<-f.sinkc}

	h.packet(0)
	h.waitFor("start done", func(s snapshot) bool { return s.st == stUp })
	h.advance(5 * time.Second)
	h.waitFor("stop done", func(s snapshot) bool { return s.st == stStandby && s.stops == 1 })
	b, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "start packet 10.0.0.1 53 \nstop idle   5\n"; got != want {
		t.Errorf("script saw %q, want %q", got, want)
	}
	for _, line := range []string{
		"start: hello from start",
		"Warning! Executable command doesn't return 0 code (" + p + " start)",
		"PCAP: start command done",
		"CORE: executing STOP command...",
		"stop: hello from stop",
		"Warning! Executable command doesn't return 0 code (" + p + " stop)",
	} {
		if log.count(line) != 1 {
			t.Errorf("missing %q in %q", line, log.all())
		}
	}

	// The executable vanishes: the original's warning, state machine on.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	h.packet(0)
	h.waitFor("start done", func(s snapshot) bool { return s.st == stUp && s.starts == 2 })
	h.advance(5 * time.Second)
	h.waitFor("stop done", func(s snapshot) bool { return s.st == stStandby && s.stops == 2 })
	if n := log.countPrefix("Warning! Executable command doesn't return 0 code"); n != 4 {
		t.Errorf("%d warnings: %q", n, log.all())
	}
}

// TestSignalStormShellRunner sends at least 1000 SIGHUP and 1000 SIGUSR1
// while real commands run and traffic arrives: no deadlock, and the
// script's own log shows start and stop strictly alternating.
func TestSignalStormShellRunner(t *testing.T) {
	needShell(t)
	events := filepath.Join(t.TempDir(), "events")
	p := script(t, `echo "$1" >> `+events+`
sleep 0.01
`)
	log := &testLog{}
	f := newFakeSensor(sensor.Pcap)
	l := newTestLoop(Config{Command: p, TTL: 20 * time.Millisecond, CmdTimeout: time.Minute, Log: log}, f)
	sig := make(chan os.Signal)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- l.Run(ctx, sig) }()
	sink := <-f.sinkc
	h := &harness{t: t, log: log, l: l}
	deadline := time.After(2 * time.Minute)
	// At least 1000 rounds, and on until two stops have run: how many
	// commands fit into 1000 rounds depends on how fast the box forks
	// shells, and a storm that saw fewer than two start/stop cycles
	// would not show them alternating under signals.
	rounds := 0
	for ; rounds < 1000 || h.sync().stops < 2; rounds++ {
		for _, s := range []os.Signal{syscall.SIGHUP, syscall.SIGUSR1} {
			select {
			case sig <- s:
			case <-deadline:
				t.Fatalf("loop stopped taking signals, or no two stops, after %d rounds (deadlock?)", rounds)
			}
		}
		sink.Seen(time.Now(), testPacket(sensor.Pcap))
		if rounds%2 == 0 {
			// Pacing, not a wait for anything: let commands run
			// between bursts, so signals land in every state:
			// standby, starting, up, stopping.
			time.Sleep(time.Millisecond)
		}
	}
	// Quiet: let the last command and the idle stop finish.
	h.waitFor("standby", func(s snapshot) bool { return s.st == stStandby && s.cmd == "" })
	select {
	case sig <- syscall.SIGTERM:
	case <-time.After(waitLimit):
		t.Fatal("loop does not take SIGTERM")
	}
	select {
	case err := <-res:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
	}
	b, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	ev := strings.Fields(string(b))
	if len(ev) < 4 {
		t.Fatalf("only %d events", len(ev))
	}
	for i, e := range ev {
		want := "start"
		if i%2 == 1 {
			want = "stop"
		}
		if e != want {
			t.Fatalf("event %d is %q: %v", i, e, ev)
		}
	}
	if len(ev)%2 != 0 {
		t.Errorf("ended up after a start: %v", ev)
	}
	if n := log.count("SIGUSR1 caught:"); n != rounds {
		t.Errorf("%d SIGUSR1 reports, want %d", n, rounds)
	}
	t.Logf("%d events in %d rounds", len(ev), rounds)
}

// zombieChildren lists our children that exited but were not reaped.
func zombieChildren(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	var zs []int
	me := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state, ppid, ...
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(me) {
			zs = append(zs, pid)
		}
	}
	return zs
}

func TestShellRunnerReapsChildren(t *testing.T) {
	needShell(t)
	r := &ShellRunner{}
	for i := range 10 {
		_ = r.Run(t.Context(), Command{Event: "start", Line: "exit " + strconv.Itoa(i%3)})
		_ = r.Run(t.Context(), Command{Event: "stop", Line: "/nonexistent/x"})
	}
	_ = r.Run(t.Context(), Command{Event: "start", Line: "sleep 100", Timeout: 50 * time.Millisecond})
	if zs := zombieChildren(t); len(zs) != 0 {
		t.Fatalf("unreaped children: %v", zs)
	}
}

// TestLoopHungStartKilled: a start hanging past the command timeout is
// killed and logged, the state stays up, and stop follows on idle.
//
// The command timeout runs on the real clock; on a loaded box the start
// may be killed before the script even wrote its event, or the stop
// before it finished. Such an attempt shows no hang (or no clean stop),
// so it is repeated with twice the timeout.
func TestLoopHungStartKilled(t *testing.T) {
	needShell(t)
	for timeout := 200 * time.Millisecond; ; timeout *= 2 {
		if loopHungStartKilled(t, timeout) {
			return
		}
		if timeout > waitLimit/2 {
			t.Fatalf("the start never reached its hang before the timeout (last %v)", timeout)
		}
		t.Logf("start killed before it hung with a %v timeout; retrying", timeout)
	}
}

// loopHungStartKilled runs one attempt; it reports false when the start
// was killed before it reached its hang, or the stop was killed too.
func loopHungStartKilled(t *testing.T, timeout time.Duration) bool {
	t.Helper()
	events := filepath.Join(t.TempDir(), "events")
	p := script(t, `echo "$1" >> `+events+`
[ "$1" = start ] && sleep 100
exit 0
`)
	clk := NewFakeClock()
	log := &testLog{}
	f := newFakeSensor(sensor.Pcap)
	l := newTestLoop(Config{Command: p, TTL: 5 * time.Second, CmdTimeout: timeout, Clock: clk, Log: log}, f)
	h := &harness{t: t, clk: clk, log: log, l: l, sensors: []*fakeSensor{f}}
	sig := make(chan os.Signal)
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() { res <- l.Run(ctx, sig) }()
	defer func() { cancel(); <-res }()
	h.sinks = []sensor.Sink{<-f.sinkc}

	h.packet(0)
	// Signals are answered while the start hangs.
	sig <- syscall.SIGUSR1
	h.waitFor("start killed", func(s snapshot) bool { return s.st == stUp })
	for _, line := range []string{
		"SIGUSR1 caught:",
		"CORE: start command timed out after " + timeout.String(),
		"Warning! Executable command doesn't return 0 code (" + p + " start)",
		"PCAP: start command done",
	} {
		if log.countPrefix(line) != 1 {
			t.Errorf("missing %q in %q", line, log.all())
		}
	}
	h.advance(5 * time.Second)
	h.waitFor("stop done", func(s snapshot) bool { return s.st == stStandby && s.stops == 1 })
	b, _ := os.ReadFile(events)
	// The timeout bounds the stop too: on a slow box it may be killed
	// before (or right after) its echo. Then the attempt is inconclusive,
	// but the events must still be in order, each at most once.
	stopKilled := log.countPrefix("CORE: stop command timed out") > 0
	switch got := string(b); {
	case got == "start\nstop\n" && !stopKilled:
		return true
	case got == "stop\n" && !stopKilled:
		return false // the start was killed before its first line
	case stopKilled && (got == "" || got == "start\n" || got == "stop\n" || got == "start\nstop\n"):
		return false
	}
	t.Errorf("script saw %q (stop killed: %v)", b, stopKilled)
	return true
}

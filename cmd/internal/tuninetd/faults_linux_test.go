package tuninetd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// End-to-end fault tests: commands that hang, fork daemons,
// vanish or fail; zombies; signal storms; --holdoff; --stop-on-exit. Each
// asserts event counts and order from the script's own log.

// e2eScript writes a -c script that logs each call exactly like
// hookScript's (so readEvents parses it), then runs body with the event
// in $1. dir is the script's directory, for files body writes.
func e2eScript(t *testing.T, body string) (script, logPath, dir string) {
	t.Helper()
	dir = t.TempDir()
	os.Chmod(dir, 0o755)
	script = filepath.Join(dir, "hook.sh")
	logPath = filepath.Join(dir, "events.log")
	// Besides hookScript's fields, each line carries E2E_* stamps: the
	// start times (clock ticks since boot) of this process and of its
	// parent, so e2eForkTime can tell when the daemon forked the command,
	// free of the shell's start-up delay on a loaded machine.
	text := fmt.Sprintf(`#!/bin/sh
now=$(date +%%s.%%N)
vars=$(env | grep '^TUNINETD_' | sort | tr '\n' ' ')
st() { sed 's/.*) //' /proc/$1/stat | cut -d' ' -f20; }
e2e="E2E_PID=$$ E2E_PPID=$PPID E2E_START=$(st $$) E2E_PSTART=$(st $PPID) E2E_HZ=$(getconf CLK_TCK)"
printf '%%s %%s %%s %%s\n' "$now" "$1" "$vars" "$e2e" >> '%s'
echo "hook $1 ran"
cd '%s'
%s
`, logPath, dir, body)
	if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, logPath, dir
}

// e2eForkTime returns when the daemon (pid daemon) forked the shell that
// ran ev's command, from e2eScript's stamps (10 ms resolution). The
// command runs as /bin/sh -c "<script> <event>": the script is that shell
// itself if the shell exec'd it, else its child.
func e2eForkTime(t *testing.T, ev event, daemon int) time.Time {
	t.Helper()
	num := func(k string) int64 {
		n, err := strconv.ParseInt(ev.env[k], 10, 64)
		if err != nil {
			t.Fatalf("%s event: bad or missing %s in %v", ev.name, k, ev.env)
		}
		return n
	}
	ticks := num("E2E_PSTART")
	if num("E2E_PPID") == int64(daemon) {
		ticks = num("E2E_START")
	}
	forkBoot := time.Duration(ticks) * time.Second / time.Duration(num("E2E_HZ"))
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	return now.Add(forkBoot - time.Duration(ts.Nano()))
}

// e2eCheckStopTiming is checkStopTiming measured at the fork of the stop
// command (see e2eForkTime) rather than when the script got to run, so the
// figure it logs is the daemon's, not the shell's start-up. A stop before
// the TTL ran out is a bug; a late one only on an idle machine, so the
// upper bound is generous (stopLate).
func e2eCheckStopTiming(t *testing.T, stop event, daemon int, lastSend time.Time, ttl time.Duration) {
	t.Helper()
	fork := e2eForkTime(t, stop, daemon)
	d := fork.Sub(lastSend)
	t.Logf("stop forked %.3fs after the last packet (script ran at %.3fs; TTL %v)", d.Seconds(), stop.at.Sub(lastSend).Seconds(), ttl)
	// Start times are in whole clock ticks (10 ms), truncated.
	if d < ttl-20*time.Millisecond {
		t.Errorf("stop %v after the last packet: before the TTL %v ran out", d, ttl)
	}
	if d > ttl+stopLate {
		t.Errorf("stop %v after the last packet: later than TTL %v + %v", d, ttl, stopLate)
	}
}

// e2eReadPid reads a pid a script wrote to file, waiting up to timeout.
func e2eReadPid(t *testing.T, file string, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(file)
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s after %v", file, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// e2eProcState returns a process's state letter ("R", "S", "Z", ...) and
// parent pid, or "" when it no longer exists.
func e2eProcState(pid int) (state string, ppid int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ppid, _ = strconv.Atoi(f[1])
	return f[0], ppid
}

// e2eGone waits until pid has exited and been reaped by someone (or is a
// zombie of a parent other than the daemon: init reaps those).
func e2eGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, _ := e2eProcState(pid)
		if st == "" || st == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive (state %s) after %v", pid, st, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// e2eChildren lists the daemon's child processes as "pid:state".
func e2eChildren(t *testing.T, daemon int) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ppid := e2eProcState(pid); st != "" && ppid == daemon {
			kids = append(kids, fmt.Sprintf("%d:%s", pid, st))
		}
	}
	return kids
}

// withoutCommand drops from kids (e2eChildren's "pid:state") the live
// processes running /bin/sh -c line (or the script, exec'd by the shell). A zombie has no command line left,
// so it always stays.
func withoutCommand(kids []string, line string) []string {
	var out []string
	for _, k := range kids {
		pid, _, _ := strings.Cut(k, ":")
		b, err := os.ReadFile("/proc/" + pid + "/cmdline")
		// /bin/sh -c "LINE", or the script itself if the shell exec'd it.
		args := strings.Join(strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"), " ")
		if err == nil && len(b) > 0 && strings.HasSuffix(args, " "+line) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// e2eWaitSettled waits until the hook log ends in a stop and has not
// changed for quiet, and returns it.
func e2eWaitSettled(t *testing.T, logPath string, quiet, timeout time.Duration) []event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	prev, since := -1, time.Now()
	for {
		evs := readEvents(t, logPath)
		if len(evs) != prev {
			prev, since = len(evs), time.Now()
		}
		if len(evs) > 0 && evs[len(evs)-1].name == "stop" && time.Since(since) >= quiet {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("hook log not settled in standby after %v: %d events, last %v", timeout, len(evs), names(evs[max(0, len(evs)-4):]))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFaultCmdTimeout: a start that hangs past --cmd-timeout is killed
// with its process group and logged; signals are answered meanwhile; the
// state is up afterwards (traffic keeps it up) and stop follows on idle.
func TestFaultCmdTimeout(t *testing.T) {
	ns := tunNamespace(t)
	script, logPath, dir := e2eScript(t, `if [ "$1" = start ]; then sleep 30 & echo $! > sleep.pid; wait; fi`)
	p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "1", "--cmd-timeout=1")
	p.ready()

	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	last := sendEvery(ctx, 250*time.Millisecond, func() { ns.SendUDP("10.77.0.2:9999", 1) })
	evs := waitEvents(t, logPath, 1, 5*time.Second)
	sleepPid := e2eReadPid(t, filepath.Join(dir, "sleep.pid"), 2*time.Second)
	t.Cleanup(func() { syscall.Kill(sleepPid, syscall.SIGKILL) })

	// While start hangs, SIGUSR1 is answered and names the command.
	rep := e2eReportBlock(p)
	if !hasPrefixLine(rep, "- running command: start") {
		t.Errorf("report while start hangs lacks the running command:\n%s", strings.Join(rep, "\n"))
	}
	e2eWaitPrefix(p, "CORE: start command timed out after 1s, killing its process group ", 3*time.Second)
	p.waitLine("Warning! Executable command doesn't return 0 code ("+script+" start)", 1, lineWait)
	p.waitLine("PCAP: start command done", 1, lineWait)
	e2eGone(t, sleepPid, 2*time.Second)

	// Up, and traffic keeps it up after the kill.
	time.Sleep(200 * time.Millisecond)
	rep = e2eReportBlock(p)
	if !hasPrefixLine(rep, "- current status: up (ON)") {
		t.Errorf("after the killed start the state is not up:\n%s", strings.Join(rep, "\n"))
	}
	lastSend := <-last
	if evs = readEvents(t, logPath); len(evs) != 1 {
		t.Fatalf("while traffic flows: events %v, want [start]", names(evs))
	}
	evs = waitEvents(t, logPath, 2, 5*time.Second)
	e2eAlternate(t, evs)
	checkEnv(t, evs[1], map[string]string{"TUNINETD_REASON": "idle"})
	e2eCheckStopTiming(t, evs[1], p.cmd.Process.Pid, lastSend, time.Second)
	e2eQuiet(t, logPath, 2, 300*time.Millisecond, "after the stop")
	if n := e2eCountPrefix(p, "CORE: stop command timed out"); n != 0 {
		t.Errorf("the stop timed out too")
	}
}

// TestFaultForkedDaemon: a start command that leaves a daemon holding its
// stdout returns promptly; the daemon is not killed by us.
func TestFaultForkedDaemon(t *testing.T) {
	ns := tunNamespace(t)
	script, logPath, dir := e2eScript(t, `if [ "$1" = start ]; then sleep 100 & echo $! > sleep.pid; fi`)
	p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "1")
	p.ready()

	ns.SendUDP("10.77.0.2:9999", 1)
	waitEvents(t, logPath, 1, 5*time.Second)
	sleepPid := e2eReadPid(t, filepath.Join(dir, "sleep.pid"), 2*time.Second)
	t.Cleanup(func() {
		syscall.Kill(sleepPid, syscall.SIGKILL)
		e2eGone(t, sleepPid, 5*time.Second)
	})
	// The shell exits at once; the output grace is 0.1 s.
	p.waitLine("PCAP: start command done", 1, lineWait)
	p.waitLine("start: hook start ran", 1, lineWait)
	if st, _ := e2eProcState(sleepPid); st == "" || st == "Z" {
		t.Errorf("the forked daemon %d is gone (state %q): it must outlive the start command", sleepPid, st)
	}
	evs := waitEvents(t, logPath, 2, 5*time.Second)
	e2eAlternate(t, evs)
	for _, l := range p.output() {
		if strings.HasPrefix(l, "Warning!") || strings.Contains(l, "timed out") {
			t.Errorf("unexpected line %q", l)
		}
	}
	// A second cycle works the same.
	e2eWaitStandby(p)
	ns.SendUDP("10.77.0.2:9999", 1)
	waitEvents(t, logPath, 3, 5*time.Second)
	sleepPid2 := e2eReadPid(t, filepath.Join(dir, "sleep.pid"), 2*time.Second)
	t.Cleanup(func() { syscall.Kill(sleepPid2, syscall.SIGKILL) })
	p.waitLine("PCAP: start command done", 2, lineWait)
	e2eAlternate(t, waitEvents(t, logPath, 4, 5*time.Second))
}

// TestFaultCommandVanishes: -c is checked at start-up (also with -d); a
// script that later loses its x bit or disappears gives the original's
// warning for start and stop, and the state machine goes on alternating;
// restored, it runs again.
func TestFaultCommandVanishes(t *testing.T) {
	ns := tunNamespace(t)
	script, logPath, _ := e2eScript(t, "")

	// At start-up (the foreground case is in TestStartupErrors): the -d
	// parent reports it and nothing is left running.
	noexec := filepath.Join(filepath.Dir(script), "noexec.sh")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{filepath.Join(filepath.Dir(script), "missing.sh"), noexec} {
		out, code := runBinary(t, ns.Command(binary(t), "-d", "-i", "tun0", "-c", c))
		if code != 1 || !strings.Contains(out, c) || !strings.HasSuffix(strings.TrimSpace(out), "Abort") || strings.Contains(out, "Success!") {
			t.Errorf("-d -c %s: exit %d, output %q; want 1 and an error naming the path, ending in Abort", c, code, out)
		}
	}
	if pids, _ := exec.Command("ip", "netns", "pids", ns.Name).Output(); len(strings.TrimSpace(string(pids))) > 0 {
		t.Errorf("processes left in the namespace after the failed -d starts: %s", pids)
	}

	p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "1")
	p.ready()
	startWarn := "Warning! Executable command doesn't return 0 code (" + script + " start)"
	stopWarn := "Warning! Executable command doesn't return 0 code (" + script + " stop)"
	cycle := func(n int) {
		t.Helper()
		e2eWaitStandby(p) // the previous stop is over, not only logged
		ns.SendUDP("10.77.0.2:9999", 1)
		p.waitLine("PCAP: start command done", n, lineWait)
		p.waitLine("CORE: executing STOP command...", n, lineWait)
		// The stop is done when its warning (or output) is there: the
		// callers wait for that.
	}

	// Not executable any more.
	if err := os.Chmod(script, 0o644); err != nil {
		t.Fatal(err)
	}
	cycle(1)
	p.waitLine(stopWarn, 1, lineWait)
	if p.count(startWarn) != 1 {
		t.Errorf("%d start warnings, want 1", p.count(startWarn))
	}
	// Gone.
	if err := os.Rename(script, script+".away"); err != nil {
		t.Fatal(err)
	}
	cycle(2)
	p.waitLine(stopWarn, 2, lineWait)
	if p.count(startWarn) != 2 {
		t.Errorf("%d start warnings, want 2", p.count(startWarn))
	}
	// Back, and executable.
	if err := os.Rename(script+".away", script); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}
	cycle(3)
	evs := waitEvents(t, logPath, 2, 5*time.Second)
	e2eAlternate(t, evs)
	if len(evs) != 2 {
		t.Errorf("the restored script ran %v, want start, stop", names(evs))
	}
	if p.count(startWarn) != 2 || p.count(stopWarn) != 2 {
		t.Errorf("warnings after the restored cycle: %d start, %d stop; want 2 and 2", p.count(startWarn), p.count(stopWarn))
	}
	// The warnings alternate like the commands: start, stop, start, stop.
	var order []string
	for _, l := range p.output() {
		switch l {
		case startWarn:
			order = append(order, "start")
		case stopWarn:
			order = append(order, "stop")
		}
	}
	if strings.Join(order, " ") != "start stop start stop" {
		t.Errorf("warning order %v, want start stop start stop", order)
	}
}

// TestFaultNonZeroNoZombies: commands exiting non-zero (and leaving
// short-lived children behind) give the warning every time, start and
// stop alternate, and the daemon has no zombie children afterwards.
func TestFaultNonZeroNoZombies(t *testing.T) {
	ns := tunNamespace(t)
	script, logPath, _ := e2eScript(t, `sh -c 'exit 0' & sleep 0.05 & sleep 0.01; exit 3`)
	p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "1")
	p.ready()
	pid := p.cmd.Process.Pid

	const cycles = 3
	for i := 1; i <= cycles; i++ {
		// The stop's warning is logged before the loop has taken the
		// stop's end and armed again; a packet in between counts as
		// seen during stop, which starts nothing.
		e2eWaitStandby(p)
		ns.SendUDP("10.77.0.2:9999", 1)
		evs := waitEvents(t, logPath, 2*i-1, 5*time.Second)
		p.waitLine("PCAP: start command done", i, lineWait)
		// The start command and what it left are gone; on a busy machine
		// the TTL may have passed already and the stop command be
		// running, which is the one child allowed.
		if kids := withoutCommand(e2eChildren(t, pid), script+" stop"); len(kids) != 0 {
			t.Errorf("cycle %d, up: daemon children %v, want none", i, kids)
		}
		evs = waitEvents(t, logPath, 2*i, 5*time.Second)
		e2eAlternate(t, evs)
		p.waitLine("Warning! Executable command doesn't return 0 code ("+script+" stop)", i, lineWait)
	}
	time.Sleep(200 * time.Millisecond)
	p.waitLine("Warning! Executable command doesn't return 0 code ("+script+" start)", cycles, lineWait)
	if kids := e2eChildren(t, pid); len(kids) != 0 {
		t.Errorf("after %d cycles: daemon children %v, want none (zombies?)", cycles, kids)
	}
	// The kernel's own list, per thread.
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) != "" {
			t.Errorf("%s: %q, want empty", f, b)
		}
	}
	if evs := readEvents(t, logPath); len(evs) != 2*cycles {
		t.Errorf("events %v, want %d start/stop pairs", names(evs), cycles)
	}
}

// TestFaultSignalStorm: 1000 SIGHUP+SIGUSR1 pairs under traffic: no
// deadlock (SIGUSR1 is still answered afterwards, SIGTERM still exits),
// and start/stop strictly alternate in the script's log.
func TestFaultSignalStorm(t *testing.T) {
	ns := tunNamespace(t)
	script, logPath := hookScript(t)
	p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "1")
	p.ready()
	pid := p.cmd.Process.Pid

	ctx, cancel := context.WithCancel(context.Background())
	last := sendEvery(ctx, 20*time.Millisecond, func() { ns.SendUDP("10.77.0.2:9999", 1) })
	waitEvents(t, logPath, 1, 5*time.Second)
	for i := 0; i < 1000; i++ {
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatalf("SIGHUP %d: %v", i, err)
		}
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			t.Fatalf("SIGUSR1 %d: %v", i, err)
		}
		// Standard signals coalesce while pending: pace the pairs (about
		// 1.5 s in all) so that most are delivered and the states change
		// under the storm.
		time.Sleep(1500 * time.Microsecond)
	}
	stormEnd := time.Now()
	time.Sleep(300 * time.Millisecond) // traffic after the storm
	cancel()
	<-last
	t.Logf("storm: %d SIGUSR1 reports, %d HUP stops, %d events so far",
		p.count("SIGUSR1 caught:"), p.count("SIGHUP caught, switch to standby mode"), len(readEvents(t, logPath)))

	evs := e2eWaitSettled(t, logPath, 1500*time.Millisecond, 15*time.Second)
	e2eAlternate(t, evs)
	if len(evs) < 4 {
		t.Errorf("only %d events: the storm should have forced stops and traffic restarted", len(evs))
	}
	// Still answering.
	n := p.count("SIGUSR1 caught:")
	p.signal(syscall.SIGUSR1)
	p.waitLine("SIGUSR1 caught:", n+1, lineWait)
	p.waitLine("- current status: standby (OFF)", 1, lineWait)
	t.Logf("settled %v after the storm with %d events", time.Since(stormEnd), len(evs))
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	e2eAlternate(t, readEvents(t, logPath))
}

// TestFaultHoldoff: --holdoff=2: traffic right after a stop does not
// start (the trigger is logged as ignored, and does not start later
// either); traffic after the holdoff starts.
func TestFaultHoldoff(t *testing.T) {
	ns := tunNamespace(t)
	script, logPath := hookScript(t)
	p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "1", "--holdoff=2")
	p.ready()
	summary := "|- IPv4 10.77.0.1 > 10.77.0.2, NXT_HDR: 0x11 (UDP)"

	ns.SendUDP("10.77.0.2:9999", 1)
	evs := waitEvents(t, logPath, 2, 5*time.Second)
	e2eAlternate(t, evs)
	e2eWaitStandby(p) // the stop has returned: holdoff runs
	stopAt := evs[1].at

	ns.SendUDP("10.77.0.2:9999", 1)
	ignored := e2eWaitPrefix(p, "CORE: holdoff after stop, PCAP packet ignored", 2*time.Second)
	t.Logf("%s", ignored)
	p.waitLine(summary, 2, lineWait) // the ignored packet's summary
	rep := e2eReportBlock(p)
	if !hasPrefixLine(rep, "- holdoff after stop: ") {
		t.Errorf("SIGUSR1 during holdoff lacks the holdoff line:\n%s", strings.Join(rep, "\n"))
	}
	// Nothing starts until well after the holdoff, not even from the
	// ignored packet.
	if wait := time.Until(stopAt.Add(2*time.Second + 500*time.Millisecond)); wait > 0 {
		time.Sleep(wait)
	}
	if evs = readEvents(t, logPath); len(evs) != 2 {
		t.Fatalf("traffic during holdoff: events %v, want [start stop]", names(evs))
	}
	if n := e2eCountPrefix(p, "CORE: holdoff after stop,"); n != 1 {
		t.Errorf("%d holdoff lines, want 1", n)
	}
	ns.SendUDP("10.77.0.2:9999", 1)
	evs = waitEvents(t, logPath, 3, 5*time.Second)
	e2eAlternate(t, evs)
	if d := evs[2].at.Sub(stopAt); d < 2*time.Second {
		t.Errorf("start %v after the stop, inside the 2 s holdoff", d)
	}
	e2eAlternate(t, waitEvents(t, logPath, 4, 5*time.Second))
}

// TestFaultStopOnExit: --stop-on-exit runs stop (TUNINETD_REASON=exit) on
// SIGTERM while up, waits for a start still running, and runs nothing in
// standby.
func TestFaultStopOnExit(t *testing.T) {
	t.Run("up", func(t *testing.T) {
		ns := tunNamespace(t)
		script, logPath := hookScript(t)
		p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "30", "--stop-on-exit")
		p.ready()
		ns.SendUDP("10.77.0.2:9999", 1)
		waitEvents(t, logPath, 1, 5*time.Second)
		p.waitLine("PCAP: start command done", 1, lineWait)
		p.signal(syscall.SIGTERM)
		if code := p.wait(10 * time.Second); code != 0 {
			t.Errorf("exit %d after SIGTERM, want 0", code)
		}
		evs := readEvents(t, logPath)
		e2eAlternate(t, evs)
		if len(evs) != 2 {
			t.Fatalf("events %v, want start, stop", names(evs))
		}
		checkEnv(t, evs[1], map[string]string{"TUNINETD_EVENT": "stop", "TUNINETD_REASON": "exit", "TUNINETD_SENSOR": "pcap"})
		if p.count("CORE: exiting while up (--stop-on-exit)") != 1 {
			t.Errorf("no --stop-on-exit log line")
		}
	})
	t.Run("starting", func(t *testing.T) {
		ns := tunNamespace(t)
		script, logPath, _ := e2eScript(t, `if [ "$1" = start ]; then sleep 1; fi`)
		p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "30", "--stop-on-exit")
		p.ready()
		ns.SendUDP("10.77.0.2:9999", 1)
		waitEvents(t, logPath, 1, 5*time.Second)
		p.signal(syscall.SIGTERM) // while start still runs
		if code := p.wait(10 * time.Second); code != 0 {
			t.Errorf("exit %d after SIGTERM, want 0", code)
		}
		evs := readEvents(t, logPath)
		e2eAlternate(t, evs)
		if len(evs) != 2 {
			t.Fatalf("events %v, want start, stop", names(evs))
		}
		checkEnv(t, evs[1], map[string]string{"TUNINETD_REASON": "exit"})
		if d := evs[1].at.Sub(evs[0].at); d < time.Second {
			t.Errorf("stop %v after start: it did not wait for start to finish", d)
		}
	})
	t.Run("standby", func(t *testing.T) {
		ns := tunNamespace(t)
		script, logPath := hookScript(t)
		p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "1", "--stop-on-exit")
		p.ready()
		ns.SendUDP("10.77.0.2:9999", 1)
		waitEvents(t, logPath, 2, 5*time.Second)
		e2eWaitStandby(p)
		p.signal(syscall.SIGTERM)
		if code := p.wait(10 * time.Second); code != 0 {
			t.Errorf("exit %d after SIGTERM, want 0", code)
		}
		evs := readEvents(t, logPath)
		e2eAlternate(t, evs)
		if len(evs) != 2 {
			t.Errorf("events %v, want only the idle start, stop", names(evs))
		}
		if p.count("CORE: exiting while up (--stop-on-exit)") != 0 {
			t.Errorf("--stop-on-exit acted in standby")
		}
	})
}

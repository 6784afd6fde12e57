package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Go cannot fork, so -d re-executes the binary (from /proc/self/exe, with
// the same arguments) detached: new session, cwd /, stdio on /dev/null.
// daemonEnv marks the child and names the inherited descriptor on which it
// reports start-up: "ready\n" once its sensors are open, or the error text.
// The parent relays that and exits, so no start-up failure is silent.
const (
	daemonEnv = "_TUNINETD_DAEMON_FD"
	// daemonFD is the first ExtraFiles descriptor.
	daemonFD = 3
	// daemonReady is the child's whole success report.
	daemonReady = "ready\n"
	// daemonStartTimeout bounds the parent's wait: opening sensors takes
	// milliseconds; a child silent for this long is stuck.
	daemonStartTimeout = 60 * time.Second
)

// daemonChild returns the report pipe when this process is the re-executed
// daemon, else nil. It removes the marker from the environment so that
// commands do not inherit it, and keeps the pipe out of them.
func daemonChild() *os.File {
	v, ok := os.LookupEnv(daemonEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(daemonEnv)
	if v != fmt.Sprint(daemonFD) {
		return nil
	}
	unix.CloseOnExec(daemonFD)
	return os.NewFile(daemonFD, "daemon-report")
}

// startDaemon is the -d parent: it starts the detached child and waits
// for its report. On success it prints the original's two lines (to stderr
// and, as the original did, to syslog) and returns 0; otherwise it prints
// the child's error and returns 1.
func startDaemon(argv []string, stderr io.Writer) int {
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "Can't fork process: %v. Abort\n", err)
		return 1
	}
	defer r.Close()
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        argv,
		Env:         append(os.Environ(), fmt.Sprintf("%s=%d", daemonEnv, daemonFD)),
		Dir:         "/",
		ExtraFiles:  []*os.File{w},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		fmt.Fprintf(stderr, "Can't fork process: %v. Abort\n", err)
		return 1
	}

	type reply struct {
		text string
		err  error
	}
	replies := make(chan reply, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(r, 64<<10))
		replies <- reply{string(b), err}
	}()
	var rep reply
	select {
	case rep = <-replies:
	case <-time.After(daemonStartTimeout):
		cmd.Process.Kill()
		cmd.Wait()
		fmt.Fprintf(stderr, "Daemon did not report start-up within %v, killed it. Abort\n", daemonStartTimeout)
		return 1
	}

	if rep.text == daemonReady {
		pid := cmd.Process.Pid
		cmd.Process.Release()
		lines := []string{"---", fmt.Sprintf("Success! Tuninetd has been started with PID: %d", pid)}
		sl := &syslogLogger{}
		for _, l := range lines {
			fmt.Fprintln(stderr, l)
			sl.Printf("%s", l)
		}
		sl.Close()
		return 0
	}
	// The child failed: it closes the pipe right before exiting 1.
	werr := cmd.Wait()
	if text := strings.TrimRight(rep.text, "\n"); text != "" {
		fmt.Fprintln(stderr, text)
	} else {
		fmt.Fprintf(stderr, "Daemon exited during start-up (%v). Abort\n", werr)
	}
	return 1
}

//go:build unix

package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultOutputGrace is how long ShellRunner keeps reading a command's
// output after its process exited, when OutputGrace is zero.
const DefaultOutputGrace = 100 * time.Millisecond

// maxLogLine bounds one logged output line; longer lines are split so a
// script printing binary junk cannot make one huge syslog message.
const maxLogLine = 1024

// ShellRunner is the default Runner: it runs Command.Line with
// `/bin/sh -c`, in a process group of its own, with stdin on /dev/null,
// and logs every line the command writes to stdout or stderr as
// "<event>: <line>".
//
// It waits for the shell process, not for its output pipe: a script that
// starts a daemon which inherits stdout returns as soon as the shell exits
// (output still buffered is read for OutputGrace, then the pipe is
// closed). When Command.Timeout expires the whole process group is killed
// with SIGKILL, so children the script started in the group die too. The
// shell is always reaped by Wait; descendants that outlive it are
// re-parented to init, which reaps them.
type ShellRunner struct {
	// Log receives output lines and the timeout message. Nil discards.
	Log Logger
	// Shell is the shell binary; empty means /bin/sh.
	Shell string
	// OutputGrace bounds reading output after the shell exited; zero
	// means DefaultOutputGrace.
	OutputGrace time.Duration
}

// Run implements Runner.
func (r *ShellRunner) Run(ctx context.Context, c Command) error {
	shell := r.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	grace := r.OutputGrace
	if grace <= 0 {
		grace = DefaultOutputGrace
	}
	runCtx := ctx
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}

	out := &lineLogger{log: r.Log, prefix: c.Event + ": "}
	cmd := exec.CommandContext(runCtx, shell, "-c", c.Line)
	cmd.Env = commandEnv(os.Environ(), c.Env)
	cmd.Stdin = nil // /dev/null
	// One writer for both streams: exec then copies them with a single
	// goroutine at a time, so lines from stdout and stderr never tear.
	cmd.Stdout = out
	cmd.Stderr = out
	// Own process group: the timeout kills the script and everything it
	// started in the group, and a terminal's ^C is not delivered to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var timedOut atomic.Bool
	cmd.Cancel = func() error {
		pid := cmd.Process.Pid
		if errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			timedOut.Store(true)
			r.logf("CORE: %s command timed out after %v, killing its process group %d", c.Event, c.Timeout, pid)
		} else {
			r.logf("CORE: %s command cancelled, killing its process group %d", c.Event, pid)
		}
		// The group id is the shell's pid (Setpgid). Fall back to the
		// process itself if the group is already gone.
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	// Wait for the process, not for whoever else holds the pipe.
	cmd.WaitDelay = grace

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s command: starting %s: %w", c.Event, shell, err)
	}
	err := cmd.Wait()
	out.flush()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The shell exited 0 but a descendant kept the output pipe
		// open: that is the daemon case, and a success.
		err = nil
	}
	if timedOut.Load() {
		return fmt.Errorf("%s command killed after %v: %w", c.Event, c.Timeout, ErrTimeout)
	}
	if err != nil {
		return fmt.Errorf("%s command: %w", c.Event, err)
	}
	return nil
}

func (r *ShellRunner) logf(format string, v ...any) {
	if r.Log != nil {
		r.Log.Printf(format, v...)
	}
}

// commandEnv returns base without inherited TUNINETD_* variables (a stale
// value from the daemon's own environment must not look like event data),
// followed by extra.
func commandEnv(base, extra []string) []string {
	env := make([]string, 0, len(base)+len(extra))
	for _, kv := range base {
		if strings.HasPrefix(kv, "TUNINETD_") {
			continue
		}
		env = append(env, kv)
	}
	for _, kv := range extra {
		// execve cannot pass a NUL; drop such a variable rather than
		// failing the whole command.
		if strings.IndexByte(kv, 0) >= 0 {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// lineLogger is an io.Writer that logs complete lines with a prefix.
// exec.Cmd calls Write from one goroutine at a time (Stdout == Stderr),
// and flush only runs after Wait, so it needs no lock.
type lineLogger struct {
	log    Logger
	prefix string
	buf    []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			for len(w.buf) >= maxLogLine {
				w.emit(w.buf[:maxLogLine])
				w.buf = append(w.buf[:0], w.buf[maxLogLine:]...)
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		p = p[i+1:]
		for len(w.buf) > maxLogLine {
			w.emit(w.buf[:maxLogLine])
			w.buf = append(w.buf[:0], w.buf[maxLogLine:]...)
		}
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
	return n, nil
}

func (w *lineLogger) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
}

func (w *lineLogger) emit(line []byte) {
	line = bytes.TrimRight(line, "\r")
	if w.log != nil {
		w.log.Printf("%s%s", w.prefix, line)
	}
}

//go:build unix

package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// defaultOutputGrace is how long ShellRunner waits for the end of a
// command's output after its process exited, when OutputGrace is zero.
const defaultOutputGrace = 100 * time.Millisecond

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
// (after at most OutputGrace of waiting for the pipe's end). Everything
// written before the shell exited is logged; only what a descendant
// writes later may be cut off. When Command.Timeout expires the whole
// process group is killed with SIGKILL, so children the script started in
// the group die too. The shell is always reaped by Wait; descendants that
// outlive it are re-parented to init, which reaps them.
//
// A ShellRunner keeps no state between runs: several Runs may go on at
// once (the loop makes only one; another daemon may make more) as long as
// Log is safe for concurrent use.
type ShellRunner struct {
	// Log receives output lines and the timeout message. Nil discards.
	Log Logger
	// Shell is the shell binary; empty means /bin/sh.
	Shell string
	// OutputGrace bounds waiting for the end of the output after the
	// shell exited; zero means 100 ms. Output already
	// written by then is read in full regardless.
	OutputGrace time.Duration
}

// Run implements Runner.
func (r *ShellRunner) Run(ctx context.Context, c Command) error {
	runCtx := ctx
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	// The timeout, not the caller, ended the run.
	expired := func() bool { return errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil }

	// The command writes into a pipe we own and read ourselves, instead
	// of exec's copying goroutine with WaitDelay: after the shell exits,
	// whatever is still buffered in the pipe must be logged even when
	// this process is not scheduled for a while (a loaded router), and
	// exec would drop it once WaitDelay ran out.
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("%s command: output pipe: %w", c.Event, err)
	}
	defer pr.Close()
	cmd := r.shellCommand(runCtx, c, pw)
	var timedOut atomic.Bool
	cmd.Cancel = func() error {
		timedOut.Store(expired())
		return r.killGroup(cmd, c, timedOut.Load())
	}

	err = cmd.Start()
	// Only the command and its descendants hold the write end from now
	// on, so the reader sees EOF once they are all gone.
	pw.Close()
	if err != nil {
		if expired() {
			// The timeout ran out before the shell could even be
			// started (a box so loaded that setting up took that
			// long): still a timeout, not a failure to run.
			r.logf("CORE: %s command timed out after %v before it started", c.Event, c.Timeout)
			return fmt.Errorf("%s command not started within %v: %w", c.Event, c.Timeout, ErrTimeout)
		}
		return fmt.Errorf("%s command: starting %s: %w", c.Event, r.shell(), err)
	}
	err = r.waitLogging(cmd, pr, &lineLogger{log: r.Log, prefix: c.Event + ": "})
	if timedOut.Load() {
		return fmt.Errorf("%s command killed after %v: %w", c.Event, c.Timeout, ErrTimeout)
	}
	if err != nil {
		return fmt.Errorf("%s command: %w", c.Event, err)
	}
	return nil
}

// shell is the shell binary to run.
func (r *ShellRunner) shell() string {
	if r.Shell == "" {
		return "/bin/sh"
	}
	return r.Shell
}

// shellCommand prepares `<shell> -c <Command.Line>` with the command's
// environment, stdin on /dev/null, stdout and stderr on out, in a process
// group of its own.
func (r *ShellRunner) shellCommand(ctx context.Context, c Command, out *os.File) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.shell(), "-c", c.Line)
	cmd.Env = c.Env.Environ(os.Environ())
	cmd.Stdin = nil // /dev/null
	// One pipe for both streams, so lines from stdout and stderr never
	// tear.
	cmd.Stdout = out
	cmd.Stderr = out
	// Own process group: the timeout kills the script and everything it
	// started in the group, and a terminal's ^C is not delivered to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// killGroup ends a started command whose context is done: it kills the
// whole process group with SIGKILL, so children the script started in the
// group die too.
func (r *ShellRunner) killGroup(cmd *exec.Cmd, c Command, timedOut bool) error {
	pid := cmd.Process.Pid
	if timedOut {
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

// waitLogging waits for the started command's process, not for whoever
// else holds its output pipe, while logging the output read from pr; then
// it logs what the command wrote before it exited. It returns Wait's error.
func (r *ShellRunner) waitLogging(cmd *exec.Cmd, pr *os.File, out *lineLogger) error {
	read := make(chan struct{})
	go func() {
		defer close(read)
		readLines(pr, out)
	}()
	err := cmd.Wait()
	grace := r.OutputGrace
	if grace <= 0 {
		grace = defaultOutputGrace
	}
	collectOutput(pr, out, read, grace)
	out.flush()
	return err
}

func (r *ShellRunner) logf(format string, v ...any) {
	if r.Log != nil {
		r.Log.Printf(format, v...)
	}
}

// maxDrain bounds the final non-blocking read of a command's output pipe,
// so a daemon that keeps writing cannot hold Run; it is well above the
// largest pipe buffer Linux gives by default.
const maxDrain = 1 << 20

// readLines logs everything read from r until EOF or an error (such as the
// read deadline collectOutput sets).
func readLines(r *os.File, out *lineLogger) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			_, _ = out.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// collectOutput finishes reading a command's output after its shell
// exited. It waits up to grace for EOF (a daemon the script started may
// hold the pipe open for good); then it stops the reader and takes, with
// non-blocking reads, whatever is still buffered in the pipe. Everything
// the command wrote before it exited is therefore logged however late
// the reader gets to run; only a descendant's later output is cut off.
func collectOutput(r *os.File, out *lineLogger, read <-chan struct{}, grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-read:
		return
	case <-t.C:
	}
	// A deadline in the past makes the blocked Read return at once
	// without consuming anything.
	if err := r.SetReadDeadline(time.Now()); err != nil {
		// Not pollable (cannot happen for os.Pipe on Unix): closing
		// is the only way to unblock the reader.
		r.Close()
		<-read
		return
	}
	<-read
	if err := r.SetReadDeadline(time.Time{}); err != nil {
		return
	}
	rc, err := r.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 4096)
	for total := 0; total < maxDrain; {
		var n int
		var rerr error
		// Returning true: one read attempt, never wait for the poller.
		// The descriptor is non-blocking, so an empty pipe gives EAGAIN.
		if err := rc.Read(func(fd uintptr) bool {
			for {
				n, rerr = syscall.Read(int(fd), buf)
				if rerr != syscall.EINTR {
					return true
				}
			}
		}); err != nil || rerr != nil || n <= 0 {
			return
		}
		_, _ = out.Write(buf[:n])
		total += n
	}
}

// lineLogger is an io.Writer that logs complete lines with a prefix.
// Only one goroutine writes at a time (the reader, then collectOutput's
// drain after the reader returned, then flush), so it needs no lock.
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

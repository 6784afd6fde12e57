package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reportFD is the child's report descriptor: the first of ExtraFiles.
const reportFD = 3

// The report is one of these words on its first line; after "error" come
// the child's message lines for the user.
const (
	readyWord = "ready"
	errorWord = "error"
)

// maxReport bounds what the parent reads: a report is a few lines.
const maxReport = 64 << 10

// Config is what differs between our commands' -d.
type Config struct {
	// Marker names the environment variable that tells the re-executed
	// child what it is (and which descriptor it reports on), such as
	// "_TUNINETD_DAEMON_FD". Child removes it again, so nothing the
	// daemon runs inherits it.
	Marker string
	// Dir is the child's working directory; "" keeps the parent's, for
	// a child that resolves relative paths first and then changes to "/"
	// itself (so as not to keep a mount point busy).
	Dir string
	// Timeout bounds the parent's wait for the report: start-up takes
	// milliseconds, so a child silent this long is stuck and is killed.
	Timeout time.Duration
	// Messages word the parent's own errors, each a fmt format with one
	// %v verb. The child's start-up errors are its own words.
	Messages Messages
}

// Messages are the texts of the errors Start returns when the child did
// not report one itself.
type Messages struct {
	Fork    string // %v: why the child could not be started
	Timeout string // %v: Config.Timeout, after which the child was killed
	Exited  string // %v: how the child ended without a report (Wait's error, nil for status 0)
}

// Start is the -d parent. It starts argv (os.Args: argv[0] names the
// child in ps and in its messages) again from /proc/self/exe, detached,
// and waits for its report. It returns the child's pid once it is ready;
// otherwise the error's text is the whole message for the user: the
// child's own lines (without the last newline), or one of cfg.Messages.
// A child that failed has been reaped.
func Start(cfg Config, argv []string) (pid int, err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf(cfg.Messages.Fork, err)
	}
	defer r.Close()
	// Path is /proc/self/exe rather than os.Executable's name so that a
	// binary replaced or deleted since (an upgrade) still starts as
	// itself. Stdin, Stdout and Stderr nil mean /dev/null.
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        argv,
		Env:         append(os.Environ(), cfg.Marker+"="+strconv.Itoa(reportFD)),
		Dir:         cfg.Dir,
		ExtraFiles:  []*os.File{w},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	// The child holds the only write end now, so its exit (or its
	// closing the report) ends our read.
	w.Close()
	if err != nil {
		return 0, fmt.Errorf(cfg.Messages.Fork, err)
	}
	if err := r.SetReadDeadline(time.Now().Add(cfg.Timeout)); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, fmt.Errorf(cfg.Messages.Fork, err)
	}
	b, rerr := io.ReadAll(io.LimitReader(r, maxReport))
	word, text, _ := strings.Cut(string(b), "\n")
	if word == readyWord {
		// The child runs on by itself; there is nothing to wait for.
		pid = cmd.Process.Pid
		cmd.Process.Release()
		return pid, nil
	}
	if errors.Is(rerr, os.ErrDeadlineExceeded) {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, fmt.Errorf(cfg.Messages.Timeout, cfg.Timeout)
	}
	// The child failed and exits: reap it so that no zombie is left.
	werr := cmd.Wait()
	if text = strings.TrimRight(text, "\n"); word == errorWord && text != "" {
		return 0, errors.New(text)
	}
	return 0, fmt.Errorf(cfg.Messages.Exited, werr)
}

// Report is the daemon child's line to the waiting parent. Exactly one of
// Ready or Fail is called, once.
type Report struct {
	f *os.File
}

// Child returns the report when this process is the daemon child that
// Start re-executed (marker is Config.Marker), else nil. It removes the
// marker from the environment and keeps the report descriptor out of
// anything the daemon runs.
func Child(marker string) *Report {
	v, ok := os.LookupEnv(marker)
	if !ok {
		return nil
	}
	os.Unsetenv(marker)
	if v != strconv.Itoa(reportFD) {
		return nil
	}
	unix.CloseOnExec(reportFD)
	return &Report{f: os.NewFile(reportFD, "daemon-report")}
}

// Ready tells the parent that start-up worked: it prints its success and
// exits 0.
func (r *Report) Ready() error {
	return r.send(readyWord + "\n")
}

// Fail hands the parent the start-up error, one or more lines that it
// prints as they are before it exits 1.
func (r *Report) Fail(lines ...string) error {
	return r.send(errorWord + "\n" + strings.Join(lines, "\n") + "\n")
}

// send writes the report and closes it: the parent reads to the end.
func (r *Report) send(s string) error {
	_, err := io.WriteString(r.f, s)
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("daemon: report to the parent: %w", err)
	}
	return nil
}

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/tuntap"
)

// daemonEnv tells a re-executed tuntapd that it is the daemon child and
// which descriptor reports its startup to the parent.
const daemonEnv = "TUNTAPD_DAEMON_FD"

// daemonFD is the child's descriptor for the startup report: the first of
// exec.Cmd.ExtraFiles.
const daemonFD = 3

// startupTimeout bounds how long the parent waits for the child's report;
// attaching takes milliseconds, so only a wedged child hits it.
const startupTimeout = 30 * time.Second

// start runs tuntapd with a checked configuration: in the foreground, as
// the daemon child, or as the parent that starts the daemon.
func start(cfg config, args []string, stderr io.Writer) int {
	var report *os.File
	if v := os.Getenv(daemonEnv); v != "" && cfg.daemon {
		os.Unsetenv(daemonEnv) // not for anything tuntapd might start
		report = os.NewFile(daemonFD, "startup report")
	} else if cfg.daemon {
		return daemonize(args, stderr)
	}
	lg := &logger{stderr: stderr, daemon: report != nil}
	defer lg.close()
	return serve(cfg, lg, report)
}

// daemonize re-executes tuntapd detached (new session, stdio on /dev/null;
// the child changes to / after startup) and waits for it to report that it holds the device or why it
// failed. Unlike the original's fork, the parent can then print the error
// and exit 1 instead of leaving it in syslog only.
func daemonize(args []string, stderr io.Writer) int {
	fail := func(format string, v ...any) int {
		fmt.Fprintf(stderr, "%s: "+format+"\n", append([]any{progname}, v...)...)
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		return fail("can't find own executable: %v. Abort", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fail("can't fork process: %v. Abort", err)
	}
	defer r.Close()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", daemonEnv, daemonFD))
	// The child changes to / itself, once it has resolved relative paths
	// (-w) against the directory it was started from.
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fail("can't fork process: %v. Abort", err)
	}
	r.SetReadDeadline(time.Now().Add(startupTimeout))
	b, rerr := io.ReadAll(r)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 0 && lines[0] == "ready" {
		// The child runs on by itself; nothing to wait for.
		pid := cmd.Process.Pid
		cmd.Process.Release()
		fmt.Fprintln(stderr, "---")
		fmt.Fprintf(stderr, "%s: success! Has been started with PID: %d\n", progname, pid)
		return 0
	}
	if errors.Is(rerr, os.ErrDeadlineExceeded) {
		cmd.Process.Kill()
		cmd.Wait()
		return fail("daemon did not report within %v. Abort", startupTimeout)
	}
	// The child failed and exits: reap it so no zombie is left.
	state := cmd.Wait()
	if len(lines) > 0 && lines[0] == "error" && len(lines) > 1 {
		for _, l := range lines[1:] {
			fmt.Fprintln(stderr, l)
		}
		return 1
	}
	return fail("daemon exited during startup (%v). Abort", state)
}

// startupFailed logs the lines and, for a daemon child, hands them to the
// waiting parent.
func startupFailed(lg *logger, report *os.File, lines ...string) {
	for _, l := range lines {
		lg.err("%s", l)
	}
	if report != nil {
		fmt.Fprintf(report, "error\n%s\n", strings.Join(lines, "\n"))
		report.Close()
	}
}

// serve holds the device until SIGTERM/SIGINT (exit 0) or until the device
// is lost (exit 1).
func serve(cfg config, lg *logger, report *os.File) int {
	// Signals first, as the original does: a SIGTERM during startup must
	// not kill us without deleting a device we created.
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigc)

	lg.info("%s: started with pid %d", progname, os.Getpid())

	var save packetWriter
	if cfg.savefile != "" {
		w, err := openSavefile(cfg.savefile)
		if err != nil {
			startupFailed(lg, report, fmt.Sprintf("%s: can't open or create pcap file: %v. Abort", progname, err))
			return 1
		}
		defer w.Close()
		save = w
	}
	if report != nil {
		// Do not keep a mount point busy; the original did this too.
		if err := os.Chdir("/"); err != nil {
			lg.warn("%s: can't change directory: %v", progname, err)
		}
	}
	link := bpfc.RAW
	if cfg.mode == tuntap.TAP {
		link = bpfc.EN10MB
	}
	// Packet runs on the holder's reading goroutine only, so the
	// savefile sees one writer.
	packet := func(b []byte) {
		p := &sensor.Packet{
			Data:     append([]byte(nil), b...),
			LinkType: link,
			OrigLen:  len(b),
			Time:     time.Now(),
			Ifname:   cfg.ifname,
		}
		// The daemon does not log every packet (the original did not
		// either): syslog is not a packet log.
		if report == nil {
			for _, l := range sensor.Decode(p).Lines() {
				lg.info("%s", l)
			}
		}
		if save != nil {
			if err := save.WritePacket(p); err != nil {
				lg.err("%s: can't write to pcap file: %v", progname, err)
			}
		}
	}
	lost := make(chan error, 1)
	h, err := tuntap.NewHolder(tuntap.HolderConfig{
		Name:   cfg.ifname,
		Mode:   cfg.mode,
		Packet: packet,
		Lost: func(err error) {
			select {
			case lost <- err:
			default:
			}
		},
	})
	if err == nil {
		err = h.Hold()
	}
	if err != nil {
		startupFailed(lg, report, fmt.Sprintf("%s: %v", progname, err),
			fmt.Sprintf("%s: mapping to tun/tap interface %s mode 0x%04x failed. Abort", progname, cfg.ifname, modeFlag(cfg.mode)))
		return 1
	}
	defer h.Close()
	if report != nil {
		fmt.Fprintln(report, "ready")
		report.Close()
	}

	for {
		select {
		case s := <-sigc:
			switch s {
			case syscall.SIGHUP:
				lg.warn("%s: SIGHUP caught. NoOp", progname)
			case syscall.SIGUSR1:
				lg.info("%s: SIGUSR1 caught. Running on %s, mode 0x%04x", progname, cfg.ifname, modeFlag(cfg.mode))
			case syscall.SIGTERM:
				lg.info("%s: SIGTERM caught. Shutting down...", progname)
				return 0
			case syscall.SIGINT:
				lg.info("%s: SIGINT caught. Shutting down...", progname)
				return 0
			}
		case err := <-lost:
			// The device was deleted under us. The original exits
			// here; a supervisor may restart us, re-creating it.
			lg.err("%s: %v", progname, err)
			lg.err("%s: error, while reading data. Abort", progname)
			return 1
		}
	}
}

// packetWriter is the -w savefile.
type packetWriter interface {
	WritePacket(p *sensor.Packet) error
	Close() error
}

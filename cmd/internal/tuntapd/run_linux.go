package tuntapd

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/cmd/internal/daemon"
	"github.com/tuninetd/tuninetd/cmd/internal/logsink"
	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/netns"
	"github.com/tuninetd/tuninetd/tuntap"
)

// daemonMarker marks the re-executed -d child (see cmd/internal/daemon).
const daemonMarker = "TUNTAPD_DAEMON_FD"

// start runs tuntapd with a checked configuration: in the foreground, as
// the daemon child, or as the parent that starts the daemon. argv is
// os.Args.
func start(cfg config, argv []string, stderr io.Writer) int {
	var report *daemon.Report
	if cfg.daemon {
		if report = daemon.Child(daemonMarker); report == nil {
			return daemonize(argv, stderr)
		}
	}
	lg := &logger{stderr: logsink.Lines{W: stderr}}
	if report != nil {
		lg.sys = &logsink.Syslog{Tag: progname}
	}
	defer lg.close()
	return serve(cfg, lg, report)
}

// daemonize starts tuntapd again detached (the child changes to / itself
// once it has resolved -w against the directory it was started from) and
// waits for it to report that it holds the device or why it failed.
func daemonize(argv []string, stderr io.Writer) int {
	pid, err := daemon.Start(daemon.Config{
		Marker: daemonMarker,
		// Attaching takes milliseconds, so only a wedged child hits this.
		Timeout: 30 * time.Second,
		Messages: daemon.Messages{
			Fork:    progname + ": can't fork process: %v. Abort",
			Timeout: progname + ": daemon did not report within %v. Abort",
			Exited:  progname + ": daemon exited during startup (%v). Abort",
		},
	}, argv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stderr, "---")
	fmt.Fprintf(stderr, "%s: success! Has been started with PID: %d\n", progname, pid)
	return 0
}

// startupFailed logs the lines and, for a daemon child, hands them to the
// waiting parent.
func startupFailed(lg *logger, report *daemon.Report, lines ...string) {
	for _, l := range lines {
		lg.err("%s", l)
	}
	if report != nil {
		report.Fail(lines...)
	}
}

// serve holds the device until SIGTERM/SIGINT (exit 0) or until the device
// is lost (exit 1).
func serve(cfg config, lg *logger, report *daemon.Report) int {
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
	var ns *netns.NS
	if cfg.netns != "" {
		var err error
		if ns, err = netns.Open(cfg.netns); err != nil {
			startupFailed(lg, report, fmt.Sprintf("%s: can't use network namespace %s: %v. Abort", progname, cfg.netns, err))
			return 1
		}
		defer ns.Close()
		lg.info("%s: holding %s in network namespace %s", progname, cfg.ifname, cfg.netns)
		stop, err := ns.WatchRemoved(func() {
			lg.warn("%s: network namespace %s was deleted or replaced: its name is gone, but the namespace lives on while we hold %s in it. Restart tuntapd to use a namespace created under that name again", progname, cfg.netns, cfg.ifname)
		})
		if err != nil {
			lg.warn("%s: can't watch %s for deletion: %v", progname, cfg.netns, err)
		} else {
			defer stop()
		}
	}
	lost := make(chan error, 1)
	h, err := tuntap.NewHolder(tuntap.HolderConfig{
		Name:   cfg.ifname,
		Mode:   cfg.mode,
		NetNS:  ns,
		Packet: packetHandler(cfg, lg, save, report == nil),
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
		report.Ready()
	}
	return answerSignals(cfg, lg, sigc, lost)
}

// packetHandler returns what the holder calls with each packet read: it
// logs a summary in the foreground (a daemon does not, as the original
// did not: syslog is not a packet log) and appends it to the -w savefile.
// It runs on the holder's reading goroutine only, so the savefile sees
// one writer.
func packetHandler(cfg config, lg *logger, save packetWriter, foreground bool) func([]byte) {
	link := bpfc.RAW
	if cfg.mode == tuntap.TAP {
		link = bpfc.EN10MB
	}
	return func(b []byte) {
		p := &sensor.Packet{
			Data:     append([]byte(nil), b...),
			LinkType: link,
			OrigLen:  len(b),
			Time:     time.Now(),
			Ifname:   cfg.ifname,
		}
		if foreground {
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
}

// answerSignals runs until SIGTERM or SIGINT (status 0) or until the held
// device is lost (status 1), answering SIGHUP and SIGUSR1 meanwhile.
func answerSignals(cfg config, lg *logger, sigc <-chan os.Signal, lost <-chan error) int {
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

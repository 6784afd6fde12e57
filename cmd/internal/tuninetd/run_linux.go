package tuninetd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/cmd/internal/daemon"
	"github.com/tuninetd/tuninetd/cmd/internal/logsink"
	"github.com/tuninetd/tuninetd/core"
	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/afpacket"
	"github.com/tuninetd/tuninetd/sensor/netns"
	"github.com/tuninetd/tuninetd/sensor/nflog"
	"github.com/tuninetd/tuninetd/sensor/savefile"
	"github.com/tuninetd/tuninetd/tuntap"
)

// run is the whole program behind Main: it returns the exit status.
// argv is os.Args; stderr receives the foreground messages.
func run(argv []string, stderr io.Writer) int {
	o, st := parseCommandLine(argv, versionString())
	if st != nil {
		io.WriteString(stderr, st.text)
		return st.code
	}
	report := daemon.Child(daemonMarker)
	if o.daemon && report == nil {
		return startDaemon(argv, stderr)
	}
	if report != nil {
		// The child starts where the parent ran, so that a relative
		// --config names the same file for both; everything after it
		// resolves relative paths against / as before, and no mount
		// point is kept busy.
		if err := os.Chdir("/"); err != nil {
			report.Fail(fmt.Sprintf("Can't change directory to /: %v. Abort", err))
			return 1
		}
	}

	// Catch the signals before anything is opened: a SIGHUP or SIGUSR1
	// during start-up must not kill us (their default action), and a
	// SIGTERM then still ends the loop cleanly as soon as it runs.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	logger, closeLog := logsink.ForDaemon("tuninetd", report != nil, stderr)
	defer closeLog()

	d, err := setup(o, logger, report == nil)
	if err != nil {
		logger.Printf("%s", err.Error())
		if report != nil {
			report.Fail(err.Error())
		}
		return 1
	}
	defer d.close()
	if report != nil {
		report.Ready()
	}
	if d.waiting {
		appeared, err := waitInterface(o, d.ns, logger, sigs)
		if err != nil {
			logger.Printf("%s", err.Error())
			return 1
		}
		if !appeared {
			return 0
		}
		if err := d.openCapture(o, logger); err != nil {
			logger.Printf("%s", err.Error())
			return 1
		}
	}
	// Only signals end the loop (or a sensor failing): no other deadline.
	if err := core.NewLoop(d.cfg, d.sensors...).Run(context.Background(), sigs); err != nil {
		logger.Printf("%v. Abort", err)
		return 1
	}
	return 0
}

// instance is everything setup opened and the loop's configuration.
type instance struct {
	cfg     core.Config
	sensors []sensor.Sensor
	closers []func() error
	// waiting is set when the -i interface does not exist yet and
	// --wait-iface asks to wait for it: the capture sensor is opened
	// (openCapture) once it appears.
	waiting bool
	filter  *bpfc.Filter // -f, parsed; compiled when the sensor opens
	// ns is the --netns namespace the sensors and the held device live
	// in; nil is our own.
	ns *netns.NS
}

// close releases what setup opened, last opened first.
func (d *instance) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// setup checks and opens everything that can fail before the loop runs
// (so that -d reports it from the parent): -c, -w, the holder, the
// sensors and their filter. Errors are complete messages for the user.
func setup(o *options, logger core.Logger, foreground bool) (_ *instance, err error) {
	d := &instance{}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if foreground {
		logger.Printf("Started with pid %d", os.Getpid())
	}
	if err := checkCommand(o.command); err != nil {
		return nil, err
	}
	if who := commandWritableBy(o.command); who != "" {
		logger.Printf("Warning! Executable path %s is writable by %s and runs as root", strings.Fields(o.command)[0], who)
	}
	d.cfg = core.Config{
		Command:    o.command,
		TTL:        time.Duration(o.ttl) * time.Second,
		CmdTimeout: o.cmdTimeout,
		Holdoff:    o.holdoff,
		StopOnExit: o.stopOnExit,
		Report:     reportLines(o),
		Log:        logger,
	}
	if o.netns != "" {
		ns, err := netns.Open(o.netns)
		if err != nil {
			return nil, fmt.Errorf("Can't use network namespace %s: %v%s. Abort", o.netns, err, capHint(err, "CAP_SYS_ADMIN"))
		}
		d.closers = append(d.closers, ns.Close)
		d.ns = ns
		logger.Printf("Using network namespace %s for the sensors; commands run in ours", o.netns)
		stop, err := ns.WatchRemoved(func() {
			logger.Printf("Warning! Network namespace %s was deleted or replaced: its name is gone, but the namespace lives on while we hold sockets and devices in it, and we keep watching it. Restart tuninetd to use a namespace created under that name again", o.netns)
		})
		if err != nil {
			logger.Printf("Warning! Can't watch %s for deletion: %v", o.netns, err)
		} else {
			d.closers = append(d.closers, func() error { stop(); return nil })
		}
	}
	if o.savefile != "" {
		sf, err := savefile.Open(o.savefile)
		if err != nil {
			return nil, fmt.Errorf("Can't open pcap file for -w: %v. Abort", err)
		}
		d.closers = append(d.closers, sf.Close)
		d.cfg.Savefile = sf
	}
	warnCaptureOnly(o, logger)
	// -m creates a missing device, so there is nothing to wait for.
	if o.iface != "" && o.waitIface && !o.hasMode && !interfaceExists(d.ns, o.iface) {
		if err := d.checkFilterAnyLink(o); err != nil {
			return nil, err
		}
		logger.Printf("Interface %s does not exist yet, waiting for it (--wait-iface)", o.iface)
		d.waiting = true
	} else if o.iface != "" {
		if err := d.openCapture(o, logger); err != nil {
			return nil, err
		}
	}
	if o.group >= 0 {
		if err := d.openNFLOG(o, logger); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// warnCaptureOnly says which options are ignored without -i.
func warnCaptureOnly(o *options, logger core.Logger) {
	if o.iface != "" {
		return
	}
	if o.hasFilter {
		logger.Printf("Warning! -f applies to the pcap sensor (-i) only, ignored")
	}
	if o.hasMode {
		logger.Printf("Warning! -m applies to the pcap sensor (-i) only, ignored")
	}
	if o.waitIface {
		logger.Printf("Warning! --wait-iface applies to the pcap sensor (-i) only, ignored")
	}
}

// openCapture opens the -i sensor (holding the device first for -m) and
// puts it first among the sensors.
func (d *instance) openCapture(o *options, logger core.Logger) error {
	logger.Printf("Binding to interface %s", o.iface)
	if o.hasMode {
		h, err := holdDevice(o, d.ns, logger)
		if err != nil {
			return err
		}
		d.closers = append(d.closers, h.Close)
		d.cfg.BeforeStart = func() {
			if err := h.Release(); err != nil {
				logger.Printf("Warning! %v", err)
			}
		}
		d.cfg.AfterStop = func() {
			if err := h.Hold(); err != nil && !errors.Is(err, tuntap.ErrBusy) {
				logger.Printf("Warning! %v", err)
			}
		}
	}
	if err := d.parseFilter(o); err != nil {
		return err
	}
	s, err := afpacket.Open(afpacket.Config{
		Interface:     o.iface,
		Filter:        d.filter,
		AckOnly:       o.ackOnly,
		RingBlocks:    o.ringBlocks,
		RingBlockSize: o.ringBlockSize,
		Logf:          logger.Printf,
		NetNS:         d.ns,
		DNS:           o.dns,
	})
	if err != nil {
		var be *bpfc.Error
		if errors.As(err, &be) {
			return wrongFilter(o.filter, be)
		}
		return fmt.Errorf("Pcap: %v%s. Abort", err, capHint(err, "CAP_NET_RAW"))
	}
	d.closers = append(d.closers, s.Close)
	d.sensors = append([]sensor.Sensor{s}, d.sensors...)
	return nil
}

// parseFilter parses -f once; the capture sensor compiles it for the
// interface's link type.
func (d *instance) parseFilter(o *options) error {
	if !o.hasFilter || d.filter != nil {
		return nil
	}
	f, err := bpfc.Parse(o.filter)
	if err != nil {
		return wrongFilter(o.filter, err)
	}
	d.filter = f
	return nil
}

// waitLinkTypes are the link types an interface may turn out to have.
var waitLinkTypes = []bpfc.LinkType{bpfc.EN10MB, bpfc.RAW, bpfc.LinuxSLL}

// checkFilterAnyLink checks -f before its interface exists, when its link
// type is still unknown: the filter must compile for at least one link
// type the interface may have (an unknown port name fails for all; `ether
// host` only on tun). It is compiled for the real one when the interface
// appears, and an error then ends the daemon.
func (d *instance) checkFilterAnyLink(o *options) error {
	if err := d.parseFilter(o); err != nil || d.filter == nil {
		return err
	}
	var first error
	for _, lt := range waitLinkTypes {
		_, err := d.filter.Compile(bpfc.Options{LinkType: lt})
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return wrongFilter(o.filter, first)
}

// openNFLOG opens the -n sensor.
func (d *instance) openNFLOG(o *options, logger core.Logger) error {
	logger.Printf("Start listening nflog-group %d", o.group)
	s, err := nflog.Open(nflog.Config{
		Group:   uint16(o.group),
		AckOnly: o.ackOnly,
		Logf:    logger.Printf,
		NetNS:   d.ns,
		DNS:     o.dns,
	})
	if err != nil {
		return fmt.Errorf("NFLOG: %v%s. Abort", err, capHint(err, "CAP_NET_ADMIN"))
	}
	d.closers = append(d.closers, s.Close)
	d.sensors = append(d.sensors, s)
	return nil
}

// holdDevice takes the -i device for -m, so that a tun/tap without its VPN
// has carrier. A device someone else holds is not an error: the holder
// logs it and we go on without holding: the VPN that holds it is what
// -m makes room for.
func holdDevice(o *options, ns *netns.NS, logger core.Logger) (*tuntap.Holder, error) {
	h, err := tuntap.NewHolder(tuntap.HolderConfig{Name: o.iface, Mode: o.mode, Logf: logger.Printf, NetNS: ns})
	if err != nil {
		return nil, fmt.Errorf("-m %s -i %s: %v. Abort", o.mode, o.iface, err)
	}
	if err := h.Hold(); err != nil && !errors.Is(err, tuntap.ErrBusy) {
		h.Close()
		return nil, fmt.Errorf("Can't hold %s device %s: %v%s. Abort", o.mode, o.iface, err, capHint(err, "CAP_NET_ADMIN"))
	}
	return h, nil
}

// wrongFilter is the original's message for a filter that does not
// compile; reason is our compiler's, without its package prefix. The
// expression with a caret under the offending token follows on two more
// lines.
func wrongFilter(filter string, err error) error {
	reason := strings.TrimPrefix(err.Error(), "bpfc: ")
	msg := fmt.Sprintf("Pcap: wrong filter: \"%s\". %s. Abort", filter, strings.TrimSuffix(reason, "."))
	var be *bpfc.Error
	if errors.As(err, &be) && be.Caret(filter) != "" {
		msg += "\n" + be.Caret(filter)
	}
	return errors.New(msg)
}

// capHint names the capability an EPERM most likely lacks.
func capHint(err error, capability string) string {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		if !strings.Contains(err.Error(), "CAP_") {
			return " (needs root or " + capability + ")"
		}
	}
	return ""
}

// reportLines are the original's SIGUSR1 configuration lines.
func reportLines(o *options) []string {
	var r []string
	if o.iface != "" {
		r = append(r, "- capture engine: pcap, "+o.iface)
		if o.hasFilter {
			r = append(r, "-- pcap filter: \""+o.filter+"\"")
		}
	}
	if o.group >= 0 {
		r = append(r, fmt.Sprintf("- capture engine: nflog group %d", o.group))
	}
	if o.netns != "" {
		r = append(r, "- network namespace of the sensors: "+o.netns)
	}
	if o.ackOnly {
		r = append(r, "- using packets with tcp[ack] flag to reset TTL timer")
	}
	if o.savefile != "" {
		r = append(r, "- file to dump start event packets (pcap format): "+o.savefile)
	}
	r = append(r, "- event path: "+o.command, fmt.Sprintf("- TTL: %d sec.", o.ttl))
	return r
}

package tportknockd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/cmd/internal/daemon"
	"github.com/tuninetd/tuninetd/cmd/internal/logsink"
	"github.com/tuninetd/tuninetd/core"
	"github.com/tuninetd/tuninetd/core/knock"
	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/afpacket"
	"github.com/tuninetd/tuninetd/sensor/linkwatch"
	"github.com/tuninetd/tuninetd/sensor/netns"
)

const (
	// daemonMarker marks the re-executed -D child (cmd/internal/daemon).
	daemonMarker = "_TPORTKNOCKD_DAEMON_FD"
	// envPrefix names the variables the commands get.
	envPrefix = "TPORTKNOCKD_"
	// queueLen bounds the commands waiting for the worker. Completions
	// are rare (a human or a script knocks), so this many waiting means
	// a command hangs until --cmd-timeout or a flood of completed
	// knocks: a start beyond it is dropped and logged (stops wait, see
	// enqueue), never the capture blocked.
	queueLen = 1024
	// packetQueue is the readahead between the socket reader and the
	// loop; when full, the reader waits and the kernel's socket buffer
	// holds the rest.
	packetQueue = 256
	// gcPercent is the daemon's GOGC (see serve).
	gcPercent = 25
	// resubscribeDelay spaces netlink subscriptions after one broke.
	resubscribeDelay = time.Second
)

// serve runs the daemon: in the foreground, or with -D as the parent that
// starts the detached child and reports its start-up.
func serve(o *options, argv []string, stderr io.Writer) int {
	report := daemon.Child(daemonMarker)
	if o.daemon && report == nil {
		return startDaemon(argv, stderr)
	}
	// The knock table holds no pointers, so a collection costs little
	// however full it is, and the garbage is per-packet buffers: collect
	// at a quarter of the live heap rather than doubling it. A full
	// default table under a flood of spoofed sources measured 16 MB
	// resident instead of 25 MB, for about 15% more CPU per frame that
	// reaches user space (make bench). GOGC, when set, still decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	// Signals first: a SIGUSR1 during start-up must not kill us.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	logger, closeLog := logsink.ForDaemon("tportknockd", report != nil, stderr)
	defer closeLog()
	fail := func(msg string) int {
		logger.Printf("%s", msg)
		if report != nil {
			report.Fail(msg)
		}
		return 1
	}
	// The configuration is read before the child leaves the directory
	// it was started in, so a relative -c names the same file for both.
	evs, err := ReadConfig(o.config)
	if err != nil {
		return fail(err.Error())
	}
	if report != nil {
		if err := os.Chdir("/"); err != nil {
			return fail(fmt.Sprintf("tportknockd: can't change directory to /: %v", err))
		}
	}
	var ns *netns.NS
	if o.netns != "" {
		if ns, err = netns.Open(o.netns); err != nil {
			return fail(fmt.Sprintf("tportknockd: can't use network namespace %s: %v%s", o.netns, err, capHintFor(err, "CAP_SYS_ADMIN")))
		}
		defer ns.Close()
		logger.Printf("Using network namespace %s for capture; commands run in ours", o.netns)
		stop, err := ns.WatchRemoved(func() {
			logger.Printf("Warning! Network namespace %s was deleted or replaced: its name is gone, but the namespace lives on while we hold sockets in it, and we keep listening there. Restart tportknockd to use a namespace created under that name again", o.netns)
		})
		if err != nil {
			logger.Printf("Warning! Can't watch %s for deletion: %v", o.netns, err)
		} else {
			defer stop()
		}
	}
	k, err := newKnocker(o, ns, evs, logger, report == nil)
	if err != nil {
		return fail("tportknockd: " + err.Error())
	}
	defer k.close()
	if report != nil {
		report.Ready()
	}
	return k.loop(sigs)
}

// startDaemon is the -D parent: it starts the detached child and waits for
// its report, sent once its socket is open.
func startDaemon(argv []string, stderr io.Writer) int {
	pid, err := daemon.Start(daemon.Config{
		Marker:  daemonMarker,
		Timeout: 60 * time.Second,
		Messages: daemon.Messages{
			Fork:    "tportknockd: can't start the daemon: %v",
			Timeout: "tportknockd: the daemon did not report start-up within %v, killed it",
			Exited:  "tportknockd: the daemon exited during start-up (%v)",
		},
	}, argv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	msg := fmt.Sprintf("tportknockd has been started with PID: %d", pid)
	fmt.Fprintln(stderr, msg)
	sl := &logsink.Syslog{Tag: "tportknockd"}
	sl.Printf("%s", msg)
	sl.Close()
	return 0
}

// counters are the SIGUSR1 figures. The worker's are atomic; the rest
// belong to the loop.
type counters struct {
	packets, ignored                        uint64
	steps                                   [knock.StopDue]uint64 // by StepKind, stops due not counted
	dropped                                 uint64
	ran, failed, skipped                    atomic.Uint64
	addrChanges, reattached, filterFailures uint64
	// passed and lost are the socket's PACKET_STATISTICS, summed at
	// each report: packets the kernel filter passed, and those of them
	// lost because the socket's receive buffer was full.
	passed, lost uint64
}

// knocker is the daemon: one loop goroutine owns the machine, the socket
// and the filter; a reader goroutine per socket feeds it packets; one
// worker runs the commands in the order they were due.
type knocker struct {
	o      *options
	log    core.Logger
	m      *knock.Machine
	runner core.Runner
	// ns is the --netns namespace the socket and the netlink sockets are
	// created in; nil is our own.
	ns *netns.NS

	// Owned by the loop.
	filter  *knock.Filter
	sock    *afpacket.Socket
	quit    chan struct{} // closed to stop the socket's reader
	index   int           // the device's index; 0 while it is missing
	addrs   []netip.Addr
	gone    bool
	steps   []knock.Step
	updates chan linkwatch.Update
	unsub   chan struct{}
	failed  chan error
	n       counters

	packets    chan *sensor.Packet
	wake       chan struct{} // a reader saw the device go down or away
	queue      chan knock.Action
	overflow   []knock.Action // stops waiting for room in queue (loop's)
	exiting    atomic.Bool
	workerDone chan struct{}
}

// newKnocker opens what can fail before the daemon reports it started:
// the machine, the netlink subscription and, unless the device is missing
// and --wait-iface allows it, the socket with its filter.
func newKnocker(o *options, ns *netns.NS, evs []knock.Event, logger core.Logger, foreground bool) (_ *knocker, err error) {
	m, err := knock.NewMachine(evs, knock.Options{MaxSources: o.maxSources})
	if err != nil {
		return nil, err
	}
	k := &knocker{
		o:          o,
		ns:         ns,
		log:        logger,
		m:          m,
		runner:     &core.ShellRunner{Log: logger},
		filter:     knock.NewFilter(evs, nil),
		packets:    make(chan *sensor.Packet, packetQueue),
		wake:       make(chan struct{}, 1),
		queue:      make(chan knock.Action, queueLen),
		workerDone: make(chan struct{}),
	}
	if foreground {
		logger.Printf("tportknockd started with pid %d", os.Getpid())
	}
	// Subscribe before the first look at the device, so no change in
	// between is missed.
	if err := k.subscribe(); err != nil {
		return nil, fmt.Errorf("can't follow interface %s: %v", o.iface, err)
	}
	defer func() {
		if err != nil {
			k.close()
		}
	}()
	if _, err := ifIndex(ns, o.iface); errors.Is(err, unix.ENODEV) {
		if !o.waitIface {
			return nil, fmt.Errorf("interface %s: no such device (--wait-iface waits for it)", o.iface)
		}
		logger.Printf("Interface %s does not exist yet, waiting for it (--wait-iface)", o.iface)
		k.gone = true
	} else if err := k.resync(true); err != nil {
		return nil, err
	}
	go k.work()
	return k, nil
}

// subscribe follows link and address notifications.
func (k *knocker) subscribe() error {
	k.updates = make(chan linkwatch.Update, 64)
	k.unsub = make(chan struct{})
	k.failed = make(chan error, 1)
	failed := k.failed
	// The netlink socket lives in the namespace it was created in.
	err := k.ns.Do(func() error {
		return linkwatch.Subscribe(linkwatch.Config{Addresses: true, Failed: func(err error) { failed <- err }}, k.updates, k.unsub)
	})
	if err != nil {
		k.updates = nil
	}
	return err
}

func (k *knocker) unsubscribe() {
	if k.updates == nil {
		return
	}
	close(k.unsub)
	for range k.updates {
	}
	k.updates = nil
}

// close releases the socket and the subscription.
func (k *knocker) close() {
	k.closeSocket()
	k.unsubscribe()
}

func (k *knocker) closeSocket() {
	if k.sock != nil {
		k.socketStats()
		close(k.quit)
		k.sock.Close()
		k.sock = nil
	}
}

// loop is the daemon's life after start-up; it returns the exit status.
func (k *knocker) loop(sigs <-chan os.Signal) int {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var refresh <-chan time.Time
	if k.o.refresh > 0 {
		t := time.NewTicker(k.o.refresh)
		defer t.Stop()
		refresh = t.C
	}
	var resubscribe <-chan time.Time
	for {
		if t, ok := k.m.NextWake(); ok {
			timer.Reset(time.Until(t))
		} else {
			timer.Stop()
		}
		var feed chan<- knock.Action // nil, a case never taken, without overflow
		var next knock.Action
		if len(k.overflow) > 0 {
			feed, next = k.queue, k.overflow[0]
		}
		select {
		case feed <- next:
			k.overflow = k.overflow[1:]
		case p := <-k.packets:
			k.packet(p)
			// Take what else is queued before rearming the timer.
			for more := true; more; {
				select {
				case p := <-k.packets:
					k.packet(p)
				default:
					more = false
				}
			}
		case <-timer.C:
			k.handle(k.m.Tick(time.Now(), k.steps[:0]))
		case u, ok := <-k.updates:
			if !ok {
				err := errors.New("subscription ended")
				select {
				case err = <-k.failed:
				default:
				}
				k.log.Printf("Warning! Netlink notifications for %s: %v; subscribing again", k.o.iface, err)
				k.updates = nil
				resubscribe = time.After(resubscribeDelay)
				continue
			}
			if u.Name == k.o.iface || (k.index != 0 && u.Index == k.index) {
				k.resync(false)
			}
		case <-resubscribe:
			resubscribe = nil
			if err := k.subscribe(); err != nil {
				k.log.Printf("Warning! Can't follow interface %s: %v; trying again", k.o.iface, err)
				resubscribe = time.After(resubscribeDelay)
			}
			k.resync(false) // whatever happened meanwhile
		case <-refresh:
			k.resync(false)
		case <-k.wake:
			k.resync(false)
		case s := <-sigs:
			switch s {
			case syscall.SIGUSR1:
				k.status()
			case syscall.SIGHUP:
				k.log.Printf("SIGHUP caught: nothing to reload (restart tportknockd to read %s again)", k.o.config)
			case syscall.SIGTERM, syscall.SIGINT:
				name := "SIGTERM"
				if s == syscall.SIGINT {
					name = "SIGINT"
				}
				k.shutdown(name, sigs)
				return 0
			}
		}
	}
}

// packet feeds one captured packet to the machine.
func (k *knocker) packet(p *sensor.Packet) {
	k.n.packets++
	c, ok := knock.CandidateFrom(sensor.DecodeTransport(p))
	// The kernel filter decided already; this is the same test against
	// the current addresses, for packets the previous program accepted.
	if !ok || !k.filter.Match(c) {
		k.n.ignored++
		return
	}
	k.handle(k.m.Packet(time.Now(), c, k.steps[:0]))
}

// handle logs and counts the machine's steps and queues their commands.
func (k *knocker) handle(steps []knock.Step) {
	k.steps = steps
	for _, s := range steps {
		if s.Kind < knock.StopDue {
			k.n.steps[s.Kind]++
		}
		if s.Kind == knock.Refused {
			k.log.Printf("Warning! %s: %s completed the sequence, but %d stop commands are pending already: start command not run", s.Event.Name, s.Src, k.m.PendingStops())
		}
		if k.o.debug {
			k.log.Printf("%s", s)
		}
		if a, ok := s.Action(); ok {
			if a.Kind == knock.Start {
				k.log.Printf("%s: sequence completed by %s", a.Event.Name, a.Src)
			}
			k.enqueue(a)
		}
	}
}

// enqueue hands a command to the worker without ever waiting.
// A start that finds the queue full is dropped (the hole stays shut); a
// stop is never dropped (the hole would stay open): it waits in overflow,
// which the machine's bound on pending stops bounds too, and the loop
// feeds it to the worker as room appears.
func (k *knocker) enqueue(a knock.Action) {
	if len(k.overflow) == 0 {
		select {
		case k.queue <- a:
			return
		default:
		}
	}
	if a.Kind == knock.Stop {
		if len(k.overflow) == 0 {
			k.log.Printf("Warning! %d commands are waiting already: stop commands wait their turn", queueLen)
		}
		k.overflow = append(k.overflow, a)
		return
	}
	k.n.dropped++
	k.log.Printf("Warning! %d commands are waiting already: start command of %s for %s dropped", queueLen, a.Event.Name, a.Src)
}

// work runs the queued commands one after the other, so an event's stop
// never overtakes its start. At exit, starts still queued are skipped.
func (k *knocker) work() {
	defer close(k.workerDone)
	for a := range k.queue {
		if a.Kind == knock.Start && k.exiting.Load() {
			k.n.skipped.Add(1)
			k.log.Printf("%s: start command for %s not run: exiting", a.Event.Name, a.Src)
			continue
		}
		k.run(a)
	}
}

// run runs one command through the shared runner.
func (k *knocker) run(a knock.Action) {
	env := core.Trigger{Event: a.Kind.String(), Iface: k.o.iface, Family: a.Family(), Src: a.Src}.Env(envPrefix)
	env.Set("NAME", a.Event.Name)
	k.log.Printf("%s: running %s command for %s", a.Event.Name, a.Kind, a.Src)
	err := k.runner.Run(context.Background(), core.Command{
		Event:   a.Event.Name + " " + a.Kind.String(),
		Line:    a.Command(),
		Env:     env,
		Timeout: k.o.cmdTimeout,
	})
	k.n.ran.Add(1)
	if err != nil {
		k.n.failed.Add(1)
		k.log.Printf("Warning! %s: %v", a.Event.Name, err)
	}
}

// shutdown stops capturing and runs the stop commands still pending now,
// so no firewall hole a start opened outlives the daemon, then waits for
// the worker to finish. A second SIGTERM or SIGINT ends the wait.
func (k *knocker) shutdown(sig string, sigs <-chan os.Signal) {
	k.log.Printf("%s caught, exiting", sig)
	k.closeSocket()
	k.unsubscribe()
	k.exiting.Store(true)
	pending := append(k.overflow, k.m.Pending()...)
	k.overflow = nil
	if len(pending) > 0 {
		k.log.Printf("Running %d pending stop commands before exit", len(pending))
	}
	done := make(chan struct{})
	go func() {
		for _, a := range pending {
			k.queue <- a // the worker drains the queue: this waits, never drops
		}
		close(k.queue)
		<-k.workerDone
		close(done)
	}()
	for {
		select {
		case <-done:
			return
		case s := <-sigs:
			if s == syscall.SIGTERM || s == syscall.SIGINT {
				k.log.Printf("Second signal: exiting without waiting for the commands")
				return
			}
		}
	}
}

// resync looks at the device and brings the socket and its filter in
// line: closed while the device is missing, opened again (by its new
// index) when it comes back, the program replaced when its addresses
// changed. At start-up (first) its errors end the daemon; later they are
// logged and the daemon carries on with what it has.
func (k *knocker) resync(first bool) error {
	index, err := ifIndex(k.ns, k.o.iface)
	if errors.Is(err, unix.ENODEV) {
		if !k.gone {
			k.log.Printf("Interface %s disappeared, waiting for it to return", k.o.iface)
		}
		k.closeSocket()
		k.gone, k.index, k.addrs = true, 0, nil
		return nil
	}
	if err != nil {
		err = fmt.Errorf("interface %s: %v", k.o.iface, err)
		if !first {
			k.log.Printf("Warning! %v", err)
		}
		return err
	}
	addrs, err := addrsOf(k.ns, index)
	if err != nil {
		err = fmt.Errorf("interface %s: %v", k.o.iface, err)
		if !first {
			k.log.Printf("Warning! %v", err)
		}
		return err
	}
	f := knock.NewFilter(k.m.Events(), addrs)
	addrs = f.Addrs() // sorted, without duplicates
	if k.sock != nil && k.sock.Index() != index {
		// Deleted and created again between two looks.
		k.closeSocket()
	}
	changed := !equalAddrs(addrs, k.addrs)
	if k.sock == nil {
		var cerr error
		var s *afpacket.Socket
		err := k.ns.Do(func() (err error) {
			s, err = afpacket.OpenSocket(k.o.iface, knock.Snaplen, func(lt bpfc.LinkType) ([]bpf.RawInstruction, error) {
				prog, err := f.Compile(lt)
				cerr = err
				return prog, err
			})
			return err
		})
		if err != nil {
			if cerr != nil {
				err = cerr
			}
			if errors.Is(err, unix.ENODEV) && !first {
				return nil // gone again already; its notification follows
			}
			err = fmt.Errorf("capture on %s: %v%s", k.o.iface, err, capHint(err))
			if !first {
				k.log.Printf("Warning! %v", err)
			}
			return err
		}
		k.sock, k.quit = s, make(chan struct{})
		go k.read(s, k.quit)
		if k.gone && !first {
			k.log.Printf("Interface %s is back (index %d), listening again", k.o.iface, index)
			k.n.reattached++
		}
		k.gone = false
		changed = true
	} else if changed {
		prog, err := f.Compile(k.sock.LinkType())
		if err == nil {
			err = k.sock.Attach(prog)
		}
		if err != nil {
			k.n.filterFailures++
			k.log.Printf("Warning! Addresses of %s changed, but the new kernel filter failed (%v): keeping the old one", k.o.iface, err)
			return nil
		}
		k.n.addrChanges++
	}
	k.index, k.addrs, k.filter = index, addrs, f
	if changed {
		k.log.Printf("Listening on %s for knocks to %s", k.o.iface, addrList(addrs))
		if k.o.debug {
			expr := f.Expr
			if expr == "" {
				expr = "(none: the device has no address, nothing can be a knock)"
			}
			k.log.Printf("Kernel filter: %s", expr)
		}
	}
	return nil
}

// read is a socket's reader: packets go to the loop; the device going
// down or away wakes the loop to look at it.
func (k *knocker) read(s *afpacket.Socket, quit <-chan struct{}) {
	for {
		p, err := s.Read()
		if err != nil {
			select {
			case <-quit:
				return
			default:
			}
			if errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENXIO) {
				select {
				case k.wake <- struct{}{}:
				default:
				}
				continue
			}
			k.log.Printf("Warning! Reading packets on %s: %v", k.o.iface, err)
			select {
			case k.wake <- struct{}{}:
			default:
			}
			select {
			case <-quit:
				return
			case <-time.After(time.Second):
			}
			continue
		}
		select {
		case k.packets <- p:
		case <-quit:
			return
		}
	}
}

// status is SIGUSR1's report.
func (k *knocker) status() {
	k.log.Printf("SIGUSR1 caught:")
	if k.o.netns != "" {
		k.log.Printf("- network namespace of the capture: %s", k.o.netns)
	}
	if k.gone {
		k.log.Printf("- interface: %s, missing: waiting for it", k.o.iface)
	} else {
		k.log.Printf("- interface: %s (index %d), addresses: %s", k.o.iface, k.index, addrList(k.addrs))
	}
	expr := k.filter.Expr
	if expr == "" {
		expr = "(none)"
	}
	k.log.Printf("- kernel filter: %s", expr)
	evs := k.m.Events()
	for i := range evs {
		k.log.Printf("- event %s", evs[i].String())
	}
	k.log.Printf("- sources in progress: %d (limit %d), pending stops: %d, queued commands: %d",
		k.m.InProgress(), k.o.maxSources, k.m.PendingStops(), len(k.queue)+len(k.overflow))
	n := &k.n
	k.socketStats()
	k.log.Printf("- kernel filter passed %d packets, %d of them lost (socket buffer full)", n.passed, n.lost)
	var b strings.Builder
	fmt.Fprintf(&b, "- packets: %d (%d not a knock), steps:", n.packets, n.ignored)
	for kind, c := range n.steps {
		if kind > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %d %v", c, knock.StepKind(kind))
	}
	k.log.Printf("%s", b.String())
	k.log.Printf("- commands: %d run, %d failed, %d starts dropped (queue full), %d skipped at exit; address changes: %d, re-attached: %d",
		n.ran.Load(), n.failed.Load(), n.dropped, n.skipped.Load(), n.addrChanges, n.reattached)
}

// socketStats adds the socket's counters (cleared as they are read).
func (k *knocker) socketStats() {
	if k.sock == nil {
		return
	}
	if p, d, err := k.sock.Stats(); err == nil {
		k.n.passed += p
		k.n.lost += d
	}
}

// ifIndex returns an interface's index in the namespace ns (nil: ours);
// a missing one is an error wrapping ENODEV.
func ifIndex(ns *netns.NS, name string) (int, error) {
	// The ioctl looks the name up in the socket's namespace.
	fd := -1
	err := ns.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return 0, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("SIOCGIFINDEX: %w", err)
	}
	return int(int32(ifr.Uint32())), nil
}

// addrsOf returns the IP addresses of the interface with that index in
// the namespace ns (nil: ours), IPv4 and IPv6.
func addrsOf(ns *netns.NS, index int) ([]netip.Addr, error) {
	var all []linkwatch.Update
	err := ns.Do(func() (err error) {
		all, err = linkwatch.Addrs(linkwatch.Config{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range all {
		if a.Index == index {
			out = append(out, a.Prefix.Addr())
		}
	}
	return out, nil
}

// listDevices is -l: one line per network device, its state and its IP
// addresses, in the kernel's index order; in the namespace at netnsPath
// when it is not "".
func listDevices(netnsPath string) (string, error) {
	var ns *netns.NS
	if netnsPath != "" {
		var err error
		if ns, err = netns.Open(netnsPath); err != nil {
			return "", fmt.Errorf("can't use network namespace %s: %v%s", netnsPath, err, capHintFor(err, "CAP_SYS_ADMIN"))
		}
		defer ns.Close()
	}
	var links, addrs []linkwatch.Update
	err := ns.Do(func() (err error) {
		if links, err = linkwatch.Links(linkwatch.Config{}); err != nil {
			return err
		}
		addrs, err = linkwatch.Addrs(linkwatch.Config{})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("list devices: %w", err)
	}
	var b strings.Builder
	for _, l := range links {
		state := "down"
		if l.Flags&unix.IFF_UP != 0 {
			state = "up"
		}
		fmt.Fprintf(&b, "%s %s", l.Name, state)
		for _, a := range addrs {
			if a.Index == l.Index {
				// Not Prefix.String: one formatter of addresses less.
				b.WriteString(" " + a.Prefix.Addr().String() + "/" + strconv.Itoa(a.Prefix.Bits()))
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

func equalAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func addrList(addrs []netip.Addr) string {
	if len(addrs) == 0 {
		return "(no address yet)"
	}
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

// capHint names the capability an EPERM opening the socket most likely
// lacks.
func capHint(err error) string { return capHintFor(err, "CAP_NET_RAW") }

// capHintFor names capability for an EPERM or EACCES.
func capHintFor(err error, capability string) string {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return " (needs root or " + capability + ")"
	}
	return ""
}

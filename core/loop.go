// Package core is tuninetd's event loop: the standby/up state machine, the
// idle deadline, signal handling and the command runner.
//
// One goroutine (the one calling Loop.Run) owns every piece of state.
// Sensors report through a sensor.Sink that never blocks; commands run on
// goroutines of their own and report completion on a channel, so neither a
// busy sensor nor a hung script can stall the loop: signals are answered
// while a command runs.
//
// The loop knows nothing about -a: in up state a sensor with AckOnly only
// reports TCP segments with ACK set (the kernel filters them), so to the
// loop every report is simply activity.
package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tuninetd/tuninetd/sensor"
)

// Logger receives the daemon's messages. One Printf call is one message
// line; *log.Logger fits.
type Logger interface {
	Printf(format string, v ...any)
}

// PacketWriter stores packets that caused a start (-w savefile).
type PacketWriter interface {
	WritePacket(p *sensor.Packet) error
}

// Config is what the loop needs from the command line.
type Config struct {
	// Command is -c; it runs as /bin/sh -c "<Command> start" (and stop),
	// so it may carry arguments.
	Command string
	// TTL is -t: idle time after which stop runs.
	TTL time.Duration
	// CmdTimeout is --cmd-timeout: how long start or stop may run before
	// its process group is killed. Zero means no limit.
	CmdTimeout time.Duration
	// Holdoff is --holdoff: after a stop, traffic does not start again
	// for this long. Zero disables it.
	Holdoff time.Duration
	// StopOnExit is --stop-on-exit: on SIGTERM/SIGINT (or ctx
	// cancellation, or a fatal sensor error) while up, run stop with
	// TUNINETD_REASON=exit before returning.
	StopOnExit bool
	// Report holds the SIGUSR1 lines printed after "SIGUSR1 caught:" and
	// before "- current status: ...".
	Report []string
	// Savefile receives the packet that caused each start; nil disables.
	Savefile PacketWriter
	// BeforeStart, if set, is called on the loop goroutine right before
	// start runs (the -m holder lets go of the tun device).
	BeforeStart func()
	// AfterStop, if set, is called on the loop goroutine after stop
	// finished (the -m holder takes the device again).
	AfterStop func()
	// Log receives all messages; nil discards them.
	Log Logger
	// Clock is the time source; nil means RealClock.
	Clock Clock
	// Runner runs commands; nil means a ShellRunner logging to Log.
	Runner Runner
}

// state is where the loop's state machine is.
type state int

const (
	stStandby  state = iota // OFF: waiting for a trigger packet
	stStarting              // start command running
	stUp                    // ON: waiting for idle
	stStopping              // stop command running
)

func (s state) String() string {
	switch s {
	case stStarting:
		return "starting"
	case stUp:
		return "up"
	case stStopping:
		return "stopping"
	}
	return "standby"
}

// sigAction is what a delivered signal asks of the loop.
type sigAction int

const (
	sigIgnore  sigAction = iota
	sigStandby           // SIGHUP
	sigReport            // SIGUSR1
	sigExit              // SIGTERM, SIGINT
)

// Stop reasons, exported to commands as TUNINETD_REASON.
const (
	reasonPacket = "packet"
	reasonIdle   = "idle"
	reasonSignal = "signal"
	reasonExit   = "exit"
)

// Messages of the original that scripts and log filters match.
const (
	msgStop          = "CORE: executing STOP command..."
	msgAlreadyFired  = "|- Event already fired, skipping... (multiple capture engines?)"
	msgHUP           = "SIGHUP caught, switch to standby mode"
	msgHUPStandby    = "Warning! Tuninetd is already in standby mode"
	msgUSR1          = "SIGUSR1 caught:"
	msgStatusOff     = "- current status: standby (OFF)"
	msgStatusOn      = "- current status: up (ON), time since last captured packet: %d sec."
	msgNonZero       = "Warning! Executable command doesn't return 0 code (%s)"
	msgStartDoneTmpl = "%s: start command done"
)

// sensorExitWait bounds how long Run waits for sensors to return after
// being cancelled and closed (real time: a fake clock does not move here).
const sensorExitWait = 5 * time.Second

// cmdDone is a finished command.
type cmdDone struct {
	event string
	line  string
	err   error
}

// sensorExit is a sensor's Run returning.
type sensorExit struct {
	idx int
	err error
}

// snapshot is the loop state handed to tests through sync.
type snapshot struct {
	st       state
	cmd      string // running command's event, "" if none
	starts   int
	stops    int
	holding  bool
	timerAt  int64
	hasTimer bool
	stopReq  string
	finished int           // commands completed
	launched int           // commands launched
	stopIdle time.Duration // idle when the last stop was decided
}

// Loop is the event loop. Create it with NewLoop and call Run once.
type Loop struct {
	cfg     Config
	log     Logger
	clock   Clock
	runner  Runner
	sensors []sensor.Sensor
	sinks   []*sink
	epoch   time.Time

	wake    chan struct{}      // sinks -> loop, 1 slot
	done    chan cmdDone       // runner goroutine -> loop, 1 slot (one command at a time)
	syncReq chan chan snapshot // tests: barrier and state snapshot
	notify  chan struct{}      // tests: the loop handled something
	ran     chan struct{}      // closed by the first Run

	// Owned by the Run goroutine.
	st        state
	upSensor  int            // sensor that caused the current up period
	upPacket  *sensor.Packet // the trigger packet (nil if none)
	upSummary sensor.Summary
	stopReq   string // reason of a stop queued by SIGHUP
	cmdEvent  string // running command, "" if none
	cmdSince  int64
	holding   bool // in holdoff after a stop
	holdUntil int64
	timer     Timer
	timerAt   int64
	hasTimer  bool
	starts    int
	stops     int
	finished  int
	launched  int
	stopIdle  time.Duration // idle time, on the loop's clock, when the last stop was decided
	syncs     []chan snapshot
}

// NewLoop returns a loop over the given sensors. It does not start
// anything; Run does.
func NewLoop(cfg Config, sensors ...sensor.Sensor) *Loop {
	l := &Loop{
		cfg:     cfg,
		log:     cfg.Log,
		clock:   cfg.Clock,
		runner:  cfg.Runner,
		sensors: sensors,
		wake:    make(chan struct{}, 1),
		done:    make(chan cmdDone, 1),
		syncReq: make(chan chan snapshot),
		notify:  make(chan struct{}, 1),
		ran:     make(chan struct{}),
	}
	if l.log == nil {
		l.log = discard{}
	}
	if l.clock == nil {
		l.clock = RealClock{}
	}
	if l.runner == nil {
		l.runner = &ShellRunner{Log: l.log}
	}
	l.epoch = l.clock.Now()
	for i := range sensors {
		l.sinks = append(l.sinks, newSink(i, l.clock, l.epoch, l.wake))
	}
	return l
}

type discard struct{}

func (discard) Printf(string, ...any) {}

// Run starts every sensor's Run (each with its own Sink), handles signals
// (SIGHUP, SIGUSR1, SIGTERM, SIGINT arrive on sig; others are ignored),
// runs commands, and returns nil when ctx is cancelled or SIGTERM/SIGINT
// arrives (after closing sensors), or an error when a sensor fails
// fatally. It does not run stop on the way out unless Config.StopOnExit
// is set; a command still running then is left to finish on its own (its
// process group is not killed: a VPN start is not cut off half-way).
// sig should be buffered, as signal.Notify requires; it may be nil.
// Run closes the sensors before returning, so Sensor.Close must tolerate
// a second call from the owner.
func (l *Loop) Run(ctx context.Context, sig <-chan os.Signal) error {
	select {
	case <-l.ran:
		return errors.New("core: Loop.Run called twice")
	default:
		close(l.ran)
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Armed before any sensor runs, so its very first packet triggers.
	now := l.now()
	for _, s := range l.sinks {
		s.armAt(now)
	}
	exits := make(chan sensorExit, len(l.sensors))
	for i, s := range l.sensors {
		go func() {
			exits <- sensorExit{idx: i, err: s.Run(sctx, l.sinks[i])}
		}()
	}

	for {
		l.evaluate()
		l.setTimer()
		l.replySyncs()

		var timerC <-chan time.Time
		if l.hasTimer {
			timerC = l.timer.C()
		}
		select {
		case <-ctx.Done():
			return l.exit(sig, cancel, exits, nil)
		case s := <-sig:
			switch classify(s) {
			case sigStandby:
				l.onHUP()
			case sigReport:
				l.report()
			case sigExit:
				return l.exit(sig, cancel, exits, nil)
			}
		case <-l.wake:
		case <-timerC:
			l.hasTimer = false
		case d := <-l.done:
			l.onDone(d)
		case e := <-exits:
			if ctx.Err() != nil {
				// Cancelled: the sensor saw it first; a clean exit.
				return l.exit(sig, cancel, exits, nil, e.idx)
			}
			err := e.err
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			err = fmt.Errorf("%s sensor: %w", l.sensors[e.idx].Kind(), err)
			return l.exit(sig, cancel, exits, err, e.idx)
		case r := <-l.syncReq:
			l.syncs = append(l.syncs, r)
			continue
		}
		select {
		case l.notify <- struct{}{}:
		default:
		}
	}
}

// now is the loop's monotonic time: nanoseconds since the epoch.
func (l *Loop) now() int64 { return int64(l.clock.Now().Sub(l.epoch)) }

// lastActivity is the newest activity over all sensors.
func (l *Loop) lastActivity() int64 {
	last := int64(noActivity)
	for _, s := range l.sinks {
		if v := s.last.Load(); v > last {
			last = v
		}
	}
	return last
}

// evaluate acts on the current state. It is level-triggered: it looks at
// the clock and the sinks afresh, so a wake-up that got merged with
// another, or a timer that fired late, loses nothing.
func (l *Loop) evaluate() {
	now := l.now()
	switch l.st {
	case stStandby:
		if l.holding && now >= l.holdUntil {
			l.holding = false
			for _, s := range l.sinks {
				s.armAt(now)
			}
		}
		tr := l.takeTrigger()
		if tr == nil {
			return
		}
		if l.holding {
			left := time.Duration(l.holdUntil - now)
			l.log.Printf("CORE: holdoff after stop, %s packet ignored (start held off for %d more sec.)",
				label(l.sensors[tr.sink].Kind()), ceilSeconds(left))
			for _, line := range sensor.Decode(tr.p).Lines() {
				l.log.Printf("%s", line)
			}
			// Nothing more to hear until the holdoff ends: evaluate
			// re-arms the sinks then.
			for _, s := range l.sinks {
				s.disarm()
			}
			return
		}
		l.start(tr)
	case stUp:
		if l.stopReq != "" {
			l.stop(l.stopReq)
			return
		}
		if now-l.lastActivity() >= int64(l.cfg.TTL) {
			l.log.Printf("%s", msgStop)
			l.stop(reasonIdle)
		}
	}
}

// takeTrigger returns the earliest trigger stored by any sensor in the
// current armed period (or nil). It leaves it stored: start clears it.
func (l *Loop) takeTrigger() *trigger {
	var best *trigger
	for _, s := range l.sinks {
		if tr := s.valid(); tr != nil && (best == nil || tr.at < best.at) {
			best = tr
		}
	}
	return best
}

// start runs the start command for trigger tr.
func (l *Loop) start(tr *trigger) {
	l.st = stStarting
	l.starts++
	l.upSensor = tr.sink
	l.upPacket = tr.p
	l.upSummary = sensor.Decode(tr.p)
	// The trigger is used; other sensors' packets from now until start
	// completes are the original's "already fired" case.
	l.sinks[tr.sink].pending.CompareAndSwap(tr, nil)
	for _, s := range l.sensors {
		s.SetMode(sensor.Up)
	}
	if l.cfg.BeforeStart != nil {
		l.cfg.BeforeStart()
	}
	s := l.sensors[tr.sink]
	env := []string{
		"TUNINETD_EVENT=start",
		"TUNINETD_REASON=" + reasonPacket,
		"TUNINETD_SENSOR=" + string(s.Kind()),
		"TUNINETD_TTL=" + seconds(l.cfg.TTL),
	}
	env = append(env, s.Env()...)
	env = append(env, l.upSummary.Env()...)
	if tr.p.Ifname != "" {
		env = append(env, "TUNINETD_IFACE="+tr.p.Ifname)
	}
	l.launch("start", env)
}

// stop runs the stop command for the given reason.
func (l *Loop) stop(reason string) {
	l.st = stStopping
	l.stopReq = ""
	s := l.sensors[l.upSensor]
	idle := time.Duration(l.now() - l.lastActivity())
	l.stopIdle = idle
	env := []string{
		"TUNINETD_EVENT=stop",
		"TUNINETD_REASON=" + reason,
		"TUNINETD_SENSOR=" + string(s.Kind()),
		"TUNINETD_TTL=" + seconds(l.cfg.TTL),
	}
	env = append(env, s.Env()...)
	if l.upPacket != nil && l.upPacket.Ifname != "" {
		env = append(env, "TUNINETD_IFACE="+l.upPacket.Ifname)
	}
	env = append(env, "TUNINETD_IDLE="+seconds(idle))
	l.launch("stop", env)
}

// launch runs a command on a goroutine of its own; its result comes back
// on l.done.
func (l *Loop) launch(event string, env []string) {
	c := Command{
		Event:   event,
		Line:    l.cfg.Command + " " + event,
		Env:     env,
		Timeout: l.cfg.CmdTimeout,
	}
	l.cmdEvent = event
	l.cmdSince = l.now()
	l.launched++
	// Not derived from Run's context: leaving the loop must not kill a
	// VPN start half-way; the timeout bounds it.
	go func() {
		l.done <- cmdDone{event: event, line: c.Line, err: l.runner.Run(context.Background(), c)}
	}()
}

// onDone handles a finished command.
func (l *Loop) onDone(d cmdDone) {
	l.cmdEvent = ""
	l.finished++
	if d.err != nil {
		l.log.Printf(msgNonZero, d.line)
		l.log.Printf("CORE: %v", d.err)
	}
	switch d.event {
	case "start":
		l.log.Printf(msgStartDoneTmpl, label(l.sensors[l.upSensor].Kind()))
		for _, line := range l.upSummary.Lines() {
			l.log.Printf("%s", line)
		}
		if l.cfg.Savefile != nil && l.upPacket != nil {
			if err := l.cfg.Savefile.WritePacket(l.upPacket); err != nil {
				l.log.Printf("CORE: can't write the start packet to the savefile: %v", err)
			}
		}
		// A packet another sensor saw while start ran: the original
		// blocked that sensor's thread on the same mutex and then found
		// the state already ON.
		for i, s := range l.sinks {
			if i != l.upSensor && s.valid() != nil {
				l.log.Printf("%s", msgAlreadyFired)
			}
			s.disarm()
		}
		l.st = stUp
	case "stop":
		l.stops++
		l.st = stStandby
		l.upPacket = nil
		l.upSummary = sensor.Summary{}
		now := l.now()
		if l.cfg.Holdoff > 0 {
			l.holding = true
			l.holdUntil = now + int64(l.cfg.Holdoff)
		}
		// Arm before switching sensors back so the first standby packet
		// cannot slip through; packets stamped before now (seen during
		// stop) do not count.
		for _, s := range l.sinks {
			s.armAt(now)
		}
		for _, s := range l.sensors {
			s.SetMode(sensor.Standby)
		}
		if l.cfg.AfterStop != nil {
			l.cfg.AfterStop()
		}
	}
}

// onHUP handles SIGHUP.
func (l *Loop) onHUP() {
	switch l.st {
	case stStarting, stUp:
		// While starting, the stop runs as soon as start returns: the
		// two strictly alternate.
		l.log.Printf("%s", msgHUP)
		l.stopReq = reasonSignal
	default:
		// Stopping counts as standby: the stop already under way is the
		// one the signal asks for.
		l.log.Printf("%s", msgHUPStandby)
	}
}

// report handles SIGUSR1.
func (l *Loop) report() {
	now := l.now()
	l.log.Printf("%s", msgUSR1)
	for _, line := range l.cfg.Report {
		l.log.Printf("%s", line)
	}
	// As in the original, the state flips when a command returns: while
	// start runs the daemon is still OFF, while stop runs still ON.
	switch l.st {
	case stStandby, stStarting:
		l.log.Printf("%s", msgStatusOff)
	default:
		idle := time.Duration(now - l.lastActivity())
		l.log.Printf(msgStatusOn, int64(max(idle, 0)/time.Second))
	}
	if l.cmdEvent != "" {
		l.log.Printf("- running command: %s, for %d sec.", l.cmdEvent, (now-l.cmdSince)/int64(time.Second))
	}
	if l.holding {
		l.log.Printf("- holdoff after stop: %d more sec.", ceilSeconds(time.Duration(l.holdUntil-now)))
	}
	for _, s := range l.sensors {
		for _, line := range s.Stats() {
			l.log.Printf("%s", line)
		}
	}
}

// setTimer points the one timer at the next deadline: the idle deadline
// in up state (no 1 s tick: the stop fires when it is due), or the end of
// a holdoff.
func (l *Loop) setTimer() {
	var want int64
	ok := false
	switch {
	case l.st == stUp && l.stopReq == "":
		want, ok = l.lastActivity()+int64(l.cfg.TTL), true
	case l.st == stStandby && l.holding:
		want, ok = l.holdUntil, true
	}
	if l.hasTimer && (!ok || want != l.timerAt) {
		l.timer.Stop()
		l.hasTimer = false
	}
	if !ok || l.hasTimer {
		return
	}
	l.timer = l.clock.NewTimer(time.Duration(want - l.now()))
	l.timerAt = want
	l.hasTimer = true
}

// exit leaves Run: optionally runs stop (StopOnExit), then cancels and
// closes the sensors and waits for their Run to return. gone lists
// sensors whose Run already returned.
func (l *Loop) exit(sig <-chan os.Signal, cancel context.CancelFunc, exits <-chan sensorExit, cause error, gone ...int) error {
	if l.cfg.StopOnExit {
		l.stopOnExit(sig)
	}
	if l.hasTimer {
		l.timer.Stop()
		l.hasTimer = false
	}
	cancel()
	for _, s := range l.sensors {
		if err := s.Close(); err != nil {
			l.log.Printf("CORE: closing %s sensor: %v", s.Kind(), err)
		}
	}
	wait := len(l.sensors) - len(gone)
	deadline := time.NewTimer(sensorExitWait)
	defer deadline.Stop()
	for ; wait > 0; wait-- {
		select {
		case <-exits:
		case <-deadline.C:
			l.log.Printf("CORE: %d sensor(s) did not stop within %v", wait, sensorExitWait)
			return cause
		}
	}
	return cause
}

// stopOnExit brings the state to standby before exiting: it waits for a
// running command, and runs stop (reason exit) if the state is up. A
// second SIGTERM/SIGINT gives up waiting; SIGUSR1 is still answered.
func (l *Loop) stopOnExit(sig <-chan os.Signal) {
	for {
		switch {
		case l.st == stStandby:
			return
		case l.st == stUp:
			l.log.Printf("CORE: exiting while up (--stop-on-exit)")
			l.log.Printf("%s", msgStop)
			l.stop(reasonExit)
		}
		select {
		case d := <-l.done:
			l.onDone(d)
		case s := <-sig:
			switch classify(s) {
			case sigExit:
				l.log.Printf("CORE: exit signal again, not waiting for the %s command", l.cmdEvent)
				return
			case sigReport:
				l.report()
			case sigStandby:
				l.log.Printf("CORE: exiting, SIGHUP ignored")
			}
		}
	}
}

// replySyncs answers test barriers after the loop has acted on everything.
func (l *Loop) replySyncs() {
	if len(l.syncs) == 0 {
		return
	}
	snap := snapshot{
		st: l.st, cmd: l.cmdEvent, starts: l.starts, stops: l.stops,
		holding: l.holding, timerAt: l.timerAt, hasTimer: l.hasTimer, stopReq: l.stopReq, finished: l.finished, launched: l.launched,
		stopIdle: l.stopIdle,
	}
	for _, r := range l.syncs {
		r <- snap
	}
	l.syncs = l.syncs[:0]
}

// label is a sensor kind as the original's messages spell it.
func label(k sensor.Kind) string {
	switch k {
	case sensor.Pcap:
		return "PCAP"
	case sensor.NFLOG:
		return "NFLOG"
	}
	return strings.ToUpper(string(k))
}

// seconds formats whole seconds (truncated, never negative).
func seconds(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return strconv.FormatInt(int64(d/time.Second), 10)
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

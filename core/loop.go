package core

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// envPrefix names the variables tuninetd gives its command.
const envPrefix = "TUNINETD_"

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

// Loop is the event loop. Create it with NewLoop and call Run once.
type Loop struct {
	cfg     Config
	log     Logger
	clock   Clock
	runner  Runner
	sensors []sensor.Sensor
	sinks   []*sink
	epoch   time.Time
	wake    chan struct{} // sinks -> loop, 1 slot
	ran     chan struct{} // closed by the first Run

	// Owned by the Run goroutine.
	fsm      machine
	cmd      commandSlot
	signals  signalRequests
	deadline deadline
	stats    statistics
	probe    probe
}

// machine is the state machine: where it is, and what the current up
// period is about.
type machine struct {
	st        state
	upSensor  int            // sensor that caused the current up period
	upPacket  *sensor.Packet // the trigger packet (nil if none)
	upSummary sensor.Summary
	holding   bool  // in holdoff after a stop
	holdUntil int64 // end of the holdoff, loop time
}

// commandSlot is the one command that may run at a time.
type commandSlot struct {
	done  chan cmdDone // runner goroutine -> loop, 1 slot
	event string       // running command, "" if none
	since int64        // when it was launched, loop time
}

// signalRequests holds what a signal asked for that the state machine
// has not done yet.
type signalRequests struct {
	stop string // reason of a stop queued by SIGHUP, "" if none
}

// deadline is the one timer: the idle deadline in up state, the end of a
// holdoff in standby.
type deadline struct {
	timer Timer
	at    int64 // loop time it fires at
	armed bool
}

// statistics count what the loop did, for the SIGUSR1 report and tests.
type statistics struct {
	starts   int
	stops    int
	launched int           // commands launched
	finished int           // commands completed
	stopIdle time.Duration // idle time, on the loop's clock, when the last stop was decided
}

// probe lets this package's tests watch the loop between events. In
// production both channels are nil: a select case on them is never
// ready and a send to acted is skipped.
type probe struct {
	inspect chan func()   // functions to run once the loop acted on everything before
	queued  []func()      // received from inspect, run at the top of the next round
	acted   chan struct{} // 1 slot: the loop handled an event
}

// runQueued runs the queued inspections on the loop goroutine.
func (p *probe) runQueued() {
	for _, f := range p.queued {
		f()
	}
	p.queued = p.queued[:0]
}

// tellActed signals, without waiting, that the loop handled an event.
func (p *probe) tellActed() {
	select {
	case p.acted <- struct{}{}:
	default:
	}
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
		cmd:     commandSlot{done: make(chan cmdDone, 1)},
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
		l.probe.runQueued()

		var timerC <-chan time.Time
		if l.deadline.armed {
			timerC = l.deadline.timer.C()
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
			l.deadline.armed = false
		case d := <-l.cmd.done:
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
		case f := <-l.probe.inspect:
			// Run after the next evaluate, like any other wake-up.
			l.probe.queued = append(l.probe.queued, f)
			continue
		}
		l.probe.tellActed()
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
	switch l.fsm.st {
	case stStandby:
		if l.fsm.holding && now >= l.fsm.holdUntil {
			l.fsm.holding = false
			for _, s := range l.sinks {
				s.armAt(now)
			}
		}
		tr := l.earliestTrigger()
		if tr == nil {
			return
		}
		if l.fsm.holding {
			left := time.Duration(l.fsm.holdUntil - now)
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
		if l.signals.stop != "" {
			l.stop(l.signals.stop)
			return
		}
		if now-l.lastActivity() >= int64(l.cfg.TTL) {
			l.log.Printf("%s", msgStop)
			l.stop(reasonIdle)
		}
	}
}

// earliestTrigger returns the earliest trigger stored by any sensor in the
// current armed period (or nil). It leaves it stored: start clears it.
func (l *Loop) earliestTrigger() *trigger {
	var best *trigger
	for _, s := range l.sinks {
		if tr := s.armedTrigger(); tr != nil && (best == nil || tr.at < best.at) {
			best = tr
		}
	}
	return best
}

// start runs the start command for trigger tr.
func (l *Loop) start(tr *trigger) {
	l.fsm.st = stStarting
	l.stats.starts++
	l.fsm.upSensor = tr.sink
	l.fsm.upPacket = tr.p
	l.fsm.upSummary = sensor.Decode(tr.p)
	// The trigger is used; other sensors' packets from now until start
	// completes are the original's "already fired" case.
	l.sinks[tr.sink].pending.CompareAndSwap(tr, nil)
	for _, s := range l.sensors {
		s.SetMode(sensor.Up)
	}
	if l.cfg.BeforeStart != nil {
		l.cfg.BeforeStart()
	}
	t := l.trigger("start", reasonPacket)
	t.SetPacket(l.fsm.upSummary)
	if tr.p != nil {
		t.SetQuery(tr.p.Query)
	}
	l.launch(t)
}

// stop runs the stop command for the given reason.
func (l *Loop) stop(reason string) {
	l.fsm.st = stStopping
	l.signals.stop = ""
	// Sensors switch modes on their own goroutines and may take a while
	// on a busy machine; switching while the stop command runs means the
	// first packet after it finds them already reporting packet by
	// packet, not only as up-state evidence that can never start.
	for _, s := range l.sensors {
		s.SetMode(sensor.Standby)
	}
	idle := time.Duration(l.now() - l.lastActivity())
	l.stats.stopIdle = idle
	t := l.trigger("stop", reason)
	t.Idle, t.HasIdle = idle, true
	l.launch(t)
}

// trigger describes the current up period for a command: the sensor that
// started it, what that sensor watches, and the interface the start
// packet was seen on, when known (an NFLOG packet's in/out device).
func (l *Loop) trigger(event, reason string) Trigger {
	s := l.sensors[l.fsm.upSensor]
	t := Trigger{Event: event, Reason: reason, Sensor: s.Kind(), TTL: l.cfg.TTL, HasTTL: true}
	t.setOrigin(s.Origin())
	if p := l.fsm.upPacket; p != nil && p.Ifname != "" {
		t.Iface = p.Ifname
	}
	return t
}

// launch runs the command for t on a goroutine of its own; its result
// comes back on l.cmd.done.
func (l *Loop) launch(t Trigger) {
	c := Command{
		Event:   t.Event,
		Line:    l.cfg.Command + " " + t.Event,
		Env:     t.Env(envPrefix),
		Timeout: l.cfg.CmdTimeout,
	}
	l.cmd.event = t.Event
	l.cmd.since = l.now()
	l.stats.launched++
	// Not derived from Run's context: leaving the loop must not kill a
	// VPN start half-way; the timeout bounds it.
	go func() {
		l.cmd.done <- cmdDone{event: c.Event, line: c.Line, err: l.runner.Run(context.Background(), c)}
	}()
}

// onDone handles a finished command.
func (l *Loop) onDone(d cmdDone) {
	l.cmd.event = ""
	l.stats.finished++
	if d.err != nil {
		l.log.Printf(msgNonZero, d.line)
		l.log.Printf("CORE: %v", d.err)
	}
	switch d.event {
	case "start":
		l.log.Printf(msgStartDoneTmpl, label(l.sensors[l.fsm.upSensor].Kind()))
		for _, line := range l.fsm.upSummary.Lines() {
			l.log.Printf("%s", line)
		}
		if p := l.fsm.upPacket; p != nil && p.Query != nil {
			l.log.Printf("%s", p.Query.Line())
		}
		if l.cfg.Savefile != nil && l.fsm.upPacket != nil {
			if err := l.cfg.Savefile.WritePacket(l.fsm.upPacket); err != nil {
				l.log.Printf("CORE: can't write the start packet to the savefile: %v", err)
			}
		}
		// A packet another sensor saw while start ran: the original
		// blocked that sensor's thread on the same mutex and then found
		// the state already ON.
		for i, s := range l.sinks {
			if i != l.fsm.upSensor && s.armedTrigger() != nil {
				l.log.Printf("%s", msgAlreadyFired)
			}
			s.disarm()
		}
		l.fsm.st = stUp
	case "stop":
		l.stats.stops++
		l.fsm.st = stStandby
		l.fsm.upPacket = nil
		l.fsm.upSummary = sensor.Summary{}
		now := l.now()
		if l.cfg.Holdoff > 0 {
			l.fsm.holding = true
			l.fsm.holdUntil = now + int64(l.cfg.Holdoff)
		}
		// The sensors went back to standby when stop began; packets
		// stamped before now (seen during stop) do not count.
		for _, s := range l.sinks {
			s.armAt(now)
		}
		if l.cfg.AfterStop != nil {
			l.cfg.AfterStop()
		}
	}
}

// onHUP handles SIGHUP.
func (l *Loop) onHUP() {
	switch l.fsm.st {
	case stStarting, stUp:
		// While starting, the stop runs as soon as start returns: the
		// two strictly alternate.
		l.log.Printf("%s", msgHUP)
		l.signals.stop = reasonSignal
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
	switch l.fsm.st {
	case stStandby, stStarting:
		l.log.Printf("%s", msgStatusOff)
	default:
		idle := time.Duration(now - l.lastActivity())
		l.log.Printf(msgStatusOn, int64(max(idle, 0)/time.Second))
	}
	if l.cmd.event != "" {
		l.log.Printf("- running command: %s, for %d sec.", l.cmd.event, (now-l.cmd.since)/int64(time.Second))
	}
	if l.fsm.holding {
		l.log.Printf("- holdoff after stop: %d more sec.", ceilSeconds(time.Duration(l.fsm.holdUntil-now)))
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
	case l.fsm.st == stUp && l.signals.stop == "":
		want, ok = l.lastActivity()+int64(l.cfg.TTL), true
	case l.fsm.st == stStandby && l.fsm.holding:
		want, ok = l.fsm.holdUntil, true
	}
	d := &l.deadline
	if d.armed && (!ok || want != d.at) {
		d.timer.Stop()
		d.armed = false
	}
	if !ok || d.armed {
		return
	}
	d.timer = l.clock.NewTimer(time.Duration(want - l.now()))
	d.at = want
	d.armed = true
}

// exit leaves Run: optionally runs stop (StopOnExit), then cancels and
// closes the sensors and waits for their Run to return. gone lists
// sensors whose Run already returned.
func (l *Loop) exit(sig <-chan os.Signal, cancel context.CancelFunc, exits <-chan sensorExit, cause error, gone ...int) error {
	if l.cfg.StopOnExit {
		l.stopOnExit(sig)
	}
	if l.deadline.armed {
		l.deadline.timer.Stop()
		l.deadline.armed = false
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
		case l.fsm.st == stStandby:
			return
		case l.fsm.st == stUp:
			l.log.Printf("CORE: exiting while up (--stop-on-exit)")
			l.log.Printf("%s", msgStop)
			l.stop(reasonExit)
		}
		select {
		case d := <-l.cmd.done:
			l.onDone(d)
		case s := <-sig:
			switch classify(s) {
			case sigExit:
				l.log.Printf("CORE: exit signal again, not waiting for the %s command", l.cmd.event)
				return
			case sigReport:
				l.report()
			case sigStandby:
				l.log.Printf("CORE: exiting, SIGHUP ignored")
			}
		}
	}
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

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

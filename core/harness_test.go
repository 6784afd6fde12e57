//go:build unix

package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

// waitLimit bounds every wait for another goroutine in these tests. It is
// a deadlock guard, not a timing assertion: the state machine's timing
// is driven by the fake clock only.
const waitLimit = 10 * time.Second

// testLog collects log lines.
type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) Printf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
}

func (l *testLog) all() []string {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func (l *testLog) count(line string) int {
	n := 0
	for _, s := range l.all() {
		if s == line {
			n++
		}
	}
	return n
}

func (l *testLog) countPrefix(p string) int {
	n := 0
	for _, s := range l.all() {
		if strings.HasPrefix(s, p) {
			n++
		}
	}
	return n
}

// fakeSensor hands its sink to the test and records modes.
type fakeSensor struct {
	kind   sensor.Kind
	origin sensor.Origin
	stats  []string
	sinkc  chan sensor.Sink
	fail   chan error

	mu     sync.Mutex
	modes  []sensor.Mode
	closed int
}

func newFakeSensor(kind sensor.Kind) *fakeSensor {
	origin := sensor.Origin{Iface: "tun0"}
	if kind == sensor.NFLOG {
		origin = sensor.Origin{NFLOGGroup: 5, HasNFLOGGroup: true}
	}
	return &fakeSensor{
		kind:   kind,
		origin: origin,
		stats:  []string{"- " + string(kind) + " stats: 1 packet"},
		sinkc:  make(chan sensor.Sink, 1),
		fail:   make(chan error, 1),
	}
}

func (f *fakeSensor) Kind() sensor.Kind     { return f.kind }
func (f *fakeSensor) Origin() sensor.Origin { return f.origin }
func (f *fakeSensor) Stats() []string       { return f.stats }

func (f *fakeSensor) Run(ctx context.Context, sink sensor.Sink) error {
	f.sinkc <- sink
	select {
	case <-ctx.Done():
		return nil
	case err := <-f.fail:
		return err
	}
}

func (f *fakeSensor) SetMode(m sensor.Mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.modes = append(f.modes, m)
}

func (f *fakeSensor) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}

func (f *fakeSensor) getModes() []sensor.Mode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.modes)
}

// fakeRunner hands every command to the test, which finishes it.
type fakeRunner struct {
	calls chan *fakeCall
}

type fakeCall struct {
	c   Command
	res chan error
}

func (r *fakeRunner) Run(ctx context.Context, c Command) error {
	fc := &fakeCall{c: c, res: make(chan error, 1)}
	r.calls <- fc
	return <-fc.res
}

func (c *fakeCall) env(key string) (string, bool) {
	v := ""
	found := false
	for _, kv := range c.c.Env.Vars() {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v, found = val, true // later entries win, as in exec
		}
	}
	return v, found
}

// newTestLoop is NewLoop with the probe tests watch the loop through.
func newTestLoop(cfg Config, sensors ...sensor.Sensor) *Loop {
	l := NewLoop(cfg, sensors...)
	l.probe.inspect = make(chan func())
	l.probe.acted = make(chan struct{}, 1)
	return l
}

// snapshot is the loop state a test sees through harness.sync.
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

// snapshot reads the state; only on the loop goroutine (a probe inspection).
func (l *Loop) snapshot() snapshot {
	return snapshot{
		st: l.fsm.st, cmd: l.cmd.event, starts: l.stats.starts, stops: l.stats.stops,
		holding: l.fsm.holding, timerAt: l.deadline.at, hasTimer: l.deadline.armed, stopReq: l.signals.stop,
		finished: l.stats.finished, launched: l.stats.launched, stopIdle: l.stats.stopIdle,
	}
}

// harness runs a Loop over fake sensors, a fake runner and a fake clock.
type harness struct {
	t       *testing.T
	clk     *FakeClock
	log     *testLog
	run     *fakeRunner
	sensors []*fakeSensor
	sinks   []sensor.Sink
	l       *Loop
	sig     chan os.Signal
	cancel  context.CancelFunc
	result  chan error
	calls   []*fakeCall // every call seen, for cleanup
}

func newHarness(t *testing.T, cfg Config, kinds ...sensor.Kind) *harness {
	t.Helper()
	if len(kinds) == 0 {
		kinds = []sensor.Kind{sensor.Pcap}
	}
	h := &harness{
		t:      t,
		clk:    NewFakeClock(),
		log:    &testLog{},
		run:    &fakeRunner{calls: make(chan *fakeCall, 16)},
		sig:    make(chan os.Signal),
		result: make(chan error, 1),
	}
	if cfg.Command == "" {
		cfg.Command = "/etc/vpn.sh"
	}
	if cfg.TTL == 0 {
		cfg.TTL = 10 * time.Second
	}
	cfg.Clock = h.clk
	cfg.Log = h.log
	cfg.Runner = h.run
	var ss []sensor.Sensor
	for _, k := range kinds {
		f := newFakeSensor(k)
		h.sensors = append(h.sensors, f)
		ss = append(ss, f)
	}
	h.l = newTestLoop(cfg, ss...)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.result <- h.l.Run(ctx, h.sig) }()
	for _, f := range h.sensors {
		select {
		case s := <-f.sinkc:
			h.sinks = append(h.sinks, s)
		case <-time.After(waitLimit):
			t.Fatal("sensor Run was not called")
		}
	}
	t.Cleanup(func() {
		cancel()
		// Let abandoned fake commands return so no goroutine leaks.
		for {
			select {
			case c := <-h.run.calls:
				h.calls = append(h.calls, c)
				continue
			default:
			}
			break
		}
		for _, c := range h.calls {
			select {
			case c.res <- nil:
			default:
			}
		}
		select {
		case <-h.result:
		case <-time.After(waitLimit):
			t.Error("Run did not return after cancel")
		}
	})
	h.sync()
	return h
}

// sync is a barrier: it returns the loop's state after the loop has acted
// on everything that happened before the call.
func (h *harness) sync() snapshot {
	h.t.Helper()
	r := make(chan snapshot, 1)
	select {
	case h.l.probe.inspect <- func() { r <- h.l.snapshot() }:
	case <-time.After(waitLimit):
		h.t.Fatal("loop does not answer (deadlock?)")
	}
	select {
	case s := <-r:
		return s
	case <-time.After(waitLimit):
		h.t.Fatal("loop does not answer (deadlock?)")
	}
	return snapshot{}
}

// waitFor waits until cond holds for the loop's state.
func (h *harness) waitFor(what string, cond func(snapshot) bool) snapshot {
	h.t.Helper()
	deadline := time.After(waitLimit)
	for {
		s := h.sync()
		if cond(s) {
			return s
		}
		select {
		case <-h.l.probe.acted:
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s; state %+v; log:\n%s", what, s, strings.Join(h.log.all(), "\n"))
		}
	}
}

// packet reports a packet on sensor i at the fake clock's now.
func (h *harness) packet(i int) {
	h.sinks[i].Seen(h.clk.Now(), testPacket(h.sensors[i].kind))
}

// activity reports packet-less activity on sensor i.
func (h *harness) activity(i int) {
	h.sinks[i].Seen(h.clk.Now(), nil)
}

func (h *harness) advance(d time.Duration) snapshot {
	h.t.Helper()
	h.clk.Advance(d)
	return h.sync()
}

func (h *harness) signal(s os.Signal) {
	h.t.Helper()
	select {
	case h.sig <- s:
	case <-time.After(waitLimit):
		h.t.Fatal("loop does not take signals (deadlock?)")
	}
}

// nextCall waits for the next command and checks its event.
func (h *harness) nextCall(event string) *fakeCall {
	h.t.Helper()
	select {
	case c := <-h.run.calls:
		h.calls = append(h.calls, c)
		if c.c.Event != event {
			h.t.Fatalf("command %q, want %q", c.c.Event, event)
		}
		return c
	case <-time.After(waitLimit):
		h.t.Fatalf("no %s command; log:\n%s", event, strings.Join(h.log.all(), "\n"))
	}
	return nil
}

// finish completes a command and waits until the loop has handled it.
func (h *harness) finish(c *fakeCall, err error) snapshot {
	h.t.Helper()
	before := h.sync().finished
	c.res <- err
	return h.waitFor("command completion", func(s snapshot) bool { return s.finished > before })
}

// noCall checks that the loop launched no command the test has not seen.
func (h *harness) noCall() {
	h.t.Helper()
	if s := h.sync(); s.launched != len(h.calls) {
		h.t.Fatalf("loop launched %d commands, test saw %d", s.launched, len(h.calls))
	}
	h.noRunnerCall()
}

// noRunnerCall checks that no command reached the runner unseen.
func (h *harness) noRunnerCall() {
	h.t.Helper()
	select {
	case c := <-h.run.calls:
		h.calls = append(h.calls, c)
		h.t.Fatalf("unexpected command %q", c.c.Event)
	default:
	}
}

// up drives the loop from standby to up through sensor i.
func (h *harness) up(i int) {
	h.t.Helper()
	h.packet(i)
	c := h.nextCall("start")
	if s := h.finish(c, nil); s.st != stUp {
		h.t.Fatalf("state %v after start, want up", s.st)
	}
}

// exitResult waits for Run to return.
func (h *harness) exitResult() error {
	h.t.Helper()
	select {
	case err := <-h.result:
		h.result <- err // for Cleanup
		return err
	case <-time.After(waitLimit):
		h.t.Fatal("Run did not return")
	}
	return nil
}

// testPacket is an IPv4/UDP packet 10.0.0.1:4000 -> 10.0.0.2:53 as raw IP.
func testPacket(kind sensor.Kind) *sensor.Packet {
	d := []byte{
		0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0,
		10, 0, 0, 1, 10, 0, 0, 2,
		0x0f, 0xa0, 0, 53, 0, 8, 0, 0,
	}
	p := &sensor.Packet{Data: d, LinkType: bpfc.RAW, OrigLen: len(d), Sensor: kind}
	if kind == sensor.NFLOG {
		p.Ifname = "eth7"
	}
	return p
}

var errExit3 = errors.New("exit status 3")

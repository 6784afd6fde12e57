//go:build unix

package core

import (
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor"
)

type savedPackets struct {
	mu sync.Mutex
	ps []*sensor.Packet
}

func (s *savedPackets) WritePacket(p *sensor.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ps = append(s.ps, p)
	return nil
}

func TestFirstPacketStartsOnce(t *testing.T) {
	save := &savedPackets{}
	before := 0
	h := newHarness(t, Config{Savefile: save, BeforeStart: func() { before++ }})
	if s := h.sync(); s.st != stStandby || s.hasTimer {
		t.Fatalf("initial state %+v, want standby without timer", s)
	}
	h.packet(0)
	c := h.nextCall("start")
	// More traffic while start runs: no second start.
	for range 5 {
		h.packet(0)
	}
	h.advance(time.Second)
	h.noCall()
	if c.c.Line != "/etc/vpn.sh start" {
		t.Errorf("command line %q", c.c.Line)
	}
	want := map[string]string{
		"TUNINETD_EVENT": "start", "TUNINETD_REASON": "packet", "TUNINETD_SENSOR": "pcap",
		"TUNINETD_TTL": "10", "TUNINETD_IFACE": "tun0", "TUNINETD_SRC": "10.0.0.1",
		"TUNINETD_DST": "10.0.0.2", "TUNINETD_PROTO": "udp", "TUNINETD_SRC_PORT": "4000",
		"TUNINETD_DST_PORT": "53",
	}
	for k, v := range want {
		if got, ok := c.env(k); !ok || got != v {
			t.Errorf("%s=%q (present %v), want %q", k, got, ok, v)
		}
	}
	if _, ok := c.env("TUNINETD_IDLE"); ok {
		t.Error("TUNINETD_IDLE set for start")
	}
	if before != 1 {
		t.Errorf("BeforeStart called %d times before the start ran, want 1", before)
	}
	if m := h.sensors[0].getModes(); !slices.Equal(m, []sensor.Mode{sensor.Up}) {
		t.Errorf("modes %v, want [up]", m)
	}
	s := h.finish(c, nil)
	if s.st != stUp || s.starts != 1 {
		t.Fatalf("state %+v", s)
	}
	lines := h.log.all()
	wantLines := []string{"PCAP: start command done", "|- IPv4 10.0.0.1 > 10.0.0.2, NXT_HDR: 0x11 (UDP)"}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("log %q, want %q", lines, wantLines)
	}
	if len(save.ps) != 1 {
		t.Errorf("savefile got %d packets, want 1", len(save.ps))
	}
	// Up: packets only keep it alive.
	h.packet(0)
	h.noCall()
}

func TestNFLOGStartEnv(t *testing.T) {
	h := newHarness(t, Config{}, sensor.NFLOG)
	h.packet(0)
	c := h.nextCall("start")
	if v, _ := c.env("TUNINETD_SENSOR"); v != "nflog" {
		t.Errorf("TUNINETD_SENSOR=%q", v)
	}
	if v, _ := c.env("TUNINETD_NFLOG_GROUP"); v != "5" {
		t.Errorf("TUNINETD_NFLOG_GROUP=%q", v)
	}
	if v, _ := c.env("TUNINETD_IFACE"); v != "eth7" {
		t.Errorf("TUNINETD_IFACE=%q, want the packet's interface", v)
	}
	h.finish(c, nil)
	if h.log.count("NFLOG: start command done") != 1 {
		t.Errorf("log %q", h.log.all())
	}
}

// TestCommandEnvComplete pins the whole environment of start and stop for
// each sensor kind: the README's table, each name once. The capture
// sensor stamps its packets with the interface it also reports as its
// origin; that used to put TUNINETD_IFACE in twice.
func TestCommandEnvComplete(t *testing.T) {
	packet := []string{"TUNINETD_SRC=10.0.0.1", "TUNINETD_DST=10.0.0.2", "TUNINETD_PROTO=udp",
		"TUNINETD_SRC_PORT=4000", "TUNINETD_DST_PORT=53"}
	for _, tc := range []struct {
		kind   sensor.Kind
		ifname string // on the packet
		origin []string
	}{
		{sensor.Pcap, "tun0", []string{"TUNINETD_SENSOR=pcap", "TUNINETD_TTL=10", "TUNINETD_IFACE=tun0"}},
		{sensor.NFLOG, "eth7", []string{"TUNINETD_SENSOR=nflog", "TUNINETD_TTL=10", "TUNINETD_IFACE=eth7", "TUNINETD_NFLOG_GROUP=5"}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			h := newHarness(t, Config{}, tc.kind)
			p := testPacket(tc.kind)
			p.Ifname = tc.ifname
			h.sinks[0].Seen(h.clk.Now(), p)
			start := h.nextCall("start")
			h.finish(start, nil)
			h.advance(10 * time.Second)
			stop := h.nextCall("stop")
			h.finish(stop, nil)
			for _, c := range []struct {
				call *fakeCall
				want []string
			}{
				{start, slices.Concat([]string{"TUNINETD_EVENT=start", "TUNINETD_REASON=packet"}, tc.origin, packet)},
				{stop, slices.Concat([]string{"TUNINETD_EVENT=stop", "TUNINETD_REASON=idle"}, tc.origin, []string{"TUNINETD_IDLE=10"})},
			} {
				got := c.call.c.Env.Vars()
				if dups := duplicateNames(got); dups != nil {
					t.Errorf("%s: %q set more than once in %q", c.call.c.Event, dups, got)
				}
				if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(c.want))) {
					t.Errorf("%s environment\n got %q\nwant %q", c.call.c.Event, got, c.want)
				}
			}
		})
	}
}

func TestTwoSensorsRaceOneStart(t *testing.T) {
	for round := range 50 {
		h := newHarness(t, Config{}, sensor.Pcap, sensor.NFLOG)
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				for range 20 {
					h.packet(i)
				}
			})
		}
		wg.Wait()
		c := h.nextCall("start")
		h.noCall()
		s := h.finish(c, nil)
		if s.starts != 1 || s.st != stUp {
			t.Fatalf("round %d: state %+v", round, s)
		}
		// Both sensors reported while start ran (all their packets were
		// stamped at the same instant, before start returned): the one
		// that did not win is the original's "already fired" case.
		if n := h.log.count(msgAlreadyFired); n != 1 {
			t.Fatalf("round %d: %d already-fired lines, want 1: %q", round, n, h.log.all())
		}
		h.cancel()
		h.exitResult()
	}
}

func TestOtherSensorDuringStartAlreadyFired(t *testing.T) {
	h := newHarness(t, Config{}, sensor.Pcap, sensor.NFLOG)
	h.packet(1)
	c := h.nextCall("start")
	h.advance(time.Second)
	h.packet(0)
	h.packet(0)
	h.finish(c, nil)
	want := []string{"NFLOG: start command done", "|- IPv4 10.0.0.1 > 10.0.0.2, NXT_HDR: 0x11 (UDP)", msgAlreadyFired}
	if got := h.log.all(); !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
	// After up, other sensors' packets are plain activity.
	h.packet(0)
	h.sync()
	if n := h.log.count(msgAlreadyFired); n != 1 {
		t.Errorf("%d already-fired lines", n)
	}
}

func TestActivityKeepsUpAndStopAtTTL(t *testing.T) {
	h := newHarness(t, Config{TTL: 10 * time.Second})
	h.up(0)
	for range 20 {
		s := h.advance(9 * time.Second)
		if s.st != stUp {
			t.Fatalf("stopped while active: %+v", s)
		}
		h.packet(0)
	}
	// Packet-less activity (counters) counts too.
	h.advance(9 * time.Second)
	h.activity(0)
	s := h.advance(10*time.Second - 1)
	if s.st != stUp {
		t.Fatalf("stopped before TTL: %+v", s)
	}
	h.noCall()
	// The one timer points exactly at last activity + TTL: no tick.
	if !s.hasTimer || s.timerAt != int64(h.clk.Elapsed()+1) {
		t.Fatalf("timer %+v, want at %v", s, h.clk.Elapsed()+1)
	}
	s = h.advance(1)
	if s.st != stStopping {
		t.Fatalf("state %+v at TTL, want stopping", s)
	}
	c := h.nextCall("stop")
	if h.log.count(msgStop) != 1 {
		t.Errorf("log %q", h.log.all())
	}
	for k, v := range map[string]string{"TUNINETD_EVENT": "stop", "TUNINETD_REASON": "idle", "TUNINETD_IDLE": "10",
		"TUNINETD_SENSOR": "pcap", "TUNINETD_IFACE": "tun0", "TUNINETD_TTL": "10"} {
		if got, _ := c.env(k); got != v {
			t.Errorf("%s=%q, want %q", k, got, v)
		}
	}
	if _, ok := c.env("TUNINETD_SRC"); ok {
		t.Error("stop carries packet fields")
	}
	if c.c.Line != "/etc/vpn.sh stop" {
		t.Errorf("line %q", c.c.Line)
	}
	// The sensors are back in standby while stop runs, so the first
	// packet after it is read packet by packet however slow their
	// goroutine is to switch.
	if m := h.sensors[0].getModes(); !slices.Equal(m, []sensor.Mode{sensor.Up, sensor.Standby}) {
		t.Errorf("modes while stop runs %v, want [up standby]", m)
	}
	after := 0
	h.l.cfg.AfterStop = func() { after++ } // read only by the loop goroutine, which is idle until finish
	s = h.finish(c, nil)
	if s.st != stStandby || s.stops != 1 {
		t.Fatalf("state %+v", s)
	}
	if after != 1 {
		t.Errorf("AfterStop called %d times", after)
	}
	if m := h.sensors[0].getModes(); !slices.Equal(m, []sensor.Mode{sensor.Up, sensor.Standby}) {
		t.Errorf("modes %v", m)
	}
	// Standby again: the next packet starts again.
	h.up(0)
	if s := h.sync(); s.starts != 2 {
		t.Errorf("starts %d", s.starts)
	}
}

func TestStopNeedsAllSensorsIdle(t *testing.T) {
	h := newHarness(t, Config{TTL: 10 * time.Second}, sensor.Pcap, sensor.NFLOG)
	h.up(0)
	h.advance(5 * time.Second)
	h.activity(1)
	if s := h.advance(5 * time.Second); s.st != stUp {
		t.Fatalf("stopped while nflog active: %+v", s)
	}
	if s := h.advance(5*time.Second - 1); s.st != stUp {
		t.Fatalf("stopped early: %+v", s)
	}
	if s := h.advance(1); s.st != stStopping {
		t.Fatalf("no stop when both idle: %+v", s)
	}
	c := h.nextCall("stop")
	if v, _ := c.env("TUNINETD_SENSOR"); v != "pcap" {
		t.Errorf("stop TUNINETD_SENSOR=%q, want the sensor that started", v)
	}
}

func TestStopDueWhileStartRunsWaits(t *testing.T) {
	h := newHarness(t, Config{TTL: 10 * time.Second})
	h.packet(0)
	c := h.nextCall("start")
	if s := h.advance(30 * time.Second); s.st != stStarting {
		t.Fatalf("state %+v", s)
	}
	h.noCall()
	h.finish(c, nil)
	// Idle since the trigger 30 s ago: stop follows start at once.
	stop := h.nextCall("stop")
	if v, _ := stop.env("TUNINETD_IDLE"); v != "30" {
		t.Errorf("TUNINETD_IDLE=%q", v)
	}
	got := h.log.all()
	if i, j := slices.Index(got, "PCAP: start command done"), slices.Index(got, msgStop); i < 0 || j < i {
		t.Errorf("log order %q", got)
	}
}

func TestFailedStartStaysUp(t *testing.T) {
	h := newHarness(t, Config{TTL: 10 * time.Second})
	h.packet(0)
	c := h.nextCall("start")
	s := h.finish(c, errExit3)
	if s.st != stUp {
		t.Fatalf("state %+v after failed start, want up", s)
	}
	got := h.log.all()
	if len(got) < 3 || got[0] != "Warning! Executable command doesn't return 0 code (/etc/vpn.sh start)" ||
		got[1] != "CORE: exit status 3" || got[2] != "PCAP: start command done" {
		t.Errorf("log %q", got)
	}
	h.advance(10 * time.Second)
	stop := h.nextCall("stop")
	h.finish(stop, errExit3)
	if h.log.count("Warning! Executable command doesn't return 0 code (/etc/vpn.sh stop)") != 1 {
		t.Errorf("log %q", h.log.all())
	}
	h.up(0)
}

func TestSIGHUP(t *testing.T) {
	h := newHarness(t, Config{})
	h.signal(syscall.SIGHUP)
	h.sync()
	if got := h.log.all(); !slices.Equal(got, []string{msgHUPStandby}) {
		t.Fatalf("standby SIGHUP log %q", got)
	}
	h.noCall()
	h.up(0)
	h.packet(0)
	h.signal(syscall.SIGHUP)
	c := h.nextCall("stop")
	if v, _ := c.env("TUNINETD_REASON"); v != "signal" {
		t.Errorf("TUNINETD_REASON=%q", v)
	}
	if h.log.count(msgHUP) != 1 || h.log.count(msgStop) != 0 {
		t.Errorf("log %q", h.log.all())
	}
	// While stop runs, the daemon is on its way to standby.
	h.signal(syscall.SIGHUP)
	h.sync()
	if h.log.count(msgHUPStandby) != 2 {
		t.Errorf("log %q", h.log.all())
	}
	if s := h.finish(c, nil); s.st != stStandby || s.stops != 1 {
		t.Fatalf("state %+v", s)
	}
	h.noCall()
}

func TestSIGHUPDuringStart(t *testing.T) {
	h := newHarness(t, Config{})
	h.packet(0)
	c := h.nextCall("start")
	h.signal(syscall.SIGHUP)
	h.signal(syscall.SIGHUP)
	s := h.sync()
	if s.st != stStarting || s.stopReq != "signal" {
		t.Fatalf("state %+v", s)
	}
	h.noCall()
	h.finish(c, nil)
	stop := h.nextCall("stop")
	if v, _ := stop.env("TUNINETD_REASON"); v != "signal" {
		t.Errorf("reason %q", v)
	}
	h.finish(stop, nil)
	h.noCall()
	if s := h.sync(); s.starts != 1 || s.stops != 1 || s.st != stStandby {
		t.Fatalf("state %+v", s)
	}
}

func TestSIGUSR1(t *testing.T) {
	h := newHarness(t, Config{Report: []string{"- event path: /etc/vpn.sh", "- TTL: 10 sec."}})
	h.signal(syscall.SIGUSR1)
	h.sync()
	want := []string{"SIGUSR1 caught:", "- event path: /etc/vpn.sh", "- TTL: 10 sec.",
		"- current status: standby (OFF)", "- pcap stats: 1 packet"}
	if got := h.log.all(); !slices.Equal(got, want) {
		t.Fatalf("standby report %q, want %q", got, want)
	}

	// While start runs the loop still answers, and, as the original, is OFF.
	h.packet(0)
	c := h.nextCall("start")
	h.advance(2 * time.Second)
	h.log = resetLog(h)
	h.signal(syscall.SIGUSR1)
	h.sync()
	want = []string{"SIGUSR1 caught:", "- event path: /etc/vpn.sh", "- TTL: 10 sec.",
		"- current status: standby (OFF)", "- running command: start, for 2 sec.", "- pcap stats: 1 packet"}
	if got := h.log.all(); !slices.Equal(got, want) {
		t.Fatalf("report during start %q, want %q", got, want)
	}
	h.finish(c, nil)
	h.advance(3*time.Second + 500*time.Millisecond)
	h.log = resetLog(h)
	h.signal(syscall.SIGUSR1)
	h.sync()
	if got := h.log.all(); len(got) < 4 || got[3] != "- current status: up (ON), time since last captured packet: 5 sec." {
		t.Fatalf("up report %q", got)
	}
}

// resetLog gives the loop a fresh log; the loop goroutine is idle between
// sync and the next event, and testLog is goroutine-safe anyway.
func resetLog(h *harness) *testLog {
	h.log.mu.Lock()
	h.log.lines = nil
	h.log.mu.Unlock()
	return h.log
}

func TestWallClockStepsDoNotMatter(t *testing.T) {
	h := newHarness(t, Config{TTL: 60 * time.Second})
	// A sensor that (against the Sink contract) stamps with the wall
	// clock, like a kernel packet time stamp, and packets carrying wall
	// times: NTP steps the clock back an hour right after start.
	wallPacket := func() {
		p := testPacket(sensor.Pcap)
		p.Time = h.clk.Wall()
		h.sinks[0].Seen(h.clk.Wall(), p)
	}
	wallPacket()
	h.finish(h.nextCall("start"), nil)
	h.clk.StepWall(-time.Hour)
	h.advance(30 * time.Second)
	wallPacket() // stamped an hour "ago": must still count as now
	if s := h.advance(59 * time.Second); s.st != stUp {
		t.Fatalf("backward step fired a stop: %+v", s)
	}
	if s := h.advance(time.Second); s.st != stStopping {
		t.Fatalf("stop suppressed or late: %+v", s)
	}
	h.finish(h.nextCall("stop"), nil)

	// Forward step while up: an hour-late-looking stamp must not look
	// like activity in the future (suppressing stop) either.
	wallPacket()
	h.finish(h.nextCall("start"), nil)
	h.clk.StepWall(2 * time.Hour)
	wallPacket()
	if s := h.advance(60*time.Second - 1); s.st != stUp {
		t.Fatalf("forward step fired a stop: %+v", s)
	}
	if s := h.advance(1); s.st != stStopping {
		t.Fatalf("forward step suppressed the stop: %+v", s)
	}
}

func TestFakeClockModel(t *testing.T) {
	c := NewFakeClock()
	t0, w0 := c.Now(), c.Wall()
	c.StepWall(-time.Hour)
	c.Advance(time.Second)
	t1, w1 := c.Now(), c.Wall()
	// Now carries a monotonic reading: the difference ignores the step.
	if d := t1.Sub(t0); d != time.Second {
		t.Errorf("monotonic difference %v, want 1s", d)
	}
	if t1 == t1.Round(0) {
		t.Error("Now has no monotonic reading")
	}
	// Wall has none, so it shows the step, as a kernel time stamp would.
	if d := w1.Sub(w0); d != time.Second-time.Hour {
		t.Errorf("wall difference %v", d)
	}
	if w1 != w1.Round(0) {
		t.Error("Wall carries a monotonic reading")
	}
	// Timers follow monotonic time only.
	tm := c.NewTimer(2 * time.Second)
	c.StepWall(10 * time.Hour)
	select {
	case <-tm.C():
		t.Fatal("wall step fired a timer")
	default:
	}
	c.Advance(2 * time.Second)
	select {
	case <-tm.C():
	default:
		t.Fatal("timer did not fire")
	}
	if tm.Stop() {
		t.Error("Stop after fire reported true")
	}
	tm2 := c.NewTimer(time.Second)
	if !tm2.Stop() || c.Pending() != 0 {
		t.Error("Stop did not remove the timer")
	}
	c.Advance(time.Hour)
	select {
	case <-tm2.C():
		t.Fatal("stopped timer fired")
	default:
	}
}

func TestRealClockIsMonotonic(t *testing.T) {
	var c RealClock
	if n := c.Now(); n == n.Round(0) {
		t.Fatal("RealClock.Now has no monotonic reading")
	}
	tm := c.NewTimer(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(waitLimit):
		t.Fatal("real timer did not fire")
	}
}

func TestHoldoff(t *testing.T) {
	h := newHarness(t, Config{TTL: 10 * time.Second, Holdoff: 30 * time.Second})
	h.up(0)
	h.advance(10 * time.Second)
	h.finish(h.nextCall("stop"), nil)
	// The VPN's teardown sends packets: held off.
	h.advance(time.Second)
	h.packet(0)
	s := h.sync()
	if s.st != stStandby || !s.holding || s.starts != 1 {
		t.Fatalf("state %+v", s)
	}
	h.noCall()
	if n := h.log.countPrefix("CORE: holdoff after stop, PCAP packet ignored (start held off for 29 more sec.)"); n != 1 {
		t.Fatalf("holdoff log %q", h.log.all())
	}
	for range 10 {
		h.advance(2 * time.Second)
		h.packet(0)
	}
	h.noCall()
	if n := h.log.countPrefix("CORE: holdoff after stop"); n != 1 {
		t.Errorf("%d holdoff lines, want 1 per holdoff period", n)
	}
	// Holdoff ends 30 s after stop (now 21 s): the next packet starts.
	if s := h.advance(9*time.Second - 1); !s.holding {
		t.Fatalf("holdoff ended early: %+v", s)
	}
	h.packet(0)
	h.noCall()
	if s := h.advance(1); s.holding || s.st != stStandby {
		t.Fatalf("holdoff did not end: %+v", s)
	}
	h.packet(0)
	h.nextCall("start")
}

func TestStopOnExit(t *testing.T) {
	h := newHarness(t, Config{StopOnExit: true})
	h.up(0)
	h.advance(3 * time.Second)
	h.signal(syscall.SIGTERM)
	c := h.nextCall("stop")
	if v, _ := c.env("TUNINETD_REASON"); v != "exit" {
		t.Errorf("TUNINETD_REASON=%q", v)
	}
	if v, _ := c.env("TUNINETD_IDLE"); v != "3" {
		t.Errorf("TUNINETD_IDLE=%q", v)
	}
	select {
	case <-h.result:
		t.Fatal("Run returned before stop finished")
	default:
	}
	// SIGUSR1 is still answered while waiting.
	h.signal(syscall.SIGUSR1)
	c.res <- nil
	if err := h.exitResult(); err != nil {
		t.Fatal(err)
	}
	if h.log.count("SIGUSR1 caught:") != 1 || h.log.count(msgStop) != 1 {
		t.Errorf("log %q", h.log.all())
	}
	if h.sensors[0].closed != 1 {
		t.Errorf("sensor closed %d times", h.sensors[0].closed)
	}
}

func TestStopOnExitWaitsForStart(t *testing.T) {
	h := newHarness(t, Config{StopOnExit: true})
	h.packet(0)
	start := h.nextCall("start")
	h.signal(syscall.SIGINT)
	start.res <- nil
	stop := h.nextCall("stop")
	stop.res <- nil
	if err := h.exitResult(); err != nil {
		t.Fatal(err)
	}
	got := h.log.all()
	if i, j := slices.Index(got, "PCAP: start command done"), slices.Index(got, msgStop); i < 0 || j < i {
		t.Errorf("log %q", got)
	}
}

func TestExitWithoutStopOnExit(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		h := newHarness(t, Config{})
		h.up(0)
		h.signal(sig)
		if err := h.exitResult(); err != nil {
			t.Fatal(err)
		}
		h.noRunnerCall()
		if h.sensors[0].closed != 1 {
			t.Errorf("sensor closed %d times", h.sensors[0].closed)
		}
	}
	// ctx cancellation is the same clean exit.
	h := newHarness(t, Config{})
	h.cancel()
	if err := h.exitResult(); err != nil {
		t.Fatal(err)
	}
}

func TestSensorFailureIsFatal(t *testing.T) {
	h := newHarness(t, Config{}, sensor.Pcap, sensor.NFLOG)
	h.sensors[1].fail <- errExit3
	err := h.exitResult()
	if err == nil || !strings.Contains(err.Error(), "nflog sensor") {
		t.Fatalf("Run returned %v", err)
	}
	if h.sensors[0].closed != 1 || h.sensors[1].closed != 1 {
		t.Error("sensors not closed")
	}
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, Config{})
	if err := h.l.Run(t.Context(), nil); err == nil {
		t.Fatal("second Run succeeded")
	}
}

func TestSignalStormFakeRunner(t *testing.T) {
	h := newHarness(t, Config{TTL: time.Second})
	var events []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			h.sig <- syscall.SIGHUP
			h.sig <- syscall.SIGUSR1
			if i%10 == 0 {
				h.packet(0)
			}
		}
	}()
	for {
		select {
		case c := <-h.run.calls:
			events = append(events, c.c.Event)
			c.res <- nil
			continue
		case <-done:
		case <-time.After(waitLimit):
			t.Fatal("storm deadlocked")
		}
		break
	}
	// Quiet: serve the commands still to come until the loop rests in
	// standby with nothing running or in flight. A finished fake command
	// reaches the loop, and the next one the runner, through goroutines
	// of their own, so one barrier right after answering a call proves
	// nothing; the state does.
	deadline := time.After(waitLimit)
	for {
		s := h.sync()
		if s.st == stStandby && s.cmd == "" && s.launched == len(events) && s.finished == len(events) {
			break
		}
		select {
		case c := <-h.run.calls:
			events = append(events, c.c.Event)
			c.res <- nil
		case <-h.l.probe.acted:
		case <-deadline:
			t.Fatalf("loop did not come to rest; state %+v, events %v", s, events)
		}
	}
	for i, e := range events {
		want := "start"
		if i%2 == 1 {
			want = "stop"
		}
		if e != want {
			t.Fatalf("event %d is %s: %v", i, e, events)
		}
	}
	if len(events) < 2 {
		t.Errorf("only %d events", len(events))
	}
	if len(events)%2 != 0 {
		t.Errorf("ended up after a start: %v", events)
	}
	if n := h.log.count("SIGUSR1 caught:"); n != 1000 {
		t.Errorf("%d SIGUSR1 reports", n)
	}
}

// TestStopPrecision: however activity and time interleave, the stop is
// decided when the TTL has passed since the last activity, on the loop's
// own clock: not a nanosecond before, and less than TTL + 0.25 s after
// (exactly at it: the loop aims its one timer at the deadline, no tick).
func TestStopPrecision(t *testing.T) {
	const ttl = 300 * time.Millisecond
	const bound = ttl + 250*time.Millisecond
	h := newHarness(t, Config{TTL: ttl})
	h.up(0)
	for round := range 3 {
		// Busy for a while, then quiet.
		for range 5 {
			h.activity(0)
			h.advance(ttl / 4)
		}
		if s := h.advance(ttl - ttl/4 - 1); s.st != stUp {
			t.Fatalf("round %d: state %v a nanosecond before the TTL, want up", round, s.st)
		}
		h.noCall()
		h.advance(1)
		c := h.nextCall("stop")
		s := h.sync() // the stop is held by this test: no other can follow
		if s.stopIdle < ttl || s.stopIdle >= bound {
			t.Errorf("round %d: stop decided %v after last activity, want in [%v, %v)", round, s.stopIdle, ttl, bound)
		}
		if s.stopIdle != ttl {
			t.Errorf("round %d: stop decided %v after last activity, want exactly the TTL %v", round, s.stopIdle, ttl)
		}
		h.finish(c, nil)
		// Packets seen while stop ran never start: standby now, and
		// the next packet starts again.
		if s := h.sync(); s.st != stStandby {
			t.Fatalf("round %d: state %v after stop, want standby", round, s.st)
		}
		h.up(0)
	}
}

// TestStartNamesDNSQuery: a packet that counted as a DNS query gives the
// start command TUNINETD_QNAME, and the start log names the query after
// the original's lines, which stay as they are.
func TestStartNamesDNSQuery(t *testing.T) {
	h := newHarness(t, Config{}, sensor.Pcap)
	p := testPacket(sensor.Pcap)
	p.Query = &sensor.DNSQuery{Name: "git.corp.example", Type: 28, Suffix: "corp.example"}
	h.sinks[0].Seen(h.clk.Now(), p)
	c := h.nextCall("start")
	if v, ok := c.env("TUNINETD_QNAME"); !ok || v != "git.corp.example" {
		t.Errorf("TUNINETD_QNAME=%q (present %v)", v, ok)
	}
	if v, _ := c.env("TUNINETD_DST_PORT"); v != "53" {
		t.Errorf("TUNINETD_DST_PORT=%q: the packet's variables must stay", v)
	}
	h.finish(c, nil)
	want := []string{"PCAP: start command done", "|- IPv4 10.0.0.1 > 10.0.0.2, NXT_HDR: 0x11 (UDP)",
		"|- DNS query: git.corp.example AAAA (--dns-name corp.example)"}
	if got := h.log.all(); !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
	// A start without a query names none.
	h.signal(syscall.SIGHUP)
	stop := h.nextCall("stop")
	if _, ok := stop.env("TUNINETD_QNAME"); ok {
		t.Error("TUNINETD_QNAME set for stop")
	}
}

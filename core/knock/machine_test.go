package knock

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
)

// clock is an injected monotonic clock: tests move it, nothing sleeps.
type clock struct{ t time.Time }

func newClock() *clock               { return &clock{t: time.Unix(1_000_000, 0)} }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }

func mustEvent(t testing.TB, name, seq string, timeout, delay time.Duration) Event {
	t.Helper()
	s, err := ParseSequence(seq)
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{Name: name, Sequence: s, Timeout: timeout, StartCommand: "start %IP%"}
	if delay > 0 {
		ev.StopCommand, ev.CommandDelay = "stop %IP%", delay
	}
	return ev
}

func mustMachine(t testing.TB, opt Options, evs ...Event) *Machine {
	t.Helper()
	m, err := NewMachine(evs, opt)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pkt is a candidate from src: "tcp:22:s" style, the frame it would be.
func pkt(t testing.TB, src, frame string) Candidate {
	t.Helper()
	f, err := ParseFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	c := Candidate{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("192.0.2.1"), Proto: f.Proto, DstPort: f.Port, Flags: f.Flags}
	if f.AnyFlags {
		c.Flags = SYN | ACK
	}
	return c
}

// steps renders steps compactly for comparison.
func steps(ss []Step) string {
	var b []string
	for _, s := range ss {
		b = append(b, s.String())
	}
	return strings.Join(b, "; ")
}

func TestSequenceCompletes(t *testing.T) {
	clk := newClock()
	m := mustMachine(t, Options{}, mustEvent(t, "SSH", "udp:1234 tcp:543 tcp:543:i tcp:123:frap tcp:434:x tcp:2345:n", 10*time.Second, 0))
	var got []Step
	for _, f := range []string{"udp:1234", "tcp:543", "tcp:543:i", "tcp:123:frap", "tcp:434:x", "tcp:2345"} {
		clk.add(time.Second)
		got = m.Packet(clk.t, pkt(t, "192.0.2.7", f), got)
	}
	want := "SSH: 192.0.2.7 frame 1/6 udp:1234 advanced; SSH: 192.0.2.7 frame 2/6 tcp:543 advanced; " +
		"SSH: 192.0.2.7 frame 3/6 tcp:543:i advanced; SSH: 192.0.2.7 frame 4/6 tcp:123:frpa advanced; " +
		"SSH: 192.0.2.7 frame 5/6 tcp:434:x advanced; SSH: 192.0.2.7 frame 6/6 tcp:2345 completed"
	if steps(got) != want {
		t.Fatalf("got  %s\nwant %s", steps(got), want)
	}
	a, ok := got[len(got)-1].Action()
	if !ok || a.Kind != Start || a.Command() != "start 192.0.2.7" {
		t.Errorf("action %+v %v", a, ok)
	}
	if m.InProgress() != 0 || m.PendingStops() != 0 {
		t.Errorf("after completion: %d in progress, %d stops", m.InProgress(), m.PendingStops())
	}
	if _, ok := m.NextWake(); ok {
		t.Error("NextWake with nothing pending")
	}
}

func TestWrongFrameResetsAndRetriesAsFirst(t *testing.T) {
	clk := newClock()
	m := mustMachine(t, Options{}, mustEvent(t, "K", "tcp:1 tcp:2 tcp:3", 10*time.Second, 0))
	src := "198.51.100.9"
	var got []Step
	got = m.Packet(clk.t, pkt(t, src, "tcp:1"), got)
	got = m.Packet(clk.t, pkt(t, src, "tcp:2"), got)
	// tcp:1 is a frame of the event but not the next: reset, then it is
	// the first frame again.
	got = m.Packet(clk.t, pkt(t, src, "tcp:1"), got)
	// tcp:3 now is not the next (tcp:2 is): reset, and it is not the first.
	got = m.Packet(clk.t, pkt(t, src, "tcp:3"), got)
	want := "K: 198.51.100.9 frame 1/3 tcp:1 advanced; K: 198.51.100.9 frame 2/3 tcp:2 advanced; " +
		"K: 198.51.100.9 reset after 2/3 frames; K: 198.51.100.9 frame 1/3 tcp:1 advanced; " +
		"K: 198.51.100.9 reset after 1/3 frames"
	if steps(got) != want {
		t.Fatalf("got  %s\nwant %s", steps(got), want)
	}
	if m.InProgress() != 0 {
		t.Errorf("%d in progress", m.InProgress())
	}
	// Packets that are no frame of the event leave progress alone.
	got = got[:0]
	got = m.Packet(clk.t, pkt(t, src, "tcp:1"), got)
	got = m.Packet(clk.t, pkt(t, src, "tcp:9"), got)
	got = m.Packet(clk.t, pkt(t, src, "tcp:1:s"), got) // port 1 with SYN: not the frame tcp:1 (no flags)
	got = m.Packet(clk.t, pkt(t, src, "udp:2"), got)
	got = m.Packet(clk.t, pkt(t, src, "tcp:2"), got)
	got = m.Packet(clk.t, pkt(t, src, "tcp:3"), got)
	if n := len(got); n != 3 || got[2].Kind != Completed {
		t.Fatalf("with noise: %s", steps(got))
	}
}

func TestRepeatedFrames(t *testing.T) {
	// The next frame is tried before the reset rule: tcp:5 tcp:5 tcp:5
	// completes with three equal packets.
	m := mustMachine(t, Options{}, mustEvent(t, "R", "tcp:5 tcp:5 tcp:5", 10*time.Second, 0))
	clk := newClock()
	var got []Step
	for i := 0; i < 3; i++ {
		got = m.Packet(clk.t, pkt(t, "192.0.2.7", "tcp:5"), got)
	}
	if len(got) != 3 || got[2].Kind != Completed {
		t.Fatalf("%s", steps(got))
	}
}

func TestTimeout(t *testing.T) {
	clk := newClock()
	m := mustMachine(t, Options{}, mustEvent(t, "T", "udp:1 udp:2 udp:3", 10*time.Second, 0))
	var got []Step
	got = m.Packet(clk.t, pkt(t, "192.0.2.7", "udp:1"), got)
	clk.add(5 * time.Second)
	got = m.Packet(clk.t, pkt(t, "192.0.2.7", "udp:2"), got)
	if w, ok := m.NextWake(); !ok || !w.Equal(clk.t.Add(5*time.Second)) {
		t.Fatalf("NextWake = %v %v, want the deadline first frame + 10s", w, ok)
	}
	// The deadline runs from the first frame: at +10s exactly it is over.
	clk.add(5 * time.Second)
	got = m.Packet(clk.t, pkt(t, "192.0.2.7", "udp:3"), got)
	want := "T: 192.0.2.7 frame 1/3 udp:1 advanced; T: 192.0.2.7 frame 2/3 udp:2 advanced; T: 192.0.2.7 expired after 2/3 frames"
	if steps(got) != want {
		t.Fatalf("got  %s\nwant %s", steps(got), want)
	}

	// Tick expires without a packet, and only what is due.
	got = got[:0]
	got = m.Packet(clk.t, pkt(t, "192.0.2.7", "udp:1"), got)
	clk.add(3 * time.Second)
	got = m.Packet(clk.t, pkt(t, "192.0.2.8", "udp:1"), got)
	clk.add(7*time.Second - time.Nanosecond)
	got = m.Tick(clk.t, got)
	if len(got) != 2 || m.InProgress() != 2 {
		t.Fatalf("before the deadline: %s, %d in progress", steps(got), m.InProgress())
	}
	clk.add(time.Nanosecond)
	got = m.Tick(clk.t, got)
	if steps(got[2:]) != "T: 192.0.2.7 expired after 1/3 frames" || m.InProgress() != 1 {
		t.Fatalf("at the deadline: %s, %d in progress", steps(got[2:]), m.InProgress())
	}
	clk.add(3 * time.Second)
	got = m.Tick(clk.t, got[:0])
	if steps(got) != "T: 192.0.2.8 expired after 1/3 frames" || m.InProgress() != 0 {
		t.Fatalf("second source: %s", steps(got))
	}
}

func TestSourcesIndependent(t *testing.T) {
	clk := newClock()
	m := mustMachine(t, Options{}, mustEvent(t, "I", "tcp:1:s tcp:2:s tcp:3:s", 10*time.Second, 0))
	a, b := "192.0.2.7", "2001:db8::7"
	var got []Step
	// Interleaved, and b sends a wrong frame in the middle: only b resets.
	for _, p := range []struct{ src, f string }{
		{a, "tcp:1:s"}, {b, "tcp:1:s"}, {a, "tcp:2:s"}, {b, "tcp:3:s"}, {b, "tcp:1:s"},
		{a, "tcp:3:s"}, {b, "tcp:2:s"}, {b, "tcp:3:s"},
	} {
		got = m.Packet(clk.t, pkt(t, p.src, p.f), got)
	}
	var done []string
	for _, s := range got {
		if s.Kind == Completed {
			done = append(done, s.Src.String())
		}
		if s.Kind == Reset && s.Src.String() != b {
			t.Errorf("reset of %v", s.Src)
		}
	}
	if strings.Join(done, " ") != a+" "+b {
		t.Fatalf("completions %v: %s", done, steps(got))
	}
}

func TestEventsIndependent(t *testing.T) {
	// One packet can be a frame of two events; each follows its own
	// sequence, and a frame of one is no reset for the other.
	clk := newClock()
	m := mustMachine(t, Options{},
		mustEvent(t, "A", "udp:1 udp:2", 10*time.Second, 0),
		mustEvent(t, "B", "udp:1 udp:3 udp:2", 10*time.Second, 0))
	var got []Step
	for _, f := range []string{"udp:1", "udp:3", "udp:2"} {
		got = m.Packet(clk.t, pkt(t, "192.0.2.7", f), got)
	}
	want := "A: 192.0.2.7 frame 1/2 udp:1 advanced; B: 192.0.2.7 frame 1/3 udp:1 advanced; " +
		"B: 192.0.2.7 frame 2/3 udp:3 advanced; A: 192.0.2.7 frame 2/2 udp:2 completed; " +
		"B: 192.0.2.7 frame 3/3 udp:2 completed"
	if steps(got) != want {
		t.Fatalf("got  %s\nwant %s", steps(got), want)
	}
}

func TestSingleFrameSequence(t *testing.T) {
	m := mustMachine(t, Options{}, mustEvent(t, "ONE", "tcp:4711:fpu", 10*time.Second, 0))
	got := m.Packet(newClock().t, pkt(t, "192.0.2.7", "tcp:4711:fpu"), nil)
	if steps(got) != "ONE: 192.0.2.7 frame 1/1 tcp:4711:fpu completed" || m.InProgress() != 0 {
		t.Fatalf("%s", steps(got))
	}
}

func TestDelayedStop(t *testing.T) {
	clk := newClock()
	m := mustMachine(t, Options{}, mustEvent(t, "S", "udp:1 udp:2", 10*time.Second, 30*time.Second))
	knock := func(src string) {
		got := m.Packet(clk.t, pkt(t, src, "udp:1"), nil)
		got = m.Packet(clk.t, pkt(t, src, "udp:2"), got)
		if len(got) != 2 || got[1].Kind != Completed {
			t.Fatalf("knock from %s: %s", src, steps(got))
		}
	}
	knock("192.0.2.7")
	clk.add(10 * time.Second)
	knock("192.0.2.8")
	clk.add(5 * time.Second)
	knock("192.0.2.7") // a second start for .7: it gets its own stop
	if m.PendingStops() != 3 {
		t.Fatalf("%d pending stops", m.PendingStops())
	}
	start := clk.t.Add(-15 * time.Second)
	if w, ok := m.NextWake(); !ok || !w.Equal(start.Add(30*time.Second)) {
		t.Fatalf("NextWake %v %v", w, ok)
	}
	var got []Step
	clk.t = start.Add(30*time.Second - time.Nanosecond)
	if got = m.Tick(clk.t, got); len(got) != 0 {
		t.Fatalf("early: %s", steps(got))
	}
	clk.t = start.Add(40 * time.Second)
	got = m.Tick(clk.t, got)
	if steps(got) != "S: 192.0.2.7 stop due; S: 192.0.2.8 stop due" {
		t.Fatalf("at +40s: %s", steps(got))
	}
	a, ok := got[0].Action()
	if !ok || a.Kind != Stop || a.Command() != "stop 192.0.2.7" {
		t.Fatalf("stop action %+v", a)
	}
	if p := m.Pending(); len(p) != 1 || p[0].Command() != "stop 192.0.2.7" || m.PendingStops() != 0 {
		t.Fatalf("Pending %+v", p)
	}
}

func TestStopsRefusedWhenFull(t *testing.T) {
	clk := newClock()
	m := mustMachine(t, Options{MaxPendingStops: 2}, mustEvent(t, "S", "udp:1", 10*time.Second, 30*time.Second))
	var got []Step
	for i := 1; i <= 3; i++ {
		got = m.Packet(clk.t, pkt(t, fmt.Sprintf("192.0.2.%d", i), "udp:1"), got)
	}
	if got[0].Kind != Completed || got[1].Kind != Completed || got[2].Kind != Refused {
		t.Fatalf("%s", steps(got))
	}
	if _, ok := got[2].Action(); ok {
		t.Fatal("a refused completion carries an action")
	}
	clk.add(30 * time.Second)
	got = m.Tick(clk.t, got[:0])
	got = m.Packet(clk.t, pkt(t, "192.0.2.3", "udp:1"), got)
	if steps(got) != "S: 192.0.2.1 stop due; S: 192.0.2.2 stop due; S: 192.0.2.3 frame 1/1 udp:1 completed" {
		t.Fatalf("%s", steps(got))
	}
}

func TestEvictionLeastRecentlySeen(t *testing.T) {
	clk := newClock()
	m := mustMachine(t, Options{MaxSources: 3}, mustEvent(t, "E", "udp:1 udp:2 udp:3", 60*time.Second, 0))
	var got []Step
	for _, s := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		got = m.Packet(clk.t, pkt(t, s, "udp:1"), got)
		clk.add(time.Second)
	}
	// .1 advances, so .2 is now the least recently seen.
	got = m.Packet(clk.t, pkt(t, "192.0.2.1", "udp:2"), got)
	got = m.Packet(clk.t, pkt(t, "192.0.2.4", "udp:1"), got[:0])
	if steps(got) != "E: 192.0.2.2 evicted after 1/3 frames; E: 192.0.2.4 frame 1/3 udp:1 advanced" || m.InProgress() != 3 {
		t.Fatalf("%s, %d in progress", steps(got), m.InProgress())
	}
	// .1 kept its progress and completes.
	got = m.Packet(clk.t, pkt(t, "192.0.2.1", "udp:3"), got[:0])
	if len(got) != 1 || got[0].Kind != Completed {
		t.Fatalf("%s", steps(got))
	}
	// Expiry still works after eviction and reuse of entries.
	clk.add(time.Hour)
	got = m.Tick(clk.t, got[:0])
	if len(got) != 2 || m.InProgress() != 0 {
		t.Fatalf("%s, %d in progress", steps(got), m.InProgress())
	}
}

func TestFloodIsBounded(t *testing.T) {
	const limit = 1000
	clk := newClock()
	m := mustMachine(t, Options{MaxSources: limit},
		mustEvent(t, "A", "tcp:1:s tcp:2:s", 10*time.Second, 0),
		mustEvent(t, "B", "tcp:1:s tcp:3:s", 20*time.Second, 0))
	var got []Step
	evicted := 0
	for i := 0; i < 50*limit; i++ {
		b := [16]byte{0x20, 0x01, 0x0d, 0xb8}
		b[12], b[13], b[14], b[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		c := Candidate{Src: netip.AddrFrom16(b), Dst: netip.MustParseAddr("2001:db8::1"), Proto: TCP, DstPort: 1, Flags: SYN}
		got = m.Packet(clk.t, c, got[:0])
		for _, s := range got {
			if s.Kind == Evicted {
				evicted++
			}
		}
		if m.InProgress() > limit {
			t.Fatalf("%d in progress, limit %d", m.InProgress(), limit)
		}
		if i%1000 == 0 {
			clk.add(time.Millisecond)
		}
	}
	if m.InProgress() != limit || evicted != 2*50*limit-limit {
		t.Fatalf("%d in progress, %d evicted", m.InProgress(), evicted)
	}
	clk.add(time.Minute)
	got = m.Tick(clk.t, got[:0])
	if len(got) != limit || m.InProgress() != 0 {
		t.Fatalf("%d expired, %d left", len(got), m.InProgress())
	}
}

func TestNewMachineRejects(t *testing.T) {
	ok := mustEvent(t, "A", "udp:1", 10*time.Second, 0)
	bad := []struct {
		evs []Event
		msg string
	}{
		{[]Event{ok, ok}, "duplicate event A"},
		{[]Event{{Name: "X", Timeout: time.Second, StartCommand: "x"}}, "empty sequence"},
		{[]Event{{Name: "X", Sequence: ok.Sequence, StartCommand: "x"}}, "timeout"},
		{[]Event{{Name: "X", Sequence: ok.Sequence, Timeout: time.Second}}, "no start command"},
		{[]Event{{Name: "X", Sequence: ok.Sequence, Timeout: time.Second, StartCommand: "x", CommandDelay: time.Second}}, "without stop command"},
		{[]Event{{Name: "X", Sequence: ok.Sequence, Timeout: time.Second, StartCommand: "x", StopCommand: "y"}}, "command delay"},
		{[]Event{{Name: "X", Sequence: []Frame{{Proto: UDP, Port: 1, AnyFlags: true}}, Timeout: time.Second, StartCommand: "x"}}, "not a valid frame"},
	}
	for _, b := range bad {
		if _, err := NewMachine(b.evs, Options{}); err == nil || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("NewMachine(%+v) = %v, want %q", b.evs, err, b.msg)
		}
	}
	if _, err := NewMachine([]Event{ok}, Options{MaxSources: -1}); err == nil {
		t.Error("negative limit accepted")
	}
}

// BenchmarkPacket: a flood of first frames from distinct sources into a
// full table, the worst case per packet (evict, insert).
func BenchmarkPacket(b *testing.B) {
	m := mustMachine(b, Options{}, mustEvent(b, "A", "tcp:1:s tcp:2:s tcp:3:s", 10*time.Second, 0))
	now := time.Unix(1_000_000, 0)
	var buf []Step
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c := Candidate{Src: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Proto: TCP, DstPort: 1, Flags: SYN}
		buf = m.Packet(now, c, buf[:0])
	}
}

// BenchmarkFlood feeds first frames from distinct sources, four times
// as many as the table holds, and reports the heap the full table takes
// per source: bounded however long the flood.
func BenchmarkFlood(b *testing.B) {
	ev := mustEvent(b, "B", "udp:7001 udp:7002", time.Hour, 0)
	const max = 65536
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	m, err := NewMachine([]Event{ev}, Options{MaxSources: max})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	var steps []Step
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 4*max; j++ {
			n := uint32(i*4*max + j)
			a := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
			steps = m.Packet(now, Candidate{Src: a, Dst: a, Proto: UDP, DstPort: 7001}, steps[:0])
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4*max), "ns/packet")
	b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/float64(m.InProgress()), "heapB/source")
	runtime.KeepAlive(m)
}

// TestChurn: a small table that evicts many times over (and so rebuilds
// its index) still holds exactly the most recently seen sources, IPv4 and
// IPv6 (and an IPv4-mapped address apart from its IPv4 form), and their
// progress.
func TestChurn(t *testing.T) {
	c := newClock()
	ev := mustEvent(t, "C", "udp:1 udp:2", time.Hour, 0)
	m := mustMachine(t, Options{MaxSources: 4}, ev)
	var got []Step
	srcs := []string{}
	for i := 0; i < 50; i++ {
		srcs = append(srcs, fmt.Sprintf("192.0.2.%d", i), fmt.Sprintf("2001:db8::%x", i))
	}
	srcs = append(srcs, "::ffff:192.0.2.49")
	evicted := 0
	for _, s := range srcs {
		c.add(time.Millisecond)
		for _, st := range m.Packet(c.t, pkt(t, s, "udp:1"), nil) {
			if st.Kind == Evicted {
				evicted++
			}
		}
	}
	if evicted != len(srcs)-4 || m.InProgress() != 4 {
		t.Fatalf("%d evicted, %d in progress; want %d, 4", evicted, m.InProgress(), len(srcs)-4)
	}
	for _, s := range srcs {
		got = m.Packet(c.t, pkt(t, s, "udp:2"), got[:0])
		kept := s == "192.0.2.49" || s == "2001:db8::31" || s == "2001:db8::30" || s == "::ffff:192.0.2.49"
		if done := len(got) == 1 && got[0].Kind == Completed; done != kept {
			t.Errorf("%s: %s (kept: %v)", s, steps(got), kept)
		}
	}
	if m.InProgress() != 0 {
		t.Errorf("%d still in progress", m.InProgress())
	}
}

// TestStopOrder: stops of events with different delays, completed in a
// mixed order, come due sorted by due time, ties in completion order.
func TestStopOrder(t *testing.T) {
	c := newClock()
	evs := []Event{
		mustEvent(t, "A", "udp:1", time.Minute, 3*time.Second),
		mustEvent(t, "B", "udp:2", time.Minute, time.Second),
		mustEvent(t, "C", "udp:3", time.Minute, 2*time.Second),
	}
	m := mustMachine(t, Options{}, evs...)
	type due struct {
		at  time.Time
		seq int
	}
	var want []due
	for i := 0; i < 40; i++ {
		ev := (i * 7) % 3
		if i%4 == 0 {
			c.add(500 * time.Millisecond)
		}
		src := fmt.Sprintf("192.0.2.%d", i+1)
		m.Packet(c.t, pkt(t, src, fmt.Sprintf("udp:%d", ev+1)), nil)
		want = append(want, due{c.t.Add(evs[ev].CommandDelay), i})
	}
	got := m.Tick(c.t.Add(time.Hour), nil)
	if len(got) != len(want) {
		t.Fatalf("%d stops due, want %d", len(got), len(want))
	}
	var prev due
	for i, s := range got {
		var n int
		fmt.Sscanf(s.Src.String(), "192.0.2.%d", &n)
		d := want[n-1]
		if i > 0 && (d.at.Before(prev.at) || d.at.Equal(prev.at) && d.seq < prev.seq) {
			t.Fatalf("stop %d (%s) out of order", i, s)
		}
		prev = d
	}
}

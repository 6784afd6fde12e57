package sensortest

import (
	"context"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor"
)

// Patience is how long a test waits for something the kernel or a sensor
// will do (a report, a log line, a mode switch) before failing. It is
// generous so that a busy machine does not fail a test, and costs nothing
// when things work: tests assert order and counts, never speed.
const Patience = 10 * time.Second

// Eventually polls cond until it holds or Patience has passed, and
// reports whether it held: for things that settle asynchronously (a
// goroutine winding down, a descriptor closed), before a test asserts
// them.
func Eventually(cond func() bool) bool {
	for deadline := time.Now().Add(Patience); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// Report is one sensor.Sink.Seen call a Recorder recorded.
type Report struct {
	At     time.Time      // the at argument: when the sensor saw activity
	Packet *sensor.Packet // the packet, nil when the report carries none
}

// Recorder is a sensor.Sink for tests. Like the loop's sink it never
// blocks: reports go to the buffered channel C and are dropped when it is
// full, so size it for the test's traffic.
type Recorder struct {
	C chan Report
}

// NewRecorder returns a Recorder buffering up to size reports.
func NewRecorder(size int) *Recorder {
	return &Recorder{C: make(chan Report, size)}
}

// Seen records a report, or drops it if C is full.
func (r *Recorder) Seen(at time.Time, p *sensor.Packet) {
	select {
	case r.C <- Report{At: at, Packet: p}:
	default:
	}
}

// Next returns the next report, failing t if none arrives within timeout.
// what names the expected report in the failure message.
func (r *Recorder) Next(t testing.TB, timeout time.Duration, what string) Report {
	t.Helper()
	return r.Wait(t, timeout, what, nil)
}

// Wait returns the first report that satisfies match (nil matches any),
// discarding the others, and fails t if none arrives within timeout.
func (r *Recorder) Wait(t testing.TB, timeout time.Duration, what string, match func(Report) bool) Report {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case rep := <-r.C:
			if match == nil || match(rep) {
				return rep
			}
		case <-deadline.C:
			t.Fatalf("%s: no report within %v", what, timeout)
			return Report{}
		}
	}
}

// ExpectNone fails t if a report arrives within d; what says what the test
// was doing.
func (r *Recorder) ExpectNone(t testing.TB, d time.Duration, what string) {
	t.Helper()
	select {
	case rep := <-r.C:
		t.Fatalf("unexpected report while %s: at %v, packet %+v", what, rep.At, rep.Packet)
	case <-time.After(d):
	}
}

// Flush discards the reports recorded so far and returns how many there
// were.
func (r *Recorder) Flush() int {
	n := 0
	for {
		select {
		case <-r.C:
			n++
		default:
			return n
		}
	}
}

// Run runs s.Run with sink on a goroutine until the test ends; cleanup
// cancels it and fails the test unless Run returns nil within Patience.
func Run(t testing.TB, s sensor.Sensor, sink sensor.Sink) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(Patience):
			t.Errorf("Run did not return within %v after cancel", Patience)
		}
	})
}

package core

import (
	"sort"
	"sync"
	"time"
)

// FakeClock is a Clock for tests: time moves only when the test calls
// Advance, and timers fire synchronously inside Advance.
//
// It models the two clocks of a real system separately. Now returns
// readings that carry a monotonic component (they are derived from one
// time.Now() reading taken at construction by Time.Add, which keeps the
// monotonic reading), advanced only by Advance. Wall returns what a wall
// clock (or a kernel packet timestamp) would show: no monotonic reading,
// advanced by Advance and additionally moved by StepWall, the way NTP
// steps a router's clock at boot. The loop must never let Wall readings
// influence idle accounting; tests use StepWall to show it does not.
type FakeClock struct {
	mu       sync.Mutex
	base     time.Time     // has a monotonic reading
	elapsed  time.Duration // monotonic time since base
	wallStep time.Duration // sum of StepWall calls
	timers   []*fakeTimer
}

// NewFakeClock returns a FakeClock whose monotonic time starts now.
func NewFakeClock() *FakeClock {
	return &FakeClock{base: time.Now()}
}

// Now returns the fake monotonic time (a reading with a monotonic
// component).
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Add(c.elapsed)
}

// Wall returns the fake wall-clock time: no monotonic component, and
// shifted by every StepWall.
func (c *FakeClock) Wall() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Round(0).Add(c.elapsed + c.wallStep)
}

// StepWall moves only the wall clock by d (may be negative). Monotonic
// time, and therefore every timer, is unaffected.
func (c *FakeClock) StepWall(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wallStep += d
}

// Advance moves monotonic (and wall) time forward by d and fires, in
// deadline order, every timer that is due. Firing is a non-blocking send on
// the timer's 1-slot channel, as with package time.
func (c *FakeClock) Advance(d time.Duration) {
	if d < 0 {
		panic("core: FakeClock.Advance with negative duration")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.elapsed += d
	now := c.base.Add(c.elapsed)
	sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at < c.timers[j].at })
	keep := c.timers[:0]
	for _, t := range c.timers {
		if t.at <= c.elapsed {
			select {
			case t.ch <- now:
			default:
			}
			continue
		}
		keep = append(keep, t)
	}
	// Clear the tail so fired timers are not kept alive.
	for i := len(keep); i < len(c.timers); i++ {
		c.timers[i] = nil
	}
	c.timers = keep
}

// Elapsed returns how much monotonic time has passed since NewFakeClock.
func (c *FakeClock) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.elapsed
}

// Pending returns the number of timers that have neither fired nor been
// stopped.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NextDeadline returns the monotonic offset (since NewFakeClock) of the
// earliest pending timer, and false when none is pending.
func (c *FakeClock) NextDeadline() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return 0, false
	}
	first := c.timers[0].at
	for _, t := range c.timers[1:] {
		if t.at < first {
			first = t.at
		}
	}
	return first, true
}

// NewTimer returns a timer that fires when Advance has moved the clock d
// past the current time. A timer with d <= 0 fires immediately.
func (c *FakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.elapsed + d, ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.base.Add(c.elapsed)
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

type fakeTimer struct {
	c  *FakeClock
	at time.Duration
	ch chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			// Like package time since Go 1.23: after Stop no stale value
			// is received.
			select {
			case <-t.ch:
			default:
			}
			return true
		}
	}
	select {
	case <-t.ch:
	default:
	}
	return false
}

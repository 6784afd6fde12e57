package core

import "time"

// Clock is the loop's source of time. Idle accounting only ever subtracts
// two readings of the same Clock (or a sensor's time.Now() reading), so with
// the real clock every difference is taken on the monotonic clock and a
// wall-clock step (NTP at boot) can neither fire nor suppress a stop.
// Implementations must be safe for use from several goroutines.
type Clock interface {
	// Now returns the current time. The result must carry a monotonic
	// reading (as time.Now's does) so that Sub between two readings ignores
	// wall-clock steps.
	Now() time.Time
	// NewTimer returns a timer that delivers one value on its channel once
	// d has elapsed on this clock.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer created by a Clock.
type Timer interface {
	// C is the channel the expiry is delivered on.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether the call
	// stopped the timer (false if it had already fired or been stopped).
	Stop() bool
}

// RealClock is the Clock backed by package time. Its zero value is ready.
type RealClock struct{}

// Now returns time.Now(), which carries a monotonic reading.
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

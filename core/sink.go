package core

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/tuninetd/tuninetd/sensor"
)

// noActivity is the "last seen" value of a sensor that never reported.
const noActivity = math.MinInt64

// armToken marks one period during which a sensor's packets may trigger a
// start. Tokens are compared by identity, so a packet stored for an
// earlier period can never be mistaken for one of the current period.
type armToken struct {
	since int64 // packets stamped earlier than this do not trigger
}

// trigger is a packet a sensor saw while armed.
type trigger struct {
	tok  *armToken
	at   int64 // monotonic ns since the loop's epoch
	p    *sensor.Packet
	sink int
}

// sink is the sensor.Sink of one sensor. Seen never blocks and never
// waits for the loop: activity is an atomic maximum, the first packet of
// an armed period goes into a one-packet slot, and the loop is woken
// through a shared 1-slot channel.
type sink struct {
	idx   int
	clock Clock
	epoch time.Time
	wake  chan<- struct{}

	last    atomic.Int64 // newest activity, monotonic ns since epoch
	arm     atomic.Pointer[armToken]
	pending atomic.Pointer[trigger]
}

func newSink(idx int, clock Clock, epoch time.Time, wake chan<- struct{}) *sink {
	s := &sink{idx: idx, clock: clock, epoch: epoch, wake: wake}
	s.last.Store(noActivity)
	return s
}

// Seen implements sensor.Sink.
func (s *sink) Seen(at time.Time, p *sensor.Packet) {
	t := s.mono(at)
	for {
		old := s.last.Load()
		if t <= old || s.last.CompareAndSwap(old, t) {
			break
		}
	}
	if p == nil {
		// Evidence of activity without a packet (counters, drops) keeps
		// the up state alive but never starts: only a packet does, as in
		// the original.
		return
	}
	tok := s.arm.Load()
	if tok == nil || t < tok.since {
		return
	}
	for {
		cur := s.pending.Load()
		if cur != nil && cur.tok == tok {
			return // this period already has its trigger
		}
		if s.pending.CompareAndSwap(cur, &trigger{tok: tok, at: t, p: p, sink: s.idx}) {
			select {
			case s.wake <- struct{}{}:
			default:
			}
			return
		}
	}
}

// mono converts a sensor's time stamp to monotonic nanoseconds since the
// loop's epoch. A stamp without a monotonic reading (a wall-clock or
// kernel time stamp, against the Sink contract) is replaced by the
// clock's current reading, so a stepped wall clock can never move a
// sensor's activity into the past or the future. Stamps from the future
// are clamped to now.
func (s *sink) mono(at time.Time) int64 {
	now := s.clock.Now().Sub(s.epoch)
	// Round(0) strips the monotonic reading; it changes the value only
	// when there was one to strip.
	if at == at.Round(0) {
		return int64(now)
	}
	if d := at.Sub(s.epoch); d < now {
		return int64(d)
	}
	return int64(now)
}

// armAt lets packets stamped at or after since trigger a start.
func (s *sink) armAt(since int64) {
	s.arm.Store(&armToken{since: since})
}

// disarm stops packets from triggering and drops a stored trigger.
func (s *sink) disarm() {
	s.arm.Store(nil)
	s.pending.Store(nil)
}

// armedTrigger returns the stored trigger if it belongs to the current
// armed period, or nil.
func (s *sink) armedTrigger() *trigger {
	tr := s.pending.Load()
	if tr == nil {
		return nil
	}
	if tok := s.arm.Load(); tok == nil || tr.tok != tok {
		return nil
	}
	return tr
}

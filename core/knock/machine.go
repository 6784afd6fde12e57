package knock

import (
	"container/heap"
	"fmt"
	"net/netip"
	"time"
)

// DefaultMaxSources is the default bound of the progress table: sources
// in the middle of a sequence, counted per (event, source).
const DefaultMaxSources = 65536

// Options tune a Machine.
type Options struct {
	// MaxSources bounds the (event, source) pairs in progress; when full,
	// the least recently seen pair is dropped to make room. 0 means
	// DefaultMaxSources.
	MaxSources int
	// MaxPendingStops bounds the stop commands waiting for their delay.
	// A completion that would need one more is refused: its start does
	// not run, so every start that ran keeps its stop. 0 means
	// MaxSources.
	MaxPendingStops int
}

// StepKind is what happened to a source's progress.
type StepKind int

// Steps a Machine reports.
const (
	// Advanced: the packet was the next frame; Step.Frame frames of the
	// sequence are done now.
	Advanced StepKind = iota
	// Completed: the packet was the last frame. Step.Action is the start.
	Completed
	// Reset: the packet was a frame of the event but not the next one;
	// Step.Frame frames were done. The packet is then tried as the first
	// frame (an Advanced or Completed step may follow).
	Reset
	// Expired: the timeout passed with Step.Frame frames done.
	Expired
	// Evicted: the table was full and this pair was the least recently
	// seen; Step.Frame frames were done.
	Evicted
	// Refused: the sequence was completed but MaxPendingStops stops are
	// waiting already, so the start does not run.
	Refused
	// StopDue: a start's command delay has passed. Step.Action is the stop.
	StopDue
)

var stepNames = [...]string{"advanced", "completed", "reset", "expired", "evicted", "refused", "stop due"}

func (k StepKind) String() string {
	if int(k) < len(stepNames) {
		return stepNames[k]
	}
	return fmt.Sprintf("StepKind(%d)", int(k))
}

// Step is one change a Machine reports, for the debug log and, when it
// carries one, for the command to run.
type Step struct {
	Kind  StepKind
	Event *Event
	Src   netip.Addr
	// Frame counts the frames done: after the step for Advanced and
	// Completed, before it for Reset, Expired and Evicted.
	Frame int
}

// Action returns the command a Completed (start) or StopDue (stop) step
// calls for.
func (s Step) Action() (Action, bool) {
	switch s.Kind {
	case Completed:
		return Action{Kind: Start, Event: s.Event, Src: s.Src}, true
	case StopDue:
		return Action{Kind: Stop, Event: s.Event, Src: s.Src}, true
	}
	return Action{}, false
}

// String is the step as the debug log shows it, for example
// "SSH: 192.0.2.7 frame 2/6 tcp:543 advanced".
func (s Step) String() string {
	n := len(s.Event.Sequence)
	switch s.Kind {
	case Advanced, Completed:
		return fmt.Sprintf("%s: %s frame %d/%d %v %v", s.Event.Name, s.Src, s.Frame, n, s.Event.Sequence[s.Frame-1], s.Kind)
	case StopDue, Refused:
		return fmt.Sprintf("%s: %s %v", s.Event.Name, s.Src, s.Kind)
	}
	return fmt.Sprintf("%s: %s %v after %d/%d frames", s.Event.Name, s.Src, s.Kind, s.Frame, n)
}

// Machine follows every source's progress through every event's
// sequence. It is pure logic: time comes in as arguments (readings of a
// monotonic clock that never go backwards), and what it decides goes out
// as Steps. It is not safe for concurrent use; one goroutine owns it.
//
// Per packet and per event the cost is a map lookup and a few pointer
// moves, whatever the number of sources.
type Machine struct {
	events   []Event
	max      int
	maxStops int

	table map[key]*entry
	// lru links every entry, most recently seen first.
	lru ring
	// started links each event's entries in the order their first frame
	// came, which is deadline order since an event has one timeout.
	started []ring
	free    *entry // removed entries, reused
	stops   stopHeap
	stopSeq uint64
}

type key struct {
	event int
	src   netip.Addr
}

type entry struct {
	key      key
	done     int // frames done, 1 to len(sequence)-1
	deadline time.Time
	lru, ev  link
}

// link is an intrusive list node; ring is a list's sentinel.
type link struct {
	prev, next *entry
}

type ring struct {
	head, tail *entry
	n          int
}

func (r *ring) pushFront(e *entry, l func(*entry) *link) {
	l(e).prev, l(e).next = nil, r.head
	if r.head != nil {
		l(r.head).prev = e
	} else {
		r.tail = e
	}
	r.head = e
	r.n++
}

func (r *ring) pushBack(e *entry, l func(*entry) *link) {
	l(e).prev, l(e).next = r.tail, nil
	if r.tail != nil {
		l(r.tail).next = e
	} else {
		r.head = e
	}
	r.tail = e
	r.n++
}

func (r *ring) remove(e *entry, l func(*entry) *link) {
	n := l(e)
	if n.prev != nil {
		l(n.prev).next = n.next
	} else {
		r.head = n.next
	}
	if n.next != nil {
		l(n.next).prev = n.prev
	} else {
		r.tail = n.prev
	}
	n.prev, n.next = nil, nil
	r.n--
}

func lruLink(e *entry) *link { return &e.lru }
func evLink(e *entry) *link  { return &e.ev }

// NewMachine returns a Machine for events, which it copies. Names must be
// unique and every event valid (Event.Validate).
func NewMachine(events []Event, opt Options) (*Machine, error) {
	if opt.MaxSources < 0 || opt.MaxPendingStops < 0 {
		return nil, fmt.Errorf("knock: negative limit")
	}
	if opt.MaxSources == 0 {
		opt.MaxSources = DefaultMaxSources
	}
	if opt.MaxPendingStops == 0 {
		opt.MaxPendingStops = opt.MaxSources
	}
	m := &Machine{
		events:   make([]Event, len(events)),
		max:      opt.MaxSources,
		maxStops: opt.MaxPendingStops,
		table:    make(map[key]*entry),
		started:  make([]ring, len(events)),
	}
	names := make(map[string]bool, len(events))
	for i := range events {
		e := events[i]
		if err := e.Validate(); err != nil {
			return nil, err
		}
		if names[e.Name] {
			return nil, fmt.Errorf("duplicate event %s", e.Name)
		}
		names[e.Name] = true
		e.Sequence = append([]Frame(nil), e.Sequence...)
		m.events[i] = e
	}
	return m, nil
}

// Events returns the machine's events, in configuration order. The
// caller must not change them.
func (m *Machine) Events() []Event { return m.events }

// InProgress returns the number of (event, source) pairs in the table.
func (m *Machine) InProgress() int { return len(m.table) }

// PendingStops returns the number of stop commands waiting for their delay.
func (m *Machine) PendingStops() int { return len(m.stops) }

// Packet feeds one candidate seen at now, appending what it caused to
// steps. Each event sees the packet; sources never affect one another.
func (m *Machine) Packet(now time.Time, c Candidate, steps []Step) []Step {
	src := c.Src.WithZone("")
	for i := range m.events {
		steps = m.feed(now, i, src, c, steps)
	}
	return steps
}

func (m *Machine) feed(now time.Time, ev int, src netip.Addr, c Candidate, steps []Step) []Step {
	e := &m.events[ev]
	k := key{ev, src}
	if en := m.table[k]; en != nil {
		switch {
		case !now.Before(en.deadline):
			steps = append(steps, Step{Kind: Expired, Event: e, Src: src, Frame: en.done})
			m.drop(en)
		case e.Sequence[en.done].Match(c):
			en.done++
			if en.done == len(e.Sequence) {
				m.drop(en)
				return m.complete(now, e, src, steps)
			}
			m.lru.remove(en, lruLink)
			m.lru.pushFront(en, lruLink)
			return append(steps, Step{Kind: Advanced, Event: e, Src: src, Frame: en.done})
		case matchesAny(e.Sequence, c):
			steps = append(steps, Step{Kind: Reset, Event: e, Src: src, Frame: en.done})
			m.drop(en)
		default:
			return steps // not a frame of this event: progress stays
		}
	}
	if !e.Sequence[0].Match(c) {
		return steps
	}
	if len(e.Sequence) == 1 {
		return m.complete(now, e, src, steps)
	}
	if len(m.table) >= m.max {
		old := m.lru.tail
		steps = append(steps, Step{Kind: Evicted, Event: &m.events[old.key.event], Src: old.key.src, Frame: old.done})
		m.drop(old)
	}
	en := m.free
	if en != nil {
		m.free = en.lru.next
		en.lru.next = nil
	} else {
		en = new(entry)
	}
	en.key, en.done, en.deadline = k, 1, now.Add(e.Timeout)
	m.table[k] = en
	m.lru.pushFront(en, lruLink)
	m.started[ev].pushBack(en, evLink)
	return append(steps, Step{Kind: Advanced, Event: e, Src: src, Frame: 1})
}

func matchesAny(seq []Frame, c Candidate) bool {
	for _, f := range seq {
		if f.Match(c) {
			return true
		}
	}
	return false
}

// complete reports a finished sequence and schedules its stop.
func (m *Machine) complete(now time.Time, e *Event, src netip.Addr, steps []Step) []Step {
	if e.StopCommand != "" {
		if len(m.stops) >= m.maxStops {
			return append(steps, Step{Kind: Refused, Event: e, Src: src, Frame: len(e.Sequence)})
		}
		m.stopSeq++
		heap.Push(&m.stops, pendingStop{due: now.Add(e.CommandDelay), seq: m.stopSeq, event: e, src: src})
	}
	return append(steps, Step{Kind: Completed, Event: e, Src: src, Frame: len(e.Sequence)})
}

// drop removes an entry from the table and both lists.
func (m *Machine) drop(en *entry) {
	delete(m.table, en.key)
	m.lru.remove(en, lruLink)
	m.started[en.key.event].remove(en, evLink)
	*en = entry{}
	en.lru.next = m.free
	m.free = en
}

// Tick expires progress whose timeout has passed and reports stops that
// are due at now, in due order (ties in completion order).
func (m *Machine) Tick(now time.Time, steps []Step) []Step {
	for i := range m.started {
		r := &m.started[i]
		for r.head != nil && !now.Before(r.head.deadline) {
			en := r.head
			steps = append(steps, Step{Kind: Expired, Event: &m.events[i], Src: en.key.src, Frame: en.done})
			m.drop(en)
		}
	}
	for len(m.stops) > 0 && !now.Before(m.stops[0].due) {
		s := heap.Pop(&m.stops).(pendingStop)
		steps = append(steps, Step{Kind: StopDue, Event: s.event, Src: s.src})
	}
	return steps
}

// NextWake returns when Tick next has something to do: the earliest
// deadline in progress or stop due; ok is false when there is none.
func (m *Machine) NextWake() (t time.Time, ok bool) {
	for i := range m.started {
		if h := m.started[i].head; h != nil && (!ok || h.deadline.Before(t)) {
			t, ok = h.deadline, true
		}
	}
	if len(m.stops) > 0 && (!ok || m.stops[0].due.Before(t)) {
		t, ok = m.stops[0].due, true
	}
	return t, ok
}

// Pending returns the stops still waiting, in due order, for a shutdown
// that runs them all at once (so no firewall hole outlives the daemon).
// It empties the queue.
func (m *Machine) Pending() []Action {
	out := make([]Action, 0, len(m.stops))
	for len(m.stops) > 0 {
		s := heap.Pop(&m.stops).(pendingStop)
		out = append(out, Action{Kind: Stop, Event: s.event, Src: s.src})
	}
	return out
}

type pendingStop struct {
	due   time.Time
	seq   uint64
	event *Event
	src   netip.Addr
}

// stopHeap is a min-heap of stops by due time, then completion order.
type stopHeap []pendingStop

func (h stopHeap) Len() int { return len(h) }
func (h stopHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h stopHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *stopHeap) Push(x any)   { *h = append(*h, x.(pendingStop)) }
func (h *stopHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = pendingStop{}
	*h = old[:len(old)-1]
	return x
}

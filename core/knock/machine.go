package knock

import (
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
// Per packet and per event the cost is a map lookup and a few index
// moves, whatever the number of sources. The table holds no pointers:
// entries live in one slice linked by index and the map's keys are plain
// bytes, so a full table is one allocation the garbage collector never
// scans: about 130 bytes a source (BenchmarkFlood).
type Machine struct {
	events   []Event
	max      int
	maxStops int

	table map[key]int32
	// churn counts removals since the table was last rebuilt (see
	// drop).
	churn   int
	entries []entry
	// lru links every entry, most recently seen first.
	lru ring
	// started links each event's entries in the order their first frame
	// came, which is deadline order since an event has one timeout.
	started []ring
	free    int32 // removed entries, linked through lru.next; none = -1
	// epoch is the time of the first packet; deadlines are kept as
	// offsets from it.
	epoch   time.Time
	stops   stopHeap
	stopSeq uint64
}

// key is an (event, source) pair without pointers: the address's 16
// bytes and whether it is IPv4 (netip keeps 192.0.2.1 and
// ::ffff:192.0.2.1 apart, and so do we).
type key struct {
	addr  [16]byte
	event int32
	is4   bool
}

func keyOf(event int, src netip.Addr) key {
	return key{addr: src.As16(), event: int32(event), is4: src.Is4()}
}

func (k key) src() netip.Addr {
	a := netip.AddrFrom16(k.addr)
	if k.is4 {
		return a.Unmap()
	}
	return a
}

type entry struct {
	key      key
	done     int32         // frames done, 1 to len(sequence)-1
	deadline time.Duration // since Machine.epoch
	lru, ev  link
}

// none is the null index of the lists.
const none = -1

// link is an intrusive list node; ring is a list's sentinel.
type link struct {
	prev, next int32
}

type ring struct {
	head, tail int32
	n          int
}

func emptyRing() ring { return ring{head: none, tail: none} }

func (m *Machine) pushFront(r *ring, i int32, l func(*entry) *link) {
	n := l(&m.entries[i])
	n.prev, n.next = none, r.head
	if r.head != none {
		l(&m.entries[r.head]).prev = i
	} else {
		r.tail = i
	}
	r.head = i
	r.n++
}

func (m *Machine) pushBack(r *ring, i int32, l func(*entry) *link) {
	n := l(&m.entries[i])
	n.prev, n.next = r.tail, none
	if r.tail != none {
		l(&m.entries[r.tail]).next = i
	} else {
		r.head = i
	}
	r.tail = i
	r.n++
}

func (m *Machine) remove(r *ring, i int32, l func(*entry) *link) {
	n := l(&m.entries[i])
	if n.prev != none {
		l(&m.entries[n.prev]).next = n.next
	} else {
		r.head = n.next
	}
	if n.next != none {
		l(&m.entries[n.next]).prev = n.prev
	} else {
		r.tail = n.prev
	}
	n.prev, n.next = none, none
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
		table:    make(map[key]int32),
		lru:      emptyRing(),
		started:  make([]ring, len(events)),
		free:     none,
	}
	for i := range m.started {
		m.started[i] = emptyRing()
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
	k := keyOf(ev, src)
	if m.epoch.IsZero() {
		m.epoch = now
	}
	at := now.Sub(m.epoch)
	if i, ok := m.table[k]; ok {
		en := &m.entries[i]
		switch {
		case at >= en.deadline:
			steps = append(steps, Step{Kind: Expired, Event: e, Src: src, Frame: int(en.done)})
			m.drop(i)
		case e.Sequence[en.done].Match(c):
			en.done++
			if int(en.done) == len(e.Sequence) {
				m.drop(i)
				return m.complete(now, e, src, steps)
			}
			done := int(en.done)
			m.remove(&m.lru, i, lruLink)
			m.pushFront(&m.lru, i, lruLink)
			return append(steps, Step{Kind: Advanced, Event: e, Src: src, Frame: done})
		case matchesAny(e.Sequence, c):
			steps = append(steps, Step{Kind: Reset, Event: e, Src: src, Frame: int(en.done)})
			m.drop(i)
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
		oe := &m.entries[old]
		steps = append(steps, Step{Kind: Evicted, Event: &m.events[oe.key.event], Src: oe.key.src(), Frame: int(oe.done)})
		m.drop(old)
	}
	i := m.free
	if i != none {
		m.free = m.entries[i].lru.next
	} else {
		i = int32(len(m.entries))
		m.entries = append(m.entries, entry{})
	}
	m.entries[i] = entry{key: k, done: 1, deadline: at + e.Timeout}
	m.table[k] = i
	m.pushFront(&m.lru, i, lruLink)
	m.pushBack(&m.started[ev], i, evLink)
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
		m.stops.push(pendingStop{due: now.Add(e.CommandDelay), seq: m.stopSeq, event: e, src: src})
	}
	return append(steps, Step{Kind: Completed, Event: e, Src: src, Frame: len(e.Sequence)})
}

// drop removes an entry from the table and both lists.
func (m *Machine) drop(i int32) {
	en := &m.entries[i]
	delete(m.table, en.key)
	m.remove(&m.lru, i, lruLink)
	m.remove(&m.started[en.key.event], i, evLink)
	m.entries[i] = entry{lru: link{prev: none, next: m.free}}
	m.free = i
	// A map that keeps losing and gaining keys grows on its deleted
	// slots (measured: half again the memory of a full table under a
	// flood of spoofed sources). Building it anew after as many removals
	// as the table holds costs one insertion per removal, amortized.
	if m.churn++; m.churn >= m.max && len(m.table) > 0 {
		m.rebuild()
	}
}

// rebuild copies the table into a new map of its size.
func (m *Machine) rebuild() {
	t := make(map[key]int32, len(m.table))
	for k, i := range m.table {
		t[k] = i
	}
	m.table, m.churn = t, 0
}

// Tick expires progress whose timeout has passed and reports stops that
// are due at now, in due order (ties in completion order).
func (m *Machine) Tick(now time.Time, steps []Step) []Step {
	if !m.epoch.IsZero() {
		at := now.Sub(m.epoch)
		for ev := range m.started {
			r := &m.started[ev]
			for r.head != none && at >= m.entries[r.head].deadline {
				i := r.head
				en := &m.entries[i]
				steps = append(steps, Step{Kind: Expired, Event: &m.events[ev], Src: en.key.src(), Frame: int(en.done)})
				m.drop(i)
			}
		}
	}
	for len(m.stops) > 0 && !now.Before(m.stops[0].due) {
		s := m.stops.pop()
		steps = append(steps, Step{Kind: StopDue, Event: s.event, Src: s.src})
	}
	return steps
}

// NextWake returns when Tick next has something to do: the earliest
// deadline in progress or stop due; ok is false when there is none.
func (m *Machine) NextWake() (t time.Time, ok bool) {
	for i := range m.started {
		if h := m.started[i].head; h != none {
			if d := m.epoch.Add(m.entries[h].deadline); !ok || d.Before(t) {
				t, ok = d, true
			}
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
		s := m.stops.pop()
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

// stopHeap is a min-heap of stops by due time, then completion order:
// its own few lines rather than container/heap's interface, which costs
// the binary more than it saves here.
type stopHeap []pendingStop

func (h stopHeap) less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}

func (h *stopHeap) push(s pendingStop) {
	*h = append(*h, s)
	for i := len(*h) - 1; i > 0; {
		up := (i - 1) / 2
		if !h.less(i, up) {
			break
		}
		(*h)[i], (*h)[up] = (*h)[up], (*h)[i]
		i = up
	}
}

func (h *stopHeap) pop() pendingStop {
	old := *h
	top := old[0]
	last := len(old) - 1
	old[0] = old[last]
	old[last] = pendingStop{}
	*h = old[:last]
	for i := 0; ; {
		min, l, r := i, 2*i+1, 2*i+2
		if l < last && h.less(l, min) {
			min = l
		}
		if r < last && h.less(r, min) {
			min = r
		}
		if min == i {
			break
		}
		(*h)[i], (*h)[min] = (*h)[min], (*h)[i]
		i = min
	}
	return top
}

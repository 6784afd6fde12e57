package tportknockd

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tuninetd/tuninetd/cmd/internal/config"
	"github.com/tuninetd/tuninetd/core/knock"
)

// syntax is the original's configuration format: <NAME> blocks of
// name = value entries, with trailing comments.
var syntax = config.Syntax{Blocks: true, TrailingComments: true}

// Keys of an event block.
const (
	keySequence     = "sequence"
	keyTimeout      = "timeout"
	keyStartCommand = "start_command"
	keyStopCommand  = "stop_command"
	keyCommandDelay = "command_delay"
)

// ReadConfig reads and checks a knock configuration file.
func ReadConfig(path string) ([]knock.Event, error) {
	f, err := config.Read(path, syntax)
	if err != nil {
		return nil, err
	}
	return events(f)
}

// ParseConfig checks a knock configuration read from r; path names it in
// errors.
func ParseConfig(path string, r io.Reader) ([]knock.Event, error) {
	f, err := config.Parse(path, r, syntax)
	if err != nil {
		return nil, err
	}
	return events(f)
}

// events turns the file's blocks into events. Every error names the line.
func events(f *config.File) ([]knock.Event, error) {
	if len(f.Entries) > 0 {
		e := f.Entries[0]
		return nil, e.Pos.Errorf("%s outside any <EVENT> block", e.Name)
	}
	if len(f.Blocks) == 0 {
		return nil, fmt.Errorf("%s: no knock events: the file has no <NAME> ... </NAME> block", f.Path)
	}
	out := make([]knock.Event, 0, len(f.Blocks))
	for _, b := range f.Blocks {
		ev, err := event(b)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

func event(b config.Block) (knock.Event, error) {
	ev := knock.Event{Name: b.Name, Timeout: knock.DefaultTimeout}
	seen := make(map[string]config.Entry)
	for _, e := range b.Entries {
		if first, dup := seen[e.Name]; dup {
			return ev, e.Pos.Errorf("%s given twice in <%s> (first at line %d)", e.Name, b.Name, first.Pos.Line)
		}
		switch e.Name {
		case keySequence, keyTimeout, keyStartCommand, keyStopCommand, keyCommandDelay:
		default:
			return ev, e.Pos.Errorf("unknown key %q in <%s> (want %s)", e.Name, b.Name,
				strings.Join([]string{keySequence, keyTimeout, keyStartCommand, keyStopCommand, keyCommandDelay}, ", "))
		}
		seen[e.Name] = e
		if e.Value == "" {
			return ev, e.Pos.Errorf("%s needs a value", e.Name)
		}
		var err error
		switch e.Name {
		case keySequence:
			ev.Sequence, err = knock.ParseSequence(e.Value)
		case keyTimeout:
			ev.Timeout, err = parseSeconds(e.Value, knock.MaxTimeout)
		case keyStartCommand:
			ev.StartCommand = e.Value
		case keyStopCommand:
			ev.StopCommand = e.Value
		case keyCommandDelay:
			ev.CommandDelay, err = parseSeconds(e.Value, knock.MaxCommandDelay)
		}
		if err != nil {
			return ev, e.Pos.Errorf("%s: %v", e.Name, err)
		}
	}
	if _, ok := seen[keySequence]; !ok {
		return ev, b.Pos.Errorf("<%s> has no %s", b.Name, keySequence)
	}
	if _, ok := seen[keyStartCommand]; !ok {
		return ev, b.Pos.Errorf("<%s> has no %s", b.Name, keyStartCommand)
	}
	stop, hasStop := seen[keyStopCommand]
	delay, hasDelay := seen[keyCommandDelay]
	switch {
	case hasDelay && !hasStop:
		return ev, delay.Pos.Errorf("%s without %s: there is no command to delay", keyCommandDelay, keyStopCommand)
	case hasStop && !hasDelay:
		return ev, stop.Pos.Errorf("%s needs %s (seconds after the start command)", keyStopCommand, keyCommandDelay)
	}
	if err := ev.Validate(); err != nil {
		// Every rule Validate knows is checked above with its line; this
		// is the guard that both stay the same rules.
		return ev, b.Pos.Errorf("%v", err)
	}
	return ev, nil
}

// parseSeconds reads a whole number of seconds, 1 to max.
func parseSeconds(s string, max time.Duration) (time.Duration, error) {
	n := int64(0)
	limit := int64(max / time.Second)
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("invalid value %q: want whole seconds, 1 to %d", s, limit)
		}
		n = n*10 + int64(s[i]-'0')
		if n > limit {
			return 0, fmt.Errorf("%s seconds out of range: want 1 to %d", s, limit)
		}
	}
	if n < 1 {
		return 0, fmt.Errorf("%s seconds out of range: want 1 to %d", s, limit)
	}
	return time.Duration(n) * time.Second, nil
}

// Summary returns the -C report: one line per event in its normalized
// form (knock.Event.String).
func Summary(events []knock.Event) string {
	var b strings.Builder
	for i := range events {
		b.WriteString(events[i].String())
		b.WriteByte('\n')
	}
	return b.String()
}

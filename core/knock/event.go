package knock

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Limits of an event's durations, in whole seconds as configured.
const (
	// DefaultTimeout is the time a sequence may take when the event does
	// not say.
	DefaultTimeout = 10 * time.Second
	// MaxTimeout bounds a sequence's time: progress older than that is a
	// table entry an attacker keeps alive for free.
	MaxTimeout = time.Hour
	// MaxCommandDelay bounds the delay of a stop command (30 days).
	MaxCommandDelay = 30 * 24 * time.Hour
)

// Event is a knock: a sequence of frames one source must send within
// Timeout, and the commands that answer it.
type Event struct {
	// Name is unique among the events; it names the event in logs and
	// in the command's environment.
	Name string
	// Sequence has 1 to MaxFrames frames.
	Sequence []Frame
	// Timeout runs from the first frame; the last must arrive before it
	// ends (1 s to MaxTimeout).
	Timeout time.Duration
	// StartCommand runs when a source completes the sequence.
	StartCommand string
	// StopCommand, when set, runs CommandDelay after each start for the
	// same source; CommandDelay is then 1 s to MaxCommandDelay, else 0.
	StopCommand  string
	CommandDelay time.Duration
}

// Validate checks the rules Event's fields document. The configuration
// reader reports the same problems with their place in the file; this is
// the check for events built in code.
func (e *Event) Validate() error {
	switch {
	case e.Name == "":
		return fmt.Errorf("event has no name")
	case len(e.Sequence) == 0:
		return fmt.Errorf("event %s: empty sequence", e.Name)
	case len(e.Sequence) > MaxFrames:
		return fmt.Errorf("event %s: sequence has %d frames, more than %d", e.Name, len(e.Sequence), MaxFrames)
	case e.Timeout < time.Second || e.Timeout > MaxTimeout:
		return fmt.Errorf("event %s: timeout %v out of range (1s to %v)", e.Name, e.Timeout, MaxTimeout)
	case e.StartCommand == "":
		return fmt.Errorf("event %s: no start command", e.Name)
	case e.StopCommand == "" && e.CommandDelay != 0:
		return fmt.Errorf("event %s: command delay without stop command", e.Name)
	case e.StopCommand != "" && (e.CommandDelay < time.Second || e.CommandDelay > MaxCommandDelay):
		return fmt.Errorf("event %s: command delay %v out of range (1s to %v)", e.Name, e.CommandDelay, MaxCommandDelay)
	}
	for i, f := range e.Sequence {
		if (f.Proto != TCP && f.Proto != UDP) || f.Port == 0 ||
			(f.Proto == UDP && (f.Flags != 0 || f.AnyFlags)) || f.Flags&^Tested != 0 || (f.AnyFlags && f.Flags != 0) {
			return fmt.Errorf("event %s: frame %d (%v) is not a valid frame", e.Name, i+1, f)
		}
	}
	return nil
}

// String returns the event's one-line normalized form, as -C prints it:
//
//	NAME: FRAME... timeout Ns[ stop after Ms]
func (e *Event) String() string {
	s := e.Name + ": " + SequenceString(e.Sequence) + " timeout " + seconds(e.Timeout)
	if e.StopCommand != "" {
		s += " stop after " + seconds(e.CommandDelay)
	}
	return s
}

func seconds(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// AddrPlaceholder in a command is replaced by the knocking address.
const AddrPlaceholder = "%IP%"

// Command returns cmd with every %IP% replaced by src, formatted by
// netip (IPv4 dotted quad, IPv6 in RFC 5952 form, never a zone). That
// string of digits, dots, hex letters and colons is the only part of a
// packet that ever reaches the shell.
func Command(cmd string, src netip.Addr) string {
	if !strings.Contains(cmd, AddrPlaceholder) {
		return cmd
	}
	return strings.ReplaceAll(cmd, AddrPlaceholder, src.WithZone("").String())
}

// ActionKind tells which of an event's commands an Action runs.
type ActionKind int

// The two commands of an event.
const (
	Start ActionKind = iota
	Stop
)

// String returns "start" or "stop".
func (k ActionKind) String() string {
	if k == Stop {
		return "stop"
	}
	return "start"
}

// Action is a command due for a source: the start after a completed
// sequence, or the delayed stop.
//
// The daemon hands Command() to its runner with an environment built by
// the shared command-environment builder under the TPORTKNOCKD_ prefix
// from these typed fields: the event name (Event.Name), the action
// (Kind), the address (Src, formatted as in Command) and the family
// (Family: 4 or 6). Nothing else of the packet goes there.
type Action struct {
	Kind  ActionKind
	Event *Event
	Src   netip.Addr
}

// Command returns the shell command with %IP% substituted.
func (a Action) Command() string {
	if a.Kind == Stop {
		return Command(a.Event.StopCommand, a.Src)
	}
	return Command(a.Event.StartCommand, a.Src)
}

// Family returns 4 or 6: the IP version of the packet Src came in (an
// IPv4-mapped source arrived over IPv6).
func (a Action) Family() int {
	if a.Src.Is4() {
		return 4
	}
	return 6
}

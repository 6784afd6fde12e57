package core

import (
	"context"
	"errors"
	"time"
)

// Command is one run of the user's executable, as the loop asks for it.
type Command struct {
	// Event names the run ("start" or "stop" for tuninetd); it prefixes
	// the command's output lines and the runner's messages about it.
	Event string
	// Line is the full shell command string (tuninetd's is
	// "<Config.Command> <Event>").
	// Nothing taken from a packet is ever part of it: packet data reaches
	// the command only through Env.
	Line string
	// Env holds the variables describing this run (Trigger.Env builds
	// them). They are added to the daemon's environment after the
	// variables it inherited under Env's prefix are removed.
	Env Env
	// Timeout bounds the run; when it expires the whole process group is
	// killed. Zero means no limit.
	Timeout time.Duration
}

// Runner executes commands for the loop. The loop calls Run on a goroutine
// of its own, never on the loop goroutine, and at most one Run is in
// progress at a time. Run returns when the command's process has exited
// (not when every descendant has closed its output), with nil for exit
// code 0 and an error otherwise.
type Runner interface {
	Run(ctx context.Context, c Command) error
}

// ErrTimeout is wrapped by the error Run returns when Command.Timeout
// expired and the command's process group was killed.
var ErrTimeout = errors.New("command timed out")

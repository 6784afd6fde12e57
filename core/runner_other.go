//go:build !unix

package core

import (
	"context"
	"errors"
	"time"
)

// ShellRunner is the default Runner. Process groups and /bin/sh are Unix
// notions, so on other systems it only reports that it cannot run; the
// loop's state machine still builds and is tested with a fake Runner.
type ShellRunner struct {
	// Log receives output lines; unused here.
	Log Logger
	// Shell is the shell binary; unused here.
	Shell string
	// OutputGrace bounds waiting for the end of the output; unused here.
	OutputGrace time.Duration
}

// Run implements Runner; it always fails on non-Unix systems.
func (r *ShellRunner) Run(ctx context.Context, c Command) error {
	return errors.New(c.Event + " command: running commands needs a Unix system")
}

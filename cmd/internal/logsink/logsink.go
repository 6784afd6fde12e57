// Package logsink is where our daemons' messages go when there is no
// terminal: syslog, facility user, as the C originals logged with -d.
//
// It exists once so that tuninetd and tuntapd connect, reconnect and pick
// severities the same way. The syslog writer is Linux-only (see
// syslog_linux.go); Severity is portable so callers can name one anywhere.
package logsink

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// Severity is how serious a message is; it picks the syslog priority.
type Severity int

// The severities our commands use, as the originals' syslog(3) calls did.
const (
	Info    Severity = iota // LOG_INFO: progress and state changes
	Warning                 // LOG_WARNING: something odd that we work around
	Err                     // LOG_ERR: a failure, usually fatal
)

// SeverityOf reads the severity from tuninetd-style message text, the way
// the original chose it per call site: fatal errors end in "Abort",
// warnings start with "Warning" (or carry "warning!"), the rest is info.
// It lets a plain Printf logger (core.Logger) keep the original's levels.
func SeverityOf(msg string) Severity {
	switch {
	case strings.HasSuffix(msg, "Abort"):
		return Err
	case strings.HasPrefix(msg, "Warning") || strings.Contains(msg, "warning!"):
		return Warning
	}
	return Info
}

// Lines writes each message as one line to W: the daemons' foreground
// log on stderr, without time stamps (a terminal or a supervisor's log
// adds its own). It is safe for concurrent use.
type Lines struct {
	mu sync.Mutex
	W  io.Writer
}

// Printf writes one message and a newline, unless it ends in one.
func (l *Lines) Printf(format string, v ...any) {
	b := fmt.Appendf(nil, format, v...)
	if len(b) == 0 || b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.W.Write(b)
}

package main

import (
	"fmt"
	"log/syslog"
	"strings"
	"sync"
)

// syslogLogger sends each message to syslog with ident "tuninetd" and
// facility user, as the original does with -d. The severity is read from
// the text the way the original chose it per call site: warnings start
// with "Warning" (or carry "warning!"), fatal errors end in "Abort".
//
// It connects lazily and again after a failure: at boot a daemon may start
// before the syslog daemon has created /dev/log. While there is no syslog,
// messages are dropped (there is nowhere else to put them: a daemon's
// stdio is /dev/null); start-up errors still reach the user through the
// parent process (see daemon_linux.go).
type syslogLogger struct {
	// network and addr select the syslog socket as syslog.Dial takes
	// them; both empty (the daemon's case) means the local /dev/log.
	network, addr string

	mu sync.Mutex
	w  *syslog.Writer
}

// Printf logs one message.
func (l *syslogLogger) Printf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		w, err := syslog.Dial(l.network, l.addr, syslog.LOG_USER|syslog.LOG_INFO, "tuninetd")
		if err != nil {
			return
		}
		l.w = w
	}
	var err error
	switch {
	case strings.HasSuffix(msg, "Abort"):
		err = l.w.Err(msg)
	case strings.HasPrefix(msg, "Warning") || strings.Contains(msg, "warning!"):
		err = l.w.Warning(msg)
	default:
		err = l.w.Info(msg)
	}
	if err != nil {
		// The writer already retried once; reconnect on the next message.
		l.w.Close()
		l.w = nil
	}
}

// Close disconnects from syslog.
func (l *syslogLogger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return nil
	}
	err := l.w.Close()
	l.w = nil
	return err
}

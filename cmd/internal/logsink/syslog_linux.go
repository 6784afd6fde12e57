package logsink

import (
	"fmt"
	"log/syslog"
	"sync"
)

// Syslog sends each message to syslog with ident Tag and facility user.
// The zero value (plus a Tag) logs to the local /dev/log.
//
// It connects lazily and again after a failure: at boot a daemon may start
// before the syslog daemon has created /dev/log. While there is no syslog,
// messages are dropped: there is nowhere else to put them (a daemon's stdio
// is /dev/null), and start-up errors still reach the user through the
// parent process (see cmd/internal/daemon).
type Syslog struct {
	// Tag is the ident every message carries: "tuninetd", "tuntapd".
	Tag string
	// Network and Addr select the syslog socket as syslog.Dial takes
	// them; both empty (the daemons' case) means the local /dev/log.
	Network, Addr string

	mu sync.Mutex
	w  *syslog.Writer // nil while disconnected
}

// Log sends msg with severity sev, connecting first if need be.
func (s *Syslog) Log(sev Severity, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		w, err := syslog.Dial(s.Network, s.Addr, syslog.LOG_USER|syslog.LOG_INFO, s.Tag)
		if err != nil {
			return
		}
		s.w = w
	}
	var err error
	switch sev {
	case Err:
		err = s.w.Err(msg)
	case Warning:
		err = s.w.Warning(msg)
	default:
		err = s.w.Info(msg)
	}
	if err != nil {
		// The writer already retried once; reconnect on the next message.
		s.w.Close()
		s.w = nil
	}
}

// Printf logs one message, its severity read from its text (SeverityOf),
// so that a Syslog serves as a core.Logger.
func (s *Syslog) Printf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	s.Log(SeverityOf(msg), msg)
}

// Close disconnects from syslog; a later message connects again.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return nil
	}
	err := s.w.Close()
	s.w = nil
	return err
}

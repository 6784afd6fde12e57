package tuntapd

import (
	"fmt"
	"io"
	"sync"

	"github.com/tuninetd/tuninetd/cmd/internal/logsink"
)

// logger writes tuntapd's messages: one line each to stderr in the
// foreground, or to syslog (ident "tuntapd", facility user) as a daemon.
// Unlike tuninetd's, its call sites name the severity: its messages do
// not follow the "Warning"/"Abort" wording logsink.SeverityOf reads.
type logger struct {
	mu     sync.Mutex
	stderr io.Writer       // foreground
	sys    *logsink.Syslog // daemon; nil in the foreground
}

func (l *logger) log(sev logsink.Severity, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if l.sys != nil {
		l.sys.Log(sev, msg)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.stderr, msg)
}

func (l *logger) info(format string, v ...any) { l.log(logsink.Info, format, v...) }
func (l *logger) warn(format string, v ...any) { l.log(logsink.Warning, format, v...) }
func (l *logger) err(format string, v ...any)  { l.log(logsink.Err, format, v...) }

// close disconnects from syslog.
func (l *logger) close() {
	if l.sys != nil {
		l.sys.Close()
	}
}

package tuntapd

import (
	"fmt"

	"github.com/tuninetd/tuninetd/cmd/internal/logsink"
)

// logger writes tuntapd's messages: one line each to stderr in the
// foreground, or to syslog (ident "tuntapd", facility user) as a daemon.
// Unlike tuninetd's, its call sites name the severity: its messages do
// not follow the "Warning"/"Abort" wording logsink.SeverityOf reads.
type logger struct {
	stderr logsink.Lines   // foreground
	sys    *logsink.Syslog // daemon; nil in the foreground
}

func (l *logger) log(sev logsink.Severity, format string, v ...any) {
	if l.sys != nil {
		l.sys.Log(sev, fmt.Sprintf(format, v...))
		return
	}
	l.stderr.Printf(format, v...)
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

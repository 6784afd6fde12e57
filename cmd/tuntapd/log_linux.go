package main

import (
	"fmt"
	"io"
	"log/syslog"
	"sync"
)

// logger writes tuntapd's messages: one line each to stderr in the
// foreground, or to syslog (ident "tuntapd", facility user) as a daemon.
type logger struct {
	mu     sync.Mutex
	stderr io.Writer // foreground; nil for a daemon
	daemon bool
	// sys is connected on first use and again after a failure: at boot
	// tuntapd may start before the syslog daemon has created /dev/log.
	// While there is no syslog the message is dropped.
	sys *syslog.Writer
}

func (l *logger) log(pri syslog.Priority, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.daemon {
		fmt.Fprintln(l.stderr, msg)
		return
	}
	if l.sys == nil {
		w, err := syslog.New(syslog.LOG_USER|syslog.LOG_INFO, progname)
		if err != nil {
			return
		}
		l.sys = w
	}
	var err error
	switch pri {
	case syslog.LOG_ERR:
		err = l.sys.Err(msg)
	case syslog.LOG_WARNING:
		err = l.sys.Warning(msg)
	default:
		err = l.sys.Info(msg)
	}
	if err != nil {
		l.sys.Close()
		l.sys = nil
	}
}

func (l *logger) info(format string, v ...any) { l.log(syslog.LOG_INFO, format, v...) }
func (l *logger) warn(format string, v ...any) { l.log(syslog.LOG_WARNING, format, v...) }
func (l *logger) err(format string, v ...any)  { l.log(syslog.LOG_ERR, format, v...) }

// close disconnects from syslog.
func (l *logger) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sys != nil {
		l.sys.Close()
		l.sys = nil
	}
}

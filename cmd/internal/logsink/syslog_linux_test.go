package logsink

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestSyslogLogger checks ident, facility and severity of what -d logs,
// and that a missing syslog socket neither fails nor sticks: messages
// are dropped until it appears, then delivered.
func TestSyslogLogger(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	l := &Syslog{Tag: "tuninetd", Path: sock}
	defer l.Close()
	l.Printf("dropped: no syslog yet")

	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := []struct{ text, pri string }{
		{"Binding to interface tun0", "<14>"},                                   // user.info
		{"Warning! Tuninetd is already in standby mode", "<12>"},                // user.warning
		{"NFLOG: warning! No enough nfnlbufsiz...", "<12>"},                     // user.warning
		{`Pcap: wrong filter: "x". 1:1: expected an expression. Abort`, "<11>"}, // user.err
	}
	for _, m := range msgs {
		l.Printf("%s", m.text)
	}
	// Explicit severities, as tuntapd logs: the text does not decide.
	explicit := []struct {
		sev       Severity
		text, pri string
	}{
		{Err, "tuntapd: can't write to pcap file: disk full", "<11>"},
		{Warning, "tuntapd: SIGHUP caught. NoOp", "<12>"},
		{Info, "tuntapd: SIGTERM caught. Shutting down...", "<14>"},
	}
	for _, m := range explicit {
		l.Log(m.sev, m.text)
	}
	buf := make([]byte, 4096)
	read := func(text, pri string) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading %q: %v", text, err)
		}
		checkLine(t, string(buf[:n]), pri, "tuninetd", text)
	}
	for _, m := range msgs {
		read(m.text, m.pri)
	}
	for _, m := range explicit {
		read(m.text, m.pri)
	}
}

// lineRE is the local syslog format: priority, RFC 3164 time stamp,
// TAG[PID]: message, newline.
var lineRE = regexp.MustCompile(`^(<\d+>)[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d ([a-z]+)\[(\d+)\]: (.*)\n$`)

// checkLine checks one message as a syslog daemon receives it.
func checkLine(t *testing.T, got, pri, tag, text string) {
	t.Helper()
	m := lineRE.FindStringSubmatch(got)
	if m == nil || m[1] != pri || m[2] != tag || m[3] != strconv.Itoa(os.Getpid()) || m[4] != text {
		t.Errorf("syslog message %q, want priority %s, %s[%d] and %q", got, pri, tag, os.Getpid(), text)
	}
}

// TestSyslogStream checks the fallback to a stream socket (syslog daemons
// that offer /dev/log as SOCK_STREAM): newline-terminated messages, and
// a reconnect after the daemon went away and came back.
func TestSyslogStream(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	l := &Syslog{Tag: "tuntapd", Path: sock}
	defer l.Close()

	// serve listens on sock and returns the lines of its first
	// connection, and how to stop it (listener and connection).
	serve := func() (stop func(), lines <-chan string) {
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan string, 16)
		conns := make(chan net.Conn, 1)
		stop = func() {
			ln.Close()
			select {
			case c := <-conns:
				c.Close()
			default:
			}
			for range ch {
			}
		}
		go func() {
			defer close(ch)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(c)
			for {
				s, err := r.ReadString('\n')
				if err != nil {
					return
				}
				ch <- s
			}
		}()
		return stop, ch
	}
	next := func(lines <-chan string) string {
		t.Helper()
		select {
		case s := <-lines:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no syslog message")
		}
		return ""
	}

	stop, lines := serve()
	l.Log(Warning, "tuntapd: SIGHUP caught. NoOp")
	l.Log(Info, "tuntapd: started with pid 1")
	checkLine(t, next(lines), "<12>", "tuntapd", "tuntapd: SIGHUP caught. NoOp")
	checkLine(t, next(lines), "<14>", "tuntapd", "tuntapd: started with pid 1")

	// The syslog daemon restarts: the old connection breaks, the next
	// messages reach the new one (the first may be lost in the broken
	// connection's buffer, as with any stream syslog client).
	stop()
	os.Remove(sock)
	stop, lines = serve()
	defer stop()
	for i := 0; i < 3; i++ {
		l.Log(Err, "tuntapd: error, while reading data. Abort")
	}
	checkLine(t, next(lines), "<11>", "tuntapd", "tuntapd: error, while reading data. Abort")
}

package logsink

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSyslogLogger checks ident, facility and severity of what -d logs,
// and that a missing syslog socket neither fails nor sticks: messages
// are dropped until it appears, then delivered.
func TestSyslogLogger(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	l := &Syslog{Tag: "tuninetd", Network: "unixgram", Addr: sock}
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
		got := string(buf[:n])
		if !strings.HasPrefix(got, pri) || !strings.Contains(got, " tuninetd[") || !strings.HasSuffix(strings.TrimSpace(got), "]: "+text) {
			t.Errorf("syslog datagram %q, want priority %s, tag tuninetd[pid] and %q", got, pri, text)
		}
	}
	for _, m := range msgs {
		read(m.text, m.pri)
	}
	for _, m := range explicit {
		read(m.text, m.pri)
	}
}

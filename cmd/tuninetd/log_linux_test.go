package main

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
	l := &syslogLogger{network: "unixgram", addr: sock}
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
	buf := make([]byte, 4096)
	for _, m := range msgs {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading %q: %v", m.text, err)
		}
		got := string(buf[:n])
		if !strings.HasPrefix(got, m.pri) || !strings.Contains(got, " tuninetd[") || !strings.HasSuffix(strings.TrimSpace(got), "]: "+m.text) {
			t.Errorf("syslog datagram %q, want priority %s, tag tuninetd[pid] and %q", got, m.pri, m.text)
		}
	}
}

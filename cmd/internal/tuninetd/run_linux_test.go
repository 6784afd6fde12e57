package tuninetd

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tuninetd/tuninetd/bpfc"
)

func TestReportLines(t *testing.T) {
	o, st := parseCommandLine([]string{"tuninetd", "-i", "tun0", "-f", "! host 1.2.3.4", "-n", "1", "-a", "-w", "/var/log/s.pcap", "-c", "/etc/vpn.sh", "-t", "3600"}, "x")
	if st != nil {
		t.Fatal(st.text)
	}
	want := []string{
		"- capture engine: pcap, tun0",
		`-- pcap filter: "! host 1.2.3.4"`,
		"- capture engine: nflog group 1",
		"- using packets with tcp[ack] flag to reset TTL timer",
		"- file to dump start event packets (pcap format): /var/log/s.pcap",
		"- event path: /etc/vpn.sh",
		"- TTL: 3600 sec.",
	}
	if got := reportLines(o); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}

	o, _ = parseCommandLine([]string{"tuninetd", "-n", "0", "-c", "x"}, "x")
	want = []string{"- capture engine: nflog group 0", "- event path: x", "- TTL: 600 sec."}
	if got := reportLines(o); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestWrongFilter(t *testing.T) {
	got := wrongFilter("port foo", errors.New(`bpfc: 1:6: expected a port number or name after "port".`)).Error()
	want := `Pcap: wrong filter: "port foo". 1:6: expected a port number or name after "port". Abort`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	_, err := bpfc.Compile("ether host zz:zz", bpfc.Options{})
	got = wrongFilter("ether host zz:zz", err).Error()
	want = `Pcap: wrong filter: "ether host zz:zz". 1:12: expected an Ethernet address (xx:xx:xx:xx:xx:xx) after "ether host", found "zz:zz". Abort` +
		"\nether host zz:zz\n           ^~~~~"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	script := dir + "/vpn.sh"
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := dir + "/plain.txt"
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		command string
		want    string // "" = accepted, else a substring of the error
	}{
		{script, ""},
		{script + " wg0 --verbose", ""},
		{"  " + script + "\tx", ""},
		{"sh " + script, ""},                  // found in PATH
		{"exec " + script, ""},                // shell builtin
		{". /etc/profile; vpn", ""},           // builtin
		{"$HOME/bin/vpn", ""},                 // shell syntax: the shell's business
		{"'/opt/my vpn/up'", ""},              // quoted: the shell's business
		{"VPN=wg0 /usr/bin/vpn", ""},          // assignment
		{dir + "/missing.sh", "no such file"}, // path that does not exist
		{dir, "is a directory"},
		{plain, "is not executable"},
		{"no-such-command-xyz start", "not found in PATH"},
		{"   ", "must be specified"},
	}
	for _, tt := range tests {
		err := checkCommand(tt.command)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("checkCommand(%q) = %v, want accepted", tt.command, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("checkCommand(%q) = %v, want an error containing %q", tt.command, err, tt.want)
		case err != nil && !strings.HasSuffix(err.Error(), ". Abort"):
			t.Errorf("checkCommand(%q) = %q, want the original's \". Abort\" ending", tt.command, err)
		}
	}
}

func TestCommandWritableBy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the warning is for a daemon running as root")
	}
	dir := t.TempDir()
	script := dir + "/vpn.sh"
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if who := commandWritableBy(script + " wg0"); who != "" {
		t.Errorf("0755 root-owned script: writable by %q", who)
	}
	if err := os.Chmod(script, 0o757); err != nil {
		t.Fatal(err)
	}
	if who := commandWritableBy(script + " wg0"); who != "others" {
		t.Errorf("0757 script: writable by %q, want others", who)
	}
	if who := commandWritableBy("sh " + script); who != "" {
		t.Errorf("a PATH word: %q, want no check", who)
	}
}

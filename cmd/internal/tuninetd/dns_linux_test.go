package tuninetd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// dnsNamespaces makes a client namespace with veth dnsc (10.53.0.1,
// fd53::1) whose peer dnss (10.53.0.2, fd53::2) sits in a second
// namespace running a tiny server on port 53: over UDP it answers every
// query at once with REFUSED (so dig does not wait, and responses cross
// the watched interface: they must be no activity), over TCP it accepts
// and reads, so dig +tcp completes its handshake and sends the query.
func dnsNamespaces(t *testing.T) (client, server *sensortest.Namespace) {
	t.Helper()
	e2eRequireTool(t, "dig")
	e2eRequireTool(t, "python3")
	client = sensortest.NewNamespace(t)
	server = sensortest.NewNamespace(t)
	client.Run("ip", "link", "add", "dnsc", "type", "veth", "peer", "name", "dnss", "netns", server.Name)
	for _, x := range []struct {
		ns       *sensortest.Namespace
		dev, ip4 string
		ip6      string
	}{{client, "dnsc", "10.53.0.1/24", "fd53::1/64"}, {server, "dnss", "10.53.0.2/24", "fd53::2/64"}} {
		x.ns.Run("ip", "addr", "add", x.ip4, "dev", x.dev)
		x.ns.Run("ip", "addr", "add", x.ip6, "dev", x.dev, "nodad")
		x.ns.Run("ip", "link", "set", x.dev, "up")
	}
	// TCP: accept and read until the client closes, enough for dig +tcp
	// to send its query (it then times out waiting for an answer).
	l := server.Command("python3", "-c", `
import socket, threading
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
u.bind(("::", 53))
def answer():
    while True:
        m, a = u.recvfrom(4096)
        if len(m) >= 12:
            u.sendto(m[:2] + bytes([0x80 | (m[2] & 0x79), 0x05]) + m[4:], a)
threading.Thread(target=answer, daemon=True).start()
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 53)); s.listen(16)
def serve(c):
    while c.recv(4096): pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`)
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Process.Kill(); l.Wait() })
	// The listener is up when a TCP connection to it succeeds.
	for i := 0; ; i++ {
		if err := client.Command("python3", "-c", `import socket; socket.create_connection(("10.53.0.2", 53), 1).close()`).Run(); err == nil {
			break
		}
		if i == 50 {
			t.Fatal("TCP listener on 10.53.0.2:53 did not come up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return client, server
}

// dig sends one query from ns with a real resolver client; the answer
// never comes, which dig reports as an error we ignore.
func dig(ns *sensortest.Namespace, server, name string, extra ...string) {
	args := append([]string{"+tries=1", "+time=1", "@" + server, name}, extra...)
	ns.Command("dig", args...).Run()
}

// dnsCycle sends a query that must start, checks TUNINETD_QNAME and the
// start log line, and waits for the idle stop and standby.
func dnsCycle(t *testing.T, p *daemonProc, logPath string, n int, send func(), qname, line string) {
	t.Helper()
	send()
	evs := waitEvents(t, logPath, n+1, lineWait)
	if evs[n].name != "start" {
		t.Fatalf("event %d is %s, want start", n, evs[n].name)
	}
	checkEnv(t, evs[n], map[string]string{"TUNINETD_QNAME": qname, "TUNINETD_DST_PORT": "53"})
	p.waitLine(line, 1, lineWait)
	evs = waitEvents(t, logPath, n+2, lineWait)
	if evs[n+1].name != "stop" {
		t.Fatalf("event %d is %s, want stop", n+1, evs[n+1].name)
	}
	e2eWaitStandby(p)
}

func TestDNSCapture(t *testing.T) {
	client, _ := dnsNamespaces(t)
	script, logPath, _ := e2eScript(t, "")
	p := startTuninetd(t, client, "-i", "dnsc", "--dns-name", "corp.example,lab.example",
		"--dns-never", "www.corp.example", "-c", script, "-t", "1")
	p.ready()

	// Names that must not start: a --dns-never name, an unlisted one, one
	// that merely contains the suffix text, a response-like reverse query.
	dig(client, "10.53.0.2", "www.corp.example")
	dig(client, "10.53.0.2", "x.WWW.corp.example.")
	dig(client, "10.53.0.2", "example.org")
	dig(client, "10.53.0.2", "notcorp.example")
	dig(client, "10.53.0.2", "unlisted.example", "+tcp")
	e2eQuiet(t, logPath, 0, 1500*time.Millisecond, "never, unlisted and look-alike names")

	n := 0
	for _, c := range []struct {
		what, server, name string
		extra              []string
		qname, typ         string
	}{
		{"listed", "10.53.0.2", "git.corp.example", nil, "git.corp.example", "A"},
		{"upper case, trailing dot", "10.53.0.2", "GIT.Corp.EXAMPLE.", []string{"AAAA"}, "git.corp.example", "AAAA"},
		{"the suffix itself", "10.53.0.2", "lab.example", nil, "lab.example", "A"},
		{"TCP", "10.53.0.2", "tcp.corp.example", []string{"+tcp"}, "tcp.corp.example", "A"},
		{"IPv6 transport", "fd53::2", "v6.corp.example", []string{"AAAA"}, "v6.corp.example", "AAAA"},
	} {
		t.Run(c.what, func(t *testing.T) {
			line := fmt.Sprintf("|- DNS query: %s %s (--dns-name %s)", c.qname, c.typ, suffixOf(c.qname))
			dnsCycle(t, p, logPath, n, func() { dig(client, c.server, c.name, c.extra...) }, c.qname, line)
		})
		n += 2
	}

	// Malformed DNS sent raw: counted, no crash, no start.
	client.Run("python3", "-c", `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for m in (b"\x00\x01", b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x40" + b"a"*64 + b"\x00\x00\x01\x00\x01"):
    s.sendto(m, ("10.53.0.2", 53))
`)
	e2eQuiet(t, logPath, n, time.Second, "malformed DNS")
	rep := e2eReportBlock(p)
	var stats string
	for _, l := range rep {
		if strings.HasPrefix(l, "-- pcap DNS queries: ") {
			stats = l
		}
	}
	if !strings.Contains(stats, " 3 malformed") || !strings.Contains(stats, "2 excluded by --dns-never") {
		t.Errorf("DNS statistics %q, want 3 malformed and 2 excluded; report:\n%s", stats, strings.Join(rep, "\n"))
	}
	if i := strings.Index(strings.Join(rep, "\n"), "- current status: "); i < 0 || strings.Index(strings.Join(rep, "\n"), stats) < i {
		t.Errorf("DNS statistics must follow the original's lines:\n%s", strings.Join(rep, "\n"))
	}
}

// suffixOf names the --dns-name suffix TestDNSCapture's names match.
func suffixOf(name string) string {
	if strings.HasSuffix(name, "lab.example") {
		return "lab.example"
	}
	return "corp.example"
}

// TestDNSUpStateKeptByMatchingQueries: in up state matching queries keep
// the state up, unlisted ones do not.
func TestDNSUpStateKeptByMatchingQueries(t *testing.T) {
	client, _ := dnsNamespaces(t)
	script, logPath, _ := e2eScript(t, "")
	p := startTuninetd(t, client, "-i", "dnsc", "--dns-name", "corp.example", "-c", script, "-t", "2")
	p.ready()

	dnsUpState(t, p, logPath, client, 0, 2*time.Second, func() { dig(client, "10.53.0.2", "unlisted.example") })
}

// dnsUpState checks up state from standby, n events logged, TTL ttl: a
// matching query starts, other traffic (idle) sent every 0.2 s does not
// keep the state up (the stop comes while it flows), and after another
// start matching queries every 0.2 s for three TTLs do (no stop until
// they end). It leaves the daemon stopping, n+4 events logged.
func dnsUpState(t *testing.T, p *daemonProc, logPath string, client *sensortest.Namespace, n int, ttl time.Duration, idle func()) {
	t.Helper()
	const step = 200 * time.Millisecond
	dig(client, "10.53.0.2", "a.corp.example")
	waitEvents(t, logPath, n+1, lineWait)
	stopped := false
	for i := 0; i < int(8*ttl/step) && !stopped; i++ {
		idle()
		time.Sleep(step)
		stopped = len(readEvents(t, logPath)) >= n+2
	}
	if !stopped {
		t.Fatalf("traffic other than matching queries kept the up state for %v with TTL %v", 8*ttl, ttl)
	}
	e2eWaitStandby(p)

	dig(client, "10.53.0.2", "b.corp.example")
	waitEvents(t, logPath, n+3, lineWait)
	for i := 0; i < int(3*ttl/step); i++ {
		dig(client, "10.53.0.2", "keep.corp.example")
		time.Sleep(step)
	}
	if evs := readEvents(t, logPath); len(evs) != n+3 {
		t.Fatalf("events %v while matching queries flowed, want %d", names(evs), n+3)
	}
	if evs := waitEvents(t, logPath, n+4, lineWait); evs[n+3].name != "stop" {
		t.Fatalf("events %v", names(evs))
	}
}

// TestDNSWithFilter: -f traffic still starts; a DNS query for another
// name that -f does not match does not.
func TestDNSWithFilter(t *testing.T) {
	client, _ := dnsNamespaces(t)
	script, logPath, _ := e2eScript(t, "")
	p := startTuninetd(t, client, "-i", "dnsc", "-f", "udp port 7777", "--dns-name", "corp.example", "-c", script, "-t", "1")
	p.ready()
	dig(client, "10.53.0.2", "unlisted.example")
	e2eQuiet(t, logPath, 0, 1500*time.Millisecond, "unlisted query outside -f")
	client.SendUDP("10.53.0.2:7777", 1)
	evs := waitEvents(t, logPath, 1, lineWait)
	if _, ok := evs[0].env["TUNINETD_QNAME"]; ok || evs[0].env["TUNINETD_DST_PORT"] != "7777" {
		t.Errorf("start by -f: env %v", evs[0].env)
	}
	waitEvents(t, logPath, 2, lineWait)
	e2eWaitStandby(p)
	dnsCycle(t, p, logPath, 2, func() { dig(client, "10.53.0.2", "f.corp.example") }, "f.corp.example",
		"|- DNS query: f.corp.example A (--dns-name corp.example)")
}

// TestDNSNFLOG: logged queries count only for listed names.
func TestDNSNFLOG(t *testing.T) {
	e2eRequireTool(t, "nft")
	const group = 53
	client, _ := dnsNamespaces(t)
	client.Run("nft", "add table inet tnddns")
	client.Run("nft", "add chain inet tnddns out { type filter hook output priority 0; }")
	client.Run("nft", fmt.Sprintf("add rule inet tnddns out udp dport 53 log group %d", group))
	script, logPath, _ := e2eScript(t, "")
	p := startTuninetd(t, client, "-n", fmt.Sprint(group), "--dns-name", "corp.example", "-c", script, "-t", "1")
	p.ready()
	dig(client, "10.53.0.2", "unlisted.example")
	dig(client, "10.53.0.2", "notcorp.example")
	e2eQuiet(t, logPath, 0, 2*time.Second, "unlisted queries on NFLOG")
	dnsCycle(t, p, logPath, 0, func() { dig(client, "10.53.0.2", "n.corp.example") }, "n.corp.example",
		"|- DNS query: n.corp.example A (--dns-name corp.example)")

	dnsUpState(t, p, logPath, client, 2, time.Second, func() { dig(client, "10.53.0.2", "unlisted.example") })
}

// TestDNSAckOnlyWithoutFilter: with -a and no -f, TCP ACK segments are no
// activity (only matching queries are), while matching queries, UDP ones
// included, keep the up state.
func TestDNSAckOnlyWithoutFilter(t *testing.T) {
	client, _ := dnsNamespaces(t)
	script, logPath, _ := e2eScript(t, "")
	p := startTuninetd(t, client, "-i", "dnsc", "-a", "--dns-name", "corp.example", "-c", script, "-t", "2")
	p.ready()

	// Connections to a closed port: SYN out, RST+ACK back.
	dnsUpState(t, p, logPath, client, 0, 2*time.Second, func() { client.SendTCP("10.53.0.2:7777", 200*time.Millisecond) })
}

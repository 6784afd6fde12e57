//go:build linux

package nflog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// nftRules loads an nft ruleset into the namespace.
func nftRules(t *testing.T, ns *sensortest.Namespace, rules string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(p, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	ns.Run("nft", "-f", p)
}

// logRules logs locally sent UDP to port 9999 and TCP to port 9997 into group.
func logRules(group uint16) string {
	return fmt.Sprintf(`table inet t {
	chain o {
		type filter hook output priority 0;
		udp dport 9999 log group %d
		tcp dport 9997 log group %d
	}
}
`, group, group)
}

// listenUDP binds discarding UDP sockets on loopback ports inside the
// namespace, so sends meet no ICMP port-unreachable (which would make
// every other send on the connected socket fail).
func listenUDP(t *testing.T, ns *sensortest.Namespace, ports ...int) {
	t.Helper()
	for _, port := range ports {
		var c net.PacketConn
		if err := ns.Do(func() (err error) {
			c, err = net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// openIn opens the sensor inside the namespace; t.Cleanup closes it.
func openIn(t *testing.T, ns *sensortest.Namespace, cfg Config) *Sensor {
	t.Helper()
	var s *Sensor
	if err := ns.Do(func() (err error) {
		s, err = Open(cfg)
		return err
	}); err != nil {
		skipNoNetfilterNetlink(t, err)
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// skipNoNetfilterNetlink skips when the socket family itself is missing:
// qemu user emulation (the GOARCH=mips test run) has no NETLINK_NETFILTER.
// With TUNINETD_REQUIRE_NETNS=1 (CI) that is a failure instead.
func skipNoNetfilterNetlink(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, syscall.EPROTONOSUPPORT) {
		return
	}
	if os.Getenv("TUNINETD_REQUIRE_NETNS") == "1" {
		t.Fatalf("no NETLINK_NETFILTER sockets here: %v (TUNINETD_REQUIRE_NETNS=1)", err)
	}
	t.Skipf("no NETLINK_NETFILTER sockets here (qemu user emulation?): %v", err)
}

// instanceLine returns the namespace's nfnetlink_log line for group, "" if none.
func instanceLine(t *testing.T, ns *sensortest.Namespace, group uint16) string {
	t.Helper()
	for _, l := range strings.Split(ns.Run("cat", "/proc/net/netfilter/nfnetlink_log"), "\n") {
		f := strings.Fields(l)
		if len(f) >= 7 && f[0] == fmt.Sprint(group) {
			return strings.Join(f, " ")
		}
	}
	return ""
}

// waitInstance polls until the group's line satisfies ok (config requests
// are asynchronous).
func waitInstance(t *testing.T, ns *sensortest.Namespace, group uint16, ok func(f []string) bool, what string) {
	t.Helper()
	var l string
	for i := 0; i < 50; i++ {
		l = instanceLine(t, ns, group)
		if ok(strings.Fields(l)) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: nfnetlink_log line for group %d is %q", what, group, l)
}

// expectUnbatched sends a burst of n logged packets to dst and checks
// that each one reaches the sink in a report of its own, with its bytes:
// the kernel hands packets over one by one instead of batching them (with
// its defaults it would hold them for up to a second and send them in one
// datagram, one report). How fast is the benchmark's business.
func expectUnbatched(t *testing.T, ns *sensortest.Namespace, s *Sensor, sink *sensortest.Recorder, dst string, n int) {
	t.Helper()
	packets := s.packets.Load()
	start := time.Now()
	ns.SendUDP(dst, n)
	for i := 1; i <= n; i++ {
		if rep := sink.Next(t, sensortest.Patience, fmt.Sprintf("report %d of a burst of %d", i, n)); rep.Packet == nil {
			t.Errorf("report %d of a burst of %d in standby carries no packet", i, n)
		}
	}
	if got := s.packets.Load() - packets; got != uint64(n) {
		t.Errorf("%d packets counted for a burst of %d", got, n)
	}
	t.Logf("burst of %d reported one by one within %v", n, time.Since(start))
}

func TestLoggedTrafficStandby(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	const group = 7
	nftRules(t, ns, logRules(group))
	listenUDP(t, ns, 9998, 9999)
	var logs sensortest.Log
	s := openIn(t, ns, Config{Group: group, Logf: logs.Logf})
	if logs.Count("NFLOG: adjust nfnl_rcvbufsiz to 300000") != 1 {
		t.Errorf("log lines %q, want the granted receive buffer (300000)", logs.Lines())
	}
	if s.Kind() != sensor.NFLOG {
		t.Errorf("Kind = %q", s.Kind())
	}
	if o := s.Origin(); o != (sensor.Origin{NFLOGGroup: 7, HasNFLOGGroup: true}) {
		t.Errorf("Origin = %+v", o)
	}
	// Standby configuration: whole packets, one at a time.
	if f := strings.Fields(instanceLine(t, ns, group)); len(f) < 7 || f[3] != "2" || f[4] != "65531" {
		t.Errorf("standby instance %q, want copy mode 2 (packet), range 65531", f)
	}
	sink := sensortest.NewRecorder(64)
	sensortest.Run(t, s, sink)

	ns.SendUDP("127.0.0.1:9998", 3) // not logged
	sink.ExpectNone(t, 300*time.Millisecond, "unlogged traffic")

	start := time.Now()
	ns.SendUDP("127.0.0.1:9999", 1)
	got := sink.Next(t, sensortest.Patience, "logged packet")
	t.Logf("first packet reported %v after the send started", got.At.Sub(start))
	p := got.Packet
	if p == nil {
		t.Fatal("standby report without the packet")
	}
	if p.Sensor != sensor.NFLOG || p.LinkType != bpfc.RAW || p.Ifname != "lo" {
		t.Errorf("packet sensor %q link %v ifname %q, want nflog RAW lo", p.Sensor, p.LinkType, p.Ifname)
	}
	if len(p.Data) != 20+8+13 || p.Data[0]>>4 != 4 || p.Data[9] != 17 || be16(p.Data[22:24]) != 9999 {
		t.Errorf("packet data % x, want an IPv4 UDP datagram to port 9999", p.Data)
	}
	if p.OrigLen != len(p.Data) || time.Since(p.Time) > time.Minute || p.Time.After(time.Now()) {
		t.Errorf("OrigLen %d time %v", p.OrigLen, p.Time)
	}
	if st := s.Stats(); len(st) != 1 || !strings.Contains(st[0], "group 7: 1 packets") {
		t.Errorf("Stats = %q", st)
	}
	expectUnbatched(t, ns, s, sink, "127.0.0.1:9999", 5)
}

func TestUpModeBatches(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	const group = 8
	nftRules(t, ns, logRules(group))
	listenUDP(t, ns, 9998, 9999)
	s := openIn(t, ns, Config{Group: group})
	sink := sensortest.NewRecorder(256)
	sensortest.Run(t, s, sink)

	s.SetMode(sensor.Up)
	// Up: metadata only (copy mode 1), flush timeout 100 ms.
	waitInstance(t, ns, group, func(f []string) bool { return len(f) >= 7 && f[3] == "1" && f[5] == "10" }, "up configuration")
	start := time.Now()
	ns.SendUDP("127.0.0.1:9999", 200)
	got := sink.Next(t, sensortest.Patience, "up-state batch")
	if got.Packet != nil {
		t.Errorf("up-state report carries a packet")
	}
	sent := time.Since(start)
	// Let the batch(es) arrive, then count reports: at most one per
	// flush timeout (100 ms) that the sending took, plus the last.
	sensortest.Eventually(func() bool { return s.packets.Load() >= 200 })
	time.Sleep(1500 * time.Millisecond)
	n := 1 + len(sink.C)
	if limit := max(5, int(sent/defaultUpTimeout)+2); n > limit {
		t.Errorf("%d reports for 200 packets in up state sent in %v; want batches", n, sent)
	}
	if lat := got.At.Sub(start); lat < 500*time.Millisecond {
		t.Logf("note: first batch after %v (sent before the timeout: queue threshold or buffer reached)", lat)
	}
	if st := s.Stats()[0]; !strings.Contains(st, "200 packets") || !strings.Contains(st, "up configuration") {
		t.Errorf("Stats = %q, want 200 packets in up configuration", st)
	}

	// Back to standby: packets are reported one by one, with their bytes.
	sink.Flush()
	s.SetMode(sensor.Standby)
	waitInstance(t, ns, group, func(f []string) bool { return len(f) >= 7 && f[3] == "2" }, "standby configuration")
	start = time.Now()
	ns.SendUDP("127.0.0.1:9999", 1)
	got = sink.Next(t, sensortest.Patience, "standby packet after up")
	if got.Packet == nil {
		t.Errorf("standby after up: report without the packet, after %v", got.At.Sub(start))
	}
	expectUnbatched(t, ns, s, sink, "127.0.0.1:9999", 3)
}

func TestAckOnly(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	const group = 9
	nftRules(t, ns, logRules(group))
	listenUDP(t, ns, 9998, 9999)
	s := openIn(t, ns, Config{Group: group, AckOnly: true, UpTimeout: 100 * time.Millisecond})
	sink := sensortest.NewRecorder(256)
	sensortest.Run(t, s, sink)

	// Standby: any logged packet counts, ACK or not.
	ns.SendUDP("127.0.0.1:9999", 1)
	if got := sink.Next(t, sensortest.Patience, "standby UDP with AckOnly"); got.Packet == nil {
		t.Error("standby report without packet")
	}

	s.SetMode(sensor.Up)
	// Up with -a: short copies (128 bytes) for the TCP flags, timeout 10 (0.1 s).
	waitInstance(t, ns, group, func(f []string) bool { return len(f) >= 7 && f[3] == "2" && f[4] == "128" && f[5] == "10" }, "ack-only up configuration")
	ns.SendUDP("127.0.0.1:9999", 20)
	ns.SendTCP("127.0.0.1:9997", time.Second) // SYN only: refused, no ACK from us
	sink.ExpectNone(t, 600*time.Millisecond, "UDP and a bare SYN in up state with AckOnly")
	if st := s.Stats()[0]; !strings.Contains(st, "22 packets") {
		t.Errorf("Stats = %q, want 22 packets (1 + 20 UDP + 1 SYN) seen", st)
	}

	// A connection's handshake completion and data carry ACK.
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:9997")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			buf := make([]byte, 16)
			c.Read(buf)
			c.Close()
		}
	}()
	if err := ns.Do(func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:9997", time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("ack"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := sink.Next(t, sensortest.Patience, "TCP ACK in up state"); got.Packet != nil {
		t.Error("up-state report carries a packet")
	}
}

func TestGroupBusy(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	const group = 10
	first := openIn(t, ns, Config{Group: group})
	var err error
	ns.Do(func() error {
		var s *Sensor
		s, err = Open(Config{Group: group})
		if err == nil {
			s.Close()
		}
		return nil
	})
	skipNoNetfilterNetlink(t, err)
	if !errors.Is(err, ErrGroupBusy) {
		t.Fatalf("second Open of group %d: %v, want ErrGroupBusy", group, err)
	}
	msg := err.Error()
	for _, want := range []string{"nflog group 10", "another program", fmt.Sprintf("pid %d", os.Getpid()), "tcpdump -i nflog:10"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	var be *BindError
	if !errors.As(err, &be) || be.Group != group || !be.Busy {
		t.Errorf("error %#v is not a busy *BindError for group %d", err, group)
	}
	// The first holder is unaffected; after it closes the group is free.
	first.Close()
	openIn(t, ns, Config{Group: group}).Close()
}

func TestGroupBusyTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed")
	}
	ns := sensortest.NewNamespace(t)
	const group = 11
	ctx, cancel := context.WithCancel(context.Background())
	cmd := ns.CommandContext(ctx, "tcpdump", "-n", "-i", "nflog:11", "-w", "/dev/null")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	waitInstance(t, ns, group, func(f []string) bool { return len(f) > 0 }, "tcpdump bound")
	var err error
	ns.Do(func() error {
		var s *Sensor
		if s, err = Open(Config{Group: group}); err == nil {
			s.Close()
		}
		return nil
	})
	skipNoNetfilterNetlink(t, err)
	if !errors.Is(err, ErrGroupBusy) || !strings.Contains(err.Error(), "tcpdump") {
		t.Fatalf("Open with tcpdump on nflog:%d: %v, want a busy error naming tcpdump", group, err)
	}
	t.Logf("error text: %v", err)
}

func TestENOBUFS(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	const group = 12
	nftRules(t, ns, logRules(group))
	listenUDP(t, ns, 9998, 9999)
	var logs sensortest.Log
	// A tiny buffer (the kernel's minimum) and nobody reading: a burst
	// overflows the socket queue.
	s := openIn(t, ns, Config{Group: group, Logf: logs.Logf, RcvBuf: 1})
	ns.SendUDP("127.0.0.1:9999", 500)
	sink := sensortest.NewRecorder(1024)
	sensortest.Run(t, s, sink)
	sink.Next(t, sensortest.Patience, "activity after overflow")
	deadline := time.Now().Add(sensortest.Patience)
	for logs.Count("NFLOG: warning! No enough nfnlbufsiz...") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := logs.Count("NFLOG: warning! No enough nfnlbufsiz..."); n != 1 {
		t.Errorf("%d overflow warnings, want 1; log %q", n, logs.Lines())
	}
	if st := s.Stats()[0]; strings.Contains(st, " 0 ENOBUFS") {
		t.Errorf("Stats = %q, want ENOBUFS counted", st)
	}
	// A second burst while being read, then the socket still works.
	ns.SendUDP("127.0.0.1:9999", 500)
	time.Sleep(200 * time.Millisecond)
	sink.Flush()
	ns.SendUDP("127.0.0.1:9999", 1)
	if got := sink.Next(t, sensortest.Patience, "packet after overflow"); got.Packet == nil {
		t.Error("standby report after overflow has no packet")
	}
	if n := logs.Count("No enough nfnlbufsiz"); n != 1 {
		t.Errorf("%d overflow warnings after a second burst within the burst window, want 1", n)
	}
	t.Logf("stats: %s", s.Stats()[0])
}

func TestCloseUnbinds(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	const group = 13
	nfLogBefore := ns.Run("cat", "/proc/net/netfilter/nf_log")
	s := openIn(t, ns, Config{Group: group})
	if instanceLine(t, ns, group) == "" {
		t.Fatal("group not listed in nfnetlink_log while open")
	}
	sink := sensortest.NewRecorder(4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, sink) }()
	time.Sleep(50 * time.Millisecond)
	// Close while Run is blocked in a receive: Run returns nil.
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after Close: %v", err)
		}
	case <-time.After(sensortest.Patience):
		t.Fatal("Run did not return after Close")
	}
	cancel()
	if l := instanceLine(t, ns, group); l != "" {
		t.Errorf("nfnetlink_log still lists group %d after Close: %q", group, l)
	}
	if after := ns.Run("cat", "/proc/net/netfilter/nf_log"); after != nfLogBefore {
		t.Errorf("nf_log changed:\nbefore:\n%s\nafter:\n%s", nfLogBefore, after)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s.SetMode(sensor.Up) // no-op after Close, must not panic
}

func TestInputHookEthernet(t *testing.T) {
	// Two namespaces joined by a veth pair: packets logged on input carry
	// the Ethernet header and a kernel timestamp.
	a := sensortest.NewNamespace(t)
	b := sensortest.NewNamespace(t)
	const group = 14
	a.Run("ip", "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b.Name)
	a.Run("ip", "addr", "add", "10.77.0.1/24", "dev", "va")
	a.Run("ip", "link", "set", "va", "up")
	b.Run("ip", "addr", "add", "10.77.0.2/24", "dev", "vb")
	b.Run("ip", "link", "set", "vb", "up")
	nftRules(t, b, fmt.Sprintf("table inet t {\n\tchain i {\n\t\ttype filter hook input priority 0;\n\t\tudp dport 9999 log group %d\n\t}\n}\n", group))
	var c net.PacketConn
	if err := b.Do(func() (err error) {
		c, err = net.ListenPacket("udp", "10.77.0.2:9999")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := openIn(t, b, Config{Group: group})
	sink := sensortest.NewRecorder(16)
	sensortest.Run(t, s, sink)
	before := time.Now()
	a.SendUDP("10.77.0.2:9999", 1)
	got := sink.Next(t, sensortest.Patience, "packet logged on input")
	p := got.Packet
	if p == nil {
		t.Fatal("no packet")
	}
	if p.LinkType != bpfc.EN10MB || p.Ifname != "vb" {
		t.Fatalf("link type %v ifname %q, want EN10MB vb", p.LinkType, p.Ifname)
	}
	if len(p.Data) != 14+20+8+13 || be16(p.Data[12:14]) != 0x0800 || p.Data[14]>>4 != 4 {
		t.Errorf("frame % x, want Ethernet + IPv4 UDP", p.Data)
	}
	// The kernel stamps input packets (wall clock, microseconds).
	if p.Time.Before(before.Add(-time.Second)) || p.Time.After(got.At.Add(time.Second)) {
		t.Errorf("packet time %v not between %v and %v", p.Time, before, got.At)
	}
}

func TestENOBUFSUpState(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	const group = 15
	nftRules(t, ns, logRules(group))
	listenUDP(t, ns, 9998, 9999)
	var logs sensortest.Log
	s := openIn(t, ns, Config{Group: group, Logf: logs.Logf, RcvBuf: 1})
	s.SetMode(sensor.Up)
	waitInstance(t, ns, group, func(f []string) bool { return len(f) >= 7 && f[3] == "1" }, "up configuration")
	// Several full batches while nobody reads: all but the first are
	// dropped. The overflow is activity, reported without a packet.
	ns.SendUDP("127.0.0.1:9999", 8000)
	sink := sensortest.NewRecorder(1024)
	sensortest.Run(t, s, sink)
	for i := 0; i < 2; i++ {
		if got := sink.Next(t, sensortest.Patience, "up-state activity after overflow"); got.Packet != nil {
			t.Error("up-state report carries a packet")
		}
	}
	if st := s.Stats()[0]; strings.Contains(st, " 0 ENOBUFS") {
		t.Errorf("Stats = %q, want ENOBUFS counted", st)
	}
	if n := logs.Count("NFLOG: warning! No enough nfnlbufsiz..."); n != 1 {
		t.Errorf("%d overflow warnings, want 1", n)
	}
	// Still reading: later traffic is reported.
	time.Sleep(1200 * time.Millisecond)
	sink.Flush()
	ns.SendUDP("127.0.0.1:9999", 3)
	sink.Next(t, sensortest.Patience, "up-state batch after overflow")
	t.Logf("stats: %s", s.Stats()[0])
}

func TestIptablesNFLOG(t *testing.T) {
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables not installed")
	}
	ns := sensortest.NewNamespace(t)
	const group = 16
	listenUDP(t, ns, 9999)
	ns.Run("iptables", "-A", "OUTPUT", "-p", "udp", "--dport", "9999", "-j", "NFLOG", "--nflog-group", fmt.Sprint(group))
	s := openIn(t, ns, Config{Group: group})
	sink := sensortest.NewRecorder(16)
	sensortest.Run(t, s, sink)
	start := time.Now()
	ns.SendUDP("127.0.0.1:9999", 1)
	got := sink.Next(t, sensortest.Patience, "packet logged by iptables -j NFLOG")
	if got.Packet == nil || got.Packet.Data[9] != 17 {
		t.Errorf("report %+v after %v", got.Packet, got.At.Sub(start))
	}
	expectUnbatched(t, ns, s, sink, "127.0.0.1:9999", 3)
}

// TestNoCapHelper is the process TestBindWithoutCapability starts
// without CAP_NET_ADMIN; it prints Open's error.
func TestNoCapHelper(t *testing.T) {
	if os.Getenv("TUNINETD_NFLOG_NOCAP_HELPER") != "1" {
		t.Skip("helper process")
	}
	s, err := Open(Config{Group: 17})
	if err == nil {
		s.Close()
	}
	fmt.Printf("ERROR %v\n", err)
}

func TestBindWithoutCapability(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv not installed")
	}
	ns := sensortest.NewNamespace(t)
	openIn(t, ns, Config{Group: 18}).Close() // skips where the socket family is missing
	cmd := ns.Command("setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin",
		os.Args[0], "-test.run=^TestNoCapHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TUNINETD_NFLOG_NOCAP_HELPER=1")
	out, _ := cmd.CombinedOutput()
	var msg string
	for _, l := range strings.Split(string(out), "\n") {
		if m, ok := strings.CutPrefix(l, "ERROR "); ok {
			msg = m
		}
	}
	want := "nflog group 17: kernel refused to bind it (binding needs root or CAP_NET_ADMIN): operation not permitted"
	if msg != want {
		t.Errorf("without CAP_NET_ADMIN: %q, want %q (output %s)", msg, want, out)
	}
}

package tuninetd

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// stopLate bounds how long after TTL a stop may come in these tests. The
// daemon aims at TTL + 0.25 s (the idle deadline is checked that often at
// most), and the tests log the figure; they assert that the stop comes,
// after the TTL and in order, while a loaded machine may delay the fork of
// the shell by seconds.
const stopLate = 10 * time.Second

// tunNamespace is a namespace with tun0 (10.77.0.1/24) held open, so that
// traffic to 10.77.0.2 is routed into it and seen by capture.
func tunNamespace(t *testing.T) *sensortest.Namespace {
	ns := quietNamespace(t)
	ns.AddTun("tun0", "10.77.0.1/24")
	return ns
}

// quietNamespace is a namespace with IPv6 off, so that a device coming up
// sends no router solicitations or MLD reports: the tests' own packets are
// the only traffic.
func quietNamespace(t *testing.T) *sensortest.Namespace {
	ns := sensortest.NewNamespace(t)
	ns.Run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return ns
}

func TestTunUDPStartAndIdleStop(t *testing.T) {
	ns := tunNamespace(t)
	script, logPath := hookScript(t)
	p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "1")
	p.waitLine("Binding to interface tun0", 1, 10*time.Second)
	p.ready()

	ns.SendUDP("10.77.0.2:9999", 1)
	lastSend := time.Now()
	evs := waitEvents(t, logPath, 1, 5*time.Second)
	// A figure for the record (fork/exec of sh and date included), not a bound.
	t.Logf("start script ran %.1f ms after the packet", float64(evs[0].at.Sub(lastSend).Microseconds())/1000)
	checkEnv(t, evs[0], map[string]string{
		"TUNINETD_EVENT":    "start",
		"TUNINETD_REASON":   "packet",
		"TUNINETD_SENSOR":   "pcap",
		"TUNINETD_IFACE":    "tun0",
		"TUNINETD_SRC":      "10.77.0.1",
		"TUNINETD_DST":      "10.77.0.2",
		"TUNINETD_PROTO":    "udp",
		"TUNINETD_SRC_PORT": "*",
		"TUNINETD_DST_PORT": "9999",
		"TUNINETD_TTL":      "1",
	})
	p.waitLine("PCAP: start command done", 1, lineWait)
	p.waitLine("|- IPv4 10.77.0.1 > 10.77.0.2, NXT_HDR: 0x11 (UDP)", 1, lineWait)

	evs = waitEvents(t, logPath, 2, 5*time.Second)
	if evs[1].name != "stop" {
		t.Fatalf("second event %q, want stop", evs[1].name)
	}
	checkEnv(t, evs[1], map[string]string{
		"TUNINETD_EVENT":  "stop",
		"TUNINETD_REASON": "idle",
		"TUNINETD_IDLE":   "1",
	})
	e2eCheckStopTiming(t, evs[1], p.cmd.Process.Pid, lastSend, time.Second)
	p.waitLine("CORE: executing STOP command...", 1, lineWait)
	if want := "Started with pid " + strconv.Itoa(p.cmd.Process.Pid); p.output()[0] != want {
		t.Errorf("first line %q, want %q", p.output()[0], want)
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(5 * time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM %d, want 0", code)
	}
	if n := len(readEvents(t, logPath)); n != 2 {
		t.Errorf("%d events, want start and stop only (no stop on exit)", n)
	}
}

func TestTunSteadyTrafficKeepsUp(t *testing.T) {
	ns := tunNamespace(t)
	script, logPath := hookScript(t)
	p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "1")
	p.ready()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	last := sendEvery(ctx, 300*time.Millisecond, func() { ns.SendUDP("10.77.0.2:9999", 1) })
	lastSend := <-last
	if evs := readEvents(t, logPath); len(evs) != 1 || evs[0].name != "start" {
		t.Fatalf("events during steady traffic %v, want [start]", names(evs))
	}
	evs := waitEvents(t, logPath, 2, 5*time.Second)
	e2eCheckStopTiming(t, evs[1], p.cmd.Process.Pid, lastSend, time.Second)
}

func TestSignals(t *testing.T) {
	ns := tunNamespace(t)
	script, logPath := hookScript(t)
	p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "30", "-f", "udp")
	p.ready()
	for _, l := range []string{
		"- capture engine: pcap, tun0",
		`-- pcap filter: "udp"`,
		"- event path: " + script,
		"- TTL: 30 sec.",
		"- current status: standby (OFF)",
	} {
		p.waitLine(l, 1, lineWait)
	}

	p.signal(syscall.SIGHUP)
	p.waitLine("Warning! Tuninetd is already in standby mode", 1, lineWait)

	ns.SendUDP("10.77.0.2:9999", 1)
	waitEvents(t, logPath, 1, 5*time.Second)
	p.waitLine("PCAP: start command done", 1, lineWait)
	p.signal(syscall.SIGUSR1)
	p.waitLine("SIGUSR1 caught:", 2, lineWait)
	deadline := time.Now().Add(2 * time.Second)
	for !hasPrefixLine(p.output(), "- current status: up (ON), time since last captured packet: ") {
		if time.Now().After(deadline) {
			t.Fatalf("no up status line after SIGUSR1")
		}
		time.Sleep(10 * time.Millisecond)
	}

	p.signal(syscall.SIGHUP)
	p.waitLine("SIGHUP caught, switch to standby mode", 1, lineWait)
	evs := waitEvents(t, logPath, 2, 5*time.Second)
	checkEnv(t, evs[1], map[string]string{"TUNINETD_EVENT": "stop", "TUNINETD_REASON": "signal"})

	p.signal(syscall.SIGINT)
	if code := p.wait(5 * time.Second); code != 0 {
		t.Errorf("exit code after SIGINT %d, want 0", code)
	}
}

func hasPrefixLine(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// vethPair puts veth "va" (10.78.0.1/24) in a namespace for tuninetd and
// its peer "vb" (10.78.0.2/24) in a second namespace, so traffic between
// them crosses va on the wire (EN10MB). IPv6 is off so that neighbour
// discovery does not count as traffic.
func vethPair(t *testing.T) (near, far *sensortest.Namespace) {
	near, far = quietNamespace(t), quietNamespace(t)
	near.AddVeth("va", "10.78.0.1/24", "vb", "")
	near.Run("ip", "link", "set", "vb", "netns", far.Name)
	far.Run("ip", "addr", "add", "10.78.0.2/24", "dev", "vb")
	far.Run("ip", "link", "set", "vb", "up")
	return near, far
}

func TestVethEthernet(t *testing.T) {
	near, _ := vethPair(t)
	script, logPath := hookScript(t)
	p := startTuninetd(t, near, "-i", "va", "-c", script, "-t", "1", "-f", "udp port 9999")
	p.ready()
	near.SendUDP("10.78.0.2:9999", 1)
	lastSend := time.Now()
	evs := waitEvents(t, logPath, 1, 5*time.Second)
	checkEnv(t, evs[0], map[string]string{
		"TUNINETD_SENSOR": "pcap", "TUNINETD_IFACE": "va", "TUNINETD_SRC": "10.78.0.1",
		"TUNINETD_DST": "10.78.0.2", "TUNINETD_PROTO": "udp", "TUNINETD_DST_PORT": "9999",
	})
	p.waitLine("|- IPv4 10.78.0.1 > 10.78.0.2, NXT_HDR: 0x11 (UDP)", 1, lineWait)
	deadline := time.Now().Add(2 * time.Second)
	for !hasPrefixLine(p.output(), "|- MAC: ") {
		if time.Now().After(deadline) {
			t.Fatalf("no MAC line for an Ethernet packet")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, l := range p.output() {
		if strings.HasPrefix(l, "|- MAC: ") && !strings.HasSuffix(l, ", EtherType: 0x0800 (IPv4)") {
			t.Errorf("MAC line %q, want EtherType 0x0800 (IPv4)", l)
		}
	}
	evs = waitEvents(t, logPath, 2, 5*time.Second)
	e2eCheckStopTiming(t, evs[1], p.cmd.Process.Pid, lastSend, time.Second)
}

// TestAckOnly: with -a, in up state only TCP segments with ACK keep the
// link up: steady UDP does not, a TCP stream does.
func TestAckOnly(t *testing.T) {
	near, far := vethPair(t)
	script, logPath := hookScript(t)
	p := startTuninetd(t, near, "-i", "va", "-a", "-c", script, "-t", "1", "-f", "tcp or udp")
	p.ready()
	t0 := time.Now()

	// Phase 1: UDP every 300 ms starts, yet the link stops while the UDP
	// still flows (and then starts again).
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	last := sendEvery(ctx, 300*time.Millisecond, func() { near.SendUDP("10.78.0.2:9999", 1) })
	lastUDP := <-last
	cancel()
	evs := readEvents(t, logPath)
	if len(evs) < 2 || evs[0].name != "start" || evs[1].name != "stop" || !evs[1].at.Before(lastUDP) {
		t.Fatalf("with -a, UDP kept the link up: events %v", names(evs))
	}
	// Let it settle in standby: the last datagram's start may still be
	// running, then its stop follows a TTL later.
	time.Sleep(500 * time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for evs = readEvents(t, logPath); evs[len(evs)-1].name != "stop"; evs = readEvents(t, logPath) {
		if time.Now().After(deadline) {
			t.Fatalf("no final stop after the UDP phase: %v", names(evs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	base := len(readEvents(t, logPath))
	t.Logf("%v: UDP phase: events %v", time.Since(t0), names(readEvents(t, logPath)))

	// Phase 2: a TCP stream (data every 300 ms, ACKs both ways) keeps it up.
	var ln net.Listener
	if err := far.Do(func() (err error) {
		ln, err = net.Listen("tcp", "10.78.0.2:7777")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	var conn net.Conn
	if err := near.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", "10.78.0.2:7777", 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	last = sendEvery(ctx, 300*time.Millisecond, func() { conn.Write([]byte("keepalive")) })
	<-last
	cancel()
	evs = readEvents(t, logPath)[base:]
	t.Logf("%v: TCP phase: events %v", time.Since(t0), names(evs))
	if len(evs) != 1 || evs[0].name != "start" {
		t.Fatalf("during the TCP stream: events %v, want [start]", names(evs))
	}
	checkEnv(t, evs[0], map[string]string{"TUNINETD_PROTO": "tcp", "TUNINETD_DST_PORT": "7777"})
	conn.Close()
	waitEvents(t, logPath, base+2, 5*time.Second)
}

func TestDaemonize(t *testing.T) {
	ns := tunNamespace(t)
	script, logPath := hookScript(t)
	out, code := runBinary(t, ns.Command(binary(t), "-d", "-i", "tun0", "-c", script, "-t", "1"))
	if code != 0 {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] != "---" || !strings.HasPrefix(lines[1], "Success! Tuninetd has been started with PID: ") {
		t.Fatalf("output %q, want the two success lines", out)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(lines[1], "Success! Tuninetd has been started with PID: "))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGKILL)
	})
	if cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd"); err != nil || cwd != "/" {
		t.Errorf("daemon cwd %q (%v), want /", cwd, err)
	}
	if sid, err := unixGetsid(pid); err != nil || sid != pid {
		t.Errorf("daemon session %d (%v), want its own (%d)", sid, err, pid)
	}
	// The daemon works: traffic starts the script, silence stops it.
	ns.SendUDP("10.77.0.2:9999", 1)
	evs := waitEvents(t, logPath, 2, 10*time.Second)
	if evs[0].name != "start" || evs[1].name != "stop" {
		t.Errorf("events %v, want start, stop", names(evs))
	}
	if _, ok := evs[0].env["_TUNINETD_DAEMON_FD"]; ok {
		t.Errorf("the daemon marker leaked into the command's environment")
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		// It is not our child: it was reparented, and init reaps it.
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon %d still running 5s after SIGTERM", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// unixGetsid reads a process's session id from /proc/<pid>/stat.
func unixGetsid(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// After "comm)": state ppid pgrp session ...
	return strconv.Atoi(f[3])
}

func TestDaemonizeBadInterface(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	script, _ := hookScript(t)
	out, code := runBinary(t, ns.Command(binary(t), "-d", "-i", "nosuch0", "-c", script))
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(out, "nosuch0") || !strings.HasSuffix(strings.TrimSpace(out), "Abort") || strings.Contains(out, "Success") {
		t.Errorf("output %q, want an error naming nosuch0, ending in Abort", out)
	}
	if pids, _ := exec.Command("ip", "netns", "pids", ns.Name).Output(); len(strings.TrimSpace(string(pids))) > 0 {
		t.Errorf("processes left in the namespace: %s", pids)
	}
}

// TestStartupErrors runs the binary (no root needed) on command lines
// that must fail before any sensor opens.
func TestStartupErrors(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec.sh")
	os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want []string // substrings of the output, in order
	}{
		{"help", []string{"-h"}, 1, []string{"tuninetd test\n\nEvent emitter", "Examples:"}},
		{"version", []string{"-v"}, 0, []string{"tuninetd test\n"}},
		{"invalid option", []string{"-x"}, 1, []string{bin + ": invalid option -- 'x'\ntuninetd test\n"}},
		{"no sensor", []string{"-c", "/bin/true"}, 1, []string{"Network device or nflog-group must be specified. Abort\ntuninetd test\n"}},
		{"no command", []string{"-i", "lo"}, 1, []string{"Executable path must be specified. Abort\ntuninetd test\n"}},
		{"bad ttl", []string{"-i", "lo", "-c", "/bin/true", "-t", "ten"}, 1, []string{`-t: invalid value "ten"`}},
		{"missing command file", []string{"-i", "lo", "-c", dir + "/nope.sh"}, 1, []string{"Started with pid", "nope.sh", "Abort"}},
		{"command not executable", []string{"-i", "lo", "-c", noexec + " arg"}, 1, []string{"Started with pid", noexec + " is not executable", "Abort"}},
		{"command not in PATH", []string{"-i", "lo", "-c", "no-such-command-xyz start"}, 1, []string{`"no-such-command-xyz" (-c) not found in PATH. Abort`}},
		{"bad filter", []string{"-i", "lo", "-c", "/bin/true", "-f", "udp and"}, 1, []string{`Pcap: wrong filter: "udp and". `, "Abort"}},
		{"unwritable savefile", []string{"-i", "lo", "-c", "/bin/true", "-w", dir + "/no/such/dir/x.pcap"}, 1, []string{"-w", "Abort"}},
		{"bad filter with -d", []string{"-d", "-i", "lo", "-c", "/bin/true", "-f", "host"}, 1, []string{`Pcap: wrong filter: "host". `, "Abort"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runBinary(t, exec.Command(bin, tt.args...))
			if code != tt.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.code, out)
			}
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(out, "Success!") {
				t.Errorf("output claims success:\n%s", out)
			}
		})
	}
}

// TestFilterLinkTypeError: a filter that parses but makes no sense for the
// interface's link type (Ethernet addresses on a raw-IP tun) fails at
// start-up with the original's message, also through -d.
func TestFilterLinkTypeError(t *testing.T) {
	ns := tunNamespace(t)
	for _, daemon := range []bool{false, true} {
		args := []string{"-i", "tun0", "-c", "/bin/true", "-f", "ether host 01:02:03:04:05:06"}
		if daemon {
			args = append([]string{"-d"}, args...)
		}
		out, code := runBinary(t, ns.Command(binary(t), args...))
		// The original's line ends in "Abort"; the expression and a caret
		// under the offending token follow it.
		if code != 1 || !strings.Contains(out, `Pcap: wrong filter: "ether host 01:02:03:04:05:06". `) ||
			!strings.HasSuffix(strings.TrimSpace(out), "Abort\nether host 01:02:03:04:05:06\n           ^~~~~~~~~~~~~~~~~") || strings.Contains(out, "Success") {
			t.Errorf("-d=%v: exit %d, output %q; want 1 and the wrong filter message", daemon, code, out)
		}
	}
}

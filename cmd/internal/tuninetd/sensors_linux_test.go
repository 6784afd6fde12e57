package tuninetd

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// End-to-end tests of the sensors: NFLOG fed by real nft and
// iptables rules, both sensors at once, -w dumps read back by tcpdump.
// Helpers shared with faults_linux_test.go carry an e2e prefix so they
// cannot collide with the harness's.

// e2eRequireTool skips (or, under TUNINETD_REQUIRE_NETNS=1, fails) when a
// command-line tool the test drives is missing.
func e2eRequireTool(t *testing.T, name string) {
	t.Helper()
	sensortest.RequireTool(t, name)
}

// e2eWaitPrefix waits until some stderr line starts with prefix and
// returns the first such line.
func e2eWaitPrefix(p *daemonProc, prefix string, timeout time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range p.output() {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		select {
		case <-p.Done():
			p.t.Fatalf("tuninetd exited (%v) before printing a line starting %q; stderr:\n%s", p.Err(), prefix, strings.Join(p.output(), "\n"))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no line starting %q within %v; stderr:\n%s", prefix, timeout, strings.Join(p.output(), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// e2eCountPrefix counts stderr lines starting with prefix.
func e2eCountPrefix(p *daemonProc, prefix string) int {
	n := 0
	for _, l := range p.output() {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// e2eAlternate checks that the hook log is start, stop, start, stop, ...
func e2eAlternate(t *testing.T, evs []event) {
	t.Helper()
	for i, e := range evs {
		want := "start"
		if i%2 == 1 {
			want = "stop"
		}
		if e.name != want {
			t.Fatalf("event %d is %q, want %q: start and stop must strictly alternate; events %v", i, e.name, want, names(evs))
		}
	}
}

// e2eQuiet asserts that the hook log still has exactly n events after
// waiting d.
func e2eQuiet(t *testing.T, logPath string, n int, d time.Duration, why string) {
	t.Helper()
	time.Sleep(d)
	if evs := readEvents(t, logPath); len(evs) != n {
		t.Fatalf("%s: %d events %v, want %d", why, len(evs), names(evs), n)
	}
}

// e2eReportBlock sends SIGUSR1 and returns the report's lines, from
// "SIGUSR1 caught:" up to the end of what was printed 300 ms later.
func e2eReportBlock(p *daemonProc) []string {
	p.t.Helper()
	n := p.count("SIGUSR1 caught:")
	p.signal(syscall.SIGUSR1)
	p.waitLine("SIGUSR1 caught:", n+1, lineWait)
	e2eWaitPrefix(p, "- current status: ", 2*time.Second)
	time.Sleep(300 * time.Millisecond) // the statistics lines follow the status
	out := p.output()
	seen := 0
	for i, l := range out {
		if l == "SIGUSR1 caught:" {
			seen++
			if seen == n+1 {
				return out[i:]
			}
		}
	}
	p.t.Fatalf("report %d not found", n+1)
	return nil
}

// e2eWaitStandby waits until the daemon reports standby with no command
// running: a stop event in the hook log only means the stop script began,
// and a packet seen while stop still runs is, by design, not a trigger.
func e2eWaitStandby(p *daemonProc) {
	p.t.Helper()
	deadline := time.Now().Add(lineWait)
	for {
		rep := e2eReportBlock(p)
		if hasPrefixLine(rep, "- current status: standby (OFF)") && !hasPrefixLine(rep, "- running command: ") {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("not idle in standby after %v; last report:\n%s", lineWait, strings.Join(rep, "\n"))
		}
	}
}

// e2eNetfilterFile reads /proc/net/netfilter/<name> as seen inside ns.
func e2eNetfilterFile(t *testing.T, ns *sensortest.Namespace, name string) string {
	t.Helper()
	return ns.Run("cat", "/proc/net/netfilter/"+name)
}

// e2eNflogInstance returns the nfnetlink_log line of group (its fields:
// group, peer port id, queue length, copy mode, copy range, flush
// timeout, use count), or "" when no socket has the group bound.
func e2eNflogInstance(t *testing.T, ns *sensortest.Namespace, group int) string {
	t.Helper()
	for _, l := range strings.Split(e2eNetfilterFile(t, ns, "nfnetlink_log"), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == strconv.Itoa(group) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// e2eLogRule adds a rule logging outgoing UDP to dport into NFLOG group,
// with nft ("log group N") or iptables ("-j NFLOG --nflog-group N").
func e2eLogRule(t *testing.T, ns *sensortest.Namespace, kind string, group, dport int) {
	t.Helper()
	switch kind {
	case "nft":
		ns.Run("nft", "add table inet tnde2e")
		ns.Run("nft", "add chain inet tnde2e out { type filter hook output priority 0; }")
		ns.Run("nft", fmt.Sprintf("add rule inet tnde2e out udp dport %d log group %d", dport, group))
	case "iptables":
		ns.Run("iptables", "-A", "OUTPUT", "-p", "udp", "--dport", strconv.Itoa(dport), "-j", "NFLOG", "--nflog-group", strconv.Itoa(group))
	default:
		t.Fatalf("unknown rule kind %q", kind)
	}
}

// e2eIptablesWorks reports whether iptables can add an NFLOG rule in a
// namespace here (the nf_tables backend and the NFLOG target present).
func e2eIptablesWorks(t *testing.T) (bool, string) {
	t.Helper()
	if _, err := exec.LookPath("iptables"); err != nil {
		return false, "iptables missing"
	}
	ns := sensortest.NewNamespace(t)
	out, err := ns.Command("iptables", "-A", "OUTPUT", "-p", "udp", "--dport", "9", "-j", "NFLOG", "--nflog-group", "1").CombinedOutput()
	if err != nil {
		return false, fmt.Sprintf("iptables -j NFLOG does not work here: %v: %s", err, out)
	}
	return true, ""
}

// TestNFLOGRuleKinds: for an nft "log group" rule and an iptables NFLOG
// rule: unlogged traffic does not start, steady logged traffic starts
// exactly once, silence stops within TTL + 0.25 s of the last packet; the
// group is bound while running, and SIGTERM leaves neither our instance
// in nfnetlink_log nor any change in nf_log.
func TestNFLOGRuleKinds(t *testing.T) {
	for _, kind := range []string{"nft", "iptables"} {
		t.Run(kind, func(t *testing.T) {
			e2eRequireTool(t, kind)
			if kind == "iptables" {
				if ok, why := e2eIptablesWorks(t); !ok {
					t.Skip(why)
				}
			}
			const group = 11
			ns := tunNamespace(t)
			e2eLogRule(t, ns, kind, group, 9999)
			nfLogBefore := e2eNetfilterFile(t, ns, "nf_log")
			if inst := e2eNflogInstance(t, ns, group); inst != "" {
				t.Fatalf("group %d bound before tuninetd ran: %q", group, inst)
			}

			script, logPath, _ := e2eScript(t, "")
			p := startTuninetd(t, ns, "-n", strconv.Itoa(group), "-c", script, "-t", "1")
			p.waitLine("Start listening nflog-group "+strconv.Itoa(group), 1, 10*time.Second)
			p.ready()
			if inst := e2eNflogInstance(t, ns, group); inst == "" {
				t.Errorf("group %d not in nfnetlink_log while tuninetd runs", group)
			} else {
				t.Logf("instance while running: %s", inst)
			}

			ns.SendUDP("10.77.0.2:9998", 5) // not logged
			e2eQuiet(t, logPath, 0, 400*time.Millisecond, "unlogged traffic")

			// Steady logged traffic for 2 TTLs: one start, no stop.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			last := sendEvery(ctx, 200*time.Millisecond, func() { ns.SendUDP("10.77.0.2:9999", 1) })
			lastSend := <-last
			cancel()
			evs := readEvents(t, logPath)
			if len(evs) != 1 || evs[0].name != "start" {
				t.Fatalf("during steady logged traffic: events %v, want [start]", names(evs))
			}
			checkEnv(t, evs[0], map[string]string{
				"TUNINETD_EVENT": "start", "TUNINETD_REASON": "packet", "TUNINETD_SENSOR": "nflog",
				"TUNINETD_NFLOG_GROUP": strconv.Itoa(group), "TUNINETD_SRC": "10.77.0.1", "TUNINETD_DST": "10.77.0.2",
				"TUNINETD_PROTO": "udp", "TUNINETD_DST_PORT": "9999",
			})
			p.waitLine("NFLOG: start command done", 1, lineWait)
			evs = waitEvents(t, logPath, 2, 5*time.Second)
			e2eAlternate(t, evs)
			checkEnv(t, evs[1], map[string]string{"TUNINETD_REASON": "idle", "TUNINETD_SENSOR": "nflog"})
			e2eCheckStopTiming(t, evs[1], p.cmd.Process.Pid, lastSend, time.Second)

			p.signal(syscall.SIGTERM)
			if code := p.wait(5 * time.Second); code != 0 {
				t.Errorf("exit %d after SIGTERM, want 0", code)
			}
			if inst := e2eNflogInstance(t, ns, group); inst != "" {
				t.Errorf("after exit nfnetlink_log still has group %d: %q", group, inst)
			}
			if after := e2eNetfilterFile(t, ns, "nf_log"); after != nfLogBefore {
				t.Errorf("nf_log changed by tuninetd:\nbefore:\n%s\nafter:\n%s", nfLogBefore, after)
			}
			if n := len(readEvents(t, logPath)); n != 2 {
				t.Errorf("%d events after exit, want 2", n)
			}
		})
	}
}

// TestNFLOGGroupBusy: a second tuninetd on a group the first one holds
// exits 1 with a message naming the group and the likely holder, in the
// foreground and with -d (the parent reports it before detaching); the
// first one is unaffected.
func TestNFLOGGroupBusy(t *testing.T) {
	e2eRequireTool(t, "nft")
	const group = 12
	ns := tunNamespace(t)
	e2eLogRule(t, ns, "nft", group, 9999)
	script, logPath := hookScript(t)
	first := startTuninetd(t, ns, "-n", strconv.Itoa(group), "-c", script, "-t", "1")
	first.ready()

	for _, daemon := range []bool{false, true} {
		args := []string{"-n", strconv.Itoa(group), "-c", script}
		if daemon {
			args = append([]string{"-d"}, args...)
		}
		out, code := runBinary(t, ns.Command(binary(t), args...))
		t.Logf("second tuninetd %v: exit %d:\n%s", args, code, out)
		if code != 1 {
			t.Errorf("second tuninetd %v: exit %d, want 1", args, code)
		}
		want := fmt.Sprintf("nflog group %d is already bound by another program", group)
		if !strings.Contains(out, want) || !strings.HasSuffix(strings.TrimSpace(out), "Abort") {
			t.Errorf("second tuninetd %v: output lacks %q or does not end in Abort:\n%s", args, want, out)
		}
		if strings.Contains(out, "Success!") {
			t.Errorf("second tuninetd %v claims success:\n%s", args, out)
		}
	}
	// Nothing of the failed daemons is left behind: only the first runs.
	if pids, _ := exec.Command("ip", "netns", "pids", ns.Name).Output(); strings.TrimSpace(string(pids)) != strconv.Itoa(first.cmd.Process.Pid) {
		t.Errorf("processes in the namespace: %q, want only the first tuninetd %d", pids, first.cmd.Process.Pid)
	}
	// The first still owns the group and works.
	ns.SendUDP("10.77.0.2:9999", 1)
	evs := waitEvents(t, logPath, 1, 5*time.Second)
	checkEnv(t, evs[0], map[string]string{"TUNINETD_SENSOR": "nflog"})
	waitEvents(t, logPath, 2, 5*time.Second)
}

// e2eBurstUDP sends up to count datagrams to dst from inside ns as fast
// as it can, for at most d; send errors (a full queue) are ignored. It
// returns how many were sent.
func e2eBurstUDP(t *testing.T, ns *sensortest.Namespace, dst string, count int, d time.Duration) int {
	t.Helper()
	sent := 0
	if err := ns.Do(func() error {
		raddr, err := net.ResolveUDPAddr("udp4", dst)
		if err != nil {
			return err
		}
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		end := time.Now().Add(d)
		msg := []byte("tuninetd-burst")
		for sent < count && (sent%256 != 0 || time.Now().Before(end)) {
			c.WriteToUDP(msg, raddr)
			sent++
		}
		return nil
	}); err != nil {
		t.Fatalf("burst to %s: %v", dst, err)
	}
	return sent
}

// TestNFLOGOverflowKeepsUp: a socket queue overflow (ENOBUFS) in up state
// is logged once with the original's warning, counted, and taken as
// activity: the state stays up, the sensor keeps reading, and stop comes
// only after real silence.
//
// The CLI has no option for the receive buffer (nflog.Config.RcvBuf), so
// the overflow is provoked the way it happens on a busy router: the
// reader does not get to run (SIGSTOP) while a burst of logged packets
// (many 64 KiB batches) arrives, then resumes.
func TestNFLOGOverflowKeepsUp(t *testing.T) {
	e2eRequireTool(t, "nft")
	const group = 13
	const ttl = 3 * time.Second
	ns := quietNamespace(t)
	e2eLogRule(t, ns, "nft", group, 9999)
	script, logPath := hookScript(t)
	p := startTuninetd(t, ns, "-n", strconv.Itoa(group), "-c", script, "-t", "3")
	p.ready()
	e2eWaitPrefix(p, "NFLOG: adjust nfnl_rcvbufsiz to ", time.Second)

	ns.SendUDP("127.0.0.1:9999", 1)
	waitEvents(t, logPath, 1, 5*time.Second)
	p.waitLine("NFLOG: start command done", 1, lineWait)

	// Light traffic in up state, then the burst while the daemon is
	// frozen: at most 0.8 s, well inside the TTL.
	ns.SendUDP("127.0.0.1:9999", 1)
	p.signal(syscall.SIGSTOP)
	frozen := time.Now()
	sent := e2eBurstUDP(t, ns, "127.0.0.1:9999", 200000, 700*time.Millisecond)
	p.signal(syscall.SIGCONT)
	t.Logf("sent %d logged datagrams while frozen for %v", sent, time.Since(frozen))

	p.waitLine("NFLOG: warning! No enough nfnlbufsiz...", 1, lineWait)
	// Still up and still sensing: light traffic for longer than the TTL
	// keeps it up.
	ctx, cancel := context.WithTimeout(context.Background(), ttl+time.Second)
	last := sendEvery(ctx, 300*time.Millisecond, func() { ns.SendUDP("127.0.0.1:9999", 1) })
	<-last
	cancel()
	if evs := readEvents(t, logPath); len(evs) != 1 {
		t.Fatalf("after the overflow: events %v, want [start] (the up state was lost)", names(evs))
	}
	rep := e2eReportBlock(p)
	var stats string
	for _, l := range rep {
		if strings.HasPrefix(l, fmt.Sprintf("-- nflog group %d: ", group)) {
			stats = l
		}
	}
	if !hasPrefixLine(rep, "- current status: up (ON)") {
		t.Errorf("status after the overflow is not up: %q", rep)
	}
	if stats == "" || strings.Contains(stats, " 0 ENOBUFS") {
		t.Errorf("statistics line %q does not count the overflow", stats)
	}
	t.Logf("%s", stats)
	if n := p.count("NFLOG: warning! No enough nfnlbufsiz..."); n != 1 {
		t.Errorf("overflow warning logged %d times, want once per burst", n)
	}
	evs := waitEvents(t, logPath, 2, ttl+5*time.Second)
	e2eAlternate(t, evs)
	checkEnv(t, evs[1], map[string]string{"TUNINETD_REASON": "idle"})
}

// TestBothSensors: -i tun0 -f ... -n N together. Each sensor triggers on
// its own; traffic both see starts exactly once; stop waits until both
// were idle for the TTL; -w holds every trigger packet, readable by
// tcpdump; SIGUSR1 lists both engines and per-sensor statistics.
func TestBothSensors(t *testing.T) {
	e2eRequireTool(t, "nft")
	const group = 14
	ns := tunNamespace(t)
	// pcap sees 7777 and 8888 (its filter); nflog sees 9999 and 8888.
	ns.Run("nft", "add table inet tnde2e")
	ns.Run("nft", "add chain inet tnde2e out { type filter hook output priority 0; }")
	ns.Run("nft", fmt.Sprintf("add rule inet tnde2e out udp dport { 8888, 9999 } log group %d", group))
	script, logPath, _ := e2eScript(t, "")
	pcap := filepath.Join(filepath.Dir(logPath), "both.pcap")
	filter := "udp port 7777 or udp port 8888"
	p := startTuninetd(t, ns, "-i", "tun0", "-f", filter, "-n", strconv.Itoa(group), "-c", script, "-t", "1", "-w", pcap)
	p.ready()

	// SIGUSR1: both engines in the original's order, then statistics.
	rep := e2eReportBlock(p)
	want := []string{
		"SIGUSR1 caught:",
		"- capture engine: pcap, tun0",
		`-- pcap filter: "` + filter + `"`,
		fmt.Sprintf("- capture engine: nflog group %d", group),
		"- file to dump start event packets (pcap format): " + pcap,
		"- event path: " + script,
		"- TTL: 1 sec.",
		"- current status: standby (OFF)",
	}
	for i, w := range want {
		if i >= len(rep) || rep[i] != w {
			t.Fatalf("SIGUSR1 report line %d: want %q; report:\n%s", i, w, strings.Join(rep, "\n"))
		}
	}
	if !hasPrefixLine(rep[len(want):], "- pcap sensor: tun0") {
		t.Errorf("SIGUSR1 report lacks the pcap statistics line:\n%s", strings.Join(rep, "\n"))
	}
	if !hasPrefixLine(rep[len(want):], fmt.Sprintf("-- nflog group %d: ", group)) {
		t.Errorf("SIGUSR1 report lacks the nflog statistics line:\n%s", strings.Join(rep, "\n"))
	}

	// Each sensor alone.
	cycle := func(dst string, n int, sensorKind, port string) {
		t.Helper()
		ns.SendUDP(dst, 1)
		evs := waitEvents(t, logPath, n+1, 5*time.Second)
		checkEnv(t, evs[n], map[string]string{"TUNINETD_EVENT": "start", "TUNINETD_SENSOR": sensorKind, "TUNINETD_DST_PORT": port})
		evs = waitEvents(t, logPath, n+2, 5*time.Second)
		e2eAlternate(t, evs)
		e2eWaitStandby(p)
	}
	cycle("10.77.0.2:7777", 0, "pcap", "7777")
	p.waitLine("PCAP: start command done", 1, lineWait)
	cycle("10.77.0.2:9999", 2, "nflog", "9999")
	p.waitLine("NFLOG: start command done", 1, lineWait)

	// Traffic both see: exactly one start.
	ns.SendUDP("10.77.0.2:8888", 1)
	evs := waitEvents(t, logPath, 5, 5*time.Second)
	checkEnv(t, evs[4], map[string]string{"TUNINETD_EVENT": "start", "TUNINETD_DST_PORT": "8888"})
	evs = waitEvents(t, logPath, 6, 5*time.Second)
	e2eAlternate(t, evs)
	if len(evs) != 6 {
		t.Fatalf("events %v, want three start/stop pairs", names(evs))
	}
	// The slower sensor's report of the same packet starts nothing later.
	e2eQuiet(t, logPath, 6, 300*time.Millisecond, "after the shared packet's stop")
	e2eWaitStandby(p)

	// One sensor busy, the other silent: no stop; then the other way
	// round; stop only after both are silent.
	ns.SendUDP("10.77.0.2:8888", 1)
	waitEvents(t, logPath, 7, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	<-sendEvery(ctx, 250*time.Millisecond, func() { ns.SendUDP("10.77.0.2:9999", 1) })
	cancel()
	if evs := readEvents(t, logPath); len(evs) != 7 {
		t.Fatalf("nflog busy, pcap silent: events %v, want no stop after the 7th", names(evs))
	}
	ctx, cancel = context.WithTimeout(context.Background(), 2500*time.Millisecond)
	lastSend := <-sendEvery(ctx, 250*time.Millisecond, func() { ns.SendUDP("10.77.0.2:7777", 1) })
	cancel()
	if evs := readEvents(t, logPath); len(evs) != 7 {
		t.Fatalf("pcap busy, nflog silent: events %v, want no stop after the 7th", names(evs))
	}
	evs = waitEvents(t, logPath, 8, 5*time.Second)
	e2eAlternate(t, evs)
	e2eCheckStopTiming(t, evs[7], p.cmd.Process.Pid, lastSend, time.Second)

	// -w: the trigger packets of the four starts, in order.
	e2eRequireTool(t, "tcpdump")
	out, err := exec.Command("tcpdump", "-nn", "-r", pcap).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -nn -r %s: %v\n%s", pcap, err, out)
	}
	var pkts []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, " IP ") {
			pkts = append(pkts, l)
		}
	}
	ports := []string{"7777", "9999", "8888", "8888"}
	if len(pkts) != len(ports) {
		t.Fatalf("tcpdump -r read %d packets, want %d:\n%s", len(pkts), len(ports), out)
	}
	for i, port := range ports {
		if !strings.Contains(pkts[i], " IP 10.77.0.1.") || !strings.Contains(pkts[i], " > 10.77.0.2."+port+": UDP") {
			t.Errorf("packet %d %q: want 10.77.0.1.<port> > 10.77.0.2.%s: UDP", i, pkts[i], port)
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(5 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
}

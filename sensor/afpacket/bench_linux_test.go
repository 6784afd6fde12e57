package afpacket

// Benchmarks against tcpdump on veth traffic in a throwaway namespace. They
// measure and print; they assert nothing. Run (as root):
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 600s -v ./sensor/afpacket/
//
// Each benchmark does a fixed amount of work whatever b.N is, so -benchtime
// 1x is the intended setting. All four take about a minute together; they
// need tcpdump (skipped without it).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// blastEnv makes the test binary a frame blaster (see TestMain): the value
// is "<ifname> <count>"; it runs inside the namespace via ip netns exec.
const blastEnv = "AFPACKET_BENCH_BLAST"

// sensorEnv makes the test binary a stand-alone up-state sensor on the
// named interface until stdin closes, so its CPU time can be measured like
// tcpdump's, as a separate process.
const sensorEnv = "AFPACKET_BENCH_SENSOR"

func TestMain(m *testing.M) {
	if ifname := os.Getenv(sensorEnv); ifname != "" {
		if err := runSensorProcess(ifname); err != nil {
			fmt.Fprintln(os.Stderr, "sensor:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if spec := os.Getenv(blastEnv); spec != "" {
		if err := blast(spec); err != nil {
			fmt.Fprintln(os.Stderr, "blast:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runSensorProcess is the body of a stand-alone sensor process: it says
// "ready" once in up state and prints its counters when stdin closes.
func runSensorProcess(ifname string) error {
	f, err := bpfc.Parse("udp")
	if err != nil {
		return err
	}
	s, err := Open(Config{Interface: ifname, Filter: f, Logf: func(format string, v ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", v...)
	}})
	if err != nil {
		return err
	}
	defer s.Close()
	sink := sensortest.NewRecorder(4096)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, sink)
	if os.Getenv(sensorEnv+"_STANDBY") == "" {
		s.SetMode(sensor.Up)
	}
	time.Sleep(50 * time.Millisecond)
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	fmt.Printf("%d %d %d\n", s.seen.Load(), s.drops.Load(), len(sink.C))
	return nil
}

// taskCPU sums the on-CPU time of every thread of pid.
func taskCPU(pid int) (time.Duration, error) {
	dirs, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, d := range dirs {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, d.Name()))
		if err != nil {
			continue // thread exited
		}
		v, _ := strconv.ParseInt(strings.Fields(string(data))[0], 10, 64)
		sum += time.Duration(v)
	}
	return sum, nil
}

// blast sends count minimal IPv4/UDP frames out of ifname as fast as one
// thread can, bypassing the qdisc.
func blast(spec string) error {
	var ifname string
	var count int
	if _, err := fmt.Sscan(spec, &ifname, &count); err != nil {
		return err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	dst := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	frame := ether(dst, ifi.HardwareAddr, ipv4UDP(ipB, ipA, 1, 9, make([]byte, 18)))
	to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	copy(to.Addr[:], dst)
	for i := 0; i < count; i++ {
		if err := unix.Sendto(fd, frame, 0, to); err != nil && err != unix.ENOBUFS && err != unix.EAGAIN {
			return err
		}
	}
	return nil
}

// tcpdump runs tcpdump inside ns; the returned command has started.
func startTcpdump(b *testing.B, ns *sensortest.Namespace, args ...string) (*exec.Cmd, *bufio.Scanner) {
	b.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		b.Skip("tcpdump not installed")
	}
	cmd := ns.Command("tcpdump", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	// Ready once it says it is listening.
	sc := bufio.NewScanner(stderr)
	ready := make(chan struct{})
	go func() {
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				close(ready)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		b.Fatal("tcpdump did not start listening")
	}
	time.Sleep(100 * time.Millisecond)
	return cmd, bufio.NewScanner(out)
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p * float64(len(s)-1))
	return s[i]
}

// BenchmarkStandbyLatency measures the time from handing a frame to the
// sending socket until the sink (or tcpdump's output) has it.
func BenchmarkStandbyLatency(b *testing.B) {
	const trials = 200
	ns := sensortest.NewNamespace(b)
	ns.AddVeth("va", "", "vb", "")
	onB := newFrameSender(b, ns, "vb")
	dst := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	frame := ether(dst, onB.mac, ipv4UDP(ipB, ipA, 1, 9, []byte("latency")))

	var s *Sensor
	if err := ns.Do(func() (err error) { s, err = Open(Config{Interface: "va", Filter: mustParse(b, "udp")}); return }); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	sink := sensortest.NewRecorder(4096)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, sink)
	time.Sleep(50 * time.Millisecond)
	var ours []time.Duration
	for i := 0; i < trials; i++ {
		t0 := time.Now()
		onB.send(b, frame)
		select {
		case rep := <-sink.C:
			ours = append(ours, rep.At.Sub(t0))
		case <-time.After(2 * time.Second):
			b.Fatalf("trial %d: no report", i)
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	s.Close()

	_, out := startTcpdump(b, ns, "-i", "va", "-l", "-n", "-q", "--immediate-mode", "udp")
	lines := make(chan time.Time, 16)
	go func() {
		for out.Scan() {
			lines <- time.Now()
		}
	}()
	var td []time.Duration
	for i := 0; i < trials; i++ {
		t0 := time.Now()
		onB.send(b, frame)
		select {
		case at := <-lines:
			td = append(td, at.Sub(t0))
		case <-time.After(2 * time.Second):
			b.Fatalf("tcpdump trial %d: no line", i)
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.ReportMetric(float64(percentile(ours, 0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(ours, 0.99).Microseconds()), "p99-µs")
	b.Logf("first-packet latency over %d trials: ours p50 %v p99 %v; tcpdump --immediate-mode p50 %v p99 %v",
		trials, percentile(ours, 0.5), percentile(ours, 0.99), percentile(td, 0.5), percentile(td, 0.99))
}

// timerSoftirqs sums the TIMER and HRTIMER lines of /proc/softirqs.
func timerSoftirqs(b *testing.B) uint64 {
	data, err := os.ReadFile("/proc/softirqs")
	if err != nil {
		b.Fatal(err)
	}
	var sum uint64
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != "TIMER:" && f[0] != "HRTIMER:") {
			continue
		}
		for _, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			sum += n
		}
	}
	return sum
}

// BenchmarkIdleSoftirqs measures system-wide timer softirqs per second
// while nothing but an idle capture runs on the veth: baseline, ours in
// standby, ours in up state, tcpdump (default 1 s timeout: a V3 ring with
// tov 1000 ms), tcpdump --immediate-mode (libpcap then uses TPACKET_V2, no
// timer) and a V3 ring with tov 10 ms as tuninetd 1.5.1's libpcap handle. The box's own activity is in every number; compare each
// with the baseline measured next to it.
func BenchmarkIdleSoftirqs(b *testing.B) {
	const window, rounds = 2 * time.Second, 3
	ns := sensortest.NewNamespace(b)
	ns.AddVeth("va", "", "vb", "")
	rate := func() float64 {
		s0 := timerSoftirqs(b)
		time.Sleep(window)
		return float64(timerSoftirqs(b)-s0) / window.Seconds()
	}
	var s *Sensor
	if err := ns.Do(func() (err error) { s, err = Open(Config{Interface: "va", Filter: mustParse(b, "udp")}); return }); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, sensortest.NewRecorder(4096))

	// What tuninetd 1.5.1's libpcap handle set up: a TPACKET_V3 ring with
	// the 10 ms read timeout as its block-retire timeout.
	v3ring := func() float64 {
		var r float64
		if err := ns.Do(func() error {
			ps, err := newPacketSocket(unix.SOCK_RAW, "v3-10ms")
			if err != nil {
				return err
			}
			defer ps.close()
			if err := ps.control(func(fd int) error {
				return unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3)
			}); err != nil {
				return err
			}
			ring, err := ps.setupRing(32, 64<<10, 10*time.Millisecond)
			if err != nil {
				return err
			}
			defer ps.freeRing(ring)
			idx, _, _, err := ps.ifInfo("va")
			if err != nil {
				return err
			}
			if err := ps.bind(idx); err != nil {
				return err
			}
			r = rate()
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		return r
	}
	tcpdump := func(args ...string) float64 {
		cmd, _ := startTcpdump(b, ns, args...)
		r := rate()
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		return r
	}
	names := []string{"ours-standby", "ours-up", "tcpdump", "tcpdump-immediate", "v3-ring-tov10ms"}
	deltas := map[string][]float64{}
	var bases []float64
	for round := 0; round < rounds; round++ {
		// The sensor stays open in standby except for its own window;
		// standby costs nothing, so it does not disturb the others.
		base := rate()
		bases = append(bases, base)
		deltas["ours-standby"] = append(deltas["ours-standby"], rate()-base)
		setMode(b, s, sensor.Up)
		deltas["ours-up"] = append(deltas["ours-up"], rate()-base)
		setMode(b, s, sensor.Standby)
		deltas["tcpdump"] = append(deltas["tcpdump"], tcpdump("-i", "va", "-n", "-w", "/dev/null", "udp")-base)
		deltas["tcpdump-immediate"] = append(deltas["tcpdump-immediate"], tcpdump("-i", "va", "-n", "--immediate-mode", "-w", "/dev/null", "udp")-base)
		deltas["v3-ring-tov10ms"] = append(deltas["v3-ring-tov10ms"], v3ring()-base)
	}
	median := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(median(deltas["ours-standby"]), "standby-timers/s")
	parts := []string{fmt.Sprintf("baseline %.0f/s", median(bases))}
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %+.0f/s", k, median(deltas[k])))
	}
	b.Logf("timer softirqs (TIMER+HRTIMER, all CPUs), median over %d rounds of %v windows, each minus its round's baseline: %s",
		rounds, window, strings.Join(parts, ", "))
}

// ctxSwitches sums the context switches (voluntary and not) of every
// thread of pid: how often the process woke up.
func ctxSwitches(b *testing.B, pid int) uint64 {
	dirs, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	var sum uint64
	for _, d := range dirs {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, d.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) == 2 && strings.HasSuffix(f[0], "ctxt_switches:") {
				n, _ := strconv.ParseUint(f[1], 10, 64)
				sum += n
			}
		}
	}
	return sum
}

// BenchmarkIdleWakeups counts how often an idle capture process wakes up
// (context switches of all its threads): our sensor as its own process in
// standby and in up state, and tcpdump with and without --immediate-mode,
// each watching a silent veth. Unlike system-wide softirq counts this is
// not blurred by whatever else the machine does.
func BenchmarkIdleWakeups(b *testing.B) {
	const window = 3 * time.Second
	ns := sensortest.NewNamespace(b)
	ns.AddVeth("va", "", "vb", "")
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	measure := func(pid int) float64 {
		time.Sleep(300 * time.Millisecond) // past start-up
		c0 := ctxSwitches(b, pid)
		time.Sleep(window)
		return float64(ctxSwitches(b, pid)-c0) / window.Seconds()
	}
	ours := func(standby bool) float64 {
		sp := ns.Command(exe)
		sp.Env = append(os.Environ(), sensorEnv+"=va")
		if standby {
			sp.Env = append(sp.Env, sensorEnv+"_STANDBY=1")
		}
		stdin, _ := sp.StdinPipe()
		stdout, _ := sp.StdoutPipe()
		if err := sp.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { stdin.Close(); sp.Wait() }()
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "ready" {
			b.Fatalf("sensor process did not get ready")
		}
		go func() {
			for sc.Scan() {
			}
		}()
		return measure(sp.Process.Pid)
	}
	tcpdump := func(args ...string) float64 {
		cmd, _ := startTcpdump(b, ns, args...)
		r := measure(cmd.Process.Pid)
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		return r
	}
	standby := ours(true)
	up := ours(false)
	td := tcpdump("-i", "va", "-n", "-w", "/dev/null", "udp")
	tdi := tcpdump("-i", "va", "-n", "--immediate-mode", "-w", "/dev/null", "udp")
	b.ReportMetric(standby, "standby-wakeups/s")
	b.ReportMetric(up, "up-wakeups/s")
	b.Logf("idle process wake-ups (context switches/s, all threads): ours standby %.1f, ours up %.1f, tcpdump %.1f, tcpdump --immediate-mode %.1f",
		standby, up, td, tdi)
}

// BenchmarkUpCPU measures the CPU time of our sensor in up state and of
// tcpdump -w /dev/null, each a separate process, while both capture the same
// flood of matching frames from a third (blaster) process.
func BenchmarkUpCPU(b *testing.B) {
	const frames = 1000000
	ns := sensortest.NewNamespace(b)
	ns.AddVeth("va", "", "vb", "")
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	sp := ns.Command(exe)
	sp.Env = append(os.Environ(), sensorEnv+"=va")
	stdin, err := sp.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := sp.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	sp.Stderr = os.Stderr
	if err := sp.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); sp.Process.Kill(); sp.Wait() }()
	sout := bufio.NewScanner(stdout)
	if !sout.Scan() || sout.Text() != "ready" {
		b.Fatalf("sensor process did not get ready: %q", sout.Text())
	}
	td, _ := startTcpdump(b, ns, "-i", "va", "-n", "-w", "/dev/null", "udp")
	time.Sleep(200 * time.Millisecond)

	cpu := func(pid int) time.Duration {
		d, err := taskCPU(pid)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	// Idle cost first, over the same kind of window.
	i0, it0, iw0 := cpu(sp.Process.Pid), cpu(td.Process.Pid), time.Now()
	time.Sleep(2 * time.Second)
	idleOurs, idleTd, idleWall := cpu(sp.Process.Pid)-i0, cpu(td.Process.Pid)-it0, time.Since(iw0)
	b.Logf("idle up state: ours %v CPU per second, tcpdump %v per second",
		(idleOurs * time.Second / idleWall).Round(time.Microsecond), (idleTd * time.Second / idleWall).Round(time.Microsecond))

	const reps = 3
	var oursR, theirsR, ratios []float64
	var walls []time.Duration
	var wake, tdWake []float64
	for rep := 0; rep < reps; rep++ {
		o0, t0, w0 := cpu(sp.Process.Pid), cpu(td.Process.Pid), time.Now()
		x0, y0 := ctxSwitches(b, sp.Process.Pid), ctxSwitches(b, td.Process.Pid)
		bl := ns.Command(exe)
		bl.Env = append(os.Environ(), fmt.Sprintf("%s=vb %d", blastEnv, frames))
		if out, err := bl.CombinedOutput(); err != nil {
			b.Fatalf("blaster: %v: %s", err, out)
		}
		walls = append(walls, time.Since(w0))
		wake = append(wake, float64(ctxSwitches(b, sp.Process.Pid)-x0)/walls[rep].Seconds())
		tdWake = append(tdWake, float64(ctxSwitches(b, td.Process.Pid)-y0)/walls[rep].Seconds())
		time.Sleep(3 * UpTick) // the last tick and tcpdump's last block
		ours, theirs := cpu(sp.Process.Pid)-o0, cpu(td.Process.Pid)-t0
		oursR = append(oursR, float64(ours)/1e6) // ms per run of 1M frames
		theirsR = append(theirsR, float64(theirs)/1e6)
		ratios = append(ratios, 100*float64(ours)/float64(theirs))
	}
	stdin.Close()
	var seen, drops, reports int
	if sout.Scan() {
		fmt.Sscan(sout.Text(), &seen, &drops, &reports)
	}
	median := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	all := func(v []float64) string {
		var parts []string
		for _, x := range v {
			parts = append(parts, fmt.Sprintf("%.1f", x))
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	slices.Sort(walls)
	b.ReportMetric(median(oursR), "ours-ms/Mpkt")
	b.ReportMetric(median(theirsR), "tcpdump-ms/Mpkt")
	b.ReportMetric(median(ratios), "ours/tcpdump-%")
	b.Logf("wake-ups (context switches/s) during the flood: ours %s, tcpdump %s", all(wake), all(tdWake))
	b.Logf("up state, %d x %d frames (median %v per run, %.0f kpps): CPU per Mpkt, median of %d: ours %.1f ms %v, tcpdump -w /dev/null %.1f ms %v; ours/tcpdump %.1f%% %v; sensor counted %d incl. %d ring-full drops in %d reports",
		reps, frames, walls[len(walls)/2].Round(time.Millisecond), float64(frames)/walls[len(walls)/2].Seconds()/1000, reps,
		median(oursR), all(oursR), median(theirsR), all(theirsR), median(ratios), all(ratios), seen, drops, reports)
}

package tuninetd

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTunRecreatedCycles is a VPN's life cycle, with the real binary:
// the tun device is deleted and re-created 100 times under tuninetd's feet
// (half of the time while up, half after stop). Every cycle's traffic must
// produce exactly one start and, after silence, exactly one stop, and the
// daemon's descriptors and threads must not grow with the cycles.
func TestTunRecreatedCycles(t *testing.T) {
	cycles := 100
	if testing.Short() {
		cycles = 10
	}
	ns := quietNamespace(t)
	script, logPath := hookScript(t)
	dev := ns.AddTun("tun0", "10.77.0.1/24")
	p := startTuninetd(t, ns, "-i", "tun0", "-c", script, "-t", "1")
	p.ready()
	pid := p.cmd.Process.Pid

	var fds, threads []int
	for i := 0; i < cycles; i++ {
		if i > 0 {
			dev = ns.AddTun("tun0", "10.77.0.1/24")
		}
		// The sensor re-binds on the link notification; until then the
		// packets of this cycle are not seen. Send until start shows up,
		// a bounded number of times.
		want := 2*i + 1
		var evs []event
		for try := 0; ; try++ {
			ns.SendUDP("10.77.0.2:9999", 1)
			evs = readEvents(t, logPath)
			if len(evs) >= want {
				break
			}
			if try == 100 {
				t.Fatalf("cycle %d: no start after %d packets to the re-created tun0; events %v", i, try+1, names(evs))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if i%2 == 0 {
			// Delete while up: no activity can follow, so stop fires on
			// time.
			waitEvents(t, logPath, want, 5*time.Second)
			dev.Close()
			evs = waitEvents(t, logPath, want+1, 5*time.Second)
		} else {
			// Delete after stop, in standby.
			evs = waitEvents(t, logPath, want+1, 5*time.Second)
			dev.Close()
		}
		for j, ev := range evs {
			if wantName := [2]string{"start", "stop"}[j%2]; ev.name != wantName {
				t.Fatalf("cycle %d: event %d is %q, want %q; events %v", i, j, ev.name, wantName, names(evs))
			}
		}
		if len(evs) != want+1 {
			t.Fatalf("cycle %d: %d events, want %d: %v", i, len(evs), want+1, names(evs))
		}
		// Sample only when no command runs: a running command holds
		// its output pipe, which is not a leak.
		e2eWaitStandby(p)
		fds = append(fds, countDir(t, "/proc/"+strconv.Itoa(pid)+"/fd"))
		threads = append(threads, procThreads(t, pid))
	}
	// Allow the first cycles to warm up (the runtime starts threads
	// lazily); after that nothing may grow with the cycles.
	warm := len(fds) / 5
	maxOf := func(v []int) int {
		m := 0
		for _, x := range v {
			m = max(m, x)
		}
		return m
	}
	t.Logf("fds per cycle: first %v, last %v; threads: first %v, last %v", fds[:warm+1], fds[len(fds)-3:], threads[:warm+1], threads[len(threads)-3:])
	if late, early := maxOf(fds[warm:]), maxOf(fds[:warm+1]); late > early {
		t.Errorf("daemon fds grew from %d to %d over %d re-creations", early, late, cycles)
	}
	if late, early := maxOf(threads[warm:]), maxOf(threads[:warm+1]); late > early+2 {
		t.Errorf("daemon threads grew from %d to %d over %d re-creations", early, late, cycles)
	}
	if n := p.count("pcap: interface tun0 disappeared, waiting for it to return"); n < cycles/2 {
		t.Errorf("%d 'disappeared' lines for %d deletions", n, cycles)
	}
}

func countDir(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func procThreads(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no Threads line in /proc/%d/status", pid)
	return 0
}

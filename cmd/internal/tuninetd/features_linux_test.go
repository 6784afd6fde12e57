package tuninetd

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
	"github.com/tuninetd/tuninetd/tuntap"
)

// TestHoldDevice: -m tun holds a persistent tun (so it has carrier and
// traffic to it is seen), lets go of it for start so that the "VPN" can
// attach, and takes it back after stop so the next traffic starts again.
func TestHoldDevice(t *testing.T) {
	ns := quietNamespace(t)
	ns.Run("ip", "tuntap", "add", "dev", "tun0", "mode", "tun")
	ns.Run("ip", "addr", "add", "10.79.0.1/24", "dev", "tun0")
	ns.Run("ip", "link", "set", "tun0", "up")
	script, logPath := hookScript(t)
	p := startTuninetd(t, ns, "-i", "tun0", "-m", "tun", "-c", script, "-t", "1")
	p.ready()
	if err := tryAttach(ns); !errors.Is(err, tuntap.ErrBusy) {
		t.Fatalf("attach while tuninetd holds tun0: %v, want busy", err)
	}

	ns.SendUDP("10.79.0.2:9999", 1)
	waitEvents(t, logPath, 1, 5*time.Second)
	// Released before start ran: the VPN can attach now.
	if err := tryAttach(ns); err != nil {
		t.Fatalf("attach after start: %v", err)
	}
	evs := waitEvents(t, logPath, 2, 5*time.Second)
	if evs[1].name != "stop" {
		t.Fatalf("events %v, want start, stop", names(evs))
	}
	deadline := time.Now().Add(3 * time.Second)
	for err := tryAttach(ns); !errors.Is(err, tuntap.ErrBusy); err = tryAttach(ns) {
		if time.Now().After(deadline) {
			t.Fatalf("holder not back 3s after stop: attach gives %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The kernel turns the carrier back on when the holder attaches, but
	// activates the device's queue only later, from its link-watch work
	// (up to a second); until then what is routed to tun0 is dropped
	// before any capture sees it. The sensor logs the device up from the
	// notification sent once the queue is active.
	waitLinkUp(t, p, "tun0")
	ns.SendUDP("10.79.0.2:9999", 1)
	evs = waitEvents(t, logPath, 3, 5*time.Second)
	if evs[2].name != "start" {
		t.Fatalf("events %v, want start, stop, start", names(evs))
	}
}

// waitLinkUp waits until the newest of the capture sensor's "interface
// ifname is up/down" lines says up.
func waitLinkUp(t *testing.T, p *daemonProc, ifname string) {
	t.Helper()
	prefix := "pcap: interface " + ifname + " is "
	deadline := time.Now().Add(lineWait)
	for {
		last := ""
		for _, l := range p.output() {
			if strings.HasPrefix(l, prefix) {
				last = l
			}
		}
		if last == prefix+"up" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not reported up within %v; stderr:\n%s", ifname, lineWait, strings.Join(p.output(), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tryAttach attaches to tun0 in ns as a VPN would, and lets go at once.
func tryAttach(ns *sensortest.Namespace) error {
	return ns.Do(func() error {
		d, err := tuntap.Open("tun0", tuntap.TUN, false)
		if err != nil {
			return err
		}
		return d.Close()
	})
}

// TestNFLOGAndSavefile: -n with an nft "log group" rule starts with the
// nflog environment, and -w records the trigger packet readably.
func TestNFLOGAndSavefile(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		if os.Getenv("TUNINETD_REQUIRE_NETNS") == "1" {
			t.Fatal("nft missing (TUNINETD_REQUIRE_NETNS=1)")
		}
		t.Skip("nft missing")
	}
	ns := tunNamespace(t)
	ns.Run("nft", "add table inet tnd; add chain inet tnd out { type filter hook output priority 0; }; add rule inet tnd out udp dport 9999 log group 5")
	script, logPath := hookScript(t)
	pcap := filepath.Join(filepath.Dir(logPath), "start.pcap")
	p := startTuninetd(t, ns, "-n", "5", "-c", script, "-t", "1", "-w", pcap)
	p.waitLine("Start listening nflog-group 5", 1, 10*time.Second)
	p.ready()
	p.waitLine("- capture engine: nflog group 5", 1, lineWait)

	ns.SendUDP("10.77.0.2:9998", 3) // not logged: no start
	time.Sleep(300 * time.Millisecond)
	if evs := readEvents(t, logPath); len(evs) != 0 {
		t.Fatalf("unlogged traffic caused %v", names(evs))
	}
	ns.SendUDP("10.77.0.2:9999", 1)
	evs := waitEvents(t, logPath, 1, 5*time.Second)
	checkEnv(t, evs[0], map[string]string{
		"TUNINETD_SENSOR": "nflog", "TUNINETD_NFLOG_GROUP": "5", "TUNINETD_REASON": "packet",
		"TUNINETD_SRC": "10.77.0.1", "TUNINETD_DST": "10.77.0.2", "TUNINETD_PROTO": "udp", "TUNINETD_DST_PORT": "9999",
	})
	p.waitLine("NFLOG: start command done", 1, lineWait)
	evs = waitEvents(t, logPath, 2, 6*time.Second)
	if evs[1].name != "stop" {
		t.Errorf("events %v, want start, stop", names(evs))
	}

	b, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatalf("-w file: %v", err)
	}
	if len(b) < 24 || !bytes.Equal(b[:4], []byte{0xd4, 0xc3, 0xb2, 0xa1}) && !bytes.Equal(b[:4], []byte{0xa1, 0xb2, 0xc3, 0xd4}) {
		t.Fatalf("-w file does not start with the pcap magic: % x", b[:min(len(b), 24)])
	}
	if _, err := exec.LookPath("tcpdump"); err == nil {
		out, err := exec.Command("tcpdump", "-n", "-r", pcap).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "10.77.0.1.") || !strings.Contains(string(out), "10.77.0.2.9999") {
			t.Errorf("tcpdump -r %s: %v\n%s", pcap, err, out)
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(5 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
}

// TestCapabilities: as an unprivileged user, without capabilities the
// error names the missing one; with CAP_NET_RAW and CAP_NET_ADMIN (as a
// systemd unit's AmbientCapabilities gives them) both sensors open.
func TestCapabilities(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) missing")
	}
	ns := sensortest.NewNamespace(t)
	bin := binary(t)
	os.Chmod(filepath.Dir(bin), 0o755)
	drop := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"}

	args := append(append([]string{}, drop[1:]...), bin, "-i", "lo", "-c", "/bin/true")
	out, code := runBinary(t, ns.Command(drop[0], args...))
	if code != 1 || !strings.Contains(out, "CAP_NET_RAW") {
		t.Errorf("capture without CAP_NET_RAW: exit %d, output %q; want 1 and the capability named", code, out)
	}
	args = append(append([]string{}, drop[1:]...), bin, "-n", "7", "-c", "/bin/true")
	out, code = runBinary(t, ns.Command(drop[0], args...))
	if code != 1 || !strings.Contains(out, "CAP_NET_ADMIN") {
		t.Errorf("NFLOG without CAP_NET_ADMIN: exit %d, output %q; want 1 and the capability named", code, out)
	}

	caps := []string{"--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=-all,+net_raw,+net_admin", "--ambient-caps=+net_raw,+net_admin", bin, "-i", "lo", "-n", "7", "-c", "/bin/true"}
	p := startProc(t, ns.Command("setpriv", caps...))
	p.ready()
	p.waitLine("- current status: standby (OFF)", 1, lineWait)
	p.signal(syscall.SIGTERM)
	if code := p.wait(5 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
}

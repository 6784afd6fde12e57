package examples

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// wgMu keeps the WireGuard tests apart: wireguard-go's sockets share
// /var/run/wireguard, which a test removes when it made it.
var wgMu sync.Mutex

// wgLab is a lab with a WireGuard office end up (wg-quick) and the config
// of the home end written, not up.
type wgLab struct {
	*lab
	homeIf, homeConf string
	impl             string // kernel WireGuard or wireguard-go
}

func newWireGuardLab(t *testing.T) *wgLab {
	t.Helper()
	requireTools(t, "wg", "wg-quick", "wireguard-go", "nft", "bash")
	wgMu.Lock()
	t.Cleanup(wgMu.Unlock)
	_, err := os.Stat("/var/run/wireguard")
	ourDir := os.IsNotExist(err)
	l := newLab(t)
	homeIf, officeIf := "wgh"+l.tag, "wgo"+l.tag
	homeKey, officeKey := wgKey(t), wgKey(t)
	homeConf := l.file(homeIf+".conf", fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.9.0.2/24

[Peer]
PublicKey = %s
Endpoint = %s:51820
AllowedIPs = 10.8.0.0/24, 10.9.0.0/24
`, homeKey, wgPub(t, officeKey), officeAddr), 0o600)
	officeConf := l.file(officeIf+".conf", fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.9.0.1/24
ListenPort = 51820

[Peer]
PublicKey = %s
AllowedIPs = 10.9.0.2/32
`, officeKey, wgPub(t, homeKey)), 0o600)

	t.Cleanup(func() {
		// Normally down already; after a failure wg-quick down ends a
		// wireguard-go that a kill would leave with its socket behind.
		for _, c := range []struct {
			ns           *sensortest.Namespace
			conf, ifname string
		}{{l.home, homeConf, homeIf}, {l.office, officeConf, officeIf}} {
			if linkExists(c.ns, c.ifname) {
				c.ns.Command("wg-quick", "down", c.conf).Run()
			}
			os.Remove("/var/run/wireguard/" + c.ifname + ".sock")
		}
		if ourDir {
			os.Remove("/var/run/wireguard") // only if empty
		}
	})
	runIn(t, l.office, nil, "wg-quick", "up", officeConf)
	impl := "kernel WireGuard"
	if _, err := os.Stat("/var/run/wireguard/" + officeIf + ".sock"); err == nil {
		impl = "wireguard-go (userspace)"
	}
	t.Logf("wg-quick uses %s", impl)
	return &wgLab{lab: l, homeIf: homeIf, homeConf: homeConf, impl: impl}
}

// TestWireGuard: wireguard.sh with wg-quick. tuninetd -n on the NFLOG rule
// that setup puts on the office network; the catch route through a tun
// nobody reads. The office end is a second wg-quick interface. On a kernel
// without WireGuard, wg-quick runs the userspace wireguard-go on both ends.
func TestWireGuard(t *testing.T) {
	t.Parallel()
	w := newWireGuardLab(t)
	l, homeIf, homeConf, impl := w.lab, w.homeIf, w.homeConf, w.impl
	env := []string{"WG_CONF=" + homeConf, "WG_NET=10.8.0.0/24", "WG_NFLOG_GROUP=5", "WG_CATCH=wgcatch"}
	sh := l.setup("wireguard.sh", env, "")

	d := startTuninetd(t, l.home, env, "-n", "5", "-c", sh, "-t", fmt.Sprint(int(ttl0/time.Second)))
	r := recipe{
		d:            d,
		p:            newPinger(t, l.home, officeHost),
		firstTimeout: 25 * time.Millisecond,
		up: func() error {
			if dev, err := routeDev(l.home, officeHost); err != nil || dev != homeIf {
				return fmt.Errorf("route to %s: %q %v, want %s", officeHost, dev, err, homeIf)
			}
			return nil
		},
		caught: func() error {
			if linkExists(l.home, homeIf) {
				return fmt.Errorf("%s still exists", homeIf)
			}
			if dev, err := routeDev(l.home, officeHost); err != nil || dev != "wgcatch" {
				return fmt.Errorf("route to %s: %q %v, want the catch device", officeHost, dev, err)
			}
			return nil
		},
	}
	lat := r.runRounds(t)
	t.Logf("wireguard (%s): first ping -> first reply through wg: median %v", impl, median(lat))
	if out := d.output(); strings.Contains(out, "doesn't return 0 code") {
		t.Errorf("a hook command failed:\n%s", out)
	}
}

// TestWireGuardCatchCapture shows why wireguard.sh watches an NFLOG rule:
// with a capture on the catch device instead (tuninetd -i wgcatch -m tun
// and wg-quick up in the command), wg0's route takes the traffic away from
// the sensor once the tunnel is up, and tuninetd stops the tunnel one TTL
// later while pings still flow, losing them.
func TestWireGuardCatchCapture(t *testing.T) {
	t.Parallel()
	w := newWireGuardLab(t)
	l := w.lab
	l.home.Run("ip", "tuntap", "add", "dev", "wgcatch", "mode", "tun")
	l.home.Run("ip", "link", "set", "wgcatch", "up")
	l.home.Run("ip", "route", "add", "10.8.0.0/24", "dev", "wgcatch", "metric", "1000")
	sh, err := filepath.Abs("wireguard.sh")
	if err != nil {
		t.Fatal(err)
	}
	d := startTuninetd(t, l.home, []string{"WG_CONF=" + w.homeConf}, "-i", "wgcatch", "-m", "tun", "-c", sh, "-t", fmt.Sprint(int(ttl0/time.Second)))
	p := newPinger(t, l.home, officeHost)
	t0 := time.Now()
	for p.probe(25*time.Millisecond) != nil {
		if time.Since(t0) > 60*time.Second {
			t.Fatalf("no reply through wg0; tuninetd:\n%s", d.output())
		}
	}
	d.waitCount(lineStarted, 1, 30*time.Second)
	// Pings every 250 ms for 3 x TTL: the stop comes anyway.
	lost := 0
	for end := time.Now().Add(3 * ttl0); time.Now().Before(end); {
		if p.probe(time.Second) != nil {
			lost++
		}
		time.Sleep(250 * time.Millisecond)
	}
	stops := d.count(lineStop)
	if stops == 0 || lost == 0 {
		t.Fatalf("capture on the catch device: %d stops and %d lost pings during use, want both > 0 (has the catch route stopped losing to wg0's?)", stops, lost)
	}
	t.Logf("capture on the catch device: %d stop(s) and %d lost ping(s) during %v of pings every 250 ms", stops, lost, 3*ttl0)
}

func wgKey(t *testing.T) string {
	t.Helper()
	out, err := execOutput("", "wg", "genkey")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wgPub(t *testing.T, key string) string {
	t.Helper()
	out, err := execOutput(key, "wg", "pubkey")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

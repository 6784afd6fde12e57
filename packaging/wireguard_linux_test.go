package packaging

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// setprivBounding turns a unit's CapabilityBoundingSet= into setpriv's
// --bounding-set argument: "CAP_NET_RAW CAP_NET_ADMIN" -> "-all,+net_raw,+net_admin".
func setprivBounding(t *testing.T, unit string) string {
	t.Helper()
	caps := unitSettings(t, unit)["CapabilityBoundingSet"]
	if len(caps) != 1 {
		t.Fatalf("%s: CapabilityBoundingSet %q", unit, caps)
	}
	arg := "-all"
	for _, c := range strings.Fields(caps[0]) {
		arg += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	return arg
}

// wireGuardSetup writes a WireGuard configuration with a fresh key pair
// and no endpoint (nothing leaves the namespace) and the hook the
// documentation gives, and returns the interface name and the hook.
func wireGuardSetup(t *testing.T) (iface, hook string) {
	t.Helper()
	requireTool(t, "wg-quick", "wireguard-tools")
	requireTool(t, "setpriv", "util-linux")
	var b [3]byte
	rand.Read(b[:])
	// The userspace fallback's control socket lives in the global
	// /var/run/wireguard, so the name is unique per run.
	iface = "wgtnd" + hex.EncodeToString(b[:])
	dir := t.TempDir()
	key := func(args ...string) string {
		out, err := exec.Command("wg", args...).Output()
		if err != nil {
			t.Fatalf("wg %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	peer := exec.Command("wg", "pubkey")
	peer.Stdin = strings.NewReader(key("genkey") + "\n")
	peerPub, err := peer.Output()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, iface+".conf")
	text := fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = 10.98.0.1/24\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.98.0.2/32\n",
		key("genkey"), strings.TrimSpace(string(peerPub)))
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	hook = filepath.Join(dir, "vpn.sh")
	script := "#!/bin/sh\ncase \"$1\" in\nstart) wg-quick up " + conf + " ;;\nstop)  wg-quick down " + conf + " ;;\nesac\n"
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return iface, hook
}

// linkExists tells whether the namespace has the interface.
func linkExists(ns *sensortest.Namespace, iface string) bool {
	return exec.Command("ip", "-n", ns.Name, "link", "show", iface).Run() == nil
}

// waitFor polls cond every 50 ms; the bound is generous because it only
// catches a hang on a busy machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// The unit's privilege model with the documented WireGuard hook: tuninetd
// runs as root with only the unit's bounding set and no new privileges; a
// packet runs 'wg-quick up', SIGHUP runs 'wg-quick down'. Without
// CAP_NET_ADMIN in the set the same hook fails, so the test sees the
// capabilities matter.
func TestWireGuardHookUnderUnitCapabilities(t *testing.T) {
	sensortest.RequireNetns(t)
	requireTool(t, "nft", "nftables")
	bin := filepath.Join(binDir(t), "tuninetd")
	bounding := setprivBounding(t, "packaging/systemd/tuninetd@.service")
	iface, hook := wireGuardSetup(t)
	ns := sensortest.NewNamespace(t)

	t.Run("without CAP_NET_ADMIN", func(t *testing.T) {
		out, err := ns.Command("setpriv", "--bounding-set=-all,+net_raw", "--no-new-privs", "--", hook, "start").CombinedOutput()
		if err == nil || linkExists(ns, iface) {
			t.Fatalf("wg-quick up worked without CAP_NET_ADMIN (err %v):\n%s", err, out)
		}
	})

	ns.Run("nft", "add table inet t; add chain inet t o { type filter hook output priority 0; }; add rule inet t o icmp type echo-request log group 7")
	cmd := ns.Command("setpriv", "--bounding-set="+bounding, "--no-new-privs", "--", bin, "-n", "7", "-c", hook, "-t", "3600")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	var log []string
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			for l := range lines {
				log = append(log, l)
			}
			t.Logf("tuninetd log:\n%s", strings.Join(log, "\n"))
		}
	})
	waitLine := func(want string) {
		t.Helper()
		timeout := time.After(90 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("tuninetd exited before logging %q", want)
				}
				log = append(log, l)
				if strings.Contains(l, want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q in tuninetd's log", want)
			}
		}
	}
	waitLine("Start listening nflog-group 7")
	ns.Run("ping", "-c", "1", "-W", "1", "127.0.0.1")
	waitFor(t, "wg-quick up to create "+iface, func() bool { return linkExists(ns, iface) })
	waitLine("NFLOG: start command done")
	if out := ns.Run("wg", "show", iface); !strings.Contains(out, "allowed ips: 10.98.0.2/32") {
		t.Errorf("wg show %s:\n%s", iface, out)
	}

	cmd.Process.Signal(syscall.SIGHUP)
	waitLine("SIGHUP caught, switch to standby mode")
	waitFor(t, "wg-quick down to delete "+iface, func() bool { return !linkExists(ns, iface) })

	cmd.Process.Signal(syscall.SIGTERM)
	for range lines {
	}
	if err := <-exited; err != nil {
		t.Errorf("tuninetd after SIGTERM: %v", err)
	}
}

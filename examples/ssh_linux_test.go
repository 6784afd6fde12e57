package examples

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSSHTunnel: ssh-tunnel.sh, the same tun0 held by tuninetd -m tun in
// standby and used by ssh -w 0:0 while up, against a real sshd in the
// office namespace with its own config, host key, user key and
// PermitTunnel. Nothing system-wide: sshd's privilege separation
// directory is on a tmpfs mounted over /run in the mount namespace that
// ip netns exec gives it.
func TestSSHTunnel(t *testing.T) {
	requireTools(t, "sshd", "ssh", "ssh-keygen")
	t.Parallel()
	l := newLab(t)
	sshd, _ := exec.LookPath("sshd")
	sshd, _ = filepath.Abs(sshd) // sshd insists on being run by absolute path
	for _, k := range []string{"host_key", "user_key"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tuninetd-test", "-f", filepath.Join(l.dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(l.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	l.file("authorized_keys", read("user_key.pub")+"\n", 0o600)
	l.file("known_hosts", officeAddr+" "+read("host_key.pub")+"\n", 0o600)
	sshdConfig := l.file("sshd_config", fmt.Sprintf(`ListenAddress %s:22
HostKey %s/host_key
PidFile none
AuthorizedKeysFile %s/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitTunnel point-to-point
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
LogLevel VERBOSE
`, officeAddr, l.dir, l.dir), 0o600)
	sshConfig := l.file("ssh_config", fmt.Sprintf(`Host office
	HostName %s
	User root
	IdentityFile %s/user_key
	IdentitiesOnly yes
	UserKnownHostsFile %s/known_hosts
	StrictHostKeyChecking yes
	BatchMode yes
	ConnectTimeout 10
`, officeAddr, l.dir, l.dir), 0o600)

	// The server's end: a persistent tun0 that sshd attaches to.
	l.office.Run("ip", "tuntap", "add", "dev", "tun0", "mode", "tun")
	l.office.Run("ip", "addr", "add", "10.10.0.1", "peer", "10.10.0.2", "dev", "tun0")
	l.office.Run("ip", "link", "set", "tun0", "up")

	srv := l.office.Command("sh", "-c", `mount -t tmpfs -o mode=0755 tuninetd-test /run && mkdir -m 0755 /run/sshd && exec "$0" -D -e -f "$1"`, sshd, sshdConfig)
	var srvLog strings.Builder
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	srvDone := make(chan struct{})
	go func() { srv.Wait(); close(srvDone) }()
	t.Cleanup(func() {
		srv.Process.Kill()
		<-srvDone
		if t.Failed() {
			t.Logf("sshd:\n%s", srvLog.String())
		}
	})
	waitFor(t, 30*time.Second, "sshd listening", func() error {
		select {
		case <-srvDone:
			return fmt.Errorf("sshd exited: %s", srvLog.String())
		default:
		}
		return l.home.Do(func() error {
			c, err := net.DialTimeout("tcp", officeAddr+":22", time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
	})

	control := filepath.Join(l.dir, "ctl")
	env := []string{"SSH_HOST=office", "SSH_CONFIG=" + sshConfig, "SSH_CONTROL=" + control, "SSH_TUN=0:0", "SSH_NET=10.8.0.0/24"}
	sh := l.setup("ssh-tunnel.sh", env, "")
	t.Cleanup(func() {
		if _, err := os.Stat(control); err == nil {
			l.home.Command("ssh", "-F", sshConfig, "-S", control, "-O", "exit", "office").Run()
		}
	})

	master := func() error {
		out, err := l.home.Command("ssh", "-F", sshConfig, "-S", control, "-O", "check", "office").CombinedOutput()
		if err != nil {
			return fmt.Errorf("ssh -O check: %v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	d := startTuninetd(t, l.home, env, "-i", "tun0", "-m", "tun", "-c", sh, "-t", fmt.Sprint(int(ttl0/time.Second)))
	r := recipe{
		d:            d,
		p:            newPinger(t, l.home, officeHost),
		firstTimeout: 25 * time.Millisecond,
		up:           master,
		caught: func() error {
			if master() == nil {
				return fmt.Errorf("the ssh master still runs")
			}
			if _, err := os.Stat(control); err == nil {
				return fmt.Errorf("control socket %s still there", control)
			}
			// tuninetd holds tun0 again: carrier, so the next packet is seen.
			if out, err := l.home.Command("cat", "/sys/class/net/tun0/carrier").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "1" {
				return fmt.Errorf("tun0 carrier %q (%v): not held again", strings.TrimSpace(string(out)), err)
			}
			if dev, err := routeDev(l.home, officeHost); err != nil || dev != "tun0" {
				return fmt.Errorf("route to %s: %q %v, want tun0", officeHost, dev, err)
			}
			return nil
		},
	}
	lat := r.runRounds(t)
	t.Logf("ssh -w: first ping -> first reply through the ssh tunnel: median %v", median(lat))
	if out := d.output(); strings.Contains(out, "doesn't return 0 code") {
		t.Errorf("a hook command failed:\n%s", out)
	}
}

package examples

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// standinArg as the first argument ("standinArg PORT FAR-ADDR:PORT
// [TAG]") makes the test binary the stand-in tunnel client of the TPROXY
// recipe instead of running tests. An argument and not the environment:
// tuninetd does not pass TUNINETD_* variables of its own environment on,
// and a stand-in that missed its cue would run the tests again.
const standinArg = "tproxy-standin"

// tproxyStandin is what a transparent tunnel client does, minus the
// tunnel: listen with IP_TRANSPARENT, and carry each connection to the
// far end together with its original destination (the accepted socket's
// local address), here over a plain TCP connection.
func tproxyStandin() int {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: tproxy-standin PORT FAR-ADDR:PORT [TAG]")
		return 2
	}
	port, far := os.Args[2], os.Args[3]
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp4", "0.0.0.0:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stand-in:", err)
		return 1
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "stand-in:", err)
			return 1
		}
		go func() {
			defer c.Close()
			f, err := net.DialTimeout("tcp", far, 5*time.Second)
			if err != nil {
				return
			}
			defer f.Close()
			fmt.Fprintf(f, "%s\n", c.LocalAddr())
			go func() {
				// Pass the client's close on, as a proxy does: else both
				// connections stay open and their keepalives, 15 s after
				// the last probe, are traffic to the far address that
				// keeps the tunnel up.
				io.Copy(f, c)
				f.(*net.TCPConn).CloseWrite()
			}()
			io.Copy(c, f)
		}()
	}
}

// farEnd serves the stand-in's connections in ns: the first line names
// the original destination, and every later line comes back prefixed
// with it.
func farEnd(t *testing.T, ns *sensortest.Namespace, addr string) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				dst, err := r.ReadString('\n')
				if err != nil {
					return
				}
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					fmt.Fprintf(c, "%s %s", strings.TrimSpace(dst), line)
				}
			}()
		}
	}()
}

// tcpEcho connects from ns to dst and expects each line back prefixed
// with dst: the far end saw the connection's original destination.
type tcpEcho struct {
	ns  *sensortest.Namespace
	dst string
	n   int
}

func (e *tcpEcho) probe(timeout time.Duration) error {
	e.n++
	return e.ns.Do(func() error {
		c, err := net.DialTimeout("tcp", e.dst, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		want := fmt.Sprintf("%s probe %d\n", e.dst, e.n)
		fmt.Fprintf(c, "probe %d\n", e.n)
		got, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if got != want {
			return fmt.Errorf("got %q, want %q", got, want)
		}
		return nil
	})
}

// TestTProxy: tproxy.sh with a stand-in transparent client. Connections to
// 10.20.0.0/24 made from home are intercepted only while up; stop removes
// the nft table, the ip rule and the route, and ends the client.
func TestTProxy(t *testing.T) {
	requireTools(t, "nft")
	t.Parallel()
	l := newLab(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	farEnd(t, l.office, officeAddr+":7777")
	pidfile := l.dir + "/tproxy.pid"
	env := []string{
		"TPROXY_CLIENT=" + exe + " " + standinArg + " 12345 " + officeAddr + ":7777 " + l.tag,
		"TPROXY_PORT=12345", "TPROXY_NET=10.20.0.0/24", "TPROXY_NFLOG_GROUP=6",
		"TPROXY_PIDFILE=" + pidfile,
	}
	sh := l.setup("tproxy.sh", env, pidfile)
	out := l.out
	d := startTuninetd(t, l.home, env, "-n", "6", "-c", sh, "-t", fmt.Sprint(int(tcpTTL/time.Second)))
	r := recipe{
		d:            d,
		ttl:          tcpTTL,
		p:            &tcpEcho{ns: l.home, dst: "10.20.0.5:80"},
		firstTimeout: 15 * time.Second,
		up: func() error {
			if l.home.Command("nft", "list", "table", "ip", "tuninetd_tproxy").Run() != nil {
				return fmt.Errorf("no nft table tuninetd_tproxy")
			}
			if !strings.Contains(out("ip", "rule"), "fwmark 0x1 lookup 100") {
				return fmt.Errorf("no fwmark rule: %s", out("ip", "rule"))
			}
			return nil
		},
		caught: func() error {
			if l.home.Command("nft", "list", "table", "ip", "tuninetd_tproxy").Run() == nil {
				return fmt.Errorf("nft table tuninetd_tproxy still there")
			}
			if s := out("ip", "rule"); strings.Contains(s, "fwmark") {
				return fmt.Errorf("fwmark rule still there: %s", s)
			}
			if s := strings.TrimSpace(out("ip", "route", "show", "table", "100")); s != "" && !strings.Contains(s, "does not exist") {
				return fmt.Errorf("routes left in table 100: %s", s)
			}
			if _, err := os.Stat(pidfile); err == nil {
				return fmt.Errorf("pidfile still there")
			}
			if p := l.processes(); len(p) > 0 {
				return fmt.Errorf("client still runs: %v", p)
			}
			if dev, err := routeDev(l.home, "10.20.0.5"); err != nil || dev != "tpcatch" {
				return fmt.Errorf("route to 10.20.0.5: %q %v, want the catch device", dev, err)
			}
			return nil
		},
	}
	lat := r.runRounds(t)
	t.Logf("tproxy: first SYN -> first answer through the stand-in: median %v", median(lat))
	if out := d.output(); strings.Contains(out, "doesn't return 0 code") {
		t.Errorf("a hook command failed:\n%s", out)
	}
}

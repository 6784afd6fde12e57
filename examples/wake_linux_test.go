package examples

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// httpGet fetches / from addr inside ns with its own connection each time
// and records the time to the first byte of the answer (from the dial).
type httpGet struct {
	ns   *sensortest.Namespace
	addr string
	body string
	ttfb time.Duration // of the last successful probe
}

func (h *httpGet) probe(timeout time.Duration) error {
	return h.ns.Do(func() error {
		t0 := time.Now()
		c, err := net.DialTimeout("tcp", h.addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(t0.Add(timeout + 5*time.Second))
		fmt.Fprintf(c, "GET /index.html HTTP/1.0\r\nHost: %s\r\n\r\n", h.addr)
		r := bufio.NewReader(c)
		if _, err := r.Peek(1); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		ttfb := time.Since(t0)
		resp, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if !strings.HasPrefix(string(resp), "HTTP/1.") || !strings.Contains(string(resp), " 200 ") || !strings.HasSuffix(string(resp), h.body) {
			return fmt.Errorf("unexpected answer %q", resp)
		}
		h.ttfb = ttfb
		return nil
	})
}

// TestWake: wake.sh with busybox httpd. The office client's first SYN to
// home:8080 is logged and dropped by the closed gate; start runs httpd and
// opens the gate, and the client's own SYN retransmission connects.
func TestWake(t *testing.T) {
	requireTools(t, "nft", "busybox")
	if out, _ := exec.Command("busybox", "--list").Output(); !strings.Contains("\n"+string(out), "\nhttpd\n") {
		missingTool(t, "busybox with the httpd applet")
	}
	t.Parallel()
	l := newLab(t)
	www := l.dir + "/www"
	if err := os.Mkdir(www, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "hello from a woken server " + l.tag + "\n"
	l.file("www/index.html", body, 0o644)
	pidfile := l.dir + "/wake.pid"
	env := []string{
		"WAKE_SERVER=busybox httpd -f -p " + homeAddr + ":8080 -h " + www,
		"WAKE_PORT=8080", "WAKE_NFLOG_GROUP=7", "WAKE_PIDFILE=" + pidfile,
	}
	sh := l.setup("wake.sh", env, pidfile)
	out := l.out
	listening := func() bool {
		return strings.Contains(out("ss", "-Hltn", "sport = :8080"), ":8080")
	}
	gateClosed := func() bool {
		return strings.Contains(out("nft", "list", "chain", "inet", "tuninetd_wake", "gate"), "drop")
	}
	d := startTuninetd(t, l.home, env, "-n", "7", "-c", sh, "-t", fmt.Sprint(int(tcpTTL/time.Second)))
	h := &httpGet{ns: l.office, addr: homeAddr + ":8080", body: body}
	var firstTTFB []time.Duration
	r := recipe{
		d:            d,
		ttl:          tcpTTL,
		p:            h,
		firstTimeout: 15 * time.Second,
		up: func() error {
			if !listening() {
				return fmt.Errorf("nothing listens on :8080")
			}
			if gateClosed() {
				return fmt.Errorf("gate still closed")
			}
			if len(firstTTFB) < d.count(lineStarted) {
				firstTTFB = append(firstTTFB, h.ttfb)
			}
			return nil
		},
		caught: func() error {
			if listening() {
				return fmt.Errorf("httpd still listens on :8080")
			}
			if !gateClosed() {
				return fmt.Errorf("gate open: %s", out("nft", "list", "table", "inet", "tuninetd_wake"))
			}
			if _, err := os.Stat(pidfile); err == nil {
				return fmt.Errorf("pidfile still there")
			}
			if p := l.processes(); len(p) > 0 {
				return fmt.Errorf("server still runs: %v", p)
			}
			return nil
		},
	}
	r.runRounds(t)
	t.Logf("wake: time to first byte of the first request (first SYN dropped, retransmission connects): median %v of %v", median(firstTTFB), firstTTFB)
	if out := d.output(); strings.Contains(out, "doesn't return 0 code") {
		t.Errorf("a hook command failed:\n%s", out)
	}
}

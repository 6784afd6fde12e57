package daemon

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testMarker marks the test binary re-executed by Start; testMode says
// what that child does.
const (
	testMarker = "_DAEMON_TEST_FD"
	testMode   = "_DAEMON_TEST_MODE"
)

// TestMain turns the test binary into the daemon child when Start runs it.
func TestMain(m *testing.M) {
	if r := Child(testMarker); r != nil {
		os.Exit(child(r, os.Getenv(testMode)))
	}
	os.Exit(m.Run())
}

// child plays one kind of daemon; its return value is its exit status.
func child(r *Report, mode string) int {
	switch mode {
	case "ready":
		r.Ready()
		// Stay a moment: the parent must not wait for our exit.
		time.Sleep(100 * time.Millisecond)
		return 0
	case "fail":
		r.Fail("first line", "second line. Abort")
		return 1
	case "facts":
		// What the parent's test checks, reported as a "failure".
		cwd, _ := os.Getwd()
		sid, _ := unix.Getsid(0)
		_, marker := os.LookupEnv(testMarker)
		_, err := os.Stat("/proc/self/fd/0")
		stdin, _ := os.Readlink("/proc/self/fd/0")
		r.Fail(fmt.Sprintf("cwd=%s ownsession=%v marker=%v stdin=%s (%v)", cwd, sid == os.Getpid(), marker, stdin, err))
		return 1
	case "silent":
		time.Sleep(30 * time.Second)
		return 0
	}
	return 3 // exits without a report
}

// testConfig is a Config whose messages say which one was used.
func testConfig(dir string, timeout time.Duration) Config {
	return Config{
		Marker:  testMarker,
		Dir:     dir,
		Timeout: timeout,
		Messages: Messages{
			Fork:    "fork: %v",
			Timeout: "timeout: %v",
			Exited:  "exited: %v",
		},
	}
}

func TestStart(t *testing.T) {
	tests := []struct {
		mode    string
		dir     string
		timeout time.Duration
		want    string // error text; "" = ready
	}{
		{mode: "ready", timeout: 30 * time.Second},
		{mode: "fail", timeout: 30 * time.Second, want: "first line\nsecond line. Abort"},
		{mode: "facts", dir: "/", timeout: 30 * time.Second, want: "cwd=/ ownsession=true marker=false stdin=/dev/null (<nil>)"},
		{mode: "exit", timeout: 30 * time.Second, want: "exited: exit status 3"},
		{mode: "silent", timeout: 300 * time.Millisecond, want: "timeout: 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Setenv(testMode, tt.mode)
			pid, err := Start(testConfig(tt.dir, tt.timeout), []string{os.Args[0]})
			if tt.want == "" {
				if err != nil || pid <= 0 {
					t.Fatalf("Start = %d, %v; want a pid", pid, err)
				}
				// Released, not waited for: reap it here so the test
				// leaves no zombie.
				var ws syscall.WaitStatus
				if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
					t.Errorf("child %d: %v, status %d", pid, err, ws.ExitStatus())
				}
				return
			}
			if err == nil {
				t.Fatalf("Start = %d, nil; want error %q", pid, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}

// TestStartKeepsDir checks that an empty Dir leaves the child where the
// parent is (it changes to / itself after resolving relative paths).
func TestStartKeepsDir(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(testMode, "facts")
	_, err := Start(testConfig("", 30*time.Second), []string{os.Args[0]})
	if err == nil || !strings.HasPrefix(err.Error(), "cwd="+dir+" ") {
		t.Errorf("error %v, want the child in %s", err, dir)
	}
}

func TestChildNotMarked(t *testing.T) {
	if r := Child(testMarker); r != nil {
		t.Fatal("Child without the marker returned a report")
	}
	t.Setenv(testMarker, "7")
	if r := Child(testMarker); r != nil {
		t.Error("Child with a foreign descriptor number returned a report")
	}
	if _, ok := os.LookupEnv(testMarker); ok {
		t.Error("Child left the marker in the environment")
	}
}

package tuninetd

import (
	"fmt"
	"io"
	"time"

	"github.com/tuninetd/tuninetd/cmd/internal/daemon"
	"github.com/tuninetd/tuninetd/cmd/internal/logsink"
)

// daemonMarker marks the re-executed -d child (see cmd/internal/daemon);
// it never reaches the start and stop commands.
const daemonMarker = "_TUNINETD_DAEMON_FD"

// startDaemon is the -d parent: it starts the detached child (in our
// directory, so that it reads the same relative --config; it changes to /
// right after) and waits for its report, sent once its sensors are open. On
// success it prints the original's two lines (to stderr and, as the
// original did, to syslog) and returns 0; otherwise it prints the child's
// error, or why there is none, and returns 1.
func startDaemon(argv []string, stderr io.Writer) int {
	pid, err := daemon.Start(daemon.Config{
		Marker: daemonMarker,
		// Opening sensors takes milliseconds; a child silent this long
		// is stuck.
		Timeout: 60 * time.Second,
		Messages: daemon.Messages{
			Fork:    "Can't fork process: %v. Abort",
			Timeout: "Daemon did not report start-up within %v, killed it. Abort",
			Exited:  "Daemon exited during start-up (%v). Abort",
		},
	}, argv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	lines := []string{"---", fmt.Sprintf("Success! Tuninetd has been started with PID: %d", pid)}
	sl := &logsink.Syslog{Tag: "tuninetd"}
	for _, l := range lines {
		fmt.Fprintln(stderr, l)
		sl.Printf("%s", l)
	}
	sl.Close()
	return 0
}

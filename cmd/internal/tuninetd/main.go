// Package tuninetd is the tuninetd daemon of the multi-call binary: it
// runs a command when traffic appears on a network interface or an NFLOG
// group ("start") and again when it has been idle for a while ("stop"):
// VPN on demand. It is a drop-in for the C tuninetd 1.5.1: same flags,
// messages and exit codes. See tuninetd(8).
package tuninetd

import (
	"os"

	"github.com/tuninetd/tuninetd/cmd/internal/version"
)

// Main runs tuninetd with argv (os.Args) and returns the exit status.
func Main(argv []string) int {
	return run(argv, os.Stderr)
}

// versionString is what -v and -h print after the name.
func versionString() string { return version.Version }

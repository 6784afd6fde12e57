// Command tuninetd is the multi-call binary of the tuninetd daemons, in
// the way of busybox: the name it is run by (argv[0], usually a symlink)
// picks the daemon. One file then carries one Go runtime for all of them,
// which matters on a router's few megabytes of flash.
//
//   - tuninetd runs a command when traffic appears on a network interface
//     or an NFLOG group and again when it has been idle for a while: VPN on
//     demand, a drop-in for the C tuninetd 1.5.1. See tuninetd(8).
//   - tuntapd keeps a tun or tap device attached so that it has carrier.
//     See tuntapd(8).
//   - tportknockd runs a command for whoever sends the right sequence of
//     packets (port and TCP-flag knocking), filtered in the kernel. See
//     tportknockd(8).
//
// Any other name runs tuninetd, so a renamed copy still does what the
// file is called for.
package main

import (
	"os"
	"path/filepath"

	"github.com/tuninetd/tuninetd/cmd/internal/tportknockd"
	"github.com/tuninetd/tuninetd/cmd/internal/tuninetd"
	"github.com/tuninetd/tuninetd/cmd/internal/tuntapd"
)

// daemons maps the name the binary is run by to that daemon's entry point,
// which takes os.Args and returns the exit status.
var daemons = map[string]func(argv []string) int{
	"tuninetd":    tuninetd.Main,
	"tuntapd":     tuntapd.Main,
	"tportknockd": tportknockd.Main,
}

func main() {
	os.Exit(daemonFor(os.Args)(os.Args))
}

// daemonFor picks the daemon by the base name of argv[0]; unknown names
// (and an empty argv) get tuninetd.
func daemonFor(argv []string) func([]string) int {
	if len(argv) > 0 {
		if m, ok := daemons[filepath.Base(argv[0])]; ok {
			return m
		}
	}
	return tuninetd.Main
}

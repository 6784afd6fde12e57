// Command tuninetd runs a command when traffic appears on a network
// interface or an NFLOG group ("start") and again when it has been idle
// for a while ("stop"): VPN on demand. It is a drop-in for the C
// tuninetd 1.5.1: same flags, messages and exit codes. See tuninetd(8).
package main

import "os"

// version is the one place the version lives; release builds override it
// with -ldflags "-X main.version=...".
var version = "2.0.0"

func main() {
	os.Exit(run(os.Args, os.Stderr))
}

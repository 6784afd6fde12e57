//go:build !linux

package tuninetd

import (
	"fmt"
	"io"
)

// run reports that the sensors exist on Linux only; flags still parse so
// -h and -v work anywhere.
func run(argv []string, stderr io.Writer) int {
	if _, st := parseCommandLine(argv, versionString()); st != nil {
		io.WriteString(stderr, st.text)
		return st.code
	}
	fmt.Fprintln(stderr, "tuninetd needs Linux (AF_PACKET, NFLOG). Abort")
	return 1
}

//go:build !linux

package tportknockd

import (
	"errors"
	"io"
)

// serve needs AF_PACKET and rtnetlink: Linux only.
func serve(o *options, argv []string, stderr io.Writer) int {
	io.WriteString(stderr, "tportknockd: capture needs Linux\n")
	return 1
}

// listDevices needs rtnetlink: Linux only.
func listDevices(netnsPath string) (string, error) {
	return "", errors.New("listing devices needs Linux")
}

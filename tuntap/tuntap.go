// Package tuntap opens and holds Linux tun/tap devices.
//
// Privileges: opening /dev/net/tun needs read-write access to the node
// (distributions make it 0666). Creating a device, or attaching to one not
// made for the caller, needs CAP_NET_ADMIN (TUNSETIFF); a device made with
// "ip tuntap add <name> mode tun user <user>" takes that user without any
// capability. Errors for a missing capability name it and wrap
// os.ErrPermission.
package tuntap

import (
	"fmt"
	"os"
)

// Mode is the device kind: layer 3 (tun) or layer 2 (tap).
type Mode int

// Device kinds.
const (
	TUN Mode = 1
	TAP Mode = 2
)

// String returns the name used on the command line.
func (m Mode) String() string {
	switch m {
	case TUN:
		return "tun"
	case TAP:
		return "tap"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads "tun" or "tap".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "tun":
		return TUN, nil
	case "tap":
		return TAP, nil
	}
	return 0, fmt.Errorf("unknown device mode %q (want tun or tap)", s)
}

// Device is an attached tun/tap file descriptor.
type Device struct {
	name string
	mode Mode
	file *os.File
}

// Name returns the interface name.
func (d *Device) Name() string { return d.name }

// Mode returns tun or tap.
func (d *Device) Mode() Mode { return d.mode }

// Read reads one packet (IFF_NO_PI: no packet-information prefix).
func (d *Device) Read(b []byte) (int, error) { return d.file.Read(b) }

// Write writes one packet.
func (d *Device) Write(b []byte) (int, error) { return d.file.Write(b) }

// Close detaches from the device; a non-persistent device is deleted.
func (d *Device) Close() error { return d.file.Close() }

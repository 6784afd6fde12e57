package tuntap

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ifreq is struct ifreq as TUNSETIFF reads it: a name and the flags.
type ifreq struct {
	name  [unix.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

// Open attaches to the tun or tap device name (IFF_NO_PI), creating it if
// it does not exist. With persist the device outlives the file descriptor.
// A non-multiqueue device that someone else holds fails with EBUSY.
func Open(name string, mode Mode, persist bool) (*Device, error) {
	if len(name) == 0 || len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("tuntap: invalid interface name %q", name)
	}
	flags := uint16(unix.IFF_NO_PI)
	switch mode {
	case TUN:
		flags |= unix.IFF_TUN
	case TAP:
		flags |= unix.IFF_TAP
	default:
		return nil, fmt.Errorf("tuntap: unknown mode %d", mode)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var req ifreq
	copy(req.name[:], name)
	req.flags = flags
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, errno)
	}
	if persist {
		if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("TUNSETPERSIST %s: %w", name, err)
		}
	}
	// The fd is non-blocking so os.File registers it with the netpoller:
	// Close then interrupts a pending Read.
	return &Device{name: name, mode: mode, file: os.NewFile(uintptr(fd), "/dev/net/tun")}, nil
}

package tuntap

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Open attaches to the tun or tap device name (IFF_NO_PI), creating it if
// it does not exist. With persist the device outlives the file descriptor.
// A non-multiqueue device that someone else holds fails with an error
// wrapping ErrBusy; without CAP_NET_ADMIN the error says so and wraps
// os.ErrPermission.
func Open(name string, mode Mode, persist bool) (*Device, error) {
	dev, _, err := attach(name, mode)
	if err != nil {
		return nil, err
	}
	if persist {
		if err := dev.setPersist(true); err != nil {
			dev.Close()
			return nil, err
		}
	}
	return dev, nil
}

// attach opens /dev/net/tun and attaches it to the device name, which the
// kernel creates when it does not exist. persistent reports the device's
// IFF_PERSIST flag after attaching (see setIFF).
//
// The device is looked up and created in the network namespace of the
// calling thread at the time of the call.
func attach(name string, mode Mode) (dev *Device, persistent bool, err error) {
	if err := checkName(name); err != nil {
		return nil, false, err
	}
	fd, err := openClone()
	if err != nil {
		return nil, false, err
	}
	persistent, err = setIFF(fd, name, mode)
	if err != nil {
		unix.Close(fd)
		return nil, false, err
	}
	return newDevice(fd, name, mode), persistent, nil
}

// openClone opens the clone device. The descriptor belongs to the network
// namespace of the calling thread: a later TUNSETIFF on it looks up and
// creates the device there, whichever thread makes the call.
func openClone() (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
		return -1, fmt.Errorf("tuntap: open /dev/net/tun (is the tun module loaded?): %w", err)
	}
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		// Distributions make the node 0666 and leave the check to
		// TUNSETIFF (CAP_NET_ADMIN); some containers make it 0600.
		return -1, fmt.Errorf("tuntap: open /dev/net/tun (the node must be readable and writable, usually mode 0666): %w", err)
	}
	return -1, fmt.Errorf("tuntap: open /dev/net/tun: %w", err)
}

// setIFF attaches the clone descriptor fd to the device name (TUNSETIFF
// with IFF_NO_PI). After a failure fd is still unattached and may be used
// again. persistent is the device's IFF_PERSIST flag: a device that existed
// before and had nobody attached is always persistent (a non-persistent one
// disappears with its last descriptor), so a non-persistent device is one
// this call created.
func setIFF(fd int, name string, mode Mode) (persistent bool, err error) {
	flags := uint16(unix.IFF_NO_PI)
	switch mode {
	case TUN:
		flags |= unix.IFF_TUN
	case TAP:
		flags |= unix.IFF_TAP
	default:
		return false, fmt.Errorf("tuntap: unknown mode %d", mode)
	}
	req, err := unix.NewIfreq(name)
	if err != nil {
		return false, fmt.Errorf("tuntap: invalid interface name %q", name)
	}
	req.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, req); err != nil {
		return false, attachError(name, mode, errnoOf(err))
	}
	// Ask the kernel for the flags instead of checking for the device
	// beforehand: the check and the attach would race. TUNGETIFF fills in
	// the name and the flags.
	req.SetUint16(0)
	if err := unix.IoctlIfreq(fd, unix.TUNGETIFF, req); err != nil {
		return false, fmt.Errorf("tuntap: TUNGETIFF %s: %w", name, err)
	}
	return req.Uint16()&unix.IFF_PERSIST != 0, nil
}

// errnoOf returns the errno an ioctl failed with (EIO if it is not one).
func errnoOf(err error) unix.Errno {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.EIO
}

// newDevice wraps an attached descriptor. The fd is non-blocking so
// os.File registers it with the netpoller: Close then interrupts a pending
// Read.
func newDevice(fd int, name string, mode Mode) *Device {
	return &Device{name: name, mode: mode, file: os.NewFile(uintptr(fd), "/dev/net/tun")}
}

// checkName rejects names the kernel would truncate or refuse.
func checkName(name string) error {
	if len(name) == 0 || len(name) >= unix.IFNAMSIZ || strings.ContainsAny(name, "/: \t\n") || name == "." || name == ".." {
		return fmt.Errorf("tuntap: invalid interface name %q", name)
	}
	return nil
}

// attachError explains a failed TUNSETIFF in terms of what the user can do
// about it, keeping the errno (and ErrBusy) for errors.Is.
func attachError(name string, mode Mode, errno unix.Errno) error {
	switch errno {
	case unix.EBUSY:
		return fmt.Errorf("tuntap: attach to %s device %s: %w (TUNSETIFF: %w)", mode, name, ErrBusy, errno)
	case unix.EPERM, unix.EACCES:
		return fmt.Errorf("tuntap: need CAP_NET_ADMIN to attach to %s device %s (or a device made for this user with ip tuntap add ... user): TUNSETIFF: %w", mode, name, errno)
	case unix.EINVAL:
		return fmt.Errorf("tuntap: attach to %s device %s: it exists but is not a %s device, or it is multi-queue (TUNSETIFF: %w)", mode, name, mode, errno)
	}
	return fmt.Errorf("tuntap: attach to %s device %s: TUNSETIFF: %w", mode, name, errno)
}

// setPersist sets or clears IFF_PERSIST on the attached device.
func (d *Device) setPersist(on bool) error {
	v := 0
	if on {
		v = 1
	}
	rc, err := d.file.SyscallConn()
	if err != nil {
		return fmt.Errorf("tuntap: TUNSETPERSIST %s: %w", d.name, err)
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetInt(int(fd), unix.TUNSETPERSIST, v)
	}); err != nil {
		return fmt.Errorf("tuntap: TUNSETPERSIST %s: %w", d.name, err)
	}
	if ioErr != nil {
		if errors.Is(ioErr, unix.EPERM) {
			return fmt.Errorf("tuntap: need CAP_NET_ADMIN to change persistence of %s device %s: TUNSETPERSIST: %w", d.mode, d.name, ioErr)
		}
		return fmt.Errorf("tuntap: TUNSETPERSIST %s: %w", d.name, ioErr)
	}
	return nil
}

// ctlSocket returns a socket for interface ioctls in the calling thread's
// network namespace, or -1.
func ctlSocket() int {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return s
}

// ifindex returns the interface index of name in the network namespace of
// the socket s (from ctlSocket), or 0 when it cannot be read. It tells a
// device we created apart from another one re-created under the same name.
func ifindex(s int, name string) uint32 {
	if s < 0 {
		return 0
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0
	}
	return ifr.Uint32()
}

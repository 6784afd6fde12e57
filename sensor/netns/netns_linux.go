package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// NS is an open network namespace: a descriptor of its nsfs file, which
// also keeps the namespace alive while it is open.
type NS struct {
	f    *os.File
	path string
	dev  uint64 // nsfs device and inode: the namespace's identity
	ino  uint64
}

// Open opens the network namespace at path: /run/netns/NAME as "ip netns
// add" makes it, /proc/PID/ns/net, or any bind mount of one. It enters
// the namespace once and comes back, so that a daemon learns now, not at
// its first socket, that Do cannot work (setns needs CAP_SYS_ADMIN). A
// missing path wraps os.ErrNotExist; a path that is something else (a
// regular file, /proc/self/ns/uts) wraps ErrNotNetns. Errors say why,
// not which path: the caller names it.
func Open(path string) (*NS, error) {
	n, err := openFile(path)
	if err != nil {
		return nil, err
	}
	if err := n.enter(func() error { return nil }); err != nil {
		n.Close()
		if errors.Is(err, unix.EINVAL) {
			// A kernel that cannot answer NS_GET_NSTYPE: setns
			// checked the type instead.
			return nil, fmt.Errorf("%w (setns refused it)", ErrNotNetns)
		}
		return nil, err
	}
	return n, nil
}

// Current opens the network namespace of the calling thread.
func Current() (*NS, error) {
	return openFile("/proc/thread-self/ns/net")
}

// openFile opens path and checks that it is a network namespace.
func openFile(path string) (*NS, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, err
	}
	n, err := fromFile(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return n, nil
}

// fromFile checks that f is a network namespace file.
func fromFile(f *os.File, path string) (*NS, error) {
	fd := int(f.Fd())
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return nil, os.NewSyscallError("fstatfs", err)
	}
	if fs.Type != unix.NSFS_MAGIC {
		return nil, fmt.Errorf("%w (not a namespace file)", ErrNotNetns)
	}
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	switch {
	case err == unix.ENOTTY:
		// Kernels before 4.11 cannot tell; setns checks the type
		// itself when Open enters the namespace.
		typ = unix.CLONE_NEWNET
	case err != nil:
		return nil, os.NewSyscallError("ioctl(NS_GET_NSTYPE)", err)
	}
	if typ != unix.CLONE_NEWNET {
		return nil, fmt.Errorf("%w (a %s namespace)", ErrNotNetns, kindName(typ))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, os.NewSyscallError("fstat", err)
	}
	return &NS{f: f, path: path, dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
}

// kindName names a CLONE_NEW* namespace type for error messages.
func kindName(typ int) string {
	switch typ {
	case unix.CLONE_NEWNS:
		return "mount"
	case unix.CLONE_NEWUTS:
		return "uts"
	case unix.CLONE_NEWIPC:
		return "ipc"
	case unix.CLONE_NEWUSER:
		return "user"
	case unix.CLONE_NEWPID:
		return "pid"
	case unix.CLONE_NEWCGROUP:
		return "cgroup"
	case unix.CLONE_NEWTIME:
		return "time"
	}
	return fmt.Sprintf("type %#x", typ)
}

// Fd returns the namespace's descriptor, valid until Close.
func (n *NS) Fd() int { return int(n.f.Fd()) }

// Close releases the descriptor. Sockets and devices created in the
// namespace keep it alive on their own.
func (n *NS) Close() error {
	if n == nil {
		return nil
	}
	return n.f.Close()
}

// Do runs fn in the namespace, so that the sockets, netlink subscriptions
// and tun/tap descriptors fn creates live there, and returns fn's error.
// With a nil n, or when the calling thread is in the namespace already,
// fn runs directly on the caller's goroutine.
//
// Otherwise fn runs on a new goroutine locked to its OS thread, which is
// switched into the namespace and back afterwards. fn must not start
// goroutines that create anything: they run on other threads.
func (n *NS) Do(fn func() error) error {
	if n == nil || n.isCurrent() {
		return fn()
	}
	entered := false
	err := n.enter(func() error { entered = true; return fn() })
	if err != nil && !entered {
		return fmt.Errorf("network namespace %s: %w", n.path, err)
	}
	return err
}

// isCurrent reports whether the calling thread is in the namespace. Only
// threads locked by Do (or by a test) are ever elsewhere, so for an
// unlocked goroutine the answer holds whichever thread it moves to.
func (n *NS) isCurrent() bool {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return false
	}
	return uint64(st.Dev) == n.dev && uint64(st.Ino) == n.ino
}

// enter runs fn on a locked thread switched into the namespace. Its own
// errors (no handle on the thread's namespace, setns refused) do not
// name the namespace.
func (n *NS) enter(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread() // nothing changed yet
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(n.Fd(), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread() // a failed setns changes nothing
			errc <- os.NewSyscallError("setns", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		// Otherwise the thread stays locked, and when this goroutine
		// exits the runtime ends the thread instead of reusing it in
		// the wrong namespace. What fn created is in the namespace and
		// works all the same, so fn's result is the answer either way.
		errc <- ferr
	}()
	return <-errc
}

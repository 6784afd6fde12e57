package netns

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WatchRemoved calls removed, once, from a goroutine of its own, when the
// namespace's name goes away: "ip netns del" unmounts and unlinks
// /run/netns/NAME, or the path is renamed or replaced. The namespace
// itself lives on while anything holds it (the NS, and every socket and
// device opened in it), so sensors keep working; removed is for saying
// so. It costs an inotify descriptor on the path's directory and nothing
// while nothing changes. Paths under /proc (a process's namespace) give
// no such notice: WatchRemoved then does nothing. stop ends the watch.
func (n *NS) WatchRemoved(removed func()) (stop func(), err error) {
	dir, name := filepath.Split(filepath.Clean(n.path))
	if strings.HasPrefix(dir, "/proc/") {
		return func() {}, nil
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_MOVED_TO|unix.IN_CREATE|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "inotify_add_watch", Path: dir, Err: err}
	}
	// Non-blocking, so the read sits in the netpoller and Close ends it.
	f := os.NewFile(uintptr(fd), "inotify")
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := f.Read(buf)
			if err != nil {
				if !errors.Is(err, os.ErrClosed) {
					f.Close()
				}
				return
			}
			if !touches(buf[:k], name) || n.stillThere() {
				continue
			}
			f.Close()
			removed()
			return
		}
	}()
	return func() { f.Close() }, nil
}

// touches reports whether the inotify events in b concern the entry name
// or the directory itself.
func touches(b []byte, name string) bool {
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			return true // cut short: look anyway
		}
		got := strings.TrimRight(string(b[unix.SizeofInotifyEvent:end]), "\x00")
		if got == name || ev.Mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_Q_OVERFLOW) != 0 {
			return true
		}
		b = b[end:]
	}
	return false
}

// stillThere reports whether the path still names this namespace.
func (n *NS) stillThere() bool {
	var st unix.Stat_t
	if err := unix.Stat(n.path, &st); err != nil {
		return false
	}
	return uint64(st.Dev) == n.dev && uint64(st.Ino) == n.ino
}

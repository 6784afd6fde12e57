package logsink

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultPath is the local syslog socket.
const DefaultPath = "/dev/log"

// sendTimeout bounds one write to the syslog socket: a wedged syslog
// daemon costs us a dropped message, never a stuck daemon.
const sendTimeout = time.Second

// facilityUser is syslog's facility "user" (1), shifted into place.
const facilityUser = 1 << 3

// priority is the syslog severity of each of ours.
var priority = [...]int{Info: 6, Warning: 4, Err: 3}

// Syslog sends each message to the local syslog with ident Tag and
// facility user, in the traditional local format (RFC 3164 without the
// host name): "<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE\n". The zero value
// (plus a Tag) logs to /dev/log.
//
// It speaks to the socket directly rather than through log/syslog, whose
// net.Dial brings the whole network stack and DNS resolver into the
// binary for a local socket. It tries a datagram socket first, then a
// stream socket (syslog daemons offer either), as log/syslog does.
//
// It connects lazily and again after a failure: at boot a daemon may start
// before the syslog daemon has created /dev/log. While there is no syslog,
// messages are dropped: there is nowhere else to put them (a daemon's stdio
// is /dev/null), and start-up errors still reach the user through the
// parent process (see cmd/internal/daemon).
type Syslog struct {
	// Tag is the ident every message carries: "tuninetd", "tuntapd".
	Tag string
	// Path is the socket; "" means DefaultPath.
	Path string

	mu        sync.Mutex
	fd        int  // the socket, while connected
	connected bool // false for the zero value and after a failure
}

// Log sends msg with severity sev. A failed write reconnects and tries
// once more; a second failure drops the message, and the next one
// connects again.
func (s *Syslog) Log(sev Severity, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.format(sev, msg, time.Now())
	for try := 0; try < 2; try++ {
		if !s.connected && !s.connect() {
			return
		}
		if s.send(b) == nil {
			return
		}
		s.disconnect()
	}
}

// format renders one message.
func (s *Syslog) format(sev Severity, msg string, now time.Time) []byte {
	pri := facilityUser | priority[Info]
	if sev >= 0 && int(sev) < len(priority) {
		pri = facilityUser | priority[sev]
	}
	b := make([]byte, 0, 64+len(s.Tag)+len(msg))
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(pri), 10)
	b = append(b, '>')
	b = now.AppendFormat(b, time.Stamp)
	b = append(b, ' ')
	b = append(b, s.Tag...)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(os.Getpid()), 10)
	b = append(b, "]: "...)
	b = append(b, msg...)
	if len(msg) == 0 || msg[len(msg)-1] != '\n' {
		b = append(b, '\n')
	}
	return b
}

// connect opens the socket, datagram first, then stream.
func (s *Syslog) connect() bool {
	path := s.Path
	if path == "" {
		path = DefaultPath
	}
	for _, typ := range []int{unix.SOCK_DGRAM, unix.SOCK_STREAM} {
		fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			continue
		}
		tv := unix.NsecToTimeval(sendTimeout.Nanoseconds())
		if unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv) == nil &&
			ignoreEINTR(func() error { return unix.Connect(fd, &unix.SockaddrUnix{Name: path}) }) == nil {
			s.fd, s.connected = fd, true
			return true
		}
		unix.Close(fd)
	}
	return false
}

// send writes b whole: one datagram, or all of it on a stream. A stream
// whose reader went away fails with EPIPE, not SIGPIPE.
func (s *Syslog) send(b []byte) error {
	for len(b) > 0 {
		var n int
		err := ignoreEINTR(func() (err error) {
			n, err = unix.SendmsgN(s.fd, b, nil, nil, unix.MSG_NOSIGNAL)
			return err
		})
		if err != nil {
			return err
		}
		if n <= 0 {
			return fmt.Errorf("syslog: short write")
		}
		b = b[n:]
	}
	return nil
}

func (s *Syslog) disconnect() {
	if s.connected {
		unix.Close(s.fd)
		s.connected = false
	}
}

// ignoreEINTR runs f again while a signal interrupts it.
func ignoreEINTR(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

// Printf logs one message, its severity read from its text (SeverityOf),
// so that a Syslog serves as a core.Logger.
func (s *Syslog) Printf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	s.Log(SeverityOf(msg), msg)
}

// Close disconnects from syslog; a later message connects again.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disconnect()
	return nil
}

// Printer is how the daemons log: core.Logger's one method.
type Printer interface {
	Printf(format string, v ...any)
}

// ForDaemon is where a daemon's messages go: syslog under tag when it runs
// detached (-d, -D), else one line each on stderr. Close releases the
// syslog socket.
func ForDaemon(tag string, detached bool, stderr io.Writer) (l Printer, close func()) {
	if detached {
		sl := &Syslog{Tag: tag}
		return sl, func() { sl.Close() }
	}
	return &Lines{W: stderr}, func() {}
}

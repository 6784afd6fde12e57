//go:build linux

package nflog

import (
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// socket is the NETLINK_NETFILTER socket as the sensor talks through it:
// requests go out with a sequence number, datagrams come back whole. The
// sensor's side of the conversation (the bind's answer, matching answers
// by sequence, ENOBUFS, mode switches) runs against this interface, so
// unit tests drive it with a scripted kernel; netfilterSocket is the real
// one.
type socket interface {
	// send sends one request and returns the sequence number it carries.
	send(m netlink.Message) (seq uint32, err error)
	// recv reads one datagram into buf and returns its full length: n >
	// len(buf) means it was cut. ENOBUFS reports messages the kernel
	// dropped; a deadline in the past interrupts a blocked recv with
	// os.ErrDeadlineExceeded, and close with an error.
	recv(buf []byte) (n int, err error)
	setReadDeadline(t time.Time) error
	// setReadBuffer asks for a receive buffer; readBuffer is what the
	// kernel granted.
	setReadBuffer(bytes int) error
	readBuffer() (int, error)
	// ifname resolves an interface index in the socket's network
	// namespace, "" if unknown.
	ifname(idx uint32) string
	close() error
}

// netfilterSocket is a netlink.Conn on NETLINK_NETFILTER. Requests go
// through the Conn (it numbers them); datagrams are read directly with
// recvfrom(MSG_TRUNC) through the runtime poller, because the Conn's
// Receive allocates every message and, waiting in one goroutine, would
// block Send's callers in another.
type netfilterSocket struct {
	c  *netlink.Conn
	rc syscall.RawConn
}

// dialNetfilter creates the sensor's socket, in the network namespace of
// the calling thread (Open calls it through netns.NS.Do). It is the only
// place the sensor creates one.
func dialNetfilter() (*netfilterSocket, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	return &netfilterSocket{c: c, rc: rc}, nil
}

func (s *netfilterSocket) send(m netlink.Message) (uint32, error) {
	out, err := s.c.Send(m)
	if err != nil {
		return 0, err
	}
	return out.Header.Sequence, nil
}

func (s *netfilterSocket) recv(buf []byte) (n int, err error) {
	rerr := s.rc.Read(func(fd uintptr) bool {
		n, _, err = unix.Recvfrom(int(fd), buf, unix.MSG_TRUNC)
		return err != unix.EAGAIN && err != unix.EWOULDBLOCK
	})
	if rerr != nil {
		return 0, rerr
	}
	return n, err
}

func (s *netfilterSocket) setReadDeadline(t time.Time) error { return s.c.SetReadDeadline(t) }
func (s *netfilterSocket) setReadBuffer(n int) error         { return s.c.SetReadBuffer(n) }
func (s *netfilterSocket) readBuffer() (int, error)          { return s.c.ReadBuffer() }
func (s *netfilterSocket) close() error                      { return s.c.Close() }

// ifname uses SIOCGIFNAME on the netlink socket itself, so the name is
// the one in the socket's namespace.
func (s *netfilterSocket) ifname(idx uint32) string {
	name := ""
	s.rc.Control(func(fd uintptr) {
		ifr, err := unix.NewIfreq("")
		if err != nil {
			return
		}
		ifr.SetUint32(idx)
		if unix.IoctlIfreq(int(fd), unix.SIOCGIFNAME, ifr) == nil {
			name = ifr.Name()
		}
	})
	return name
}

package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/bpfc"
)

// htons converts to network byte order, as sockaddr_ll's protocol wants.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// packetSocket is one AF_PACKET socket held as an *os.File, so reads go
// through the netpoller (Close and deadlines interrupt them) and no syscall
// ever runs on a closed or reused descriptor.
type packetSocket struct {
	f  *os.File
	rc syscall.RawConn
	// Set for the ring socket only (see newRingSocket): its descriptor, a
	// private epoll instance (in Go's netpoller) holding it and the
	// timerfd tfd (-1 if none).
	fd   int
	ep   *os.File
	eprc syscall.RawConn
	tfd  int
}

// newPacketSocket and newRingSocket are the only places the sensor
// creates sockets (the probe in Open, the standby and ring pair in
// newSocketPair). A socket belongs to the network namespace of the thread
// that creates it, so every call runs under the sensor's netns.NS.Do:
// in Open and when sockets are re-created for a new link type.

// newPacketSocket creates an unbound AF_PACKET socket with protocol 0: it
// sees nothing until bound with a protocol, so a filter can be attached
// first.
func newPacketSocket(typ int, name string) (*packetSocket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket(AF_PACKET)", err)
	}
	f := os.NewFile(uintptr(fd), name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &packetSocket{f: f, rc: rc, tfd: -1}, nil
}

// newRingSocket creates the socket for the TPACKET_V3 ring and what the
// capture goroutine waits on in up state.
//
// Unlike the standby socket the ring socket is left blocking, so os.NewFile
// keeps it out of Go's netpoller: the kernel signals the socket each time
// it retires a block, and a registered socket woke the netpoller thread for
// every block during a flood (several times per tick, each a wake-up and a
// pass through the scheduler for nothing, since the ring is read on a
// tick). Nothing ever reads it with a blocking call: only socket options,
// bind and mmap.
//
// Instead the socket sits in a private epoll instance, which is in the
// netpoller, next to a timerfd that paces the ticks: one wait serves both
// up-state modes, with only the wanted source enabled (see waitUp). A
// timerfd rather than a time.Ticker, because a pending runtime timer also
// wakes the runtime's sysmon thread at every tick (twice or more, measured).
func newRingSocket(typ int) (*packetSocket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket(AF_PACKET)", err)
	}
	s := &packetSocket{f: os.NewFile(uintptr(fd), "afpacket-ring"), fd: fd, tfd: -1}
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.f.Close()
		return nil, err
	}
	if err := s.newWaiter(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// newWaiter creates the epoll instance and timerfd of a ring socket.
func (s *packetSocket) newWaiter() error {
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("timerfd_create", err)
	}
	s.tfd = tfd
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile registers it with the netpoller and
	// waits on it honour deadlines (poke).
	unix.SetNonblock(epfd, true)
	s.ep = os.NewFile(uintptr(epfd), "afpacket-ring-epoll")
	if s.eprc, err = s.ep.SyscallConn(); err != nil {
		return err
	}
	// The ring socket starts disabled: EPOLLONESHOT alone enables nothing
	// but the EPOLLERR and EPOLLHUP epoll adds to every mask, so a pending
	// error is still reported, once (see waitUp). The timerfd is always
	// enabled; it is armed only while ticking.
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, s.fd, &unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: int32(s.fd)}); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, tfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(tfd)}); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// setTicking arms the timerfd to expire every d, or disarms it (d = 0).
func (s *packetSocket) setTicking(d time.Duration) error {
	ts := unix.NsecToTimespec(int64(d))
	return os.NewSyscallError("timerfd_settime", unix.TimerfdSettime(s.tfd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil))
}

// Events waitUp reports.
const (
	evTick  = 1 << iota // the timerfd expired (consumed)
	evRing              // the ring socket is readable: a block was retired
	evError             // the ring socket has an error pending (SO_ERROR)
)

// waitUp blocks until the timerfd expires, or, with ring, until the ring
// socket is readable or has an error, and reports which. With ring the
// socket's EPOLLIN is enabled once (EPOLLONESHOT), so after its first event
// the socket is silent again: while ticking, retired blocks wake nothing.
// A deadline on ep (poke) ends the wait with os.ErrDeadlineExceeded.
//
// The non-blocking calls on this path (epoll_pwait with a zero timeout,
// reading the timerfd, and PACKET_STATISTICS in tick) are raw syscalls: the
// runtime's syscall entry wakes the sysmon thread whenever it sleeps, which
// it does between ticks, and each wake-up costs more CPU here than the
// tick's work.
func (s *packetSocket) waitUp(ring bool) (ev int, err error) {
	if ring {
		var cerr error
		if err := s.eprc.Control(func(epfd uintptr) {
			cerr = unix.EpollCtl(int(epfd), unix.EPOLL_CTL_MOD, s.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(s.fd)})
		}); err != nil {
			return 0, err
		}
		if cerr != nil {
			return 0, os.NewSyscallError("epoll_ctl", cerr)
		}
	}
	err = s.eprc.Read(func(epfd uintptr) bool {
		var evs [2]unix.EpollEvent
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, epfd, uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
		if e != 0 {
			return false
		}
		for _, x := range evs[:n] {
			switch {
			case int(x.Fd) == s.tfd:
				var buf [8]byte
				unix.RawSyscall(unix.SYS_READ, uintptr(s.tfd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
				ev |= evTick
			case x.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0:
				ev |= evError
			default:
				ev |= evRing
			}
		}
		return ev != 0
	})
	if ring && ev&(evRing|evError) == 0 {
		// The one-shot did not fire (a poke, or the tick came first):
		// disable it again, or every retired block would wake the
		// netpoller.
		s.eprc.Control(func(epfd uintptr) {
			unix.EpollCtl(int(epfd), unix.EPOLL_CTL_MOD, s.fd, &unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: int32(s.fd)})
		})
	}
	return ev, err
}

// control runs fn with the descriptor, failing if the socket is closed.
func (s *packetSocket) control(fn func(fd int) error) error {
	var ferr error
	if err := s.rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func (s *packetSocket) close() error {
	if s.ep != nil {
		s.ep.Close()
	}
	if s.tfd >= 0 {
		unix.Close(s.tfd)
		s.tfd = -1
	}
	return s.f.Close()
}

// setDeadline sets the read deadline of whatever the capture goroutine
// waits on for this socket (poke).
func (s *packetSocket) setDeadline(t time.Time) {
	if s.ep != nil {
		s.ep.SetReadDeadline(t)
		return
	}
	s.f.SetReadDeadline(t)
}

// bind hooks the socket to ifindex for every protocol. There is no
// unbind: binding with protocol 0 keeps the socket's protocol (and index 0
// would then mean every interface), so a socket that must stop capturing
// is parked instead. Closing it is the other way out.
func (s *packetSocket) bind(ifindex int) error {
	if ifindex <= 0 {
		return fmt.Errorf("bind: no interface index")
	}
	return s.control(func(fd int) error {
		return os.NewSyscallError("bind", unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}))
	})
}

// dropAll is the program of a parked socket.
func dropAll() []bpf.RawInstruction {
	return []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: 0}}
}

// park makes a bound socket capture nothing: its program rejects every
// packet before anything is copied or queued, at the cost of one BPF
// instruction per packet on its interface.
func (s *packetSocket) park() error { return s.attach(dropAll()) }

// attach installs prog as the socket's filter; SO_ATTACH_FILTER replaces
// any previous program atomically.
func (s *packetSocket) attach(prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		return errors.New("empty filter program")
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	return s.control(func(fd int) error {
		return os.NewSyscallError("setsockopt(SO_ATTACH_FILTER)", unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp))
	})
}

// stats reads and clears the standby socket's PACKET_STATISTICS: packets
// that passed the filter (drops included) and packets dropped for lack of
// room. It runs at mode switches only.
func (s *packetSocket) stats() (packets, drops uint64, err error) {
	err = s.control(func(fd int) error {
		st, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err != nil {
			return os.NewSyscallError("getsockopt(PACKET_STATISTICS)", err)
		}
		packets, drops = uint64(st.Packets), uint64(st.Drops)
		return nil
	})
	return packets, drops, err
}

// ringStats is stats for the TPACKET_V3 ring socket, whose version makes
// the kernel fill in struct tpacket_stats_v3. It runs on every up-state
// tick, so it is a raw syscall (see waitUp) rather than
// unix.GetsockoptTpacketStatsV3: with that, a flood woke the process 36-40
// times a second instead of 10-13 and cost 4.7-5.0 ms of CPU per million
// packets instead of 3.0-3.6 (BenchmarkUpCPU, two runs each, alternating).
// The call does not block.
func (s *packetSocket) ringStats() (packets, drops uint64, err error) {
	var st unix.TpacketStatsV3
	size := uint32(unsafe.Sizeof(st))
	err = s.control(func(fd int) error {
		_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS,
			uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&size)), 0)
		if e != 0 {
			return os.NewSyscallError("getsockopt(PACKET_STATISTICS)", e)
		}
		return nil
	})
	return uint64(st.Packets), uint64(st.Drops), err
}

// soError reads and clears the socket's pending error (ENETDOWN after the
// interface went down or away). A pending error keeps POLLERR raised, so it
// must be read for poll-based waiting not to spin.
func (s *packetSocket) soError() error {
	var serr int
	err := s.control(func(fd int) error {
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		serr = v
		return err
	})
	if err != nil {
		return err
	}
	if serr != 0 {
		return syscall.Errno(serr)
	}
	return nil
}

// drain discards everything queued on a plain socket and counts it.
func (s *packetSocket) drain() (n int) {
	var buf [64]byte
	s.control(func(fd int) error {
		for ; n < 1<<16; n++ {
			if _, _, err := unix.Recvfrom(fd, buf[:], unix.MSG_DONTWAIT|unix.MSG_TRUNC); err != nil {
				break
			}
		}
		return nil
	})
	return n
}

// ifInfo reads an interface's index, ARPHRD type and whether it is up
// and running, through the socket, so the lookup happens in the socket's
// network namespace. A missing interface is an error wrapping ENODEV.
func (s *packetSocket) ifInfo(name string) (index int, hwtype uint16, running bool, err error) {
	err = s.control(func(fd int) error {
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
			return err
		}
		index = int(int32(ifr.Uint32()))
		ifr, _ = unix.NewIfreq(name)
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
			return err
		}
		hwtype = ifr.Uint16()
		ifr, _ = unix.NewIfreq(name)
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
			return err
		}
		// IFF_RUNNING: operstate up or unknown (tun), i.e. it has carrier.
		f := ifr.Uint16()
		running = f&unix.IFF_UP != 0 && f&unix.IFF_RUNNING != 0
		return nil
	})
	return index, hwtype, running, err
}

// linkTypeFor maps an ARPHRD type to the framing capture delivers and the
// socket type that delivers it.
func linkTypeFor(hwtype uint16) (bpfc.LinkType, int) {
	switch hwtype {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK, unix.ARPHRD_IEEE802:
		return bpfc.EN10MB, unix.SOCK_RAW
	case unix.ARPHRD_NONE, unix.ARPHRD_RAWIP, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT:
		return bpfc.RAW, unix.SOCK_RAW
	}
	return bpfc.LinuxSLL, unix.SOCK_DGRAM
}

// ring is a mapped TPACKET_V3 receive ring.
type ring struct {
	mem       []byte
	blockSize int
	blocks    int
	cursor    int
}

// setupRing asks the kernel for a ring of blocks x blockSize whose blocks
// retire after tov, and maps it. The socket's version must already be
// TPACKET_V3.
func (s *packetSocket) setupRing(blocks, blockSize int, tov time.Duration) (*ring, error) {
	const frameSize = 2048 // only sizes frame_nr for V3; packets are variable
	req := unix.TpacketReq3{
		Block_size:     uint32(blockSize),
		Block_nr:       uint32(blocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(blockSize / frameSize * blocks),
		Retire_blk_tov: uint32(tov.Milliseconds()),
	}
	var mem []byte
	err := s.control(func(fd int) error {
		if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
			return os.NewSyscallError("setsockopt(PACKET_RX_RING)", err)
		}
		m, err := unix.Mmap(fd, 0, blocks*blockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_LOCKED|unix.MAP_POPULATE)
		if err != nil {
			// MAP_LOCKED needs RLIMIT_MEMLOCK room; the ring works unlocked.
			m, err = unix.Mmap(fd, 0, blocks*blockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		}
		if err != nil {
			unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &unix.TpacketReq3{})
			return os.NewSyscallError("mmap(ring)", err)
		}
		mem = m
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ring{mem: mem, blockSize: blockSize, blocks: blocks}, nil
}

// freeRing unmaps the ring and has the kernel free it (which also stops its
// block-retire timer). The socket must be unbound first.
func (s *packetSocket) freeRing(r *ring) error {
	if r == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	r.mem = nil
	if err != nil {
		return fmt.Errorf("munmap(ring): %w", err)
	}
	return s.control(func(fd int) error {
		return os.NewSyscallError("setsockopt(PACKET_RX_RING, 0)", unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &unix.TpacketReq3{}))
	})
}

package afpacket

import (
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
	b := [2]byte{byte(v >> 8), byte(v)}
	return *(*uint16)(unsafe.Pointer(&b[0]))
}

// packetSocket is one AF_PACKET socket held as an *os.File, so reads go
// through the netpoller (Close and deadlines interrupt them) and no syscall
// ever runs on a closed or reused descriptor.
type packetSocket struct {
	f  *os.File
	rc syscall.RawConn
}

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
	return &packetSocket{f: f, rc: rc}, nil
}

// control runs fn with the descriptor, failing if the socket is closed.
func (s *packetSocket) control(fn func(fd int) error) error {
	var ferr error
	if err := s.rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func (s *packetSocket) close() error { return s.f.Close() }

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
func dropAll() []bpf.RawInstruction { return []bpf.RawInstruction{{Op: 0x06, K: 0}} }

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

// stats reads and clears PACKET_STATISTICS: packets that passed the filter
// (drops included) and packets dropped for lack of room.
func (s *packetSocket) stats(v3 bool) (packets, drops uint64, err error) {
	err = s.control(func(fd int) error {
		if v3 {
			st, err := unix.GetsockoptTpacketStatsV3(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
			if err != nil {
				return os.NewSyscallError("getsockopt(PACKET_STATISTICS)", err)
			}
			packets, drops = uint64(st.Packets), uint64(st.Drops)
			return nil
		}
		st, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err != nil {
			return os.NewSyscallError("getsockopt(PACKET_STATISTICS)", err)
		}
		packets, drops = uint64(st.Packets), uint64(st.Drops)
		return nil
	})
	return packets, drops, err
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

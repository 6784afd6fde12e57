package afpacket

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

// Socket is the capture sensor's standby socket on its own, for a daemon
// that wants every packet its kernel filter passes and nothing else: a
// plain AF_PACKET socket, filter attached before bind, read one packet at
// a time with a blocking receive through Go's netpoller. It has no ring
// and no modes; a filter that passes little costs nothing in user space.
//
// Read is for one goroutine; Attach and Close may be called from any.
type Socket struct {
	ps     *packetSocket
	ifname string
	index  int
	lt     bpfc.LinkType
	cooked bool
	buf    []byte
	oob    []byte
}

// OpenSocket opens a Socket on ifname in the calling thread's network
// namespace. compile returns the filter for the interface's link type (a
// cooked socket's program is compiled for bpfc.LinuxSLL and adapted here);
// it is attached before the socket is bound, so no packet is ever seen
// unfiltered. snaplen bounds what Read copies of a packet.
func OpenSocket(ifname string, snaplen int, compile func(bpfc.LinkType) ([]bpf.RawInstruction, error)) (*Socket, error) {
	probe, err := newPacketSocket(unix.SOCK_RAW, "afpacket-probe")
	if err != nil {
		return nil, fmt.Errorf("afpacket: interface %s: %w", ifname, err)
	}
	index, hwtype, _, err := probe.ifInfo(ifname)
	probe.close()
	if err != nil {
		if errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("afpacket: interface %s: no such device: %w", ifname, unix.ENODEV)
		}
		return nil, fmt.Errorf("afpacket: interface %s: %w", ifname, err)
	}
	lt, sotype := linkTypeFor(hwtype)
	ps, err := newPacketSocket(sotype, "afpacket-plain")
	if err != nil {
		return nil, fmt.Errorf("afpacket: interface %s: %w", ifname, err)
	}
	s := &Socket{ps: ps, ifname: ifname, index: index, lt: lt, cooked: sotype == unix.SOCK_DGRAM,
		buf: make([]byte, cookedHdrLen+snaplen), oob: make([]byte, 64)}
	ps.control(func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
	})
	prog, err := compile(lt)
	if err == nil {
		err = s.Attach(prog)
	}
	if err == nil {
		err = ps.bind(index)
	}
	if err != nil {
		ps.close()
		return nil, fmt.Errorf("afpacket: interface %s: %w", ifname, err)
	}
	return s, nil
}

// Index is the interface index the socket is bound to. A device deleted
// and created again has a new index: open a new Socket for it.
func (s *Socket) Index() int { return s.index }

// LinkType is the framing of the packets Read returns and of the programs
// Attach takes.
func (s *Socket) LinkType() bpfc.LinkType { return s.lt }

// Attach replaces the socket's filter (atomically: SO_ATTACH_FILTER). prog
// is compiled for LinkType.
func (s *Socket) Attach(prog []bpf.RawInstruction) error {
	if s.cooked {
		var err error
		if prog, err = fixCooked(prog); err != nil {
			return &bpfc.Error{Msg: err.Error()}
		}
	}
	return s.ps.attach(prog)
}

// Read waits for the next packet the filter passed. The packet's Data is
// its own. An error wrapping unix.ENETDOWN or unix.ENXIO says the
// interface went down or away (the error is consumed: reading on is
// fine); after Close, Read returns an error wrapping os.ErrClosed.
func (s *Socket) Read() (*sensor.Packet, error) {
	off := 0
	if s.cooked {
		off = cookedHdrLen
	}
	for {
		var n, oobn int
		var from unix.Sockaddr
		var rerr error
		err := s.ps.rc.Read(func(fd uintptr) bool {
			n, oobn, _, from, rerr = unix.Recvmsg(int(fd), s.buf[off:], s.oob, unix.MSG_TRUNC)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return nil, err
		}
		if rerr == unix.EINTR {
			continue
		}
		if rerr != nil {
			return nil, fmt.Errorf("recvmsg on %s: %w", s.ifname, rerr)
		}
		p := new(sensor.Packet)
		fillPlain(p, s.lt, s.cooked, s.ifname, time.Now(), s.buf, off, n, s.oob[:oobn], from)
		p.Data = append([]byte(nil), p.Data...)
		return p, nil
	}
}

// Stats reads and clears the socket's counters: packets the filter passed
// and those dropped for lack of buffer room.
func (s *Socket) Stats() (packets, drops uint64, err error) { return s.ps.stats() }

// Close closes the socket; a Read waiting returns.
func (s *Socket) Close() error { return s.ps.close() }

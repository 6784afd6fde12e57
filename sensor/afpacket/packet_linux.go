package afpacket

import (
	"encoding/binary"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

// readPlain reads packets from the standby socket and reports each one
// until a poke's deadline interrupts it (nil) or the socket fails.
func (s *Sensor) readPlain(sink sensor.Sink, buf, oob []byte) error {
	off := 0
	if s.cooked {
		off = cookedHdrLen // room to put the pseudo header in front
	}
	for {
		var n, oobn int
		var from unix.Sockaddr
		var rerr error
		err := s.sb.rc.Read(func(fd uintptr) bool {
			n, oobn, _, from, rerr = unix.Recvmsg(int(fd), buf[off:], oob, unix.MSG_TRUNC)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return err
		}
		if rerr == unix.EINTR {
			continue // data may be waiting: the edge-triggered poller would not say so again
		}
		if rerr != nil {
			if errors.Is(rerr, unix.ENETDOWN) || errors.Is(rerr, unix.ENXIO) {
				// recvmsg consumed the pending socket error, so the
				// netpoller will not report POLLERR again: no spin.
				// Look at the interface before reading on.
				s.resync()
				return nil
			}
			return os.NewSyscallError("recvmsg", rerr)
		}
		now := time.Now()
		s.seen.Add(1)
		sink.Seen(now, s.plainPacket(now, buf, off, n, oob[:oobn], from))
	}
}

// plainPacket builds the reported packet from one recvmsg.
func (s *Sensor) plainPacket(now time.Time, buf []byte, off, n int, oob []byte, from unix.Sockaddr) *sensor.Packet {
	return plainPacket(s.lt(), s.cooked, s.ifname, now, buf, off, n, oob, from)
}

// plainPacket builds a packet read from a plain socket of link type lt:
// buf[off:off+n] holds what recvmsg returned, and for a cooked socket
// buf[:off] is room for the pseudo header built from the sender's address.
func plainPacket(lt bpfc.LinkType, cooked bool, ifname string, now time.Time, buf []byte, off, n int, oob []byte, from unix.Sockaddr) *sensor.Packet {
	if n > len(buf)-off {
		n = len(buf) - off
	}
	p := &sensor.Packet{
		LinkType: lt,
		OrigLen:  n,
		Time:     now,
		Ifname:   ifname,
		Sensor:   sensor.Pcap,
	}
	if aux, ok := parseAuxdata(oob); ok {
		p.OrigLen = int(aux.Len)
		if aux.Status&tpStatusVLANValid != 0 {
			p.HasVLAN = true
			p.VLANTCI = aux.Vlan_tci
			p.VLANTPID = 0x8100
			if aux.Status&tpStatusVLANTPIDOK != 0 {
				p.VLANTPID = aux.Vlan_tpid
			}
		}
	}
	data := buf[off : off+n]
	if cooked {
		var sll [sllLen]byte
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			ne := binary.NativeEndian
			ne.PutUint16(sll[sllProtocolOff:], ll.Protocol) // raw field: network order in memory
			ne.PutUint16(sll[sllHatypeOff:], ll.Hatype)
			sll[sllPkttypeOff] = ll.Pkttype
			sll[sllHalenOff] = ll.Halen
			copy(sll[sllAddrOff:], ll.Addr[:])
		}
		h := cookedHeader(sll[:])
		copy(buf[:cookedHdrLen], h[:])
		data = buf[:off+n]
		p.OrigLen += cookedHdrLen
	}
	p.Data = append([]byte(nil), data...)
	return p
}

// auxdataLen is sizeof(struct tpacket_auxdata).
const auxdataLen = 20

// parseAuxdata finds PACKET_AUXDATA in a recvmsg control buffer.
func parseAuxdata(oob []byte) (unix.TpacketAuxdata, bool) {
	var aux unix.TpacketAuxdata
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return aux, false
	}
	ne := binary.NativeEndian
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < auxdataLen {
			continue
		}
		d := m.Data
		aux.Status = ne.Uint32(d[0:])
		aux.Len = ne.Uint32(d[4:])
		aux.Snaplen = ne.Uint32(d[8:])
		aux.Mac = ne.Uint16(d[12:])
		aux.Net = ne.Uint16(d[14:])
		aux.Vlan_tci = ne.Uint16(d[16:])
		aux.Vlan_tpid = ne.Uint16(d[18:])
		return aux, true
	}
	return aux, false
}

// tick is one up-state read: counters, then the ring. Activity is reported
// once, at the tick, when PACKET_STATISTICS counted matching packets since
// the last tick; packets in blocks the kernel retired later were already
// counted, so the ring alone never re-reports old traffic.
func (s *Sensor) tick(sink sensor.Sink) {
	packets, drops, err := s.rs.ringStats()
	if err != nil {
		s.logf("pcap: reading statistics on %s: %v", s.ifname, err)
	}
	// The ring socket is polled only while up state is idle, and then Run
	// reads a pending error, so it cannot make anything spin. Link events
	// tell when the interface goes away; only without them is the error
	// read here (one more syscall per tick).
	if s.gone {
		s.resync()
	} else if !s.watching.Load() {
		if serr := s.rs.soError(); serr != nil {
			s.resync()
		}
	}
	newest := s.drainRing()
	s.seen.Add(packets)
	s.drops.Add(drops)
	// A quiet tick hands waiting over to the ring (no wake-ups until a
	// block retires), unless the interface is missing and must be looked
	// for on the ticks.
	s.upIdle = packets == 0 && !s.gone
	if packets == 0 {
		return
	}
	sink.Seen(time.Now(), newest)
}

// drainRing hands every user-owned block back to the kernel and returns a
// copy of the newest packet among them, or nil.
func (s *Sensor) drainRing() *sensor.Packet {
	r := s.ring
	n := userBlocks(r.mem, r.blockSize, r.blocks, r.cursor)
	if n == 0 {
		return nil
	}
	var out *sensor.Packet
	for i := n - 1; i >= 0 && out == nil; i-- {
		b := (r.cursor + i) % r.blocks
		if rp, _, ok := lastPacket(r.mem[b*r.blockSize:(b+1)*r.blockSize], s.cooked); ok {
			out = s.ringPacket(rp)
		}
	}
	for i := 0; i < n; i++ {
		b := (r.cursor + i) % r.blocks
		releaseBlock(r.mem[b*r.blockSize : (b+1)*r.blockSize])
	}
	r.cursor = (r.cursor + n) % r.blocks
	return out
}

// ringPacket copies a ring packet out of block memory.
func (s *Sensor) ringPacket(rp ringPacket) *sensor.Packet {
	p := &sensor.Packet{
		LinkType: s.lt(),
		OrigLen:  rp.Len,
		Time:     rp.Time,
		HasVLAN:  rp.Status&tpStatusVLANValid != 0,
		VLANTCI:  rp.VLANTCI,
		Ifname:   s.ifname,
		Sensor:   sensor.Pcap,
	}
	if p.HasVLAN {
		p.VLANTPID = 0x8100
		if rp.Status&tpStatusVLANTPIDOK != 0 {
			p.VLANTPID = rp.VLANTPID
		}
	}
	if s.cooked {
		h := cookedHeader(rp.SLL)
		p.Data = append(h[:], rp.Data...)
		p.OrigLen += cookedHdrLen
	} else {
		p.Data = append([]byte(nil), rp.Data...)
	}
	return p
}

package afpacket

import (
	"encoding/binary"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/dnsq"
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
		// Judged in place, copied only when it counts: with DNS rules
		// most packets read here may be queries for other names.
		var view sensor.Packet
		s.plainPacket(&view, now, buf, off, n, oob[:oobn], from)
		if s.dns != nil && !s.judge(&view, s.userStandby) {
			continue
		}
		p := view
		p.Data = append([]byte(nil), view.Data...)
		sink.Seen(now, &p)
	}
}

// judge decides, with DNS rules, whether a packet the kernel passed is
// activity: a query for a listed name (p.Query is set then), or a packet
// -f alone accepts (u; nil without -f, when only queries count). DNS
// packets are counted for the report. p's bytes are not kept.
func (s *Sensor) judge(p *sensor.Packet, u *userFilter) bool {
	q, res, dns := s.dns.InspectPort(p)
	if dns {
		s.dnsStats.Add(res)
	}
	if res == dnsq.Matched {
		p.Query = &q
		return true
	}
	return u != nil && u.match(p)
}

// plainPacket fills p from one recvmsg; p.Data points into buf.
func (s *Sensor) plainPacket(p *sensor.Packet, now time.Time, buf []byte, off, n int, oob []byte, from unix.Sockaddr) {
	fillPlain(p, s.lt(), s.cooked, s.ifname, now, buf, off, n, oob, from)
}

// fillPlain fills p from one recvmsg on a plain socket of link type lt:
// buf[off:off+n] holds what recvmsg returned, and for a cooked socket
// buf[:off] is room for the pseudo header built from the sender's address.
// p.Data points into buf.
func fillPlain(p *sensor.Packet, lt bpfc.LinkType, cooked bool, ifname string, now time.Time, buf []byte, off, n int, oob []byte, from unix.Sockaddr) {
	if n > len(buf)-off {
		n = len(buf) - off
	}
	*p = sensor.Packet{
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
	p.Data = data
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
	var newest *sensor.Packet
	active := packets > 0
	if s.dns == nil {
		newest = s.drainRing()
	} else {
		// What the kernel passed includes DNS that is not activity: only
		// the packets judged in the retired blocks count. Drops may be
		// either; they count only with -f, whose traffic a full ring
		// most likely is, and never make DNS alone keep the state up.
		newest = s.judgeRing()
		active = newest != nil || drops > 0 && s.filter != nil
	}
	s.seen.Add(packets)
	s.drops.Add(drops)
	// A quiet tick hands waiting over to the ring (no wake-ups until a
	// block retires), unless the interface is missing and must be looked
	// for on the ticks.
	s.upIdle = packets == 0 && !s.gone
	if !active {
		return
	}
	sink.Seen(time.Now(), newest)
}

// judgeRing is drainRing with DNS rules: it judges the packets of the
// user-owned blocks (see judge) and returns a copy of the newest matching
// query, else of the first packet -f accepted, or nil. Once one packet
// counted, -f is not run again; DNS packets are all inspected, for the
// report.
func (s *Sensor) judgeRing() *sensor.Packet {
	r := s.ring
	n := userBlocks(r.mem, r.blockSize, r.blocks, r.cursor)
	if n == 0 {
		return nil
	}
	var (
		last  ringPacket
		query *sensor.DNSQuery
		found bool
		p     sensor.Packet
	)
	u := s.userUp
	for i := 0; i < n; i++ {
		b := (r.cursor + i) % r.blocks
		eachPacket(r.mem[b*r.blockSize:(b+1)*r.blockSize], s.cooked, func(rp ringPacket) {
			s.viewRingPacket(&p, rp)
			if s.judge(&p, u) {
				last, query, found = rp, p.Query, true
				u = nil
			}
		})
	}
	var out *sensor.Packet
	if found {
		out = s.ringPacket(last)
		out.Query = query
	}
	for i := 0; i < n; i++ {
		b := (r.cursor + i) % r.blocks
		releaseBlock(r.mem[b*r.blockSize : (b+1)*r.blockSize])
	}
	r.cursor = (r.cursor + n) % r.blocks
	return out
}

// viewRingPacket points p at a ring packet's bytes without copying them
// (a cooked packet's header goes into the sensor's scratch buffer), for
// judging only: block memory is released afterwards.
func (s *Sensor) viewRingPacket(p *sensor.Packet, rp ringPacket) {
	*p = sensor.Packet{
		LinkType: s.lt(),
		OrigLen:  rp.Len,
		HasVLAN:  rp.Status&tpStatusVLANValid != 0,
		VLANTCI:  rp.VLANTCI,
		VLANTPID: 0x8100,
		Data:     rp.Data,
	}
	if p.HasVLAN && rp.Status&tpStatusVLANTPIDOK != 0 {
		p.VLANTPID = rp.VLANTPID
	}
	if s.cooked {
		h := cookedHeader(rp.SLL)
		s.scratch = append(append(s.scratch[:0], h[:]...), rp.Data...)
		p.Data = s.scratch
		p.OrigLen += cookedHdrLen
	}
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

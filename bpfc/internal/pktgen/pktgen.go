// Package pktgen builds a deterministic corpus of packets for judging BPF
// filter programs: every protocol, address and port the filter corpus names,
// the odd cases libpcap's code generator has branches for (VLAN stacks,
// IPv4 options and fragments, IPv6 extension headers, truncation), and a
// seeded random tail. Frames are built once as Ethernet and derived for the
// raw-IP and Linux cooked link types, and for the live-socket view where the
// kernel moves the outer VLAN tag into metadata.
package pktgen

import (
	"encoding/binary"
	"fmt"
)

// DLT values of the link types the corpus is produced for (libpcap's Linux
// numbering; kept here so this package does not import bpfc).
const (
	DLTEN10MB   = 1
	DLTRAW      = 12
	DLTLinuxSLL = 113
)

// Linux packet types (PACKET_* in linux/if_packet.h) as seen through
// SKF_AD_PKTTYPE and in the cooked header.
const (
	PacketHost      = 0
	PacketBroadcast = 1
	PacketMulticast = 2
	PacketOtherHost = 3
	PacketOutgoing  = 4
)

// Meta is the socket-buffer state a live Linux socket filter can read
// through SKF_AD_* ancillary loads.
type Meta struct {
	VLANPresent bool   // SKF_AD_VLAN_TAG_PRESENT
	VLANTCI     uint16 // SKF_AD_VLAN_TAG
	VLANTPID    uint16 // SKF_AD_VLAN_TPID
	PktType     uint32 // SKF_AD_PKTTYPE
	Protocol    uint16 // SKF_AD_PROTOCOL (host order value of skb->protocol)
	IfIndex     uint32 // SKF_AD_IFINDEX
	HAType      uint16 // SKF_AD_HATYPE
}

// Packet is one corpus entry.
type Packet struct {
	Desc    string // human-readable summary for failure messages
	Data    []byte // the captured bytes the filter sees
	WireLen uint32 // the BPF "len": original length (>= len(Data))
	Meta    Meta   // live-socket metadata (zero for offline)
	// Truncated marks frames cut short of what their headers announce
	// (snaplen cuts and short frames). libpcap's optimized and unoptimized
	// programs may legitimately decide these differently, because the
	// optimizer changes which loads run first and an out-of-bounds load
	// rejects.
	Truncated bool
}

// String describes the packet for failure messages: description, sizes
// and any live metadata.
func (p Packet) String() string {
	s := fmt.Sprintf("#%s [%d bytes", p.Desc, len(p.Data))
	if int(p.WireLen) != len(p.Data) {
		s += fmt.Sprintf(", wire %d", p.WireLen)
	}
	s += "]"
	if p.Meta != (Meta{}) {
		s += fmt.Sprintf(" meta{vlan:%v tci:%#x tpid:%#x pkttype:%d proto:%#x}",
			p.Meta.VLANPresent, p.Meta.VLANTCI, p.Meta.VLANTPID, p.Meta.PktType, p.Meta.Protocol)
	}
	return s
}

// Corpus returns the packet corpus for a DLT and target. live selects the
// live-socket view: metadata filled in, and for Ethernet, copies of tagged
// frames with the outer tag moved into metadata (as the kernel does on
// receive) and outgoing copies of some frames.
func Corpus(dlt int, live bool) []Packet {
	eth := Ethernet()
	switch dlt {
	case DLTEN10MB:
		if live {
			return EthernetLive(eth)
		}
		return eth
	case DLTRAW:
		r := Raw(eth)
		if live {
			return RawLive(r)
		}
		return r
	case DLTLinuxSLL:
		s := SLL(eth)
		if live {
			return SLLLive(s)
		}
		return s
	}
	return nil
}

// Tag stripping helpers.

// l2 reports the ethertype position after tags for an Ethernet frame: the
// offset of the final ethertype field and the tags in front of it.
func l2(frame []byte) (etOff int, tags []Tag) {
	off := 12
	for off+4 <= len(frame) {
		t := binary.BigEndian.Uint16(frame[off:])
		if t != EtherVLAN && t != EtherQinQ && t != Ether9100 {
			break
		}
		tags = append(tags, Tag{TPID: t, TCI: binary.BigEndian.Uint16(frame[off+2:])})
		off += 4
	}
	return off, tags
}

func pktTypeFor(frame []byte) uint32 {
	if len(frame) < 6 {
		return PacketHost
	}
	if frame[0]&frame[1]&frame[2]&frame[3]&frame[4]&frame[5] == 0xff {
		return PacketBroadcast
	}
	if frame[0]&1 != 0 {
		return PacketMulticast
	}
	return PacketHost
}

// EthernetLive derives the live-socket view of an Ethernet corpus: every
// frame as-is (as an outgoing frame could be, tags in-frame, metadata
// pkttype from the destination MAC), tagged frames again with the outer tag
// in metadata, and every fourth frame again as outgoing.
func EthernetLive(eth []Packet) []Packet {
	var out []Packet
	for i, p := range eth {
		q := p
		q.Meta.PktType = pktTypeFor(p.Data)
		q.Meta.HAType = 1
		q.Meta.IfIndex = 2
		if et, _ := l2(p.Data); et+2 <= len(p.Data) {
			q.Meta.Protocol = binary.BigEndian.Uint16(p.Data[et:])
		}
		out = append(out, q)
		if len(p.Data) >= 18 {
			t := binary.BigEndian.Uint16(p.Data[12:])
			if t == EtherVLAN || t == EtherQinQ {
				s := q
				s.Desc = p.Desc + " (outer tag in metadata)"
				s.Data = append(append([]byte{}, p.Data[:12]...), p.Data[16:]...)
				s.WireLen = p.WireLen - 4
				s.Meta.VLANPresent = true
				s.Meta.VLANTPID = t
				s.Meta.VLANTCI = binary.BigEndian.Uint16(p.Data[14:])
				if et, _ := l2(s.Data); et+2 <= len(s.Data) {
					s.Meta.Protocol = binary.BigEndian.Uint16(s.Data[et:])
				}
				out = append(out, s)
			}
		}
		if i%4 == 1 {
			o := q
			o.Desc = p.Desc + " (outgoing)"
			o.Meta.PktType = PacketOutgoing
			out = append(out, o)
		}
	}
	return out
}

// Raw derives raw-IP packets: the network-layer bytes of every IPv4/IPv6
// frame (tags skipped), plus non-IP payloads as a tun device could deliver
// them (the version nibble decides).
func Raw(eth []Packet) []Packet {
	var out []Packet
	for _, p := range eth {
		et, tags := l2(p.Data)
		if et+2 > len(p.Data) {
			continue
		}
		typ := binary.BigEndian.Uint16(p.Data[et:])
		hdr := et + 2
		switch {
		case typ == EtherIPv4 || typ == EtherIPv6:
		case (typ == EtherARP || typ == EtherMPLS) && len(tags) == 0:
			// Not IP: a tun would not carry these, but they make the
			// version-nibble tests meet values other than 4 and 6.
		default:
			continue
		}
		q := Packet{
			Desc:      "raw " + p.Desc,
			Data:      append([]byte{}, p.Data[hdr:]...),
			WireLen:   p.WireLen - uint32(hdr),
			Truncated: p.Truncated,
		}
		out = append(out, q)
	}
	return out
}

// RawLive adds the metadata a tun socket shows (protocol from the version
// nibble, pkttype host) and outgoing copies of every third packet.
func RawLive(raw []Packet) []Packet {
	var out []Packet
	for i, p := range raw {
		q := p
		q.Meta.HAType = 0xfffe // ARPHRD_NONE
		q.Meta.IfIndex = 3
		if len(p.Data) > 0 {
			switch p.Data[0] >> 4 {
			case 4:
				q.Meta.Protocol = EtherIPv4
			case 6:
				q.Meta.Protocol = EtherIPv6
			}
		}
		out = append(out, q)
		if i%3 == 0 {
			o := q
			o.Desc += " (outgoing)"
			o.Meta.PktType = PacketOutgoing
			out = append(out, o)
		}
	}
	return out
}

// SLL derives Linux cooked (v1) packets: pkttype, ARPHRD_ETHER, the source
// MAC, the first ethertype, then the rest of the frame after it. 802.3
// frames become protocol ETH_P_802_2 with the LLC payload. Every fifth
// packet is also produced as outgoing, and a few with other hardware types.
func SLL(eth []Packet) []Packet {
	var out []Packet
	for i, p := range eth {
		if len(p.Data) < 14 {
			// Truncated Ethernet: cook what is there of the addresses.
			if len(p.Data) < 12 {
				continue
			}
		}
		mk := func(pkttype uint16, hatype uint16, desc string) Packet {
			h := make([]byte, 16)
			be16(h, pkttype)
			be16(h[2:], hatype)
			be16(h[4:], 6)
			copy(h[6:12], p.Data[6:12])
			var rest []byte
			if len(p.Data) >= 14 {
				typ := binary.BigEndian.Uint16(p.Data[12:])
				if typ <= 1500 {
					typ = 0x0004 // ETH_P_802_2
				}
				be16(h[14:], typ)
				rest = p.Data[14:]
			} else {
				h = h[:12+len(p.Data)-12]
			}
			d := append(h, rest...)
			wl := uint32(len(d))
			if int(p.WireLen) > len(p.Data) {
				wl = p.WireLen + 2
			}
			return Packet{Desc: desc, Data: d, WireLen: wl, Truncated: p.Truncated || len(p.Data) < 14}
		}
		pt := uint16(pktTypeFor(p.Data))
		out = append(out, mk(pt, 1, "sll "+p.Desc))
		if i%5 == 2 {
			out = append(out, mk(PacketOutgoing, 1, "sll outgoing "+p.Desc))
		}
		if i%17 == 3 {
			out = append(out, mk(PacketOtherHost, 1, "sll otherhost "+p.Desc))
		}
		if i%23 == 4 {
			out = append(out, mk(pt, 772, "sll hatype=loopback "+p.Desc))
		}
	}
	return out
}

// SLLLive adds live metadata mirroring the cooked header.
func SLLLive(sll []Packet) []Packet {
	out := make([]Packet, 0, len(sll))
	for _, p := range sll {
		q := p
		if len(p.Data) >= 16 {
			q.Meta.PktType = uint32(binary.BigEndian.Uint16(p.Data))
			q.Meta.HAType = binary.BigEndian.Uint16(p.Data[2:])
			q.Meta.Protocol = binary.BigEndian.Uint16(p.Data[14:])
		}
		q.Meta.IfIndex = 4
		out = append(out, q)
	}
	return out
}

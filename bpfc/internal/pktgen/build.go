package pktgen

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Byte-level builders. They compute lengths and checksums like a real stack
// would, because some filters read ip[2:2] (total length) or compare header
// fields, and a corpus of well-formed packets exercises the common paths
// while the truncated and random ones exercise the edges.

// MAC is an Ethernet address.
type MAC [6]byte

// String formats the address as xx:xx:xx:xx:xx:xx.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// Ethertypes and protocol numbers the generator uses.
const (
	EtherIPv4   = 0x0800
	EtherARP    = 0x0806
	EtherRARP   = 0x8035
	EtherIPv6   = 0x86dd
	EtherVLAN   = 0x8100
	EtherQinQ   = 0x88a8
	Ether9100   = 0x9100
	EtherMPLS   = 0x8847
	EtherMPLSMC = 0x8848
	EtherPPPoED = 0x8863
	EtherPPPoES = 0x8864
	EtherIPX    = 0x8137
	EtherAARP   = 0x80f3
	EtherATalk  = 0x809b
	EtherDECnet = 0x6003
	EtherLoop   = 0x9000

	ProtoICMP   = 1
	ProtoIGMP   = 2
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoGRE    = 47
	ProtoESP    = 50
	ProtoAH     = 51
	ProtoICMPv6 = 58
	ProtoSCTP   = 132
	ProtoPIM    = 103
	ProtoVRRP   = 112
)

// TCP flag bits.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
	URG = 0x20
	ECE = 0x40
	CWR = 0x80
)

func be16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }
func be32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }

func csum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// Tag is one 802.1Q/802.1ad tag: TPID and TCI (PCP, DEI, VID).
type Tag struct {
	TPID uint16
	TCI  uint16
}

// ethernet builds an Ethernet II frame (or 802.3 when etype < 0x600 is a
// length: the caller passes the LLC payload and etype 0 to get the length
// filled in).
func ethernet(dst, src MAC, tags []Tag, etype uint16, payload []byte) []byte {
	b := make([]byte, 0, 14+4*len(tags)+len(payload))
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	for _, t := range tags {
		b = binary.BigEndian.AppendUint16(b, t.TPID)
		b = binary.BigEndian.AppendUint16(b, t.TCI)
	}
	if etype == 0 {
		etype = uint16(len(payload))
	}
	b = binary.BigEndian.AppendUint16(b, etype)
	return append(b, payload...)
}

// ip4 describes an IPv4 header.
type ip4 struct {
	src, dst netip.Addr
	proto    uint8
	opts     []byte // padded to 4 bytes by the caller
	ttl      uint8
	id       uint16
	df, mf   bool
	fragOff  uint16 // in 8-byte units
	tos      uint8
}

func (h ip4) build(payload []byte) []byte {
	hl := 20 + len(h.opts)
	b := make([]byte, hl, hl+len(payload))
	b[0] = 0x40 | uint8(hl/4)
	b[1] = h.tos
	be16(b[2:], uint16(hl+len(payload)))
	be16(b[4:], h.id)
	ff := h.fragOff & 0x1fff
	if h.df {
		ff |= 0x4000
	}
	if h.mf {
		ff |= 0x2000
	}
	be16(b[6:], ff)
	ttl := h.ttl
	if ttl == 0 {
		ttl = 64
	}
	b[8] = ttl
	b[9] = h.proto
	s, d := h.src.As4(), h.dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	copy(b[20:], h.opts)
	be16(b[10:], csum(b[:hl]))
	return append(b, payload...)
}

// ext6 is one IPv6 extension header: its type (the value of the preceding
// next-header field) and body after the 2-byte next/length prefix.
type ext6 struct {
	typ  uint8
	body []byte
}

func ip6(src, dst netip.Addr, exts []ext6, proto uint8, hlim uint8, payload []byte) []byte {
	var ext []byte
	for i, e := range exts {
		next := proto
		if i+1 < len(exts) {
			next = exts[i+1].typ
		}
		if e.typ == 44 { // fragment header: fixed 8 bytes, reserved length
			h := make([]byte, 8)
			h[0] = next
			copy(h[2:], e.body)
			ext = append(ext, h...)
			continue
		}
		n := 2 + len(e.body)
		pad := (8 - n%8) % 8
		h := make([]byte, n+pad)
		h[0] = next
		h[1] = uint8((n+pad)/8 - 1)
		copy(h[2:], e.body)
		ext = append(ext, h...)
	}
	first := proto
	if len(exts) > 0 {
		first = exts[0].typ
	}
	b := make([]byte, 40, 40+len(ext)+len(payload))
	b[0] = 0x60
	b[1] = 0x0a // traffic class / flow label bits, arbitrary but fixed
	be16(b[4:], uint16(len(ext)+len(payload)))
	b[6] = first
	if hlim == 0 {
		hlim = 64
	}
	b[7] = hlim
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	b = append(b, ext...)
	return append(b, payload...)
}

// frag6 returns a fragment extension header body for offset (8-byte units).
func frag6(off uint16, more bool, id uint32) ext6 {
	body := make([]byte, 6)
	v := off << 3
	if more {
		v |= 1
	}
	be16(body, v)
	be32(body[2:], id)
	return ext6{typ: 44, body: body}
}

func tcp(sport, dport uint16, flags uint8, seq uint32, opts []byte, payload []byte) []byte {
	hl := 20 + len(opts)
	b := make([]byte, hl, hl+len(payload))
	be16(b, sport)
	be16(b[2:], dport)
	be32(b[4:], seq)
	if flags&ACK != 0 {
		be32(b[8:], seq^0x5a5a5a5a)
	}
	b[12] = uint8(hl/4) << 4
	b[13] = flags
	be16(b[14:], 64240)
	copy(b[20:], opts)
	return append(b, payload...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	be16(b, sport)
	be16(b[2:], dport)
	be16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

func sctp(sport, dport uint16) []byte {
	b := make([]byte, 12+16)
	be16(b, sport)
	be16(b[2:], dport)
	be32(b[4:], 0x01020304)
	b[12] = 1 // INIT chunk
	be16(b[14:], 16)
	return b
}

func icmp(typ, code uint8, rest []byte) []byte {
	b := make([]byte, 8, 8+len(rest))
	b[0], b[1] = typ, code
	be32(b[4:], 0x12340001)
	b = append(b, rest...)
	be16(b[2:], csum(b))
	return b
}

func gre(proto uint16, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload))
	be16(b[2:], proto)
	return append(b, payload...)
}

func esp(spi uint32) []byte {
	b := make([]byte, 8+16)
	be32(b, spi)
	be32(b[4:], 1)
	return b
}

func ah(next uint8, payload []byte) []byte {
	b := make([]byte, 12+12, 24+len(payload))
	b[0] = next
	b[1] = 4 // (24/4)-2
	be32(b[4:], 0x1000)
	be32(b[8:], 7)
	return append(b, payload...)
}

// arp builds an Ethernet/IPv4 ARP (or RARP, same layout) body.
func arp(op uint16, sha MAC, spa netip.Addr, tha MAC, tpa netip.Addr) []byte {
	b := make([]byte, 28)
	be16(b, 1)
	be16(b[2:], EtherIPv4)
	b[4], b[5] = 6, 4
	be16(b[6:], op)
	copy(b[8:], sha[:])
	s := spa.As4()
	copy(b[14:], s[:])
	copy(b[18:], tha[:])
	d := tpa.As4()
	copy(b[24:], d[:])
	return b
}

// mplsStack prefixes payload with MPLS label stack entries (bottom-of-stack
// set on the last).
func mplsStack(labels []uint32, payload []byte) []byte {
	var b []byte
	for i, l := range labels {
		v := l<<12 | 64
		if i == len(labels)-1 {
			v |= 1 << 8
		}
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return append(b, payload...)
}

package sensor

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tuninetd/tuninetd/bpfc"
)

// EtherType values the decoder acts on.
const (
	etherTypeIPv4   = 0x0800
	etherTypeIPv6   = 0x86DD
	etherType8021Q  = 0x8100
	etherType8021AD = 0x88A8
	etherTypeQinQ   = 0x9100 // pre-standard double tagging, still seen on switches
)

// IP protocol numbers the decoder acts on.
const (
	protoHopByHop = 0
	protoTCP      = 6
	protoUDP      = 17
	protoRouting  = 43
	protoFragment = 44
	protoAH       = 51
	protoDestOpts = 60
	protoSCTP     = 132
)

// Header sizes.
const (
	ethHeaderLen  = 14
	sllHeaderLen  = 16
	ipv4MinHeader = 20
	ipv6HeaderLen = 40
)

// LinkKind tells which link header a Summary's link fields come from.
type LinkKind int

// Link header kinds.
const (
	// LinkNone: the packet had no link header (raw IP) or it was unreadable.
	LinkNone LinkKind = iota
	// LinkEthernet: an Ethernet II header with source and destination MAC.
	LinkEthernet
	// LinkCooked: a Linux cooked (SLL) header, which carries only the
	// sender's link-layer address (possibly empty, e.g. on PPP).
	LinkCooked
)

// Summary is what the loop logs and exports about a packet. Every field
// comes from a header field that was present in the captured bytes; a field
// whose header was missing or truncated is left at its zero value and its
// Has flag false.
type Summary struct {
	// IPVersion is 4 or 6 when an IP header was parsed, else 0.
	IPVersion int
	// Src and Dst are the IP addresses; valid when IPVersion != 0.
	Src, Dst netip.Addr
	// NextHeader is the protocol field the original's log line shows: the
	// IPv4 protocol, or the Next Header of the fixed IPv6 header (extension
	// headers are not walked for it, as in tuninetd 1.5.1).
	NextHeader uint8
	// Proto is the transport protocol after walking IPv6 extension headers
	// (for IPv4 it equals NextHeader); valid when HasProto.
	Proto    uint8
	HasProto bool
	// SrcPort and DstPort are TCP/UDP/SCTP ports; valid when HasPorts, which
	// needs an unfragmented packet or the first fragment with both ports.
	SrcPort, DstPort uint16
	HasPorts         bool
	// TCPFlags is the TCP header's flags byte (CWR ECE URG ACK PSH RST
	// SYN FIN, high bit first); valid when HasTCPFlags, which needs the
	// first 14 bytes of the TCP header.
	TCPFlags    uint8
	HasTCPFlags bool

	// Link tells whether and which link header was parsed.
	Link LinkKind
	// SrcMAC and DstMAC are the Ethernet addresses (LinkEthernet); for
	// LinkCooked SrcMAC is the SLL address (0 to 8 bytes) and DstMAC is nil.
	SrcMAC, DstMAC net.HardwareAddr
	// EtherType is the protocol after any VLAN tags (or the first tag's
	// TPID when the tag itself is truncated); valid when Link != LinkNone.
	EtherType uint16
	// HasVLAN and VLANID describe the outermost 802.1Q/802.1ad tag: the
	// one the kernel stripped into metadata, else the first in-frame tag.
	HasVLAN bool
	VLANID  uint16

	// payload is the TCP or UDP payload and payloadCut tells that the
	// IP or UDP length promised more; see Payload.
	payload    []byte
	payloadCut bool
}

// Payload returns the TCP or UDP payload: the bytes after the transport
// header up to the end the IP and UDP lengths give, as far as they were
// captured, and whether that is all of it (false when the capture or copy
// length cut the packet short of those lengths). The bytes alias the
// decoded packet's Data. They are nil (and whole false) for other
// protocols, for fragments after the first, and when the transport header
// was cut off or contradicts itself; empty, not nil, for a complete header
// with no payload.
func (s Summary) Payload() (b []byte, whole bool) {
	return s.payload, s.payload != nil && !s.payloadCut
}

// Decode parses the link, network and transport headers of p as far as the
// captured bytes allow. It never panics, whatever the bytes; a nil packet
// gives the zero Summary.
func Decode(p *Packet) Summary { return decode(p, true) }

// DecodeTransport is Decode without copying the link-layer addresses
// (SrcMAC and DstMAC stay nil), which makes it allocation-free: for work
// done on every captured packet, such as reading a payload.
func DecodeTransport(p *Packet) Summary { return decode(p, false) }

func decode(p *Packet, linkAddrs bool) Summary {
	var s Summary
	if p == nil {
		return s
	}
	d := p.Data
	if p.HasVLAN {
		// The kernel removed the outermost tag from the frame; it is
		// still the packet's VLAN.
		s.HasVLAN = true
		s.VLANID = p.VLANTCI & 0x0fff
	}
	switch p.LinkType {
	case bpfc.RAW:
		s.decodeIP(d)
	case bpfc.EN10MB:
		if len(d) < ethHeaderLen {
			return s
		}
		s.Link = LinkEthernet
		if linkAddrs {
			s.DstMAC = cloneBytes(d[0:6])
			s.SrcMAC = cloneBytes(d[6:12])
		}
		s.decodeEtherPayload(d, 12)
	case bpfc.LinuxSLL:
		if len(d) < sllHeaderLen {
			return s
		}
		s.Link = LinkCooked
		alen := int(binary.BigEndian.Uint16(d[4:6]))
		if alen > 8 {
			// The SLL header has room for 8 bytes; longer
			// addresses are truncated by the kernel.
			alen = 8
		}
		if linkAddrs {
			s.SrcMAC = cloneBytes(d[6 : 6+alen])
		}
		s.decodeEtherPayload(d, 14)
	}
	return s
}

// decodeEtherPayload reads the EtherType at d[off:off+2], skips in-frame
// VLAN tags, and decodes an IP header that follows.
func (s *Summary) decodeEtherPayload(d []byte, off int) {
	et := binary.BigEndian.Uint16(d[off : off+2])
	// Each tag consumes 4 bytes, so the loop ends with the data.
	for isVLANTPID(et) && len(d) >= off+6 {
		if !s.HasVLAN {
			s.HasVLAN = true
			s.VLANID = binary.BigEndian.Uint16(d[off+2:off+4]) & 0x0fff
		}
		off += 4
		et = binary.BigEndian.Uint16(d[off : off+2])
	}
	s.EtherType = et
	payload := d[off+2:]
	switch et {
	case etherTypeIPv4:
		s.decodeIPv4(payload)
	case etherTypeIPv6:
		s.decodeIPv6(payload)
	}
}

func isVLANTPID(et uint16) bool {
	return et == etherType8021Q || et == etherType8021AD || et == etherTypeQinQ
}

// decodeIP decodes a raw IP packet by its version nibble.
func (s *Summary) decodeIP(d []byte) {
	if len(d) == 0 {
		return
	}
	switch d[0] >> 4 {
	case 4:
		s.decodeIPv4(d)
	case 6:
		s.decodeIPv6(d)
	}
}

func (s *Summary) decodeIPv4(d []byte) {
	if len(d) < ipv4MinHeader || d[0]>>4 != 4 {
		return
	}
	s.IPVersion = 4
	s.Src = netip.AddrFrom4([4]byte(d[12:16]))
	s.Dst = netip.AddrFrom4([4]byte(d[16:20]))
	s.NextHeader = d[9]
	s.Proto = d[9]
	s.HasProto = true

	hlen := int(d[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(d[2:4]))
	if hlen < ipv4MinHeader || total < hlen {
		// A header that contradicts itself: keep the addresses, trust
		// nothing behind it.
		return
	}
	if binary.BigEndian.Uint16(d[6:8])&0x1fff != 0 {
		return // not the first fragment: no transport header here
	}
	end := min(total, len(d))
	if end < hlen {
		return
	}
	s.payloadCut = total > len(d)
	s.decodePorts(d[hlen:end])
}

func (s *Summary) decodeIPv6(d []byte) {
	if len(d) < ipv6HeaderLen || d[0]>>4 != 6 {
		return
	}
	s.IPVersion = 6
	s.Src = netip.AddrFrom16([16]byte(d[8:24]))
	s.Dst = netip.AddrFrom16([16]byte(d[24:40]))
	s.NextHeader = d[6]

	// The payload ends where the header says, unless the capture was cut
	// short. A zero length is a jumbogram only behind a hop-by-hop header.
	end := ipv6HeaderLen + int(binary.BigEndian.Uint16(d[4:6]))
	if end == ipv6HeaderLen && d[6] == protoHopByHop {
		end = len(d)
	}
	s.payloadCut = end > len(d)
	end = min(end, len(d))

	nh, off := d[6], ipv6HeaderLen
	first := true // no fragment header, or one with offset 0
	// Every extension header is at least 8 bytes, so the walk is bounded
	// by the packet length.
	for {
		var hlen int
		switch nh {
		case protoHopByHop, protoRouting, protoDestOpts:
			if end < off+8 {
				return // truncated chain: the transport protocol is unknown
			}
			hlen = (int(d[off+1]) + 1) * 8
		case protoFragment:
			if end < off+8 {
				return
			}
			hlen = 8
			if binary.BigEndian.Uint16(d[off+2:off+4])>>3 != 0 {
				first = false
			}
		case protoAH:
			if end < off+8 {
				return
			}
			hlen = (int(d[off+1]) + 2) * 4
		default:
			s.Proto = nh
			s.HasProto = true
			if first && off <= end {
				s.decodePorts(d[off:end])
			}
			return
		}
		nh = d[off]
		off += hlen
		if off > end {
			return
		}
	}
}

// decodePorts reads the ports of a TCP, UDP or SCTP header at the start of
// t, which holds the transport bytes of a first (or only) fragment.
func (s *Summary) decodePorts(t []byte) {
	switch s.Proto {
	case protoTCP, protoUDP, protoSCTP:
	default:
		return
	}
	if len(t) < 4 {
		return
	}
	s.SrcPort = binary.BigEndian.Uint16(t[0:2])
	s.DstPort = binary.BigEndian.Uint16(t[2:4])
	s.HasPorts = true
	switch s.Proto {
	case protoUDP:
		if len(t) < 8 {
			return
		}
		end := len(t)
		if ulen := int(binary.BigEndian.Uint16(t[4:6])); ulen >= 8 && ulen < end {
			end = ulen
		} else if ulen > end {
			s.payloadCut = true
		}
		s.payload = t[8:end]
	case protoTCP:
		if len(t) >= 14 {
			s.TCPFlags = t[13]
			s.HasTCPFlags = true
		}
		if len(t) < 20 {
			return
		}
		if off := int(t[12]>>4) * 4; off >= 20 && off <= len(t) {
			s.payload = t[off:]
		}
	}
}

func cloneBytes(b []byte) net.HardwareAddr {
	return append(net.HardwareAddr(nil), b...)
}

// Lines returns the packet summary lines tuninetd 1.5.1 logs after a start,
// in its order and byte for byte in its format: the IP line (or the "Not
// IPv4/6" line), then the link line when a link header was parsed.
//
// A cooked (SLL) header has no destination address, so its line shows only
// the sender's address, or no address when it has none (PPP); the original
// had no cooked decoder, its formats are ours.
func (s Summary) Lines() []string {
	var lines []string
	if s.IPVersion != 0 {
		lines = append(lines, fmt.Sprintf("|- IPv%d %s > %s, NXT_HDR: 0x%02X (%s)",
			s.IPVersion, FormatAddr(s.Src), FormatAddr(s.Dst), s.NextHeader, ProtoName(s.NextHeader)))
	} else {
		lines = append(lines, "|- Not IPv4/6 protocol, L3 info not available")
	}
	var vlan string
	if s.HasVLAN {
		vlan = fmt.Sprintf("802.1Q VID: %d, ", s.VLANID)
	}
	etype := fmt.Sprintf("EtherType: 0x%04X (%s)", s.EtherType, EtherTypeName(s.EtherType))
	switch s.Link {
	case LinkEthernet:
		lines = append(lines, fmt.Sprintf("|- MAC: %s > %s, %s%s",
			formatMAC(s.SrcMAC), formatMAC(s.DstMAC), vlan, etype))
	case LinkCooked:
		if len(s.SrcMAC) > 0 {
			lines = append(lines, fmt.Sprintf("|- MAC: %s, %s%s", formatMAC(s.SrcMAC), vlan, etype))
		} else {
			lines = append(lines, "|- "+vlan+etype)
		}
	}
	return lines
}

// formatMAC prints lower-case, zero-padded, colon-separated hex, as the
// original's %02x format does (net.HardwareAddr.String does the same, but
// spelling it out keeps the format independent of that method).
func formatMAC(a net.HardwareAddr) string {
	var b strings.Builder
	for i, c := range a {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02x", c)
	}
	return b.String()
}

// FormatAddr prints an address as glibc's inet_ntop does, which the
// original used for its log lines; the command's environment uses it too. Go's netip agrees except for IPv4-compatible IPv6
// addresses (::a.b.c.d, first 96 bits zero, not :: or ::1 style), which
// glibc prints with a dotted quad.
func FormatAddr(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		b := a.As16()
		zero := true
		for _, c := range b[:12] {
			if c != 0 {
				zero = false
				break
			}
		}
		if zero && (b[12] != 0 || b[13] != 0) {
			return "::" + netip.AddrFrom4([4]byte(b[12:16])).String()
		}
	}
	return a.String()
}

// protoNameOK is tuninetd 1.5.1's protocol name table, kept exactly: log
// filters may match these names, and numbers missing from it print as
// "unresolved" there too (for instance AH, 51, and hop-by-hop, 0).
func protoNameOK(p uint8) (string, bool) {
	switch p {
	case 1:
		return "ICMP", true
	case 2:
		return "IGMP", true
	case 3:
		return "GGP", true
	case 4:
		return "IP-in-IP", true
	case 6:
		return "TCP", true
	case 17:
		return "UDP", true
	case 41:
		return "IPv6", true
	case 43:
		return "IPv6-Route", true
	case 44:
		return "IPv6-Frag", true
	case 47:
		return "GRE", true
	case 50:
		return "ESP", true
	case 52:
		return "I-NLSP", true
	case 55:
		return "MOBILE", true
	case 56:
		return "TLSP", true
	case 58:
		return "IPv6-ICMP", true
	case 59:
		return "IPv6-NoNxt", true
	case 60:
		return "IPv6-Opts", true
	case 66:
		return "RVD", true
	case 88:
		return "EIGRP", true
	case 89:
		return "OSPF", true
	case 97:
		return "ETHERIP", true
	case 98:
		return "ENCAP", true
	case 108:
		return "IPComp", true
	case 111:
		return "IPX-in-IP", true
	case 115:
		return "L2TP", true
	case 124:
		return "IS-IS-over-IPv4", true
	case 129:
		return "IPLT", true
	case 132:
		return "SCTP", true
	case 136:
		return "UDPLite", true
	case 137:
		return "MPLS-in-IP", true
	case 143:
		return "Ethernet", true
	}
	return "", false
}

// ProtoName returns the original's name for an IP protocol number, or
// "unresolved".
func ProtoName(p uint8) string {
	if n, ok := protoNameOK(p); ok {
		return n
	}
	return "unresolved"
}

// ProtoKeyword is the protocol as a command's environment spells it
// (TUNINETD_PROTO): the original's name table in lower case, or the
// decimal number, so scripts never see "unresolved".
func ProtoKeyword(p uint8) string {
	if n, ok := protoNameOK(p); ok {
		return strings.ToLower(n)
	}
	return strconv.Itoa(int(p))
}

// etherTypeNameOK is tuninetd 1.5.1's EtherType name table, kept exactly.
func etherTypeNameOK(t uint16) (string, bool) {
	switch t {
	case 0x0800:
		return "IPv4", true
	case 0x0806:
		return "ARP", true
	case 0x86DD:
		return "IPv6", true
	case 0x8100:
		return "802.1Q", true
	case 0x0842:
		return "Wake-on-LAN", true
	case 0x8035:
		return "RARP", true
	case 0x809B:
		return "AppleTalk", true
	case 0x80F3:
		return "AppleTalk ARP", true
	case 0x8137:
		return "IPX", true
	case 0x8808:
		return "Ethernet-Flowcontrol", true
	case 0x8847:
		return "MPLS-unicast", true
	case 0x8848:
		return "MPLS-multicast", true
	case 0x8863:
		return "PPPoE-Discovery", true
	case 0x8864:
		return "PPPoE-Session", true
	case 0x88BF:
		return "MikroTik-RoMON", true
	case 0x88CC:
		return "LLDP", true
	}
	return "", false
}

// EtherTypeName returns the original's name for an EtherType, or
// "unresolved".
func EtherTypeName(t uint16) string {
	if n, ok := etherTypeNameOK(t); ok {
		return n
	}
	return "unresolved"
}

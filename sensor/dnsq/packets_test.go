package dnsq

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

// Packet builders for the tests: just enough IPv4, IPv6, UDP, TCP and link
// framing for the decoder and the filters; checksums stay zero, as nothing
// here verifies them.

const protoSCTP = 132

var (
	v4A = [4]byte{10, 0, 0, 2}
	v4B = [4]byte{10, 0, 0, 1}
	v6A = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 2}
	v6B = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
)

func ipv4(proto uint8, dst [4]byte, l4 []byte) []byte {
	b := make([]byte, 20, 20+len(l4))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(l4)))
	b[6] = 0x40 // DF
	b[8] = 64
	b[9] = proto
	copy(b[12:], v4A[:])
	copy(b[16:], dst[:])
	return append(b, l4...)
}

func ipv6(proto uint8, l4 []byte) []byte {
	b := make([]byte, 40, 40+len(l4))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(l4)))
	b[6] = proto
	b[7] = 64
	copy(b[8:], v6A[:])
	copy(b[24:], v6B[:])
	return append(b, l4...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

func tcp(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12] = 5 << 4
	b[13] = 0x18 // PSH ACK
	binary.BigEndian.PutUint16(b[14:], 65535)
	return append(b, payload...)
}

// ether frames an IP packet; an IPv6 one when it starts with version 6.
func ether(l3 []byte, vlans ...uint16) []byte {
	b := []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2}
	for _, v := range vlans {
		b = append(b, 0x81, 0x00, byte(v>>8), byte(v))
	}
	return append(binary.BigEndian.AppendUint16(b, etherTypeOf(l3)), l3...)
}

// sll frames an IP packet with a Linux cooked header.
func sll(l3 []byte) []byte {
	b := []byte{0, 0, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 2, 0, 0}
	return append(binary.BigEndian.AppendUint16(b, etherTypeOf(l3)), l3...)
}

func etherTypeOf(l3 []byte) uint16 {
	if len(l3) > 0 && l3[0]>>4 == 6 {
		return 0x86dd
	}
	return 0x0800
}

// withLen prefixes a DNS message with its TCP length.
func withLen(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)
}

func pkt(lt bpfc.LinkType, data []byte) *sensor.Packet {
	return &sensor.Packet{Data: data, LinkType: lt, OrigLen: len(data)}
}

// dnsMsg builds a message with dnsmessage; name needs no trailing dot.
func dnsMsg(tb testing.TB, h dnsmessage.Header, names ...string) []byte {
	tb.Helper()
	b := dnsmessage.NewBuilder(nil, h)
	if err := b.StartQuestions(); err != nil {
		tb.Fatal(err)
	}
	for _, n := range names {
		if n == "" || n[len(n)-1] != '.' {
			n += "."
		}
		name, err := dnsmessage.NewName(n)
		if err != nil {
			tb.Fatal(err)
		}
		if err := b.Question(dnsmessage.Question{Name: name, Type: dnsmessage.TypeAAAA, Class: dnsmessage.ClassINET}); err != nil {
			tb.Fatal(err)
		}
	}
	out, err := b.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// query is a standard query for name, with recursion desired.
func query(tb testing.TB, name string) []byte {
	return dnsMsg(tb, dnsmessage.Header{ID: 0x1234, RecursionDesired: true}, name)
}

// rawQuery is a query header with qdcount questions followed by raw
// question bytes, for what dnsmessage refuses to build.
func rawQuery(qdcount uint16, question ...byte) []byte {
	h := []byte{0x12, 0x34, 0x01, 0x00, byte(qdcount >> 8), byte(qdcount), 0, 0, 0, 0, 0, 0}
	return append(h, question...)
}

// labels encodes names' labels on the wire, without the terminating zero.
func labels(ls ...string) []byte {
	var b []byte
	for _, l := range ls {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return b
}

// qtail is the root terminator plus QTYPE A, QCLASS IN.
var qtail = []byte{0, 0, 1, 0, 1}

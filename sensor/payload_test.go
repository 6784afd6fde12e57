package sensor

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/tuninetd/tuninetd/bpfc"
)

// ipv4Around builds a minimal IPv4 packet around a transport header and payload.
func ipv4Around(proto uint8, l4 []byte) []byte {
	b := make([]byte, 20, 20+len(l4))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(l4)))
	b[9] = proto
	copy(b[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	return append(b, l4...)
}

func TestPayload(t *testing.T) {
	data := []byte("payload bytes")
	udpHdr := func(ulen int) []byte {
		h := []byte{0x9c, 0x40, 0, 53, 0, 0, 0, 0}
		binary.BigEndian.PutUint16(h[4:], uint16(ulen))
		return h
	}
	tcpHdr := func(words int) []byte {
		h := make([]byte, max(20, words*4))
		h[1], h[3] = 80, 53
		h[12] = byte(words) << 4
		return h
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	// cutIP captures n bytes fewer than the IP header says.
	cutIP := func(b []byte, n int) []byte { return b[:len(b)-n] }
	tests := []struct {
		name  string
		pkt   []byte
		want  []byte // nil: no payload
		whole bool
	}{
		{"udp", ipv4Around(protoUDP, cat(udpHdr(8+len(data)), data)), data, true},
		{"udp padded after its length", ipv4Around(protoUDP, cat(udpHdr(8+4), data)), data[:4], true},
		{"udp length beyond the IP length", ipv4Around(protoUDP, cat(udpHdr(1000), data)), data, false},
		{"udp cut by the capture", cutIP(ipv4Around(protoUDP, cat(udpHdr(8+len(data)), data)), 3), data[:len(data)-3], false},
		{"udp empty", ipv4Around(protoUDP, udpHdr(8)), []byte{}, true},
		{"udp header cut", ipv4Around(protoUDP, udpHdr(8)[:6]), nil, false},
		{"tcp", ipv4Around(protoTCP, cat(tcpHdr(5), data)), data, true},
		{"tcp with options", ipv4Around(protoTCP, cat(tcpHdr(8), data)), data, true},
		{"tcp cut by the capture", cutIP(ipv4Around(protoTCP, cat(tcpHdr(5), data)), 1), data[:len(data)-1], false},
		{"tcp empty", ipv4Around(protoTCP, tcpHdr(5)), []byte{}, true},
		{"tcp data offset below 5", ipv4Around(protoTCP, cat(tcpHdr(4), data)), nil, false},
		{"tcp data offset beyond packet", ipv4Around(protoTCP, cat(tcpHdr(15), data)[:30]), nil, false},
		{"tcp header cut", ipv4Around(protoTCP, tcpHdr(5)[:19]), nil, false},
		{"sctp", ipv4Around(protoSCTP, cat(udpHdr(8), data)), nil, false},
		{"ip padding not payload", append(ipv4Around(protoUDP, cat(udpHdr(8+len(data)), data)), 0, 0, 0), data, true},
		{"ipv6 udp", ipv6Packet(protoUDP, cat(udpHdr(8+len(data)), data)), data, true},
		{"ipv6 udp cut by the capture", cutIP(ipv6Packet(protoUDP, cat(udpHdr(8+len(data)), data)), 2), data[:len(data)-2], false},
		{"ipv6 tcp behind a destination options header", ipv6Packet(protoDestOpts, cat([]byte{protoTCP, 0, 0, 0, 0, 0, 0, 0}, tcpHdr(5), data)), data, true},
	}
	for _, tc := range tests {
		p := &Packet{Data: tc.pkt, LinkType: bpfc.RAW}
		for _, s := range []Summary{Decode(p), DecodeTransport(p)} {
			got, whole := s.Payload()
			if (got == nil) != (tc.want == nil) || !bytes.Equal(got, tc.want) || whole != tc.whole {
				t.Errorf("%s: Payload() = %q, %v; want %q, %v", tc.name, got, whole, tc.want, tc.whole)
			}
		}
	}
}

// TestDecodeTransport checks that it is Decode without the link
// addresses, and allocation-free.
func TestDecodeTransport(t *testing.T) {
	for _, path := range []string{"testdata/veth.pcap", "testdata/cooked.pcap"} {
		for _, r := range readPcap(t, path) {
			p := &Packet{Data: r.data, LinkType: r.linkType, OrigLen: r.origLen}
			full, bare := Decode(p), DecodeTransport(p)
			if bare.SrcMAC != nil || bare.DstMAC != nil {
				t.Fatalf("%s: DecodeTransport set MACs", path)
			}
			full.SrcMAC, full.DstMAC = nil, nil
			if !reflect.DeepEqual(full, bare) {
				t.Fatalf("%s: Decode %+v, DecodeTransport %+v", path, full, bare)
			}
			if n := testing.AllocsPerRun(10, func() { DecodeTransport(p) }); n != 0 {
				t.Fatalf("%s: DecodeTransport allocates %v times", path, n)
			}
		}
	}
}

// FuzzPayload checks that the payload always lies inside the packet's
// bytes, and that DecodeTransport agrees with Decode.
func FuzzPayload(f *testing.F) {
	for _, path := range []string{"testdata/veth.pcap", "testdata/cooked.pcap"} {
		for _, r := range readPcap(f, path) {
			f.Add(r.data, uint8(r.linkType))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, lt uint8) {
		p := &Packet{Data: data, LinkType: bpfc.LinkType(lt)}
		full, bare := Decode(p), DecodeTransport(p)
		b, whole := bare.Payload()
		if fb, fw := full.Payload(); !bytes.Equal(fb, b) || (fb == nil) != (b == nil) || fw != whole {
			t.Fatalf("Decode payload %q, %v; DecodeTransport %q, %v", fb, fw, b, whole)
		}
		if b == nil {
			if whole {
				t.Fatal("no payload, but whole")
			}
			return
		}
		if !bare.HasPorts || bare.Proto != protoTCP && bare.Proto != protoUDP {
			t.Fatalf("payload without TCP or UDP ports: %+v", bare)
		}
		// b must alias a stretch of data.
		if len(b) > 0 {
			start := -1
			for i := range data {
				if &data[i] == &b[0] {
					start = i
					break
				}
			}
			if start < 0 || start+len(b) > len(data) {
				t.Fatalf("payload of %d bytes not inside the %d packet bytes", len(b), len(data))
			}
		}
	})
}

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
	tests := []struct {
		name string
		pkt  []byte
		want []byte // nil: no payload
	}{
		{"udp", ipv4Around(protoUDP, cat(udpHdr(8+len(data)), data)), data},
		{"udp padded after its length", ipv4Around(protoUDP, cat(udpHdr(8+4), data)), data[:4]},
		{"udp length beyond capture", ipv4Around(protoUDP, cat(udpHdr(1000), data)), data},
		{"udp empty", ipv4Around(protoUDP, udpHdr(8)), []byte{}},
		{"udp header cut", ipv4Around(protoUDP, udpHdr(8)[:6]), nil},
		{"tcp", ipv4Around(protoTCP, cat(tcpHdr(5), data)), data},
		{"tcp with options", ipv4Around(protoTCP, cat(tcpHdr(8), data)), data},
		{"tcp empty", ipv4Around(protoTCP, tcpHdr(5)), []byte{}},
		{"tcp data offset below 5", ipv4Around(protoTCP, cat(tcpHdr(4), data)), nil},
		{"tcp data offset beyond packet", ipv4Around(protoTCP, cat(tcpHdr(15), data)[:30]), nil},
		{"tcp header cut", ipv4Around(protoTCP, tcpHdr(5)[:19]), nil},
		{"sctp", ipv4Around(protoSCTP, cat(udpHdr(8), data)), nil},
		{"ip padding not payload", append(ipv4Around(protoUDP, cat(udpHdr(8+len(data)), data)), 0, 0, 0), data},
	}
	for _, tc := range tests {
		p := &Packet{Data: tc.pkt, LinkType: bpfc.RAW}
		for _, s := range []Summary{Decode(p), DecodeTransport(p)} {
			got := s.Payload()
			if (got == nil) != (tc.want == nil) || !bytes.Equal(got, tc.want) {
				t.Errorf("%s: Payload() = %q, want %q", tc.name, got, tc.want)
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

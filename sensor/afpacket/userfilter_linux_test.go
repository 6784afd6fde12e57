package afpacket

import (
	"encoding/binary"
	"testing"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

// udpIPv4 is an IPv4/UDP packet 10.0.0.1:4000 -> 10.0.0.2:dport.
func udpIPv4(dport uint16) []byte {
	b := []byte{
		0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0,
		10, 0, 0, 1, 10, 0, 0, 2,
		0x0f, 0xa0, 0, 0, 0, 8, 0, 0,
	}
	binary.BigEndian.PutUint16(b[22:], dport)
	return b
}

// etherFrame puts an untagged Ethernet header in front of an IPv4 packet.
func etherFrame(ip []byte) []byte {
	f := make([]byte, 14, 14+len(ip))
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
	return append(f, ip...)
}

func TestUserFilter(t *testing.T) {
	frame := etherFrame(udpIPv4(7777))
	tagged := func(tci uint16) *sensor.Packet {
		return &sensor.Packet{Data: frame, LinkType: bpfc.EN10MB, OrigLen: len(frame), HasVLAN: true, VLANTCI: tci, VLANTPID: 0x8100}
	}
	for _, c := range []struct {
		expr  string
		lt    bpfc.LinkType
		p     *sensor.Packet
		retag bool
		want  bool
	}{
		// The kernel stripped the tag: a filter without vlan sees the
		// frame untagged, as the live program does.
		{"udp port 7777", bpfc.EN10MB, tagged(10), false, true},
		{"udp port 7778", bpfc.EN10MB, tagged(10), false, false},
		// With vlan, the tag goes back in front of the EtherType.
		{"vlan 10 and udp port 7777", bpfc.EN10MB, tagged(10), true, true},
		{"vlan 10 and udp port 7777", bpfc.EN10MB, tagged(11), true, false},
		{"vlan 10 and udp port 7777", bpfc.EN10MB, &sensor.Packet{Data: frame, LinkType: bpfc.EN10MB, OrigLen: len(frame)}, true, false},
		{"udp port 7777", bpfc.RAW, &sensor.Packet{Data: udpIPv4(7777), LinkType: bpfc.RAW, OrigLen: 28}, false, true},
		{"udp port 7777", bpfc.RAW, &sensor.Packet{Data: udpIPv4(7777)[:21], LinkType: bpfc.RAW, OrigLen: 28}, false, false},
	} {
		f, err := bpfc.Parse(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		live, err := f.Compile(bpfc.Options{LinkType: c.lt})
		if err != nil {
			t.Fatal(err)
		}
		u, err := newUserFilter(f, c.lt, live)
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		if u.retag != c.retag {
			t.Errorf("%q: retag %v, want %v", c.expr, u.retag, c.retag)
		}
		if got := u.match(c.p); got != c.want {
			t.Errorf("%q on %s (VLAN %v %d): %v, want %v", c.expr, c.lt, c.p.HasVLAN, c.p.VLANTCI, got, c.want)
		}
		if len(c.p.Data) > 0 && &c.p.Data[0] != &frame[0] && c.lt == bpfc.EN10MB {
			t.Errorf("%q: match changed the packet's bytes", c.expr)
		}
	}
}

// A direction cannot be known offline on Ethernet: the sensor refuses the
// combination at Open rather than guessing.
func TestUserFilterRefusesDirection(t *testing.T) {
	f, _ := bpfc.Parse("inbound and udp")
	live, err := f.Compile(bpfc.Options{LinkType: bpfc.EN10MB})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newUserFilter(f, bpfc.EN10MB, live); err == nil {
		t.Error("inbound on EN10MB compiled offline")
	}
}

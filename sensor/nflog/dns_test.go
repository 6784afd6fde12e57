package nflog

import (
	"encoding/binary"
	"testing"

	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/dnsq"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// dnsQuery4 is an IPv4/UDP DNS query for name (dotted, ASCII) to port 53.
func dnsQuery4(name string) []byte {
	msg := sensortest.DNSQuery(name, 1)
	b := make([]byte, 28, 28+len(msg))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(28+len(msg)))
	b[8], b[9] = 64, 17
	copy(b[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(b[20:], 40000)
	binary.BigEndian.PutUint16(b[22:], 53)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(msg)))
	return append(b, msg...)
}

func logged(payload []byte) []byte {
	return encodePacket(logPacket{HasHdr: true, HWProtocol: 0x0800, HasPayload: true, Payload: payload})
}

func TestScanJudged(t *testing.T) {
	rules, err := dnsq.NewRules([]string{"corp.example"}, []string{"www.corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	synDNS := tcp4(0x02, 0)
	binary.BigEndian.PutUint16(synDNS[2:], uint16(len(synDNS)))
	binary.BigEndian.PutUint16(synDNS[22:], 53) // a handshake to port 53: DNS traffic, no query
	ack := tcp4(0x10, 0)
	binary.BigEndian.PutUint16(ack[22:], 443)
	for _, c := range []struct {
		what      string
		payloads  [][]byte
		countAcks bool
		counted   int
		acks      int
		qname     string
	}{
		{"unlisted and excluded queries", [][]byte{dnsQuery4("example.org"), dnsQuery4("www.corp.example")}, false, 0, 0, ""},
		{"a TCP handshake on port 53", [][]byte{synDNS}, true, 0, 0, ""},
		{"non-DNS counts as before", [][]byte{udp4, dnsQuery4("example.org")}, false, 1, 0, ""},
		{"a matching query starts", [][]byte{dnsQuery4("example.org"), dnsQuery4("Git.Corp.Example")}, false, 1, 0, "git.corp.example"},
		{"with -a a matching query counts like an ACK", [][]byte{dnsQuery4("a.corp.example"), ack, udp4}, true, 3, 2, "a.corp.example"},
	} {
		var d []byte
		for _, p := range c.payloads {
			d = appendMsg(d, msgTypePacket, 0, 0, logged(p))
		}
		var stats dnsq.Counters
		r := scanJudged(d, c.countAcks, rules, &stats)
		if r.Packets != len(c.payloads) || r.Counted != c.counted || r.TCPAcks != c.acks {
			t.Errorf("%s: packets %d counted %d acks %d, want %d %d %d", c.what, r.Packets, r.Counted, r.TCPAcks, len(c.payloads), c.counted, c.acks)
		}
		var q string
		if r.Query != nil {
			q = r.Query.Name
		}
		if q != c.qname {
			t.Errorf("%s: start query %q, want %q", c.what, q, c.qname)
		}
	}
	// Without rules every packet counts.
	d := appendMsg(nil, msgTypePacket, 0, 0, logged(dnsQuery4("example.org")))
	if r := scanJudged(d, false, nil, nil); r.Counted != 1 || r.Query != nil {
		t.Errorf("no rules: %+v", r)
	}
}

func TestModeConfigDNS(t *testing.T) {
	rules, _ := dnsq.NewRules([]string{"corp.example"}, nil)
	c := Config{Group: 5, DNS: rules, AckOnly: true}
	if up := c.modeConfig(sensor.Up, false); up.CopyMode != copyPacket || up.CopyRange != dnsRange {
		t.Errorf("up config with DNS rules %+v, want %d bytes of each packet", up, dnsRange)
	}
	if sb := c.modeConfig(sensor.Standby, false); sb.CopyRange != standbyRange {
		t.Errorf("standby config with DNS rules %+v", sb)
	}
}

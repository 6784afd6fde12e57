package nflog

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/dnsq"
)

// FuzzParsePacket feeds arbitrary bytes to every parser, as a whole
// datagram and as one message's payload: nothing may panic, packets never
// reach past their input, and configuration decoding round-trips. Seeds
// are in testdata/fuzz/FuzzParsePacket (synthetic and captured from the
// kernel).
func FuzzParsePacket(f *testing.F) {
	f.Add(appendMsg(nil, msgTypePacket, 0, 0, encodePacket(logPacket{HasHdr: true, HWProtocol: 0x0800,
		HasPayload: true, Payload: tcp4(0x10, 0), HWType: 1, HWHeader: ethHdr})))
	f.Add(encodePacket(logPacket{HasHdr: true, HWProtocol: 0x86dd, HasPayload: true, Payload: tcp6(0x10, 0, 44)}))
	f.Add(appendMsg(nil, msgTypePacket, 0, 0, logged(dnsQuery4("git.corp.example"))))
	rules, err := dnsq.NewRules([]string{"corp.example"}, []string{"www.corp.example"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := scanDatagram(b, true)
		if r.Packets < 0 || r.TCPAcks > r.Packets {
			t.Fatalf("scan counts %+v", r)
		}
		var stats dnsq.Counters
		if j := scanJudged(b, true, rules, &stats); j.Packets != r.Packets || j.Counted > j.Packets || j.TCPAcks > j.Counted ||
			j.Query != nil && (j.Query.Suffix != "corp.example" || !j.HasStart) {
			t.Fatalf("judged scan %+v (plain %+v)", j, r)
		}
		if r.HasStart {
			if p := toPacket(&r.Start, time.Unix(0, 0), ""); len(p.Data) > len(b) {
				t.Fatalf("packet of %d bytes from %d input bytes", len(p.Data), len(b))
			}
		}
		if p, err := parsePacket(b); err == nil {
			q := toPacket(&p, time.Unix(0, 0), "")
			if len(q.Data) > len(b) || q.OrigLen != len(q.Data) {
				t.Fatalf("packet of %d bytes from %d input bytes", len(q.Data), len(b))
			}
			tcpACK(p.Payload)
		}
		tcpACK(b)
		if c, err := parseConfig(b); err == nil {
			c2, err := parseConfig(c.marshal())
			if err != nil || !reflect.DeepEqual(c, c2) {
				t.Fatalf("config %+v re-encoded decodes to %+v, %v", c, c2, err)
			}
		}
	})
}

// TestWriteFuzzSeeds regenerates the synthetic seed files when
// TUNINETD_NFLOG_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("TUNINETD_NFLOG_WRITE_SEEDS") != "1" {
		t.Skip("set TUNINETD_NFLOG_WRITE_SEEDS=1 to rewrite testdata/fuzz/FuzzParsePacket/synthetic-*")
	}
	var batch []byte
	batch = appendMsg(batch, msgTypePacket, 0, 0, encodePacket(logPacket{Family: 2, Group: 1, HasHdr: true, HWProtocol: 0x0800, OutDev: 1}))
	batch = appendMsg(batch, msgTypePacket, 0, 0, encodePacket(logPacket{Family: 10, Group: 1, HasHdr: true, HWProtocol: 0x86dd,
		HasPayload: true, Payload: tcp6(0x10, 0, 60, 44), InDev: 2, HWType: 1, HWLen: 14, HWHeader: ethHdr, HasTime: true,
		Time: time.Unix(1700000000, 1000), HasUID: true, HasGID: true, Prefix: "x"}))
	batch = appendMsg(batch, nlmsgDone, 0, 0, make([]byte, 4))
	seeds := map[string][]byte{
		"synthetic-batch": batch,
		"synthetic-ack":   appendMsg(nil, nlmsgError, 0, 5, make([]byte, 20)),
		"synthetic-vlan": appendMsg(nil, msgTypePacket, 0, 0, encodePacket(logPacket{Family: 7, HasHdr: true, HWProtocol: 0x0800,
			HasPayload: true, Payload: udp4, HWType: 1, HWHeader: ethHdr, HasVLAN: true, VLANProto: 0x8100, VLANTCI: 5, L2Header: ethHdr})),
		"synthetic-config": (configMsg{Group: 1, Cmd: cmdBind, HasMode: true, CopyMode: copyPacket, CopyRange: 0xffff,
			HasQThresh: true, QThresh: 1, HasTimeout: true, HasBufSiz: true, BufSiz: 8192, HasFlags: true}).marshal(),
		"synthetic-truncated": batch[:len(batch)/2],
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParsePacket")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

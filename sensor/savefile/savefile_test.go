package savefile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

// sfChecksum is the Internet checksum, so tcpdump -v would find nothing odd.
func sfChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func sfIPv4UDP(src, dst string, sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(28+len(payload)))
	binary.BigEndian.PutUint16(h[6:], 0x4000) // DF
	h[8], h[9] = 64, 17
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], sfChecksum(h))
	u := make([]byte, 8)
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	return append(append(h, u...), payload...)
}

func sfIPv6TCPSyn(src, dst string, sport, dport uint16) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], 20)
	h[6], h[7] = 6, 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	t := make([]byte, 20)
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], 1000)
	t[12] = 5 << 4
	t[13] = 0x02 // SYN
	binary.BigEndian.PutUint16(t[14:], 64800)
	return append(h, t...)
}

var (
	sfMAC1 = []byte{0x02, 0, 0, 0, 0, 0x01}
	sfMAC2 = []byte{0x02, 0, 0, 0, 0, 0x02}
)

func sfEther(dst, src []byte, et uint16, payload []byte) []byte {
	f := append(append(append([]byte(nil), dst...), src...), byte(et>>8), byte(et))
	return append(f, payload...)
}

type sfRecord struct {
	sec, usec    uint32
	caplen, wlen uint32
	data         []byte
}

// sfRead is a minimal pcap reader: it checks the global header as this
// writer lays it out (host byte order) and returns the records.
func sfRead(t *testing.T, path string) []sfRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 {
		t.Fatalf("file of %d bytes has no header", len(b))
	}
	want := make([]byte, 24)
	o := binary.NativeEndian
	o.PutUint32(want[0:], 0xa1b2c3d4)
	o.PutUint16(want[4:], 2)
	o.PutUint16(want[6:], 4)
	o.PutUint32(want[16:], 0x40000)
	o.PutUint32(want[20:], 1)
	// The magic's bytes show the host's order, as libpcap writes it.
	magic := []byte{0xd4, 0xc3, 0xb2, 0xa1}
	if binary.NativeEndian.Uint16([]byte{0, 1}) == 1 {
		magic = []byte{0xa1, 0xb2, 0xc3, 0xd4} // big-endian host (mips)
	}
	if !bytes.Equal(b[:4], magic) {
		t.Fatalf("magic bytes % x, want % x", b[:4], magic)
	}
	if !bytes.Equal(b[:24], want) {
		t.Fatalf("header % x, want % x", b[:24], want)
	}
	var recs []sfRecord
	for off := 24; off < len(b); {
		if len(b)-off < 16 {
			t.Fatalf("truncated record header at %d", off)
		}
		r := sfRecord{
			sec: o.Uint32(b[off:]), usec: o.Uint32(b[off+4:]),
			caplen: o.Uint32(b[off+8:]), wlen: o.Uint32(b[off+12:]),
		}
		off += 16
		if uint32(len(b)-off) < r.caplen {
			t.Fatalf("truncated record at %d", off)
		}
		r.data = b[off : off+int(r.caplen)]
		off += int(r.caplen)
		recs = append(recs, r)
	}
	return recs
}

// sfPackets are the packets of the main test with the frames the file must
// hold for them and what tcpdump -nn -e -tt prints for each.
func sfPackets() (pkts []*sensor.Packet, frames [][]byte, tcpdump []string) {
	ts := time.Unix(1700000000, 123456789)
	udp4 := sfIPv4UDP("10.9.0.1", "10.9.0.2", 40000, 9999, []byte("hello"))
	tcp6 := sfIPv6TCPSyn("fd00::1", "fd00::2", 33736, 8080)
	zero := make([]byte, 6)

	add := func(p *sensor.Packet, frame []byte, line string) {
		p.Time = ts
		pkts = append(pkts, p)
		frames = append(frames, frame)
		tcpdump = append(tcpdump, line)
	}
	add(&sensor.Packet{Data: udp4, LinkType: bpfc.RAW, Sensor: sensor.Pcap},
		sfEther(zero, zero, 0x0800, udp4),
		"1700000000.123456 00:00:00:00:00:00 > 00:00:00:00:00:00, ethertype IPv4 (0x0800), length 47: 10.9.0.1.40000 > 10.9.0.2.9999: UDP, length 5")
	add(&sensor.Packet{Data: tcp6, LinkType: bpfc.RAW, Sensor: sensor.NFLOG},
		sfEther(zero, zero, 0x86dd, tcp6),
		"1700000000.123456 00:00:00:00:00:00 > 00:00:00:00:00:00, ethertype IPv6 (0x86dd), length 74: fd00::1.33736 > fd00::2.8080: Flags [S], seq 1000, win 64800, length 0")
	eth := sfEther(sfMAC2, sfMAC1, 0x0800, udp4)
	add(&sensor.Packet{Data: eth, LinkType: bpfc.EN10MB},
		eth,
		"1700000000.123456 02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 47: 10.9.0.1.40000 > 10.9.0.2.9999: UDP, length 5")
	add(&sensor.Packet{Data: eth, LinkType: bpfc.EN10MB, HasVLAN: true, VLANTCI: 0xa007},
		sfEther(sfMAC2, sfMAC1, 0x8100, append([]byte{0xa0, 0x07, 0x08, 0x00}, udp4...)),
		"1700000000.123456 02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q (0x8100), length 51: vlan 7, p 5, ethertype IPv4 (0x0800), 10.9.0.1.40000 > 10.9.0.2.9999: UDP, length 5")
	eth6 := sfEther(sfMAC2, sfMAC1, 0x86dd, tcp6)
	add(&sensor.Packet{Data: eth6, LinkType: bpfc.EN10MB, HasVLAN: true, VLANTCI: 0x0064, VLANTPID: 0x88a8},
		sfEther(sfMAC2, sfMAC1, 0x88a8, append([]byte{0x00, 0x64, 0x86, 0xdd}, tcp6...)),
		"1700000000.123456 02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q-QinQ (0x88a8), length 78: vlan 100, p 0, ethertype IPv6 (0x86dd), fd00::1.33736 > fd00::2.8080: Flags [S], seq 1000, win 64800, length 0")
	// Linux cooked v1: incoming (0), ARPHRD_ETHER, 6-byte address, IPv4.
	sll := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, udp4...)
	add(&sensor.Packet{Data: sll, LinkType: bpfc.LinuxSLL},
		sfEther(zero, sfMAC1, 0x0800, udp4),
		"1700000000.123456 02:00:00:00:00:01 > 00:00:00:00:00:00, ethertype IPv4 (0x0800), length 47: 10.9.0.1.40000 > 10.9.0.2.9999: UDP, length 5")
	return pkts, frames, tcpdump
}

func TestWriteAndReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "start.pcap")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	pkts, frames, _ := sfPackets()
	for _, p := range pkts {
		if err := s.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	recs := sfRead(t, path)
	if len(recs) != len(frames) {
		t.Fatalf("%d records, want %d", len(recs), len(frames))
	}
	for i, r := range recs {
		if r.sec != 1700000000 || r.usec != 123456 {
			t.Errorf("record %d: time %d.%06d", i, r.sec, r.usec)
		}
		if !bytes.Equal(r.data, frames[i]) {
			t.Errorf("record %d:\n got % x\nwant % x", i, r.data, frames[i])
		}
		if r.wlen != r.caplen {
			t.Errorf("record %d: len %d != caplen %d", i, r.wlen, r.caplen)
		}
	}
	if err := s.WritePacket(pkts[0]); err == nil {
		t.Error("WritePacket after Close succeeded")
	}
}

// TestTcpdumpReadsBack is the integration test: tcpdump itself, not our
// reader, reads every kind of record back.
func TestTcpdumpReadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "start.pcap")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pkts, _, lines := sfPackets()
	for _, p := range pkts {
		if err := s.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	sfTcpdump(t, path, lines)
}

// sfTcpdump checks the file with tcpdump, which CI installs; locally it is
// skipped when absent.
func sfTcpdump(t *testing.T, path string, want []string) {
	t.Helper()
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		if os.Getenv("TUNINETD_REQUIRE_NETNS") == "1" {
			t.Fatal("tcpdump not on PATH")
		}
		t.Log("tcpdump not on PATH; skipping the tcpdump read-back")
		return
	}
	out, err := exec.Command(bin, "-nn", "-e", "-tt", "-r", path).Output()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("tcpdump printed %d lines, want %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("tcpdump line %d:\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
}

func TestAppendKeepsOneHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "start.pcap")
	pkts, frames, lines := sfPackets()
	for i := 0; i < 3; i++ {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.WritePacket(pkts[i]); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	recs := sfRead(t, path)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	for i, r := range recs {
		if !bytes.Equal(r.data, frames[i]) {
			t.Errorf("record %d differs", i)
		}
	}
	sfTcpdump(t, path, lines[:3])
}

func TestRecreatedAfterRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "start.pcap")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pkts, _, _ := sfPackets()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.WritePacket(pkts[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(sfRead(t, path)); n != 1 {
		t.Errorf("new file: %d records, want 1", n)
	}
	if n := len(sfRead(t, path+".1")); n != 0 {
		t.Errorf("rotated file: %d records, want 0", n)
	}
}

func TestShortFileGetsHeaderFirst(t *testing.T) {
	for _, size := range []int{0, 1, 23} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "start.pcap")
			if err := os.WriteFile(path, bytes.Repeat([]byte{0xee}, size), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != 24 {
				t.Fatalf("after open: %v, %v; want a 24-byte header only", fi.Size(), err)
			}
			pkts, _, lines := sfPackets()
			if err := s.WritePacket(pkts[0]); err != nil {
				t.Fatal(err)
			}
			if n := len(sfRead(t, path)); n != 1 {
				t.Fatalf("%d records, want 1", n)
			}
			sfTcpdump(t, path, lines[:1])
		})
	}
}

func TestRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	swapped := make([]byte, 24)
	// A header written by a host of the other byte order: records of ours
	// would not match it.
	other := binary.ByteOrder(binary.BigEndian)
	if binary.NativeEndian.Uint16([]byte{0, 1}) == 1 {
		other = binary.LittleEndian
	}
	other.PutUint32(swapped[0:], 0xa1b2c3d4)
	other.PutUint32(swapped[20:], 1)
	raw := savefileHeader()
	binary.NativeEndian.PutUint32(raw[20:], 101) // LINKTYPE_RAW
	for name, content := range map[string][]byte{
		"text":          []byte("this is not a pcap file, just some notes\n"),
		"other order":   swapped,
		"raw link type": raw,
		"nanosecond pcap": func() []byte {
			h := savefileHeader()
			binary.NativeEndian.PutUint32(h[0:], 0xa1b23c4d)
			return h
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(path); err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open = %v, want an error naming %s", err, path)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, content) {
				t.Error("file was modified")
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	for name, path := range map[string]string{
		"missing directory": filepath.Join(dir, "nope", "start.pcap"),
		"directory":         dir,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(path)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open(%s) = %v, want an error naming the path", path, err)
			}
		})
	}
	t.Run("relative path made absolute", func(t *testing.T) {
		t.Chdir(dir)
		s, err := Open("rel.pcap")
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, "rel.pcap"); s.Path() != want {
			t.Errorf("Path() = %s, want %s", s.Path(), want)
		}
	})
}

func TestUnwritablePackets(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "start.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, p := range map[string]*sensor.Packet{
		"nil":             nil,
		"raw not ip":      {Data: []byte{0x00, 1, 2, 3}, LinkType: bpfc.RAW},
		"raw empty":       {LinkType: bpfc.RAW},
		"short cooked":    {Data: make([]byte, 15), LinkType: bpfc.LinuxSLL},
		"unknown linktyp": {Data: []byte{0x45}, LinkType: 999},
	} {
		if err := s.WritePacket(p); err == nil {
			t.Errorf("%s: WritePacket succeeded", name)
		}
	}
	if n := len(sfRead(t, s.Path())); n != 0 {
		t.Errorf("%d records written, want 0", n)
	}
}

func TestLengths(t *testing.T) {
	path := filepath.Join(t.TempDir(), "start.pcap")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	udp4 := sfIPv4UDP("10.9.0.1", "10.9.0.2", 40000, 9999, make([]byte, 1000))
	// A capture cut at 100 bytes of a 1028-byte datagram, and a cooked
	// 802.2 frame whose protocol becomes an 802.3 length.
	llc := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x00, 0x04}, 0x42, 0x42, 0x03, 0, 0, 0)
	for _, p := range []*sensor.Packet{
		{Data: udp4[:100], OrigLen: len(udp4), LinkType: bpfc.RAW, HasVLAN: true, VLANTCI: 3},
		{Data: llc, LinkType: bpfc.LinuxSLL},
	} {
		if err := s.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	recs := sfRead(t, path)
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	if r := recs[0]; r.caplen != 100+14+4 || r.wlen != uint32(len(udp4))+14+4 {
		t.Errorf("truncated record: caplen %d len %d", r.caplen, r.wlen)
	}
	if r := recs[1]; r.caplen != 14+6 || r.wlen != 14+6 || binary.BigEndian.Uint16(r.data[12:]) != 6 {
		t.Errorf("802.2 record: caplen %d len %d, type/length % x", r.caplen, r.wlen, r.data[12:14])
	}
}

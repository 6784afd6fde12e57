package afpacket

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// addPPPLikeTun creates a tun device whose ARPHRD type is PPP (TUNSETLINK
// before it goes up), the kind of interface that is captured cooked, and
// holds it open for the test.
func addPPPLikeTun(t *testing.T, ns *sensortest.Namespace, name, addr string) *os.File {
	t.Helper()
	var f *os.File
	if err := ns.Do(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return err
		}
		if err := unix.IoctlSetInt(fd, unix.TUNSETLINK, unix.ARPHRD_PPP); err != nil {
			unix.Close(fd)
			return err
		}
		f = os.NewFile(uintptr(fd), name)
		return nil
	}); err != nil {
		t.Fatalf("create PPP-type tun: %v", err)
	}
	go io.Copy(io.Discard, f)
	t.Cleanup(func() { f.Close() })
	ns.Run("ip", "addr", "add", addr, "dev", name)
	ns.Run("ip", "link", "set", name, "up")
	return f
}

func TestCookedPPPType(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	dev := addPPPLikeTun(t, ns, "ppp9", "10.202.0.1/24")
	// "outbound" reads the cooked header's packet type: it must run in the
	// kernel as an SKF_AD_PKTTYPE load.
	s, sink := openIn(t, ns, Config{Interface: "ppp9", Filter: mustParse(t, "outbound and udp")})
	if s.LinkType() != bpfc.LinuxSLL {
		t.Fatalf("LinkType = %v, want LINUX_SLL", s.LinkType())
	}
	check := func(p *sensor.Packet, port int) {
		t.Helper()
		d := p.Data
		if p.LinkType != bpfc.LinuxSLL || len(d) < 16+28 || udpDst(d, 16) != port {
			t.Fatalf("packet = %+v", p)
		}
		if pt, ht, proto := binary.BigEndian.Uint16(d[0:]), binary.BigEndian.Uint16(d[2:]), binary.BigEndian.Uint16(d[14:]); pt != 4 || ht != unix.ARPHRD_PPP || proto != 0x0800 {
			t.Fatalf("cooked header = %x (pkttype %d hatype %d proto %#x)", d[:16], pt, ht, proto)
		}
		if p.OrigLen != len(d) {
			t.Fatalf("OrigLen %d, len %d", p.OrigLen, len(d))
		}
	}
	// Inbound traffic does not match.
	in := ipv4UDP(net.IPv4(10, 202, 0, 2), net.IPv4(10, 202, 0, 1), 5000, 4002, []byte("in"))
	for i := 0; i < 5; i++ {
		if _, err := dev.Write(in); err != nil {
			t.Fatal(err)
		}
	}
	ns.SendUDP("10.202.0.2:4001", 1)
	rep := sink.Next(t, sensortest.Patience, "outbound UDP")
	check(rep.Packet, 4001)
	sink.ExpectNone(t, 100*time.Millisecond, "only inbound traffic left")

	// The ring path synthesizes the same header.
	setMode(t, s, sensor.Up)
	ns.SendUDP("10.202.0.2:4003", 1)
	rep = sink.Next(t, sensortest.Patience, "up-state outbound UDP")
	// The packet sits in a block the kernel retires only after
	// RetireTimeout; until then the report carries no packet.
	if rep.Packet == nil {
		deadline := time.Now().Add(sensortest.Patience)
		for time.Now().Before(deadline) && rep.Packet == nil {
			ns.SendUDP("10.202.0.2:4003", 1)
			rep = sink.Next(t, sensortest.Patience, "up-state outbound UDP")
		}
	}
	if rep.Packet == nil {
		t.Fatalf("no up-state report carried a packet")
	}
	check(rep.Packet, 4003)
}

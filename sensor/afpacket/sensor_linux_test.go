package afpacket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// openIn opens the sensor inside ns and runs it until the test ends.
func openIn(t *testing.T, ns *sensortest.Namespace, cfg Config) (*Sensor, *sensortest.Recorder) {
	t.Helper()
	var s *Sensor
	if err := ns.Do(func() (err error) {
		s, err = Open(cfg)
		return err
	}); err != nil {
		skipNoPacketOpts(t, err)
		t.Fatalf("Open(%s): %v", cfg.Interface, err)
	}
	sink := sensortest.NewRecorder(4096)
	// Registered first so it runs last, after Run has returned.
	t.Cleanup(func() { s.Close() })
	sensortest.Run(t, s, sink)
	return s, sink
}

// skipNoPacketOpts skips when packet socket options are missing, as under
// qemu-user emulation, which does not translate SOL_PACKET options: only
// the pure tests are meant to run there.
func skipNoPacketOpts(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, unix.ENOPROTOOPT) {
		t.Skipf("packet socket options unavailable (qemu-user?): %v", err)
	}
}

// setMode switches the sensor and waits until the switch is done.
func setMode(t testing.TB, s *Sensor, m sensor.Mode) {
	t.Helper()
	s.SetMode(m)
	deadline := time.Now().Add(sensortest.Patience)
	for s.upMode.Load() != (m == sensor.Up) {
		if time.Now().After(deadline) {
			t.Fatalf("sensor did not switch to %v", m)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustParse(t testing.TB, expr string) *bpfc.Filter {
	t.Helper()
	f, err := bpfc.Parse(expr)
	if err != nil {
		t.Fatalf("Parse(%q): %v", expr, err)
	}
	return f
}

// ipv4UDP builds an IPv4/UDP packet (no link header).
func ipv4UDP(src, dst net.IP, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 28+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8] = 64
	b[9] = 17
	copy(b[12:16], src.To4())
	copy(b[16:20], dst.To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(b[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	copy(b[28:], payload)
	return b
}

// ether wraps an IPv4 packet in an Ethernet header.
func ether(dst, src net.HardwareAddr, ip []byte) []byte {
	b := make([]byte, 14+len(ip))
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	copy(b[14:], ip)
	return b
}

// frameSender sends raw Ethernet frames out of an interface inside ns.
type frameSender struct {
	c   *packet.Conn
	mac net.HardwareAddr
}

func newFrameSender(t testing.TB, ns *sensortest.Namespace, ifname string) *frameSender {
	t.Helper()
	var fs frameSender
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		// Protocol 0: a send-only socket that receives nothing.
		c, err := packet.Listen(ifi, packet.Raw, 0, nil)
		if err != nil {
			return err
		}
		fs.c, fs.mac = c, ifi.HardwareAddr
		return nil
	}); err != nil {
		t.Fatalf("raw sender on %s: %v", ifname, err)
	}
	t.Cleanup(func() { fs.c.Close() })
	return &fs
}

func (fs *frameSender) send(t testing.TB, frame []byte) {
	t.Helper()
	if _, err := fs.c.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])}); err != nil {
		t.Fatalf("send frame: %v", err)
	}
}

var (
	ipA = net.IPv4(10, 201, 0, 1)
	ipB = net.IPv4(10, 201, 0, 2)
)

// udpDst reports the destination port of an IPv4/UDP packet at off, or -1.
func udpDst(b []byte, off int) int {
	if len(b) < off+28 || b[off]>>4 != 4 || b[off+9] != 17 {
		return -1
	}
	ihl := int(b[off]&0xf) * 4
	if len(b) < off+ihl+4 {
		return -1
	}
	return int(binary.BigEndian.Uint16(b[off+ihl+2:]))
}

func TestTunBothDirections(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	dev := ns.AddTun("tun0", "10.200.0.1/24")
	s, sink := openIn(t, ns, Config{Interface: "tun0", Filter: mustParse(t, "udp")})
	if s.LinkType() != bpfc.RAW {
		t.Fatalf("LinkType = %v, want RAW", s.LinkType())
	}
	if got := s.Origin(); got != (sensor.Origin{Iface: "tun0"}) {
		t.Fatalf("Origin = %+v", got)
	}
	// Host -> tun: PACKET_OUTGOING.
	ns.SendUDP("10.200.0.2:4001", 1)
	rep := sink.Wait(t, sensortest.Patience, "outgoing UDP", func(r sensortest.Report) bool { return r.Packet != nil && udpDst(r.Packet.Data, 0) == 4001 })
	p := rep.Packet
	if p.LinkType != bpfc.RAW || p.Ifname != "tun0" || p.Sensor != sensor.Pcap || p.OrigLen != len(p.Data) || p.Time.IsZero() {
		t.Fatalf("bad packet: %+v", p)
	}
	// tun -> host: the "VPN" writes a packet in.
	in := ipv4UDP(net.IPv4(10, 200, 0, 2), net.IPv4(10, 200, 0, 1), 5000, 4002, []byte("hello"))
	if _, err := dev.Write(in); err != nil {
		t.Fatalf("write to tun: %v", err)
	}
	rep = sink.Wait(t, sensortest.Patience, "incoming UDP", func(r sensortest.Report) bool { return r.Packet != nil && udpDst(r.Packet.Data, 0) == 4002 })
	if string(rep.Packet.Data) != string(in) {
		t.Fatalf("incoming packet bytes differ:\n got %x\nwant %x", rep.Packet.Data, in)
	}
}

func TestVethBothDirectionsAndFilter(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ns.AddVeth("va", "10.201.0.1/24", "vb", "10.201.0.2/24")
	s, sink := openIn(t, ns, Config{Interface: "va", Filter: mustParse(t, "udp dst port 7777")})
	if s.LinkType() != bpfc.EN10MB {
		t.Fatalf("LinkType = %v, want EN10MB", s.LinkType())
	}
	onA := newFrameSender(t, ns, "va")
	onB := newFrameSender(t, ns, "vb")
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	// Non-matching traffic both ways first: the kernel drops it.
	for i := 0; i < 20; i++ {
		onB.send(t, ether(onA.mac, onB.mac, ipv4UDP(ipB, ipA, 1, 9, nil)))
		onA.send(t, ether(other, onA.mac, ipv4UDP(ipA, ipB, 1, 9, nil)))
	}
	// Incoming on va.
	onB.send(t, ether(onA.mac, onB.mac, ipv4UDP(ipB, ipA, 1, 7777, []byte("in"))))
	rep := sink.Next(t, sensortest.Patience, "incoming frame")
	if udpDst(rep.Packet.Data, 14) != 7777 || string(rep.Packet.Data[6:12]) != string(onB.mac) {
		t.Fatalf("first report is not the matching incoming frame: %x", rep.Packet.Data)
	}
	// Outgoing from va.
	onA.send(t, ether(other, onA.mac, ipv4UDP(ipA, ipB, 1, 7777, []byte("out"))))
	rep = sink.Next(t, sensortest.Patience, "outgoing frame")
	if udpDst(rep.Packet.Data, 14) != 7777 || string(rep.Packet.Data[6:12]) != string(onA.mac) {
		t.Fatalf("second report is not the matching outgoing frame: %x", rep.Packet.Data)
	}
	sink.ExpectNone(t, 200*time.Millisecond, "only non-matching traffic was left")
	if st := strings.Join(s.Stats(), "\n"); !strings.Contains(st, " 2 packets seen, 0 kernel drops") {
		t.Fatalf("Stats = %q, want 2 packets seen", st)
	}
}

func TestVLANFromAuxdata(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ns.AddVeth("va", "", "vb", "")
	// The filter tests the tag in the kernel (SKF_AD_VLAN_TAG* when the
	// tag was stripped into metadata).
	_, sink := openIn(t, ns, Config{Interface: "va", Filter: mustParse(t, "vlan 42 and udp")})
	onB := newFrameSender(t, ns, "vb")
	dst := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	// Untagged and wrongly tagged frames do not match.
	onB.send(t, ether(dst, onB.mac, ipv4UDP(ipB, ipA, 1, 7, nil)))
	ip := ipv4UDP(ipB, ipA, 1, 7, nil)
	wrong := make([]byte, 18+len(ip))
	copy(wrong[0:6], dst)
	copy(wrong[6:12], onB.mac)
	binary.BigEndian.PutUint16(wrong[12:], 0x8100)
	binary.BigEndian.PutUint16(wrong[14:], 43)
	binary.BigEndian.PutUint16(wrong[16:], 0x0800)
	copy(wrong[18:], ip)
	onB.send(t, wrong)
	f := make([]byte, 18+len(ip))
	copy(f[0:6], dst)
	copy(f[6:12], onB.mac)
	binary.BigEndian.PutUint16(f[12:], 0x8100)
	binary.BigEndian.PutUint16(f[14:], 0x2000|42) // PCP 1, VID 42
	binary.BigEndian.PutUint16(f[16:], 0x0800)
	copy(f[18:], ip)
	onB.send(t, f)
	rep := sink.Next(t, sensortest.Patience, "tagged frame")
	p := rep.Packet
	t.Logf("tag in metadata: %v", p.HasVLAN)
	// veth strips the tag into metadata on receive (rx VLAN offload) or
	// leaves it in the frame; either way it must not be lost.
	if p.HasVLAN {
		if p.VLANTCI&0xfff != 42 || p.VLANTPID != 0x8100 {
			t.Fatalf("VLAN metadata = tci %#x tpid %#x", p.VLANTCI, p.VLANTPID)
		}
		if binary.BigEndian.Uint16(p.Data[12:]) != 0x0800 {
			t.Fatalf("tag stripped into metadata but frame still tagged: %x", p.Data)
		}
	} else if binary.BigEndian.Uint16(p.Data[12:]) != 0x8100 || binary.BigEndian.Uint16(p.Data[14:])&0xfff != 42 {
		t.Fatalf("VLAN tag lost: %x", p.Data)
	}
	// OrigLen describes Data: a tag stripped into metadata is not in it.
	want := len(f)
	if p.HasVLAN {
		want -= 4
	}
	if p.OrigLen != want {
		t.Fatalf("OrigLen = %d, want %d", p.OrigLen, want)
	}
}

func TestModeSwitching(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ns.AddVeth("va", "", "vb", "")
	s, sink := openIn(t, ns, Config{Interface: "va", Filter: mustParse(t, "udp")})
	onB := newFrameSender(t, ns, "vb")
	dst := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	frame := func(port uint16) []byte { return ether(dst, onB.mac, ipv4UDP(ipB, ipA, 1, port, []byte("x"))) }

	for round := 0; round < 3; round++ {
		// Standby: one packet, one report, with bytes.
		onB.send(t, frame(1000))
		rep := sink.Next(t, sensortest.Patience, "standby packet")
		if rep.Packet == nil || udpDst(rep.Packet.Data, 14) != 1000 {
			t.Fatalf("round %d: standby report without the packet: %+v", round, rep.Packet)
		}
		setMode(t, s, sensor.Up)
		sink.Flush()
		// Up: a burst gives reports per tick, not per packet: at most one
		// per tick that passed, plus the first.
		start := time.Now()
		for i := 0; i < 500; i++ {
			onB.send(t, frame(2000))
		}
		rep = sink.Next(t, sensortest.Patience, fmt.Sprintf("up-state activity in round %d (%q)", round, s.Stats()))
		if rep.At.Before(start) || rep.At.After(time.Now()) {
			t.Fatalf("round %d: up report at %v outside [%v, now]", round, rep.At, start)
		}
		if rep.Packet != nil && udpDst(rep.Packet.Data, 14) != 2000 {
			t.Fatalf("round %d: up report carries a foreign packet: %x", round, rep.Packet.Data)
		}
		// The whole burst counted (a busy machine may deliver part of it
		// ticks later), and the tick that counted the last of it done.
		if !sensortest.Eventually(func() bool { return s.seen.Load() >= uint64(501*(round+1)) }) {
			t.Fatalf("round %d: burst not counted: %q", round, s.Stats())
		}
		time.Sleep(3 * UpTick)
		n := 1 + len(sink.C)
		if ticks := int(time.Since(start) / UpTick); n > max(5, ticks+2) {
			t.Fatalf("round %d: %d reports for one burst of 500 packets in up state over %d ticks; want one per tick", round, n, ticks)
		}
		sink.Flush()
		sink.ExpectNone(t, 3*UpTick, "idle in up state")
		setMode(t, s, sensor.Standby)
		sink.ExpectNone(t, 100*time.Millisecond, "back in standby, idle")
	}
	if st := strings.Join(s.Stats(), "\n"); !strings.Contains(st, "standby: 1503 packets seen") {
		t.Fatalf("Stats = %q, want 1503 packets seen in standby", st)
	}
}

func TestAckOnlyInUp(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	s, sink := openIn(t, ns, Config{Interface: "lo", AckOnly: true})
	if s.LinkType() != bpfc.EN10MB {
		t.Fatalf("lo LinkType = %v, want EN10MB", s.LinkType())
	}
	// Standby ignores AckOnly: plain UDP counts.
	ns.SendUDP("127.0.0.1:9", 1)
	sink.Next(t, sensortest.Patience, "standby UDP on lo")
	setMode(t, s, sensor.Up)
	sink.Flush()
	ns.SendUDP("127.0.0.1:9", 50)
	sink.ExpectNone(t, 3*UpTick, "only UDP flows in up state with AckOnly")
	// An established TCP connection carries ACKs.
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	ns.SendTCP(ln.Addr().String(), time.Second)
	rep := sink.Next(t, sensortest.Patience, "TCP ACK in up state")
	if rep.Packet != nil {
		d := rep.Packet.Data
		if len(d) < 14+20+14 || d[14+9] != 6 || d[14+20+13]&0x10 == 0 {
			t.Fatalf("up report is not a TCP ACK segment: %x", d)
		}
	}
}

func TestMissingInterface(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	err := ns.Do(func() error {
		s, err := Open(Config{Interface: "nosuch0"})
		if err == nil {
			s.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Fatalf("Open(nosuch0) = %v, want an error naming the interface", err)
	}
}

func TestFilterErrorIsBpfcError(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ns.AddTun("tun0", "10.200.0.1/24")
	err := ns.Do(func() error {
		s, err := Open(Config{Interface: "tun0", Filter: mustParse(t, "ether host 02:00:00:00:00:01")})
		if err == nil {
			s.Close()
		}
		return err
	})
	var be *bpfc.Error
	if !errors.As(err, &be) {
		t.Fatalf("Open with an Ethernet filter on tun = %v, want a *bpfc.Error", err)
	}
}

func TestCloseInterruptsRun(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ns.AddVeth("va", "", "vb", "")
	for _, mode := range []sensor.Mode{sensor.Standby, sensor.Up} {
		var s *Sensor
		if err := ns.Do(func() (err error) { s, err = Open(Config{Interface: "va"}); return }); err != nil {
			skipNoPacketOpts(t, err)
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- s.Run(context.Background(), sensortest.NewRecorder(4096)) }()
		s.SetMode(mode)
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		if err := s.Close(); err != nil {
			t.Fatalf("%v: Close: %v", mode, err)
		}
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("%v: Run after Close = %v", mode, err)
			}
		case <-time.After(sensortest.Patience):
			t.Fatalf("%v: Run still running %v after Close", mode, sensortest.Patience)
		}
		t.Logf("%v: Run returned %v after Close", mode, time.Since(start))
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestNoLeaks(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ns.AddVeth("va", "", "vb", "")
	if err := ns.Do(func() error {
		s, err := Open(Config{Interface: "va"})
		if err == nil {
			s.Close()
		}
		return err
	}); err != nil {
		skipNoPacketOpts(t, err)
		t.Fatal(err)
	}
	onB := newFrameSender(t, ns, "vb")
	dst := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	cycle := func() {
		var s *Sensor
		if err := ns.Do(func() (err error) { s, err = Open(Config{Interface: "va"}); return }); err != nil {
			skipNoPacketOpts(t, err)
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx, sensortest.NewRecorder(4096)) }()
		onB.send(t, ether(dst, onB.mac, ipv4UDP(ipB, ipA, 1, 7, nil)))
		s.SetMode(sensor.Up)
		onB.send(t, ether(dst, onB.mac, ipv4UDP(ipB, ipA, 1, 7, nil)))
		s.SetMode(sensor.Standby)
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	cycle()
	time.Sleep(100 * time.Millisecond)
	fds, gs := countFDs(t), runtime.NumGoroutine()
	for i := 0; i < 30; i++ {
		cycle()
	}
	sensortest.Eventually(func() bool { return countFDs(t) <= fds && runtime.NumGoroutine() <= gs+1 })
	if f := countFDs(t); f > fds {
		t.Errorf("fds grew from %d to %d over 30 open/close cycles", fds, f)
	}
	if g := runtime.NumGoroutine(); g > gs+1 {
		t.Errorf("goroutines grew from %d to %d over 30 open/close cycles", gs, g)
	}
}

func TestRingSizeCheckedAtOpen(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ns.AddVeth("va", "", "vb", "")
	err := ns.Do(func() error {
		s, err := Open(Config{Interface: "va", RingBlocks: 1 << 20, RingBlockSize: 1 << 30})
		if err == nil {
			s.Close()
		}
		return err
	})
	skipNoPacketOpts(t, err)
	if err == nil || !strings.Contains(err.Error(), "ring of") {
		t.Fatalf("Open with an absurd ring = %v, want a ring error", err)
	}
	// A custom size that works, rounded up to whole pages.
	var s *Sensor
	if err := ns.Do(func() (err error) {
		s, err = Open(Config{Interface: "va", RingBlocks: 2, RingBlockSize: 10000})
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.blocks != 2 || s.blockSize%os.Getpagesize() != 0 || s.blockSize < 10000 {
		t.Fatalf("ring %d x %d", s.blocks, s.blockSize)
	}
}

func TestUpIdleWakesOnTraffic(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ns.AddVeth("va", "", "vb", "")
	s, sink := openIn(t, ns, Config{Interface: "va", Filter: mustParse(t, "udp")})
	onB := newFrameSender(t, ns, "vb")
	dst := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	setMode(t, s, sensor.Up)
	for i := 0; i < 3; i++ {
		// Quiet: the sensor stops ticking and waits for the ring.
		sink.ExpectNone(t, 3*UpTick, "up state without traffic")
		sent := time.Now()
		onB.send(t, ether(dst, onB.mac, ipv4UDP(ipB, ipA, 1, 9, []byte("lull"))))
		rep := sink.Next(t, sensortest.Patience, "the first packet after a lull in up state")
		// Noticed when its block retires: within two retire timeouts,
		// plus scheduling on a busy machine.
		t.Logf("reported %v after sending", rep.At.Sub(sent))
		if rep.At.Before(sent) {
			t.Fatalf("activity reported at %v, before the packet was sent at %v", rep.At, sent)
		}
		if rep.Packet == nil || udpDst(rep.Packet.Data, 14) != 9 {
			t.Fatalf("report after a lull carries no packet: %+v", rep.Packet)
		}
	}
}

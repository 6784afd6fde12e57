package tportknockd

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/core/knock"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

var bin sensortest.Binary

// knockdBin returns the multi-call binary's tportknockd link; it skips
// (fails with TUNINETD_REQUIRE_NETNS=1) without namespaces.
func knockdBin(t testing.TB) string {
	t.Helper()
	sensortest.RequireNetns(t)
	return bin.Link(t, "tportknockd")
}

func TestMain(m *testing.M) {
	code := m.Run()
	bin.Remove()
	os.Exit(code)
}

// Addresses of the test link: the daemon's device kd0 and the sender's ks0.
var (
	daemonV4 = netip.MustParseAddr("10.77.0.1")
	daemonV6 = netip.MustParseAddr("fd77::1")
	senderV4 = netip.MustParseAddr("10.77.0.2")
	senderV6 = netip.MustParseAddr("fd77::2")
)

// knockNet is a daemon namespace and a sender namespace joined by a veth
// pair, and a raw AF_PACKET socket in the sender's that writes whole
// Ethernet frames: knocks never depend on the sender's TCP stack, and
// their sources may be spoofed.
type knockNet struct {
	t        testing.TB
	d, s     *sensortest.Namespace
	fd       int
	ifindex  int
	src, dst net.HardwareAddr
}

func newKnockNet(t testing.TB) *knockNet {
	t.Helper()
	n := &knockNet{t: t, d: sensortest.NewNamespace(t), s: sensortest.NewNamespace(t), fd: -1}
	n.addVeth()
	n.s.Run("ip", "addr", "add", "10.77.0.2/24", "dev", "ks0")
	n.s.Run("ip", "addr", "add", "fd77::2/64", "dev", "ks0", "nodad")
	n.s.Run("ip", "link", "set", "ks0", "up")
	n.openSender()
	t.Cleanup(func() {
		if n.fd >= 0 {
			unix.Close(n.fd)
		}
	})
	return n
}

// addVeth (re)creates kd0 in the daemon's namespace with its addresses,
// peered with ks0 in the sender's.
func (n *knockNet) addVeth() {
	n.t.Helper()
	out, err := exec.Command("ip", "link", "add", "kd0", "netns", n.d.Name, "type", "veth", "peer", "name", "ks0", "netns", n.s.Name).CombinedOutput()
	if err != nil {
		n.t.Fatalf("ip link add: %v: %s", err, out)
	}
	n.d.Run("ip", "addr", "add", "10.77.0.1/24", "dev", "kd0")
	n.d.Run("ip", "addr", "add", "fd77::1/64", "dev", "kd0", "nodad")
	n.d.Run("ip", "link", "set", "kd0", "up")
}

// openSender opens the raw socket on ks0 and learns both MAC addresses.
func (n *knockNet) openSender() {
	n.t.Helper()
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
	err := n.d.Do(func() error {
		ifi, err := net.InterfaceByName("kd0")
		if err == nil {
			n.dst = ifi.HardwareAddr
		}
		return err
	})
	if err != nil {
		n.t.Fatal(err)
	}
	err = n.s.Do(func() error {
		ifi, err := net.InterfaceByName("ks0")
		if err != nil {
			return err
		}
		n.src, n.ifindex = ifi.HardwareAddr, ifi.Index
		n.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		n.t.Fatal(err)
	}
}

// send writes one frame of a knock sequence from src to dst: for TCP the
// frame's exact flags (ACK|PSH for "any"), for UDP a datagram with a byte
// of payload.
func (n *knockNet) send(src, dst netip.Addr, f knock.Frame) {
	n.t.Helper()
	flags := uint8(f.Flags)
	if f.AnyFlags {
		flags = uint8(knock.ACK | knock.PSH)
	}
	n.sendRaw(src, dst, f.Proto, f.Port, flags)
}

// sendRaw writes one TCP segment (with flags) or UDP datagram.
func (n *knockNet) sendRaw(src, dst netip.Addr, proto knock.Proto, port uint16, flags uint8) {
	n.t.Helper()
	frame := buildFrame(n.src, n.dst, src, dst, proto, port, flags)
	if err := unix.Sendto(n.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: n.ifindex}); err != nil {
		n.t.Fatalf("send %v -> %v %v:%d: %v", src, dst, proto, port, err)
	}
}

// buildFrame returns an Ethernet frame from srcMAC to dstMAC holding an
// IPv4 or IPv6 packet from src to dst: a TCP segment with flags, or a UDP
// datagram with one byte of payload, to port; checksums are right.
func buildFrame(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, proto knock.Proto, port uint16, flags uint8) []byte {
	var l4 []byte
	if proto == knock.TCP {
		l4 = make([]byte, 20)
		binary.BigEndian.PutUint16(l4[0:], 40000)
		binary.BigEndian.PutUint16(l4[2:], port)
		binary.BigEndian.PutUint32(l4[4:], 1)
		l4[12] = 5 << 4
		l4[13] = flags
		binary.BigEndian.PutUint16(l4[14:], 1024)
	} else {
		l4 = make([]byte, 9)
		binary.BigEndian.PutUint16(l4[0:], 40000)
		binary.BigEndian.PutUint16(l4[2:], port)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		l4[8] = 'k'
	}
	ck := checksum(l4, pseudoSum(src, dst, uint8(proto), len(l4)))
	if proto == knock.TCP {
		binary.BigEndian.PutUint16(l4[16:], ck)
	} else {
		if ck == 0 {
			ck = 0xffff
		}
		binary.BigEndian.PutUint16(l4[6:], ck)
	}
	frame := append(append([]byte{}, dstMAC...), srcMAC...)
	if src.Is4() {
		frame = append(frame, 0x08, 0x00)
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		ip[8] = 64
		ip[9] = uint8(proto)
		s4, d4 := src.As4(), dst.As4()
		copy(ip[12:], s4[:])
		copy(ip[16:], d4[:])
		binary.BigEndian.PutUint16(ip[10:], checksum(ip, 0))
		return append(append(frame, ip...), l4...)
	}
	frame = append(frame, 0x86, 0xdd)
	ip := make([]byte, 40)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
	ip[6] = uint8(proto)
	ip[7] = 64
	s6, d6 := src.As16(), dst.As16()
	copy(ip[8:], s6[:])
	copy(ip[24:], d6[:])
	return append(append(frame, ip...), l4...)
}

// pseudoSum is the one's-complement sum of the TCP/UDP pseudo header.
func pseudoSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	var b []byte
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	b = append(b, 0, proto, byte(length>>8), byte(length))
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	return s
}

func checksum(b []byte, s uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// knockAll sends a whole sequence.
func (n *knockNet) knockAll(src, dst netip.Addr, seq []knock.Frame) {
	n.t.Helper()
	for _, f := range seq {
		n.send(src, dst, f)
	}
}

// daemonProc is a tportknockd running in the daemon's namespace.
type daemonProc struct {
	*sensortest.Proc
}

// start runs tportknockd -d with the configuration text in the daemon's
// namespace and waits until it listens (unless --wait-iface is among
// args).
func (n *knockNet) start(conf string, args ...string) daemonProc {
	n.t.Helper()
	return n.startWith(n.t, conf, append([]string{"-d"}, args...)...)
}

// startWith runs tportknockd with args (then -c and -i) and waits until it
// listens (unless --wait-iface is among args).
func (n *knockNet) startWith(tb testing.TB, conf string, args ...string) daemonProc {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "knock.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	p := daemonProc{sensortest.StartProc(tb, n.d.Command(knockdBin(tb), append(args, "-c", path, "-i", "kd0")...))}
	for _, a := range args {
		if a == "--wait-iface" {
			return p
		}
	}
	p.wait(tb, 0, "Listening on kd0 for knocks to")
	return p
}

// wait waits for a line containing want after the first mark lines and
// returns the number of lines up to and including it: the next mark.
func (p daemonProc) wait(tb testing.TB, mark int, want string) int {
	tb.Helper()
	has := func(l string) bool { return strings.Contains(l, want) }
	before := 0
	for _, l := range p.Lines()[:mark] {
		if has(l) {
			before++
		}
	}
	p.WaitFor(strconv.Quote(want), before+1, sensortest.Patience, has)
	seen := 0
	for i, l := range p.Lines() {
		if has(l) {
			if seen++; seen == before+1 {
				return i + 1
			}
		}
	}
	return len(p.Lines())
}

// mark is the number of lines logged so far.
func (p daemonProc) mark() int { return len(p.Lines()) }

// stop sends SIGTERM and returns the exit status.
func (p daemonProc) stop(tb testing.TB) int {
	tb.Helper()
	p.Signal(syscall.SIGTERM)
	return p.Wait(sensortest.Patience)
}

// waitFile waits for path to hold want (lines, in any order).
func waitFile(t *testing.T, path string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(sensortest.Patience)
	for {
		b, _ := os.ReadFile(path)
		got := strings.Fields(string(b))
		if sameSet(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %q", path, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sameSet(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	m := map[string]int{}
	for _, g := range got {
		m[g]++
	}
	for _, w := range want {
		if m[w] == 0 {
			return false
		}
		m[w]--
	}
	return true
}

func seq(t testing.TB, s string) []knock.Frame {
	t.Helper()
	f, err := knock.ParseSequence(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// block writes an event whose start command appends %IP% to DIR/NAME.
func block(dir, name, sequence string, extra ...string) string {
	b := fmt.Sprintf("<%s>\n sequence = %s\n timeout = 10\n start_command = echo %%IP%% >> %s/%s\n", name, sequence, dir, name)
	for _, e := range extra {
		b += " " + e + "\n"
	}
	return b + "</" + name + ">\n"
}

// TestKnockFlagsFamilies: every flag letter, the issue's combination, UDP,
// IPv4 and IPv6; %IP% reaches the command as the formatted address, and
// the environment carries the event, name, source and family.
func TestKnockFlagsFamilies(t *testing.T) {
	n := newKnockNet(t)
	dir := t.TempDir()
	letters := "tcp:1001:f tcp:1002:s tcp:1003:r tcp:1004:p tcp:1005:a tcp:1006:u tcp:1007:x tcp:1008:n tcp:1009:i udp:1010"
	issue := "udp:1234 tcp:543 tcp:543:i tcp:123:frap tcp:434:x tcp:2345:n"
	conf := block(dir, "LETTERS", letters) + block(dir, "ISSUE", issue) +
		"<ENV>\n sequence = udp:3001 tcp:3002:sa\n start_command = echo $TPORTKNOCKD_EVENT $TPORTKNOCKD_NAME $TPORTKNOCKD_SRC $TPORTKNOCKD_FAMILY $TPORTKNOCKD_IFACE >> " + dir + "/ENV\n</ENV>\n"
	p := n.start(conf)
	for _, fam := range [][2]netip.Addr{{senderV4, daemonV4}, {senderV6, daemonV6}} {
		n.knockAll(fam[0], fam[1], seq(t, letters))
		n.knockAll(fam[0], fam[1], seq(t, issue))
		n.knockAll(fam[0], fam[1], seq(t, "udp:3001 tcp:3002:sa"))
	}
	waitFile(t, filepath.Join(dir, "LETTERS"), "10.77.0.2", "fd77::2")
	waitFile(t, filepath.Join(dir, "ISSUE"), "10.77.0.2", "fd77::2")
	waitFile(t, filepath.Join(dir, "ENV"), "start", "ENV", "10.77.0.2", "4", "kd0", "start", "ENV", "fd77::2", "6", "kd0")
	// A flag set that is near but not exact is no frame of the event: it
	// neither advances nor resets. SYN+ACK is not the SYN frame, ECE+CWR
	// on a SYN are not tested.
	mark := p.mark()
	n.sendRaw(senderV4, daemonV4, knock.TCP, 1001, uint8(knock.FIN))
	n.sendRaw(senderV4, daemonV4, knock.TCP, 1002, uint8(knock.SYN|knock.ACK))
	n.sendRaw(senderV4, daemonV4, knock.TCP, 1002, uint8(knock.SYN|knock.ECE|knock.CWR))
	p.wait(t, mark, "LETTERS: 10.77.0.2 frame 2/10 tcp:1002:s advanced")
	for _, l := range p.Lines()[mark:] {
		if strings.Contains(l, "reset") {
			t.Errorf("a near miss reset the progress: %s", l)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// TestKnockResetTimeoutInterleaved: a frame out of order resets, a slow
// sequence expires, two sources interleaved both complete, and a stop
// runs its delay later for its own source.
func TestKnockResetTimeoutInterleaved(t *testing.T) {
	n := newKnockNet(t)
	dir := t.TempDir()
	three := "tcp:2001:s tcp:2002:s tcp:2003:s"
	conf := block(dir, "ORDER", three) +
		"<SLOW>\n sequence = udp:2101 udp:2102\n timeout = 1\n start_command = echo %IP% >> " + dir + "/SLOW\n</SLOW>\n" +
		block(dir, "DELAY", "udp:2201", "stop_command = echo %IP% >> "+dir+"/DELAY.stop", "command_delay = 1")
	p := n.start(conf)
	f := seq(t, three)
	mark := p.mark()
	n.send(senderV4, daemonV4, f[0])
	n.send(senderV4, daemonV4, f[2]) // out of order
	mark = p.wait(t, mark, "ORDER: 10.77.0.2 reset after 1/3 frames")
	n.send(senderV4, daemonV4, f[1]) // not the first frame: nothing
	n.send(senderV4, daemonV4, f[2])
	// The timeout: the first frame, then nothing until it expires.
	n.send(senderV4, daemonV4, seq(t, "udp:2101")[0])
	mark = p.wait(t, mark, "SLOW: 10.77.0.2 expired after 1/2 frames")
	n.send(senderV4, daemonV4, seq(t, "udp:2102")[0])
	// Interleaved sources, each completing its own sequence.
	a, b := netip.MustParseAddr("10.77.0.50"), netip.MustParseAddr("10.77.0.51")
	for i := range f {
		n.send(a, daemonV4, f[i])
		n.send(b, daemonV4, f[i])
	}
	waitFile(t, filepath.Join(dir, "ORDER"), "10.77.0.50", "10.77.0.51")
	if _, err := os.Stat(filepath.Join(dir, "SLOW")); err == nil {
		t.Errorf("SLOW ran after its timeout")
	}
	n.send(senderV6, daemonV6, seq(t, "udp:2201")[0])
	waitFile(t, filepath.Join(dir, "DELAY"), "fd77::2")
	p.wait(t, mark, "DELAY: fd77::2 stop due")
	waitFile(t, filepath.Join(dir, "DELAY.stop"), "fd77::2")
	// The order in the log: reset before completion, start before stop.
	log := p.Output()
	if strings.Index(log, "DELAY: running start") > strings.Index(log, "DELAY: running stop") {
		t.Errorf("stop ran before start:\n%s", log)
	}
	p.stop(t)
}

// TestKnockAddressChangeAndComeback: a new address counts at once and a
// removed one no longer does; the device deleted and created again is
// captured again; --wait-iface starts without it; SIGTERM runs the
// pending stop and exits 0; SIGUSR1 reports.
func TestKnockAddressChangeAndComeback(t *testing.T) {
	n := newKnockNet(t)
	dir := t.TempDir()
	conf := block(dir, "K", "udp:4001 tcp:4002:fa", "stop_command = echo %IP% >> "+dir+"/K.stop", "command_delay = 3600")
	p := n.start(conf)
	k := seq(t, "udp:4001 tcp:4002:fa")
	mark := p.mark()
	n.d.Run("ip", "addr", "add", "10.78.0.9/24", "dev", "kd0")
	mark = p.wait(t, mark, "Listening on kd0 for knocks to 10.77.0.1 10.78.0.9")
	n.d.Run("ip", "addr", "del", "10.77.0.1/24", "dev", "kd0")
	mark = p.wait(t, mark, "Listening on kd0 for knocks to 10.78.0.9 fd77::1")
	n.knockAll(netip.MustParseAddr("10.77.0.60"), daemonV4, k)
	n.knockAll(netip.MustParseAddr("10.77.0.61"), netip.MustParseAddr("10.78.0.9"), k)
	waitFile(t, filepath.Join(dir, "K"), "10.77.0.61")

	// Away and back.
	n.d.Run("ip", "link", "del", "kd0")
	mark = p.wait(t, mark, "Interface kd0 disappeared")
	n.addVeth()
	n.openSender()
	n.s.Run("ip", "link", "set", "ks0", "up")
	mark = p.wait(t, mark, "Interface kd0 is back")
	p.wait(t, mark, "Listening on kd0 for knocks to 10.77.0.1 fd77::1")
	n.knockAll(netip.MustParseAddr("10.77.0.62"), daemonV4, k)
	waitFile(t, filepath.Join(dir, "K"), "10.77.0.61", "10.77.0.62")

	p.Signal(syscall.SIGUSR1)
	p.wait(t, mark, "pending stops: 2")
	if code := p.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
	waitFile(t, filepath.Join(dir, "K.stop"), "10.77.0.61", "10.77.0.62")

	// --wait-iface: the device is missing at start.
	n.d.Run("ip", "link", "del", "kd0")
	q := n.start(conf, "--wait-iface")
	q.wait(t, 0, "does not exist yet, waiting for it")
	n.addVeth()
	n.openSender()
	n.s.Run("ip", "link", "set", "ks0", "up")
	q.wait(t, 0, "Listening on kd0 for knocks to 10.77.0.1 fd77::1")
	n.knockAll(netip.MustParseAddr("10.77.0.63"), daemonV4, k)
	waitFile(t, filepath.Join(dir, "K"), "10.77.0.61", "10.77.0.62", "10.77.0.63")
	q.stop(t)
}

// TestKnockExamples: the shipped example configuration, with commands
// that record instead of print, is completed by a sender for each event.
func TestKnockExamples(t *testing.T) {
	n := newKnockNet(t)
	dir := t.TempDir()
	path := filepath.Join("..", "..", "..", "examples", "tportknockd.conf")
	evs, err := ReadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	name := ""
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) > 0 && strings.HasPrefix(f[0], "<") && !strings.HasPrefix(f[0], "</"):
			name = strings.Trim(f[0], "<>")
		case len(f) > 0 && f[0] == "start_command":
			l = " start_command = echo %IP% >> " + dir + "/" + name
		case len(f) > 0 && f[0] == "stop_command":
			l = " stop_command = echo %IP% >> " + dir + "/" + name + ".stop"
		}
		conf.WriteString(l + "\n")
	}
	p := n.start(conf.String())
	for i, ev := range evs {
		src := netip.AddrFrom4([4]byte{10, 77, 0, byte(100 + i)})
		n.knockAll(src, daemonV4, ev.Sequence)
		waitFile(t, filepath.Join(dir, ev.Name), src.String())
	}
	p.stop(t)
	// SIGTERM ran the pending stops of the two events that have one.
	waitFile(t, filepath.Join(dir, "SSH.stop"), "10.77.0.100")
	waitFile(t, filepath.Join(dir, "SSH2.stop"), "10.77.0.102")
}

// TestKnockDaemonize: -D reports start-up before detaching: a start-up
// error is printed by the parent with status 1; success prints the pid
// and the detached daemon answers knocks.
func TestKnockDaemonize(t *testing.T) {
	n := newKnockNet(t)
	bin := knockdBin(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "knock.conf")
	if err := os.WriteFile(path, []byte(block(dir, "D", "udp:6001 udp:6002")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := n.d.Command(bin, "-D", "-c", path, "-i", "nosuch0").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "interface nosuch0: no such device") {
		t.Errorf("-D with a missing device: status %d, %q", code, out)
	}
	out, err = n.d.Command(bin, "-D", "-c", path, "-i", "kd0").CombinedOutput()
	var pid int
	if _, serr := fmt.Sscanf(string(out), "tportknockd has been started with PID: %d", &pid); exitCode(err) != 0 || serr != nil {
		t.Fatalf("-D: status %d, %q", exitCode(err), out)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	n.knockAll(senderV4, daemonV4, seq(t, "udp:6001 udp:6002"))
	waitFile(t, filepath.Join(dir, "D"), "10.77.0.2")
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(sensortest.Patience)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("daemon %d still running after SIGTERM", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestKnockSecondSignal: SIGTERM waits for the pending stop to run; a
// second SIGTERM ends the wait.
func TestKnockSecondSignal(t *testing.T) {
	n := newKnockNet(t)
	dir := t.TempDir()
	p := n.start(block(dir, "S", "udp:6101", "stop_command = echo stopping; sleep 600", "command_delay = 3600"))
	n.send(senderV4, daemonV4, seq(t, "udp:6101")[0])
	waitFile(t, filepath.Join(dir, "S"), "10.77.0.2")
	mark := p.mark()
	p.Signal(syscall.SIGTERM)
	p.wait(t, mark, "S stop: stopping")
	if code := p.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
	p.wait(t, mark, "Second signal")
}

// TestKnockQueueFull: while the worker hangs in a start command, more
// completions than the queue holds arrive: the starts beyond it are
// dropped and logged, but every stop runs, none lost, at SIGTERM.
func TestKnockQueueFull(t *testing.T) {
	n := newKnockNet(t)
	dir := t.TempDir()
	const sources = queueLen + 100
	// The first start hangs until --cmd-timeout; meanwhile the rest queue.
	p := n.startWith(t, "<Q>\n sequence = udp:6201\n start_command = sleep 600\n"+
		" stop_command = echo %IP% >> "+dir+"/Q.stop\n command_delay = 1\n</Q>\n", "--cmd-timeout=5")
	// In bursts the socket's buffer holds: each is read before the next.
	for i := 0; i < sources; i++ {
		src := netip.AddrFrom4([4]byte{10, 78, byte(i >> 8), byte(i)})
		n.send(src, daemonV4, seq(t, "udp:6201")[0])
		if i == 0 {
			p.wait(t, 0, "Q: running start command for 10.78.0.0")
		}
		if i%50 == 49 || i == sources-1 {
			p.wait(t, 0, "Q: sequence completed by "+src.String())
		}
	}
	p.wait(t, 0, "start command of Q for")
	if code := p.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "Q.stop"))
	if got := len(strings.Fields(string(b))); got != sources {
		t.Errorf("%d stop commands ran, want %d", got, sources)
	}
}

// TestKnockNetns: tportknockd running in another namespace captures in the
// --netns one, follows its address changes there, and runs its commands
// in its own namespace; -l lists the devices there.
func TestKnockNetns(t *testing.T) {
	n := newKnockNet(t)
	home := sensortest.NewNamespace(t) // where the daemon runs
	dir := t.TempDir()
	conf := "<N>\n sequence = udp:6301 tcp:6302:s\n start_command = echo %IP% $(readlink /proc/self/ns/net) >> " + dir + "/N\n</N>\n"
	path := filepath.Join(dir, "knock.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	target := "/run/netns/" + n.d.Name
	out, err := home.Command(knockdBin(t), "-l", "--netns", target).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "kd0 up 10.77.0.1/24") {
		t.Errorf("-l --netns: %v\n%s", err, out)
	}
	p := daemonProc{sensortest.StartProc(t, home.Command(knockdBin(t), "-d", "--netns", target, "-c", path, "-i", "kd0"))}
	mark := p.wait(t, 0, "Listening on kd0 for knocks to 10.77.0.1 fd77::1")
	n.knockAll(senderV4, daemonV4, seq(t, "udp:6301 tcp:6302:s"))
	homeNS := strings.TrimSpace(home.Run("readlink", "/proc/self/ns/net"))
	waitFile(t, filepath.Join(dir, "N"), "10.77.0.2", homeNS)

	n.d.Run("ip", "addr", "add", "10.79.0.1/24", "dev", "kd0")
	p.wait(t, mark, "Listening on kd0 for knocks to 10.77.0.1 10.79.0.1")
	n.knockAll(senderV6, daemonV6, seq(t, "udp:6301 tcp:6302:s"))
	waitFile(t, filepath.Join(dir, "N"), "10.77.0.2", homeNS, "fd77::2", homeNS)
	if code := p.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
	out, err = home.Command(knockdBin(t), "-c", path, "-i", "kd0", "--netns", "/nonexistent/netns").CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "can't use network namespace /nonexistent/netns") {
		t.Errorf("--netns missing: %v %q", err, out)
	}
}

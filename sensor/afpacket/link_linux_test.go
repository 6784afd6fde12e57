package afpacket

import (
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/netns"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
	"github.com/tuninetd/tuninetd/tuntap"
)

// sendUntilSeen sends UDP to dst until the sink reports a packet to port
// (a route or neighbour may take a moment after the device appears).
func sendUntilSeen(t *testing.T, ns *sensortest.Namespace, sink *sensortest.Recorder, dst string, port int, off int) *sensor.Packet {
	t.Helper()
	deadline := time.Now().Add(sensortest.Patience)
	for time.Now().Before(deadline) {
		ns.SendUDP(dst, 1)
		select {
		case rep := <-sink.C:
			if rep.Packet != nil && udpDst(rep.Packet.Data, off) == port {
				return rep.Packet
			}
			if rep.Packet != nil {
				t.Logf("other report: %s %x", rep.Packet.LinkType, rep.Packet.Data)
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no report of UDP to %s", dst)
	return nil
}

func TestInterfaceDeletedAndRecreated(t *testing.T) {
	const cycles = 100
	ns := sensortest.NewNamespace(t)
	dev := ns.AddTun("tun0", "10.200.0.1/24")
	var logs sensortest.Log
	s, sink := openIn(t, ns, Config{Interface: "tun0", Filter: mustParse(t, "udp"), Logf: logs.Logf})
	sendUntilSeen(t, ns, sink, "10.200.0.2:4000", 4000, 0)

	var fds, gs int
	for i := 0; i < cycles; i++ {
		if i == 1 {
			time.Sleep(50 * time.Millisecond)
			fds, gs = countFDs(t), runtime.NumGoroutine()
		}
		mark := logs.Len()
		dev.Close() // a non-persistent tun disappears with its last holder
		mark = logs.Wait(t, mark, "interface tun0 disappeared, waiting for it to return")
		dev = ns.AddTun("tun0", "10.200.0.1/24")
		logs.Wait(t, mark, "interface tun0 is back")
		sink.Flush()
		sendUntilSeen(t, ns, sink, "10.200.0.2:4002", 4002, 0)
	}
	// Cleanups of the closed devices stay registered until the test ends,
	// so count only what the sensor could leak.
	sensortest.Eventually(func() bool { return countFDs(t) <= fds+1 && runtime.NumGoroutine() <= gs+1 })
	if f := countFDs(t); f > fds+1 {
		t.Errorf("fds grew from %d to %d over %d delete/re-create cycles", fds, f, cycles)
	}
	if g := runtime.NumGoroutine(); g > gs+1 {
		t.Errorf("goroutines grew from %d to %d over %d cycles", gs, g, cycles)
	}
	if !strings.Contains(strings.Join(s.Stats(), ""), "tun0 (RAW), standby") {
		t.Errorf("Stats = %q", s.Stats())
	}
}

func TestInterfaceGoneInUpState(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	dev := ns.AddTun("tun0", "10.200.0.1/24")
	var logs sensortest.Log
	s, sink := openIn(t, ns, Config{Interface: "tun0", Logf: logs.Logf})
	setMode(t, s, sensor.Up)
	ns.SendUDP("10.200.0.2:4000", 1)
	sink.Next(t, sensortest.Patience, "up-state activity")
	mark := logs.Len()
	dev.Close()
	mark = logs.Wait(t, mark, "disappeared")
	sink.Flush()
	// A vanished interface is no activity: the idle deadline runs on.
	sink.ExpectNone(t, 5*UpTick, "interface gone in up state")
	if st := strings.Join(s.Stats(), ""); !strings.Contains(st, "interface missing") {
		t.Errorf("Stats while missing = %q", st)
	}
	ns.AddTun("tun0", "10.200.0.1/24")
	logs.Wait(t, mark, "is back")
	ns.SendUDP("10.200.0.2:4000", 1)
	sink.Next(t, sensortest.Patience, "up-state activity after return")
	setMode(t, s, sensor.Standby)
	sink.Flush()
	sendUntilSeen(t, ns, sink, "10.200.0.2:4005", 4005, 0)
}

func TestInterfaceDownUp(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ns.AddTun("tun0", "10.200.0.1/24")
	var logs sensortest.Log
	_, sink := openIn(t, ns, Config{Interface: "tun0", Logf: logs.Logf})
	sendUntilSeen(t, ns, sink, "10.200.0.2:4000", 4000, 0)
	mark := logs.Len()
	ns.Run("ip", "link", "set", "tun0", "down")
	mark = logs.Wait(t, mark, "interface tun0 is down")
	ns.Run("ip", "link", "set", "tun0", "up")
	ns.Run("ip", "route", "replace", "10.200.0.0/24", "dev", "tun0")
	logs.Wait(t, mark, "interface tun0 is up")
	sink.Flush()
	sendUntilSeen(t, ns, sink, "10.200.0.2:4001", 4001, 0)
}

func TestInterfaceRenamed(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ns.AddTun("tun0", "10.200.0.1/24")
	var logs sensortest.Log
	_, sink := openIn(t, ns, Config{Interface: "tun0", Logf: logs.Logf})
	sendUntilSeen(t, ns, sink, "10.200.0.2:4000", 4000, 0)
	mark := logs.Len()
	ns.Run("ip", "link", "set", "tun0", "down")
	ns.Run("ip", "link", "set", "tun0", "name", "tunx")
	ns.Run("ip", "link", "set", "tunx", "up")
	ns.Run("ip", "route", "replace", "10.200.0.0/24", "dev", "tunx")
	mark = logs.Wait(t, mark, "interface tun0 disappeared")
	sink.Flush()
	// Traffic on the renamed device is not ours.
	ns.SendUDP("10.200.0.2:4001", 5)
	sink.ExpectNone(t, 200*time.Millisecond, "our interface was renamed away")
	ns.Run("ip", "link", "set", "tunx", "down")
	ns.Run("ip", "link", "set", "tunx", "name", "tun0")
	ns.Run("ip", "link", "set", "tun0", "up")
	ns.Run("ip", "route", "replace", "10.200.0.0/24", "dev", "tun0")
	logs.Wait(t, mark, "interface tun0 is back")
	sendUntilSeen(t, ns, sink, "10.200.0.2:4002", 4002, 0)
}

func TestInterfaceLinkTypeChange(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	dev := ns.AddTun("tun0", "10.200.0.1/24")
	var logs sensortest.Log
	s, sink := openIn(t, ns, Config{Interface: "tun0", Filter: mustParse(t, "udp"), Logf: logs.Logf})
	sendUntilSeen(t, ns, sink, "10.200.0.2:4000", 4000, 0)

	// tun -> tap with the same name: RAW -> EN10MB, same socket type.
	mark := logs.Len()
	dev.Close()
	mark = logs.Wait(t, mark, "disappeared")
	var tap *tuntap.Device
	if err := ns.Do(func() (err error) { tap, err = tuntap.Open("tun0", tuntap.TAP, false); return }); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, tap)
	t.Cleanup(func() { tap.Close() })
	ns.Run("ip", "addr", "add", "10.200.0.1/24", "dev", "tun0")
	ns.Run("ip", "link", "set", "tun0", "up")
	ns.Run("ip", "neigh", "replace", "10.200.0.2", "lladdr", "02:00:00:00:00:02", "dev", "tun0")
	mark = logs.Wait(t, mark, "is back (index")
	if s.LinkType() != bpfc.EN10MB {
		t.Fatalf("LinkType after tun -> tap = %v", s.LinkType())
	}
	sink.Flush()
	t.Logf("log so far:\n%s", logs.String())
	p := sendUntilSeen(t, ns, sink, "10.200.0.2:4001", 4001, 14)
	if p.LinkType != bpfc.EN10MB {
		t.Fatalf("packet link type %v", p.LinkType)
	}

	// tap -> PPP-type tun: EN10MB -> LINUX_SLL, new socket type (sockets
	// re-created in the namespace), in up state.
	setMode(t, s, sensor.Up)
	tap.Close()
	recreatePPP(t, ns, s, &logs, mark, "10.200.0.1/24")
	sink.Flush()
	ns.SendUDP("10.200.0.2:4002", 1)
	sink.Next(t, sensortest.Patience, "up-state activity on the cooked interface")
	setMode(t, s, sensor.Standby)
	sink.Flush()
	p = sendUntilSeen(t, ns, sink, "10.200.0.2:4003", 4003, 16)
	if p.LinkType != bpfc.LinuxSLL {
		t.Fatalf("packet link type %v", p.LinkType)
	}
}

// recreatePPP waits for the sensor to see tun0 gone (after log line
// mark), creates it again as a PPP-type tun with addr, and waits until
// the sensor captures it as LINUX_SLL (new sockets of another type).
func recreatePPP(t *testing.T, ns *sensortest.Namespace, s *Sensor, logs *sensortest.Log, mark int, addr string) {
	t.Helper()
	mark = logs.Wait(t, mark, "disappeared")
	addPPPLikeTun(t, ns, "tun0", addr)
	logs.Wait(t, mark, "is back (index")
	// The device appears as a tun (RAW) and becomes PPP a moment later
	// (TUNSETLINK); the sensor may see either first.
	for deadline := time.Now().Add(sensortest.Patience); s.LinkType() != bpfc.LinuxSLL; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("LinkType after re-creating tun0 as PPP = %v; log:\n%s", s.LinkType(), logs.String())
		}
	}
}

func TestComebackWithIncompatibleFilter(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	var tap *tuntap.Device
	if err := ns.Do(func() (err error) { tap, err = tuntap.Open("tun0", tuntap.TAP, false); return }); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, tap)
	t.Cleanup(func() { tap.Close() })
	var logs sensortest.Log
	s, sink := openIn(t, ns, Config{Interface: "tun0", Filter: mustParse(t, "ether dst 02:00:00:00:00:02 and udp"), Logf: logs.Logf})
	mark := logs.Len()
	tap.Close()
	mark = logs.Wait(t, mark, "disappeared")
	// Back as a tun: an Ethernet filter means nothing on raw IP.
	ns.AddTun("tun0", "10.200.0.1/24")
	logs.Wait(t, mark, "is back but cannot be captured")
	ns.SendUDP("10.200.0.2:4000", 3)
	sink.ExpectNone(t, 2*goneRecheck+500*time.Millisecond, "the filter does not fit the new link type")
	if n := strings.Count(logs.String(), "cannot be captured"); n != 1 {
		t.Errorf("refusal logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(strings.Join(s.Stats(), ""), "interface missing") {
		t.Errorf("Stats = %q", s.Stats())
	}
}

// TestConfigNetNS: a sensor opened from outside its namespace
// (Config.NetNS) captures there, and when the interface comes back with
// another socket type the new sockets and the link subscription are made
// there too; no thread of ours is left in the namespace.
func TestConfigNetNS(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	dev := ns.AddTun("tun0", "10.201.0.1/24")
	h, err := netns.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() }) // after the sensor's Close
	var logs sensortest.Log
	s, err := Open(Config{Interface: "tun0", Filter: mustParse(t, "udp"), Logf: logs.Logf, NetNS: h})
	if err != nil {
		skipNoPacketOpts(t, err)
		t.Fatal(err)
	}
	sink := sensortest.NewRecorder(4096)
	t.Cleanup(func() { s.Close() })
	sensortest.Run(t, s, sink)
	sendUntilSeen(t, ns, sink, "10.201.0.2:4000", 4000, 0)

	mark := logs.Len()
	dev.Close()
	recreatePPP(t, ns, s, &logs, mark, "10.201.0.1/24")
	sink.Flush()
	if p := sendUntilSeen(t, ns, sink, "10.201.0.2:4001", 4001, 16); p.LinkType != bpfc.LinuxSLL {
		t.Fatalf("packet link type %v", p.LinkType)
	}

	own, _ := os.Readlink("/proc/self/ns/net")
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if l, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net"); err == nil && l != own {
			t.Errorf("thread %s left in %s", task.Name(), l)
		}
	}
}

package afpacket

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/dnsq"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// sendUDP sends payload count times from inside ns to dst.
func sendUDP(t *testing.T, ns *sensortest.Namespace, dst string, payload []byte, count int) {
	t.Helper()
	if err := ns.Do(func() error {
		a, err := net.ResolveUDPAddr("udp", dst)
		if err != nil {
			return err
		}
		c, err := net.ListenUDP("udp", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		for range count {
			c.WriteToUDP(payload, a)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func corpRules(t *testing.T) *dnsq.Rules {
	t.Helper()
	r, err := dnsq.NewRules([]string{"corp.example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func isQuery(name string) func(sensortest.Report) bool {
	return func(r sensortest.Report) bool {
		return r.Packet != nil && r.Packet.Query != nil && r.Packet.Query.Name == name
	}
}

// TestDNSRulesWithFilter: with -f and DNS rules, -f traffic and matching
// queries count, in standby and in up state; unlisted queries that -f
// does not match do not.
func TestDNSRulesWithFilter(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	s, sink := openIn(t, ns, Config{Interface: "lo", Filter: mustParse(t, "udp port 7777"), DNS: corpRules(t)})

	sendUDP(t, ns, "127.0.0.1:53", sensortest.DNSQuery("unlisted.example", 1), 5)
	sink.ExpectNone(t, 300*time.Millisecond, "unlisted queries in standby")
	sendUDP(t, ns, "127.0.0.1:7777", []byte("x"), 1)
	if rep := sink.Next(t, sensortest.Patience, "-f traffic in standby"); rep.Packet == nil || rep.Packet.Query != nil {
		t.Fatalf("standby -f report %+v", rep.Packet)
	}
	sink.Flush()
	sendUDP(t, ns, "127.0.0.1:53", sensortest.DNSQuery("Git.Corp.Example", 1), 1)
	sink.Wait(t, sensortest.Patience, "a matching query in standby", isQuery("git.corp.example"))

	setMode(t, s, sensor.Up)
	sink.Flush()
	sendUDP(t, ns, "127.0.0.1:53", sensortest.DNSQuery("unlisted.example", 1), 50)
	sink.ExpectNone(t, 2*RetireTimeout+5*UpTick, "unlisted queries in up state")
	sendUDP(t, ns, "127.0.0.1:53", sensortest.DNSQuery("up.corp.example", 1), 1)
	sink.Wait(t, sensortest.Patience, "a matching query in up state", isQuery("up.corp.example"))
	sink.Flush()
	sendUDP(t, ns, "127.0.0.1:7777", []byte("x"), 1)
	sink.Next(t, sensortest.Patience, "-f traffic in up state")

	stats := strings.Join(s.Stats(), "\n")
	if !strings.Contains(stats, "-- pcap DNS queries: ") || !strings.Contains(stats, " 4 matching") {
		t.Errorf("stats %q, want the DNS line with 4 matching (lo shows each twice)", stats)
	}
	// Each query crosses lo twice (outgoing and incoming): the 55 unlisted
	// ones are counted 110 times, give or take none.
	if !strings.Contains(stats, " 110 unlisted") {
		t.Errorf("stats %q, want 110 unlisted", stats)
	}
}

// TestDNSRulesAckOnlyWithoutFilter: without -f only matching queries
// count; with -a, TCP ACK segments do not pass in up state either.
func TestDNSRulesAckOnlyWithoutFilter(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	s, sink := openIn(t, ns, Config{Interface: "lo", AckOnly: true, DNS: corpRules(t)})
	sendUDP(t, ns, "127.0.0.1:9", []byte("x"), 5)
	sink.ExpectNone(t, 300*time.Millisecond, "non-DNS traffic without -f")
	setMode(t, s, sensor.Up)
	sink.Flush()
	seen := s.seen.Load()
	for range 5 {
		ns.SendTCP("127.0.0.1:7", 200*time.Millisecond) // SYN, RST+ACK
	}
	sink.ExpectNone(t, 2*RetireTimeout+5*UpTick, "TCP ACKs in up state without -f")
	time.Sleep(2 * UpTick)
	if n := s.seen.Load(); n != seen {
		t.Errorf("the kernel passed %d packets of TCP to a closed port; only DNS should pass", n-seen)
	}
	sendUDP(t, ns, "127.0.0.1:53", sensortest.DNSQuery("ack.corp.example", 1), 1)
	sink.Wait(t, sensortest.Patience, "a matching query in up state with -a", isQuery("ack.corp.example"))
}

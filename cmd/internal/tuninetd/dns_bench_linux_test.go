package tuninetd

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// TestDNSBenchmark measures the daemon's CPU (from /proc/PID/stat) per
// million non-matching DNS queries, which user space parses, next to per
// million non-DNS datagrams, which the kernel filter drops, on the same
// interface (-i with --dns-name, no -f, standby). It prints the figures
// and asserts nothing. It runs only from make bench, which sets
// TUNINETD_DNS_BENCH to the number of packets per run (a CPU measurement
// is no timed test).
func TestDNSBenchmark(b *testing.T) {
	count, err := strconv.Atoi(os.Getenv("TUNINETD_DNS_BENCH"))
	if err != nil || count <= 0 {
		b.Skip("a benchmark: set TUNINETD_DNS_BENCH=1000000 (make bench)")
	}
	client, _ := dnsNamespaces(b)
	script, _, _ := e2eScript(b, "")
	p := startTuninetd(b, client, "-i", "dnsc", "--dns-name", "corp.example", "-c", script, "-t", "3600")
	p.ready()
	pid := p.cmd.Process.Pid
	// To an address nobody has (a static neighbour, so frames leave at
	// once): no answers, no ICMP, only the packets counted here.
	client.Run("ip", "neigh", "replace", "10.53.0.9", "lladdr", "02:00:00:00:53:09", "dev", "dnsc")
	query := sensortest.DNSQuery("unlisted.example", 1)
	// parsed reads how many DNS packets the daemon has judged (the
	// SIGUSR1 counters; the rest of a flood drops at its socket queue).
	parsed := func() int64 {
		var n int64
		for _, l := range e2eReportBlock(p) {
			if rest, ok := strings.CutPrefix(l, "-- pcap DNS queries: "); ok {
				for _, part := range strings.Split(rest, ", ") {
					if v, _, ok := strings.Cut(part, " "); ok {
						x, _ := strconv.ParseInt(v, 10, 64)
						n += x
					}
				}
			}
		}
		return n
	}
	// send sends count datagrams to port and returns the daemon's CPU in
	// ms per million sent, and per million that reached user space.
	send := func(port int) (perSent, perParsed float64) {
		seen := parsed()
		before := sensortest.CPUTicks(b, pid)
		err := client.Do(func() error {
			c, err := net.ListenUDP("udp4", nil)
			if err != nil {
				return err
			}
			defer c.Close()
			dst := &net.UDPAddr{IP: net.IPv4(10, 53, 0, 9), Port: port}
			for i := 0; i < count; i++ {
				c.WriteToUDP(query, dst)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		ms := float64(sensortest.CPUTicks(b, pid)-before) * 10 // 100 ticks a second
		perSent = ms / (float64(count) / 1e6)
		if n := parsed() - seen; n > 0 {
			perParsed = ms / (float64(n) / 1e6)
		}
		return perSent, perParsed
	}
	for round := 1; round <= 2; round++ {
		dns, dnsParsed := send(53)
		other, _ := send(7777)
		b.Logf("round %d, %d datagrams each: daemon CPU per 1M non-matching DNS queries %.0f ms (%.0f ms per 1M that reached user space); per 1M non-DNS datagrams %.0f ms",
			round, count, dns, dnsParsed, other)
	}
	rep := e2eReportBlock(p)
	for _, l := range rep {
		if strings.HasPrefix(l, "-- pcap DNS") || strings.HasPrefix(l, "- pcap sensor") {
			b.Log(l)
		}
	}
}

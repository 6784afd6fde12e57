package tuninetd

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// cpuTicks reads a process's user+system CPU time in clock ticks from
// /proc/PID/stat.
func cpuTicks(b *testing.T, pid int) int64 {
	b.Helper()
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	s := string(st)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

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
	query := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		8, 'u', 'n', 'l', 'i', 's', 't', 'e', 'd', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1}
	send := func(port int) float64 {
		before := cpuTicks(b, pid)
		err := client.Do(func() error {
			c, err := net.ListenUDP("udp4", nil)
			if err != nil {
				return err
			}
			defer c.Close()
			dst := &net.UDPAddr{IP: net.IPv4(10, 53, 0, 2), Port: port}
			for i := 0; i < count; i++ {
				if _, err := c.WriteToUDP(query, dst); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					continue
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return float64(cpuTicks(b, pid)-before) * 10 / (float64(count) / 1e6) // ms per million (100 ticks/s)
	}
	{
		dns := send(53)
		other := send(7777)
		dns2 := send(53)
		other2 := send(7777)
		b.Logf("daemon CPU per 1M packets: non-matching DNS queries %.0f ms, %.0f ms; non-DNS datagrams %.0f ms, %.0f ms (%d each)", dns, dns2, other, other2, count)
	}
	rep := e2eReportBlock(p)
	for _, l := range rep {
		if strings.HasPrefix(l, "-- pcap DNS") || strings.HasPrefix(l, "- pcap sensor") {
			b.Log(l)
		}
	}
}

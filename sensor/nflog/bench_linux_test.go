//go:build linux

package nflog

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// The benchmark (a closing measurement, not a test): one burst of logged
// packets is seen by two readers in separate processes at the same time,
// each bound to its own group by the same nft rule:
//   - "batched": this sensor in up state (copy-meta, kernel batching);
//   - "per-packet": the original's design, one recv per packet, whole
//     packets copied (queue threshold 1).
// Reported per reader: CPU (user+sys) per million logged packets and
// receive calls (wake-ups) per second.
//
//	TUNINETD_NFLOG_BENCH=1000000 go test -count=1 -run TestNFLOGBenchmark -v ./sensor/nflog/
//
// The value is the number of packets (1 means 1000000).

// benchResult is what a reader process reports.
type benchResult struct {
	Name    string  `json:"name"`
	CPU     float64 `json:"cpu_s"`
	Reads   uint64  `json:"reads"`
	Packets uint64  `json:"packets"`
	NoBufs  uint64  `json:"enobufs"`
	Seen    uint64  `json:"seen"`
	MaxRead int     `json:"max_read"`
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// countSink counts reports.
type countSink struct{ n atomic.Uint64 }

func (c *countSink) Seen(time.Time, *sensor.Packet) { c.n.Add(1) }

// TestNFLOGBenchReader is the reader process of the benchmark; it does
// nothing unless started by TestNFLOGBenchmark.
func TestNFLOGBenchReader(t *testing.T) {
	spec := os.Getenv("TUNINETD_NFLOG_BENCH_READER") // "<group>,<batched|per-packet>"
	if spec == "" {
		t.Skip("benchmark helper process")
	}
	name, kind, _ := strings.Cut(spec, ",")
	group, err := strconv.Atoi(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Group: uint16(group), perPacket: kind == "per-packet"}
	if q, err := strconv.ParseUint(os.Getenv("TUNINETD_NFLOG_BENCH_QTHRESH"), 10, 32); err == nil {
		cfg.UpQThresh = uint32(q) // to try other thresholds
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetMode(sensor.Up)
	var sink countSink
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, &sink) }()
	time.Sleep(200 * time.Millisecond) // let the configuration apply
	cpu0 := cpuSeconds()
	fmt.Println("READY")
	io.Copy(io.Discard, os.Stdin) // the parent closes stdin when the burst has been read
	cpu := cpuSeconds() - cpu0
	cancel()
	<-done
	b, _ := json.Marshal(benchResult{Name: kind, CPU: cpu, Reads: s.reads.Load(), Packets: s.packets.Load(),
		NoBufs: s.noBufs.Load(), Seen: sink.n.Load(), MaxRead: int(s.maxRead.Load())})
	fmt.Printf("RESULT %s\n", b)
}

// benchReader is a running reader process.
type benchReader struct {
	stdin io.WriteCloser
	lines *bufio.Scanner
	wait  func() error
}

func startBenchReader(t *testing.T, ns *sensortest.Namespace, group int, kind string) *benchReader {
	t.Helper()
	cmd := ns.Command(os.Args[0], "-test.run=^TestNFLOGBenchReader$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("TUNINETD_NFLOG_BENCH_READER=%d,%s", group, kind))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	r := &benchReader{stdin: in, lines: bufio.NewScanner(out), wait: cmd.Wait}
	for r.lines.Scan() {
		if r.lines.Text() == "READY" {
			return r
		}
	}
	t.Fatalf("reader %s did not start", kind)
	return nil
}

func (r *benchReader) result(t *testing.T) benchResult {
	t.Helper()
	r.stdin.Close()
	for r.lines.Scan() {
		if j, ok := strings.CutPrefix(r.lines.Text(), "RESULT "); ok {
			var res benchResult
			if err := json.Unmarshal([]byte(j), &res); err != nil {
				t.Fatal(err)
			}
			return res
		}
	}
	t.Fatal("reader gave no result")
	return benchResult{}
}

func TestNFLOGBenchmark(t *testing.T) {
	v := os.Getenv("TUNINETD_NFLOG_BENCH")
	if v == "" {
		t.Skip("set TUNINETD_NFLOG_BENCH=<packets> to run the nflog benchmark")
	}
	total, err := strconv.Atoi(v)
	if err != nil || total <= 1 {
		total = 1000000
	}
	ns := sensortest.NewNamespace(t)
	// Loopback to a socket that is never read: its queue fills and the
	// kernel drops the rest quietly (no ICMP).
	listenUDP(t, ns, 9999)
	nftRules(t, ns, `table inet t {
	chain o {
		type filter hook output priority 0;
		udp dport 9999 log group 21
		udp dport 9999 log group 22
	}
}
`)
	batched := startBenchReader(t, ns, 21, "batched")
	perPacket := startBenchReader(t, ns, 22, "per-packet")

	start := time.Now()
	if err := ns.Do(func() error {
		c, err := net.Dial("udp", "127.0.0.1:9999")
		if err != nil {
			return err
		}
		defer c.Close()
		msg := []byte("tuninetd-benchmark-payload")
		for i := 0; i < total; i++ {
			c.Write(msg)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	send := time.Since(start)
	time.Sleep(1500 * time.Millisecond) // the last batch leaves after the 1 s timeout
	window := time.Since(start)

	// Stop per-packet first: it is the one still busy with a backlog.
	rp := perPacket.result(t)
	rb := batched.result(t)
	t.Logf("max datagram: batched %d bytes", rb.MaxRead)
	t.Logf("%d packets logged to both groups in %v (%.0f pps); measured window %v",
		total, send.Round(time.Millisecond), float64(total)/send.Seconds(), window.Round(time.Millisecond))
	for _, r := range []benchResult{rb, rp} {
		t.Logf("%-10s CPU %.3f s = %.3f s per million logged packets; %d recvs = %.0f wake-ups/s; %d packets read, %d ENOBUFS, %d reports",
			r.Name, r.CPU, r.CPU*1e6/float64(total), r.Reads, float64(r.Reads)/window.Seconds(), r.Packets, r.NoBufs, r.Seen)
	}
	if rp.CPU > 0 {
		t.Logf("batched/per-packet: CPU %.1f %%, wake-ups %.1f %%", 100*rb.CPU/rp.CPU, 100*float64(rb.Reads)/float64(rp.Reads+rp.NoBufs))
	}
}

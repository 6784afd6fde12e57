package tportknockd

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/core/knock"
)

// The benchmarks run the real daemon in a namespace and blast frames at
// it from another, then read what the daemon cost from /proc. They report
// figures and assert nothing (make bench: -benchtime 1x). TPORTKNOCKD_BENCH
// sets the number of frames (default 1,000,000).

func benchFrames() int {
	if n, err := strconv.Atoi(os.Getenv("TPORTKNOCKD_BENCH")); err == nil && n > 0 {
		return n
	}
	return 1000000
}

// procCPU returns a process's user+system CPU time.
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz
}

// procKB returns a /proc/PID/status field in kB (VmRSS, VmHWM).
func procKB(tb testing.TB, pid int, field string) int {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// rxPackets reads a device's received-packet counter in the daemon's
// namespace: frames the veth delivered, the ones the daemon's socket
// filter had the chance to look at.
func (n *knockNet) rxPackets(tb testing.TB) uint64 {
	tb.Helper()
	out := n.d.Run("cat", "/sys/class/net/kd0/statistics/rx_packets")
	v, err := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// blast sends count copies of a frame built by sendRaw's layout, with the
// IPv4 source changed per frame when distinct (10.128.0.0 upwards, outside
// the link's subnet, so nothing answers them).
func (n *knockNet) blast(tb testing.TB, count int, proto knock.Proto, port uint16, flags uint8, distinct bool) {
	tb.Helper()
	frame := buildFrame(n.src, n.dst, senderV4, daemonV4, proto, port, flags)
	to := &unix.SockaddrLinklayer{Ifindex: n.ifindex}
	base := binary.BigEndian.Uint32([]byte{10, 128, 0, 0})
	for i := 0; i < count; i++ {
		if distinct {
			binary.BigEndian.PutUint32(frame[14+12:], base+uint32(i))
			binary.BigEndian.PutUint16(frame[14+10:], 0)
			binary.BigEndian.PutUint16(frame[14+10:], checksum(frame[14:14+20], 0))
		}
		for {
			err := unix.Sendto(n.fd, frame, 0, to)
			if err == nil {
				break
			}
			if err != unix.ENOBUFS && err != unix.EAGAIN {
				tb.Fatalf("send: %v", err)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// BenchmarkNonKnockCPU: frames to the device's address that are no knock
// (UDP to a port no event uses) are dropped by the kernel filter; the
// daemon's CPU time over them is compared with the same number of knock
// frames (the first frame of a sequence, from one source), which reach
// user space.
func BenchmarkNonKnockCPU(b *testing.B) {
	n := newKnockNet(b)
	count := benchFrames()
	conf := "<B>\n sequence = udp:7001 udp:7002\n timeout = 60\n start_command = true\n</B>\n"
	p := n.startWith(b, conf)
	pid := p.Pid()
	for range b.N {
		for _, run := range []struct {
			what string
			port uint16
		}{{"non-knock (udp:5000)", 5000}, {"knock frame (udp:7001)", 7001}} {
			rx0, cpu0 := n.rxPackets(b), procCPU(b, pid)
			t0 := time.Now()
			n.blast(b, count, knock.UDP, run.port, 0, false)
			time.Sleep(500 * time.Millisecond) // let the daemon finish reading
			rx, cpu := n.rxPackets(b)-rx0, procCPU(b, pid)-cpu0
			b.Logf("%s: %d frames sent in %v, %d received on kd0, daemon CPU %v (%.2f µs per frame)",
				run.what, count, time.Since(t0).Round(time.Millisecond), rx, cpu, float64(cpu.Microseconds())/float64(count))
		}
	}
	p.stop(b)
}

// BenchmarkSpoofedSourcesRSS: first frames of a sequence from count
// distinct spoofed sources fill the table up to --max-sources and then
// evict; the daemon's resident memory stays bounded by the limit.
func BenchmarkSpoofedSourcesRSS(b *testing.B) {
	count := benchFrames()
	for range b.N {
		for _, limit := range []int{0, 1024} {
			n := newKnockNet(b)
			conf := "<B>\n sequence = udp:7001 udp:7002\n timeout = 3600\n start_command = true\n</B>\n"
			var args []string
			what := "default --max-sources (65536)"
			if limit > 0 {
				args = []string{"--max-sources=" + strconv.Itoa(limit)}
				what = "--max-sources=" + strconv.Itoa(limit)
			}
			p := n.startWith(b, conf, args...)
			pid := p.Pid()
			rss0 := procKB(b, pid, "VmRSS")
			rx0 := n.rxPackets(b)
			n.blast(b, count, knock.UDP, 7001, 0, true)
			time.Sleep(time.Second)
			mark := p.mark()
			p.Signal(syscall.SIGUSR1)
			p.wait(b, mark, "- packets:")
			var status []string
			for _, l := range p.Lines()[mark:] {
				if strings.HasPrefix(l, "- sources") || strings.HasPrefix(l, "- packets") || strings.HasPrefix(l, "- kernel filter passed") {
					status = append(status, l)
				}
			}
			b.Logf("%s: %d frames from distinct sources (%d received on kd0): VmRSS %d kB before, %d kB after, VmHWM %d kB; %s",
				what, count, n.rxPackets(b)-rx0, rss0, procKB(b, pid, "VmRSS"), procKB(b, pid, "VmHWM"), strings.Join(status, "; "))
			p.stop(b)
		}
	}
}

// Package sensortest builds throwaway network namespaces, devices and
// traffic for integration tests against the real kernel, and removes them
// when the test ends, even on failure.
package sensortest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/netns"
	"github.com/tuninetd/tuninetd/tuntap"
)

// RequireNetns skips t unless it can create network namespaces (root).
// With TUNINETD_REQUIRE_NETNS=1 (as CI sets it) a skip is a failure.
func RequireNetns(t testing.TB) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "integration test needs root to create network namespaces"
	} else if _, err := exec.LookPath("ip"); err != nil {
		reason = "integration test needs iproute2's ip command"
	}
	if reason == "" {
		return
	}
	if os.Getenv("TUNINETD_REQUIRE_NETNS") == "1" {
		t.Fatalf("%s (TUNINETD_REQUIRE_NETNS=1)", reason)
	}
	t.Skip(reason)
}

// Namespace is a network namespace made for one test.
type Namespace struct {
	// Name is the name under /run/netns, usable with ip netns exec.
	Name string
	t    testing.TB
}

// NewNamespace creates a namespace with loopback up; t.Cleanup deletes it.
func NewNamespace(t testing.TB) *Namespace {
	t.Helper()
	RequireNetns(t)
	var b [4]byte
	rand.Read(b[:])
	n := &Namespace{Name: "tnd-test-" + hex.EncodeToString(b[:]), t: t}
	if out, err := exec.Command("ip", "netns", "add", n.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", n.Name, err, out)
	}
	t.Cleanup(func() {
		// Kill anything still running inside before deleting.
		if out, err := exec.Command("ip", "netns", "pids", n.Name).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				exec.Command("kill", "-9", pid).Run()
			}
		}
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", n.Name, err, out)
		}
	})
	n.Run("ip", "link", "set", "lo", "up")
	return n
}

// Command returns a command that runs inside the namespace.
func (n *Namespace) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// CommandContext is Command bounded by ctx.
func (n *Namespace) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs a command inside the namespace and fails the test if it fails.
// It returns the combined output.
func (n *Namespace) Run(name string, args ...string) string {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := n.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("in %s: %s %s: %v: %s", n.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Do runs fn on a locked OS thread switched into the namespace (see
// netns.NS.Do). Sockets created by fn stay in the namespace after Do
// returns.
func (n *Namespace) Do(fn func() error) error {
	h, err := netns.Open("/run/netns/" + n.Name)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", n.Name, err)
	}
	defer h.Close()
	return h.Do(fn)
}

// AddTun creates a tun device with addr (CIDR) on it, brings it up and
// attaches a holder that reads and discards, so the device has carrier
// and packets routed to it are visible to capture. The holder is closed and
// the device deleted when the test ends; Close the returned device earlier
// to release it.
func (n *Namespace) AddTun(name, addr string) *tuntap.Device {
	n.t.Helper()
	var dev *tuntap.Device
	if err := n.Do(func() (err error) {
		dev, err = tuntap.Open(name, tuntap.TUN, false)
		return err
	}); err != nil {
		n.t.Fatalf("create tun %s in %s: %v", name, n.Name, err)
	}
	go io.Copy(io.Discard, dev)
	n.t.Cleanup(func() { dev.Close() })
	n.Run("ip", "addr", "add", addr, "dev", name)
	n.Run("ip", "link", "set", name, "up")
	return dev
}

// AddVeth creates a veth pair a <-> b inside the namespace, with addrA on a
// and addrB on b (CIDR, either may be empty), both up.
func (n *Namespace) AddVeth(a, addrA, b, addrB string) {
	n.t.Helper()
	n.Run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
	for _, x := range [][2]string{{a, addrA}, {b, addrB}} {
		if x[1] != "" {
			n.Run("ip", "addr", "add", x[1], "dev", x[0])
		}
		n.Run("ip", "link", "set", x[0], "up")
	}
}

// SendUDP sends count datagrams from inside the namespace to dst
// ("addr:port"). The socket is unconnected so an ICMP port unreachable
// from an earlier datagram cannot turn a later send into ECONNREFUSED and
// swallow it: exactly count datagrams leave.
func (n *Namespace) SendUDP(dst string, count int) {
	n.t.Helper()
	if err := n.Do(func() error {
		raddr, err := net.ResolveUDPAddr("udp", dst)
		if err != nil {
			return err
		}
		network := "udp4"
		if raddr.IP.To4() == nil {
			network = "udp6"
		}
		c, err := net.ListenUDP(network, nil)
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < count; i++ {
			if _, err := c.WriteToUDP([]byte("tuninetd-test"), raddr); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		n.t.Fatalf("send udp to %s in %s: %v", dst, n.Name, err)
	}
}

// SendTCP starts a TCP connection from inside the namespace to dst and
// gives up after timeout (1 s when timeout <= 0, so a SYN into a tun whose
// holder swallows it cannot retry for minutes).
func (n *Namespace) SendTCP(dst string, timeout time.Duration) {
	n.t.Helper()
	if timeout <= 0 {
		timeout = time.Second
	}
	n.Do(func() error {
		c, err := net.DialTimeout("tcp", dst, timeout)
		if err == nil {
			c.Close()
		}
		return nil
	})
}

// Package afpacket is the capture sensor: an AF_PACKET socket bound to one
// interface, with a filter compiled by package bpfc running in the kernel.
//
// # Two sockets, one active at a time
//
// Open creates two packet sockets with protocol 0 (so they capture nothing
// yet), gives the standby one the filter and only then binds it to
// ETH_P_ALL and the interface, so no packet is ever seen unfiltered. The
// socket that does not serve the current mode is parked: its program
// rejects everything before anything is copied or queued. (Binding with
// protocol 0 does not unhook a packet socket: the kernel keeps the old
// protocol, and index 0 would mean every interface.) Mode switches swap
// programs and bindings on the two sockets; no socket is created after
// Open unless the interface comes back with another socket type, and then
// in the network namespace Open ran in.
//
//   - Standby: a plain socket with the filter, read with a blocking recvmsg
//     through Go's netpoller. The first matching packet wakes the capture
//     goroutine at once (no ring, no block-retire timer, so an idle standby
//     adds no kernel timer work), and reaches the sink with its bytes and
//     PACKET_AUXDATA (original length, VLAN tag).
//   - Up: a small TPACKET_V3 ring, read on a tick rather than woken per
//     packet. Each tick reads PACKET_STATISTICS (cleared on read; a full
//     ring turns matching packets into drops, which are still activity),
//     releases every block the kernel handed over and keeps a copy of the
//     newest packet. After a tick that saw nothing the ticks stop and the
//     sensor sleeps until the kernel retires a block (RetireTimeout after
//     the next packet, or two), so an idle up state does not wake the
//     process at all. With AckOnly the ring socket's program is the filter
//     and "TCP with ACK", so in up state only ACK segments refresh
//     activity; standby keeps the plain filter.
//
// Up state's cost is the process's wake-ups, so it is built to wake once
// per tick during a flood, whatever the packet rate (measured: about 10
// context switches a second, where a time.Ticker and a ring socket in Go's
// netpoller took 90-140; see BenchmarkUpCPU). The ring socket stays out of
// the netpoller (it would wake it at every retired block); it sits in a
// private epoll instance next to a timerfd that paces the ticks, and only
// that instance is in the netpoller, with the ring socket enabled once
// (EPOLLONESHOT) while up state is idle and the timerfd armed while it is
// busy. The non-blocking syscalls of a tick are raw syscalls, because the
// runtime's syscall entry wakes its sysmon thread, asleep between ticks.
//
// Activity in up state is reported at the tick that observed it, with
// at = time.Now(): packets sitting in the block the kernel is still filling
// are counted by PACKET_STATISTICS but not readable, so their age is not
// known, and the ring's timestamps are wall clock anyway. A report is
// therefore late by at most one tick (UpTick) and never early, so a stop is
// never brought forward by a clock step.
//
// # DNS rules
//
// With Config.DNS the kernel passes Filter's traffic and DNS
// (dnsq.CaptureFilter; in up state with AckOnly, Filter and "TCP with ACK"
// or DNS, and DNS alone without a Filter, so ACK segments do not all count)
// and every packet that reaches user space is judged: a query for a
// listed name counts (and travels with its Query), any other packet
// counts only if Filter alone accepts it. The kernel's verdict cannot say
// which half of the program matched, so Filter is compiled a second time
// for bpfc's offline target and run by a small interpreter (runBPF, see
// userFilter); an expression that needs the kernel's metadata offline
// (inbound/outbound on Ethernet) is refused at Open. In standby the packet
// is judged in the receive buffer and copied only when it counts. In up
// state the ring copies DNSSnaplen bytes per packet, PACKET_STATISTICS no
// longer proves activity, and each tick walks the packets of the retired
// blocks instead (-f's VM runs until one counts; DNS packets are all
// inspected, for the report). Drops of a full ring count as activity only
// with a Filter: without one they may be nothing but unlisted queries.
// Without DNS rules none of this runs and nothing changes.
//
// # Why the sockets are this package's own
//
// Both sockets are one small type (socket_linux.go) rather than a
// github.com/mdlayher/packet Conn, which was tried as the standby socket
// and measured: first-packet latency was the same (BenchmarkStandbyLatency,
// p50 over 200 trials, median of four alternating runs: 28 µs ours, 26 µs
// packet.Conn, with runs spreading from 21 to 44 µs) and so were idle
// wake-ups (none, both), since both read with recvmsg on a non-blocking
// descriptor in Go's netpoller. It would have replaced little: reads need
// PACKET_AUXDATA and the sender's sockaddr_ll (packet type and protocol
// for the cooked header), which Conn.ReadFrom does not return, so they
// would go through its SyscallConn anyway; the socket is re-bound to a new
// index when the interface is re-created, while Conn binds once, in
// Listen; and the ring socket, which shares filters, parking and binding
// with the standby one, must stay out of the netpoller, which a Conn
// always joins. It would also have added 13 KB of code to the mipsle
// binary. The tests use mdlayher/packet as an independent frame sender.
//
// # Link types
//
// The interface's ARPHRD type picks the framing: Ethernet-framed devices
// (ether, loopback, ieee802) are read with SOCK_RAW as EN10MB; devices
// without a link header (NONE: tun, WireGuard; RAWIP; ip tunnels) with
// SOCK_RAW as RAW; everything else (PPP, ...) with SOCK_DGRAM as LINUX_SLL.
// For the cooked case the filter is compiled for LINUX_SLL, as tcpdump
// shows it, and then rewritten for the kernel, which runs a SOCK_DGRAM
// socket's filter on the network header: absolute and indexed loads move
// back by the 16-byte pseudo header, and the pseudo header's packet type
// and protocol fields become the kernel's SKF_AD_PKTTYPE and
// SKF_AD_PROTOCOL loads. A filter reading other pseudo-header bytes (the
// link-layer address) cannot run in the kernel and is rejected as a
// *bpfc.Error. Packets handed to the sink carry a synthesized 16-byte
// LINUX_SLL header, so the decoder and the pcap writer see what the filter
// saw.
//
// # Interfaces that come and go
//
// A goroutine follows link notifications (package linkwatch, renewed with
// a listing of existing links whenever the subscription ends) and asks the
// capture goroutine to look at the interface whenever one concerns it; the
// look is idempotent (index, ARPHRD type and IFF_UP|IFF_RUNNING through an
// ioctl on the sensor's own socket, so in its namespace). Down and up are
// only logged: the kernel re-hooks a bound socket when its device comes up,
// and the ENETDOWN the socket reports is consumed by the read (standby) or
// by SO_ERROR on the tick (up), so nothing spins. A deleted or renamed
// interface parks both sockets and is logged as "interface <if>
// disappeared, waiting for it to return"; Run keeps running and reports no
// activity, so in up state the idle deadline runs on. When a device of
// that name appears again (or the same one changes ARPHRD type), the
// filter is recompiled if the link type changed and the serving socket is
// bound to the new index. While the interface is missing it is also looked
// for every second, in case notifications do not arrive.
//
// All of it happens in the sensor's network namespace (Config.NetNS): the
// sockets, the link subscription and the sockets re-created for a new
// link type are made through netns.NS.Do, and the lookups go through the
// sensor's own sockets.
//
// # Benchmarks
//
// The package's benchmarks compare the sensor with tcpdump on veth traffic
// inside a throwaway network namespace (root and tcpdump needed, about a
// minute): first-packet latency, idle timer softirqs and process wake-ups,
// and up-state CPU per million packets. They print their numbers with
// b.Log and b.ReportMetric and assert nothing:
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 600s -v ./sensor/afpacket/
package afpacket

import (
	"time"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor/dnsq"
	"github.com/tuninetd/tuninetd/sensor/netns"
)

// Config describes the capture sensor to open.
type Config struct {
	// Interface is the name of the network interface to capture on.
	Interface string
	// Filter selects the packets that count as activity; nil means all.
	Filter *bpfc.Filter
	// AckOnly (-a) makes the up-state program Filter.AndTCPAck(), so only
	// TCP segments with ACK set keep the link up.
	AckOnly bool
	// RingBlocks and RingBlockSize size the up-state ring; zero selects
	// DefaultRingBlocks and DefaultRingBlockSize. The block size is rounded
	// up to a whole number of pages.
	RingBlocks    int
	RingBlockSize int
	// Logf receives the sensor's log messages (interface down, ...); nil
	// discards them.
	Logf func(format string, v ...any)
	// NetNS is the network namespace the interface is in: the sockets,
	// the interface lookups and the link notifications live there, now
	// and when the interface is re-created. Nil means the namespace of the
	// thread calling Open. The caller keeps it open while the sensor runs.
	NetNS *netns.NS
	// DNS, when not Empty, makes DNS queries for its names activity: the
	// kernel passes Filter's traffic and port 53 (dnsq.CaptureFilter), and
	// port-53 packets count when they are a matching query or, with a
	// Filter, when Filter alone accepts them. Without a Filter only
	// matching queries count.
	DNS *dnsq.Rules
}

// Defaults and fixed parameters of the sensor.
const (
	// DefaultRingBlocks is the number of ring blocks in up state.
	DefaultRingBlocks = 4
	// DefaultRingBlockSize is the size of one ring block in bytes. Four
	// 64 KiB blocks hold a few hundred truncated packets: evidence of
	// activity, not a copy of the traffic.
	DefaultRingBlockSize = 64 << 10
	// StandbySnaplen is how much of a standby packet is read, as the
	// original's libpcap handle did.
	StandbySnaplen = 8192
	// UpSnaplen is how much of each packet the kernel copies into the ring
	// in up state: enough for the headers of the newest packet.
	UpSnaplen = 256
	// DNSSnaplen replaces UpSnaplen with DNS rules: enough for the
	// headers and a query's question (a 253-octet name behind IPv6, TCP
	// with options and a VLAN tag).
	DNSSnaplen = 512
	// UpTick is how often the ring is read in up state while traffic
	// flows. It bounds how late activity is reported, and so how late
	// after TTL idle seconds a stop can come (a quarter of a second at
	// most, with the loop's own slack), and is the up state's wake-up rate
	// in a flood.
	UpTick = 100 * time.Millisecond
	// RetireTimeout is the ring's block-retire timeout. While traffic
	// flows, activity is read from PACKET_STATISTICS on each tick; after a
	// quiet tick the sensor sleeps until a block retires, which the kernel
	// does at most two timeouts after the first packet, so this bounds how
	// late the first packet after a lull is noticed. Its kernel timer fires
	// only while the ring exists (up state).
	RetireTimeout = 50 * time.Millisecond
)

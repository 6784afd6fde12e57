// Package nflog is the netfilter log sensor: it binds an NFLOG group
// (iptables -j NFLOG --nflog-group N, nft "log group N") over a
// NETLINK_NETFILTER socket and reports the logged packets as activity.
//
// In standby the kernel is asked to hand over every packet at once and in
// full (queue threshold 1), so the first packet reaches the loop without
// the kernel's default one-second batching and with its bytes. In up state
// it batches (a large threshold, a 100 ms flush timeout) and copies
// only metadata, or with AckOnly the first bytes needed to see TCP flags,
// so wake-ups per second do not grow with the packet rate.
//
// With DNS rules (Config.DNS), logged UDP and TCP packets with port 53 on
// either side count only when they are queries for a listed name; other
// logged packets count as without rules, and up state copies dnsRange
// bytes of each packet so queries can be read. Socket overflows (ENOBUFS)
// and cut datagrams still count: the firewall rule chose that traffic.
//
// The wire format lives in pure files that build everywhere. The socket
// is Linux-only and sits behind a small interface (socket_linux.go), so
// the sensor's conversation with the kernel (the bind's answer, answers
// matched by sequence number, ENOBUFS, mode switches) is unit-tested
// against a scripted kernel as well as against the real one.
package nflog

import (
	"time"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/dnsq"
	"github.com/tuninetd/tuninetd/sensor/netns"
)

// Config selects the group and how activity is counted.
type Config struct {
	// Group is the NFLOG group number (-n).
	Group uint16
	// AckOnly (-a): in up state only TCP segments with ACK set count.
	AckOnly bool
	// Logf receives the sensor's log lines; nil discards them.
	Logf func(format string, v ...any)
	// NetNS is the network namespace whose NFLOG group is bound (rules
	// log into their own namespace's groups); nil means the calling
	// thread's. It may be closed once Open returns.
	NetNS *netns.NS
	// RcvBuf is the socket receive buffer to request in bytes; the kernel
	// doubles it. 0 means 150000, as the original.
	RcvBuf int
	// UpTimeout is how long the kernel may hold a batch in up state
	// (rounded to 1/100 s). 0 means 100 ms: activity is stamped when its
	// batch arrives, so this delay is added to every stop; 100 ms keeps
	// stop within TTL + 0.25 s and wake-ups at most 10/s whatever the
	// packet rate.
	UpTimeout time.Duration
	// UpQThresh is the number of packets after which the kernel sends a
	// batch in up state. It also sends when its 64 KiB batch buffer fills
	// (measured: about 2000 metadata-only messages), which is what bounds
	// batches with the default. 0 means 10000.
	UpQThresh uint32
	// DNS, when not Empty, judges logged DNS: a UDP or TCP packet with
	// port 53 on either side counts only when it is a query for one of
	// its names; other packets count as without it. Up state then copies
	// the first dnsRange bytes of each packet instead of metadata only.
	DNS *dnsq.Rules

	// perPacket keeps the standby configuration in up state: the
	// per-packet reader the benchmark compares against.
	perPacket bool
}

// Defaults and kernel limits.
const (
	defaultRcvBuf    = 150000
	defaultUpTimeout = 100 * time.Millisecond
	defaultUpQThresh = 10000
	// standbyRange copies whole packets (the kernel caps it at 0xffff
	// minus an attribute header), as the original: -w dumps them.
	standbyRange = 0xffff
	// ackRange is enough for an IPv4 header with options or an IPv6
	// header with a small extension header, plus the TCP flags byte.
	ackRange = 128
	// dnsRange is enough for the headers and the question of a query
	// (a 253-octet name behind IPv6 and TCP with options).
	dnsRange = 512
	// standbyBufSiz and upBufSiz are the kernel's per-batch allocation
	// (nlbufsiz). It refuses values below NLMSG_GOODSIZE (< 8 KiB on
	// every page size) or above 128 KiB and silently keeps the old one.
	// The allocator rounds up to a power of two (64 KiB -> 128 KiB
	// datagrams); 128 KiB would halve the wake-ups again (measured) but
	// asks for 256 KiB atomic allocations, a lot on a small router.
	standbyBufSiz = 8192
	upBufSiz      = 65536
)

// modeConfig returns the configuration message putting group into mode
// m. bind adds the bind command, so one message binds and configures.
func (c *Config) modeConfig(m sensor.Mode, bind bool) configMsg {
	msg := configMsg{
		Group:      c.Group,
		HasMode:    true,
		HasTimeout: true,
		HasQThresh: true,
		HasBufSiz:  true,
	}
	if bind {
		msg.Cmd = cmdBind
	}
	if m == sensor.Standby || c.perPacket {
		msg.CopyMode, msg.CopyRange = copyPacket, standbyRange
		msg.Timeout, msg.QThresh, msg.BufSiz = 0, 1, standbyBufSiz
		return msg
	}
	to := c.UpTimeout
	if to <= 0 {
		to = defaultUpTimeout
	}
	msg.Timeout = uint32((to + 5*time.Millisecond) / (10 * time.Millisecond))
	if msg.Timeout == 0 {
		msg.Timeout = 1
	}
	msg.QThresh = c.UpQThresh
	if msg.QThresh == 0 {
		msg.QThresh = defaultUpQThresh
	}
	msg.BufSiz = upBufSiz
	if !c.DNS.Empty() {
		msg.CopyMode, msg.CopyRange = copyPacket, dnsRange
	} else if c.AckOnly {
		msg.CopyMode, msg.CopyRange = copyPacket, ackRange
	} else {
		msg.CopyMode, msg.CopyRange = copyMeta, 0
	}
	return msg
}

// answer is the kernel's reply to one of our requests: an NLMSG_ERROR
// message carrying the request's sequence number, errno 0 acknowledging
// success.
type answer struct {
	Seq   uint32
	Errno int // 0 = success
}

// scanResult is what one received datagram held.
type scanResult struct {
	Packets  int              // NFULNL_MSG_PACKET messages
	Counted  int              // of those, activity: all but DNS that is no matching query
	TCPAcks  int              // of the counted, TCP segments with ACK set or matching queries (when counted)
	Start    logPacket        // first counted packet with a payload, else the first counted
	HasStart bool             // Start is set
	Query    *sensor.DNSQuery // the matching query Start is, if it is one
	Answers  []answer         // answers to configuration requests
	Err      error            // first malformed message, if any
}

// scanDatagram walks a received datagram. countTCPAcks asks for TCP ACK
// segments to be counted (AckOnly in up state).
func scanDatagram(b []byte, countTCPAcks bool) scanResult {
	return scanJudged(b, countTCPAcks, nil, nil)
}

// scanJudged is scanDatagram with DNS rules (nil for none): DNS packets
// are inspected, counted in stats, and counted as activity only when they
// are matching queries, which with countTCPAcks count as ACKs do.
func scanJudged(b []byte, countTCPAcks bool, dns *dnsq.Rules, stats *dnsq.Counters) scanResult {
	var r scanResult
	err := splitMessages(b, func(m nlMessage) bool {
		switch m.Type {
		case msgTypePacket:
			p, err := parsePacket(m.Data)
			if err != nil {
				if r.Err == nil {
					r.Err = err
				}
				return true
			}
			r.Packets++
			var query *sensor.DNSQuery
			if dns != nil {
				// The payload starts at the network header: judge it as
				// raw IP whatever link header the kernel logged.
				view := sensor.Packet{Data: p.Payload, LinkType: bpfc.RAW, OrigLen: len(p.Payload)}
				q, res, isDNS := dns.InspectPort(&view)
				if isDNS {
					stats.Add(res)
					if res != dnsq.Matched {
						return true
					}
					query = &q
				}
			}
			r.Counted++
			if countTCPAcks && (query != nil || tcpACK(p.Payload)) {
				r.TCPAcks++
			}
			if !r.HasStart || (!r.Start.HasPayload && p.HasPayload) {
				r.Start, r.HasStart, r.Query = p, true, query
			}
		case nlmsgError:
			errno, err := ackErrno(m.Data)
			if err != nil {
				if r.Err == nil {
					r.Err = err
				}
				return true
			}
			r.Answers = append(r.Answers, answer{Seq: m.Seq, Errno: errno})
		}
		// NLMSG_DONE ends a batch; NOOP and anything else is skipped.
		return true
	})
	if err != nil && r.Err == nil {
		r.Err = err
	}
	return r
}

// toPacket builds the loop's packet from a logged one, copying its bytes
// out of the receive buffer. With an Ethernet hardware header the packet
// is a frame (EN10MB), else raw IP. now stamps packets the kernel did not
// (it sends no timestamp for OUTPUT-hook packets).
func toPacket(p *logPacket, now time.Time, ifname string) *sensor.Packet {
	out := &sensor.Packet{Time: now, Ifname: ifname, Sensor: sensor.NFLOG}
	if p.HasTime {
		out.Time = p.Time
	}
	if hw := p.linkFrame(); hw != nil {
		out.LinkType = bpfc.EN10MB
		out.Data = make([]byte, 0, len(hw)+len(p.Payload))
		out.Data = append(append(out.Data, hw...), p.Payload...)
		if p.HasVLAN && len(hw) == 14 {
			out.HasVLAN, out.VLANTCI, out.VLANTPID = true, p.VLANTCI, p.VLANProto
		}
	} else {
		out.LinkType = bpfc.RAW
		out.Data = append([]byte(nil), p.Payload...)
	}
	out.OrigLen = len(out.Data)
	return out
}

// ifIndex is the interface the packet came in on, else the one it leaves by.
func (p *logPacket) ifIndex() uint32 {
	if p.InDev != 0 {
		return p.InDev
	}
	return p.OutDev
}

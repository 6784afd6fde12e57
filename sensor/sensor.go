// Package sensor holds what every sensor hands the event loop: the Packet
// that caused activity, the Sink it is reported to, and the Sensor interface
// the loop drives. It also decodes packet headers for log lines and the
// command environment. It knows nothing about commands or state.
package sensor

import (
	"context"
	"time"

	"github.com/tuninetd/tuninetd/bpfc"
)

// Kind names a sensor the way the original's messages and the command
// environment (TUNINETD_SENSOR) do.
type Kind string

// The two sensor kinds.
const (
	Pcap  Kind = "pcap"
	NFLOG Kind = "nflog"
)

// Mode is the configuration the loop asks a sensor to be in.
type Mode int

const (
	// Standby: report the first matching packet as fast as possible, with
	// its bytes, and cost nothing while idle.
	Standby Mode = iota
	// Up: report evidence of activity at a rate independent of the packet
	// rate; with AckOnly only TCP segments with ACK set count.
	Up
)

func (m Mode) String() string {
	if m == Up {
		return "up"
	}
	return "standby"
}

// Packet is one captured packet as the loop sees it.
type Packet struct {
	// Data starts at the link header described by LinkType (for RAW, at
	// the IP header). It is owned by the Packet: sensors copy out of rings.
	Data []byte
	// LinkType tells how Data is framed.
	LinkType bpfc.LinkType
	// OrigLen is the length on the wire; len(Data) may be shorter.
	OrigLen int
	// Time is the capture time (wall clock, for pcap records only: idle
	// accounting never uses it).
	Time time.Time
	// VLANTCI and VLANTPID describe an 802.1Q tag the kernel stripped into
	// metadata; valid when HasVLAN.
	HasVLAN  bool
	VLANTCI  uint16
	VLANTPID uint16
	// Ifname is the interface the packet was seen on, when known.
	Ifname string
	// Sensor is the kind of sensor that saw it.
	Sensor Kind
	// Query is the DNS query that made the packet count as activity (its
	// name is under a --dns-name suffix); nil for every other packet.
	Query *DNSQuery
}

// Sink receives a sensor's reports. Implementations never block: a sensor
// calls Seen from its capture goroutine.
type Sink interface {
	// Seen reports matching traffic observed at time at (a time.Now()
	// reading, so it carries the monotonic clock). p is a packet of the
	// batch when the sensor has its bytes cheaply (always in standby), or
	// nil when the sensor only has evidence of activity (counters, drops).
	// The sink may keep p; the sensor must not reuse it.
	Seen(at time.Time, p *Packet)
}

// Origin is what a sensor watches, in typed fields: the command's
// environment (TUNINETD_IFACE, TUNINETD_NFLOG_GROUP) is formatted from it
// in one place, core's Trigger.
type Origin struct {
	// Iface is the interface the sensor captures on; "" when it has none.
	Iface string
	// NFLOGGroup is the netfilter log group the sensor is bound to;
	// valid when HasNFLOGGroup (group 0 is a group).
	NFLOGGroup    uint16
	HasNFLOGGroup bool
}

// Sensor is a source of activity the loop drives.
type Sensor interface {
	// Kind reports which sensor this is.
	Kind() Kind
	// Run captures until ctx is done, reporting to sink. It returns nil on
	// cancellation and an error only when capture cannot continue.
	Run(ctx context.Context, sink Sink) error
	// SetMode switches between standby and up configuration. It is safe to
	// call from any goroutine and returns without waiting on capture.
	SetMode(m Mode)
	// Origin describes what the sensor watches; the command's
	// environment is built from it.
	Origin() Origin
	// Stats returns lines for the SIGUSR1 report (packets seen, drops, ...).
	Stats() []string
	// Close releases the sensor's sockets. Safe after or instead of Run.
	Close() error
}

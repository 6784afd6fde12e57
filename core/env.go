package core

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tuninetd/tuninetd/sensor"
)

// Env is the set of variables a daemon adds to a command's environment,
// all named with one prefix (TUNINETD_ for tuninetd). The zero Env adds
// nothing and removes nothing.
type Env struct {
	prefix string
	vars   []string // "<prefix><NAME>=<value>", each name once
}

// NewEnv returns an empty Env whose variables are named prefix+name.
func NewEnv(prefix string) Env { return Env{prefix: prefix} }

// Set sets the variable prefix+name to value, replacing an earlier Set of
// the same name, so no name is ever passed twice. execve cannot pass a NUL
// byte: a value holding one is dropped rather than failing the command.
func (e *Env) Set(name, value string) {
	if strings.IndexByte(value, 0) >= 0 || strings.IndexByte(name, 0) >= 0 {
		return
	}
	key := e.prefix + name + "="
	for i, kv := range e.vars {
		if strings.HasPrefix(kv, key) {
			e.vars[i] = key + value
			return
		}
	}
	e.vars = append(e.vars, key+value)
}

// Vars returns the variables as "NAME=value" strings, full names, in the
// order they were first set.
func (e Env) Vars() []string { return e.vars }

// Environ returns the environment a command runs with: base (the daemon's
// own, os.Environ()) without the variables it inherited under the prefix,
// so a stale value from the daemon's environment can never look like
// event data, followed by e's variables.
func (e Env) Environ(base []string) []string {
	env := make([]string, 0, len(base)+len(e.vars))
	for _, kv := range base {
		if e.prefix != "" && strings.HasPrefix(kv, e.prefix) {
			continue
		}
		env = append(env, kv)
	}
	return append(env, e.vars...)
}

// Trigger describes, in typed fields, the event a command runs for. Env
// turns it into variables; a field at its zero value (or whose Has flag is
// false) is left out, so a daemon sets only what it knows.
type Trigger struct {
	// Event is EVENT: start or stop for tuninetd.
	Event string
	// Reason is REASON: packet, idle, signal or exit for tuninetd.
	Reason string
	// Sensor is SENSOR, the kind of sensor whose packet caused the start.
	Sensor sensor.Kind
	// Iface is IFACE: the interface watched or the packet was seen on.
	Iface string
	// NFLOGGroup is NFLOG_GROUP, when HasNFLOGGroup.
	NFLOGGroup    uint16
	HasNFLOGGroup bool
	// TTL is TTL in whole seconds, when HasTTL.
	TTL    time.Duration
	HasTTL bool
	// Family is FAMILY, the IP version: 4 or 6; 0 leaves it out
	// (tuninetd does).
	Family int
	// Src and Dst are SRC and DST, each when valid, printed as glibc's
	// inet_ntop prints them.
	Src, Dst netip.Addr
	// Proto is PROTO, when HasProto: the lower-case protocol name (tcp,
	// udp, icmp, ...) or its decimal number.
	Proto    uint8
	HasProto bool
	// SrcPort and DstPort are SRC_PORT and DST_PORT, when HasPorts.
	SrcPort, DstPort uint16
	HasPorts         bool
	// Idle is IDLE in whole seconds, when HasIdle.
	Idle    time.Duration
	HasIdle bool
	// QName is QNAME, the name of the DNS query that caused the start
	// (as the matcher formatted it, never raw bytes); "" leaves it out.
	QName string
}

// Env returns t's variables, each named prefix+NAME (TUNINETD_EVENT, ...).
func (t Trigger) Env(prefix string) Env {
	e := NewEnv(prefix)
	setString := func(name, v string) {
		if v != "" {
			e.Set(name, v)
		}
	}
	setString("EVENT", t.Event)
	setString("REASON", t.Reason)
	setString("SENSOR", string(t.Sensor))
	if t.HasTTL {
		e.Set("TTL", seconds(t.TTL))
	}
	setString("IFACE", t.Iface)
	if t.HasNFLOGGroup {
		e.Set("NFLOG_GROUP", strconv.Itoa(int(t.NFLOGGroup)))
	}
	if t.Family != 0 {
		e.Set("FAMILY", strconv.Itoa(t.Family))
	}
	if t.Src.IsValid() {
		e.Set("SRC", sensor.FormatAddr(t.Src))
	}
	if t.Dst.IsValid() {
		e.Set("DST", sensor.FormatAddr(t.Dst))
	}
	if t.HasProto {
		e.Set("PROTO", sensor.ProtoKeyword(t.Proto))
	}
	if t.HasPorts {
		e.Set("SRC_PORT", strconv.Itoa(int(t.SrcPort)))
		e.Set("DST_PORT", strconv.Itoa(int(t.DstPort)))
	}
	if t.HasIdle {
		e.Set("IDLE", seconds(t.Idle))
	}
	setString("QNAME", t.QName)
	return e
}

// SetPacket copies from a decoded packet its addresses, transport
// protocol and ports, each only when its header was parsed.
func (t *Trigger) SetPacket(s sensor.Summary) {
	if s.IPVersion != 0 {
		t.Src, t.Dst = s.Src, s.Dst
	}
	t.Proto, t.HasProto = s.Proto, s.HasProto
	t.SrcPort, t.DstPort, t.HasPorts = s.SrcPort, s.DstPort, s.HasPorts
}

// SetQuery copies the name of the DNS query that made a packet count, if
// one did.
func (t *Trigger) SetQuery(q *sensor.DNSQuery) {
	if q != nil {
		t.QName = q.Name
	}
}

// setOrigin copies what a sensor watches: its interface, its NFLOG group.
func (t *Trigger) setOrigin(o sensor.Origin) {
	t.Iface = o.Iface
	t.NFLOGGroup, t.HasNFLOGGroup = o.NFLOGGroup, o.HasNFLOGGroup
}

// seconds formats whole seconds (truncated, never negative).
func seconds(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return strconv.FormatInt(int64(d/time.Second), 10)
}

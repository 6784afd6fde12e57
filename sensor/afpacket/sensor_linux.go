package afpacket

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/dnsq"
	"github.com/tuninetd/tuninetd/sensor/netns"
)

// Sensor is an open capture sensor on one interface. Its methods are safe
// for concurrent use; Run owns the sockets' state once started.
type Sensor struct {
	ifname    string
	filter    *bpfc.Filter
	ackOnly   bool
	logf      func(string, ...any)
	blocks    int
	blockSize int
	// ns is the network namespace the sockets live in: link events are
	// watched there, and sockets re-created there when the link type
	// changes. ownNS: Open opened it (the caller's namespace) and Close
	// closes it.
	ns    *netns.NS
	ownNS bool
	// dns is nil without DNS rules: then nothing is judged in user space.
	dns *dnsq.Rules

	// Owned by the Run goroutine (or by Open and Close around it).
	standbyProg []bpf.RawInstruction
	upProg      []bpf.RawInstruction
	// With DNS rules and -f: -f (and, in up state with AckOnly, "TCP with
	// ACK") for user space, for port-53 packets that are no matching
	// query. nil without -f.
	userStandby *userFilter
	userUp      *userFilter
	ifindex     int
	cooked      bool
	cur         sensor.Mode
	ring        *ring
	gone        bool   // the interface does not exist (or is not ours any more)
	refused     [2]int // index and ARPHRD type of a comeback that failed (logged once)
	running     bool   // last known IFF_UP && IFF_RUNNING, for log lines
	upIdle      bool   // up state, last tick saw nothing: wait for the ring, not the ticks
	ticking     bool   // the ring socket's timerfd is armed
	scratch     []byte // judgeRing's buffer for cooked packets

	mu        sync.Mutex
	sb        *packetSocket // standby: plain socket, filter, read per packet
	rs        *packetSocket // up: TPACKET_V3 ring, up program, read per tick
	want      sensor.Mode
	linkDirty bool // a link event asks for a look at the interface
	started   bool
	closed    bool

	done    chan struct{} // closed by Close
	runDone chan struct{} // closed when Run returns
	once    sync.Once

	// Read by other goroutines.
	linkType atomic.Int32
	curIndex atomic.Int64
	seen     atomic.Uint64
	drops    atomic.Uint64
	dnsStats dnsq.Counters
	upMode   atomic.Bool
	missing  atomic.Bool
	watching atomic.Bool // link notifications are arriving
}

// Open opens the capture sensor on cfg.Interface: it reads the interface's
// link type, compiles the filter for it (errors wrap *bpfc.Error), and
// binds the standby socket, so everything that can fail before running
// fails here.
func Open(cfg Config) (*Sensor, error) {
	if cfg.Interface == "" {
		return nil, errors.New("afpacket: no interface given")
	}
	s := &Sensor{
		ifname:    cfg.Interface,
		filter:    cfg.Filter,
		ackOnly:   cfg.AckOnly,
		logf:      cfg.Logf,
		blocks:    cfg.RingBlocks,
		blockSize: cfg.RingBlockSize,
		ns:        cfg.NetNS,
		dns:       cfg.DNS,
		done:      make(chan struct{}),
		runDone:   make(chan struct{}),
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	if s.dns.Empty() {
		s.dns = nil
	}
	if s.blocks <= 0 {
		s.blocks = DefaultRingBlocks
	}
	if s.blockSize <= 0 {
		s.blockSize = DefaultRingBlockSize
	}
	page := os.Getpagesize()
	s.blockSize = (s.blockSize + page - 1) / page * page

	if s.ns == nil {
		// Sockets re-created later go where Open ran; without a handle
		// (no /proc) the daemon's own namespace is the only one.
		if h, err := netns.Current(); err == nil {
			s.ns, s.ownNS = h, true
		}
	}
	if err := s.open(cfg.Interface); err != nil {
		if s.ownNS {
			s.ns.Close()
		}
		return nil, err
	}
	return s, nil
}

// open is Open after the configuration: it creates the sockets in the
// sensor's namespace and binds the standby one.
func (s *Sensor) open(ifname string) error {
	// The interface's type decides the socket type, so look it up through
	// a throwaway socket in the sensor's network namespace first: the
	// lookup by name happens in the socket's namespace.
	var (
		index   int
		hwtype  uint16
		running bool
	)
	err := s.ns.Do(func() error {
		probe, err := newPacketSocket(unix.SOCK_RAW, "afpacket-probe")
		if err != nil {
			return err
		}
		index, hwtype, running, err = probe.ifInfo(ifname)
		probe.close()
		return err
	})
	if err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("afpacket: interface %s: no such device", ifname)
		}
		return fmt.Errorf("afpacket: interface %s: %w", ifname, err)
	}
	lt, sotype := linkTypeFor(hwtype)
	progs, err := s.programs(lt, sotype == unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	var sb, rs *packetSocket
	if err := s.ns.Do(func() (err error) {
		sb, rs, err = newSocketPair(sotype)
		return err
	}); err != nil {
		return fmt.Errorf("afpacket: interface %s: %w", ifname, err)
	}
	s.sb, s.rs = sb, rs
	s.setPrograms(progs)
	s.setLink(index, lt, sotype == unix.SOCK_DGRAM)
	s.running = running
	// Try the ring once (unbound, so it sees nothing), so a ring size the
	// kernel or the memory limits refuse is an error now, not a surprise
	// at the first start.
	r, err := s.rs.setupRing(s.blocks, s.blockSize, RetireTimeout)
	if err == nil {
		err = s.rs.freeRing(r)
	} else {
		err = fmt.Errorf("ring of %d x %d bytes: %w", s.blocks, s.blockSize, err)
	}
	if err == nil {
		err = s.sb.attach(s.standbyProg)
	}
	if err == nil {
		err = s.sb.bind(index)
	}
	if err != nil {
		s.sb.close()
		s.rs.close()
		return fmt.Errorf("afpacket: interface %s: %w", ifname, err)
	}
	return nil
}

// newSocketPair creates the standby and ring sockets, parked and unbound:
// created with protocol 0 they capture nothing, and every later bind
// happens with a program attached, so nothing is ever seen unfiltered.
func newSocketPair(sotype int) (sb, rs *packetSocket, err error) {
	if sb, err = newPacketSocket(sotype, "afpacket-standby"); err != nil {
		return nil, nil, err
	}
	if rs, err = newRingSocket(sotype); err != nil {
		sb.close()
		return nil, nil, err
	}
	// Auxdata (original length, VLAN tag) is a nicety: without it (seen
	// under qemu-user) packets are still reported.
	sb.control(func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
	})
	err = sb.park()
	if err == nil {
		err = rs.control(func(fd int) error {
			return os.NewSyscallError("setsockopt(PACKET_VERSION)", unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3))
		})
	}
	if err == nil {
		err = rs.park()
	}
	if err != nil {
		sb.close()
		rs.close()
		return nil, nil, err
	}
	return sb, rs, nil
}

// setLink records the interface the sockets are (to be) bound to.
func (s *Sensor) setLink(index int, lt bpfc.LinkType, cooked bool) {
	s.ifindex, s.cooked = index, cooked
	s.curIndex.Store(int64(index))
	s.linkType.Store(int32(lt))
}

func (s *Sensor) lt() bpfc.LinkType { return bpfc.LinkType(s.linkType.Load()) }

// programSet is what one link type needs: the kernel's programs for both
// modes and, with DNS rules and -f, their user-space counterparts.
type programSet struct {
	standby, up         []bpf.RawInstruction
	userStandby, userUp *userFilter
}

// setPrograms adopts programs compiled for the current link type;
// bindActive attaches them.
func (s *Sensor) setPrograms(p programSet) {
	s.standbyProg, s.upProg = p.standby, p.up
	s.userStandby, s.userUp = p.userStandby, p.userUp
}

// programs compiles the standby and up-state programs for a link type.
func (s *Sensor) programs(lt bpfc.LinkType, cooked bool) (p programSet, err error) {
	upSnap := uint32(UpSnaplen)
	if s.dns != nil {
		upSnap = DNSSnaplen
	}
	if p.standby, err = s.program(lt, cooked, false, StandbySnaplen); err != nil {
		return p, err
	}
	if p.up, err = s.program(lt, cooked, s.ackOnly, upSnap); err != nil {
		return p, err
	}
	if s.dns == nil || s.filter == nil {
		return p, nil
	}
	if p.userStandby, err = s.userProgram(s.filter, lt); err != nil {
		return p, err
	}
	p.userUp = p.userStandby
	if s.ackOnly {
		if p.userUp, err = s.userProgram(s.filter.AndTCPAck(), lt); err != nil {
			return p, err
		}
	}
	return p, nil
}

// userProgram compiles f for user space (see userFilter).
func (s *Sensor) userProgram(f *bpfc.Filter, lt bpfc.LinkType) (*userFilter, error) {
	live, err := f.Compile(bpfc.Options{LinkType: lt})
	if err == nil {
		var u *userFilter
		if u, err = newUserFilter(f, lt, live); err == nil {
			return u, nil
		}
	}
	// Not a *bpfc.Error: the expression is fine for the kernel, and its
	// message would speak of savefiles.
	// Offline is bpfc's word for "without the kernel's metadata".
	reason := strings.Replace(strings.TrimPrefix(err.Error(), "bpfc: "), "when reading savefiles", "outside the kernel", 1)
	return nil, fmt.Errorf("afpacket: -f %q cannot be checked in user space as --dns-name needs (link type %s): %s", s.filter, lt, reason)
}

// kernelFilter is the expression the kernel runs: -f (with "TCP with ACK"
// when ack), and with DNS rules DNS besides. nil accepts everything.
func (s *Sensor) kernelFilter(ack bool) (*bpfc.Filter, string, error) {
	f := s.filter
	what := "filter"
	if ack {
		what = "up-state filter (with TCP ACK)"
	}
	if s.dns != nil {
		// With -a but without -f, "TCP with ACK" alone would pass every
		// ACK segment, and without -f only matching queries count: DNS
		// alone. With -f, -f's ACK segments count as usual.
		if ack && f != nil {
			f = f.AndTCPAck()
		}
		df, err := dnsq.CaptureFilter(f)
		if err != nil {
			return nil, "", fmt.Errorf("afpacket: %s with DNS for interface %s: %w", what, s.ifname, err)
		}
		return df, what + " with DNS", nil
	}
	if f == nil && !ack {
		return nil, what, nil
	}
	if f == nil {
		var err error
		if f, err = bpfc.Parse(""); err != nil {
			return nil, "", fmt.Errorf("afpacket: empty filter: %w", err)
		}
	}
	if ack {
		f = f.AndTCPAck()
	}
	return f, what, nil
}

// program compiles the kernel filter (see kernelFilter) for a link type
// with the given accept length.
func (s *Sensor) program(lt bpfc.LinkType, cooked, ack bool, snaplen uint32) ([]bpf.RawInstruction, error) {
	f, what, err := s.kernelFilter(ack)
	if err != nil {
		return nil, err
	}
	if f == nil {
		// Accept everything: "ret #snaplen".
		return []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: snaplen}}, nil
	}
	prog, err := f.Compile(bpfc.Options{LinkType: lt, Snaplen: snaplen})
	if err != nil {
		return nil, fmt.Errorf("afpacket: %s for interface %s (link type %s): %w", what, s.ifname, lt, err)
	}
	if cooked {
		if prog, err = fixCooked(prog); err != nil {
			return nil, fmt.Errorf("afpacket: %s for interface %s: %w", what, s.ifname, &bpfc.Error{Msg: err.Error()})
		}
	}
	return prog, nil
}

// LinkType reports the framing of captured packets (and of the filter).
// It changes only when the interface is re-created as another type.
func (s *Sensor) LinkType() bpfc.LinkType { return s.lt() }

// Kind reports sensor.Pcap.
func (s *Sensor) Kind() sensor.Kind { return sensor.Pcap }

// Origin reports the interface the sensor captures on.
func (s *Sensor) Origin() sensor.Origin { return sensor.Origin{Iface: s.ifname} }

// Stats returns the SIGUSR1 report line.
func (s *Sensor) Stats() []string {
	mode := "standby"
	if s.upMode.Load() {
		mode = "up"
	}
	gone := ""
	if s.missing.Load() {
		gone = " (interface missing)"
	}
	lines := []string{fmt.Sprintf("- pcap sensor: %s (%s)%s, %s: %d packets seen, %d kernel drops, ring %d x %d KiB",
		s.ifname, s.lt(), gone, mode, s.seen.Load(), s.drops.Load(), s.blocks, s.blockSize>>10)}
	if s.dns != nil {
		lines = append(lines, "-- pcap DNS queries: "+s.dnsStats.String())
	}
	return lines
}

// SetMode asks the capture goroutine to switch; it never waits for it.
func (s *Sensor) SetMode(m sensor.Mode) {
	s.mu.Lock()
	s.want = m
	s.mu.Unlock()
	s.poke()
}

// markLinkDirty asks the capture goroutine to look at the interface.
func (s *Sensor) markLinkDirty() {
	s.mu.Lock()
	s.linkDirty = true
	s.mu.Unlock()
	s.poke()
}

// poke wakes the capture goroutine wherever it waits: the standby read and
// the up-state wait (see waitUp) are cut short by a deadline in the past. The
// request is stored before the deadline is set and Run clears the deadline
// before reading the request, so no request is lost.
func (s *Sensor) poke() {
	s.mu.Lock()
	sb, rs := s.sb, s.rs
	s.mu.Unlock()
	sb.setDeadline(time.Unix(1, 0))
	rs.setDeadline(time.Unix(1, 0))
}

// Close stops Run (waiting for it to return) and releases the sockets.
func (s *Sensor) Close() error {
	var err error
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		started := s.started
		s.mu.Unlock()
		close(s.done)
		s.poke()
		if started {
			<-s.runDone
		}
		if s.ring != nil {
			s.rs.park()
			err = s.rs.freeRing(s.ring)
			s.ring = nil
		}
		if e := s.sb.close(); err == nil {
			err = e
		}
		if e := s.rs.close(); err == nil {
			err = e
		}
		if s.ownNS {
			s.ns.Close()
		}
	})
	return err
}

// Run captures until ctx is done or the sensor is closed.
func (s *Sensor) Run(ctx context.Context, sink sensor.Sink) error {
	if run, err := s.claimRun(); !run {
		return err
	}
	defer close(s.runDone)
	stop := context.AfterFunc(ctx, s.poke)
	defer stop()
	defer s.followLinks(ctx)()
	defer s.setTicking(false)

	buf := make([]byte, cookedHdrLen+StandbySnaplen)
	oob := make([]byte, unix.CmsgSpace(auxdataLen))
	for !s.stopped(ctx) {
		s.serveRequests(sink)
		var err error
		if s.ring == nil {
			// Standby (or up without a ring, if it could not be set up).
			s.setTicking(false)
			err = s.readPlain(sink, buf, oob)
		} else {
			err = s.waitUpAndTick(sink)
		}
		if err != nil {
			if s.stopped(ctx) {
				return nil
			}
			return fmt.Errorf("afpacket: capture on %s: %w", s.ifname, err)
		}
	}
	return nil
}

// claimRun marks the sensor as running. It reports false, with an error
// for a second Run, when Run must return at once.
func (s *Sensor) claimRun() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return false, errors.New("afpacket: Run called twice")
	}
	if s.closed {
		return false, nil
	}
	s.started = true
	return true, nil
}

// followLinks watches link notifications on a goroutine of its own until
// the returned function, which waits for it, is called.
func (s *Sensor) followLinks(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.watchLinks(ctx)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// stopped reports whether ctx is done or the sensor closed.
func (s *Sensor) stopped(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-s.done:
		return true
	default:
		return false
	}
}

// serveRequests clears the deadline a poke left, then acts on the
// requests (see poke): a look at the interface, a mode switch. Only the
// current mode's wait is cleared; a stale deadline on the other costs one
// more turn after a switch.
func (s *Sensor) serveRequests(sink sensor.Sink) {
	switch {
	case s.ring != nil:
		s.rs.setDeadline(time.Time{})
	case s.gone:
		// Look again now and then even without link events, in case the
		// subscription is not working.
		s.sb.setDeadline(time.Now().Add(goneRecheck))
	default:
		s.sb.setDeadline(time.Time{})
	}
	s.mu.Lock()
	want, dirty := s.want, s.linkDirty
	s.linkDirty = false
	s.mu.Unlock()
	if dirty || s.gone {
		s.resync()
	}
	if want != s.cur {
		s.switchTo(want, sink)
	}
}

// waitUpAndTick is one turn of up state: tick while traffic flows;
// without traffic, sleep until the kernel retires a block (at most two
// RetireTimeouts after a packet), then go back to ticking. A poke ends
// the wait early and returns nil.
func (s *Sensor) waitUpAndTick(sink sensor.Sink) error {
	s.setTicking(!s.upIdle)
	ev, err := s.rs.waitUp(s.upIdle)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		return err
	}
	if ev&evError != 0 {
		// The interface went down or away: reading SO_ERROR clears the
		// error (else the socket stays readable), then look.
		s.rs.soError()
		s.resync()
	}
	if s.ring != nil {
		s.tick(sink)
	}
	return nil
}

// setTicking starts or stops the up-state ticks (a syscall only when that
// changes).
func (s *Sensor) setTicking(on bool) {
	if on == s.ticking {
		return
	}
	d := time.Duration(0)
	if on {
		d = UpTick
	}
	if err := s.rs.setTicking(d); err != nil {
		s.logf("pcap: %s: %v", s.ifname, err)
		return
	}
	s.ticking = on
}

// goneRecheck is how often a missing interface is looked for without a
// link event.
const goneRecheck = time.Second

// bindActive gives the socket that serves the current mode its program and
// binds it to the interface, then parks the other: the new one first, so
// no packet falls in a gap. While the interface is missing nothing is
// bound.
func (s *Sensor) bindActive() {
	if s.gone {
		return
	}
	on, prog, off := s.sb, s.standbyProg, s.rs
	if s.ring != nil {
		on, prog, off = s.rs, s.upProg, s.sb
	}
	err := on.attach(prog)
	if err == nil {
		err = on.bind(s.ifindex)
	}
	if err != nil {
		s.logf("pcap: cannot bind to %s: %v", s.ifname, err)
	}
	off.park()
}

// switchTo moves the sensor into mode m. Stats shows the new mode once the
// switch is done.
func (s *Sensor) switchTo(m sensor.Mode, sink sensor.Sink) {
	s.cur = m
	s.upIdle = false
	defer func() { s.upMode.Store(s.cur == sensor.Up) }()
	if m == sensor.Up {
		if s.ring != nil {
			return
		}
		r, err := s.rs.setupRing(s.blocks, s.blockSize, RetireTimeout)
		if err != nil {
			s.logf("pcap: cannot set up the capture ring on %s (%v); up state reads packet by packet", s.ifname, err)
			return
		}
		s.rs.ringStats() // count from here
		s.ring = r
		s.bindActive()
		// Packets that matched after the request but before the ring took
		// over are activity too (the goroutine may have been slow to get
		// here); they were not reported one by one.
		// With DNS rules they may be unlisted queries: unread, they
		// count only with -f, like the ring's drops.
		if n := s.sb.drain(); n > 0 {
			s.seen.Add(uint64(n))
			if s.dns == nil || s.filter != nil {
				sink.Seen(time.Now(), nil)
			}
		}
		if _, d, err := s.sb.stats(); err == nil {
			s.drops.Add(d)
		}
		return
	}
	if s.ring == nil {
		return // up state was served by the plain socket: already bound
	}
	r := s.ring
	s.ring = nil
	s.sb.drain() // parked since up state began: nothing new
	s.bindActive()
	if p, d, err := s.rs.ringStats(); err == nil {
		s.seen.Add(p)
		s.drops.Add(d)
	}
	if err := s.rs.freeRing(r); err != nil {
		s.logf("pcap: releasing the capture ring on %s: %v", s.ifname, err)
	}
}

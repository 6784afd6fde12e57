//go:build linux

package nflog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/dnsq"
)

const (
	// readBufSize holds the largest datagram the kernel builds: a batch
	// skb (nlbufsiz, rounded up by the allocator to a power of two) or
	// one packet copied in full. Larger datagrams are detected with
	// MSG_TRUNC and grow the buffer.
	readBufSize = 256 << 10
	maxReadBuf  = 4 << 20
	// bindTimeout bounds the wait for the kernel's answer to the bind.
	bindTimeout = 5 * time.Second
	// noBufsBurst: ENOBUFS less than this apart belong to one burst and
	// are logged once.
	noBufsBurst = 10 * time.Second
	// maxStash bounds the packets kept from before Run starts.
	maxStash = 16
)

// Sensor is a bound NFLOG group. Its methods are safe for concurrent use;
// Run is called once.
type Sensor struct {
	cfg  Config
	sock socket

	mode atomic.Int32 // sensor.Mode the reader interprets packets in

	cfgMu   sync.Mutex        // serializes configuration requests
	applied sensor.Mode       // last configuration sent; guarded by cfgMu
	pending map[uint32]string // request seq -> what it configured; guarded by cfgMu
	closed  atomic.Bool

	stash      [][]byte // datagrams read while waiting for the bind's answer
	earlyNoBuf bool     // an overflow happened then; Run reports it

	// Reader-goroutine state.
	buf        []byte
	lastNoBufs time.Time

	packets   atomic.Uint64
	reads     atomic.Uint64
	noBufs    atomic.Uint64
	truncated atomic.Uint64
	malformed atomic.Uint64
	maxRead   atomic.Int64 // largest datagram, for sizing (benchmark)
	dnsStats  dnsq.Counters
}

// Open creates the netlink socket, sizes its receive buffer, binds the
// group and puts it in standby configuration. A group held by another
// program yields a *BindError matching ErrGroupBusy.
//
// Everything happens in cfg.NetNS: the socket is created there, and the
// bind's answer, such as who holds a busy group, is read there.
func Open(cfg Config) (s *Sensor, err error) {
	err = cfg.NetNS.Do(func() error {
		sock, err := dialNetfilter()
		if err != nil {
			return fmt.Errorf("nflog group %d: open netlink socket: %w", cfg.Group, err)
		}
		s, err = openOn(cfg, sock)
		return err
	})
	return s, err
}

// openOn binds and configures the group on sock, closing it on failure.
func openOn(cfg Config, sock socket) (*Sensor, error) {
	if cfg.DNS.Empty() {
		cfg.DNS = nil
	}
	s := &Sensor{cfg: cfg, sock: sock, pending: make(map[uint32]string), buf: make([]byte, readBufSize)}
	if err := s.open(); err != nil {
		sock.close()
		return nil, err
	}
	return s, nil
}

func (s *Sensor) open() error {
	rcv := s.cfg.RcvBuf
	if rcv <= 0 {
		rcv = defaultRcvBuf
	}
	if err := s.sock.setReadBuffer(rcv); err != nil {
		return fmt.Errorf("nflog group %d: set receive buffer to %d: %w", s.cfg.Group, rcv, err)
	}
	// The kernel doubles the request for its bookkeeping; report what it
	// really granted, as the original did.
	if got, err := s.sock.readBuffer(); err == nil {
		s.logf("NFLOG: adjust nfnl_rcvbufsiz to %d", got)
	}

	// Bind and configure in one request, then read until its answer.
	// Packets may already arrive before the answer; they are kept for Run.
	seq, err := s.send(s.cfg.modeConfig(sensor.Standby, true))
	if err != nil {
		return fmt.Errorf("nflog group %d: send bind request: %w", s.cfg.Group, err)
	}
	errno, err := s.waitAck(seq)
	if err != nil {
		return err
	}
	if errno != 0 {
		return s.bindError(syscall.Errno(errno))
	}
	s.applied = sensor.Standby
	return nil
}

// send issues a configuration request asking for an acknowledgement and
// returns its sequence number. It never waits for the answer (the reader
// matches it), so it cannot deadlock with a blocked receive.
func (s *Sensor) send(c configMsg) (uint32, error) {
	return s.sock.send(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(msgTypeConfig),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: c.marshal(),
	})
}

// waitAck reads until the answer to request seq arrives (before Run, so
// this goroutine is the only reader).
func (s *Sensor) waitAck(seq uint32) (int, error) {
	if err := s.sock.setReadDeadline(time.Now().Add(bindTimeout)); err != nil {
		return 0, fmt.Errorf("nflog group %d: %w", s.cfg.Group, err)
	}
	defer s.sock.setReadDeadline(time.Time{})
	for {
		n, err := s.recv()
		if errors.Is(err, unix.ENOBUFS) {
			// Traffic before Run: Run reports it. The answer may be
			// lost with it; then the deadline ends the wait.
			s.earlyNoBuf = true
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("nflog group %d: waiting for the kernel to bind: %w", s.cfg.Group, err)
		}
		if n > len(s.buf) {
			continue
		}
		r := scanDatagram(s.buf[:n], false)
		if r.Packets > 0 && len(s.stash) < maxStash {
			s.stash = append(s.stash, append([]byte(nil), s.buf[:n]...))
		}
		for _, a := range r.Answers {
			if a.Seq == seq {
				return a.Errno, nil
			}
		}
	}
}

// bindError explains a refused bind. EPERM means either that another
// socket owns the group or that we lack CAP_NET_ADMIN; the group's
// presence in the namespace's instance table tells which.
func (s *Sensor) bindError(errno syscall.Errno) error {
	e := &BindError{Group: s.cfg.Group, Err: errno}
	switch errno {
	case unix.EPERM, unix.EBUSY:
		if portid, ok := groupHolder(s.cfg.Group); ok {
			e.Busy = true
			e.Holder = describePort(portid)
		} else if errno == unix.EPERM {
			e.hint = "binding needs root or CAP_NET_ADMIN"
		}
	case unix.EOPNOTSUPP, unix.ENOENT, unix.EPROTONOSUPPORT:
		e.hint = "no nfnetlink_log in this kernel: load the nfnetlink_log module"
	}
	return e
}

// groupHolder looks the group up in the nfnetlink_log instance table of
// this thread's network namespace and returns the owner's netlink port id.
func groupHolder(group uint16) (uint32, bool) {
	// thread-self: the namespace this (possibly namespace-switched)
	// thread sees, which is the socket's.
	f, err := os.Open("/proc/thread-self/net/netfilter/nfnetlink_log")
	if err != nil {
		if f, err = os.Open("/proc/self/net/netfilter/nfnetlink_log"); err != nil {
			return 0, false
		}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 {
			continue
		}
		g, err1 := strconv.ParseUint(fs[0], 10, 16)
		p, err2 := strconv.ParseUint(fs[1], 10, 32)
		if err1 == nil && err2 == nil && uint16(g) == group {
			return uint32(p), true
		}
	}
	return 0, false
}

// describePort names the owner of a netlink port: a process's first
// netlink socket gets its pid as port id, so a matching process is
// almost certainly the holder.
func describePort(portid uint32) string {
	if portid > 0 && portid < 1<<22 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", portid)); err == nil {
			return fmt.Sprintf("probably %s, pid %d", strings.TrimSpace(string(b)), portid)
		}
	}
	return fmt.Sprintf("netlink port id %d", portid)
}

// recv reads one datagram into s.buf; deadlines and Close interrupt it.
// n is the datagram's full length: n > len(s.buf) means it was cut.
func (s *Sensor) recv() (n int, err error) { return s.sock.recv(s.buf) }

// Kind returns sensor.NFLOG.
func (s *Sensor) Kind() sensor.Kind { return sensor.NFLOG }

// Run reads the group until ctx is done or the sensor is closed,
// reporting one Seen per received batch.
func (s *Sensor) Run(ctx context.Context, sink sensor.Sink) error {
	// A past deadline wakes the blocked receive; the loop then sees ctx.
	stop := context.AfterFunc(ctx, func() { s.sock.setReadDeadline(time.Unix(1, 0)) })
	defer stop()
	if s.earlyNoBuf {
		s.overflow(sink)
	}
	for _, d := range s.stash {
		s.handle(d, sink)
	}
	s.stash, s.earlyNoBuf = nil, false
	for {
		n, err := s.recv()
		if ctx.Err() != nil || s.closed.Load() {
			return nil
		}
		switch {
		case errors.Is(err, unix.ENOBUFS):
			// The kernel dropped messages because the socket queue was
			// full: that is a lot of logged traffic, i.e. activity. The
			// socket stays usable.
			s.overflow(sink)
			continue
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("nflog group %d: receive: %w", s.cfg.Group, err)
		}
		if n > len(s.buf) {
			// Cut datagram: its packets are lost but were activity.
			s.truncated.Add(1)
			now := time.Now()
			sink.Seen(now, nil)
			if n <= maxReadBuf {
				s.buf = make([]byte, n)
			}
			continue
		}
		if int64(n) > s.maxRead.Load() {
			s.maxRead.Store(int64(n))
		}
		s.handle(s.buf[:n], sink)
	}
}

// handle reports one datagram's packets and answers.
func (s *Sensor) handle(b []byte, sink sensor.Sink) {
	up := sensor.Mode(s.mode.Load()) == sensor.Up
	r := scanJudged(b, up && s.cfg.AckOnly, s.cfg.DNS, &s.dnsStats)
	s.reads.Add(1)
	for _, a := range r.Answers {
		s.answered(a)
	}
	if r.Err != nil {
		s.malformed.Add(1)
	}
	if r.Packets == 0 {
		return
	}
	s.packets.Add(uint64(r.Packets))
	if r.Counted == 0 {
		return // DNS only, and no matching query
	}
	now := time.Now()
	switch {
	case !up:
		// Standby: the first packet travels with its bytes so the loop
		// can log and dump it. Leftovers of an up-state batch carry no
		// payload; report them as plain activity.
		var p *sensor.Packet
		if r.HasStart && r.Start.HasPayload {
			p = toPacket(&r.Start, now, s.ifname(r.Start.ifIndex()))
			p.Query = r.Query
		}
		sink.Seen(now, p)
	case !s.cfg.AckOnly || r.TCPAcks > 0:
		sink.Seen(now, nil)
	}
}

// overflow counts an ENOBUFS, logs the original's warning once per burst
// and reports activity.
func (s *Sensor) overflow(sink sensor.Sink) {
	s.noBufs.Add(1)
	now := time.Now()
	if s.lastNoBufs.IsZero() || now.Sub(s.lastNoBufs) >= noBufsBurst {
		s.logf("NFLOG: warning! No enough nfnlbufsiz...")
	}
	s.lastNoBufs = now
	sink.Seen(now, nil)
}

// answered matches the kernel's answer to a configuration request.
func (s *Sensor) answered(a answer) {
	s.cfgMu.Lock()
	what, ok := s.pending[a.Seq]
	delete(s.pending, a.Seq)
	s.cfgMu.Unlock()
	if ok && a.Errno != 0 {
		s.logf("NFLOG: warning! kernel refused the %s configuration of group %d: %v", what, s.cfg.Group, syscall.Errno(a.Errno))
	}
}

// ifname resolves an interface index in the socket's own network
// namespace, only for start packets.
func (s *Sensor) ifname(idx uint32) string {
	if idx == 0 {
		return ""
	}
	return s.sock.ifname(idx)
}

// SetMode switches the kernel-side configuration: per-packet, whole
// packets in standby; batched metadata (or short copies with AckOnly) in
// up state. It sends the request and returns; the reader matches the
// kernel's answer.
func (s *Sensor) SetMode(m sensor.Mode) {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	if s.closed.Load() {
		return
	}
	s.mode.Store(int32(m))
	if m == s.applied {
		return
	}
	seq, err := s.send(s.cfg.modeConfig(m, false))
	if err != nil {
		s.logf("NFLOG: warning! can't switch group %d to %s configuration: %v", s.cfg.Group, m, err)
		return
	}
	s.applied = m
	if len(s.pending) > 64 { // answers lost to ENOBUFS never arrive
		clear(s.pending)
	}
	s.pending[seq] = m.String()
}

// Origin reports the NFLOG group the sensor is bound to.
func (s *Sensor) Origin() sensor.Origin {
	return sensor.Origin{NFLOGGroup: s.cfg.Group, HasNFLOGGroup: true}
}

// Stats returns a line for the SIGUSR1 report.
func (s *Sensor) Stats() []string {
	lines := []string{fmt.Sprintf("-- nflog group %d: %d packets in %d reads, %d ENOBUFS (socket queue overflows), %d truncated, %d malformed, %s configuration",
		s.cfg.Group, s.packets.Load(), s.reads.Load(), s.noBufs.Load(), s.truncated.Load(), s.malformed.Load(), sensor.Mode(s.mode.Load()))}
	if s.cfg.DNS != nil {
		lines = append(lines, fmt.Sprintf("-- nflog group %d DNS queries: %s", s.cfg.Group, s.dnsStats.String()))
	}
	return lines
}

// Close unbinds the group and closes the socket. Closing alone would
// also free the group (the kernel destroys a closed port's instances),
// but an explicit unbind leaves nothing to chance.
func (s *Sensor) Close() error {
	s.cfgMu.Lock()
	if s.closed.Swap(true) {
		s.cfgMu.Unlock()
		return nil
	}
	_, uerr := s.send(configMsg{Group: s.cfg.Group, Cmd: cmdUnbind})
	s.cfgMu.Unlock()
	cerr := s.sock.close()
	if uerr != nil {
		uerr = fmt.Errorf("nflog group %d: unbind: %w", s.cfg.Group, uerr)
	}
	if cerr != nil {
		cerr = fmt.Errorf("nflog group %d: close: %w", s.cfg.Group, cerr)
	}
	return errors.Join(uerr, cerr)
}

func (s *Sensor) logf(format string, v ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, v...)
	}
}

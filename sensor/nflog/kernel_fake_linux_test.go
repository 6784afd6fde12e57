//go:build linux

package nflog

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/sensor"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// fakeKernel is a scripted NETLINK_NETFILTER socket: it numbers requests
// as netlink.Conn does, records them, and hands the sensor whatever
// datagrams and errors the test (or its reply function) queued, with the
// real socket's deadline and close semantics.
type fakeKernel struct {
	// reply, if set, returns the datagrams the kernel sends in reply to
	// request seq (usually its ACK). It runs inside send.
	reply func(seq uint32, c configMsg) [][]byte

	mu       sync.Mutex
	seq      uint32
	sent     []configMsg
	seqs     []uint32
	deadline time.Time
	closed   bool
	changed  chan struct{} // deadline changed or closed
	rx       chan fakeRead
}

// fakeRead is one recv result: a datagram (n is its length unless set,
// for a datagram longer than what is handed over) or an error.
type fakeRead struct {
	b   []byte
	n   int
	err error
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{seq: 1000, changed: make(chan struct{}, 1), rx: make(chan fakeRead, 64)}
}

// deliver queues one datagram for the sensor.
func (k *fakeKernel) deliver(msgs ...[]byte) {
	var d []byte
	for _, m := range msgs {
		d = append(d, m...)
	}
	k.rx <- fakeRead{b: d}
}

// fail queues one recv error.
func (k *fakeKernel) fail(err error) { k.rx <- fakeRead{err: err} }

// requests returns the configuration requests sent so far and their
// sequence numbers.
func (k *fakeKernel) requests() ([]configMsg, []uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]configMsg(nil), k.sent...), append([]uint32(nil), k.seqs...)
}

// waitRequests waits until n requests have been sent.
func (k *fakeKernel) waitRequests(t *testing.T, n int) ([]configMsg, []uint32) {
	t.Helper()
	for deadline := time.Now().Add(sensortest.Patience); ; time.Sleep(time.Millisecond) {
		if sent, seqs := k.requests(); len(sent) >= n || time.Now().After(deadline) {
			if len(sent) != n {
				t.Fatalf("%d requests sent, want %d: %+v", len(sent), n, sent)
			}
			return sent, seqs
		}
	}
}

func (k *fakeKernel) send(m netlink.Message) (uint32, error) {
	if m.Header.Type != netlink.HeaderType(msgTypeConfig) || m.Header.Flags != netlink.Request|netlink.Acknowledge {
		return 0, errors.New("fake kernel: not an acknowledged config request")
	}
	c, err := parseConfig(m.Data)
	if err != nil {
		return 0, err
	}
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return 0, os.ErrClosed
	}
	k.seq++
	seq := k.seq
	k.sent = append(k.sent, c)
	k.seqs = append(k.seqs, seq)
	reply := k.reply
	k.mu.Unlock()
	if reply != nil {
		for _, d := range reply(seq, c) {
			k.deliver(d)
		}
	}
	return seq, nil
}

func (k *fakeKernel) recv(buf []byte) (int, error) {
	for {
		k.mu.Lock()
		closed, deadline := k.closed, k.deadline
		k.mu.Unlock()
		if closed {
			return 0, os.ErrClosed
		}
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			tm := time.NewTimer(d)
			defer tm.Stop()
			timeout = tm.C
		}
		select {
		case r := <-k.rx:
			if r.err != nil {
				return 0, r.err
			}
			n := copy(buf, r.b)
			if r.n > n {
				n = r.n
			}
			return n, nil
		case <-k.changed:
		case <-timeout:
		}
	}
}

func (k *fakeKernel) setReadDeadline(t time.Time) error {
	k.mu.Lock()
	k.deadline = t
	k.mu.Unlock()
	k.poke()
	return nil
}

func (k *fakeKernel) poke() {
	select {
	case k.changed <- struct{}{}:
	default:
	}
}

func (k *fakeKernel) setReadBuffer(n int) error { return nil }
func (k *fakeKernel) readBuffer() (int, error)  { return 300000, nil }
func (k *fakeKernel) ifname(idx uint32) string  { return map[uint32]string{1: "lo", 2: "eth0"}[idx] }

func (k *fakeKernel) close() error {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	k.poke()
	return nil
}

// ackMsg is the kernel's answer to request seq: NLMSG_ERROR with a
// negated errno (0 for success) and the request's header.
func ackMsg(seq uint32, errno syscall.Errno) []byte {
	d := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	return appendMsg(nil, nlmsgError, 0, seq, append(d, make([]byte, nlmsgHdrLen)...))
}

// logMsg is one logged packet as the kernel sends it: sequence number 0.
func logMsg(p logPacket) []byte { return appendMsg(nil, msgTypePacket, 0, 0, encodePacket(p)) }

// ackAll answers every request with success.
func ackAll(seq uint32, c configMsg) [][]byte { return [][]byte{ackMsg(seq, 0)} }

// openFake opens the sensor on k; t.Cleanup closes it.
func openFake(t *testing.T, k *fakeKernel, cfg Config) *Sensor {
	t.Helper()
	s, err := openOn(cfg, k)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var loggedUDP = logPacket{Family: unix.AF_INET, Group: 5, HasHdr: true, HWProtocol: 0x0800, OutDev: 1, HasPayload: true, Payload: udp4}

// The bind's answer is found by its sequence number among answers to
// other requests and log messages (sequence 0) arriving before it; the
// packets logged meanwhile reach the sink once Run starts, with bytes.
func TestConversationBindAckBySequence(t *testing.T) {
	k := newFakeKernel()
	k.reply = func(seq uint32, c configMsg) [][]byte {
		return [][]byte{
			append(logMsg(loggedUDP), ackMsg(seq+7, unix.EPERM)...), // not ours: ignored
			ackMsg(0, unix.EINVAL), // nor is this
			append(logMsg(loggedUDP), ackMsg(seq, 0)...),
		}
	}
	var logs sensortest.Log
	s := openFake(t, k, Config{Group: 5, Logf: logs.Logf})
	sent, _ := k.requests()
	if len(sent) != 1 {
		t.Fatalf("requests %+v, want one bind", sent)
	}
	if c := sent[0]; c.Group != 5 || c.Cmd != cmdBind || c.CopyMode != copyPacket || c.CopyRange != standbyRange ||
		c.QThresh != 1 || c.Timeout != 0 || c.BufSiz != standbyBufSiz {
		t.Errorf("bind request %+v, want bind with the standby configuration", c)
	}
	if got := logs.Lines(); len(got) != 1 || got[0] != "NFLOG: adjust nfnl_rcvbufsiz to 300000" {
		t.Errorf("log %q", got)
	}
	sink := sensortest.NewRecorder(16)
	sensortest.Run(t, s, sink)
	for i := 0; i < 2; i++ {
		rep := sink.Next(t, sensortest.Patience, "packet logged before the bind's answer")
		if rep.Packet == nil || rep.Packet.Ifname != "lo" || len(rep.Packet.Data) != len(udp4) {
			t.Errorf("report %d: %+v", i, rep.Packet)
		}
	}
	k.deliver(logMsg(loggedUDP))
	sink.Next(t, sensortest.Patience, "packet after Run started")
	if st := s.Stats()[0]; !strings.Contains(st, "3 packets in 3 reads") || !strings.Contains(st, "0 malformed") {
		t.Errorf("Stats = %q", st)
	}
}

// A refused bind is Open's error, naming the group and the likely cause.
func TestConversationBindRefused(t *testing.T) {
	k := newFakeKernel()
	k.reply = func(seq uint32, c configMsg) [][]byte { return [][]byte{ackMsg(seq, unix.EOPNOTSUPP)} }
	_, err := openOn(Config{Group: 9}, k)
	var be *BindError
	if !errors.As(err, &be) || be.Group != 9 || !errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, ErrGroupBusy) {
		t.Fatalf("Open: %v, want a BindError for group 9 wrapping EOPNOTSUPP", err)
	}
	if want := "nflog group 9: kernel refused to bind it (no nfnetlink_log in this kernel: load the nfnetlink_log module): operation not supported"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !k.closed {
		t.Error("socket left open after a failed Open")
	}
}

// ENOBUFS is activity: counted, reported, and logged once per burst,
// whether it comes before Run (while waiting for the bind's answer) or in
// it; the socket keeps working.
func TestConversationENOBUFS(t *testing.T) {
	k := newFakeKernel()
	k.reply = func(seq uint32, c configMsg) [][]byte {
		if c.Cmd == cmdBind {
			k.fail(unix.ENOBUFS)
		}
		return [][]byte{ackMsg(seq, 0)}
	}
	var logs sensortest.Log
	s := openFake(t, k, Config{Group: 5, Logf: logs.Logf})
	sink := sensortest.NewRecorder(16)
	sensortest.Run(t, s, sink)
	if rep := sink.Next(t, sensortest.Patience, "overflow before Run"); rep.Packet != nil {
		t.Errorf("overflow report carries a packet")
	}
	k.fail(unix.ENOBUFS)
	sink.Next(t, sensortest.Patience, "overflow in Run")
	k.deliver(logMsg(loggedUDP))
	if rep := sink.Next(t, sensortest.Patience, "packet after the overflows"); rep.Packet == nil {
		t.Error("standby report after overflow has no packet")
	}
	if n := logs.Count("NFLOG: warning! No enough nfnlbufsiz..."); n != 1 {
		t.Errorf("%d overflow warnings for one burst, want 1; log %q", n, logs.Lines())
	}
	if st := s.Stats()[0]; !strings.Contains(st, "1 packets in 1 reads, 2 ENOBUFS") {
		t.Errorf("Stats = %q, want 2 ENOBUFS", st)
	}
}

// Mode switches send the configuration of the new mode (once per change)
// and the reader interprets packets in it; an error answer to a switch is
// logged, matched by sequence among log messages.
func TestConversationModeSwitch(t *testing.T) {
	for _, ackOnly := range []bool{false, true} {
		k := newFakeKernel()
		k.reply = ackAll
		var logs sensortest.Log
		s := openFake(t, k, Config{Group: 5, AckOnly: ackOnly, Logf: logs.Logf})
		sink := sensortest.NewRecorder(16)
		sensortest.Run(t, s, sink)

		k.reply = nil // the test answers the up request
		s.SetMode(sensor.Up)
		s.SetMode(sensor.Up) // no change: nothing sent
		sent, seqs := k.waitRequests(t, 2)
		up := sent[1]
		wantMode, wantRange := uint8(copyMeta), uint32(0)
		if ackOnly {
			wantMode, wantRange = copyPacket, ackRange
		}
		if up.Cmd != cmdNone || up.CopyMode != wantMode || up.CopyRange != wantRange || up.Timeout != 10 ||
			up.QThresh != defaultUpQThresh || up.BufSiz != upBufSiz {
			t.Errorf("AckOnly %v: up request %+v", ackOnly, up)
		}
		// Up state: a batch with the switch's (refused) answer in the
		// middle. Batches are activity without bytes; with AckOnly only
		// TCP segments with ACK count.
		noAck := logPacket{HasHdr: true, HWProtocol: 0x0800, HasPayload: true, Payload: udp4}
		withAck := logPacket{HasHdr: true, HWProtocol: 0x0800, HasPayload: true, Payload: tcp4(0x10, 0)}
		k.deliver(logMsg(noAck), ackMsg(seqs[1], unix.EINVAL), logMsg(noAck))
		mark := logs.Wait(t, 0, "NFLOG: warning! kernel refused the up configuration of group 5: invalid argument")
		if ackOnly {
			sink.ExpectNone(t, 50*time.Millisecond, "up state with AckOnly, no ACK segment")
			k.deliver(logMsg(noAck), logMsg(withAck))
		}
		if rep := sink.Next(t, sensortest.Patience, "up-state batch"); rep.Packet != nil {
			t.Errorf("AckOnly %v: up-state report carries a packet", ackOnly)
		}
		// A late duplicate of that answer is not logged again.
		k.deliver(ackMsg(seqs[1], unix.EINVAL))

		s.SetMode(sensor.Standby)
		sent, seqs = k.waitRequests(t, 3)
		if sb := sent[2]; sb.Cmd != cmdNone || sb.CopyMode != copyPacket || sb.CopyRange != standbyRange || sb.QThresh != 1 {
			t.Errorf("AckOnly %v: standby request %+v", ackOnly, sb)
		}
		k.deliver(ackMsg(seqs[2], 0), logMsg(loggedUDP))
		if rep := sink.Next(t, sensortest.Patience, "standby packet"); rep.Packet == nil {
			t.Errorf("AckOnly %v: standby report without the packet", ackOnly)
		}
		if st := s.Stats()[0]; !strings.HasSuffix(st, "standby configuration") {
			t.Errorf("Stats = %q", st)
		}
		if n := logs.Count("kernel refused"); n != 1 || logs.Len() != mark {
			t.Errorf("AckOnly %v: log %q, want one refusal", ackOnly, logs.Lines())
		}

		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if sent, _ := k.requests(); len(sent) != 4 || sent[3].Cmd != cmdUnbind || sent[3].HasMode {
			t.Errorf("AckOnly %v: requests after Close %+v, want an unbind last", ackOnly, sent)
		}
		s.SetMode(sensor.Up) // after Close: nothing sent
		if sent, _ := k.requests(); len(sent) != 4 {
			t.Errorf("AckOnly %v: SetMode after Close sent %+v", ackOnly, sent[4:])
		}
	}
}

// A datagram longer than the buffer is activity; the buffer grows.
func TestConversationTruncated(t *testing.T) {
	k := newFakeKernel()
	k.reply = ackAll
	s := openFake(t, k, Config{Group: 5})
	sink := sensortest.NewRecorder(16)
	sensortest.Run(t, s, sink)
	k.rx <- fakeRead{b: logMsg(loggedUDP), n: 2 * readBufSize}
	if rep := sink.Next(t, sensortest.Patience, "cut datagram"); rep.Packet != nil {
		t.Error("report for a cut datagram carries a packet")
	}
	big := logMsg(logPacket{HasHdr: true, HWProtocol: 0x0800, HasPayload: true, Payload: make([]byte, 60000)})
	k.deliver(big, big, big, big, big) // more than readBufSize

	if rep := sink.Next(t, sensortest.Patience, "datagram after the buffer grew"); rep.Packet == nil {
		t.Error("no packet after the buffer grew")
	}
	if st := s.Stats()[0]; !strings.Contains(st, "5 packets in 1 reads") || !strings.Contains(st, "1 truncated") {
		t.Errorf("Stats = %q", st)
	}
}

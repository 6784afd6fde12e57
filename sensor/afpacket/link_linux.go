package afpacket

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/sensor/linkwatch"
)

// watchLinks follows link notifications for the interface and asks the
// capture goroutine to look at it whenever one concerns it (by name, or by
// the index it is bound to, which catches renames). The handling is a
// fresh look at the interface, so repeated or reordered events do no harm.
// The subscription ends on any receive error; it is renewed with a listing
// of existing links, since events may have been lost meanwhile.
func (s *Sensor) watchLinks(ctx context.Context) {
	failing := false
	for {
		ch := make(chan linkwatch.Update, 16)
		done := make(chan struct{})
		// The closed channel says that the subscription failed. The
		// subscription's socket is made in the sensor's namespace.
		err := s.ns.Do(func() error {
			return linkwatch.Subscribe(linkwatch.Config{ListExisting: true}, ch, done)
		})
		if err != nil {
			close(done)
			if !failing {
				s.logf("pcap: cannot watch link changes of %s (%v); checking it every %v while it is missing", s.ifname, err, goneRecheck)
				failing = true
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
			continue
		}
		failing = false
		s.watching.Store(true)
		s.markLinkDirty() // whatever happened while not subscribed
		ended := !s.follow(ctx, ch)
		s.watching.Store(false)
		if ended {
			close(done)
			for range ch {
				// Let the receiving goroutine finish its send and exit.
			}
			return
		}
		close(done)
		for range ch {
		}
		// Do not spin if the subscription keeps failing.
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// follow handles one subscription's events; false means ctx ended.
func (s *Sensor) follow(ctx context.Context, ch <-chan linkwatch.Update) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case u, ok := <-ch:
			if !ok {
				return true
			}
			if u.Name == s.ifname || int64(u.Index) == s.curIndex.Load() {
				s.markLinkDirty()
			}
		}
	}
}

// resync looks at the interface and brings the sockets in line: unbind
// when it went away, re-bind (recompiling for a new link type) when it came
// back, and log up/down changes. It runs on the capture goroutine.
func (s *Sensor) resync() {
	idx, hwtype, running, err := s.sb.ifInfo(s.ifname)
	if err != nil {
		if !errors.Is(err, unix.ENODEV) {
			s.logf("pcap: looking at interface %s: %v", s.ifname, err)
			return
		}
		if !s.gone {
			s.setGone()
			s.logf("pcap: interface %s disappeared, waiting for it to return", s.ifname)
		}
		return
	}
	if s.gone || idx != s.ifindex {
		if !s.gone {
			// Deleted and re-created between two looks.
			s.setGone()
			s.logf("pcap: interface %s disappeared, waiting for it to return", s.ifname)
		}
		if s.refused == [2]int{idx, int(hwtype)} {
			return // said so already; wait for the next change
		}
		if err := s.relink(idx, hwtype); err != nil {
			s.refused = [2]int{idx, int(hwtype)}
			s.logf("pcap: interface %s is back but cannot be captured: %v", s.ifname, err)
			return
		}
		s.refused = [2]int{}
		s.gone = false
		s.missing.Store(false)
		s.running = running
		state := "up"
		if !running {
			state = "down"
		}
		s.logf("pcap: interface %s is back (index %d, link type %s, %s), capturing again", s.ifname, idx, s.lt(), state)
		return
	}
	if lt, sotype := linkTypeFor(hwtype); lt != s.lt() || (sotype == unix.SOCK_DGRAM) != s.cooked {
		// Same device, new type (TUNSETLINK while it is down).
		if err := s.relink(idx, hwtype); err != nil {
			s.setGone()
			s.refused = [2]int{idx, int(hwtype)}
			s.logf("pcap: interface %s changed to link type %s and cannot be captured: %v", s.ifname, lt, err)
			return
		}
		s.logf("pcap: interface %s changed to link type %s, capturing again", s.ifname, lt)
	}
	if running != s.running {
		s.running = running
		if running {
			s.logf("pcap: interface %s is up", s.ifname)
		} else {
			s.logf("pcap: interface %s is down, capture resumes when it comes back up", s.ifname)
		}
	}
}

// setGone parks both sockets (a renamed interface still exists, and a
// socket bound to it would capture there; a deleted one has unhooked them
// already) and marks the interface missing.
func (s *Sensor) setGone() {
	s.gone = true
	s.missing.Store(true)
	s.sb.park()
	s.rs.park()
}

// relink adopts a re-created interface: same link type, re-bind by its new
// index; another link type, recompile both programs (and, between cooked
// and not, re-create the sockets in the sensor's network namespace).
func (s *Sensor) relink(idx int, hwtype uint16) error {
	lt, sotype := linkTypeFor(hwtype)
	cooked := sotype == unix.SOCK_DGRAM
	if lt != s.lt() || cooked != s.cooked {
		progs, err := s.programs(lt, cooked)
		if err != nil {
			return err
		}
		if cooked != s.cooked {
			if err := s.replaceSockets(sotype); err != nil {
				return err
			}
		}
		s.setPrograms(progs) // bindActive attaches them
	}
	s.setLink(idx, lt, cooked)
	s.gone = false
	s.bindActive()
	return nil
}

// replaceSockets swaps in a new socket pair of another type, keeping the
// mode: the ring moves to the new ring socket.
func (s *Sensor) replaceSockets(sotype int) error {
	var sb, rs *packetSocket
	if err := s.ns.Do(func() (err error) {
		sb, rs, err = newSocketPair(sotype)
		return err
	}); err != nil {
		return fmt.Errorf("new sockets: %w", err)
	}
	wasUp := s.ring != nil
	if wasUp {
		s.rs.freeRing(s.ring)
		s.ring = nil
	}
	s.mu.Lock()
	oldSB, oldRS := s.sb, s.rs
	s.sb, s.rs = sb, rs
	s.mu.Unlock()
	s.ticking = false // the new ring socket's timerfd is not armed
	oldSB.close()
	oldRS.close()
	if wasUp {
		r, err := s.rs.setupRing(s.blocks, s.blockSize, RetireTimeout)
		if err != nil {
			s.logf("pcap: cannot set up the capture ring on %s (%v); up state reads packet by packet", s.ifname, err)
		} else {
			s.ring = r
		}
	}
	return nil
}

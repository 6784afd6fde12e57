package tuntap

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/sensor/netns"
)

// HolderConfig describes the device a Holder keeps alive.
type HolderConfig struct {
	// Name is the interface name, e.g. "tun0".
	Name string
	// Mode is TUN or TAP.
	Mode Mode
	// Packet, when set, is called on the reading goroutine with every
	// packet read from the device. b is reused after Packet returns.
	Packet func(b []byte)
	// Lost, when set, is called on the reading goroutine when reading fails
	// while the device is held (it was deleted under us). The holder then
	// holds nothing; the next Hold attaches again, re-creating the device.
	Lost func(err error)
	// Logf receives one line per event (holding, released, busy, lost).
	// Nil discards them.
	Logf func(format string, v ...any)
	// Retry, when positive, makes a Hold that finds the device busy keep
	// trying every Retry in the background until the device is free (then
	// it is held), or Release, Hold or Close is called. Zero: only the
	// next Hold tries again.
	Retry time.Duration
	// NetNS is the network namespace the device is (or is created) in;
	// nil means the namespace of the thread calling Hold and Close. The
	// caller keeps it open while the Holder is in use.
	NetNS *netns.NS
}

// Holder keeps a tun or tap device attached so the device has carrier: a
// tun/tap device with no reader drops everything routed to it before any
// capture socket sees it. Packets read are discarded (after Packet).
//
// Holding can be given up (Release) so that another process, such as the
// VPN that tuninetd starts, can attach: a non-multiqueue device takes one
// reader only. Hold takes it again.
//
// Device lifetime: when the device exists, the holder only attaches to it
// and never changes or deletes it. When the device does not exist, the
// first Hold creates it, and the holder owns it: on Release it is made
// persistent, so it survives without a reader and keeps its ifindex,
// addresses and routes (the capture sensor and the VPN rely on them); on
// Close it is deleted again (persistence cleared, last descriptor closed),
// unless another process holds it then, in which case it is left in place.
//
// Hold and Close attach in HolderConfig.NetNS, by default in the network
// namespace of the calling thread.
//
// The methods are safe for concurrent use.
type Holder struct {
	cfg HolderConfig

	// op serialises Hold, Release and Close, which wait for the reader
	// and the retrier; neither of those takes op.
	op sync.Mutex
	// retry is the background attach loop after a busy Hold, nil when
	// none runs. Guarded by op.
	retry *retrier

	// mu guards the fields below; the reader takes it when it loses the
	// device, so nothing holding mu waits for the reader.
	mu        sync.Mutex
	dev       *Device       // nil while not held
	done      chan struct{} // closed when dev's reader has returned
	ours      bool          // the holder created the device
	persisted bool          // the holder made its own device persistent
	index     uint32        // ifindex of the device the holder created
	closed    bool
}

// NewHolder checks cfg and returns a Holder that holds nothing yet: call
// Hold.
func NewHolder(cfg HolderConfig) (*Holder, error) {
	if cfg.Mode != TUN && cfg.Mode != TAP {
		return nil, fmt.Errorf("tuntap: unknown mode %d", cfg.Mode)
	}
	if err := checkName(cfg.Name); err != nil {
		return nil, err
	}
	return &Holder{cfg: cfg}, nil
}

// Name returns the interface name.
func (h *Holder) Name() string { return h.cfg.Name }

// Mode returns TUN or TAP.
func (h *Holder) Mode() Mode { return h.cfg.Mode }

// Held reports whether the holder is attached to the device now.
func (h *Holder) Held() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dev != nil
}

func (h *Holder) logf(format string, v ...any) {
	if h.cfg.Logf != nil {
		h.cfg.Logf(format, v...)
	}
}

// Hold attaches to the device, creating it if it does not exist, and
// starts reading from it. Holding an already held device does nothing.
//
// When another process holds the device, Hold logs that and returns an
// error wrapping ErrBusy; the holder goes on without the device and the
// next Hold tries again (or the background retry, see
// HolderConfig.Retry). Callers that only want the device when it is free
// ignore errors.Is(err, ErrBusy). Other errors (no CAP_NET_ADMIN, a
// non-tun device of that name) are returned without logging.
func (h *Holder) Hold() error {
	h.op.Lock()
	defer h.op.Unlock()
	h.stopRetry()
	h.mu.Lock()
	closed, held := h.closed, h.dev != nil
	h.mu.Unlock()
	if closed {
		return fmt.Errorf("tuntap: hold %s: holder is closed", h.cfg.Name)
	}
	if held {
		return nil // the retrier got it, or it was held already
	}
	fd, sock, err := h.openInNetns()
	if err != nil {
		return err
	}
	persistent, err := setIFF(fd, h.cfg.Name, h.cfg.Mode)
	if err != nil {
		if !errors.Is(err, ErrBusy) {
			closeFDs(fd, sock)
			return err
		}
		h.logf("%s device %s is held by another process, going on without holding it", h.cfg.Mode, h.cfg.Name)
		if h.cfg.Retry <= 0 {
			closeFDs(fd, sock)
			return err
		}
		// fd and sock belong to the device's network namespace; the
		// retrier keeps using them, so it attaches there too.
		r := &retrier{stop: make(chan struct{}), done: make(chan struct{})}
		h.retry = r
		go h.retryLoop(r, fd, sock)
		return err
	}
	idx := ifindex(sock, h.cfg.Name)
	closeFDs(-1, sock)
	h.install(newDevice(fd, h.cfg.Name, h.cfg.Mode), persistent, idx)
	return nil
}

// openInNetns opens the clone device and a control socket in the
// holder's network namespace: the namespace a TUNSETIFF on the clone
// descriptor looks up and creates the device in, and the one the socket's
// index lookups see, is the one they were opened in.
func (h *Holder) openInNetns() (fd, sock int, err error) {
	err = h.cfg.NetNS.Do(func() error {
		if fd, err = openClone(); err != nil {
			return err
		}
		sock = ctlSocket()
		return nil
	})
	if err != nil {
		return -1, -1, err
	}
	return fd, sock, nil
}

// closeFDs closes the descriptors that are not -1.
func closeFDs(fds ...int) {
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// install makes dev the held device and starts its reader.
func (h *Holder) install(dev *Device, persistent bool, idx uint32) {
	h.mu.Lock()
	switch {
	case !persistent:
		// Nobody else keeps a non-persistent device without a reader:
		// we just created it.
		h.ours, h.persisted, h.index = true, false, idx
	case h.ours && h.persisted && idx != 0 && idx == h.index:
		// Our own device, persistent since the last Release.
	default:
		h.ours, h.persisted, h.index = false, false, 0
	}
	done := make(chan struct{})
	h.dev, h.done = dev, done
	h.mu.Unlock()
	go h.read(dev, done)
	if !persistent {
		h.logf("Holding %s device %s (created it)", h.cfg.Mode, h.cfg.Name)
	} else {
		h.logf("Holding %s device %s", h.cfg.Mode, h.cfg.Name)
	}
}

// retrier is a running background attach loop.
type retrier struct {
	stop chan struct{} // closed to end the loop
	done chan struct{} // closed by the loop when it has ended
}

// retryLoop tries TUNSETIFF on the clone descriptor fd every Retry until
// it succeeds (the device is then held), fails otherwise, or r is stopped.
// It owns fd and sock.
func (h *Holder) retryLoop(r *retrier, fd, sock int) {
	defer close(r.done)
	t := time.NewTicker(h.cfg.Retry)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			closeFDs(fd, sock)
			return
		case <-t.C:
		}
		persistent, err := setIFF(fd, h.cfg.Name, h.cfg.Mode)
		if errors.Is(err, ErrBusy) {
			continue
		}
		if err != nil {
			closeFDs(fd, sock)
			h.logf("Stopped waiting for %s device %s: %v", h.cfg.Mode, h.cfg.Name, err)
			return
		}
		idx := ifindex(sock, h.cfg.Name)
		closeFDs(-1, sock)
		h.install(newDevice(fd, h.cfg.Name, h.cfg.Mode), persistent, idx)
		return
	}
}

// stopRetry ends the background attach loop, if any, and waits for it.
// The caller holds op.
func (h *Holder) stopRetry() {
	if h.retry == nil {
		return
	}
	close(h.retry.stop)
	<-h.retry.done
	h.retry = nil
}

// read discards packets until dev is closed or fails.
func (h *Holder) read(dev *Device, done chan struct{}) {
	defer close(done)
	// Without IFF_VNET_HDR a packet is at most the MTU (<= 65535) plus
	// an Ethernet header with a VLAN tag on tap.
	buf := make([]byte, 65535+18)
	for {
		n, err := dev.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return // Release or Close
			}
			h.lose(dev, err)
			return
		}
		if h.cfg.Packet != nil {
			h.cfg.Packet(buf[:n])
		}
	}
}

// lose handles a read error on dev: the device was deleted (EBADFD) or
// broke. The reader calls it, so it must not wait for the reader.
func (h *Holder) lose(dev *Device, err error) {
	h.mu.Lock()
	current := h.dev == dev
	if current {
		h.dev = nil
		// A re-created device is somebody else's unless Hold creates it.
		h.ours, h.persisted, h.index = false, false, 0
	}
	h.mu.Unlock()
	if !current {
		return // Release or Close got there first
	}
	dev.Close()
	h.logf("Lost %s device %s (%v), not holding it", h.cfg.Mode, h.cfg.Name, err)
	if h.cfg.Lost != nil {
		h.cfg.Lost(fmt.Errorf("tuntap: read %s: %w", h.cfg.Name, err))
	}
}

// detach takes the held device away from the reader; the caller closes it
// and waits on the returned channel. It returns nil when nothing is held.
func (h *Holder) detach() (*Device, chan struct{}, bool, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	dev, done := h.dev, h.done
	h.dev, h.done = nil, nil
	return dev, done, h.ours, h.persisted
}

// Release detaches from the device so another process can attach. It
// returns when the descriptor is closed. A device the holder created is
// made persistent first so that it survives. Releasing a device that is not
// held does nothing except ending a background retry (HolderConfig.Retry).
//
// The descriptor is close-on-exec, but a child forked at the same moment
// keeps it until it execs: release before starting a command, not while
// another goroutine starts one.
func (h *Holder) Release() error {
	h.op.Lock()
	defer h.op.Unlock()
	h.stopRetry()
	h.mu.Lock()
	dev, ours, persisted := h.dev, h.ours, h.persisted
	h.mu.Unlock()
	if dev == nil {
		return nil
	}
	var perr error
	if ours && !persisted {
		perr = dev.setPersist(true)
		if perr == nil {
			h.mu.Lock()
			h.persisted = true
			h.mu.Unlock()
		}
	}
	dev, done, _, _ := h.detach()
	if dev == nil {
		return nil // the reader lost it meanwhile, and logged that
	}
	dev.Close()
	<-done
	h.logf("Released %s device %s", h.cfg.Mode, h.cfg.Name)
	if perr != nil {
		return fmt.Errorf("tuntap: release %s: the device will disappear: %w", h.cfg.Name, perr)
	}
	return nil
}

// Close releases the device for good. A device the holder created is
// deleted; if another process holds it at that moment it is left in place
// (persistent). Close is idempotent.
func (h *Holder) Close() error {
	h.op.Lock()
	defer h.op.Unlock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	h.stopRetry()

	dev, done, ours, persisted := h.detach()
	if dev == nil && ours && persisted {
		// Released earlier; attach once more to undo the persistence,
		// unless somebody else has it now or it is another device.
		var d *Device
		var persistent bool
		err := h.cfg.NetNS.Do(func() (err error) {
			d, persistent, err = attach(h.cfg.Name, h.cfg.Mode)
			return err
		})
		switch {
		case errors.Is(err, ErrBusy):
			h.logf("%s device %s is held by another process, leaving it in place", h.cfg.Mode, h.cfg.Name)
			return nil
		case err != nil:
			return fmt.Errorf("tuntap: close %s: %w", h.cfg.Name, err)
		}
		sock := -1
		h.cfg.NetNS.Do(func() error { sock = ctlSocket(); return nil })
		idx := ifindex(sock, h.cfg.Name)
		closeFDs(-1, sock)
		if persistent && idx != h.index {
			d.Close() // somebody else's device now
			return nil
		}
		dev = d
	}
	if dev == nil {
		return nil
	}
	var err error
	if ours && persisted {
		err = dev.setPersist(false)
	}
	cerr := dev.Close()
	if done != nil {
		<-done
	}
	if err == nil && cerr != nil {
		err = fmt.Errorf("tuntap: close %s: %w", h.cfg.Name, cerr)
	}
	return err
}

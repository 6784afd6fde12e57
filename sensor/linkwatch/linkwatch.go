// Package linkwatch follows the kernel's link notifications (rtnetlink
// RTM_NEWLINK and RTM_DELLINK): which interfaces appear, change and go.
// The capture sensor re-binds when its interface comes back; tuninetd
// --wait-iface waits for its interface to appear at all.
//
// It decodes only what those callers read (index, name, flags) from the
// ifinfomsg header and the IFLA_IFNAME attribute, over
// github.com/mdlayher/netlink, instead of a general rtnetlink library
// whose link decoder for every kind of link costs a router about 250 KB
// of flash.
//
// Facts callers rely on: tun devices report operstate "unknown", so look
// at IFF_UP|IFF_LOWER_UP; RTM_NEWLINK repeats for every change, so
// handling must be idempotent; a receive error (ENOBUFS after a burst)
// means notifications were lost: open a new Watcher with ListExisting.
//
// With Config.Addresses it also reports address changes (RTM_NEWADDR and
// RTM_DELADDR, IPv4 and IPv6), decoding the ifaddrmsg header and the
// IFA_LOCAL or IFA_ADDRESS attribute, for a daemon that follows its
// device's addresses.
package linkwatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Update is one link notification, or one link of the ListExisting dump.
type Update struct {
	Index   int    // the interface index
	Name    string // the interface name; "" when the message has none
	Flags   uint32 // IFF_* flags (IFF_UP, IFF_LOWER_UP, ...)
	Deleted bool   // RTM_DELLINK: the link is gone; RTM_DELADDR: the address
	// Prefix is the address (and prefix length) of an address
	// notification (Config.Addresses) or of an Addrs listing; invalid for
	// a link. Name is "" then.
	Prefix netip.Prefix
}

// Config says where and how to watch.
type Config struct {
	// NetNS is a file descriptor of the network namespace to watch; 0
	// means the calling thread's.
	NetNS int
	// ListExisting makes the first updates a listing of the links that
	// exist already, so nothing that happened before Open is missed.
	ListExisting bool
	// Failed, if set, is told why Subscribe's subscription ended other
	// than by done being closed (notifications lost: ENOBUFS).
	Failed func(error)
	// Addresses adds the notifications of addresses added to and removed
	// from interfaces (Update.Addr). ListExisting still lists links only.
	Addresses bool
}

// Watcher receives the link notifications of one network namespace. One
// goroutine calls Receive; Close may be called from any.
type Watcher struct {
	c      *netlink.Conn
	closed atomic.Bool
}

// Open subscribes to link notifications (and asks for the listing of the
// existing links when cfg.ListExisting).
func Open(cfg Config) (*Watcher, error) {
	groups := uint32(1 << (unix.RTNLGRP_LINK - 1))
	if cfg.Addresses {
		groups |= 1<<(unix.RTNLGRP_IPV4_IFADDR-1) | 1<<(unix.RTNLGRP_IPV6_IFADDR-1)
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{
		Groups: groups,
		NetNS:  cfg.NetNS,
	})
	if err != nil {
		return nil, fmt.Errorf("linkwatch: %w", err)
	}
	if cfg.ListExisting {
		_, err := c.Send(netlink.Message{
			Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request | netlink.Dump},
			Data:   make([]byte, unix.SizeofIfInfomsg), // AF_UNSPEC: every link
		})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("linkwatch: list links: %w", err)
		}
	}
	return &Watcher{c: c}, nil
}

// Receive waits for the next notifications. It returns an error when
// notifications were lost (ENOBUFS) or the Watcher was closed
// (ErrClosed); either way this Watcher is done.
func (w *Watcher) Receive() ([]Update, error) {
	for {
		msgs, err := w.c.Receive()
		if err != nil {
			if w.closed.Load() {
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("linkwatch: %w", err)
		}
		var us []Update
		for _, m := range msgs {
			if u, ok := parse(m); ok {
				us = append(us, u)
			}
		}
		if len(us) > 0 {
			return us, nil
		}
	}
}

// ErrClosed is Receive's error after Close.
var ErrClosed = errors.New("linkwatch: closed")

// Close ends the subscription; a Receive waiting returns ErrClosed.
func (w *Watcher) Close() error {
	w.closed.Store(true)
	return w.c.Close()
}

// parse decodes an RTM_NEWLINK or RTM_DELLINK message: struct ifinfomsg
// (family, pad, type, index, flags, change; host byte order) and then
// attributes.
func parse(m netlink.Message) (Update, bool) {
	t := m.Header.Type
	if t == unix.RTM_NEWADDR || t == unix.RTM_DELADDR {
		return parseAddr(m)
	}
	if t != unix.RTM_NEWLINK && t != unix.RTM_DELLINK || len(m.Data) < unix.SizeofIfInfomsg {
		return Update{}, false
	}
	u := Update{
		Index:   int(int32(binary.NativeEndian.Uint32(m.Data[4:8]))),
		Flags:   binary.NativeEndian.Uint32(m.Data[8:12]),
		Deleted: t == unix.RTM_DELLINK,
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[unix.SizeofIfInfomsg:])
	if err != nil {
		return u, true
	}
	for ad.Next() {
		if ad.Type() == unix.IFLA_IFNAME {
			u.Name = ad.String()
		}
	}
	return u, true
}

// parseAddr decodes an RTM_NEWADDR or RTM_DELADDR message: struct
// ifaddrmsg (family, prefix length, flags, scope; index in host byte
// order) and then attributes. IFA_LOCAL is the interface's own address
// where both are present (point-to-point: IFA_ADDRESS is the peer).
func parseAddr(m netlink.Message) (Update, bool) {
	const ifaddrmsgLen = 8
	if len(m.Data) < ifaddrmsgLen {
		return Update{}, false
	}
	family := m.Data[0]
	u := Update{
		Index:   int(int32(binary.NativeEndian.Uint32(m.Data[4:8]))),
		Deleted: m.Header.Type == unix.RTM_DELADDR,
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[ifaddrmsgLen:])
	if err != nil {
		return Update{}, false
	}
	bits := int(m.Data[1])
	want := 16
	if family == unix.AF_INET {
		want = 4
	}
	var local, addr []byte
	for ad.Next() {
		switch ad.Type() {
		case unix.IFA_LOCAL:
			local = ad.Bytes()
		case unix.IFA_ADDRESS:
			addr = ad.Bytes()
		}
	}
	if len(local) == want {
		addr = local
	}
	a, ok := netip.AddrFromSlice(addr)
	if !ok || len(addr) != want {
		return Update{}, false
	}
	if bits > a.BitLen() {
		return Update{}, false
	}
	u.Prefix = netip.PrefixFrom(a, bits)
	return u, true
}

// Links lists the links of the network namespace (cfg.NetNS; the other
// fields are ignored), in the kernel's order.
func Links(cfg Config) ([]Update, error) {
	return dump(cfg, unix.RTM_GETLINK, unix.SizeofIfInfomsg)
}

// Addrs lists the IPv4 and IPv6 addresses of the network namespace
// (cfg.NetNS; the other fields are ignored): Index and Prefix of each.
func Addrs(cfg Config) ([]Update, error) {
	return dump(cfg, unix.RTM_GETADDR, 8) // struct ifaddrmsg, AF_UNSPEC
}

// dump asks for a listing of typ with an all-zero request header of
// hdrLen bytes and decodes the answer.
func dump(cfg Config, typ netlink.HeaderType, hdrLen int) ([]Update, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: cfg.NetNS})
	if err != nil {
		return nil, fmt.Errorf("linkwatch: %w", err)
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, hdrLen),
	})
	if err != nil {
		return nil, fmt.Errorf("linkwatch: dump: %w", err)
	}
	var us []Update
	for _, m := range msgs {
		if u, ok := parse(m); ok {
			us = append(us, u)
		}
	}
	return us, nil
}

// Subscribe delivers link updates to ch from a goroutine of its own until
// done is closed or receiving fails (see Config.Failed); then it closes
// ch. Whoever closes done must keep reading ch until it is closed.
func Subscribe(cfg Config, ch chan<- Update, done <-chan struct{}) error {
	w, err := Open(cfg)
	if err != nil {
		return err
	}
	finished := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-finished:
		}
		w.Close()
	}()
	go func() {
		defer close(ch)
		defer close(finished)
		for {
			us, err := w.Receive()
			if err != nil {
				if !errors.Is(err, ErrClosed) && cfg.Failed != nil {
					cfg.Failed(err)
				}
				return
			}
			for _, u := range us {
				select {
				case ch <- u:
				case <-done:
					return
				}
			}
		}
	}()
	return nil
}

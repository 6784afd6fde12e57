package linkwatch

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor/netns"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// receiveUntil reads updates until match accepts one, bounded generously.
func receiveUntil(t *testing.T, w *Watcher, what string, match func(Update) bool) Update {
	t.Helper()
	type result struct {
		us  []Update
		err error
	}
	timeout := time.After(15 * time.Second)
	for {
		ch := make(chan result, 1)
		go func() {
			us, err := w.Receive()
			ch <- result{us, err}
		}()
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("waiting for %s: %v", what, r.err)
			}
			for _, u := range r.us {
				if match(u) {
					return u
				}
			}
		case <-timeout:
			t.Fatalf("no update: %s", what)
		}
	}
}

// TestWatcher follows a tun link's life in a namespace of its own: the
// listing of existing links, its creation, a flag change, its deletion,
// and Close ending a waiting Receive.
func TestWatcher(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	var w *Watcher
	if err := ns.Do(func() (err error) {
		w, err = Open(Config{ListExisting: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	receiveUntil(t, w, "lo listed", func(u Update) bool { return u.Name == "lo" && u.Index == 1 && !u.Deleted })

	ns.Run("ip", "tuntap", "add", "dev", "dummy7", "mode", "tun")
	added := receiveUntil(t, w, "dummy7 added", func(u Update) bool { return u.Name == "dummy7" && !u.Deleted })
	ns.Run("ip", "link", "set", "dummy7", "up")
	receiveUntil(t, w, "dummy7 up", func(u Update) bool { return u.Index == added.Index && u.Flags&0x1 != 0 })
	ns.Run("ip", "link", "del", "dummy7")
	receiveUntil(t, w, "dummy7 deleted", func(u Update) bool { return u.Index == added.Index && u.Deleted })

	errc := make(chan error, 1)
	go func() {
		_, err := w.Receive()
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Receive block (the test passes either way)
	w.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Receive after Close: %v, want ErrClosed", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Close did not end Receive")
	}
}

// TestSubscribe: updates arrive on the channel, and closing done ends the
// subscription and closes the channel.
func TestSubscribe(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ch := make(chan Update, 4)
	done := make(chan struct{})
	if err := ns.Do(func() error {
		return Subscribe(Config{ListExisting: true, Failed: func(err error) { t.Errorf("failed: %v", err) }}, ch, done)
	}); err != nil {
		t.Fatal(err)
	}
	ns.Run("ip", "tuntap", "add", "dev", "tun8", "mode", "tun")
	timeout := time.After(15 * time.Second)
	for seen := false; !seen; {
		select {
		case u := <-ch:
			seen = u.Name == "tun8" && !u.Deleted
		case <-timeout:
			t.Fatal("no update for tun8")
		}
	}
	close(done)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-time.After(15 * time.Second):
			t.Fatal("channel not closed after done")
		}
	}
}

// TestAddresses: with Config.Addresses, adding and removing IPv4 and IPv6
// addresses is reported, and Links and Addrs list what exists.
func TestAddresses(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	ns.Run("ip", "link", "add", "veth8", "type", "veth", "peer", "name", "veth9")
	ns.Run("ip", "link", "set", "veth8", "up")
	var w *Watcher
	if err := ns.Do(func() (err error) {
		w, err = Open(Config{Addresses: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	v4, v6 := netip.MustParsePrefix("198.51.100.7/24"), netip.MustParsePrefix("2001:db8::7/64")
	ns.Run("ip", "addr", "add", v4.String(), "dev", "veth8")
	added := receiveUntil(t, w, "IPv4 address added", func(u Update) bool { return u.Prefix == v4 && !u.Deleted })
	ns.Run("ip", "addr", "add", v6.String(), "dev", "veth8", "nodad")
	receiveUntil(t, w, "IPv6 address added", func(u Update) bool { return u.Prefix == v6 && u.Index == added.Index && !u.Deleted })

	var links, addrs []Update
	if err := ns.Do(func() (err error) {
		if links, err = Links(Config{}); err != nil {
			return err
		}
		addrs, err = Addrs(Config{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range links {
		if l.Name == "veth8" && l.Index == added.Index {
			found = true
		}
	}
	if !found {
		t.Errorf("Links: no veth8 (index %d) in %+v", added.Index, links)
	}
	want := map[netip.Prefix]bool{v4: false, v6: false}
	for _, a := range addrs {
		if _, ok := want[a.Prefix]; ok && a.Index == added.Index {
			want[a.Prefix] = true
		}
	}
	for p, ok := range want {
		if !ok {
			t.Errorf("Addrs: no %v on index %d in %+v", p, added.Index, addrs)
		}
	}

	ns.Run("ip", "addr", "del", v4.String(), "dev", "veth8")
	receiveUntil(t, w, "IPv4 address removed", func(u Update) bool { return u.Prefix == v4 && u.Deleted })
}

// TestConfigNetNS: Config.NetNS (a namespace descriptor) watches that
// namespace from a thread outside it.
func TestConfigNetNS(t *testing.T) {
	ns := sensortest.NewNamespace(t)
	h, err := netns.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	w, err := Open(Config{NetNS: h.Fd()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ns.Run("ip", "tuntap", "add", "dev", "tndns5", "mode", "tun")
	receiveUntil(t, w, "tndns5 added in the namespace", func(u Update) bool { return u.Name == "tndns5" && !u.Deleted })
}

package linkwatch

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ifinfomsg builds an RTM_*LINK message body: ifinfomsg in host byte
// order, then attrs.
func ifinfomsg(t *testing.T, index int32, flags uint32, attrs []netlink.Attribute) []byte {
	t.Helper()
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	binary.NativeEndian.PutUint32(b[8:12], flags)
	if len(attrs) > 0 {
		a, err := netlink.MarshalAttributes(attrs)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, a...)
	}
	return b
}

func TestParse(t *testing.T) {
	name := func(s string) netlink.Attribute {
		return netlink.Attribute{Type: unix.IFLA_IFNAME, Data: append([]byte(s), 0)}
	}
	mtu := netlink.Attribute{Type: unix.IFLA_MTU, Data: []byte{0, 5, 0, 0}}
	tests := []struct {
		what string
		m    netlink.Message
		want Update
		ok   bool
	}{
		{"new", netlink.Message{Header: netlink.Header{Type: unix.RTM_NEWLINK},
			Data: ifinfomsg(t, 7, unix.IFF_UP|unix.IFF_LOWER_UP, []netlink.Attribute{mtu, name("tun0")})},
			Update{Index: 7, Name: "tun0", Flags: unix.IFF_UP | unix.IFF_LOWER_UP}, true},
		{"deleted", netlink.Message{Header: netlink.Header{Type: unix.RTM_DELLINK},
			Data: ifinfomsg(t, 9, 0, []netlink.Attribute{name("wg0")})},
			Update{Index: 9, Name: "wg0", Deleted: true}, true},
		{"no name", netlink.Message{Header: netlink.Header{Type: unix.RTM_NEWLINK}, Data: ifinfomsg(t, 3, 0, nil)},
			Update{Index: 3}, true},
		{"bad attributes keep the header", netlink.Message{Header: netlink.Header{Type: unix.RTM_NEWLINK},
			Data: append(ifinfomsg(t, 4, 1, nil), 0xff, 0xff)}, Update{Index: 4, Flags: 1}, true},
		{"short", netlink.Message{Header: netlink.Header{Type: unix.RTM_NEWLINK}, Data: make([]byte, 8)}, Update{}, false},
		{"address message", netlink.Message{Header: netlink.Header{Type: unix.RTM_NEWADDR}, Data: ifinfomsg(t, 1, 0, nil)}, Update{}, false},
	}
	for _, tt := range tests {
		got, ok := parse(tt.m)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s: parse = %+v, %v; want %+v, %v", tt.what, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(uint16(unix.RTM_NEWLINK), []byte{0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 3, 0, 't', 'u', 'n', '0', 0, 0, 0, 0})
	// RTM_NEWADDR: ifaddrmsg AF_INET /24 on index 1, IFA_LOCAL 192.0.2.1.
	f.Add(uint16(unix.RTM_NEWADDR), []byte{unix.AF_INET, 24, 0, 0, 1, 0, 0, 0, 8, 0, unix.IFA_LOCAL, 0, 192, 0, 2, 1})
	f.Fuzz(func(t *testing.T, typ uint16, data []byte) {
		u, ok := parse(netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ)}, Data: data})
		if ok && len(data) < unix.SizeofIfInfomsg {
			t.Fatalf("parsed a short message: %+v", u)
		}
	})
}

// ifaddrmsg builds an RTM_*ADDR message body: ifaddrmsg (index in host
// byte order), then attrs.
func ifaddrmsg(t *testing.T, family uint8, index int32, attrs []netlink.Attribute) []byte {
	t.Helper()
	b := make([]byte, 8)
	b[0] = family
	b[1] = 24
	if family == unix.AF_INET6 {
		b[1] = 64
	}
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	a, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, a...)
}

func TestParseAddr(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1")
	peer := netip.MustParseAddr("192.0.2.9")
	v6 := netip.MustParseAddr("2001:db8::1")
	attr := func(typ uint16, a netip.Addr) netlink.Attribute {
		return netlink.Attribute{Type: typ, Data: a.AsSlice()}
	}
	tests := []struct {
		what string
		m    netlink.Message
		want Update
		ok   bool
	}{
		{"ipv4", netlink.Message{Header: netlink.Header{Type: unix.RTM_NEWADDR},
			Data: ifaddrmsg(t, unix.AF_INET, 5, []netlink.Attribute{attr(unix.IFA_ADDRESS, v4), attr(unix.IFA_LOCAL, v4)})},
			Update{Index: 5, Prefix: netip.PrefixFrom(v4, 24)}, true},
		{"point-to-point: the local address, not the peer", netlink.Message{Header: netlink.Header{Type: unix.RTM_NEWADDR},
			Data: ifaddrmsg(t, unix.AF_INET, 5, []netlink.Attribute{attr(unix.IFA_ADDRESS, peer), attr(unix.IFA_LOCAL, v4)})},
			Update{Index: 5, Prefix: netip.PrefixFrom(v4, 24)}, true},
		{"ipv6 deleted", netlink.Message{Header: netlink.Header{Type: unix.RTM_DELADDR},
			Data: ifaddrmsg(t, unix.AF_INET6, 6, []netlink.Attribute{attr(unix.IFA_ADDRESS, v6)})},
			Update{Index: 6, Prefix: netip.PrefixFrom(v6, 64), Deleted: true}, true},
		{"family mismatch", netlink.Message{Header: netlink.Header{Type: unix.RTM_NEWADDR},
			Data: ifaddrmsg(t, unix.AF_INET6, 6, []netlink.Attribute{attr(unix.IFA_ADDRESS, v4)})},
			Update{}, false},
		{"short", netlink.Message{Header: netlink.Header{Type: unix.RTM_NEWADDR}, Data: make([]byte, 4)}, Update{}, false},
	}
	for _, tt := range tests {
		got, ok := parse(tt.m)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s: parse = %+v, %v; want %+v, %v", tt.what, got, ok, tt.want, tt.ok)
		}
	}
}

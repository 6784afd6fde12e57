package nflog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

// appendMsg appends a netlink message (host-order header) to b.
func appendMsg(b []byte, typ, flags uint16, seq uint32, data []byte) []byte {
	n := nlmsgHdrLen + len(data)
	b = binary.NativeEndian.AppendUint32(b, uint32(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// appendAttr appends a netlink attribute (host-order header, value
// padded to 4 bytes) byte by byte, independently of the encoder under
// test, and lets tests write attributes no encoder would.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(nlaHdrLen+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func beU32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// parseConfig is marshal's inverse, for checking the encoding (the sensor
// never reads configuration messages). Values must have their exact
// sizes.
func parseConfig(data []byte) (configMsg, error) {
	var c configMsg
	if len(data) < nfgenLen {
		return c, fmt.Errorf("nflog config message of %d bytes: %w", len(data), errShort)
	}
	c.Group = be16(data[2:4])
	ad, err := netlink.NewAttributeDecoder(data[nfgenLen:])
	if err != nil {
		return c, err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case attrCfgCmd:
			c.Cmd = ad.Uint8()
		case attrCfgMode:
			ad.Do(func(v []byte) error {
				if len(v) != 6 {
					return fmt.Errorf("mode attribute of %d bytes: %w", len(v), errShort)
				}
				c.HasMode, c.CopyRange, c.CopyMode = true, be32(v[0:4]), v[4]
				return nil
			})
		case attrCfgNLBufSiz:
			c.HasBufSiz, c.BufSiz = true, ad.Uint32()
		case attrCfgTimeout:
			c.HasTimeout, c.Timeout = true, ad.Uint32()
		case attrCfgQThresh:
			c.HasQThresh, c.QThresh = true, ad.Uint32()
		case attrCfgFlags:
			c.HasFlags, c.Flags = true, ad.Uint16()
		}
	}
	return c, ad.Err()
}

func be16b(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// encodePacket builds an NFULNL_MSG_PACKET payload the way the kernel does.
func encodePacket(p logPacket) []byte {
	b := []byte{p.Family, nfnetlinkV0}
	b = binary.BigEndian.AppendUint16(b, p.Group)
	if p.HasHdr {
		b = appendAttr(b, attrPacketHdr, append(be16b(p.HWProtocol), p.Hook, 0))
	}
	if p.Prefix != "" {
		b = appendAttr(b, attrPrefix, append([]byte(p.Prefix), 0))
	}
	if p.InDev != 0 {
		b = appendAttr(b, attrIfIndexIn, beU32(p.InDev))
	}
	if p.OutDev != 0 {
		b = appendAttr(b, attrIfIndexOut, beU32(p.OutDev))
	}
	if p.PhysInDev != 0 {
		b = appendAttr(b, attrPhysIn, beU32(p.PhysInDev))
	}
	if p.PhysOutDev != 0 {
		b = appendAttr(b, attrPhysOut, beU32(p.PhysOutDev))
	}
	if p.Mark != 0 {
		b = appendAttr(b, attrMark, beU32(p.Mark))
	}
	if p.HWAddr != nil {
		v := append(be16b(uint16(len(p.HWAddr))), 0, 0)
		v = append(v, p.HWAddr...)
		for len(v) < 12 {
			v = append(v, 0)
		}
		b = appendAttr(b, attrHWAddr, v)
	}
	if p.HWType != 0 {
		b = appendAttr(b, attrHWType, be16b(p.HWType))
		b = appendAttr(b, attrHWLen, be16b(p.HWLen))
	}
	if p.HWHeader != nil {
		b = appendAttr(b, attrHWHeader, p.HWHeader)
	}
	if p.HasTime {
		v := binary.BigEndian.AppendUint64(nil, uint64(p.Time.Unix()))
		v = binary.BigEndian.AppendUint64(v, uint64(p.Time.Nanosecond()/1000))
		b = appendAttr(b, attrTimestamp, v)
	}
	if p.HasUID {
		b = appendAttr(b, attrUID, beU32(p.UID))
	}
	if p.HasGID {
		b = appendAttr(b, attrGID, beU32(p.GID))
	}
	if p.HasVLAN {
		var n []byte
		n = appendAttr(n, attrVLANTCI, be16b(p.VLANTCI))
		n = appendAttr(n, attrVLANProto, be16b(p.VLANProto))
		b = appendAttr(b, attrVLAN|0x8000, n) // NLA_F_NESTED set, as the kernel does
	}
	if p.L2Header != nil {
		b = appendAttr(b, attrL2Header, p.L2Header)
	}
	if p.HasPayload {
		b = appendAttr(b, attrPayload, p.Payload)
	}
	return b
}

// Sample packets.
var (
	udp4 = []byte{
		0x45, 0, 0, 29, 0, 1, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
		0x30, 0x39, 0x27, 0x0f, 0, 9, 0, 0, 'x',
	}
	ethHdr = []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
)

// tcp4 returns an IPv4 TCP segment with the given flags and IP options length.
func tcp4(flags byte, optLen int) []byte {
	ihl := 20 + optLen
	b := make([]byte, ihl+20)
	b[0] = 0x40 | byte(ihl/4)
	b[9] = 6
	b[ihl+12] = 5 << 4
	b[ihl+13] = flags
	return b
}

// tcp6 returns an IPv6 TCP segment behind the given extension headers
// (each 8 bytes: hop-by-hop 0, destination options 60, fragment 44).
func tcp6(flags byte, ext ...byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	next := byte(6)
	if len(ext) > 0 {
		next = ext[0]
	}
	b[6] = next
	for i := range ext {
		n := byte(6)
		if i+1 < len(ext) {
			n = ext[i+1]
		}
		h := make([]byte, 8)
		h[0] = n
		b = append(b, h...)
	}
	tcp := make([]byte, 20)
	tcp[13] = flags
	return append(b, tcp...)
}

func TestConfigRoundTrip(t *testing.T) {
	for _, c := range []configMsg{
		{Group: 1, Cmd: cmdBind},
		{Group: 0xfffe, Cmd: cmdUnbind},
		{Group: 7, HasMode: true, CopyMode: copyPacket, CopyRange: 0xffff, HasTimeout: true, Timeout: 100,
			HasQThresh: true, QThresh: 1000, HasBufSiz: true, BufSiz: 65536, HasFlags: true, Flags: 1},
		{Group: 3, Cmd: cmdBind, HasMode: true, CopyMode: copyMeta},
	} {
		got, err := parseConfig(c.marshal())
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("round trip of %+v: %+v, %v", c, got, err)
		}
	}
}

func TestConfigBytes(t *testing.T) {
	// Exact layout: nfgenmsg (family, version, big-endian group), then
	// attributes with host-order headers and big-endian values.
	c := configMsg{Group: 0x0102, Cmd: cmdBind, HasMode: true, CopyMode: copyPacket, CopyRange: 0xffff,
		HasQThresh: true, QThresh: 1}
	var want []byte
	want = append(want, 0, 0, 0x01, 0x02)
	hdr := func(n, typ uint16) {
		want = binary.NativeEndian.AppendUint16(want, n)
		want = binary.NativeEndian.AppendUint16(want, typ)
	}
	hdr(5, attrCfgCmd)
	want = append(want, cmdBind, 0, 0, 0)
	hdr(10, attrCfgMode)
	want = append(want, 0, 0, 0xff, 0xff, copyPacket, 0, 0, 0)
	hdr(8, attrCfgQThresh)
	want = append(want, 0, 0, 0, 1)
	if got := c.marshal(); !bytes.Equal(got, want) {
		t.Errorf("marshal:\n got % x\nwant % x", got, want)
	}
}

func TestModeConfig(t *testing.T) {
	c := Config{Group: 5}
	sb := c.modeConfig(sensor.Standby, true)
	if sb.Cmd != cmdBind || sb.CopyMode != copyPacket || sb.CopyRange != 0xffff || sb.QThresh != 1 {
		t.Errorf("standby bind config %+v", sb)
	}
	up := c.modeConfig(sensor.Up, false)
	if up.Cmd != cmdNone || up.CopyMode != copyMeta || up.Timeout != 10 || up.QThresh != defaultUpQThresh || up.BufSiz != upBufSiz {
		t.Errorf("up config %+v", up)
	}
	c.AckOnly, c.UpTimeout, c.UpQThresh = true, 2500*time.Millisecond, 50
	up = c.modeConfig(sensor.Up, false)
	if up.CopyMode != copyPacket || up.CopyRange != ackRange || up.Timeout != 250 || up.QThresh != 50 {
		t.Errorf("ack-only up config %+v", up)
	}
	c.UpTimeout = time.Millisecond
	if up = c.modeConfig(sensor.Up, false); up.Timeout != 1 {
		t.Errorf("1 ms timeout rounds to %d, want the minimum 1", up.Timeout)
	}
	c.perPacket = true
	if up = c.modeConfig(sensor.Up, false); up.QThresh != 1 || up.CopyMode != copyPacket {
		t.Errorf("per-packet reader's up config %+v", up)
	}
}

func TestPacketRoundTrip(t *testing.T) {
	want := logPacket{
		Family: 2, Group: 42, HasHdr: true, HWProtocol: 0x0800, Hook: 1, Mark: 0xdeadbeef,
		HasTime: true, Time: time.Unix(1700000000, 123456000),
		InDev: 3, OutDev: 4, PhysInDev: 5, PhysOutDev: 6,
		HWAddr:     []byte{2, 0, 0, 0, 0, 1},
		HasPayload: true, Payload: udp4, Prefix: "tuninetd: ",
		HasUID: true, UID: 1000, HasGID: true, GID: 100,
		HWType: 1, HWLen: 14, HWHeader: ethHdr, L2Header: ethHdr,
		HasVLAN: true, VLANProto: 0x8100, VLANTCI: 0x2005,
	}
	got, err := parsePacket(encodePacket(want))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(want.Time) {
		t.Errorf("time %v, want %v", got.Time, want.Time)
	}
	got.Time = want.Time
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestParsePacketHostile(t *testing.T) {
	good := encodePacket(logPacket{HasHdr: true, HWProtocol: 0x0800, HasPayload: true, Payload: udp4, OutDev: 1})
	for name, b := range map[string][]byte{
		"empty":      nil,
		"short":      {2, 0, 0},
		"attr len 2": append([]byte{2, 0, 0, 1}, 2, 0, 9, 0),
		"attr long":  append([]byte{2, 0, 0, 1}, 0xff, 0, 9, 0, 1, 2),
		"cut":        good[:len(good)-5],
	} {
		if p, err := parsePacket(b); !errors.Is(err, errShort) {
			t.Errorf("%s: error %v (%+v), want errShort", name, err, p)
		}
	}
	// Wrongly sized attributes are ignored, not trusted.
	var b []byte
	b = append(b, 2, 0, 0, 1)
	b = appendAttr(b, attrTimestamp, []byte{1, 2, 3})
	b = appendAttr(b, attrIfIndexIn, []byte{1})
	b = appendAttr(b, attrHWAddr, []byte{0, 200, 0, 0, 1, 2})
	b = appendAttr(b, attrPacketHdr, []byte{8})
	b = appendAttr(b, 0x3000, []byte{1, 2, 3, 4}) // unknown
	b = appendAttr(b, attrPrefix, []byte("no-nul"))
	p, err := parsePacket(b)
	if err != nil || p.HasTime || p.InDev != 0 || p.HWAddr != nil || p.HasHdr || p.Prefix != "no-nul" {
		t.Errorf("bad sizes: %+v, %v", p, err)
	}
	// A zero or absurd timestamp is no timestamp.
	for _, ts := range [][2]uint64{{0, 0}, {1 << 62, 0}, {1700000000, 2e6}} {
		v := binary.BigEndian.AppendUint64(nil, ts[0])
		v = binary.BigEndian.AppendUint64(v, ts[1])
		p, _ := parsePacket(appendAttr([]byte{2, 0, 0, 1}, attrTimestamp, v))
		if p.HasTime {
			t.Errorf("timestamp %v accepted as %v", ts, p.Time)
		}
	}
}

func TestSplitMessagesAndScan(t *testing.T) {
	// A batch as the kernel sends it: packets, then NLMSG_DONE; and an ack.
	var d []byte
	d = appendMsg(d, msgTypePacket, 0, 0, encodePacket(logPacket{HasHdr: true, HWProtocol: 0x0800, OutDev: 1}))
	d = appendMsg(d, msgTypePacket, 0, 0, encodePacket(logPacket{HasHdr: true, HWProtocol: 0x0800, HasPayload: true, Payload: tcp4(0x10, 0)}))
	d = appendMsg(d, msgTypePacket, 0, 0, encodePacket(logPacket{HasHdr: true, HWProtocol: 0x0800, HasPayload: true, Payload: udp4}))
	d = appendMsg(d, nlmsgDone, 0, 0, []byte{0, 0, 0, 0})
	ack := binary.NativeEndian.AppendUint32(nil, uint32(0xffffffff)) // -EPERM
	d = appendMsg(d, nlmsgError, 0, 77, append(ack, make([]byte, 16)...))
	d = appendMsg(d, nlmsgError, 0, 78, make([]byte, 20))
	r := scanDatagram(d, true)
	if r.Err != nil || r.Packets != 3 || r.TCPAcks != 1 {
		t.Fatalf("scan: %+v", r)
	}
	if !r.HasStart || !r.Start.HasPayload || !bytes.Equal(r.Start.Payload, tcp4(0x10, 0)) {
		t.Errorf("start packet %+v, want the first with a payload", r.Start)
	}
	if want := []answer{{77, 1}, {78, 0}}; !reflect.DeepEqual(r.Answers, want) {
		t.Errorf("acks %+v, want %+v", r.Answers, want)
	}
	// Without ACK counting nothing is counted.
	if r := scanDatagram(d, false); r.TCPAcks != 0 || r.Packets != 3 {
		t.Errorf("scan without ack counting: %+v", r)
	}
	// Malformed header: error, nothing after it.
	bad := append(d[:len(d):len(d)], 0xff, 0xff, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0)
	if r := scanDatagram(bad, false); r.Err == nil || r.Packets != 3 {
		t.Errorf("scan of a malformed tail: %+v", r)
	}
	// Short error message.
	if r := scanDatagram(appendMsg(nil, nlmsgError, 0, 1, []byte{1}), false); r.Err == nil || len(r.Answers) != 0 {
		t.Errorf("short ack: %+v", r)
	}
}

func TestTCPACK(t *testing.T) {
	frag := tcp4(0x10, 0)
	frag[7] = 1 // fragment offset 8: no TCP header here
	for name, c := range map[string]struct {
		b    []byte
		want bool
	}{
		"v4 ack":            {tcp4(0x10, 0), true},
		"v4 syn":            {tcp4(0x02, 0), false},
		"v4 synack":         {tcp4(0x12, 0), true},
		"v4 options ack":    {tcp4(0x10, 40), true},
		"v4 cut":            {tcp4(0x10, 0)[:33], false},
		"v4 bad ihl":        {append([]byte{0x41}, tcp4(0x10, 0)[1:]...), false},
		"v4 later fragment": {frag, false},
		"v4 udp":            {udp4, false},
		"v6 ack":            {tcp6(0x10), true},
		"v6 rst":            {tcp6(0x04), false},
		"v6 ext ack":        {tcp6(0x10, 0, 60), true},
		"v6 frag ack":       {tcp6(0x10, 44), true},
		"v6 cut":            {tcp6(0x10, 0)[:60], false},
		"v6 unknown ext":    {tcp6(0x10, 59), false},
		"empty":             {nil, false},
		"not ip":            {[]byte{0x00, 1, 2}, false},
	} {
		if got := tcpACK(c.b); got != c.want {
			t.Errorf("%s: tcpACK = %v, want %v", name, got, c.want)
		}
	}
}

func TestToPacket(t *testing.T) {
	now := time.Unix(1800000000, 0)
	stamp := time.Unix(1700000000, 5000)
	vlanHdr := append(append([]byte(nil), ethHdr[:12]...), 0x81, 0x00, 0x00, 0x05, 0x08, 0x00)
	for name, c := range map[string]struct {
		p    logPacket
		link bpfc.LinkType
		data []byte
		vlan bool
	}{
		"ethernet": {logPacket{HasHdr: true, HWProtocol: 0x0800, HWType: 1, HWHeader: ethHdr, HasPayload: true, Payload: udp4,
			HasTime: true, Time: stamp}, bpfc.EN10MB, append(append([]byte(nil), ethHdr...), udp4...), false},
		"no header": {logPacket{HasHdr: true, HWProtocol: 0x0800, HasPayload: true, Payload: udp4}, bpfc.RAW, udp4, false},
		"tun":       {logPacket{HasHdr: true, HWProtocol: 0x0800, HWType: 65534, HWHeader: nil, HasPayload: true, Payload: udp4}, bpfc.RAW, udp4, false},
		"ethertype mismatch": {logPacket{HasHdr: true, HWProtocol: 0x86dd, HWType: 1, HWHeader: ethHdr, HasPayload: true, Payload: udp4},
			bpfc.RAW, udp4, false},
		"vlan tagged": {logPacket{HasHdr: true, HWProtocol: 0x0800, HWType: 1, HWHeader: vlanHdr, HasPayload: true, Payload: udp4},
			bpfc.EN10MB, append(append([]byte(nil), vlanHdr...), udp4...), false},
		"vlan untagged into 18 bytes": {logPacket{HasHdr: true, HWProtocol: 0x0800, HWType: 1,
			HWHeader: append(append([]byte(nil), ethHdr...), 0x45, 0, 0, 29), HasPayload: true, Payload: udp4},
			bpfc.EN10MB, append(append([]byte(nil), ethHdr...), udp4...), false},
		"stripped tag": {logPacket{HasHdr: true, HWProtocol: 0x0800, HWType: 1, HWHeader: ethHdr, HasPayload: true, Payload: udp4,
			HasVLAN: true, VLANProto: 0x8100, VLANTCI: 7}, bpfc.EN10MB, append(append([]byte(nil), ethHdr...), udp4...), true},
		"other hw type": {logPacket{HasHdr: true, HWProtocol: 0x0800, HWType: 512, HWHeader: ethHdr, HasPayload: true, Payload: udp4},
			bpfc.RAW, udp4, false},
	} {
		c.p.OutDev = 2
		got := toPacket(&c.p, now, "eth9")
		if got.LinkType != c.link || !bytes.Equal(got.Data, c.data) || got.OrigLen != len(c.data) ||
			got.Ifname != "eth9" || got.Sensor != sensor.NFLOG || got.HasVLAN != c.vlan {
			t.Errorf("%s: %+v", name, got)
		}
		if want := now; c.p.HasTime {
			if !got.Time.Equal(stamp) {
				t.Errorf("%s: time %v, want the kernel's %v", name, got.Time, stamp)
			}
		} else if !got.Time.Equal(want) {
			t.Errorf("%s: time %v, want receipt time %v", name, got.Time, want)
		}
		// The packet owns its bytes.
		if len(got.Data) > 0 && len(c.p.Payload) > 0 && &got.Data[len(got.Data)-1] == &c.p.Payload[len(c.p.Payload)-1] {
			t.Errorf("%s: packet aliases the receive buffer", name)
		}
	}
	if (&logPacket{InDev: 3, OutDev: 4}).ifIndex() != 3 || (&logPacket{OutDev: 4}).ifIndex() != 4 {
		t.Error("ifIndex prefers the input device")
	}
}

func TestBindErrorText(t *testing.T) {
	e := &BindError{Group: 3, Busy: true, Holder: "probably ulogd, pid 9", Err: errors.New("operation not permitted")}
	want := `nflog group 3 is already bound by another program (probably ulogd, pid 9): another tuninetd, "tcpdump -i nflog:3" or ulogd may hold it; stop it or use another group: operation not permitted`
	if e.Error() != want || !errors.Is(e, ErrGroupBusy) {
		t.Errorf("busy error %q (is busy %v)", e.Error(), errors.Is(e, ErrGroupBusy))
	}
	if errors.Unwrap(e) != ErrGroupBusy {
		t.Error("a busy group must not unwrap to the kernel's EPERM")
	}
	e.Busy = false
	if errors.Is(e, ErrGroupBusy) || errors.Unwrap(e) != e.Err || e.Error() != "nflog group 3: kernel refused to bind it: operation not permitted" {
		t.Errorf("refused error %q", e.Error())
	}
	e.hint = "binding needs root or CAP_NET_ADMIN"
	if e.Error() != "nflog group 3: kernel refused to bind it (binding needs root or CAP_NET_ADMIN): operation not permitted" {
		t.Errorf("refused error with hint %q", e.Error())
	}
}

// readSeed returns the bytes of a fuzz seed file.
func readSeed(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParsePacket", name))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(strings.TrimPrefix(string(b), "go test fuzz v1\n[]byte("), ")\n")
	u, err := strconv.Unquote(s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return leToHost([]byte(u))
}

func TestKernelDatagrams(t *testing.T) {
	// Captured on a little-endian host: netlink headers are host-order;
	// readSeed converts them to this host's order.
	r := scanDatagram(readSeed(t, "kernel-input-ethernet"), false)
	if r.Err != nil || r.Packets != 1 || !r.Start.HasTime || r.Start.Prefix != "pfx: " || r.Start.InDev == 0 || r.Start.Hook != 1 {
		t.Errorf("input packet: %+v", r)
	}
	if p := toPacket(&r.Start, time.Now(), "vb"); p.LinkType != bpfc.EN10MB || len(p.Data) != 14+20+8+13 {
		t.Errorf("input packet as %v, %d bytes", p.LinkType, len(p.Data))
	}
	r = scanDatagram(readSeed(t, "kernel-output-lo"), false)
	if r.Err != nil || r.Packets != 1 || r.Start.HasTime || r.Start.OutDev == 0 || !r.Start.HasUID || r.Start.Hook != 3 {
		t.Errorf("output packet (no timestamp on OUTPUT, uid of the sender): %+v", r)
	}
	r = scanDatagram(readSeed(t, "kernel-input-ipv6"), false)
	if r.Err != nil || r.Packets != 1 || r.Start.HWProtocol != 0x86dd || r.Start.Payload[0]>>4 != 6 {
		t.Errorf("ipv6 packet: %+v", r)
	}
	r = scanDatagram(readSeed(t, "kernel-ack"), false)
	if r.Err != nil || len(r.Answers) != 1 || r.Answers[0].Errno != 0 || r.Packets != 0 {
		t.Errorf("ack: %+v", r)
	}
	// Five sends to a port without listener: the ICMP errors made every
	// other send fail, three left.
	r = scanDatagram(readSeed(t, "kernel-up-batch"), false)
	if r.Err != nil || r.Packets != 3 || r.Start.HasPayload {
		t.Errorf("up batch (3 packets, metadata only): %+v", r)
	}
	r = scanDatagram(readSeed(t, "kernel-ackonly-batch"), true)
	if r.Err != nil || r.Packets == 0 || r.TCPAcks != 0 || len(r.Start.Payload) > ackRange {
		t.Errorf("ack-only batch (SYNs, short copies): %+v", r)
	}
}

// leToHost rewrites the netlink message and attribute headers of a
// datagram captured on a little-endian host into this host's order, so
// the captured seeds check parsing on big-endian machines too. Payload
// fields are big-endian everywhere and stay as they are.
func leToHost(b []byte) []byte {
	out := append([]byte(nil), b...)
	le := binary.LittleEndian
	ne := binary.NativeEndian
	var attrs func(b []byte)
	attrs = func(b []byte) {
		for len(b) >= 4 {
			n, typ := le.Uint16(b[0:2]), le.Uint16(b[2:4])
			ne.PutUint16(b[0:2], n)
			ne.PutUint16(b[2:4], typ)
			if int(n) < 4 || int(n) > len(b) {
				return
			}
			if typ&0x8000 != 0 {
				attrs(b[4:n])
			}
			if align4(int(n)) >= len(b) {
				return
			}
			b = b[align4(int(n)):]
		}
	}
	hdr := func(b []byte) {
		ne.PutUint32(b[0:4], le.Uint32(b[0:4]))
		ne.PutUint16(b[4:6], le.Uint16(b[4:6]))
		ne.PutUint16(b[6:8], le.Uint16(b[6:8]))
		ne.PutUint32(b[8:12], le.Uint32(b[8:12]))
		ne.PutUint32(b[12:16], le.Uint32(b[12:16]))
	}
	for m := out; len(m) >= nlmsgHdrLen; {
		n := int(le.Uint32(m[0:4]))
		typ := le.Uint16(m[4:6])
		hdr(m)
		if n < nlmsgHdrLen || n > len(m) {
			break
		}
		switch {
		case typ == msgTypePacket || typ == msgTypeConfig:
			if n >= nlmsgHdrLen+nfgenLen {
				attrs(m[nlmsgHdrLen+nfgenLen : n])
			}
		case typ == nlmsgError && n >= nlmsgHdrLen+4+nlmsgHdrLen:
			ne.PutUint32(m[16:20], le.Uint32(m[16:20]))
			hdr(m[20:36])
		}
		if align4(n) >= len(m) {
			break
		}
		m = m[align4(n):]
	}
	return out
}

// BenchmarkAttributeWalk compares walking a logged packet's attributes with
// forEachAttr (slices into the datagram) and with netlink.AttributeDecoder
// (which copies every attribute's value), for a packet as the kernel sends
// it in up state (metadata) and in standby (with a 1500-byte payload).
func BenchmarkAttributeWalk(b *testing.B) {
	meta := logPacket{Family: 2, Group: 1, HasHdr: true, HWProtocol: 0x0800, Hook: 3, OutDev: 1,
		HasTime: true, Time: time.Unix(1700000000, 0), HasUID: true, UID: 1000, HasGID: true, GID: 1000,
		HWType: 1, HWLen: 14, HWHeader: ethHdr, Prefix: "tuninetd"}
	full := meta
	full.HasPayload, full.Payload = true, make([]byte, 1500)
	for _, c := range []struct {
		name string
		p    logPacket
	}{{"meta", meta}, {"payload1500", full}} {
		attrs := encodePacket(c.p)[nfgenLen:]
		b.Run(c.name+"/forEachAttr", func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				forEachAttr(attrs, func(typ uint16, v []byte) { n += len(v) })
			}
		})
		b.Run(c.name+"/AttributeDecoder", func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				ad, err := netlink.NewAttributeDecoder(attrs)
				if err != nil {
					b.Fatal(err)
				}
				for ad.Next() {
					ad.Do(func(v []byte) error { n += len(v); return nil })
				}
			}
		})
	}
}

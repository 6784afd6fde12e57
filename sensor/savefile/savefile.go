// Package savefile writes the -w pcap savefile: the packets that caused a
// start, appended to a classic pcap file the way tuninetd 1.5.1 writes it,
// so tcpdump, Wireshark and the original's users' scripts read it.
package savefile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

// Classic pcap layout as tuninetd 1.5.1 writes it for -w. Every multi-byte
// field is in the host's byte order (binary.NativeEndian), as libpcap and
// the original (which wrote its header struct with write(2)) do; readers
// tell the order from the magic, so a file written on a big-endian router
// reads anywhere.
const (
	pcapMagic        = 0xa1b2c3d4 // microsecond timestamps
	pcapVersionMajor = 2
	pcapVersionMinor = 4
	pcapSnaplen      = 0x40000
	pcapLinkEthernet = 1 // LINKTYPE_ETHERNET: every record is an Ethernet frame
	pcapFileHeader   = 24
	pcapRecordHeader = 16
	pcapFileMode     = 0o664 // the original's open() mode, before umask

	pcapEthHeaderLen   = 14
	pcapSLLHeaderLen   = 16
	pcapVLANTagLen     = 4
	pcapEtherTypeIPv4  = 0x0800
	pcapEtherTypeIPv6  = 0x86DD
	pcapEtherType8021Q = 0x8100
	pcapMax8023Len     = 1500 // largest 802.3 length field; larger values are EtherTypes
)

// Writer appends the packets that caused a start to a classic pcap file
// (-w), as tuninetd 1.5.1 does: microsecond timestamps, snaplen 0x40000,
// link type Ethernet. Packets without an Ethernet header get one (zero MAC
// addresses, EtherType from the IP version or the cooked header), and a VLAN
// tag the kernel stripped into metadata is put back into the frame.
//
// Like the original, it opens the file for each packet and closes it after,
// so a rotated or removed file is re-created (with a header) on the next
// start event instead of being written through a stale descriptor. Each
// record goes out in one append write followed by fsync: a start is rare and
// a crash right after it must not lose the packet.
//
// A Writer is safe for concurrent use.
type Writer struct {
	path string // absolute: the daemon changes its directory to /

	mu     sync.Mutex
	closed bool
}

// Open checks that path can be appended to as a pcap savefile and
// prepares it: a missing file is created (mode 0664 before umask) and a new
// file, or one shorter than a pcap file header, gets the header. An existing
// file must already be a pcap savefile in this host's byte order with the
// Ethernet link type, or appending would corrupt it.
//
// On a short file the original (O_APPEND, then lseek to 0 and write the
// header) left the stray bytes in front of the header, because O_APPEND
// sends every write to the end; the file never read back. A file shorter
// than a header holds no packet, so Open truncates it and writes the
// header at offset 0, which is what that rewind meant to do.
func Open(path string) (*Writer, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("savefile %s: %w", path, err)
	}
	s := &Writer{path: abs}
	f, err := s.open()
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("savefile %s: %w", abs, err)
	}
	return s, nil
}

// Path returns the absolute path of the file.
func (s *Writer) Path() string { return s.path }

// open opens the file for appending and makes sure it starts with a pcap
// header this writer's records fit.
func (s *Writer) open() (*os.File, error) {
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, pcapFileMode)
	if err != nil {
		return nil, fmt.Errorf("savefile: %w", err) // *PathError names the path
	}
	if err := s.prepare(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("savefile %s: %w", s.path, err)
	}
	return f, nil
}

func (s *Writer) prepare(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		// A FIFO or device cannot be checked for a header and would get
		// one per packet.
		return fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	if fi.Size() < pcapFileHeader {
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Write(savefileHeader()); err != nil {
			return fmt.Errorf("writing pcap header: %w", err)
		}
		return f.Sync()
	}
	var h [pcapFileHeader]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return fmt.Errorf("reading pcap header: %w", err)
	}
	magic := binary.NativeEndian.Uint32(h[0:4])
	link := binary.NativeEndian.Uint32(h[20:24])
	if magic != pcapMagic || link != pcapLinkEthernet {
		return fmt.Errorf("existing file is not a pcap savefile with Ethernet link type in this host's byte order "+
			"(magic %#08x, link type %d); refusing to append to it", magic, link)
	}
	return nil
}

// savefileHeader returns the 24-byte pcap global header.
func savefileHeader() []byte {
	h := make([]byte, pcapFileHeader)
	binary.NativeEndian.PutUint32(h[0:], pcapMagic)
	binary.NativeEndian.PutUint16(h[4:], pcapVersionMajor)
	binary.NativeEndian.PutUint16(h[6:], pcapVersionMinor)
	// thiszone (8:12) and sigfigs (12:16) stay 0.
	binary.NativeEndian.PutUint32(h[16:], pcapSnaplen)
	binary.NativeEndian.PutUint32(h[20:], pcapLinkEthernet)
	return h
}

// WritePacket appends p as one record. The file is opened, checked, written
// with a single append and fsynced, and closed.
func (s *Writer) WritePacket(p *sensor.Packet) error {
	if p == nil {
		return errors.New("savefile: nil packet")
	}
	frame, err := savefileFrame(p)
	if err != nil {
		return fmt.Errorf("savefile %s: %w", s.path, err)
	}
	rec := savefileRecord(p, frame)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("savefile %s: closed", s.path)
	}
	f, err := s.open()
	if err != nil {
		return err
	}
	_, werr := f.Write(rec)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("savefile %s: writing packet: %w", s.path, err)
	}
	return nil
}

// Close ends writing; later WritePacket calls fail. No descriptor is held
// between packets, so there is nothing else to release.
func (s *Writer) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// savefileRecord returns the 16-byte record header followed by frame, cut to the
// snaplen.
func savefileRecord(p *sensor.Packet, frame []byte) []byte {
	ts := p.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	// The wire length grows or shrinks by what the conversion added or
	// removed from the captured bytes.
	orig := len(p.Data)
	if p.OrigLen > orig {
		orig = p.OrigLen
	}
	orig += len(frame) - len(p.Data)
	if len(frame) > pcapSnaplen {
		frame = frame[:pcapSnaplen]
	}
	orig = max(orig, len(frame))

	rec := make([]byte, pcapRecordHeader, pcapRecordHeader+len(frame))
	binary.NativeEndian.PutUint32(rec[0:], uint32(ts.Unix()))
	binary.NativeEndian.PutUint32(rec[4:], uint32(ts.Nanosecond()/1000))
	binary.NativeEndian.PutUint32(rec[8:], uint32(len(frame)))
	binary.NativeEndian.PutUint32(rec[12:], uint32(orig))
	return append(rec, frame...)
}

// savefileFrame returns p's bytes as an Ethernet frame with the kernel-
// stripped VLAN tag, if any, back in place.
func savefileFrame(p *sensor.Packet) ([]byte, error) {
	d := p.Data
	var frame []byte
	switch p.LinkType {
	case bpfc.EN10MB:
		if len(d) < 12 {
			// Not even the MAC addresses: nothing to put a tag after.
			return append([]byte(nil), d...), nil
		}
		frame = append([]byte(nil), d...)
	case bpfc.RAW:
		et, ok := savefileIPEtherType(d)
		if !ok {
			return nil, errors.New("raw packet is neither IPv4 nor IPv6; not written")
		}
		frame = make([]byte, pcapEthHeaderLen, pcapEthHeaderLen+len(d))
		binary.BigEndian.PutUint16(frame[12:], et)
		frame = append(frame, d...)
	case bpfc.LinuxSLL:
		if len(d) < pcapSLLHeaderLen {
			return nil, fmt.Errorf("cooked packet of %d bytes is shorter than its %d-byte header; not written", len(d), pcapSLLHeaderLen)
		}
		payload := d[pcapSLLHeaderLen:]
		et := binary.BigEndian.Uint16(d[14:16])
		if et <= pcapMax8023Len {
			// Not an EtherType but a Linux pseudo protocol (802.2 LLC,
			// raw 802.3, ...): IP always comes as 0x0800/0x86DD, so frame
			// it as 802.3, where the field is the payload length.
			if len(payload) <= pcapMax8023Len {
				et = uint16(len(payload))
			} else {
				return nil, fmt.Errorf("cooked packet with protocol %#04x cannot be framed as Ethernet; not written", et)
			}
		}
		frame = make([]byte, pcapEthHeaderLen, pcapEthHeaderLen+len(payload))
		// The cooked header holds the sender's address only: the source.
		if binary.BigEndian.Uint16(d[4:6]) == 6 {
			copy(frame[6:12], d[6:12])
		}
		binary.BigEndian.PutUint16(frame[12:], et)
		frame = append(frame, payload...)
	default:
		return nil, fmt.Errorf("link type %v cannot be written to an Ethernet savefile", p.LinkType)
	}
	if p.HasVLAN {
		tpid := p.VLANTPID
		if tpid == 0 {
			tpid = pcapEtherType8021Q
		}
		tagged := make([]byte, 0, len(frame)+pcapVLANTagLen)
		tagged = append(tagged, frame[:12]...)
		tagged = binary.BigEndian.AppendUint16(tagged, tpid)
		tagged = binary.BigEndian.AppendUint16(tagged, p.VLANTCI)
		frame = append(tagged, frame[12:]...)
	}
	return frame, nil
}

// savefileIPEtherType returns the EtherType for an IP packet by its version nibble.
func savefileIPEtherType(d []byte) (uint16, bool) {
	if len(d) == 0 {
		return 0, false
	}
	switch d[0] >> 4 {
	case 4:
		return pcapEtherTypeIPv4, true
	case 6:
		return pcapEtherTypeIPv6, true
	}
	return 0, false
}

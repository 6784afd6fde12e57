package afpacket

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

// userFilter runs -f in user space, for packets the kernel passed with DNS
// rules: the kernel's program is "(-f) or port 53" and its verdict does
// not say which half matched, so a port-53 packet that is no matching
// query counts only if -f alone accepts it.
//
// The live programs use SKF_AD extensions (VLAN metadata, packet type),
// which no user-space interpreter runs, so the expression is compiled
// again for bpfc's offline target and run by runBPF. Offline,
// a VLAN tag is in the frame; the kernel strips it into metadata. When the
// live program reads that metadata (the expression uses vlan), the tag is
// put back in front of the EtherType before the program runs; otherwise
// the frame is judged as the live program saw it, untagged. Loads beyond
// the captured bytes reject, so an -f that reads past the up-state snap
// length never matches there.
type userFilter struct {
	prog   []bpf.RawInstruction // offline: no SKF_AD loads
	retag  bool                 // put a stripped VLAN tag back for the program
	tagged []byte               // reused frame buffer for retag
}

// newUserFilter compiles f for lt; live is the kernel program compiled
// from the same expression, which tells whether VLAN tags matter.
func newUserFilter(f *bpfc.Filter, lt bpfc.LinkType, live []bpf.RawInstruction) (*userFilter, error) {
	raw, err := f.Compile(bpfc.Options{LinkType: lt, Target: bpfc.Offline})
	if err != nil {
		return nil, err
	}
	if err := checkOffline(raw); err != nil {
		return nil, fmt.Errorf("offline program for %q: %w", f, err)
	}
	return &userFilter{prog: raw, retag: lt == bpfc.EN10MB && readsVLANMetadata(live)}, nil
}

// readsVLANMetadata reports whether prog loads SKF_AD_VLAN_TAG or
// SKF_AD_VLAN_TAG_PRESENT.
func readsVLANMetadata(prog []bpf.RawInstruction) bool {
	for _, in := range prog {
		if in.Op&0x07 != unix.BPF_LD || in.Op&0xe0 != unix.BPF_ABS {
			continue
		}
		switch bpf.Extension(in.K - skfAdOff) {
		case bpf.ExtVLANTag, bpf.ExtVLANTagPresent:
			return true
		}
	}
	return false
}

// skfAdOff is the kernel's SKF_AD_OFF (-0x1000) as a load's k: loads
// from there on read socket metadata (bpf.Extension numbers).
const skfAdOff = 0xfffff000

// match reports whether the filter accepts p. It is called from the
// capture goroutine only.
func (u *userFilter) match(p *sensor.Packet) bool {
	data := p.Data
	if u.retag && p.HasVLAN && len(data) >= 12 {
		tpid := p.VLANTPID
		if tpid == 0 {
			tpid = 0x8100
		}
		b := append(u.tagged[:0], data[:12]...)
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, p.VLANTCI)
		b = append(b, data[12:]...)
		u.tagged = b
		data = b
	}
	return runBPF(u.prog, data) > 0
}

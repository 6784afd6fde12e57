package afpacket

import (
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ancillaryK is the k of an absolute load of Linux extension e
// (SKF_AD_OFF + e), taken from x/net/bpf's assembler so the kernel's offset
// is written down in one place.
func ancillaryK(e bpf.Extension) uint32 {
	ins, _ := bpf.LoadExtension{Num: e}.Assemble()
	return ins.K
}

// fixCooked rewrites a program compiled for LINUX_SLL so the kernel can run
// it on a SOCK_DGRAM socket, where offset 0 is the network header (the
// mapping libpcap uses): packet loads move back by the pseudo header's 16
// bytes; loads of its packet type (offset 0) and protocol (offset 14) become
// ancillary loads. Any other read of the pseudo header has no kernel
// equivalent and is an error describing it.
//
// Indexed loads are moved like absolute ones: the compiler keeps the link
// header's length in k and only variable header lengths in X.
func fixCooked(prog []bpf.RawInstruction) ([]bpf.RawInstruction, error) {
	out := make([]bpf.RawInstruction, len(prog))
	copy(out, prog)
	for i := range out {
		ins := &out[i]
		abs := false
		switch ins.Op {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, unix.BPF_LD | unix.BPF_B | unix.BPF_ABS:
			abs = true
		case unix.BPF_LD | unix.BPF_W | unix.BPF_IND, unix.BPF_LD | unix.BPF_H | unix.BPF_IND, unix.BPF_LD | unix.BPF_B | unix.BPF_IND,
			unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH:
		default:
			continue // not a packet load
		}
		switch {
		case ins.K >= ancillaryK(bpf.ExtProto):
			// an ancillary load or kernel-relative offset already
		case ins.K >= cookedHdrLen:
			ins.K -= cookedHdrLen
		case abs && ins.K == 0:
			ins.K = ancillaryK(bpf.ExtType)
		case abs && ins.K == 14:
			ins.K = ancillaryK(bpf.ExtProto)
		default:
			return nil, fmt.Errorf("instruction %d reads byte %d of the cooked (LINUX_SLL) header, which a live capture socket cannot filter on", i, ins.K)
		}
	}
	return out, nil
}

package afpacket

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Classic BPF opcode fields and the kernel's ancillary-data offsets
// (linux/filter.h) used by the cooked rewrite.
const (
	bpfClassMask = 0x07
	bpfLD        = 0x00
	bpfLDX       = 0x01
	bpfModeMask  = 0xe0
	bpfABS       = 0x20
	bpfIND       = 0x40
	bpfMSH       = 0xa0

	skfADOff      = 0xfffff000 // SKF_AD_OFF (-0x1000) as the uint32 in k
	skfADProtocol = skfADOff + 0
	skfADPkttype  = skfADOff + 4
)

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
		class, mode := ins.Op&bpfClassMask, ins.Op&bpfModeMask
		if !(class == bpfLD && (mode == bpfABS || mode == bpfIND)) && !(class == bpfLDX && mode == bpfMSH) {
			continue
		}
		if ins.K >= skfADOff {
			continue // already an ancillary load
		}
		switch {
		case ins.K >= cookedHdrLen:
			ins.K -= cookedHdrLen
		case mode == bpfABS && class == bpfLD && ins.K == 0:
			ins.K = skfADPkttype
		case mode == bpfABS && class == bpfLD && ins.K == 14:
			ins.K = skfADProtocol
		default:
			return nil, fmt.Errorf("instruction %d reads byte %d of the cooked (LINUX_SLL) header, which a live capture socket cannot filter on", i, ins.K)
		}
	}
	return out, nil
}

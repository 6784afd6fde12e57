// Package bpfvm interprets classic BPF programs with Linux socket-filter
// semantics, including the SKF_AD_* ancillary loads libpcap emits for live
// handles (VLAN tag, packet type, ...). golang.org/x/net/bpf's VM refuses
// those, and the differential tests must run libpcap's live programs too.
//
// Semantics follow the kernel's classic BPF: a load outside the packet ends
// the program with return value 0, as does division or modulo by a zero X;
// a shift by 32 or more yields 0 (libpcap's bpf_filter and x/net/bpf agree;
// constant shifts that large are rejected by Validate as the kernel does);
// LEN is the packet's wire length; M[] starts zeroed.
package bpfvm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// Ancillary load offsets (linux/filter.h). A BPF_ABS load with
// k = SKFADOff + one of these reads socket-buffer metadata.
const (
	SKFADOff            = 0xfffff000 // -0x1000 as uint32
	SKFADProtocol       = 0
	SKFADPktType        = 4
	SKFADIfIndex        = 8
	SKFADNlAttr         = 12
	SKFADNlAttrNest     = 16
	SKFADMark           = 20
	SKFADQueue          = 24
	SKFADHAType         = 28
	SKFADRxHash         = 32
	SKFADCPU            = 36
	SKFADALUXORX        = 40
	SKFADVLANTag        = 44
	SKFADVLANTagPresent = 48
	SKFADPayOffset      = 52
	SKFADRandom         = 56
	SKFADVLANTPID       = 60
	skfADMax            = 64
	// SKFNetOff and SKFLLOff start the negative offset ranges relative to
	// the network and link-layer headers.
	SKFNetOff = 0xfff00000 // -0x100000
	SKFLLOff  = 0xffe00000 // -0x200000
)

// MaxInstructions is the kernel's BPF_MAXINSNS.
const MaxInstructions = 4096

// MaxSteps bounds a run of a program with backward jumps (see Run).
const MaxSteps = 1 << 16

// Meta is the socket-buffer state ancillary loads read.
type Meta struct {
	VLANPresent bool
	VLANTCI     uint16
	VLANTPID    uint16
	PktType     uint32
	Protocol    uint16
	IfIndex     uint32
	HAType      uint16
	Mark        uint32
}

// Opcode field masks and values (the bpf_common.h layout).
const (
	clsLD   = 0x00
	clsLDX  = 0x01
	clsST   = 0x02
	clsSTX  = 0x03
	clsALU  = 0x04
	clsJMP  = 0x05
	clsRET  = 0x06
	clsMISC = 0x07

	szW = 0x00
	szH = 0x08
	szB = 0x10

	mIMM = 0x00
	mABS = 0x20
	mIND = 0x40
	mMEM = 0x60
	mLEN = 0x80
	mMSH = 0xa0

	srcK = 0x00
	srcX = 0x08
	srcA = 0x10 // RET only
)

// ErrInvalid is wrapped by every Validate error.
var ErrInvalid = errors.New("invalid BPF program")

// Validate applies the kernel's classic-BPF checks (bpf_check_classic):
// non-empty, at most 4096 instructions, whitelisted opcodes, known
// ancillary offsets, scratch indexes below 16, forward jumps inside the
// program, no constant division by zero or shift of 32 or more, a return
// as the last instruction, and no scratch read before a store on every
// path (check_load_and_stores).
func Validate(prog []bpf.RawInstruction) error { return validate(prog, false) }

// ValidateLibpcap is Validate except that backward unconditional jumps are
// allowed, as libpcap's userland interpreter allows them (protochain).
func ValidateLibpcap(prog []bpf.RawInstruction) error { return validate(prog, true) }

func validate(prog []bpf.RawInstruction, backward bool) error {
	n := len(prog)
	if n == 0 || n > MaxInstructions {
		return fmt.Errorf("%w: %d instructions", ErrInvalid, n)
	}
	for pc, ins := range prog {
		bad := func(why string) error {
			return fmt.Errorf("%w: instruction %d {%#x %d %d %d}: %s", ErrInvalid, pc, ins.Op, ins.Jt, ins.Jf, ins.K, why)
		}
		if !allowed(ins.Op) {
			return bad("opcode not allowed")
		}
		switch ins.Op {
		case 0x34, 0x94: // div, mod by constant
			if ins.K == 0 {
				return bad("division by constant zero")
			}
		case 0x64, 0x74: // lsh, rsh by constant
			if ins.K >= 32 {
				return bad("shift by 32 or more")
			}
		case 0x60, 0x61, 0x02, 0x03: // ld/ldx M[k], st, stx
			if ins.K >= 16 {
				return bad("scratch index out of range")
			}
		case 0x20, 0x28, 0x30: // ld abs: ancillary offsets must be known
			if ins.K >= SKFADOff && !knownAncillary(ins.K-SKFADOff) {
				return bad("unknown ancillary load")
			}
		case 0x05: // ja
			if backward && int32(ins.K) < 0 {
				if pc+1+int(int32(ins.K)) < 0 {
					return bad("jump out of range")
				}
			} else if uint64(ins.K) >= uint64(n-pc-1) {
				return bad("jump out of range")
			}
		default:
			if ins.Op&0x07 == clsJMP && (pc+int(ins.Jt)+1 >= n || pc+int(ins.Jf)+1 >= n) {
				return bad("jump out of range")
			}
		}
	}
	if last := prog[n-1].Op; last != 0x06 && last != 0x16 {
		return fmt.Errorf("%w: last instruction is not a return", ErrInvalid)
	}
	if !backward {
		return checkLoadsAndStores(prog)
	}
	return nil
}

// allowed reports whether op is on the kernel's classic-BPF opcode
// whitelist (chk_code_allowed).
func allowed(op uint16) bool {
	switch op {
	case 0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x94, 0x9c, // add sub mul div mod, k/x
		0x54, 0x5c, 0x44, 0x4c, 0xa4, 0xac, 0x64, 0x6c, 0x74, 0x7c, 0x84, // and or xor lsh rsh neg
		0x00, 0x80, 0x81, 0xb1, 0x01, 0x60, 0x61, 0x02, 0x03, // ld imm/len, ldx len/msh/imm, ld/ldx mem, st, stx
		0x20, 0x28, 0x30, 0x40, 0x48, 0x50, // ld abs/ind w/h/b
		0x07, 0x87, 0x06, 0x16, // tax txa ret k/a
		0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d: // ja jeq jgt jge jset
		return true
	}
	return false
}

func knownAncillary(off uint32) bool {
	return off < skfADMax && off%4 == 0
}

// checkLoadsAndStores mirrors the kernel's check_load_and_stores: a scratch
// cell may only be read when every path to the read stored it first.
func checkLoadsAndStores(prog []bpf.RawInstruction) error {
	masks := make([]uint16, len(prog))
	for i := range masks {
		masks[i] = 0xffff
	}
	var valid uint16
	for pc, ins := range prog {
		valid &= masks[pc]
		switch {
		case ins.Op == 0x02 || ins.Op == 0x03:
			valid |= 1 << ins.K
		case ins.Op == 0x60 || ins.Op == 0x61:
			if valid&(1<<ins.K) == 0 {
				return fmt.Errorf("%w: instruction %d reads M[%d] before any store on some path", ErrInvalid, pc, ins.K)
			}
		case ins.Op == 0x05:
			masks[pc+1+int(ins.K)] &= valid
			valid = 0xffff
		case ins.Op&0x07 == clsJMP:
			masks[pc+1+int(ins.Jt)] &= valid
			masks[pc+1+int(ins.Jf)] &= valid
			valid = 0xffff
		}
	}
	return nil
}

// Result is the outcome of one run.
type Result struct {
	Ret   uint32 // the program's return value (0 = drop)
	Steps int    // instructions executed
	// Abort is set when the program stopped on an out-of-bounds load or a
	// division by zero rather than a return instruction.
	Abort string
}

// Run executes a validated program (see Validate; Run assumes it) on pkt.
// wireLen is the BPF "len" (0 means len(pkt)); meta may be nil for offline
// programs, in which case ancillary loads read zeros.
func Run(prog []bpf.RawInstruction, pkt []byte, wireLen uint32, meta *Meta) Result {
	if wireLen == 0 {
		wireLen = uint32(len(pkt))
	}
	var m Meta
	if meta != nil {
		m = *meta
	}
	var a, x uint32
	var mem [16]uint32
	steps := 0
	load := func(off uint32, size uint16) (uint32, bool) {
		var n uint32
		switch size {
		case szW:
			n = 4
		case szH:
			n = 2
		default:
			n = 1
		}
		if uint64(off)+uint64(n) > uint64(len(pkt)) {
			return 0, false
		}
		switch n {
		case 4:
			return binary.BigEndian.Uint32(pkt[off:]), true
		case 2:
			return uint32(binary.BigEndian.Uint16(pkt[off:])), true
		}
		return uint32(pkt[off]), true
	}
	for pc := 0; pc < len(prog); pc++ {
		steps++
		ins := prog[pc]
		op, k := ins.Op, ins.K
		switch op & 0x07 {
		case clsLD:
			switch op & 0xe0 {
			case mIMM:
				a = k
			case mLEN:
				a = wireLen
			case mMEM:
				a = mem[k&15]
			case mABS:
				if k >= SKFADOff && k < SKFADOff+skfADMax {
					v, ok := ancillary(k-SKFADOff, &m, a, x)
					if !ok {
						return Result{Ret: 0, Steps: steps, Abort: fmt.Sprintf("unsupported ancillary load %#x", k)}
					}
					a = v
					continue
				}
				if k >= SKFLLOff { // other negative offsets: not modelled, the kernel would need header pointers
					return Result{Ret: 0, Steps: steps, Abort: fmt.Sprintf("negative offset load %#x", k)}
				}
				v, ok := load(k, op&0x18)
				if !ok {
					return Result{Ret: 0, Steps: steps, Abort: fmt.Sprintf("load %d out of bounds", k)}
				}
				a = v
			case mIND:
				off := x + k
				if int32(off) < 0 { // the kernel's negative-offset helpers are not modelled
					return Result{Ret: 0, Steps: steps, Abort: fmt.Sprintf("indirect load x=%d k=%d out of bounds", x, k)}
				}
				v, ok := load(off, op&0x18)
				if !ok {
					return Result{Ret: 0, Steps: steps, Abort: fmt.Sprintf("indirect load %d out of bounds", off)}
				}
				a = v
			}
		case clsLDX:
			switch op & 0xe0 {
			case mIMM:
				x = k
			case mLEN:
				x = wireLen
			case mMEM:
				x = mem[k&15]
			case mMSH:
				v, ok := load(k, szB)
				if !ok {
					return Result{Ret: 0, Steps: steps, Abort: fmt.Sprintf("msh load %d out of bounds", k)}
				}
				x = 4 * (v & 0xf)
			}
		case clsST:
			mem[k&15] = a
		case clsSTX:
			mem[k&15] = x
		case clsALU:
			v := k
			if op&0x08 == srcX {
				v = x
			}
			switch op & 0xf0 {
			case 0x00:
				a += v
			case 0x10:
				a -= v
			case 0x20:
				a *= v
			case 0x30:
				if v == 0 {
					return Result{Ret: 0, Steps: steps, Abort: "division by zero"}
				}
				a /= v
			case 0x40:
				a |= v
			case 0x50:
				a &= v
			case 0x60:
				a = shl(a, v)
			case 0x70:
				a = shr(a, v)
			case 0x80:
				a = -a
			case 0x90:
				if v == 0 {
					return Result{Ret: 0, Steps: steps, Abort: "modulo by zero"}
				}
				a %= v
			case 0xa0:
				a ^= v
			}
		case clsJMP:
			if op&0xf0 == 0x00 {
				// libpcap's protochain loops with a backward "ja" (k
				// negative as int32): the kernel refuses such programs,
				// but libpcap's own interpreter runs them, so Run does
				// too, bounded by MaxSteps.
				pc += int(int32(k))
				if pc+1 < 0 || pc+1 >= len(prog) {
					return Result{Ret: 0, Steps: steps, Abort: "jump out of range"}
				}
				if steps >= MaxSteps {
					return Result{Ret: 0, Steps: steps, Abort: "step limit"}
				}
				continue
			}
			v := k
			if op&0x08 == srcX {
				v = x
			}
			var cond bool
			switch op & 0xf0 {
			case 0x10:
				cond = a == v
			case 0x20:
				cond = a > v
			case 0x30:
				cond = a >= v
			case 0x40:
				cond = a&v != 0
			}
			if cond {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case clsRET:
			switch op & 0x18 {
			case srcA:
				return Result{Ret: a, Steps: steps}
			default:
				return Result{Ret: k, Steps: steps}
			}
		case clsMISC:
			if op&0xf8 == 0x80 {
				a = x
			} else {
				x = a
			}
		}
	}
	return Result{Ret: 0, Steps: steps, Abort: "fell off the end"}
}

// ancillary returns the value an SKF_AD_* load yields.
func ancillary(off uint32, m *Meta, a, x uint32) (uint32, bool) {
	switch off {
	case SKFADProtocol:
		return uint32(m.Protocol), true
	case SKFADPktType:
		return m.PktType, true
	case SKFADIfIndex:
		return m.IfIndex, true
	case SKFADMark:
		return m.Mark, true
	case SKFADHAType:
		return uint32(m.HAType), true
	case SKFADALUXORX:
		return a ^ x, true
	case SKFADVLANTag:
		if !m.VLANPresent {
			return 0, true
		}
		return uint32(m.VLANTCI), true
	case SKFADVLANTagPresent:
		if m.VLANPresent {
			return 1, true
		}
		return 0, true
	case SKFADVLANTPID:
		if !m.VLANPresent {
			return 0, true
		}
		return uint32(m.VLANTPID), true
	case SKFADQueue, SKFADRxHash, SKFADCPU, SKFADRandom, SKFADPayOffset:
		return 0, true
	}
	return 0, false
}

func shl(a, n uint32) uint32 {
	if n >= 32 {
		return 0
	}
	return a << n
}

func shr(a, n uint32) uint32 {
	if n >= 32 {
		return 0
	}
	return a >> n
}

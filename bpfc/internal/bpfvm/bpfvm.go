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
	"golang.org/x/sys/unix"
)

// Bases of the kernel's negative offsets in k (linux/filter.h). An absolute
// load at SKFADOff + a bpf.Extension number reads socket-buffer metadata;
// SKFNetOff and SKFLLOff start the ranges relative to the network and
// link-layer headers.
const (
	SKFADOff  = 0xfffff000 // SKF_AD_OFF, -0x1000 as uint32
	SKFNetOff = 0xfff00000 // SKF_NET_OFF, -0x100000
	SKFLLOff  = 0xffe00000 // SKF_LL_OFF, -0x200000
	skfADMax  = 64         // SKF_AD_MAX

	// extALUXORX is SKF_AD_ALU_XOR_X, which x/net/bpf does not name.
	extALUXORX bpf.Extension = 40
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
		case unix.BPF_ALU | unix.BPF_DIV | unix.BPF_K, unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K:
			if ins.K == 0 {
				return bad("division by constant zero")
			}
		case unix.BPF_ALU | unix.BPF_LSH | unix.BPF_K, unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K:
			if ins.K >= 32 {
				return bad("shift by 32 or more")
			}
		case unix.BPF_LD | unix.BPF_MEM, unix.BPF_LDX | unix.BPF_MEM, unix.BPF_ST, unix.BPF_STX:
			if ins.K >= 16 {
				return bad("scratch index out of range")
			}
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, unix.BPF_LD | unix.BPF_B | unix.BPF_ABS:
			// ancillary offsets must be known
			if ins.K >= SKFADOff && !knownAncillary(ins.K-SKFADOff) {
				return bad("unknown ancillary load")
			}
		case unix.BPF_JMP | unix.BPF_JA:
			if backward && int32(ins.K) < 0 {
				if pc+1+int(int32(ins.K)) < 0 {
					return bad("jump out of range")
				}
			} else if uint64(ins.K) >= uint64(n-pc-1) {
				return bad("jump out of range")
			}
		default:
			if ins.Op&0x07 == unix.BPF_JMP && (pc+int(ins.Jt)+1 >= n || pc+int(ins.Jf)+1 >= n) {
				return bad("jump out of range")
			}
		}
	}
	if last := prog[n-1].Op; last != unix.BPF_RET|unix.BPF_K && last != unix.BPF_RET|unix.BPF_A {
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
	const ld, ldx, alu, jmp, k, x = unix.BPF_LD, unix.BPF_LDX, unix.BPF_ALU, unix.BPF_JMP, unix.BPF_K, unix.BPF_X
	switch op {
	case alu | unix.BPF_ADD | k, alu | unix.BPF_ADD | x, alu | unix.BPF_SUB | k, alu | unix.BPF_SUB | x,
		alu | unix.BPF_MUL | k, alu | unix.BPF_MUL | x, alu | unix.BPF_DIV | k, alu | unix.BPF_DIV | x,
		alu | unix.BPF_MOD | k, alu | unix.BPF_MOD | x, alu | unix.BPF_AND | k, alu | unix.BPF_AND | x,
		alu | unix.BPF_OR | k, alu | unix.BPF_OR | x, alu | unix.BPF_XOR | k, alu | unix.BPF_XOR | x,
		alu | unix.BPF_LSH | k, alu | unix.BPF_LSH | x, alu | unix.BPF_RSH | k, alu | unix.BPF_RSH | x,
		alu | unix.BPF_NEG,
		ld | unix.BPF_IMM, ld | unix.BPF_W | unix.BPF_LEN, ldx | unix.BPF_W | unix.BPF_LEN,
		ldx | unix.BPF_B | unix.BPF_MSH, ldx | unix.BPF_IMM, ld | unix.BPF_MEM, ldx | unix.BPF_MEM,
		unix.BPF_ST, unix.BPF_STX,
		ld | unix.BPF_W | unix.BPF_ABS, ld | unix.BPF_H | unix.BPF_ABS, ld | unix.BPF_B | unix.BPF_ABS,
		ld | unix.BPF_W | unix.BPF_IND, ld | unix.BPF_H | unix.BPF_IND, ld | unix.BPF_B | unix.BPF_IND,
		unix.BPF_MISC | unix.BPF_TAX, unix.BPF_MISC | unix.BPF_TXA,
		unix.BPF_RET | k, unix.BPF_RET | unix.BPF_A,
		jmp | unix.BPF_JA, jmp | unix.BPF_JEQ | k, jmp | unix.BPF_JEQ | x, jmp | unix.BPF_JGT | k,
		jmp | unix.BPF_JGT | x, jmp | unix.BPF_JGE | k, jmp | unix.BPF_JGE | x, jmp | unix.BPF_JSET | k,
		jmp | unix.BPF_JSET | x:
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
		case ins.Op == unix.BPF_ST || ins.Op == unix.BPF_STX:
			valid |= 1 << ins.K
		case ins.Op == unix.BPF_LD|unix.BPF_MEM || ins.Op == unix.BPF_LDX|unix.BPF_MEM:
			if valid&(1<<ins.K) == 0 {
				return fmt.Errorf("%w: instruction %d reads M[%d] before any store on some path", ErrInvalid, pc, ins.K)
			}
		case ins.Op == unix.BPF_JMP|unix.BPF_JA:
			masks[pc+1+int(ins.K)] &= valid
			valid = 0xffff
		case ins.Op&0x07 == unix.BPF_JMP:
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
		case unix.BPF_W:
			n = 4
		case unix.BPF_H:
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
		case unix.BPF_LD:
			switch op & 0xe0 {
			case unix.BPF_IMM:
				a = k
			case unix.BPF_LEN:
				a = wireLen
			case unix.BPF_MEM:
				a = mem[k&15]
			case unix.BPF_ABS:
				if k >= SKFADOff && k < SKFADOff+skfADMax {
					v, ok := ancillary(bpf.Extension(k-SKFADOff), &m, a, x)
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
			case unix.BPF_IND:
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
		case unix.BPF_LDX:
			switch op & 0xe0 {
			case unix.BPF_IMM:
				x = k
			case unix.BPF_LEN:
				x = wireLen
			case unix.BPF_MEM:
				x = mem[k&15]
			case unix.BPF_MSH:
				v, ok := load(k, unix.BPF_B)
				if !ok {
					return Result{Ret: 0, Steps: steps, Abort: fmt.Sprintf("msh load %d out of bounds", k)}
				}
				x = 4 * (v & 0xf)
			}
		case unix.BPF_ST:
			mem[k&15] = a
		case unix.BPF_STX:
			mem[k&15] = x
		case unix.BPF_ALU:
			v := k
			if op&0x08 == unix.BPF_X {
				v = x
			}
			switch op & 0xf0 {
			case unix.BPF_ADD:
				a += v
			case unix.BPF_SUB:
				a -= v
			case unix.BPF_MUL:
				a *= v
			case unix.BPF_DIV:
				if v == 0 {
					return Result{Ret: 0, Steps: steps, Abort: "division by zero"}
				}
				a /= v
			case unix.BPF_OR:
				a |= v
			case unix.BPF_AND:
				a &= v
			case unix.BPF_LSH:
				a = shl(a, v)
			case unix.BPF_RSH:
				a = shr(a, v)
			case unix.BPF_NEG:
				a = -a
			case unix.BPF_MOD:
				if v == 0 {
					return Result{Ret: 0, Steps: steps, Abort: "modulo by zero"}
				}
				a %= v
			case unix.BPF_XOR:
				a ^= v
			}
		case unix.BPF_JMP:
			if op&0xf0 == unix.BPF_JA {
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
			if op&0x08 == unix.BPF_X {
				v = x
			}
			var cond bool
			switch op & 0xf0 {
			case unix.BPF_JEQ:
				cond = a == v
			case unix.BPF_JGT:
				cond = a > v
			case unix.BPF_JGE:
				cond = a >= v
			case unix.BPF_JSET:
				cond = a&v != 0
			}
			if cond {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case unix.BPF_RET:
			switch op & 0x18 {
			case unix.BPF_A:
				return Result{Ret: a, Steps: steps}
			default:
				return Result{Ret: k, Steps: steps}
			}
		case unix.BPF_MISC:
			if op&0xf8 == unix.BPF_TXA {
				a = x
			} else {
				x = a
			}
		}
	}
	return Result{Ret: 0, Steps: steps, Abort: "fell off the end"}
}

// ancillary returns the value an SKF_AD_* load yields.
func ancillary(e bpf.Extension, m *Meta, a, x uint32) (uint32, bool) {
	switch e {
	case bpf.ExtProto:
		return uint32(m.Protocol), true
	case bpf.ExtType:
		return m.PktType, true
	case bpf.ExtInterfaceIndex:
		return m.IfIndex, true
	case bpf.ExtMark:
		return m.Mark, true
	case bpf.ExtLinkLayerType:
		return uint32(m.HAType), true
	case extALUXORX:
		return a ^ x, true
	case bpf.ExtVLANTag:
		if !m.VLANPresent {
			return 0, true
		}
		return uint32(m.VLANTCI), true
	case bpf.ExtVLANTagPresent:
		if m.VLANPresent {
			return 1, true
		}
		return 0, true
	case bpf.ExtVLANProto:
		if !m.VLANPresent {
			return 0, true
		}
		return uint32(m.VLANTPID), true
	case bpf.ExtQueue, bpf.ExtRXHash, bpf.ExtCPUID, bpf.ExtRand, bpf.ExtPayloadOffset:
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

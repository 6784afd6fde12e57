package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// runBPF runs a classic BPF program that reads no socket metadata (an
// offline bpfc program, checked by checkOffline) over pkt and returns its
// verdict: the bytes to keep, 0 to reject. As in the kernel, a load past
// the end of pkt and a division by zero reject the packet.
//
// golang.org/x/net/bpf has a VM that does the same, but it works on
// disassembled instructions and brings the disassembler with it: about
// 30 KB of a router's flash for one user-space check.
func runBPF(prog []bpf.RawInstruction, pkt []byte) uint32 {
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Op & 0x07 {
		case unix.BPF_LD, unix.BPF_LDX:
			v, ok := bpfLoad(in, pkt, x, &mem)
			if !ok {
				return 0
			}
			if in.Op&0x07 == unix.BPF_LD {
				a = v
			} else {
				x = v
			}
		case unix.BPF_ST:
			mem[in.K%16] = a
		case unix.BPF_STX:
			mem[in.K%16] = x
		case unix.BPF_ALU:
			v := in.K
			if in.Op&unix.BPF_X != 0 {
				v = x
			}
			var ok bool
			if a, ok = bpfALU(in.Op&0xf0, a, v); !ok {
				return 0
			}
		case unix.BPF_JMP:
			pc += bpfJump(in, a, x)
		case unix.BPF_RET:
			if in.Op&0x18 == unix.BPF_A {
				return a
			}
			return in.K
		case unix.BPF_MISC:
			if in.Op&0xf8 == unix.BPF_TAX {
				x = a
			} else {
				a = x
			}
		}
	}
	return 0
}

// bpfLoad is the value a load instruction reads; false when it reads past
// the packet.
func bpfLoad(in bpf.RawInstruction, pkt []byte, x uint32, mem *[16]uint32) (uint32, bool) {
	off := in.K
	switch in.Op & 0xe0 {
	case unix.BPF_IMM:
		return in.K, true
	case unix.BPF_MEM:
		return mem[in.K%16], true
	case unix.BPF_LEN:
		return uint32(len(pkt)), true
	case unix.BPF_MSH:
		if uint64(off) >= uint64(len(pkt)) {
			return 0, false
		}
		return 4 * uint32(pkt[off]&0x0f), true
	case unix.BPF_IND:
		off += x
		if off < x { // wrapped
			return 0, false
		}
	}
	n := uint64(4)
	switch in.Op & 0x18 {
	case unix.BPF_H:
		n = 2
	case unix.BPF_B:
		n = 1
	}
	if uint64(off)+n > uint64(len(pkt)) {
		return 0, false
	}
	b := pkt[off:]
	switch n {
	case 1:
		return uint32(b[0]), true
	case 2:
		return uint32(binary.BigEndian.Uint16(b)), true
	}
	return binary.BigEndian.Uint32(b), true
}

// bpfALU applies op to a and v; false for a division or modulo by zero.
func bpfALU(op uint16, a, v uint32) (uint32, bool) {
	switch op {
	case unix.BPF_ADD:
		return a + v, true
	case unix.BPF_SUB:
		return a - v, true
	case unix.BPF_MUL:
		return a * v, true
	case unix.BPF_DIV, unix.BPF_MOD:
		if v == 0 {
			return 0, false
		}
		if op == unix.BPF_DIV {
			return a / v, true
		}
		return a % v, true
	case unix.BPF_OR:
		return a | v, true
	case unix.BPF_AND:
		return a & v, true
	case unix.BPF_XOR:
		return a ^ v, true
	case unix.BPF_LSH:
		return a << v, true
	case unix.BPF_RSH:
		return a >> v, true
	case unix.BPF_NEG:
		return -a, true
	}
	return 0, false
}

// bpfJump is how many instructions a jump skips.
func bpfJump(in bpf.RawInstruction, a, x uint32) int {
	if in.Op&0xf0 == unix.BPF_JA {
		return int(in.K)
	}
	v := in.K
	if in.Op&unix.BPF_X != 0 {
		v = x
	}
	var yes bool
	switch in.Op & 0xf0 {
	case unix.BPF_JEQ:
		yes = a == v
	case unix.BPF_JGT:
		yes = a > v
	case unix.BPF_JGE:
		yes = a >= v
	case unix.BPF_JSET:
		yes = a&v != 0
	}
	if yes {
		return int(in.Jt)
	}
	return int(in.Jf)
}

// checkOffline refuses what runBPF cannot run as the kernel would: loads
// of socket metadata, and jumps out of the program.
func checkOffline(prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		return errors.New("empty program")
	}
	for pc, in := range prog {
		switch in.Op & 0x07 {
		case unix.BPF_LD:
			if mode := in.Op & 0xe0; (mode == unix.BPF_ABS || mode == unix.BPF_IND) && in.K >= skfAdOff {
				return fmt.Errorf("instruction %d reads socket metadata", pc)
			}
		case unix.BPF_JMP:
			far := int(in.Jt)
			if int(in.Jf) > far {
				far = int(in.Jf)
			}
			if in.Op&0xf0 == unix.BPF_JA {
				far = int(in.K)
			}
			if pc+1+far >= len(prog) || far < 0 {
				return fmt.Errorf("instruction %d jumps out of the program", pc)
			}
		}
	}
	if prog[len(prog)-1].Op&0x07 != unix.BPF_RET {
		return errors.New("program does not end in a return")
	}
	return nil
}

package bpfc

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ancillaryNames are the names tcpdump prints for Linux ancillary loads.
var ancillaryNames = map[bpf.Extension]string{
	bpf.ExtProto: "proto", bpf.ExtType: "type", bpf.ExtInterfaceIndex: "ifidx",
	bpf.ExtNetlinkAttr: "nla", bpf.ExtNetlinkAttrNested: "nlan", bpf.ExtMark: "mark",
	bpf.ExtQueue: "queue", bpf.ExtLinkLayerType: "hatype", bpf.ExtRXHash: "rxhash",
	bpf.ExtCPUID: "cpu", bpf.ExtVLANTag: "vlan_tci", bpf.ExtVLANTagPresent: "vlanp",
	bpf.ExtPayloadOffset: "pay_offset", bpf.ExtRand: "random", bpf.ExtVLANProto: "vlan_tpid",
}

// Image formats instruction n the way tcpdump -d (libpcap's bpf_image) does.
func Image(in bpf.RawInstruction, n int) string {
	op, operand := mnemonic(in, n)
	if op == "" {
		op, operand = "unimp", fmt.Sprintf("0x%x", in.Op)
	}
	if bpfClass(in.Op) == unix.BPF_JMP && bpfOp(in.Op) != unix.BPF_JA {
		return fmt.Sprintf("(%03d) %-8s %-16s jt %d\tjf %d", n, op, operand, n+1+int(in.Jt), n+1+int(in.Jf))
	}
	return fmt.Sprintf("(%03d) %-8s %s", n, op, operand)
}

// mnemonic returns the name and operand tcpdump prints for instruction n,
// or "" for an opcode it prints as unimp.
func mnemonic(in bpf.RawInstruction, n int) (op, operand string) {
	switch in.Op {
	case unix.BPF_RET | unix.BPF_K:
		return "ret", fmt.Sprintf("#%d", in.K)
	case unix.BPF_RET | unix.BPF_A:
		return "ret", ""
	case unix.BPF_MISC | unix.BPF_TAX:
		return "tax", ""
	case unix.BPF_MISC | unix.BPF_TXA:
		return "txa", ""
	case unix.BPF_JMP | unix.BPF_JA:
		return "ja", fmt.Sprintf("%d", n+1+int(in.K))
	case unix.BPF_ALU | unix.BPF_NEG:
		return "neg", ""
	}
	switch bpfClass(in.Op) {
	case unix.BPF_ALU:
		return aluMnemonic(in)
	case unix.BPF_JMP:
		return jumpMnemonic(in)
	}
	return loadMnemonic(in)
}

// loadMnemonic covers loads and stores.
func loadMnemonic(in bpf.RawInstruction) (op, operand string) {
	k := in.K
	switch in.Op {
	case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
		return "ld", absOperand(k)
	case unix.BPF_LD | unix.BPF_H | unix.BPF_ABS:
		return "ldh", absOperand(k)
	case unix.BPF_LD | unix.BPF_B | unix.BPF_ABS:
		return "ldb", absOperand(k)
	case unix.BPF_LD | unix.BPF_W | unix.BPF_LEN:
		return "ld", "#pktlen"
	case unix.BPF_LD | unix.BPF_W | unix.BPF_IND:
		return "ld", fmt.Sprintf("[x + %d]", k)
	case unix.BPF_LD | unix.BPF_H | unix.BPF_IND:
		return "ldh", fmt.Sprintf("[x + %d]", k)
	case unix.BPF_LD | unix.BPF_B | unix.BPF_IND:
		return "ldb", fmt.Sprintf("[x + %d]", k)
	case unix.BPF_LD | unix.BPF_IMM:
		return "ld", fmt.Sprintf("#0x%x", k)
	case unix.BPF_LDX | unix.BPF_IMM:
		return "ldx", fmt.Sprintf("#0x%x", k)
	case unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH:
		return "ldxb", fmt.Sprintf("4*([%d]&0xf)", k)
	case unix.BPF_LD | unix.BPF_MEM:
		return "ld", fmt.Sprintf("M[%d]", k)
	case unix.BPF_LDX | unix.BPF_MEM:
		return "ldx", fmt.Sprintf("M[%d]", k)
	case unix.BPF_ST:
		return "st", fmt.Sprintf("M[%d]", k)
	case unix.BPF_STX:
		return "stx", fmt.Sprintf("M[%d]", k)
	}
	return "", ""
}

// absOperand names an absolute load's offset, ancillary ones by name.
func absOperand(k uint32) string {
	if k >= skfAdOff {
		if s, ok := ancillaryNames[bpf.Extension(k-skfAdOff)]; ok {
			return "[" + s + "]"
		}
	}
	return fmt.Sprintf("[%d]", int32(k))
}

// aluMnemonic covers the binary ALU operations: "x" for the X register,
// else the constant in decimal, or in hexadecimal for bitwise operations.
func aluMnemonic(in bpf.RawInstruction) (op, operand string) {
	hex := false
	switch bpfOp(in.Op) {
	case unix.BPF_ADD:
		op = "add"
	case unix.BPF_SUB:
		op = "sub"
	case unix.BPF_MUL:
		op = "mul"
	case unix.BPF_DIV:
		op = "div"
	case unix.BPF_MOD:
		op = "mod"
	case unix.BPF_LSH:
		op = "lsh"
	case unix.BPF_RSH:
		op = "rsh"
	case unix.BPF_AND:
		op, hex = "and", true
	case unix.BPF_OR:
		op, hex = "or", true
	case unix.BPF_XOR:
		op, hex = "xor", true
	default:
		return "", ""
	}
	if operand = constOrX(in, hex); operand == "" {
		return "", ""
	}
	return op, operand
}

// jumpMnemonic covers the conditional jumps.
func jumpMnemonic(in bpf.RawInstruction) (op, operand string) {
	switch bpfOp(in.Op) {
	case unix.BPF_JGT:
		op = "jgt"
	case unix.BPF_JGE:
		op = "jge"
	case unix.BPF_JEQ:
		op = "jeq"
	case unix.BPF_JSET:
		op = "jset"
	default:
		return "", ""
	}
	if operand = constOrX(in, true); operand == "" {
		return "", ""
	}
	return op, operand
}

// constOrX is the operand of an ALU or jump instruction: "x", or k in
// hexadecimal or decimal. Opcodes with bits outside class, operation and
// source yield "".
func constOrX(in bpf.RawInstruction, hex bool) string {
	switch {
	case in.Op&^(0x07|0xf0) == unix.BPF_X:
		return "x"
	case in.Op&^(0x07|0xf0) != unix.BPF_K:
		return ""
	case hex:
		return fmt.Sprintf("#0x%x", in.K)
	}
	return fmt.Sprintf("#%d", in.K)
}

// Format selects a listing format.
type Format int

const (
	// Listing is tcpdump -d: one disassembled instruction per line.
	Listing Format = iota + 1
	// CArray is tcpdump -dd: a C array initializer.
	CArray
	// Decimal is tcpdump -ddd: the count, then "code jt jf k" per line.
	Decimal
)

// Fprint writes prog in format f exactly as tcpdump -d, -dd or -ddd would.
func Fprint(w io.Writer, prog []bpf.RawInstruction, f Format) error {
	var sb strings.Builder
	switch f {
	case Listing:
		for i, in := range prog {
			sb.WriteString(Image(in, i))
			sb.WriteByte('\n')
		}
	case CArray:
		for _, in := range prog {
			fmt.Fprintf(&sb, "{ 0x%x, %d, %d, 0x%08x },\n", in.Op, in.Jt, in.Jf, in.K)
		}
	case Decimal:
		fmt.Fprintf(&sb, "%d\n", len(prog))
		for _, in := range prog {
			fmt.Fprintf(&sb, "%d %d %d %d\n", in.Op, in.Jt, in.Jf, in.K)
		}
	default:
		return fmt.Errorf("bpfc: unknown format %d", f)
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

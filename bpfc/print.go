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
		return binaryMnemonic(in, aluOps)
	case unix.BPF_JMP:
		return binaryMnemonic(in, jumpOps)
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

// opName is how tcpdump prints one ALU or jump operation; hex selects a
// hexadecimal constant operand.
type opName struct {
	op   uint16
	name string
	hex  bool
}

var (
	aluOps = []opName{
		{unix.BPF_ADD, "add", false}, {unix.BPF_SUB, "sub", false}, {unix.BPF_MUL, "mul", false},
		{unix.BPF_DIV, "div", false}, {unix.BPF_MOD, "mod", false}, {unix.BPF_LSH, "lsh", false},
		{unix.BPF_RSH, "rsh", false}, {unix.BPF_AND, "and", true}, {unix.BPF_OR, "or", true},
		{unix.BPF_XOR, "xor", true},
	}
	jumpOps = []opName{
		{unix.BPF_JGT, "jgt", true}, {unix.BPF_JGE, "jge", true}, {unix.BPF_JEQ, "jeq", true},
		{unix.BPF_JSET, "jset", true},
	}
)

// binaryMnemonic names an ALU operation or conditional jump (ops is
// aluOps or jumpOps) and formats its operand.
func binaryMnemonic(in bpf.RawInstruction, ops []opName) (op, operand string) {
	for _, o := range ops {
		if bpfOp(in.Op) == o.op {
			if operand = constOrX(in, o.hex); operand != "" {
				return o.name, operand
			}
			break
		}
	}
	return "", ""
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

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
	var op, operand string
	k := in.K
	abs := func(name string) {
		op = name
		if k >= skfAdOff {
			if s, ok := ancillaryNames[bpf.Extension(k-skfAdOff)]; ok {
				operand = "[" + s + "]"
				return
			}
		}
		operand = fmt.Sprintf("[%d]", int32(k))
	}
	switch in.Op {
	case unix.BPF_RET | unix.BPF_K:
		op, operand = "ret", fmt.Sprintf("#%d", k)
	case unix.BPF_RET | unix.BPF_A:
		op, operand = "ret", ""
	case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
		abs("ld")
	case unix.BPF_LD | unix.BPF_H | unix.BPF_ABS:
		abs("ldh")
	case unix.BPF_LD | unix.BPF_B | unix.BPF_ABS:
		abs("ldb")
	case unix.BPF_LD | unix.BPF_W | unix.BPF_LEN:
		op, operand = "ld", "#pktlen"
	case unix.BPF_LD | unix.BPF_W | unix.BPF_IND:
		op, operand = "ld", fmt.Sprintf("[x + %d]", k)
	case unix.BPF_LD | unix.BPF_H | unix.BPF_IND:
		op, operand = "ldh", fmt.Sprintf("[x + %d]", k)
	case unix.BPF_LD | unix.BPF_B | unix.BPF_IND:
		op, operand = "ldb", fmt.Sprintf("[x + %d]", k)
	case unix.BPF_LD | unix.BPF_IMM:
		op, operand = "ld", fmt.Sprintf("#0x%x", k)
	case unix.BPF_LDX | unix.BPF_IMM:
		op, operand = "ldx", fmt.Sprintf("#0x%x", k)
	case unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH:
		op, operand = "ldxb", fmt.Sprintf("4*([%d]&0xf)", k)
	case unix.BPF_LD | unix.BPF_MEM:
		op, operand = "ld", fmt.Sprintf("M[%d]", k)
	case unix.BPF_LDX | unix.BPF_MEM:
		op, operand = "ldx", fmt.Sprintf("M[%d]", k)
	case unix.BPF_ST:
		op, operand = "st", fmt.Sprintf("M[%d]", k)
	case unix.BPF_STX:
		op, operand = "stx", fmt.Sprintf("M[%d]", k)
	case unix.BPF_JMP | unix.BPF_JA:
		op, operand = "ja", fmt.Sprintf("%d", n+1+int(k))
	case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
		op, operand = "jgt", fmt.Sprintf("#0x%x", k)
	case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
		op, operand = "jge", fmt.Sprintf("#0x%x", k)
	case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
		op, operand = "jeq", fmt.Sprintf("#0x%x", k)
	case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
		op, operand = "jset", fmt.Sprintf("#0x%x", k)
	case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_X:
		op, operand = "jgt", "x"
	case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_X:
		op, operand = "jge", "x"
	case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_X:
		op, operand = "jeq", "x"
	case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_X:
		op, operand = "jset", "x"
	case unix.BPF_ALU | unix.BPF_ADD | unix.BPF_X:
		op, operand = "add", "x"
	case unix.BPF_ALU | unix.BPF_SUB | unix.BPF_X:
		op, operand = "sub", "x"
	case unix.BPF_ALU | unix.BPF_MUL | unix.BPF_X:
		op, operand = "mul", "x"
	case unix.BPF_ALU | unix.BPF_DIV | unix.BPF_X:
		op, operand = "div", "x"
	case unix.BPF_ALU | unix.BPF_MOD | unix.BPF_X:
		op, operand = "mod", "x"
	case unix.BPF_ALU | unix.BPF_AND | unix.BPF_X:
		op, operand = "and", "x"
	case unix.BPF_ALU | unix.BPF_OR | unix.BPF_X:
		op, operand = "or", "x"
	case unix.BPF_ALU | unix.BPF_XOR | unix.BPF_X:
		op, operand = "xor", "x"
	case unix.BPF_ALU | unix.BPF_LSH | unix.BPF_X:
		op, operand = "lsh", "x"
	case unix.BPF_ALU | unix.BPF_RSH | unix.BPF_X:
		op, operand = "rsh", "x"
	case unix.BPF_ALU | unix.BPF_ADD | unix.BPF_K:
		op, operand = "add", fmt.Sprintf("#%d", k)
	case unix.BPF_ALU | unix.BPF_SUB | unix.BPF_K:
		op, operand = "sub", fmt.Sprintf("#%d", k)
	case unix.BPF_ALU | unix.BPF_MUL | unix.BPF_K:
		op, operand = "mul", fmt.Sprintf("#%d", k)
	case unix.BPF_ALU | unix.BPF_DIV | unix.BPF_K:
		op, operand = "div", fmt.Sprintf("#%d", k)
	case unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K:
		op, operand = "mod", fmt.Sprintf("#%d", k)
	case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
		op, operand = "and", fmt.Sprintf("#0x%x", k)
	case unix.BPF_ALU | unix.BPF_OR | unix.BPF_K:
		op, operand = "or", fmt.Sprintf("#0x%x", k)
	case unix.BPF_ALU | unix.BPF_XOR | unix.BPF_K:
		op, operand = "xor", fmt.Sprintf("#0x%x", k)
	case unix.BPF_ALU | unix.BPF_LSH | unix.BPF_K:
		op, operand = "lsh", fmt.Sprintf("#%d", k)
	case unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K:
		op, operand = "rsh", fmt.Sprintf("#%d", k)
	case unix.BPF_ALU | unix.BPF_NEG:
		op, operand = "neg", ""
	case unix.BPF_MISC | unix.BPF_TAX:
		op, operand = "tax", ""
	case unix.BPF_MISC | unix.BPF_TXA:
		op, operand = "txa", ""
	default:
		op, operand = "unimp", fmt.Sprintf("0x%x", in.Op)
	}
	if bpfClass(in.Op) == unix.BPF_JMP && bpfOp(in.Op) != unix.BPF_JA {
		return fmt.Sprintf("(%03d) %-8s %-16s jt %d\tjf %d", n, op, operand, n+1+int(in.Jt), n+1+int(in.Jf))
	}
	return fmt.Sprintf("(%03d) %-8s %s", n, op, operand)
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

package bpfc

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/bpf"
)

// ancillary names tcpdump prints for Linux SKF_AD_* loads.
var ancillaryNames = map[uint32]string{
	0: "proto", 4: "type", 8: "ifidx", 12: "nla", 16: "nlan", 20: "mark", 24: "queue",
	28: "hatype", 32: "rxhash", 36: "cpu", 44: "vlan_tci", 48: "vlanp", 52: "pay_offset",
	56: "random", 60: "vlan_tpid",
}

// Image formats instruction n the way tcpdump -d (libpcap's bpf_image) does.
func Image(in bpf.RawInstruction, n int) string {
	var op, operand string
	k := in.K
	abs := func(name string) {
		op = name
		if k >= skfAdOff {
			if s, ok := ancillaryNames[k-skfAdOff]; ok {
				operand = "[" + s + "]"
				return
			}
		}
		operand = fmt.Sprintf("[%d]", int32(k))
	}
	switch in.Op {
	case clsRET | retK:
		op, operand = "ret", fmt.Sprintf("#%d", k)
	case clsRET | retA:
		op, operand = "ret", ""
	case clsLD | szW | mABS:
		abs("ld")
	case clsLD | szH | mABS:
		abs("ldh")
	case clsLD | szB | mABS:
		abs("ldb")
	case clsLD | szW | mLEN:
		op, operand = "ld", "#pktlen"
	case clsLD | szW | mIND:
		op, operand = "ld", fmt.Sprintf("[x + %d]", k)
	case clsLD | szH | mIND:
		op, operand = "ldh", fmt.Sprintf("[x + %d]", k)
	case clsLD | szB | mIND:
		op, operand = "ldb", fmt.Sprintf("[x + %d]", k)
	case clsLD | mIMM:
		op, operand = "ld", fmt.Sprintf("#0x%x", k)
	case clsLDX | mIMM:
		op, operand = "ldx", fmt.Sprintf("#0x%x", k)
	case clsLDX | szB | mMSH:
		op, operand = "ldxb", fmt.Sprintf("4*([%d]&0xf)", k)
	case clsLD | mMEM:
		op, operand = "ld", fmt.Sprintf("M[%d]", k)
	case clsLDX | mMEM:
		op, operand = "ldx", fmt.Sprintf("M[%d]", k)
	case clsST:
		op, operand = "st", fmt.Sprintf("M[%d]", k)
	case clsSTX:
		op, operand = "stx", fmt.Sprintf("M[%d]", k)
	case clsJMP | jJA:
		op, operand = "ja", fmt.Sprintf("%d", n+1+int(k))
	case clsJMP | jJGT | srcK:
		op, operand = "jgt", fmt.Sprintf("#0x%x", k)
	case clsJMP | jJGE | srcK:
		op, operand = "jge", fmt.Sprintf("#0x%x", k)
	case clsJMP | jJEQ | srcK:
		op, operand = "jeq", fmt.Sprintf("#0x%x", k)
	case clsJMP | jJSET | srcK:
		op, operand = "jset", fmt.Sprintf("#0x%x", k)
	case clsJMP | jJGT | srcX:
		op, operand = "jgt", "x"
	case clsJMP | jJGE | srcX:
		op, operand = "jge", "x"
	case clsJMP | jJEQ | srcX:
		op, operand = "jeq", "x"
	case clsJMP | jJSET | srcX:
		op, operand = "jset", "x"
	case clsALU | aluADD | srcX:
		op, operand = "add", "x"
	case clsALU | aluSUB | srcX:
		op, operand = "sub", "x"
	case clsALU | aluMUL | srcX:
		op, operand = "mul", "x"
	case clsALU | aluDIV | srcX:
		op, operand = "div", "x"
	case clsALU | aluMOD | srcX:
		op, operand = "mod", "x"
	case clsALU | aluAND | srcX:
		op, operand = "and", "x"
	case clsALU | aluOR | srcX:
		op, operand = "or", "x"
	case clsALU | aluXOR | srcX:
		op, operand = "xor", "x"
	case clsALU | aluLSH | srcX:
		op, operand = "lsh", "x"
	case clsALU | aluRSH | srcX:
		op, operand = "rsh", "x"
	case clsALU | aluADD | srcK:
		op, operand = "add", fmt.Sprintf("#%d", k)
	case clsALU | aluSUB | srcK:
		op, operand = "sub", fmt.Sprintf("#%d", k)
	case clsALU | aluMUL | srcK:
		op, operand = "mul", fmt.Sprintf("#%d", k)
	case clsALU | aluDIV | srcK:
		op, operand = "div", fmt.Sprintf("#%d", k)
	case clsALU | aluMOD | srcK:
		op, operand = "mod", fmt.Sprintf("#%d", k)
	case clsALU | aluAND | srcK:
		op, operand = "and", fmt.Sprintf("#0x%x", k)
	case clsALU | aluOR | srcK:
		op, operand = "or", fmt.Sprintf("#0x%x", k)
	case clsALU | aluXOR | srcK:
		op, operand = "xor", fmt.Sprintf("#0x%x", k)
	case clsALU | aluLSH | srcK:
		op, operand = "lsh", fmt.Sprintf("#%d", k)
	case clsALU | aluRSH | srcK:
		op, operand = "rsh", fmt.Sprintf("#%d", k)
	case clsALU | aluNEG:
		op, operand = "neg", ""
	case clsMISC | miscTAX:
		op, operand = "tax", ""
	case clsMISC | miscTXA:
		op, operand = "txa", ""
	default:
		op, operand = "unimp", fmt.Sprintf("0x%x", in.Op)
	}
	if in.Op&0x07 == clsJMP && in.Op&0xf0 != jJA {
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

package bpfc

import (
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Opcodes are built from x/sys/unix's BPF_* field values; these are the
// field extractors of linux/bpf_common.h (BPF_CLASS, BPF_SIZE, BPF_MODE,
// BPF_OP, BPF_MISCOP), which x/sys/unix does not provide.
func bpfClass(code uint16) uint16  { return code & 0x07 }
func bpfSize(code uint16) uint16   { return code & 0x18 }
func bpfMode(code uint16) uint16   { return code & 0xe0 }
func bpfOp(code uint16) uint16     { return code & 0xf0 }
func bpfMiscOp(code uint16) uint16 { return code & 0xf8 }

// skfAdOff is the kernel's SKF_AD_OFF (-0x1000) as the uint32 in k: an
// absolute load at skfAdOff + a bpf.Extension number reads socket metadata
// instead of packet bytes. x/net/bpf assembles its extensions there but
// does not export the base.
const skfAdOff = 0xfffff000

// ancillary is the k of an absolute load that reads extension e.
func ancillary(e bpf.Extension) uint32 { return skfAdOff + uint32(e) }

// stmt is one non-branching instruction of a block. jt/jf are used only by
// the few statement-level conditional jumps libpcap emits inside a block
// (live vlan, protochain): they count statements to skip.
type stmt struct {
	code   uint16
	jt, jf uint8
	k      uint32
}

// block is a basic block: statements then a conditional jump on A (or a
// return when ret is set).
type block struct {
	stmts  []stmt
	code   uint16 // jump opcode
	k      uint32
	jt, jf *block
	ret    bool

	id    int
	mark  int
	inner bool // contains statement-level jumps: treat as opaque in the optimizer
	opt   *blockInfo
}

// exit is one unresolved branch of a block: its true or its false edge.
type exit struct {
	b      *block
	onTrue bool // the true edge (jt); otherwise the false edge (jf)
}

// cond is a boolean expression under construction: an entry block and the
// dangling edges taken when it is true or false (libpcap's sense/backpatch
// lists made explicit).
type cond struct {
	head   *block
	tl, fl []exit
}

func patch(list []exit, target *block) {
	for _, e := range list {
		if e.onTrue {
			e.b.jt = target
		} else {
			e.b.jf = target
		}
	}
}

func newCond(stmts []stmt, code uint16, k uint32) *cond {
	b := &block{stmts: stmts, code: code, k: k}
	for _, s := range stmts {
		if bpfClass(s.code) == unix.BPF_JMP {
			b.inner = true
		}
	}
	return &cond{head: b, tl: []exit{{b, true}}, fl: []exit{{b, false}}}
}

func and(a, b *cond) *cond {
	patch(a.tl, b.head)
	return &cond{head: a.head, tl: b.tl, fl: append(append([]exit{}, a.fl...), b.fl...)}
}

func or(a, b *cond) *cond {
	patch(a.fl, b.head)
	return &cond{head: a.head, tl: append(append([]exit{}, a.tl...), b.tl...), fl: b.fl}
}

func not(a *cond) *cond { return &cond{head: a.head, tl: a.fl, fl: a.tl} }

// rawInsn converts a statement to x/net/bpf's raw form.
func (s stmt) raw() bpf.RawInstruction {
	return bpf.RawInstruction{Op: s.code, Jt: s.jt, Jf: s.jf, K: s.k}
}

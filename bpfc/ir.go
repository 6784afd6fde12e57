package bpfc

import "golang.org/x/net/bpf"

// Opcode pieces (classic BPF encoding).
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

	aluADD = 0x00
	aluSUB = 0x10
	aluMUL = 0x20
	aluDIV = 0x30
	aluOR  = 0x40
	aluAND = 0x50
	aluLSH = 0x60
	aluRSH = 0x70
	aluNEG = 0x80
	aluMOD = 0x90
	aluXOR = 0xa0

	jJA   = 0x00
	jJEQ  = 0x10
	jJGT  = 0x20
	jJGE  = 0x30
	jJSET = 0x40

	srcK = 0x00
	srcX = 0x08

	miscTAX = 0x00
	miscTXA = 0x80

	retK = 0x00
	retA = 0x10
)

// Linux ancillary data offsets (SKF_AD_OFF + SKF_AD_*).
const (
	skfAdOff           = 0xfffff000
	skfAdPktType       = skfAdOff + 4
	skfAdVLANTag       = skfAdOff + 44
	skfAdVLANTagPresnt = skfAdOff + 48
	packetOutgoing     = 4
)

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
	b    *block
	true bool
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
		if e.true {
			e.b.jt = target
		} else {
			e.b.jf = target
		}
	}
}

func newCond(stmts []stmt, code uint16, k uint32) *cond {
	b := &block{stmts: stmts, code: code, k: k}
	for _, s := range stmts {
		if s.code&0x07 == clsJMP {
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

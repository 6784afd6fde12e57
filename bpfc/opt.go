package bpfc

import (
	"math/bits"

	"golang.org/x/sys/unix"
)

// The optimizer follows the ideas of libpcap's optimize.c: global value
// numbering with constant folding (removing loads of values a register
// already holds), peephole rewrites, dead-store elimination, and jump
// threading along edge dominators (a test whose outcome is implied by a
// test every path has already passed is skipped). Every rewrite keeps the
// verdict for every packet; where libpcap takes a shortcut whose soundness
// is unclear, this code is conservative.

const (
	atomX  = 16
	atomA  = 17
	nAtoms = 18
)

type atomSet uint32

func (s atomSet) has(a int) bool { return s&(1<<uint(a)) != 0 }

type vnKey struct {
	code uint16
	a, b uint32
}

// valueNumbers maps computations to value numbers; 0 means unknown.
type valueNumbers struct {
	m      map[vnKey]int
	consts map[int]uint32
	next   int
}

func newVN() *valueNumbers {
	return &valueNumbers{m: map[vnKey]int{}, consts: map[int]uint32{}, next: 1}
}

func (v *valueNumbers) get(k vnKey) int {
	if n, ok := v.m[k]; ok {
		return n
	}
	n := v.next
	v.next++
	v.m[k] = n
	return n
}

// K is the value number of constant c.
func (v *valueNumbers) K(c uint32) int {
	n := v.get(vnKey{code: unix.BPF_LD | unix.BPF_IMM, a: c})
	v.consts[n] = c
	return n
}

// F is the value number of an operation on value numbers (0 if unknown).
func (v *valueNumbers) F(code uint16, a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	return v.get(vnKey{code: code, a: uint32(a), b: uint32(b)})
}

func (v *valueNumbers) isConst(n int) (uint32, bool) {
	c, ok := v.consts[n]
	return c, ok && n != 0
}

// blockInfo is per-block analysis state for one optimizer pass.
type blockInfo struct {
	preds        []*block
	entry, exit  [nAtoms]int
	use, def     atomSet // use before def; def may over-approximate kills
	kill         atomSet // atoms definitely written (for liveness)
	liveIn       atomSet
	liveOut      atomSet
	topo         int
	dirty        bool
	edomT, edomF []uint64
	operand      int // value number of the jump's operand
}

type optimizer struct {
	root   *block
	blocks []*block
	vn     *valueNumbers
}

func optimize(root *block) *block {
	o := &optimizer{root: root}
	pullBudget := maxPullups
	for iter := 0; iter < 1000; iter++ {
		o.analyze()
		o.valueNumber(false)
		o.liveness()
		o.edoms()
		if o.threadJumps() {
			continue
		}
		if o.valueNumber(true) {
			o.cleanup()
			continue
		}
		o.liveness()
		if o.peephole() || o.deadStores() {
			o.cleanup()
			continue
		}
		if o.pullups(&pullBudget) {
			continue
		}
		break
	}
	o.optRoot()
	o.intern()
	return o.root
}

func (o *optimizer) analyze() {
	o.blocks = order(o.root)
	for i, b := range o.blocks {
		b.opt = &blockInfo{topo: i}
	}
	for _, b := range o.blocks {
		if b.ret {
			continue
		}
		b.jt.opt.preds = append(b.jt.opt.preds, b)
		if b.jf != b.jt {
			b.jf.opt.preds = append(b.jf.opt.preds, b)
		}
	}
}

// cleanup drops statements turned into no-ops.
func (o *optimizer) cleanup() {
	for _, b := range o.blocks {
		out := b.stmts[:0]
		for _, s := range b.stmts {
			if s.code != nop {
				out = append(out, s)
			}
		}
		b.stmts = out
	}
}

// nop marks a deleted statement until cleanup.
const nop = 0xffff

// stmtAtoms returns the atoms a statement reads and writes.
func stmtAtoms(s stmt) (use, def atomSet) {
	A, X := atomSet(1<<atomA), atomSet(1<<atomX)
	switch bpfClass(s.code) {
	case unix.BPF_LD:
		switch bpfMode(s.code) {
		case unix.BPF_IND:
			return X, A
		case unix.BPF_MEM:
			return 1 << s.k, A
		}
		return 0, A
	case unix.BPF_LDX:
		if bpfMode(s.code) == unix.BPF_MEM {
			return 1 << s.k, X
		}
		return 0, X
	case unix.BPF_ST:
		return A, 1 << s.k
	case unix.BPF_STX:
		return X, 1 << s.k
	case unix.BPF_ALU:
		if bpfOp(s.code) == unix.BPF_NEG {
			return A, A
		}
		if s.code&unix.BPF_X != 0 {
			return A | X, A
		}
		return A, A
	case unix.BPF_MISC:
		if bpfMiscOp(s.code) == unix.BPF_TXA {
			return X, A
		}
		return A, X
	case unix.BPF_JMP:
		if bpfOp(s.code) == unix.BPF_JA {
			return 0, 0
		}
		if s.code&unix.BPF_X != 0 {
			return A | X, 0
		}
		return A, 0
	}
	return 0, 0
}

func jumpUse(b *block) atomSet {
	if b.ret {
		return 0
	}
	if b.code&unix.BPF_X != 0 && bpfOp(b.code) != unix.BPF_JA {
		return 1<<atomA | 1<<atomX
	}
	if b.code == unix.BPF_JMP|unix.BPF_JA {
		return 0
	}
	return 1 << atomA
}

// liveness computes live-in/out atom sets (backwards over the DAG).
func (o *optimizer) liveness() {
	for i := len(o.blocks) - 1; i >= 0; i-- {
		b := o.blocks[i]
		bi := b.opt
		var use, def atomSet
		for _, s := range b.stmts {
			u, d := stmtAtoms(s)
			use |= u &^ def
			if !b.inner {
				def |= d
			}
		}
		bi.kill = def
		if b.inner {
			for _, s := range b.stmts {
				_, d := stmtAtoms(s)
				bi.def |= d
			}
		} else {
			bi.def = def
		}
		use |= jumpUse(b) &^ def
		bi.use = use
		if !b.ret {
			bi.liveOut = b.jt.opt.liveIn | b.jf.opt.liveIn
		}
		bi.liveIn = use | bi.liveOut&^def
	}
}

// valueNumber runs value numbering over all blocks in topological order.
// With alter it rewrites statements and folds constant branches and
// reports whether anything changed.
func (o *optimizer) valueNumber(alter bool) bool {
	o.vn = newVN()
	changed := false
	for _, b := range o.blocks {
		bi := b.opt
		if len(bi.preds) > 0 {
			bi.entry = bi.preds[0].opt.exit
			for _, p := range bi.preds[1:] {
				pe := p.opt.exit
				for a := 0; a < nAtoms; a++ {
					if bi.entry[a] != pe[a] {
						bi.entry[a] = 0
					}
				}
			}
		} else {
			bi.entry = [nAtoms]int{}
		}
		val := bi.entry
		if b.inner {
			for i := range b.stmts {
				_, d := stmtAtoms(b.stmts[i])
				for a := 0; a < nAtoms; a++ {
					if d.has(a) {
						val[a] = 0
					}
				}
			}
		} else {
			for i := range b.stmts {
				if o.stmtVN(&b.stmts[i], &val, alter) {
					changed = true
				}
			}
		}
		bi.exit = val
		if b.ret {
			continue
		}
		if b.code&unix.BPF_X != 0 {
			bi.operand = val[atomX]
			if c, ok := o.vn.isConst(val[atomX]); ok && alter {
				b.code &^= unix.BPF_X
				b.k = c
				bi.operand = o.vn.K(c)
				changed = true
			}
		} else {
			bi.operand = o.vn.K(b.k)
		}
		if alter && b.code&unix.BPF_X == 0 && b.jt != b.jf {
			if a, ok := o.vn.isConst(val[atomA]); ok {
				var r bool
				switch bpfOp(b.code) {
				case unix.BPF_JEQ:
					r = a == b.k
				case unix.BPF_JGT:
					r = a > b.k
				case unix.BPF_JGE:
					r = a >= b.k
				case unix.BPF_JSET:
					r = a&b.k != 0
				}
				if r {
					b.jf = b.jt
				} else {
					b.jt = b.jf
				}
				changed = true
			}
		}
		if alter && b.code == unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K && b.k == 0 && b.jt != b.jf {
			b.jt = b.jf
			changed = true
		}
	}
	return changed
}

func foldOp(op uint16, a, b uint32) (uint32, bool) {
	switch op {
	case unix.BPF_ADD:
		return a + b, true
	case unix.BPF_SUB:
		return a - b, true
	case unix.BPF_MUL:
		return a * b, true
	case unix.BPF_DIV:
		if b == 0 {
			return 0, false
		}
		return a / b, true
	case unix.BPF_MOD:
		if b == 0 {
			return 0, false
		}
		return a % b, true
	case unix.BPF_AND:
		return a & b, true
	case unix.BPF_OR:
		return a | b, true
	case unix.BPF_XOR:
		return a ^ b, true
	case unix.BPF_LSH:
		if b > 31 {
			return 0, false
		}
		return a << b, true
	case unix.BPF_RSH:
		if b > 31 {
			return 0, false
		}
		return a >> b, true
	}
	return 0, false
}

// stmtVN numbers one statement, rewriting it when alter is set.
func (o *optimizer) stmtVN(s *stmt, val *[nAtoms]int, alter bool) bool {
	vn := o.vn
	changed := false
	store := func(dst *int, v int) {
		if alter && v != 0 && *dst == v {
			s.code = nop
			changed = true
			return
		}
		*dst = v
	}
	switch c := s.code; {
	case c == nop:
	case bpfClass(c) == unix.BPF_LD && bpfMode(c) == unix.BPF_ABS:
		store(&val[atomA], vn.get(vnKey{code: c, a: s.k}))
	case bpfClass(c) == unix.BPF_LD && bpfMode(c) == unix.BPF_IND:
		x := val[atomX]
		if xc, ok := vn.isConst(x); ok && alter && uint64(s.k)+uint64(xc) < skfAdOff {
			s.code = unix.BPF_LD | bpfSize(c) | unix.BPF_ABS
			s.k += xc
			changed = true
			store(&val[atomA], vn.get(vnKey{code: s.code, a: s.k}))
		} else if x == 0 {
			val[atomA] = 0
		} else {
			store(&val[atomA], vn.get(vnKey{code: c, a: s.k, b: uint32(x)}))
		}
	case c == unix.BPF_LD|unix.BPF_LEN:
		store(&val[atomA], vn.get(vnKey{code: c}))
	case c == unix.BPF_LD|unix.BPF_IMM:
		store(&val[atomA], vn.K(s.k))
	case c == unix.BPF_LDX|unix.BPF_IMM:
		store(&val[atomX], vn.K(s.k))
	case c == unix.BPF_LDX|unix.BPF_B|unix.BPF_MSH:
		store(&val[atomX], vn.get(vnKey{code: c, a: s.k}))
	case c == unix.BPF_LD|unix.BPF_MEM:
		v := val[s.k]
		if mc, ok := vn.isConst(v); ok && alter {
			s.code, s.k = unix.BPF_LD|unix.BPF_IMM, mc
			changed = true
		}
		store(&val[atomA], v)
	case c == unix.BPF_LDX|unix.BPF_MEM:
		v := val[s.k]
		if mc, ok := vn.isConst(v); ok && alter {
			s.code, s.k = unix.BPF_LDX|unix.BPF_IMM, mc
			changed = true
		}
		store(&val[atomX], v)
	case c == unix.BPF_ST:
		store(&val[s.k], val[atomA])
	case c == unix.BPF_STX:
		store(&val[s.k], val[atomX])
	case c == unix.BPF_MISC|unix.BPF_TAX:
		store(&val[atomX], val[atomA])
	case c == unix.BPF_MISC|unix.BPF_TXA:
		store(&val[atomA], val[atomX])
	case c == unix.BPF_ALU|unix.BPF_NEG:
		if ac, ok := vn.isConst(val[atomA]); ok && alter {
			s.code, s.k = unix.BPF_LD|unix.BPF_IMM, -ac
			val[atomA] = vn.K(s.k)
			changed = true
		} else {
			val[atomA] = vn.F(c, val[atomA], 1)
		}
	case bpfClass(c) == unix.BPF_ALU && c&unix.BPF_X == 0:
		op := bpfOp(c)
		if alter {
			if s.k == 0 {
				switch op {
				case unix.BPF_ADD, unix.BPF_SUB, unix.BPF_LSH, unix.BPF_RSH, unix.BPF_OR, unix.BPF_XOR:
					s.code = nop
					return true
				case unix.BPF_MUL, unix.BPF_AND:
					s.code = unix.BPF_LD | unix.BPF_IMM
					val[atomA] = vn.K(0)
					return true
				}
			}
			if ac, ok := vn.isConst(val[atomA]); ok {
				if r, ok := foldOp(op, ac, s.k); ok {
					s.code, s.k = unix.BPF_LD|unix.BPF_IMM, r
					val[atomA] = vn.K(r)
					return true
				}
			}
		}
		val[atomA] = vn.F(c, val[atomA], vn.K(s.k))
	case bpfClass(c) == unix.BPF_ALU:
		op := bpfOp(c)
		if alter {
			if xc, ok := vn.isConst(val[atomX]); ok {
				if ac, ok := vn.isConst(val[atomA]); ok {
					if r, ok := foldOp(op, ac, xc); ok {
						s.code, s.k = unix.BPF_LD|unix.BPF_IMM, r
						val[atomA] = vn.K(r)
						return true
					}
				}
				if !((op == unix.BPF_DIV || op == unix.BPF_MOD) && xc == 0) && !((op == unix.BPF_LSH || op == unix.BPF_RSH) && xc > 31) {
					s.code, s.k = unix.BPF_ALU|op|unix.BPF_K, xc
					val[atomA] = vn.F(s.code, val[atomA], vn.K(xc))
					return true
				}
			}
			if ac, ok := vn.isConst(val[atomA]); ok && ac == 0 {
				switch op {
				case unix.BPF_ADD, unix.BPF_OR, unix.BPF_XOR:
					s.code = unix.BPF_MISC | unix.BPF_TXA
					val[atomA] = val[atomX]
					return true
				case unix.BPF_MUL, unix.BPF_AND, unix.BPF_LSH, unix.BPF_RSH:
					s.code, s.k = unix.BPF_LD|unix.BPF_IMM, 0
					val[atomA] = vn.K(0)
					return true
				}
			}
		}
		val[atomA] = vn.F(c, val[atomA], val[atomX])
	default:
		// anything else (statement-level jumps) makes everything unknown
		for a := range val {
			val[a] = 0
		}
	}
	return changed
}

// peephole applies libpcap's local rewrites.
func (o *optimizer) peephole() bool {
	changed := false
	for _, b := range o.blocks {
		if b.ret || b.inner {
			continue
		}
		bi := b.opt
		ss := b.stmts
		for i := 0; i+1 < len(ss); i++ {
			s, n := &ss[i], &ss[i+1]
			// st M[k]; ldx M[k] -> st M[k]; tax
			if s.code == unix.BPF_ST && n.code == unix.BPF_LDX|unix.BPF_MEM && s.k == n.k {
				n.code, n.k = unix.BPF_MISC|unix.BPF_TAX, 0
				changed = true
			}
			// ld #k; tax -> ldx #k; txa
			if s.code == unix.BPF_LD|unix.BPF_IMM && n.code == unix.BPF_MISC|unix.BPF_TAX {
				s.code = unix.BPF_LDX | unix.BPF_IMM
				n.code = unix.BPF_MISC | unix.BPF_TXA
				changed = true
			}
		}
		// ld #k; [ldxb 4*([n]&0xf)]; add x; tax; ld[x+m] -> [ldxb]; ld [x+m+k]
		if !bi.liveOut.has(atomX) {
			for i := 0; i < len(ss); i++ {
				if ss[i].code != unix.BPF_LD|unix.BPF_IMM {
					continue
				}
				j := i + 1
				if j < len(ss) && ss[j].code == unix.BPF_LDX|unix.BPF_B|unix.BPF_MSH {
					j++
				}
				if j+2 >= len(ss) || ss[j].code != unix.BPF_ALU|unix.BPF_ADD|unix.BPF_X || ss[j+1].code != unix.BPF_MISC|unix.BPF_TAX ||
					bpfClass(ss[j+2].code) != unix.BPF_LD || bpfMode(ss[j+2].code) != unix.BPF_IND {
					continue
				}
				if j+3 < len(ss) {
					// X must not be read again in this block after the load
					used := false
					for _, t := range ss[j+3:] {
						u, d := stmtAtoms(t)
						if u.has(atomX) {
							used = true
							break
						}
						if d.has(atomX) {
							break
						}
					}
					if used {
						continue
					}
				} else if jumpUse(b).has(atomX) {
					continue
				}
				ss[j+2].k += ss[i].k
				ss[i].code, ss[j].code, ss[j+1].code = nop, nop, nop
				changed = true
			}
		}
		if b.code == unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K && !bi.liveOut.has(atomA) && len(ss) > 0 {
			last := &ss[len(ss)-1]
			switch {
			case last.code == unix.BPF_ALU|unix.BPF_SUB|unix.BPF_X && b.k == 0:
				last.code = nop
				b.code = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_X
				changed = true
			case last.code == unix.BPF_ALU|unix.BPF_SUB|unix.BPF_K:
				b.k += last.k
				last.code = nop
				changed = true
			case last.code == unix.BPF_ALU|unix.BPF_AND|unix.BPF_K && b.k == 0:
				b.k = last.k
				b.code = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
				last.code = nop
				b.jt, b.jf = b.jf, b.jt
				changed = true
			}
		}
	}
	return changed
}

// deadStores removes statements whose results are never used.
func (o *optimizer) deadStores() bool {
	changed := false
	for _, b := range o.blocks {
		if b.ret || b.inner {
			continue
		}
		live := b.opt.liveOut | jumpUse(b)
		for i := len(b.stmts) - 1; i >= 0; i-- {
			s := &b.stmts[i]
			if s.code == nop {
				continue
			}
			u, d := stmtAtoms(*s)
			if d != 0 && d&live == 0 {
				s.code = nop
				changed = true
				continue
			}
			live = live&^d | u
		}
	}
	return changed
}

// edoms computes, for each edge, the set of edges on every path from the
// root to it (including itself). Edge ids: 2*topo (true), 2*topo+1 (false).
func (o *optimizer) edoms() {
	words := (2*len(o.blocks) + 63) / 64
	full := func() []uint64 {
		s := make([]uint64, words)
		for i := range s {
			s[i] = ^uint64(0)
		}
		return s
	}
	for _, b := range o.blocks {
		bi := b.opt
		if b.ret {
			continue
		}
		var in []uint64
		if len(bi.preds) == 0 {
			in = make([]uint64, words)
		} else {
			in = full()
			for _, p := range bi.preds {
				pi := p.opt
				var pe []uint64
				if p.jt == b && p.jf == b {
					// both edges lead here: only their common dominators count
					pe = make([]uint64, words)
					for w := range pe {
						pe[w] = pi.edomT[w] & pi.edomF[w]
					}
				} else if p.jt == b {
					pe = pi.edomT
				} else {
					pe = pi.edomF
				}
				for w := range in {
					in[w] &= pe[w]
				}
			}
		}
		bi.edomT = append([]uint64(nil), in...)
		bi.edomF = append([]uint64(nil), in...)
		t, f := 2*bi.topo, 2*bi.topo+1
		bi.edomT[t/64] |= 1 << uint(t%64)
		bi.edomF[f/64] |= 1 << uint(f%64)
	}
}

// fold returns the successor child certainly takes when edge e (pred
// block p, sense) has been taken, or nil.
func (o *optimizer) fold(child, p *block, sense bool) *block {
	if child.ret || p.ret || child.code != p.code {
		return nil
	}
	ci, pi := child.opt, p.opt
	a0, a1 := ci.exit[atomA], pi.exit[atomA]
	if a0 == 0 || a0 != a1 {
		return nil
	}
	if ci.operand != 0 && ci.operand == pi.operand {
		if sense {
			return child.jt
		}
		return child.jf
	}
	if sense && child.code == unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K {
		if _, ok := o.vn.isConst(ci.operand); ok {
			return child.jf
		}
	}
	return nil
}

// canSkip reports whether pred may jump straight to target instead of
// through child: every atom live at target's entry must hold the same
// value either way.
func (o *optimizer) canSkip(pred, child, target *block) bool {
	ci, pi := child.opt, pred.opt
	live := target.opt.liveIn
	for a := 0; a < nAtoms; a++ {
		if !live.has(a) || !ci.def.has(a) {
			continue
		}
		if child.inner || pi.exit[a] == 0 || pi.exit[a] != ci.exit[a] {
			return false
		}
	}
	return true
}

func (o *optimizer) threadJumps() bool {
	changed := false
	for _, p := range o.blocks {
		if p.ret || p.opt.dirty {
			continue
		}
		for _, sense := range []bool{true, false} {
			succ := p.jt
			edom := p.opt.edomT
			if !sense {
				succ = p.jf
				edom = p.opt.edomF
			}
			best := succ
			// walk the chain of blocks whose outcome is known on this
			// edge; commit to the furthest one reachable with the same
			// register and memory contents as the original path.
			var lastDef [nAtoms]*block
			cur := succ
			for hops := 0; hops < 256 && !cur.ret; hops++ {
				next := o.knownSucc(cur, edom)
				if next == nil {
					break
				}
				ci := cur.opt
				for a := 0; a < nAtoms; a++ {
					if ci.def.has(a) {
						lastDef[a] = cur
					}
				}
				cur = next
				if o.chainOK(p, &lastDef, cur) {
					best = cur
				}
			}
			if best != succ {
				if sense {
					p.jt = best
				} else {
					p.jf = best
				}
				changed = true
				p.opt.dirty = true
				o.markDirty(best)
				// later decisions in this pass read liveness, which the
				// new edge may have changed upstream of p
				o.liveness()
			}
		}
	}
	return changed
}

// knownSucc returns the successor block b certainly takes given the edge
// dominators edom, or nil.
func (o *optimizer) knownSucc(b *block, edom []uint64) *block {
	if b.jt == b.jf {
		return b.jt
	}
	for id, w := range edom {
		for w != 0 {
			bit := trailingZeros(w)
			w &^= 1 << uint(bit)
			e := id*64 + bit
			if t := o.fold(b, o.blocks[e/2], e%2 == 0); t != nil {
				return t
			}
		}
	}
	return nil
}

// chainOK reports whether pred may jump straight to target, skipping
// blocks whose last definitions of each atom are lastDef: every atom live
// at target's entry must hold the value it would have had.
func (o *optimizer) chainOK(pred *block, lastDef *[nAtoms]*block, target *block) bool {
	pi := pred.opt
	live := target.opt.liveIn
	for a := 0; a < nAtoms; a++ {
		d := lastDef[a]
		if !live.has(a) || d == nil {
			continue
		}
		if d.inner || pi.exit[a] == 0 || pi.exit[a] != d.opt.exit[a] {
			return false
		}
	}
	return true
}

func trailingZeros(w uint64) int { return bits.TrailingZeros64(w) }

func (o *optimizer) markDirty(b *block) {
	bi := b.opt
	if bi.dirty && b.ret {
		return
	}
	stack := []*block{b}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		xi := x.opt
		if xi.dirty && x != b {
			continue
		}
		xi.dirty = true
		if !x.ret {
			stack = append(stack, x.jt, x.jf)
		}
	}
}

// optRoot skips branches at the root whose two edges meet.
func (o *optimizer) optRoot() {
	var pre []stmt
	for !o.root.ret && o.root.jt == o.root.jf {
		if o.root.inner {
			break
		}
		pre = append(pre, o.root.stmts...)
		o.root = o.root.jt
	}
	if o.root.ret {
		o.root = &block{ret: true, k: o.root.k}
		return
	}
	if len(pre) > 0 {
		nb := *o.root
		nb.stmts = append(append([]stmt(nil), pre...), o.root.stmts...)
		o.root = &nb
		// the statements moved up may now be dead
		o.analyze()
		o.liveness()
		if o.deadStores() {
			o.cleanup()
		}
	}
}

// intern merges blocks that are identical (same code and successors).
func (o *optimizer) intern() {
	for {
		blocks := order(o.root)
		type key struct {
			s      string
			jt, jf *block
		}
		canon := map[key]*block{}
		repl := map[*block]*block{}
		for i := len(blocks) - 1; i >= 0; i-- {
			b := blocks[i]
			if !b.ret {
				if r, ok := repl[b.jt]; ok {
					b.jt = r
				}
				if r, ok := repl[b.jf]; ok {
					b.jf = r
				}
			}
			k := key{s: blockSig(b), jt: b.jt, jf: b.jf}
			if c, ok := canon[k]; ok {
				repl[b] = c
			} else {
				canon[k] = b
			}
		}
		if len(repl) == 0 {
			return
		}
		if r, ok := repl[o.root]; ok {
			o.root = r
		}
	}
}

func blockSig(b *block) string {
	buf := make([]byte, 0, 8*(len(b.stmts)+1)+1)
	put := func(code uint16, jt, jf uint8, k uint32) {
		buf = append(buf, byte(code>>8), byte(code), jt, jf, byte(k>>24), byte(k>>16), byte(k>>8), byte(k))
	}
	for _, s := range b.stmts {
		put(s.code, s.jt, s.jf, s.k)
	}
	if b.ret {
		buf = append(buf, 'r')
	}
	put(b.code, 0, 0, b.k)
	return string(buf)
}

// maxPullups bounds chain reorderings (libpcap's pullups can cycle).
const maxPullups = 500

// pullups applies or-chain and and-chain reorderings. A reordering only
// moves a block that computes A, so the value numbers stay valid and only
// predecessor lists and liveness need refreshing between two of them.
func (o *optimizer) pullups(budget *int) bool {
	changed := false
	for *budget > 0 {
		found := false
		for _, b := range o.blocks {
			if o.pullup(b, true) || o.pullup(b, false) {
				found = true
				break
			}
		}
		if !found {
			break
		}
		*budget--
		changed = true
		o.blocks = order(o.root)
		for _, b := range o.blocks {
			if b.opt == nil {
				b.opt = &blockInfo{}
			}
			b.opt.preds = b.opt.preds[:0]
		}
		for _, b := range o.blocks {
			if b.ret {
				continue
			}
			b.jt.opt.preds = append(b.jt.opt.preds, b)
			if b.jf != b.jt {
				b.jf.opt.preds = append(b.jf.opt.preds, b)
			}
		}
		o.liveness()
	}
	return changed
}

// pullup reorders a chain of tests that share one outcome (an "or" chain:
// every block's true edge goes to the same place, the false edges link the
// chain; "and" chains are the mirror image) so that a later test of the
// value A holds on entry to b moves up next to the tests of that value and
// its load becomes redundant (libpcap's or_pullup/and_pullup). Reordering
// is sound because the chain blocks only compute A and test it, and every
// moved or skipped block has a single predecessor.
func (o *optimizer) pullup(b *block, isOr bool) bool {
	if b.ret {
		return false
	}
	val := entryValue(b)
	if val == 0 {
		return false
	}
	ch := chain{isOr}
	prev, diff, prevS, pull, ok := ch.find(b, val)
	if !ok {
		return false
	}
	newPreds := b.opt.preds
	if prev != nil {
		newPreds = []*block{prev}
	}
	if !canPull(pull, prevS, newPreds, val) {
		return false
	}
	after := ch.next(pull)
	if after.opt.liveIn.has(atomA) && prevS.opt.exit[atomA] != val {
		return false
	}
	ch.setNext(prevS, after)
	ch.setNext(pull, diff)
	if prev != nil {
		ch.setNext(prev, pull)
		return true
	}
	for _, p := range b.opt.preds {
		if p.jt == b {
			p.jt = pull
		}
		if p.jf == b {
			p.jf = pull
		}
	}
	if o.root == b {
		o.root = pull
	}
	return true
}

// entryValue is the value number of A on entry to b when every
// predecessor agrees on it, else 0.
func entryValue(b *block) int {
	preds := b.opt.preds
	if len(preds) == 0 {
		return 0
	}
	val := preds[0].opt.exit[atomA]
	for _, p := range preds[1:] {
		if p.opt.exit[atomA] != val {
			return 0
		}
	}
	return val
}

// chain is the direction of a pullup chain: in an "or" chain the false
// edges link the tests and the true edges share the outcome; an "and"
// chain is the mirror image.
type chain struct{ isOr bool }

// next is the edge that continues the chain.
func (c chain) next(x *block) *block {
	if c.isOr {
		return x.jf
	}
	return x.jt
}

// same is the edge every test of the chain shares.
func (c chain) same(x *block) *block {
	if c.isOr {
		return x.jt
	}
	return x.jf
}

func (c chain) setNext(x, to *block) {
	if c.isOr {
		x.jf = to
	} else {
		x.jt = to
	}
}

// link reports whether x continues a chain whose shared outcome is t.
// Every block but the first (b) must have a single predecessor.
func (c chain) link(x, t, b *block) bool {
	return !x.ret && c.same(x) == t && x.jt != x.jf && (x == b || len(x.opt.preds) == 1)
}

// find walks the chain from b: past the tests that leave A at val (the
// last is prev, nil when there are none), to diff, the first that
// changes it, and on to pull, the next test that computes val again;
// prevS precedes pull.
func (c chain) find(b *block, val int) (prev, diff, prevS, pull *block, ok bool) {
	t := c.same(b)
	cur := b
	for {
		if !c.link(cur, t, b) {
			return nil, nil, nil, nil, false
		}
		if cur.opt.exit[atomA] != val {
			break
		}
		prev = cur
		cur = c.next(cur)
	}
	diff, prevS = cur, cur
	s := c.next(diff)
	for {
		if !c.link(s, t, nil) {
			return nil, nil, nil, nil, false
		}
		if s.opt.exit[atomA] == val {
			break
		}
		prevS = s
		s = c.next(s)
	}
	return prev, diff, prevS, s, true
}

// canPull reports whether pull may move up to follow newPreds: its
// statements write only A, it does not read A, and every other register
// it reads holds the same value there as after prevS.
func canPull(pull, prevS *block, newPreds []*block, val int) bool {
	if pull.inner || pull.code&unix.BPF_X != 0 {
		return false
	}
	for _, st := range pull.stmts {
		if _, d := stmtAtoms(st); d != 1<<atomA {
			return false
		}
	}
	if pull.opt.use.has(atomA) {
		return false
	}
	for a := 0; a < nAtoms; a++ {
		if a == atomA || !pull.opt.use.has(a) {
			continue
		}
		v := prevS.opt.exit[a]
		if v == 0 {
			return false
		}
		for _, p := range newPreds {
			if p.opt.exit[a] != v {
				return false
			}
		}
	}
	return true
}

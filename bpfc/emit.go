package bpfc

import (
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// order lists the blocks reachable from root in libpcap's emission order:
// a block comes before its true successor's subtree, which comes before its
// false successor's, and shared blocks where first placed; that is a
// topological order, so all jumps go forward.
func order(root *block) []*block {
	seen := map[*block]bool{}
	var post []*block
	var visit func(b *block)
	visit = func(b *block) {
		if b == nil || seen[b] {
			return
		}
		seen[b] = true
		if !b.ret {
			visit(b.jf)
			visit(b.jt)
		}
		post = append(post, b)
	}
	visit(root)
	for i, j := 0, len(post)-1; i < j; i, j = i+1, j-1 {
		post[i], post[j] = post[j], post[i]
	}
	return post
}

// linearize lays out the blocks, adding "ja" trampolines where a
// conditional jump would need an offset above 255.
func linearize(root *block) ([]bpf.RawInstruction, error) {
	blocks := order(root)
	extra := make(map[*block]int)
	var start map[*block]int
	for iter := 0; ; iter++ {
		if iter > 64 {
			return nil, fmt.Errorf("cannot lay out jumps")
		}
		start = make(map[*block]int, len(blocks))
		n := 0
		for _, b := range blocks {
			start[b] = n
			n += len(b.stmts) + 1 + extra[b]
		}
		if n > 4*MaxInsns {
			return nil, fmt.Errorf("program has %d instructions, more than the limit of %d", n, MaxInsns)
		}
		changed := false
		for _, b := range blocks {
			if b.ret || b.jt == b.jf && b.code == unix.BPF_JMP|unix.BPF_JA {
				continue
			}
			j := start[b] + len(b.stmts)
			need := 0
			if start[b.jt]-(j+1) > 255 {
				need++
			}
			if start[b.jf]-(j+1) > 255 && b.jf != b.jt {
				need++
			}
			if need > extra[b] {
				extra[b] = need
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	var prog []bpf.RawInstruction
	for _, b := range blocks {
		for _, s := range b.stmts {
			prog = append(prog, s.raw())
		}
		if b.ret {
			prog = append(prog, bpf.RawInstruction{Op: unix.BPF_RET | unix.BPF_K, K: b.k})
			continue
		}
		j := len(prog)
		if b.code == unix.BPF_JMP|unix.BPF_JA {
			prog = append(prog, bpf.RawInstruction{Op: b.code, K: uint32(start[b.jt] - (j + 1))})
			continue
		}
		in := bpf.RawInstruction{Op: b.code, K: b.k}
		next := j + 1
		var tramp []bpf.RawInstruction
		dt := start[b.jt] - (j + 1)
		df := start[b.jf] - (j + 1)
		if dt > 255 {
			in.Jt = uint8(next + len(tramp) - (j + 1))
			tramp = append(tramp, bpf.RawInstruction{Op: unix.BPF_JMP | unix.BPF_JA, K: uint32(start[b.jt] - (next + len(tramp) + 1))})
		} else {
			in.Jt = uint8(dt)
		}
		if df > 255 {
			if b.jf == b.jt {
				in.Jf = in.Jt
			} else {
				in.Jf = uint8(next + len(tramp) - (j + 1))
				tramp = append(tramp, bpf.RawInstruction{Op: unix.BPF_JMP | unix.BPF_JA, K: uint32(start[b.jf] - (next + len(tramp) + 1))})
			}
		} else {
			in.Jf = uint8(df)
		}
		for len(tramp) < extra[b] {
			// keep the layout computed above: pad with a no-op jump
			tramp = append(tramp, bpf.RawInstruction{Op: unix.BPF_JMP | unix.BPF_JA, K: 0})
		}
		prog = append(prog, in)
		prog = append(prog, tramp...)
	}
	if len(prog) > MaxInsns {
		return nil, fmt.Errorf("program has %d instructions, more than the limit of %d", len(prog), MaxInsns)
	}
	return prog, nil
}

package bpfc

import (
	"fmt"

	"golang.org/x/net/bpf"
)

func newVMFor(p []bpf.RawInstruction) (*bpf.VM, error) {
	ins, ok := bpf.Disassemble(p)
	if !ok {
		return nil, fmt.Errorf("cannot disassemble")
	}
	return bpf.NewVM(ins)
}

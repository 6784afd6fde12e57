package bpfvm

import (
	"math/rand"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// randomProgram builds a valid classic program without ancillary loads:
// forward jumps only, every path ends in a return.
func randomProgram(r *rand.Rand) []bpf.RawInstruction {
	n := 2 + r.Intn(30)
	var prog []bpf.Instruction
	aluOps := []bpf.ALUOp{bpf.ALUOpAdd, bpf.ALUOpSub, bpf.ALUOpMul, bpf.ALUOpDiv, bpf.ALUOpOr, bpf.ALUOpAnd,
		bpf.ALUOpShiftLeft, bpf.ALUOpShiftRight, bpf.ALUOpMod, bpf.ALUOpXor}
	sizes := []int{1, 2, 4}
	smallK := func() uint32 {
		if r.Intn(4) == 0 {
			return r.Uint32()
		}
		return uint32(r.Intn(70))
	}
	for i := 0; i < n-1; i++ {
		left := n - 1 - i - 1 // instructions between this one and the final return
		switch r.Intn(16) {
		case 0:
			prog = append(prog, bpf.LoadAbsolute{Off: uint32(r.Intn(80)), Size: sizes[r.Intn(3)]})
		case 1:
			prog = append(prog, bpf.LoadIndirect{Off: uint32(r.Intn(60)), Size: sizes[r.Intn(3)]})
		case 2:
			prog = append(prog, bpf.LoadMemShift{Off: uint32(r.Intn(70))})
		case 3:
			prog = append(prog, bpf.LoadConstant{Dst: bpf.Register(r.Intn(2)), Val: smallK()})
		case 4:
			prog = append(prog, bpf.LoadScratch{Dst: bpf.Register(r.Intn(2)), N: r.Intn(16)})
		case 5:
			prog = append(prog, bpf.StoreScratch{Src: bpf.Register(r.Intn(2)), N: r.Intn(16)})
		case 6:
			op := aluOps[r.Intn(len(aluOps))]
			k := smallK()
			if (op == bpf.ALUOpDiv || op == bpf.ALUOpMod) && k == 0 {
				k = 3
			}
			if op == bpf.ALUOpShiftLeft || op == bpf.ALUOpShiftRight {
				k %= 32
			}
			prog = append(prog, bpf.ALUOpConstant{Op: op, Val: k})
		case 7:
			prog = append(prog, bpf.ALUOpX{Op: aluOps[r.Intn(len(aluOps))]})
		case 8:
			prog = append(prog, bpf.TAX{}) // x/net/bpf's VM has no NegateA; covered in TestKernelSemantics
		case 9:
			prog = append(prog, bpf.TAX{})
		case 10:
			prog = append(prog, bpf.TXA{})
		case 11:
			prog = append(prog, bpf.LoadExtension{Num: bpf.ExtLen})
		case 12, 13:
			conds := []bpf.JumpTest{bpf.JumpEqual, bpf.JumpGreaterThan, bpf.JumpGreaterOrEqual, bpf.JumpBitsSet}
			jt, jf := uint8(r.Intn(left+1)), uint8(r.Intn(left+1))
			if r.Intn(2) == 0 {
				prog = append(prog, bpf.JumpIf{Cond: conds[r.Intn(4)], Val: smallK(), SkipTrue: jt, SkipFalse: jf})
			} else {
				prog = append(prog, bpf.JumpIfX{Cond: conds[r.Intn(4)], SkipTrue: jt, SkipFalse: jf})
			}
		case 14:
			prog = append(prog, bpf.Jump{Skip: uint32(r.Intn(left + 1))})
		default:
			if r.Intn(2) == 0 {
				prog = append(prog, bpf.RetA{})
			} else {
				prog = append(prog, bpf.RetConstant{Val: smallK()})
			}
		}
	}
	prog = append(prog, bpf.RetA{})
	raw, err := bpf.Assemble(prog)
	if err != nil {
		panic(err)
	}
	return raw
}

func TestMatchesXNetBPF(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	progs := 3000
	if testing.Short() {
		progs = 500
	}
	for i := 0; i < progs; i++ {
		raw := randomProgram(r)
		if err := Validate(raw); err != nil {
			// Only reads of unstored scratch cells make a random program
			// invalid; Run's semantics (cells start zero) still apply,
			// and libpcap's interpreter runs such programs too.
			if !strings.Contains(err.Error(), "before any store") {
				t.Fatalf("program %d: %v", i, err)
			}
		}
		ins, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatalf("program %d does not disassemble", i)
		}
		vm, err := bpf.NewVM(ins)
		if err != nil {
			t.Fatalf("program %d: x/net/bpf: %v", i, err)
		}
		for j := 0; j < 8; j++ {
			pkt := make([]byte, r.Intn(90))
			r.Read(pkt)
			want, crashed, err := runXNet(vm, pkt)
			if crashed {
				// x/net/bpf overflows int on 32-bit targets for indirect
				// loads with a huge X; nothing to compare against.
				continue
			}
			if err != nil {
				t.Fatalf("x/net/bpf run: %v", err)
			}
			got := Run(raw, pkt, 0, nil)
			if got.Ret != uint32(want) {
				t.Fatalf("program %d packet %x: ours %d (%s), x/net/bpf %d\n%v", i, pkt, got.Ret, got.Abort, want, ins)
			}
		}
	}
}

func TestKernelSemantics(t *testing.T) {
	pkt := []byte{0x81, 0x00, 0x00, 0x64, 0x08, 0x00, 0x45}
	m := &Meta{VLANPresent: true, VLANTCI: 0x2064, VLANTPID: 0x88a8, PktType: 4, Protocol: 0x86dd, IfIndex: 7, HAType: 1}
	cases := []struct {
		name string
		prog []bpf.Instruction
		meta *Meta
		want uint32
	}{
		{"abs out of bounds returns 0", []bpf.Instruction{bpf.LoadAbsolute{Off: 6, Size: 2}, bpf.RetConstant{Val: 9}}, nil, 0},
		{"abs last byte", []bpf.Instruction{bpf.LoadAbsolute{Off: 6, Size: 1}, bpf.RetA{}}, nil, 0x45},
		{"ind out of bounds returns 0", []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegX, Val: 5}, bpf.LoadIndirect{Off: 1, Size: 2}, bpf.RetConstant{Val: 9}}, nil, 0},
		{"msh out of bounds returns 0", []bpf.Instruction{bpf.LoadMemShift{Off: 7}, bpf.RetConstant{Val: 9}}, nil, 0},
		{"div by x=0 returns 0", []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: 5}, bpf.ALUOpX{Op: bpf.ALUOpDiv}, bpf.RetConstant{Val: 9}}, nil, 0},
		{"mod by x=0 returns 0", []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: 5}, bpf.ALUOpX{Op: bpf.ALUOpMod}, bpf.RetConstant{Val: 9}}, nil, 0},
		{"vlan present", []bpf.Instruction{bpf.LoadAbsolute{Off: SKFADOff + uint32(bpf.ExtVLANTagPresent), Size: 1}, bpf.RetA{}}, m, 1},
		{"vlan absent", []bpf.Instruction{bpf.LoadAbsolute{Off: SKFADOff + uint32(bpf.ExtVLANTagPresent), Size: 1}, bpf.RetA{}}, &Meta{}, 0},
		{"vlan tag full tci", []bpf.Instruction{bpf.LoadAbsolute{Off: SKFADOff + uint32(bpf.ExtVLANTag), Size: 2}, bpf.RetA{}}, m, 0x2064},
		{"vlan tpid", []bpf.Instruction{bpf.LoadAbsolute{Off: SKFADOff + uint32(bpf.ExtVLANProto), Size: 2}, bpf.RetA{}}, m, 0x88a8},
		{"pkttype as half", []bpf.Instruction{bpf.LoadAbsolute{Off: SKFADOff + uint32(bpf.ExtType), Size: 2}, bpf.RetA{}}, m, 4},
		{"protocol", []bpf.Instruction{bpf.LoadAbsolute{Off: SKFADOff + uint32(bpf.ExtProto), Size: 2}, bpf.RetA{}}, m, 0x86dd},
		{"ifindex", []bpf.Instruction{bpf.LoadAbsolute{Off: SKFADOff + uint32(bpf.ExtInterfaceIndex), Size: 4}, bpf.RetA{}}, m, 7},
		{"hatype", []bpf.Instruction{bpf.LoadAbsolute{Off: SKFADOff + uint32(bpf.ExtLinkLayerType), Size: 4}, bpf.RetA{}}, m, 1},
		{"alu xor x", []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: 6}, bpf.LoadConstant{Dst: bpf.RegX, Val: 3}, bpf.LoadAbsolute{Off: SKFADOff + uint32(extALUXORX), Size: 4}, bpf.RetA{}}, m, 5},
		{"len is wire length", []bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtLen}, bpf.RetA{}}, nil, 1000},
		{"shift by x>=32 is 0", []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: 5}, bpf.LoadConstant{Dst: bpf.RegX, Val: 33}, bpf.ALUOpX{Op: bpf.ALUOpShiftLeft}, bpf.RetA{}}, nil, 0},
		{"neg", []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: 5}, bpf.NegateA{}, bpf.RetA{}}, nil, 0xfffffffb},
		{"scratch starts zero", []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: 5}, bpf.LoadScratch{Dst: bpf.RegA, N: 3}, bpf.RetA{}}, nil, 0},
	}
	for _, c := range cases {
		raw, err := bpf.Assemble(c.prog)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := Validate(raw); err != nil && c.name != "scratch starts zero" {
			t.Fatalf("%s: %v", c.name, err)
		}
		wl := uint32(0)
		if c.name == "len is wire length" {
			wl = 1000
		}
		if got := Run(raw, pkt, wl, c.meta); got.Ret != c.want {
			t.Errorf("%s: got %d (%s), want %d", c.name, got.Ret, got.Abort, c.want)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	bad := map[string][]bpf.RawInstruction{
		"empty":         nil,
		"no return":     {{Op: 0x00, K: 1}},
		"jump past end": {{Op: 0x15, Jt: 1, Jf: 0, K: 1}, {Op: 0x06, K: 0}},
		"ja past end":   {{Op: 0x05, K: 1}, {Op: 0x06, K: 0}},
		"div by k=0":    {{Op: 0x34, K: 0}, {Op: 0x06, K: 0}},
		"lsh by 32":     {{Op: 0x64, K: 32}, {Op: 0x06, K: 0}},
		"scratch 16":    {{Op: 0x02, K: 16}, {Op: 0x06, K: 0}},
		"bad opcode":    {{Op: 0xff, K: 0}, {Op: 0x06, K: 0}},
		"too long":      make([]bpf.RawInstruction, MaxInstructions+1),
		"ret x":         {{Op: 0x0e}},
		"neg x":         {{Op: 0x8c}, {Op: 0x06}},
		"unknown anc":   {{Op: 0x20, K: SKFADOff + 2}, {Op: 0x06}},
		"mem unstored":  {{Op: 0x15, Jt: 0, Jf: 1, K: 1}, {Op: 0x02, K: 0}, {Op: 0x60, K: 0}, {Op: 0x16}},
	}
	for name, p := range bad {
		if err := Validate(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func runXNet(vm *bpf.VM, pkt []byte) (n int, crashed bool, err error) {
	defer func() {
		if recover() != nil {
			crashed = true
		}
	}()
	n, err = vm.Run(pkt)
	return n, false, err
}

// The judge's base of ancillary loads is the one x/net/bpf assembles.
func TestSKFADOffMatchesXNetBPF(t *testing.T) {
	ins, err := bpf.LoadExtension{Num: bpf.ExtType}.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if want := SKFADOff + uint32(bpf.ExtType); ins.K != want {
		t.Fatalf("x/net/bpf ancillary k = %#x, bpfvm's = %#x", ins.K, want)
	}
}

// Package bpfc compiles tcpdump filter expressions (libpcap 1.10's
// language and semantics) to classic BPF for Ethernet (EN10MB), raw IP
// (RAW) and Linux cooked capture (LINUX_SLL). It is pure Go and does no
// I/O.
//
// Code generation follows libpcap decision by decision: with
// Options.NoOptimize the program is the one libpcap generates, instruction
// for instruction (tested against tcpdump -O -ddd output), and the
// optimizer only applies rewrites that keep every packet's verdict (value
// numbering, peephole rewrites, dead stores, jump threading along edge
// dominators, or/and-chain reordering, merging identical blocks).
//
// Supported: and/or/not with libpcap's precedence and qualifier
// inheritance; host/net/port/portrange with directions; IPv4 and IPv6
// addresses and networks; "net N mask M"; proto/ip proto/ip6 proto and
// protocol names; tcp udp sctp icmp icmp6 igmp igrp pim vrrp carp ah esp
// ip ip6 arp rarp atalk aarp decnet lat sca moprc mopdl stp ipx netbeui
// iso pppoed; byte access with arithmetic and comparisons; len, less,
// greater; ether host/src/dst/proto, broadcast, multicast; vlan (live:
// through the kernel's VLAN metadata with the in-frame fallback), mpls,
// pppoes; inbound/outbound (live, or LINUX_SLL).
//
// Differences from libpcap: host and network names are not resolved (no
// DNS, no /etc/networks); service and protocol names come from a built-in
// table (Debian's netbase); "ip broadcast" uses netmask 0, as tcpdump does
// on a savefile; protochain is refused because libpcap's program for it
// jumps backwards, which Linux does not load; DECnet addresses, the iso
// subprotocols (clnp, esis, isis, ...), llc and gateway are not
// implemented and are reported as errors.
//
// Errors are *Error values locating the token that is wrong (or nothing,
// when the whole expression is at fault); Error.Caret draws the expression
// with a caret under it. Code that builds filters, such as a port list or
// "(<user filter>) or udp port 53", composes expression text and passes it
// to Parse or Compile; parsing the user's part alone first keeps its
// errors pointing into what the user wrote and guarantees its parentheses
// balance inside the composition.
package bpfc

import (
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Target selects how the program will be run, which changes the code for
// vlan and inbound/outbound.
type Target int

const (
	// Live is a Linux packet socket: VLAN tags usually arrive as metadata
	// (SKF_AD_VLAN_TAG*) and the packet direction is known (SKF_AD_PKTTYPE).
	Live Target = iota
	// Offline is a savefile: VLAN tags are in the frame, no direction.
	Offline
)

// DefaultSnaplen is the accept return value when Options.Snaplen is zero.
const DefaultSnaplen = 262144

// MaxInsns is the longest program the Linux kernel accepts.
const MaxInsns = 4096

// Options control code generation.
type Options struct {
	LinkType   LinkType // default EN10MB when zero
	Snaplen    uint32   // accept return value; 0 means 262144
	Target     Target
	NoOptimize bool
}

// Filter is a parsed expression. The zero Filter and Parse("") match
// every packet.
type Filter struct {
	src  string
	root node
}

// Parse parses a filter expression. Errors are *Error.
func Parse(expr string) (*Filter, error) {
	root, err := parse(expr)
	if err != nil {
		return nil, err
	}
	return &Filter{src: expr, root: root}, nil
}

// String returns the source expression.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.src
}

// tcpAckExpr matches TCP segments with ACK set: libpcap's tcp[] is
// IPv4-only, so IPv6 (without extension headers) is spelled out.
const tcpAckExpr = "tcp[tcpflags] & tcp-ack != 0 or (ip6 and ip6[6] == 6 and ip6[53] & tcp-ack != 0)"

// AndTCPAck returns (f) and "TCP segment with ACK set" for IPv4 and IPv6.
func (f *Filter) AndTCPAck() *Filter {
	ack, err := parse(tcpAckExpr)
	if err != nil {
		panic("bpfc: built-in expression does not parse: " + err.Error())
	}
	if f == nil || f.root == nil {
		return &Filter{src: tcpAckExpr, root: ack}
	}
	src := "(" + f.src + ") and (" + tcpAckExpr + ")"
	return &Filter{src: src, root: &andNode{l: f.root, r: ack, p: 0}}
}

// Compile generates a validated program for opt.
func (f *Filter) Compile(opt Options) (prog []bpf.RawInstruction, err error) {
	if opt.LinkType == 0 {
		opt.LinkType = EN10MB
	}
	if opt.Snaplen == 0 {
		opt.Snaplen = DefaultSnaplen
	}
	switch opt.LinkType {
	case EN10MB, RAW, LinuxSLL:
	default:
		return nil, wholeErr("link type %s is not supported", opt.LinkType)
	}
	var src string
	var root node
	if f != nil {
		src, root = f.src, f.root
	}
	defer func() {
		if r := recover(); r != nil {
			ge, ok := r.(genError)
			if !ok {
				panic(r)
			}
			prog, err = nil, ge.err
		}
	}()
	g := newGen(src, opt)
	entry := g.program(root)
	if !opt.NoOptimize {
		entry = optimize(entry)
		if entry.ret && entry.k == 0 {
			return nil, rejectsAllError(src, root, opt)
		}
	}
	prog, lerr := linearize(entry)
	if lerr != nil {
		return nil, wholeErr("%v", lerr)
	}
	if verr := Validate(prog); verr != nil {
		return nil, wholeErr("internal error: %v", verr)
	}
	return prog, nil
}

// Compile parses expr and compiles it for opt.
func Compile(expr string, opt Options) ([]bpf.RawInstruction, error) {
	f, err := Parse(expr)
	if err != nil {
		return nil, err
	}
	return f.Compile(opt)
}

// Validate checks what the kernel checks and more: a non-empty program of
// at most MaxInsns instructions, known opcodes, jumps that stay inside the
// program, scratch memory indexes below 16, no constant division by zero,
// and a return as the last instruction (so, with forward-only jumps, every
// path ends in a return).
func Validate(prog []bpf.RawInstruction) error {
	n := len(prog)
	if n == 0 {
		return fmt.Errorf("empty program")
	}
	if n > MaxInsns {
		return fmt.Errorf("program has %d instructions, more than the limit of %d", n, MaxInsns)
	}
	for i, in := range prog {
		switch bpfClass(in.Op) {
		case unix.BPF_LD, unix.BPF_LDX:
			if bpfMode(in.Op) == unix.BPF_MEM && in.K >= 16 {
				return fmt.Errorf("insn %d: scratch memory index %d out of range", i, in.K)
			}
		case unix.BPF_ST, unix.BPF_STX:
			if in.K >= 16 {
				return fmt.Errorf("insn %d: scratch memory index %d out of range", i, in.K)
			}
		case unix.BPF_ALU:
			op := bpfOp(in.Op)
			if (op == unix.BPF_DIV || op == unix.BPF_MOD) && in.Op&unix.BPF_X == 0 && in.K == 0 {
				return fmt.Errorf("insn %d: division by zero", i)
			}
		case unix.BPF_JMP:
			if bpfOp(in.Op) == unix.BPF_JA {
				if uint64(i)+1+uint64(in.K) >= uint64(n) {
					return fmt.Errorf("insn %d: jump past the end", i)
				}
			} else if i+1+int(in.Jt) >= n || i+1+int(in.Jf) >= n {
				return fmt.Errorf("insn %d: jump past the end", i)
			}
		}
	}
	if bpfClass(prog[n-1].Op) != unix.BPF_RET {
		return fmt.Errorf("last instruction is not a return")
	}
	return checkMemInit(prog)
}

// checkMemInit rejects a read of scratch memory that some path reaches
// before any store to it, as the Linux kernel does.
func checkMemInit(prog []bpf.RawInstruction) error {
	const unreached = ^uint16(0)
	valid := make([]uint16, len(prog))
	seen := make([]bool, len(prog))
	for i := range valid {
		valid[i] = unreached
	}
	valid[0], seen[0] = 0, true
	for i, in := range prog {
		if !seen[i] {
			continue
		}
		m := valid[i]
		switch bpfClass(in.Op) {
		case unix.BPF_ST, unix.BPF_STX:
			m |= 1 << in.K
		case unix.BPF_LD, unix.BPF_LDX:
			if bpfMode(in.Op) == unix.BPF_MEM && m&(1<<in.K) == 0 {
				return fmt.Errorf("insn %d: reads M[%d] before any store on some path", i, in.K)
			}
		case unix.BPF_RET:
			continue
		}
		flow := func(j int) {
			if j < len(prog) {
				valid[j] &= m
				seen[j] = true
			}
		}
		if bpfClass(in.Op) == unix.BPF_JMP {
			if bpfOp(in.Op) == unix.BPF_JA {
				flow(i + 1 + int(in.K))
			} else {
				flow(i + 1 + int(in.Jt))
				flow(i + 1 + int(in.Jf))
			}
			continue
		}
		flow(i + 1)
	}
	return nil
}

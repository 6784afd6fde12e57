package bpfc

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// genError carries a compile error out of the generator; Compile recovers
// it (and only it) so deep helpers need not thread errors through.
type genError struct{ err *Error }

// absOff is an offset with an optional run-time part held in M[reg]
// (libpcap's bpf_abs_offset).
type absOff struct {
	c        uint32
	variable bool
	reg      int
}

// offset relatives (libpcap's e_offrel).
type offrel int

const (
	orPacket offrel = iota
	orLinkHdr
	orLinkType
	orLinkPL // network-layer header (link payload plus MPLS labels)
	orTranIPv4
	orTranIPv6
	orPrevMPLS
)

// Ethertypes and protocol numbers used by the generator.
const (
	etIP       = 0x0800
	etARP      = 0x0806
	etRARP     = 0x8035
	etIPv6     = 0x86dd
	et8021Q    = 0x8100
	et8021AD   = 0x88a8
	etQinQ     = 0x9100
	etMPLS     = 0x8847
	etATalk    = 0x809b
	etAARP     = 0x80f3
	etIPX      = 0x8137
	sapIP      = 0x06
	sapISONS   = 0xfe
	sapNetBEUI = 0xf0
	sapIPX     = 0xe0
	sllP8023   = 1
	sllP8022   = 4
	ipTCP      = 6
	ipUDP      = 17
	ipSCTP     = 132
	ipICMP     = 1
	ipICMPv6   = 58
	ipFrag     = 44
	protoUndef = -1
)

// gen holds code-generation state. Like libpcap's compiler state it is
// mutated in source order: "vlan" and "mpls" shift the offsets of every
// primitive after them, and scratch registers are allocated round-robin.
type gen struct {
	src     string
	lt      LinkType
	target  Target
	snaplen uint32

	offLinkHdr  absOff
	offLinkType absOff
	offLinkPL   absOff
	offNL       uint32

	regUsed [16]bool
	curReg  int

	vlanDepth    int
	mplsDepth    int
	vlanVLOffset bool
	at           pos
}

func (g *gen) fail(format string, args ...any) {
	panic(genError{errAt(g.src, g.at, wordLen(g.src, g.at), format, args...)})
}

func newGen(src string, opt Options) *gen {
	g := &gen{src: src, lt: opt.LinkType, target: opt.Target, snaplen: opt.Snaplen}
	g.offLinkHdr = absOff{reg: -1}
	g.offLinkType = absOff{reg: -1}
	g.offLinkPL = absOff{reg: -1}
	switch g.lt {
	case EN10MB:
		g.offLinkType.c = 12
		g.offLinkPL.c = 14
	case LinuxSLL:
		g.offLinkType.c = 14
		g.offLinkPL.c = 16
	case RAW:
		g.offLinkPL.c = 0
	}
	return g
}

func (g *gen) ltName() string {
	switch g.lt {
	case EN10MB:
		return "EN10MB (Ethernet)"
	case RAW:
		return "RAW (raw IP)"
	case LinuxSLL:
		return "LINUX_SLL (Linux cooked)"
	case linkPPP:
		return "PPP (inside PPPoE)"
	}
	return g.lt.String()
}

func (g *gen) allocReg() int {
	for n := 0; n < 16; n++ {
		if g.regUsed[g.curReg] {
			g.curReg = (g.curReg + 1) % 16
		} else {
			g.regUsed[g.curReg] = true
			return g.curReg
		}
	}
	g.fail("too many registers needed to evaluate expression")
	return 0
}

func (g *gen) freeReg(r int) { g.regUsed[r] = false }

// program generates the whole filter: root block with returns attached.
func (g *gen) program(n node) *block {
	acc := &block{ret: true, k: g.snaplen}
	if n == nil {
		return acc
	}
	c := g.bool(n)
	if g.vlanVLOffset {
		if g.offLinkPL.reg == -1 {
			g.offLinkPL.reg = g.allocReg()
		}
		if g.offLinkType.reg == -1 {
			g.offLinkType.reg = g.allocReg()
		}
		init := []stmt{{code: unix.BPF_LD | unix.BPF_IMM}, {code: unix.BPF_ST, k: uint32(g.offLinkPL.reg)}, {code: unix.BPF_ST, k: uint32(g.offLinkType.reg)}}
		c.head.stmts = append(init, c.head.stmts...)
	}
	rej := &block{ret: true, k: 0}
	patch(c.tl, acc)
	patch(c.fl, rej)
	return c.head
}

func (g *gen) bool(n node) *cond {
	switch n := n.(type) {
	case *andNode:
		l := g.bool(n.l)
		r := g.bool(n.r)
		return and(l, r)
	case *orNode:
		l := g.bool(n.l)
		r := g.bool(n.r)
		return or(l, r)
	case *notNode:
		return not(g.bool(n.x))
	case *idNode:
		g.at = n.p
		return g.id(n)
	case *abbrevNode:
		g.at = n.p
		return g.abbrev(n.proto, n.name)
	case *relNode:
		return g.relation(n)
	case *otherNode:
		g.at = n.p
		return g.other(n)
	}
	g.fail("internal error: unknown node %T", n)
	return nil
}

// ---- loads and comparisons ----

func ldAbs(size uint16, k uint32) stmt { return stmt{code: unix.BPF_LD | size | unix.BPF_ABS, k: k} }
func ldInd(size uint16, k uint32) stmt { return stmt{code: unix.BPF_LD | size | unix.BPF_IND, k: k} }
func ldxMem(r int) stmt                { return stmt{code: unix.BPF_LDX | unix.BPF_MEM, k: uint32(r)} }
func ldMem(r int) stmt                 { return stmt{code: unix.BPF_LD | unix.BPF_MEM, k: uint32(r)} }
func st(r int) stmt                    { return stmt{code: unix.BPF_ST, k: uint32(r)} }
func ldImm(k uint32) stmt              { return stmt{code: unix.BPF_LD | unix.BPF_IMM, k: k} }
func alu(op uint16, src uint16, k uint32) stmt {
	return stmt{code: unix.BPF_ALU | op | src, k: k}
}

func (g *gen) absRel(a absOff, off uint32, size uint16) []stmt {
	if a.variable {
		return []stmt{ldxMem(a.reg), ldInd(size, a.c+off)}
	}
	return []stmt{ldAbs(size, a.c+off)}
}

func (g *gen) loadxIPHdrLen() []stmt {
	if g.offLinkPL.variable {
		return []stmt{ldxMem(g.offLinkPL.reg), ldInd(unix.BPF_B, g.offLinkPL.c+g.offNL),
			alu(unix.BPF_AND, unix.BPF_K, 0xf), alu(unix.BPF_LSH, unix.BPF_K, 2), alu(unix.BPF_ADD, unix.BPF_X, 0), {code: unix.BPF_MISC | unix.BPF_TAX}}
	}
	return []stmt{{code: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, k: g.offLinkPL.c + g.offNL}}
}

func (g *gen) loadA(rel offrel, off uint32, size uint16) []stmt {
	switch rel {
	case orPacket:
		return []stmt{ldAbs(size, off)}
	case orLinkHdr:
		return g.absRel(g.offLinkHdr, off, size)
	case orLinkType:
		return g.absRel(g.offLinkType, off, size)
	case orLinkPL:
		return g.absRel(g.offLinkPL, g.offNL+off, size)
	case orPrevMPLS:
		return g.absRel(g.offLinkPL, g.offNL-4+off, size)
	case orTranIPv4:
		s := g.loadxIPHdrLen()
		return append(s, ldInd(size, g.offLinkPL.c+g.offNL+off))
	case orTranIPv6:
		return g.absRel(g.offLinkPL, g.offNL+40+off, size)
	}
	g.fail("internal error: bad offset relative")
	return nil
}

func (g *gen) ncmp(rel offrel, off uint32, size uint16, mask uint32, jt uint16, reverse bool, v uint32) *cond {
	s := g.loadA(rel, off, size)
	if mask != 0xffffffff {
		s = append(s, alu(unix.BPF_AND, unix.BPF_K, mask))
	}
	c := newCond(s, unix.BPF_JMP|jt|unix.BPF_K, v)
	if reverse && (jt == unix.BPF_JGT || jt == unix.BPF_JGE) {
		c = not(c)
	}
	return c
}

func (g *gen) cmp(rel offrel, off uint32, size uint16, v uint32) *cond {
	return g.ncmp(rel, off, size, 0xffffffff, unix.BPF_JEQ, false, v)
}
func (g *gen) mcmp(rel offrel, off uint32, size uint16, v, mask uint32) *cond {
	return g.ncmp(rel, off, size, mask, unix.BPF_JEQ, false, v)
}
func (g *gen) cmpGT(rel offrel, off uint32, size uint16, v uint32) *cond {
	return g.ncmp(rel, off, size, 0xffffffff, unix.BPF_JGT, false, v)
}
func (g *gen) cmpGE(rel offrel, off uint32, size uint16, v uint32) *cond {
	return g.ncmp(rel, off, size, 0xffffffff, unix.BPF_JGE, false, v)
}
func (g *gen) cmpLE(rel offrel, off uint32, size uint16, v uint32) *cond {
	return g.ncmp(rel, off, size, 0xffffffff, unix.BPF_JGT, true, v)
}

// bcmp compares len(v) bytes at off: words first, from the end.
func (g *gen) bcmp(rel offrel, off uint32, v []byte) *cond {
	var b *cond
	size := uint32(len(v))
	for size >= 4 {
		t := g.cmp(rel, off+size-4, unix.BPF_W, binary.BigEndian.Uint32(v[size-4:]))
		if b != nil {
			t = and(b, t)
		}
		b = t
		size -= 4
	}
	for size >= 2 {
		t := g.cmp(rel, off+size-2, unix.BPF_H, uint32(binary.BigEndian.Uint16(v[size-2:])))
		if b != nil {
			t = and(b, t)
		}
		b = t
		size -= 2
	}
	if size > 0 {
		t := g.cmp(rel, off, unix.BPF_B, uint32(v[0]))
		if b != nil {
			t = and(b, t)
		}
		b = t
	}
	return b
}

func (g *gen) uncond(v bool) *cond {
	k := uint32(1)
	if v {
		k = 0
	}
	return newCond([]stmt{ldImm(k)}, unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, 0)
}

// ---- link types ----

func (g *gen) linktype(proto uint32) *cond {
	if g.mplsDepth > 0 {
		switch proto {
		case etIP:
			return g.mplsLinktype(0x40)
		case etIPv6:
			return g.mplsLinktype(0x60)
		}
		g.fail("unsupported protocol over mpls")
	}
	switch g.lt {
	case EN10MB:
		switch proto {
		case sapISONS, sapIP, sapNetBEUI:
			// 802.2 frames with DSAP and SSAP both set to the SAP
			b0 := not(g.cmpGT(orLinkType, 0, unix.BPF_H, 1500))
			b1 := g.cmp(orLinkPL, 0, unix.BPF_H, proto<<8|proto)
			return and(b0, b1)
		case sapIPX:
			// Ethernet II, 802.2 SNAP, 802.2 with the IPX SAP, or raw 802.3
			b0 := g.cmp(orLinkType, 0, unix.BPF_H, etIPX)
			b1 := or(g.snapOUI(0, etIPX), g.cmp(orLinkPL, 0, unix.BPF_B, sapIPX))
			b1 = or(b1, g.cmp(orLinkPL, 0, unix.BPF_H, 0xffff))
			b1 = and(not(g.cmpGT(orLinkType, 0, unix.BPF_H, 1500)), b1)
			return or(b0, b1)
		}
		if proto <= 1500 {
			b0 := not(g.cmpGT(orLinkType, 0, unix.BPF_H, 1500))
			b1 := g.cmp(orLinkPL, 0, unix.BPF_B, proto)
			return and(b0, b1)
		}
		if proto == etATalk || proto == etAARP {
			// AppleTalk may also come 802.2/SNAP-encapsulated
			b0 := g.cmp(orLinkType, 0, unix.BPF_H, proto)
			b1 := not(g.cmpGT(orLinkType, 0, unix.BPF_H, 1500))
			b1 = and(b1, g.snap(proto))
			return or(b0, b1)
		}
		return g.cmp(orLinkType, 0, unix.BPF_H, proto)
	case LinuxSLL:
		switch proto {
		case sapISONS, sapIP, sapNetBEUI:
			b0 := g.cmp(orLinkType, 0, unix.BPF_H, sllP8022)
			b1 := g.cmp(orLinkHdr, g.offLinkPL.c, unix.BPF_H, proto<<8|proto)
			return and(b0, b1)
		case sapIPX:
			b0 := or(g.cmp(orLinkType, 0, unix.BPF_H, etIPX), g.cmp(orLinkType, 0, unix.BPF_H, sllP8023))
			b1 := or(g.cmp(orLinkHdr, g.offLinkPL.c, unix.BPF_B, sapIPX), g.snapOUI(0, etIPX))
			b1 = and(g.cmp(orLinkType, 0, unix.BPF_H, sllP8022), b1)
			return or(b0, b1)
		}
		if proto <= 1500 {
			b0 := g.cmp(orLinkType, 0, unix.BPF_H, 4)
			b1 := g.cmp(orLinkHdr, g.offLinkPL.c, unix.BPF_B, proto)
			return and(b0, b1)
		}
		if proto == etATalk || proto == etAARP {
			b0 := g.cmp(orLinkType, 0, unix.BPF_H, proto)
			b1 := g.cmp(orLinkType, 0, unix.BPF_H, 4)
			b1 = and(b1, g.snap(proto))
			return or(b0, b1)
		}
		return g.cmp(orLinkType, 0, unix.BPF_H, proto)
	case linkPPP:
		return g.cmp(orLinkType, 0, unix.BPF_H, pppType(proto))
	case RAW:
		switch proto {
		case etIP:
			return g.mcmp(orLinkHdr, 0, unix.BPF_B, 0x40, 0xf0)
		case etIPv6:
			return g.mcmp(orLinkHdr, 0, unix.BPF_B, 0x60, 0xf0)
		}
		return g.uncond(false)
	}
	g.fail("link type %s is not supported", g.lt)
	return nil
}

// snap matches an 802.2 SNAP header (AA AA 03, OUI, type) for AppleTalk.
func (g *gen) snap(proto uint32) *cond {
	oui := uint32(0)
	if proto == etATalk {
		oui = 0x080007
	}
	return g.snapOUI(oui, proto)
}

// snapOUI matches an 802.2 SNAP header with the given OUI and type.
func (g *gen) snapOUI(oui, proto uint32) *cond {
	v := []byte{0xaa, 0xaa, 0x03, byte(oui >> 16), byte(oui >> 8), byte(oui), byte(proto >> 8), byte(proto)}
	return g.bcmp(orLinkHdr, g.offLinkPL.c, v)
}

func (g *gen) mplsLinktype(v uint32) *cond {
	b0 := g.mcmp(orLinkPL, ^uint32(1), unix.BPF_B, 0x01, 0x01) // offNL-2: bottom of stack
	b1 := g.mcmp(orLinkPL, 0, unix.BPF_B, v, 0xf0)
	return and(b0, b1)
}

// abbrevLinktypes are the protocol keywords that are just a link-layer
// protocol test.
var abbrevLinktypes = map[string]uint32{
	"atalk": etATalk, "aarp": etAARP, "decnet": 0x6003, "lat": 0x6004, "sca": 0x6007,
	"moprc": 0x6002, "mopdl": 0x6001, "stp": 0x42, "ipx": sapIPX, "netbeui": sapNetBEUI,
	"iso": sapISONS, "pppoed": 0x8863,
}

// ---- protocols ----

func (g *gen) ipfrag() *cond {
	s := g.loadA(orLinkPL, 6, unix.BPF_H)
	return not(newCond(s, unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, 0x1fff))
}

func (g *gen) abbrev(p qproto, name string) *cond {
	switch p {
	case pSCTP:
		return g.proto(ipSCTP, pDefault, dDefault)
	case pTCP:
		return g.proto(ipTCP, pDefault, dDefault)
	case pUDP:
		return g.proto(ipUDP, pDefault, dDefault)
	case pICMP:
		return g.proto(ipICMP, pIP, dDefault)
	case pIGMP:
		return g.proto(2, pIP, dDefault)
	case pIGRP:
		return g.proto(9, pIP, dDefault)
	case pPIM:
		return g.proto(103, pDefault, dDefault)
	case pVRRP, pCARP:
		return g.proto(112, pIP, dDefault)
	case pIP:
		return g.linktype(etIP)
	case pARP:
		return g.linktype(etARP)
	case pRARP:
		return g.linktype(etRARP)
	case pIPv6:
		return g.linktype(etIPv6)
	case pICMPv6:
		return g.proto(ipICMPv6, pIPv6, dDefault)
	case pAH:
		return g.proto(51, pDefault, dDefault)
	case pESP:
		return g.proto(50, pDefault, dDefault)
	case pLink:
		g.fail("link layer applied in wrong context")
	}
	if v, ok := abbrevLinktypes[name]; ok {
		return g.linktype(v)
	}
	g.fail("%q is not supported", name)
	return nil
}

func (g *gen) proto(v uint32, p qproto, dir qdir) *cond {
	if dir != dDefault {
		g.fail("direction applied to 'proto'")
	}
	switch p {
	case pDefault:
		b0 := g.proto(v, pIP, dir)
		b1 := g.proto(v, pIPv6, dir)
		return or(b0, b1)
	case pLink:
		return g.linktype(v)
	case pIP:
		b0 := g.linktype(etIP)
		b1 := g.cmp(orLinkPL, 9, unix.BPF_B, v)
		return and(b0, b1)
	case pIPv6:
		b0 := g.linktype(etIPv6)
		b2 := g.cmp(orLinkPL, 6, unix.BPF_B, ipFrag)
		b1 := g.cmp(orLinkPL, 40, unix.BPF_B, v)
		b1 = and(b2, b1)
		b2 = g.cmp(orLinkPL, 6, unix.BPF_B, v)
		b1 = or(b2, b1)
		return and(b0, b1)
	case pARP, pRARP:
		g.fail("%s does not encapsulate another protocol", map[qproto]string{pARP: "arp", pRARP: "rarp"}[p])
	case pSCTP, pTCP, pUDP, pICMP, pIGMP, pIGRP, pPIM, pVRRP, pCARP, pICMPv6, pAH, pESP:
		g.fail("'%s proto' is bogus", protoKeyword(p))
	}
	g.fail("protocol qualifier not supported with 'proto'")
	return nil
}

func protoKeyword(p qproto) string {
	for k, v := range protoNames {
		if v == p && k != "ether" && k != "ppp" && k != "slip" && k != "fddi" && k != "tr" && k != "wlan" {
			return k
		}
	}
	return "?"
}

// ---- hosts ----

func (g *gen) hostop(addr, mask uint32, dir qdir, proto uint32, srcOff, dstOff uint32) *cond {
	var off uint32
	switch dir {
	case dSrc:
		off = srcOff
	case dDst:
		off = dstOff
	case dAnd:
		b0 := g.hostop(addr, mask, dSrc, proto, srcOff, dstOff)
		b1 := g.hostop(addr, mask, dDst, proto, srcOff, dstOff)
		return and(b0, b1)
	default:
		b0 := g.hostop(addr, mask, dSrc, proto, srcOff, dstOff)
		b1 := g.hostop(addr, mask, dDst, proto, srcOff, dstOff)
		return or(b0, b1)
	}
	b0 := g.linktype(proto)
	b1 := g.mcmp(orLinkPL, off, unix.BPF_W, addr, mask)
	return and(b0, b1)
}

func (g *gen) host(addr, mask uint32, p qproto, dir qdir, addrq qaddr) *cond {
	typ := "host"
	if addrq == aNet {
		typ = "net"
	}
	switch p {
	case pDefault:
		b0 := g.host(addr, mask, pIP, dir, addrq)
		if g.mplsDepth == 0 {
			b1 := g.host(addr, mask, pARP, dir, addrq)
			b1 = or(b0, b1)
			b0 = g.host(addr, mask, pRARP, dir, addrq)
			b0 = or(b1, b0)
		}
		return b0
	case pIP:
		return g.hostop(addr, mask, dir, etIP, 12, 16)
	case pARP:
		return g.hostop(addr, mask, dir, etARP, 14, 24)
	case pRARP:
		return g.hostop(addr, mask, dir, etRARP, 14, 24)
	case pLink:
		g.fail("link-layer modifier applied to %s", typ)
	case pIPv6:
		g.fail("'ip6' modifier applied to ip %s", typ)
	}
	g.fail("'%s' modifier applied to %s", protoKeyword(p), typ)
	return nil
}

func (g *gen) hostop6(a, m [4]uint32, dir qdir, srcOff, dstOff uint32) *cond {
	var off uint32
	switch dir {
	case dSrc:
		off = srcOff
	case dDst:
		off = dstOff
	case dAnd:
		return and(g.hostop6(a, m, dSrc, srcOff, dstOff), g.hostop6(a, m, dDst, srcOff, dstOff))
	default:
		return or(g.hostop6(a, m, dSrc, srcOff, dstOff), g.hostop6(a, m, dDst, srcOff, dstOff))
	}
	b1 := g.mcmp(orLinkPL, off+12, unix.BPF_W, a[3], m[3])
	b0 := g.mcmp(orLinkPL, off+8, unix.BPF_W, a[2], m[2])
	b1 = and(b0, b1)
	b0 = g.mcmp(orLinkPL, off+4, unix.BPF_W, a[1], m[1])
	b1 = and(b0, b1)
	b0 = g.mcmp(orLinkPL, off, unix.BPF_W, a[0], m[0])
	b1 = and(b0, b1)
	b0 = g.linktype(etIPv6)
	return and(b0, b1)
}

func (g *gen) host6(a, m [4]uint32, p qproto, dir qdir, addrq qaddr) *cond {
	typ := "host"
	if addrq == aNet {
		typ = "net"
	}
	switch p {
	case pDefault, pIPv6:
		return g.hostop6(a, m, dir, 8, 24)
	case pLink:
		g.fail("link-layer modifier applied to ip6 %s", typ)
	case pIP:
		g.fail("'ip' modifier applied to ip6 %s", typ)
	case pARP, pRARP:
		g.fail("'%s' modifier applied to ip6 %s", protoKeyword(p), typ)
	}
	g.fail("'%s' modifier applied to ip6 %s", protoKeyword(p), typ)
	return nil
}

// ---- ports ----

func (g *gen) portop(port uint32, proto uint32, dir qdir) *cond {
	tmp := g.cmp(orLinkPL, 9, unix.BPF_B, proto)
	b0 := and(tmp, g.ipfrag())
	b1 := g.portDir(dir, func(off uint32) *cond { return g.cmp(orTranIPv4, off, unix.BPF_H, port) })
	return and(b0, b1)
}

func (g *gen) portDir(dir qdir, atom func(off uint32) *cond) *cond {
	switch dir {
	case dSrc:
		return atom(0)
	case dDst:
		return atom(2)
	case dAnd:
		t := atom(0)
		return and(t, atom(2))
	default:
		t := atom(0)
		return or(t, atom(2))
	}
}

// eachPortProto is (network layer et) and op(proto), or, with no protocol
// given, op over SCTP, TCP and UDP ORed in that order: libpcap's shape for
// port and portrange, whose order decides the emitted code.
func (g *gen) eachPortProto(et uint32, proto int, op func(proto uint32) *cond) *cond {
	b0 := g.linktype(et)
	if proto != protoUndef {
		return and(b0, op(uint32(proto)))
	}
	b1 := op(ipSCTP)
	b1 = or(b1, op(ipTCP))
	b1 = or(b1, op(ipUDP))
	return and(b0, b1)
}

func (g *gen) port(port uint32, proto int, dir qdir) *cond {
	return g.eachPortProto(etIP, proto, func(p uint32) *cond { return g.portop(port, p, dir) })
}

func (g *gen) portop6(port uint32, proto uint32, dir qdir) *cond {
	tmp := g.cmp(orLinkPL, 6, unix.BPF_B, proto)
	b1 := g.portDir(dir, func(off uint32) *cond { return g.cmp(orTranIPv6, off, unix.BPF_H, port) })
	return and(tmp, b1)
}

func (g *gen) port6(port uint32, proto int, dir qdir) *cond {
	return g.eachPortProto(etIPv6, proto, func(p uint32) *cond { return g.portop6(port, p, dir) })
}

func (g *gen) rangeAtom(rel offrel, off, lo, hi uint32) *cond {
	if lo > hi {
		lo, hi = hi, lo
	}
	b1 := g.cmpGE(rel, off, unix.BPF_H, lo)
	b2 := g.cmpLE(rel, off, unix.BPF_H, hi)
	return and(b1, b2)
}

func (g *gen) portrangeop(lo, hi uint32, proto uint32, dir qdir) *cond {
	tmp := g.cmp(orLinkPL, 9, unix.BPF_B, proto)
	b0 := and(tmp, g.ipfrag())
	b1 := g.portDir(dir, func(off uint32) *cond { return g.rangeAtom(orTranIPv4, off, lo, hi) })
	return and(b0, b1)
}

func (g *gen) portrange(lo, hi uint32, proto int, dir qdir) *cond {
	return g.eachPortProto(etIP, proto, func(p uint32) *cond { return g.portrangeop(lo, hi, p, dir) })
}

func (g *gen) portrangeop6(lo, hi uint32, proto uint32, dir qdir) *cond {
	tmp := g.cmp(orLinkPL, 6, unix.BPF_B, proto)
	b1 := g.portDir(dir, func(off uint32) *cond { return g.rangeAtom(orTranIPv6, off, lo, hi) })
	return and(tmp, b1)
}

func (g *gen) portrange6(lo, hi uint32, proto int, dir qdir) *cond {
	return g.eachPortProto(etIPv6, proto, func(p uint32) *cond { return g.portrangeop6(lo, hi, p, dir) })
}

func (g *gen) portProto(q qual) int {
	switch q.proto {
	case pUDP:
		return ipUDP
	case pTCP:
		return ipTCP
	case pSCTP:
		return ipSCTP
	case pDefault:
		return protoUndef
	}
	if q.addr == aPortrange {
		g.fail("illegal qualifier of 'portrange'")
	}
	g.fail("illegal qualifier of 'port'")
	return 0
}

// ---- ids ----

// atoin parses a (possibly partial) dotted IPv4 address; it returns the
// value and its length in bits, as libpcap's __pcap_atoin.
func atoin(s string) (uint32, uint32, bool) {
	var v uint32
	var bits uint32
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.ParseUint(part, 10, 32)
		if err != nil || n > 255 {
			return 0, 0, false
		}
		v = v<<8 | uint32(n)
		bits += 8
	}
	return v, bits, true
}

func (g *gen) id(n *idNode) *cond {
	q := n.q
	if q.proto == pUnsupported {
		g.fail("%q is not supported", q.protoName)
	}
	switch n.tok.kind {
	case tNum:
		return g.ncode("", n.tok.num, q)
	case tHID:
		if n.hasLen || n.mask != nil {
			return g.mcode(n)
		}
		return g.ncode(n.tok.text, 0, q)
	case tHID6:
		return g.mcode6(n)
	case tEID:
		return g.ecode(n.tok.mac[:], q)
	case tID:
		return g.scode(n.tok.text, q)
	}
	g.fail("internal error: bad id")
	return nil
}

func (g *gen) ncode(s string, v uint32, q qual) *cond {
	vlen := uint32(32)
	if s != "" {
		var ok bool
		v, vlen, ok = atoin(s)
		if !ok {
			g.fail("invalid IPv4 address %q", s)
		}
	}
	switch q.addr {
	case aDefault, aHost, aNet:
		if q.proto == pLink {
			g.fail("illegal link layer address")
		}
		mask := uint32(0xffffffff)
		if s == "" && q.addr == aNet {
			for v != 0 && v&0xff000000 == 0 {
				v <<= 8
				mask <<= 8
			}
		} else {
			v <<= 32 - vlen
			mask <<= 32 - vlen
		}
		return g.host(v, mask, q.proto, q.dir, q.addr)
	case aPort:
		proto := g.portProto(q)
		if v > 65535 {
			g.fail("illegal port number %d > 65535", v)
		}
		b := g.port(v, proto, q.dir)
		return or(g.port6(v, proto, q.dir), b)
	case aPortrange:
		proto := g.portProto(q)
		if v > 65535 {
			g.fail("illegal port number %d > 65535", v)
		}
		b := g.portrange(v, v, proto, q.dir)
		return or(g.portrange6(v, v, proto, q.dir), b)
	case aGateway:
		g.fail("'gateway' requires a name")
	case aProto:
		return g.proto(v, q.proto, q.dir)
	case aProtochain:
		return g.protochain(v, q.proto)
	}
	g.fail("expected a qualifier (host, net, port, ...) before this address or number")
	return nil
}

func (g *gen) mcode(n *idNode) *cond {
	s1 := n.tok.text
	addr, nlen, ok := atoin(s1)
	if !ok {
		g.fail("invalid IPv4 address %q", s1)
	}
	addr <<= 32 - nlen
	var m uint32
	if n.mask != nil {
		mv, mlen, ok := atoin(n.mask.text)
		if !ok {
			g.fail("invalid IPv4 address %q", n.mask.text)
		}
		m = mv << (32 - mlen)
		if addr&^m != 0 {
			g.fail("non-network bits set in \"%s mask %s\"", s1, n.mask.text)
		}
	} else {
		if n.masklen > 32 {
			g.fail("mask length must be <= 32")
		}
		if n.masklen != 0 {
			m = 0xffffffff << (32 - n.masklen)
		}
		if addr&^m != 0 {
			g.fail("non-network bits set in \"%s/%d\"", s1, n.masklen)
		}
	}
	if n.q.addr != aNet {
		g.fail("Mask syntax for networks only")
	}
	return g.host(addr, m, n.q.proto, n.q.dir, n.q.addr)
}

func (g *gen) mcode6(n *idNode) *cond {
	a, err := netip.ParseAddr(n.tok.text)
	if err != nil || !a.Is6() {
		g.fail("invalid ip6 address %s", n.tok.text)
	}
	masklen := uint32(128)
	if n.hasLen {
		masklen = n.masklen
	}
	if masklen > 128 {
		g.fail("mask length must be <= 128")
	}
	ab := a.As16()
	var mb [16]byte
	for i := uint32(0); i < masklen; i++ {
		mb[i/8] |= 0x80 >> (i % 8)
	}
	var aw, mw [4]uint32
	for i := 0; i < 4; i++ {
		aw[i] = binary.BigEndian.Uint32(ab[4*i:])
		mw[i] = binary.BigEndian.Uint32(mb[4*i:])
		if aw[i]&^mw[i] != 0 {
			if n.hasLen {
				g.fail("non-network bits set in \"%s/%d\"", n.tok.text, masklen)
			}
		}
	}
	switch n.q.addr {
	case aDefault, aHost:
		if masklen != 128 {
			g.fail("Mask syntax for networks only")
		}
		return g.host6(aw, mw, n.q.proto, n.q.dir, n.q.addr)
	case aNet:
		return g.host6(aw, mw, n.q.proto, n.q.dir, n.q.addr)
	}
	g.fail("invalid qualifier against IPv6 address")
	return nil
}

func (g *gen) ecode(mac []byte, q qual) *cond {
	if (q.addr == aHost || q.addr == aDefault) && q.proto == pLink {
		if g.lt != EN10MB {
			g.fail("ethernet addresses are not supported on link type %s", g.ltName())
		}
		return g.ehostop(mac, q.dir)
	}
	g.fail("ethernet address used in non-ether expression")
	return nil
}

func (g *gen) ehostop(mac []byte, dir qdir) *cond {
	switch dir {
	case dSrc:
		return g.bcmp(orLinkHdr, 6, mac)
	case dDst:
		return g.bcmp(orLinkHdr, 0, mac)
	case dAnd:
		b0 := g.ehostop(mac, dSrc)
		return and(b0, g.ehostop(mac, dDst))
	default:
		b0 := g.ehostop(mac, dSrc)
		return or(b0, g.ehostop(mac, dDst))
	}
}

func (g *gen) scode(name string, q qual) *cond {
	switch q.addr {
	case aNet:
		g.fail("unknown network '%s' (names are not resolved)", name)
	case aDefault, aHost:
		if q.proto == pLink {
			g.fail("unknown ether host '%s' (names are not resolved)", name)
		}
		g.fail("unknown host '%s' (names are not resolved)", name)
	case aPort:
		if q.proto != pDefault && q.proto != pUDP && q.proto != pTCP && q.proto != pSCTP {
			g.fail("illegal qualifier of 'port'")
		}
		port, real, ok := lookupPort(name)
		if !ok {
			g.fail("unknown port '%s'", name)
		}
		real = g.checkPortProto(name, q.proto, real)
		b := g.port(port, real, q.dir)
		return or(g.port6(port, real, q.dir), b)
	case aPortrange:
		if q.proto != pDefault && q.proto != pUDP && q.proto != pTCP && q.proto != pSCTP {
			g.fail("illegal qualifier of 'portrange'")
		}
		lo, hi, real, ok := lookupPortRange(name)
		if !ok {
			g.fail("unknown port in range '%s'", name)
		}
		real = g.checkPortProto(name, q.proto, real)
		if lo > 65535 || hi > 65535 {
			g.fail("illegal port number > 65535 in range '%s'", name)
		}
		b := g.portrange(lo, hi, real, q.dir)
		return or(g.portrange6(lo, hi, real, q.dir), b)
	case aGateway:
		g.fail("'gateway' is not supported (names are not resolved)")
	case aProto:
		v := g.lookupProto(name, q.proto)
		return g.proto(v, q.proto, q.dir)
	case aProtochain:
		v := g.lookupProto(name, q.proto)
		return g.protochain(v, q.proto)
	}
	g.fail("expected a qualifier (host, net, port, ...) before %q", name)
	return nil
}

func (g *gen) checkPortProto(name string, p qproto, real int) int {
	want := map[qproto]int{pUDP: ipUDP, pTCP: ipTCP, pSCTP: ipSCTP}[p]
	if p == pDefault {
		return real
	}
	if real != protoUndef && real != want {
		g.fail("port '%s' is %s", name, map[int]string{ipTCP: "tcp", ipUDP: "udp", ipSCTP: "sctp"}[real])
	}
	return want
}

func (g *gen) lookupProto(name string, p qproto) uint32 {
	switch p {
	case pDefault, pIP, pIPv6:
		v, ok := ipProtos[strings.ToLower(name)]
		if !ok {
			g.fail("unknown ip proto '%s'", name)
		}
		return v
	case pLink:
		if v, ok := etherProtos[strings.ToLower(name)]; ok {
			return v
		}
		if v, ok := llcProtos[strings.ToLower(name)]; ok {
			return v
		}
		g.fail("unknown ether proto '%s'", name)
	}
	g.fail("unknown protocol: %s", name)
	return 0
}

// ---- other primitives ----

func (g *gen) other(n *otherNode) *cond {
	switch n.kind {
	case oBroadcast:
		return g.broadcast(n.proto)
	case oMulticast:
		return g.multicast(n.proto)
	case oLess:
		return not(newCond([]stmt{{code: unix.BPF_LD | unix.BPF_LEN}}, unix.BPF_JMP|unix.BPF_JGT|unix.BPF_K, n.n))
	case oGreater:
		return newCond([]stmt{{code: unix.BPF_LD | unix.BPF_LEN}}, unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, n.n)
	case oInbound, oOutbound:
		return g.inbound(n.kind == oOutbound)
	case oVLAN:
		return g.vlan(n.n, n.has)
	case oMPLS:
		return g.mpls(n.n, n.has)
	case oPPPoES:
		return g.pppoes(n.n, n.has)
	}
	g.fail("internal error: bad primitive")
	return nil
}

func (g *gen) broadcast(p qproto) *cond {
	switch p {
	case pDefault, pLink:
		if g.lt != EN10MB {
			g.fail("link-layer broadcast is not supported on link type %s (not a broadcast link)", g.ltName())
		}
		return g.ehostop([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, dDst)
	case pIP:
		// Like tcpdump reading a savefile, the netmask is unknown (0):
		// only the all-zeros and all-ones destinations match.
		b0 := g.linktype(etIP)
		hostmask := uint32(0xffffffff)
		b1 := g.mcmp(orLinkPL, 16, unix.BPF_W, 0, hostmask)
		b2 := g.mcmp(orLinkPL, 16, unix.BPF_W, hostmask, hostmask)
		b2 = or(b1, b2)
		return and(b0, b2)
	}
	g.fail("only link-layer/IP broadcast filters supported")
	return nil
}

func (g *gen) multicast(p qproto) *cond {
	switch p {
	case pDefault, pLink:
		if g.lt != EN10MB {
			g.fail("link-layer multicast is not supported on link type %s", g.ltName())
		}
		s := g.loadA(orLinkHdr, 0, unix.BPF_B)
		return newCond(s, unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, 1)
	case pIP:
		b0 := g.linktype(etIP)
		b1 := g.cmpGE(orLinkPL, 16, unix.BPF_B, 224)
		return and(b0, b1)
	case pIPv6:
		b0 := g.linktype(etIPv6)
		b1 := g.cmp(orLinkPL, 24, unix.BPF_B, 255)
		return and(b0, b1)
	}
	g.fail("link-layer multicast filters supported only on ethernet")
	return nil
}

func (g *gen) inbound(outbound bool) *cond {
	var b *cond
	switch {
	case g.lt == LinuxSLL:
		b = g.cmp(orLinkHdr, 0, unix.BPF_H, unix.PACKET_OUTGOING)
	case g.target == Offline:
		g.fail("inbound/outbound not supported on link type %s when reading savefiles", g.ltName())
	default:
		b = newCond([]stmt{ldAbs(unix.BPF_H, ancillary(bpf.ExtType))}, unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, unix.PACKET_OUTGOING)
	}
	if !outbound {
		b = not(b)
	}
	return b
}

func (g *gen) vlanTPID() *cond {
	b0 := g.linktype(et8021Q)
	b1 := g.linktype(et8021AD)
	b1 = or(b0, b1)
	return or(b1, g.linktype(etQinQ))
}

func (g *gen) vlan(num uint32, has bool) *cond {
	if g.lt != EN10MB {
		g.fail("no VLAN support for link type %s", g.ltName())
	}
	if has && num > 0x0fff {
		g.fail("VLAN tag %d greater than maximum %d", num, 0x0fff)
	}
	var b *cond
	if g.target == Live && g.vlanDepth == 0 && g.mplsDepth == 0 {
		b = g.vlanExtensions(num, has)
	} else {
		b = g.vlanTPID()
		if has {
			b = and(b, g.mcmp(orLinkPL, 0, unix.BPF_H, num, 0x0fff))
		}
		g.offLinkPL.c += 4
		g.offLinkType.c += 4
	}
	g.vlanDepth++
	return b
}

// vlanExtensions is the live-socket form: the kernel usually strips the
// outer tag into metadata (SKF_AD_VLAN_TAG_PRESENT); otherwise the tag is
// in the frame and every later offset moves by 4 at run time.
func (g *gen) vlanExtensions(num uint32, has bool) *cond {
	b0 := newCond([]stmt{ldAbs(unix.BPF_B, ancillary(bpf.ExtVLANTagPresent))}, unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, 1)
	tpid := g.vlanTPID()
	var vid *cond
	if has {
		vid = g.mcmp(orLinkPL, 0, unix.BPF_H, num, 0x0fff)
	}
	// patch the TPID test: shift the variable offsets first
	g.vlanVLOffset = true
	var pre []stmt
	for _, o := range []*absOff{&g.offLinkPL, &g.offLinkType} {
		o.variable = true
		if o.reg == -1 {
			o.reg = g.allocReg()
		}
		pre = append(pre, ldMem(o.reg), alu(unix.BPF_ADD, unix.BPF_K, 4), st(o.reg))
	}
	tpid.head.stmts = append(pre, tpid.head.stmts...)
	b := or(b0, tpid)
	if has {
		// load the TCI from metadata when present, else from the frame;
		// both paths end at the VID mask and compare.
		cnt := len(vid.head.stmts)
		pre := []stmt{
			ldAbs(unix.BPF_B, ancillary(bpf.ExtVLANTagPresent)),
			{code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, jt: 0, jf: 2, k: 1},
			ldAbs(unix.BPF_B, ancillary(bpf.ExtVLANTag)),
			{code: unix.BPF_JMP | unix.BPF_JA, k: uint32(cnt - 1)},
		}
		vid.head.stmts = append(pre, vid.head.stmts...)
		vid.head.inner = true
		b = and(b, vid)
	}
	return b
}

// linkPPP is the link type in effect after "pppoes": the rest of the
// expression looks into the PPP frame inside the PPPoE session.
const linkPPP LinkType = 9

// pppoes tests for a PPPoE session frame and moves every later offset
// into the PPP frame it carries, as libpcap does.
func (g *gen) pppoes(num uint32, has bool) *cond {
	b0 := g.linktype(0x8864)
	if has {
		if num > 0xffff {
			g.fail("PPPoE session number %d greater than maximum %d", num, 0xffff)
		}
		b0 = and(b0, g.mcmp(orLinkPL, 0, unix.BPF_W, num, 0xffff))
	}
	g.offLinkHdr = absOff{c: g.offLinkPL.c + g.offNL + 6, variable: g.offLinkPL.variable, reg: g.offLinkPL.reg}
	g.offLinkType = g.offLinkHdr
	g.offLinkPL.c = g.offLinkHdr.c + 2
	g.offNL = 0
	g.lt = linkPPP
	return b0
}

// pppType maps an Ethertype to the PPP protocol number (libpcap's
// ethertype_to_ppptype).
func pppType(proto uint32) uint32 {
	switch proto {
	case etIP:
		return 0x21
	case etIPv6:
		return 0x57
	case 0x6003:
		return 0x27
	case etATalk:
		return 0x29
	case 0x0600:
		return 0x25
	case sapISONS:
		return 0x23
	case 0x42:
		return 0x31
	case sapIPX:
		return 0x2b
	}
	return proto
}

func (g *gen) mpls(num uint32, has bool) *cond {
	var b0 *cond
	if g.mplsDepth > 0 {
		b0 = g.mcmp(orPrevMPLS, 2, unix.BPF_B, 0, 0x01)
	} else {
		switch g.lt {
		case EN10MB:
			b0 = g.linktype(etMPLS)
		case linkPPP:
			b0 = g.linktype(0x0281)
		default:
			g.fail("no MPLS support for link type %s", g.ltName())
		}
	}
	if has {
		if num > 0xfffff {
			g.fail("MPLS label %d greater than maximum %d", num, 0xfffff)
		}
		b1 := g.mcmp(orLinkPL, 0, unix.BPF_W, num<<12, 0xfffff000)
		b0 = and(b0, b1)
	}
	g.offNL += 4
	g.mplsDepth++
	return b0
}

// protochain is refused: libpcap implements it with a backward jump,
// which the Linux kernel rejects, so no equivalent program can be loaded.
func (g *gen) protochain(v uint32, p qproto) *cond {
	g.fail("'protochain' is not supported (libpcap's program for it loops, which Linux does not load)")
	return nil
}

// ---- arithmetic ----

type aval struct {
	s   []stmt
	reg int
	b   *cond
}

func (g *gen) arth(a arth) *aval {
	switch a := a.(type) {
	case *arthNum:
		r := g.allocReg()
		return &aval{s: []stmt{ldImm(a.v), st(r)}, reg: r}
	case *arthLen:
		r := g.allocReg()
		return &aval{s: []stmt{{code: unix.BPF_LD | unix.BPF_LEN}, st(r)}, reg: r}
	case *arthNeg:
		v := g.arth(a.x)
		v.s = append(v.s, ldMem(v.reg), alu(unix.BPF_NEG, 0, 0), st(v.reg))
		return v
	case *arthBin:
		a0 := g.arth(a.l)
		a1 := g.arth(a.r)
		g.at = a.p
		var op uint16
		switch a.op {
		case "+":
			op = unix.BPF_ADD
		case "-":
			op = unix.BPF_SUB
		case "*":
			op = unix.BPF_MUL
		case "/":
			op = unix.BPF_DIV
		case "%":
			op = unix.BPF_MOD
		case "&":
			op = unix.BPF_AND
		case "|":
			op = unix.BPF_OR
		case "^":
			op = unix.BPF_XOR
		case "<<":
			op = unix.BPF_LSH
		case ">>":
			op = unix.BPF_RSH
		}
		first := a1.s[0]
		isImm := first.code == unix.BPF_LD|unix.BPF_IMM
		switch {
		case op == unix.BPF_DIV && isImm && first.k == 0:
			g.fail("division by zero")
		case op == unix.BPF_MOD && isImm && first.k == 0:
			g.fail("modulus by zero")
		case (op == unix.BPF_LSH || op == unix.BPF_RSH) && isImm && first.k > 31:
			g.fail("shift by more than 31 bits")
		}
		s := append(a0.s, a1.s...)
		s = append(s, ldxMem(a1.reg), ldMem(a0.reg), alu(op, unix.BPF_X, 0))
		g.freeReg(a0.reg)
		g.freeReg(a1.reg)
		r := g.allocReg()
		a0.s = append(s, st(r))
		a0.reg = r
		return a0
	case *arthLoad:
		inst := g.arth(a.idx)
		g.at = a.p
		return g.load(a.proto, a.name, inst, a.size)
	}
	g.fail("internal error: bad arithmetic node")
	return nil
}

func sizeCode(n uint32) uint16 {
	switch n {
	case 2:
		return unix.BPF_H
	case 4:
		return unix.BPF_W
	}
	return unix.BPF_B
}

func (g *gen) varpartToX(o absOff, inst *aval) []stmt {
	if o.variable {
		return []stmt{ldxMem(o.reg), ldMem(inst.reg), alu(unix.BPF_ADD, unix.BPF_X, 0), {code: unix.BPF_MISC | unix.BPF_TAX}}
	}
	return []stmt{ldxMem(inst.reg)}
}

func (g *gen) load(p qproto, name string, inst *aval, size uint32) *aval {
	sz := sizeCode(size)
	regno := g.allocReg()
	var s []stmt
	switch p {
	case pLink:
		s = g.varpartToX(g.offLinkHdr, inst)
		s = append(s, ldInd(sz, g.offLinkHdr.c))
	case pIP, pARP, pRARP, pIPv6:
		s = g.varpartToX(g.offLinkPL, inst)
		s = append(s, ldInd(sz, g.offLinkPL.c+g.offNL))
		b := g.abbrev(p, name)
		if inst.b != nil {
			b = and(inst.b, b)
		}
		inst.b = b
	case pSCTP, pTCP, pUDP, pICMP, pIGMP, pIGRP, pPIM, pVRRP, pCARP:
		s = g.loadxIPHdrLen()
		s = append(s, ldMem(inst.reg), alu(unix.BPF_ADD, unix.BPF_X, 0), stmt{code: unix.BPF_MISC | unix.BPF_TAX}, ldInd(sz, g.offLinkPL.c+g.offNL))
		b := and(g.abbrev(p, name), g.ipfrag())
		if inst.b != nil {
			b = and(inst.b, b)
		}
		b = and(g.abbrev(pIP, "ip"), b)
		inst.b = b
	case pICMPv6:
		b := g.abbrev(pIPv6, "ip6")
		if inst.b != nil {
			b = and(inst.b, b)
		}
		b = and(b, g.cmp(orLinkPL, 6, unix.BPF_B, ipICMPv6))
		inst.b = b
		s = g.varpartToX(g.offLinkPL, inst)
		s = append(s, ldInd(sz, g.offLinkPL.c+g.offNL+40))
	default:
		g.fail("unsupported index operation on %q", name)
	}
	inst.s = append(inst.s, s...)
	inst.s = append(inst.s, st(regno))
	inst.reg = regno
	return inst
}

func (g *gen) relation(n *relNode) *cond {
	a0 := g.arth(n.l)
	a1 := g.arth(n.r)
	g.at = n.p
	var code uint16
	reversed := false
	switch n.op {
	case "=":
		code = unix.BPF_JEQ
	case "!=":
		code, reversed = unix.BPF_JEQ, true
	case ">":
		code = unix.BPF_JGT
	case ">=":
		code = unix.BPF_JGE
	case "<":
		code, reversed = unix.BPF_JGE, true
	case "<=":
		code, reversed = unix.BPF_JGT, true
	}
	s := append(a0.s, a1.s...)
	s = append(s, ldxMem(a1.reg), ldMem(a0.reg))
	var b *cond
	if code == unix.BPF_JEQ {
		s = append(s, alu(unix.BPF_SUB, unix.BPF_X, 0))
		b = newCond(s, unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, 0)
	} else {
		b = newCond(s, unix.BPF_JMP|code|unix.BPF_X, 0)
	}
	if reversed {
		b = not(b)
	}
	g.freeReg(a0.reg)
	g.freeReg(a1.reg)
	var tmp *cond
	switch {
	case a0.b != nil && a1.b != nil:
		tmp = and(a0.b, a1.b)
	case a0.b != nil:
		tmp = a0.b
	default:
		tmp = a1.b
	}
	if tmp != nil {
		b = and(tmp, b)
	}
	return b
}

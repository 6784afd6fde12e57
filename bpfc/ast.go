package bpfc

// qproto is a protocol qualifier (libpcap's Q_* protocol values).
type qproto int

const (
	pUndef qproto = iota // no qualifier allowed here (libpcap's qerr)
	pDefault
	pLink
	pIP
	pARP
	pRARP
	pSCTP
	pTCP
	pUDP
	pICMP
	pIGMP
	pIGRP
	pPIM
	pVRRP
	pCARP
	pIPv6
	pICMPv6
	pAH
	pESP
	pUnsupported // a libpcap protocol keyword this compiler does not implement
)

var protoNames = map[string]qproto{
	"link": pLink, "ether": pLink, "ppp": pLink, "slip": pLink, "fddi": pLink, "tr": pLink, "wlan": pLink,
	"ip": pIP, "arp": pARP, "rarp": pRARP, "sctp": pSCTP, "tcp": pTCP, "udp": pUDP,
	"icmp": pICMP, "igmp": pIGMP, "igrp": pIGRP, "pim": pPIM, "vrrp": pVRRP, "carp": pCARP,
	"ip6": pIPv6, "icmp6": pICMPv6, "ah": pAH, "esp": pESP,
	"radio": pUnsupported, "atalk": pUnsupported, "aarp": pUnsupported, "decnet": pUnsupported,
	"lat": pUnsupported, "sca": pUnsupported, "moprc": pUnsupported, "mopdl": pUnsupported,
	"iso": pUnsupported, "esis": pUnsupported, "es-is": pUnsupported, "isis": pUnsupported,
	"is-is": pUnsupported, "l1": pUnsupported, "l2": pUnsupported, "iih": pUnsupported,
	"lsp": pUnsupported, "snp": pUnsupported, "csnp": pUnsupported, "psnp": pUnsupported,
	"clnp": pUnsupported, "stp": pUnsupported, "ipx": pUnsupported, "netbeui": pUnsupported,
	"pppoed": pUnsupported,
}

// qdir is a direction qualifier.
type qdir int

const (
	dUndef qdir = iota
	dDefault
	dSrc
	dDst
	dOr
	dAnd
)

// qaddr is an address-type qualifier.
type qaddr int

const (
	aUndef qaddr = iota
	aDefault
	aHost
	aNet
	aPort
	aPortrange
	aProto
	aProtochain
	aGateway
)

// qual is the qualifier triple every id is compiled with; ids after "and"
// and "or" inherit the previous one (libpcap's $<blk>0.q).
type qual struct {
	proto     qproto
	protoName string // keyword as written, for messages
	dir       qdir
	addr      qaddr
}

var qerr = qual{proto: pUndef, dir: dUndef, addr: aUndef}

// node is a boolean AST node.
type node interface{ nodePos() pos }

type andNode struct {
	l, r node
	p    pos
}
type orNode struct {
	l, r node
	p    pos
}
type notNode struct {
	x node
	p pos
}

// idNode is an address, number or name compiled with qualifiers q.
type idNode struct {
	q       qual
	tok     token // tNum, tHID, tHID6, tEID or tID
	mask    *token
	masklen uint32
	hasLen  bool
	p       pos
}

// abbrevNode is a bare protocol keyword such as "tcp".
type abbrevNode struct {
	proto qproto
	name  string
	p     pos
}

// relNode compares two arithmetic expressions.
type relNode struct {
	op   string // > >= = <= < !=
	l, r arth
	p    pos
}

type otherKind int

const (
	oBroadcast otherKind = iota
	oMulticast
	oLess
	oGreater
	oInbound
	oOutbound
	oVLAN
	oMPLS
	oPPPoES
)

// otherNode is one of the qualifier-less primitives.
type otherNode struct {
	kind      otherKind
	proto     qproto
	protoName string
	n         uint32
	has       bool
	p         pos
}

func (n *andNode) nodePos() pos    { return n.p }
func (n *orNode) nodePos() pos     { return n.p }
func (n *notNode) nodePos() pos    { return n.p }
func (n *idNode) nodePos() pos     { return n.p }
func (n *abbrevNode) nodePos() pos { return n.p }
func (n *relNode) nodePos() pos    { return n.p }
func (n *otherNode) nodePos() pos  { return n.p }

// arth is an arithmetic AST node.
type arth interface{ arthPos() pos }

type arthNum struct {
	v uint32
	p pos
}
type arthLen struct{ p pos }
type arthLoad struct {
	proto qproto
	name  string
	idx   arth
	size  uint32
	p     pos
}
type arthBin struct {
	op   string
	l, r arth
	p    pos
}
type arthNeg struct {
	x arth
	p pos
}

func (a *arthNum) arthPos() pos  { return a.p }
func (a *arthLen) arthPos() pos  { return a.p }
func (a *arthLoad) arthPos() pos { return a.p }
func (a *arthBin) arthPos() pos  { return a.p }
func (a *arthNeg) arthPos() pos  { return a.p }

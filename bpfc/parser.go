package bpfc

import "fmt"

// parser is a backtracking recursive-descent parser for libpcap's grammar.
// Where libpcap's LALR grammar lets either a term or a bare id follow
// "and"/"or" ("host A and B", "host A and tcp"), the parser tries the term
// first and falls back to the id with the inherited qualifiers.
type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekN(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (t token) is(kind tokKind, text string) bool { return t.kind == kind && t.text == text }
func (t token) isKW(s string) bool                { return t.kind == tKW && t.text == s }
func (t token) isOp(s string) bool                { return t.kind == tOp && t.text == s }

func (t token) isAnd() bool { return t.isKW("and") || t.isOp("&&") }
func (t token) isOr() bool  { return t.isKW("or") || t.isOp("||") }
func (t token) isNot() bool { return t.isKW("not") || t.isOp("!") }

// describe names a token for error messages.
func (t token) describe() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return fmt.Sprintf("%q", t.text)
}

func (p *parser) errf(t token, format string, args ...any) *Error {
	return errAt(p.src, t.pos, int(t.end-t.pos), format, args...)
}

// farther returns whichever error is further into the input: when every
// alternative fails, the one that got furthest explains the problem best.
func farther(a, b *Error) *Error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	if b.Line > a.Line || b.Line == a.Line && b.Col > a.Col {
		return b
	}
	return a
}

func parse(src string) (node, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	if p.peek().kind == tEOF {
		return nil, nil
	}
	n, _, perr := p.expr(qerr)
	if perr != nil {
		return nil, perr
	}
	if t := p.peek(); t.kind != tEOF {
		if t.isOp(")") {
			return nil, p.errf(t, "unbalanced %q", ")")
		}
		if err := p.malformedValue(); err != nil {
			return nil, err
		}
		return nil, p.errf(t, "expected \"and\", \"or\" or end of expression, found %s", t.describe())
	}
	return n, nil
}

// malformedValue explains a token that is glued to the value before it
// ("zz:zz", "10-"): the value was malformed, not the expression after it.
// It reports what the qualifier before the value expects and the whole
// glued text, or returns nil when the current token stands apart.
func (p *parser) malformedValue() *Error {
	i := p.i
	if i == 0 || p.toks[i].pos != p.toks[i-1].end || !startsID(p.toks[i-1]) {
		return nil
	}
	first := i - 1
	for first > 0 && p.toks[first].pos == p.toks[first-1].end && p.toks[first-1].kind != tKW {
		first--
	}
	last := i
	for p.toks[last+1].kind != tEOF && p.toks[last+1].pos == p.toks[last].end && !p.toks[last+1].isOp(")") {
		last++
	}
	start, end := p.toks[first].pos, p.toks[last].end
	kw := first // the qualifier keywords before the value: "ether host"
	for kw > 0 && p.toks[kw-1].kind == tKW && !p.toks[kw-1].isAnd() && !p.toks[kw-1].isOr() && !p.toks[kw-1].isNot() {
		kw--
	}
	if kw == first {
		return errAt(p.src, start, int(end-start), "expected an address, name or number, found %q", p.src[start:end])
	}
	return errAt(p.src, start, int(end-start), "expected %s after %q, found %q",
		expectedAfter(p.toks[kw].text, p.toks[first-1].text), p.src[p.toks[kw].pos:p.toks[first-1].end], p.src[start:end])
}

// expectedAfter names what a value after the qualifier keywords from
// first to last expects.
func expectedAfter(first, last string) string {
	switch last {
	case "port":
		return "a port number or name"
	case "portrange":
		return "a port range (N-M)"
	case "net":
		return "a network address"
	case "proto", "protochain":
		return "a protocol number or name"
	case "host", "src", "dst":
		if first == "ether" || first == "link" {
			return "an Ethernet address (xx:xx:xx:xx:xx:xx)"
		}
		return "a host address"
	}
	return "an address or name"
}

// expr: term { (and|or) (term|id) }.
func (p *parser) expr(q0 qual) (node, qual, *Error) {
	n, q, err := p.term(q0)
	if err != nil {
		return nil, q, err
	}
	for {
		t := p.peek()
		if !t.isAnd() && !t.isOr() {
			return n, q, nil
		}
		p.next()
		if p.peek().kind == tEOF {
			return nil, q, p.errf(p.peek(), "expected an expression after %q", t.text)
		}
		save := p.i
		r, rq, terr := p.term(q)
		if terr != nil {
			termI := p.i
			p.i = save
			var ierr *Error
			r, rq, ierr = p.id(q)
			if ierr != nil {
				_ = termI
				return nil, q, farther(terr, ierr)
			}
		}
		if t.isAnd() {
			n = &andNode{l: n, r: r, p: t.pos}
		} else {
			n = &orNode{l: n, r: r, p: t.pos}
		}
		q = rq
	}
}

// term: not term | rterm.
func (p *parser) term(q0 qual) (node, qual, *Error) {
	t := p.peek()
	if t.isNot() {
		p.next()
		x, q, err := p.term(q0)
		if err != nil {
			return nil, q, err
		}
		return &notNode{x: x, p: t.pos}, q, nil
	}
	return p.rterm(q0)
}

func isDirKW(t token) bool { return t.isKW("src") || t.isKW("dst") }
func isAddrKW(t token) bool {
	return t.isKW("host") || t.isKW("net") || t.isKW("port") || t.isKW("portrange")
}
func isProtoKW(t token) bool {
	if t.kind != tKW {
		return false
	}
	_, ok := protoNames[t.text]
	return ok
}

func (p *parser) rterm(q0 qual) (node, qual, *Error) {
	t := p.peek()
	switch {
	case t.isOp("("):
		save := p.i
		p.next()
		n, _, err := p.expr(q0)
		if err == nil {
			if c := p.peek(); c.isOp(")") {
				p.next()
				return n, q0, nil
			}
			if err = p.malformedValue(); err == nil {
				err = p.errf(p.peek(), "expected \")\", found %s", p.peek().describe())
			}
		}
		p.i = save
		rn, rerr := p.relation()
		if rerr != nil {
			return nil, q0, farther(err, rerr)
		}
		return rn, qerr, nil
	case isProtoKW(t):
		nt := p.peekN(1)
		switch {
		case nt.isOp("["):
			rn, err := p.relation()
			return rn, qerr, err
		case isDirKW(nt) || isAddrKW(nt) || nt.isKW("proto") || nt.isKW("protochain") || nt.isKW("gateway"):
			return p.headID()
		case nt.isKW("broadcast") || nt.isKW("multicast"):
			p.next()
			p.next()
			k := oBroadcast
			if nt.isKW("multicast") {
				k = oMulticast
			}
			return &otherNode{kind: k, proto: protoNames[t.text], protoName: t.text, p: t.pos}, qerr, nil
		}
		p.next()
		return &abbrevNode{proto: protoNames[t.text], name: t.text, p: t.pos}, qerr, nil
	case isDirKW(t) || isAddrKW(t) || t.isKW("proto") || t.isKW("protochain") || t.isKW("gateway"):
		return p.headID()
	case t.isKW("broadcast") || t.isKW("multicast"):
		p.next()
		k := oBroadcast
		if t.isKW("multicast") {
			k = oMulticast
		}
		return &otherNode{kind: k, proto: pDefault, p: t.pos}, qerr, nil
	case t.isKW("less") || t.isKW("greater"):
		p.next()
		n := p.peek()
		if n.kind != tNum {
			return nil, qerr, p.errf(n, "expected a number after %q, found %s", t.text, n.describe())
		}
		p.next()
		k := oLess
		if t.isKW("greater") {
			k = oGreater
		}
		return &otherNode{kind: k, n: n.num, p: t.pos}, qerr, nil
	case t.isKW("inbound") || t.isKW("outbound"):
		p.next()
		k := oInbound
		if t.isKW("outbound") {
			k = oOutbound
		}
		return &otherNode{kind: k, p: t.pos}, qerr, nil
	case t.isKW("vlan") || t.isKW("mpls") || t.isKW("pppoes"):
		p.next()
		k := oVLAN
		if t.isKW("mpls") {
			k = oMPLS
		} else if t.isKW("pppoes") {
			k = oPPPoES
		}
		o := &otherNode{kind: k, p: t.pos}
		if v, ok := p.pnum(); ok {
			o.n, o.has = v, true
		}
		return o, qerr, nil
	case t.kind == tNum || t.isKW("len") || t.isKW("length") || t.isOp("-"):
		rn, err := p.relation()
		return rn, qerr, err
	case t.kind == tKW && !t.isAnd() && !t.isOr() && !t.isNot():
		return nil, qerr, p.errf(t, "%q is not supported", t.text)
	case t.kind == tHID || t.kind == tHID6 || t.kind == tEID || t.kind == tID:
		return nil, qerr, p.errf(t, "expected a qualifier (host, net, port, ...) before %s", t.describe())
	}
	return nil, qerr, p.errf(t, "expected an expression, found %s", t.describe())
}

// pnum: NUM | ( pnum ). It consumes nothing unless it matches.
func (p *parser) pnum() (uint32, bool) {
	save := p.i
	depth := 0
	for p.peek().isOp("(") {
		p.next()
		depth++
	}
	t := p.peek()
	if t.kind != tNum {
		p.i = save
		return 0, false
	}
	p.next()
	for ; depth > 0; depth-- {
		if !p.peek().isOp(")") {
			p.i = save
			return 0, false
		}
		p.next()
	}
	return t.num, true
}

// headID parses "[proto] [dir] [addr] id" (the head has at least one part).
func (p *parser) headID() (node, qual, *Error) {
	q := qual{proto: pDefault, dir: dDefault, addr: aDefault}
	last := p.peek()
	if t := p.peek(); isProtoKW(t) {
		p.next()
		q.proto, q.protoName = protoNames[t.text], t.text
		last = t
	}
	if t := p.peek(); isDirKW(t) {
		p.next()
		last = t
		q.dir = dSrc
		if t.isKW("dst") {
			q.dir = dDst
		}
		if c := p.peek(); (c.isAnd() || c.isOr()) && isDirKW(p.peekN(1)) && !p.peekN(1).is(tKW, t.text) {
			p.next()
			last = p.next()
			if c.isAnd() {
				q.dir = dAnd
			} else {
				q.dir = dOr
			}
		}
	}
	if t := p.peek(); isAddrKW(t) || t.isKW("proto") || t.isKW("protochain") || t.isKW("gateway") {
		if (t.isKW("proto") || t.isKW("protochain") || t.isKW("gateway")) && q.dir != dDefault {
			return nil, q, p.errf(t, "unexpected %q after a direction qualifier", t.text)
		}
		p.next()
		last = t
		switch t.text {
		case "host":
			q.addr = aHost
		case "net":
			q.addr = aNet
		case "port":
			q.addr = aPort
		case "portrange":
			q.addr = aPortrange
		case "proto":
			q.addr = aProto
		case "protochain":
			q.addr = aProtochain
		case "gateway":
			q.addr = aGateway
		}
	}
	n, q2, err := p.idAfter(q, last)
	return n, q2, err
}

// idAfter parses the id that must follow qualifier token last.
func (p *parser) idAfter(q qual, last token) (node, qual, *Error) {
	t := p.peek()
	if !startsID(t) {
		return nil, q, p.errf(t, "expected %s after %q, found %s", expectedAfter(last.text, last.text), last.text, t.describe())
	}
	return p.id(q)
}

func startsID(t token) bool {
	switch t.kind {
	case tNum, tHID, tHID6, tEID, tID:
		return true
	}
	return t.isOp("(") || t.isNot()
}

// id: not id | ( id {and|or id} ) | pnum | nid.
func (p *parser) id(q qual) (node, qual, *Error) {
	t := p.peek()
	switch {
	case t.isNot():
		p.next()
		x, _, err := p.id(q)
		if err != nil {
			return nil, q, err
		}
		return &notNode{x: x, p: t.pos}, q, nil
	case t.isOp("("):
		p.next()
		n, _, err := p.id(q)
		if err != nil {
			return nil, q, err
		}
		for {
			c := p.peek()
			if c.isOp(")") {
				p.next()
				return n, q, nil
			}
			if !c.isAnd() && !c.isOr() {
				if err := p.malformedValue(); err != nil {
					return nil, q, err
				}
				return nil, q, p.errf(c, "expected \"and\", \"or\" or \")\", found %s", c.describe())
			}
			p.next()
			r, _, err := p.id(q)
			if err != nil {
				return nil, q, err
			}
			if c.isAnd() {
				n = &andNode{l: n, r: r, p: c.pos}
			} else {
				n = &orNode{l: n, r: r, p: c.pos}
			}
		}
	case t.kind == tNum || t.kind == tEID || t.kind == tID:
		p.next()
		return &idNode{q: q, tok: t, p: t.pos}, q, nil
	case t.kind == tHID:
		p.next()
		n := &idNode{q: q, tok: t, p: t.pos}
		switch c := p.peek(); {
		case c.isOp("/"):
			p.next()
			l := p.peek()
			if l.kind != tNum {
				return nil, q, p.errf(l, "expected a mask length after \"/\", found %s", l.describe())
			}
			if l.num > 32 {
				return nil, q, p.errf(l, "expected an IPv4 mask length of 0 to 32 after \"/\", found %s", l.text)
			}
			p.next()
			n.masklen, n.hasLen = l.num, true
		case c.isKW("mask") || c.isKW("netmask"):
			p.next()
			m := p.peek()
			if m.kind != tHID {
				return nil, q, p.errf(m, "expected a dotted netmask after %q, found %s", c.text, m.describe())
			}
			p.next()
			n.mask = &m
		}
		if err := checkHIDQual(p, n); err != nil {
			return nil, q, err
		}
		return n, q, nil
	case t.kind == tHID6:
		p.next()
		n := &idNode{q: q, tok: t, p: t.pos}
		if c := p.peek(); c.isOp("/") {
			p.next()
			l := p.peek()
			if l.kind != tNum {
				return nil, q, p.errf(l, "expected a mask length after \"/\", found %s", l.describe())
			}
			if l.num > 128 {
				return nil, q, p.errf(l, "expected an IPv6 mask length of 0 to 128 after \"/\", found %s", l.text)
			}
			p.next()
			n.masklen, n.hasLen = l.num, true
		}
		return n, q, nil
	}
	return nil, q, p.errf(t, "expected an address, name or number, found %s", t.describe())
}

// checkHIDQual reports libpcap's grammar-level errors for IPv4 addresses
// with non-address qualifiers.
func checkHIDQual(p *parser, n *idNode) *Error {
	if n.mask != nil || n.hasLen {
		return nil
	}
	switch n.q.addr {
	case aPort:
		return p.errf(n.tok, "'port' modifier applied to IP address")
	case aPortrange:
		return p.errf(n.tok, "'portrange' modifier applied to IP address")
	case aProto:
		return p.errf(n.tok, "'proto' modifier applied to IP address")
	case aProtochain:
		return p.errf(n.tok, "'protochain' modifier applied to IP address")
	}
	return nil
}

// relation: arth relop arth.
func (p *parser) relation() (node, *Error) {
	start := p.peek()
	l, err := p.arth(0)
	if err != nil {
		return nil, err
	}
	op := p.peek()
	var o string
	switch {
	case op.isOp(">"), op.isOp(">="), op.isOp("<"), op.isOp("<="), op.isOp("!="):
		o = op.text
	case op.isOp("="), op.isOp("=="):
		o = "="
	default:
		return nil, p.errf(op, "expected a comparison (=, !=, <, <=, >, >=), found %s", op.describe())
	}
	p.next()
	r, err := p.arth(0)
	if err != nil {
		return nil, err
	}
	return &relNode{op: o, l: l, r: r, p: start.pos}, nil
}

// arithmetic operator precedence levels, lowest first, as in libpcap's grammar.
var arthLevels = [][]string{{"|"}, {"^"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "%"}}

func (p *parser) arth(level int) (arth, *Error) {
	if level == len(arthLevels) {
		return p.unary()
	}
	l, err := p.arth(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		found := false
		for _, o := range arthLevels[level] {
			if t.isOp(o) {
				found = true
			}
		}
		if !found {
			return l, nil
		}
		p.next()
		r, err := p.arth(level + 1)
		if err != nil {
			return nil, err
		}
		l = &arthBin{op: t.text, l: l, r: r, p: t.pos}
	}
}

func (p *parser) unary() (arth, *Error) {
	t := p.peek()
	switch {
	case t.isOp("-"):
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &arthNeg{x: x, p: t.pos}, nil
	case t.kind == tNum:
		p.next()
		return &arthNum{v: t.num, p: t.pos}, nil
	case t.isKW("len") || t.isKW("length"):
		p.next()
		return &arthLen{p: t.pos}, nil
	case t.isOp("("):
		p.next()
		x, err := p.arth(0)
		if err != nil {
			return nil, err
		}
		if c := p.peek(); !c.isOp(")") {
			return nil, p.errf(c, "expected \")\", found %s", c.describe())
		}
		p.next()
		return x, nil
	case isProtoKW(t) && p.peekN(1).isOp("["):
		p.next()
		p.next()
		idx, err := p.arth(0)
		if err != nil {
			return nil, err
		}
		size := uint32(1)
		if c := p.peek(); c.isOp(":") {
			p.next()
			s := p.peek()
			if s.kind != tNum {
				return nil, p.errf(s, "expected a size (1, 2 or 4) after \":\", found %s", s.describe())
			}
			p.next()
			if s.num != 1 && s.num != 2 && s.num != 4 {
				return nil, p.errf(s, "data size must be 1, 2, or 4")
			}
			size = s.num
		}
		if c := p.peek(); !c.isOp("]") {
			return nil, p.errf(c, "expected \"]\", found %s", c.describe())
		}
		p.next()
		return &arthLoad{proto: protoNames[t.text], name: t.text, idx: idx, size: size, p: t.pos}, nil
	}
	return nil, p.errf(t, "expected a number, \"len\" or a packet access like ip[0], found %s", t.describe())
}

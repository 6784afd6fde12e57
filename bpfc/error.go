package bpfc

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error is a compile error. Line and Col (1-based, Col counting bytes) and
// Len locate the offending text in the expression: the token that is
// wrong, or the primitive or operator a semantic error refers to. Line is 0
// when the error concerns the whole expression and no part of it is to
// blame (an unsupported link type, for example).
type Error struct {
	Line, Col int
	Len       int // bytes of offending text; 0 at the end of the expression
	Msg       string
}

// Error formats the error as "bpfc: LINE:COL: MESSAGE", or "bpfc: MESSAGE"
// when it has no position.
func (e *Error) Error() string {
	if e.Line == 0 {
		return "bpfc: " + e.Msg
	}
	return fmt.Sprintf("bpfc: %d:%d: %s", e.Line, e.Col, e.Msg)
}

// Caret returns the line of expr that e points into and, on a second line,
// a caret under the offending text ("^~~~" spanning it), without a final
// newline. It returns "" when e has no position. expr must be the
// expression e was reported for.
func (e *Error) Caret(expr string) string {
	if e.Line == 0 {
		return ""
	}
	lines := strings.Split(expr, "\n")
	if e.Line > len(lines) {
		return ""
	}
	line := strings.TrimSuffix(lines[e.Line-1], "\r")
	start := min(e.Col-1, len(line))
	var b strings.Builder
	b.WriteString(line)
	b.WriteByte('\n')
	for _, r := range line[:start] {
		if r == '\t' {
			b.WriteByte('\t') // keeps the caret aligned whatever the tab width
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteByte('^')
	for range utf8.RuneCountInString(line[start:min(start+e.Len, len(line))]) - 1 {
		b.WriteByte('~')
	}
	return b.String()
}

// pos is a byte offset into the source expression.
type pos int

// errAt builds an *Error for the n bytes at offset p of src.
func errAt(src string, p pos, n int, format string, args ...any) *Error {
	line, col := 1, 1
	for i := 0; i < int(p) && i < len(src); i++ {
		if src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &Error{Line: line, Col: col, Len: n, Msg: fmt.Sprintf(format, args...)}
}

// wholeErr builds an *Error about the whole expression.
func wholeErr(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// wordLen is the length of the word starting at p: up to white space or a
// parenthesis.
func wordLen(src string, p pos) int {
	n := 0
	for int(p)+n < len(src) && !strings.ContainsRune(" \t\r\n()", rune(src[int(p)+n])) {
		n++
	}
	return n
}

// rejectsAllError explains an expression the optimizer reduced to "reject
// every packet" by pointing at what makes it empty: the innermost "and"
// whose sides match packets separately but never together ("tcp and
// udp"), or else the primitive that matches nothing by itself ("arp" on a
// raw IP link).
func rejectsAllError(src string, root node, opt Options) *Error {
	const msg = "expression rejects all packets"
	n := blameEmpty(src, root, opt)
	if n == nil {
		return wholeErr(msg)
	}
	p := n.nodePos()
	if _, ok := n.(*andNode); ok {
		op := len("and")
		if strings.HasPrefix(src[p:], "&&") {
			op = len("&&")
		}
		return errAt(src, p, op, "%s: no packet matches both sides of %q", msg, src[int(p):int(p)+op])
	}
	return errAt(src, p, wordLen(src, p), msg)
}

// blameEmpty returns the part of n that makes it reject every packet (see
// rejectsAllError), or nil when n is not part of src. n must reject every
// packet.
func blameEmpty(src string, n node, opt Options) node {
	if int(n.nodePos()) >= len(src) {
		return nil
	}
	switch n := n.(type) {
	case *andNode:
		switch {
		case rejectsAll(src, n.l, opt):
			return blameEmpty(src, n.l, opt)
		case rejectsAll(src, n.r, opt):
			return blameEmpty(src, n.r, opt)
		}
		if op := strings.ToLower(src[n.p:min(int(n.p)+3, len(src))]); op != "and" && !strings.HasPrefix(op, "&&") {
			return nil // an "and" the caller added (AndTCPAck), not in src
		}
		return n
	case *orNode: // both sides reject everything: the first explains it
		return blameEmpty(src, n.l, opt)
	}
	return n
}

// rejectsAll reports whether the optimized program of n alone rejects
// every packet.
func rejectsAll(src string, n node, opt Options) (rejects bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(genError); !ok {
				panic(r)
			}
			rejects = false
		}
	}()
	entry := optimize(newGen(src, opt).program(n))
	return entry.ret && entry.k == 0
}

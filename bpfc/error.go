package bpfc

import "fmt"

// Error is a compile error with the 1-based line and column of the
// offending token (or of the primitive a semantic error refers to).
type Error struct {
	Line, Col int
	Msg       string
}

// Error formats the error as "bpfc: LINE:COL: MESSAGE".
func (e *Error) Error() string {
	return fmt.Sprintf("bpfc: %d:%d: %s", e.Line, e.Col, e.Msg)
}

// pos is a byte offset into the source expression.
type pos int

// errAt builds an *Error for byte offset p of src.
func errAt(src string, p pos, format string, args ...any) *Error {
	line, col := 1, 1
	for i := 0; i < int(p) && i < len(src); i++ {
		if src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &Error{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

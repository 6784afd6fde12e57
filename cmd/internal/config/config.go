// Package config reads the daemons' configuration files. One syntax
// serves every daemon: lines of `name = value`, `#` comment lines, and,
// where a daemon asks for them, `<NAME>` ... `</NAME>` blocks that group
// the settings of one named item (tportknockd's knock events).
//
// The package knows the syntax only. Which names exist, which may repeat
// and what their values mean is the daemon's business: tuninetd and
// tuntapd map entries onto their getopt tables with Settings, so a file
// and a command line produce the same option values through one parser
// of values. Every error carries its place as FILE:LINE.
package config

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tuninetd/tuninetd/cmd/internal/getopt"
)

// maxLine bounds one line. Configuration lines are short; a longer one is
// a wrong file (a binary, a log), reported rather than read into memory.
const maxLine = 64 << 10

// Syntax selects the parts of the syntax a daemon's files may use.
type Syntax struct {
	// Blocks allows `<NAME>` ... `</NAME>` blocks. Without it a line
	// starting with '<' is an error.
	Blocks bool
	// TrailingComments ends a value or a tag at a '#' preceded by a
	// blank (`timeout = 10   # seconds`, `<SSH>   # an event`). Without
	// it the value runs to the end of the line, so a '#' can be part of it.
	TrailingComments bool
}

// Pos is a place in a file, printed as FILE:LINE.
type Pos struct {
	File string
	Line int
}

// String returns FILE:LINE.
func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Errorf returns an error whose message starts with "FILE:LINE: ".
func (p Pos) Errorf(format string, args ...any) error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

// Error is a problem at a place in a file.
type Error struct {
	Pos Pos
	Msg string
}

// Error returns "FILE:LINE: message".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Entry is one `name = value` line.
type Entry struct {
	Name  string // as written, blanks trimmed
	Value string // blanks around it trimmed; may be empty
	Pos   Pos
}

// Block is a `<NAME>` ... `</NAME>` block and the entries inside it.
type Block struct {
	Name    string
	Pos     Pos // the opening tag
	Entries []Entry
}

// File is a parsed configuration file.
type File struct {
	Path    string
	Entries []Entry // outside any block, in file order
	Blocks  []Block // in file order
}

// Parse reads a file's text from r; path names it in errors. It checks the
// syntax only: names are not looked up and may repeat.
func Parse(path string, r io.Reader, syn Syntax) (*File, error) {
	f := &File{Path: path}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	var open *Block // the block being read, nil outside blocks
	line := 0
	for sc.Scan() {
		line++
		pos := Pos{path, line}
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		if text[0] == '<' {
			if !syn.Blocks {
				return nil, pos.Errorf("unexpected %q: this file has no <NAME> blocks", text)
			}
			if syn.TrailingComments {
				text = strings.TrimSpace(cutComment(text))
			}
			var err error
			if open, err = f.tag(text, pos, open); err != nil {
				return nil, err
			}
			continue
		}
		e, err := parseEntry(text, pos, syn)
		if err != nil {
			return nil, err
		}
		if open != nil {
			open.Entries = append(open.Entries, e)
		} else {
			f.Entries = append(f.Entries, e)
		}
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, Pos{path, line + 1}.Errorf("line longer than %d bytes", maxLine)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if open != nil {
		return nil, open.Pos.Errorf("block <%s> is not closed (no </%s>)", open.Name, open.Name)
	}
	return f, nil
}

// tag handles an opening or closing tag line; open is the block being read
// (nil outside). It returns the block being read after the line.
func (f *File) tag(text string, pos Pos, open *Block) (*Block, error) {
	if !strings.HasSuffix(text, ">") {
		return nil, pos.Errorf("malformed tag %q: want <NAME> or </NAME>", text)
	}
	inner := text[1 : len(text)-1]
	closing := strings.HasPrefix(inner, "/")
	name := strings.TrimSpace(strings.TrimPrefix(inner, "/"))
	if !validBlockName(name) {
		return nil, pos.Errorf("malformed tag %q: a block name is letters, digits, '_', '-' or '.'", text)
	}
	switch {
	case closing && open == nil:
		return nil, pos.Errorf("</%s> closes no open block", name)
	case closing && open.Name != name:
		return nil, pos.Errorf("</%s> does not close <%s> (opened at line %d)", name, open.Name, open.Pos.Line)
	case closing:
		return nil, nil
	case open != nil:
		return nil, pos.Errorf("<%s> opens inside <%s> (opened at line %d): blocks do not nest", name, open.Name, open.Pos.Line)
	}
	for _, b := range f.Blocks {
		if b.Name == name {
			return nil, pos.Errorf("duplicate block <%s> (first at line %d)", name, b.Pos.Line)
		}
	}
	f.Blocks = append(f.Blocks, Block{Name: name, Pos: pos})
	return &f.Blocks[len(f.Blocks)-1], nil
}

// parseEntry splits a non-blank, non-comment line into name and value.
func parseEntry(text string, pos Pos, syn Syntax) (Entry, error) {
	name, value, ok := strings.Cut(text, "=")
	if !ok {
		return Entry{}, pos.Errorf("want name = value, found %q", text)
	}
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, " \t") {
		return Entry{}, pos.Errorf("bad name %q: want name = value", name)
	}
	if syn.TrailingComments {
		value = cutComment(value)
	}
	return Entry{Name: name, Value: strings.TrimSpace(value), Pos: pos}, nil
}

// cutComment drops a trailing comment: a '#' at the start of the value or
// after a blank.
func cutComment(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == '#' && (i == 0 || v[i-1] == ' ' || v[i-1] == '\t') {
			return v[:i]
		}
	}
	return v
}

func validBlockName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Read opens path, checks that nobody but its owner can change it when we
// run as root (a root daemon must not act on a file anyone can edit), and
// parses it.
func Read(path string, syn Syntax) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer fh.Close()
	if os.Geteuid() == 0 {
		fi, err := fh.Stat()
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if who := WritableByOthers(fi); who != "" {
			return nil, fmt.Errorf("config %s: refused: it is writable by %s and we run as root (chmod go-w %s)", path, who, path)
		}
	}
	return Parse(path, fh, syn)
}

// Setting is an entry mapped onto a getopt option: what the same option on
// the command line would have produced, and where it came from.
type Setting struct {
	getopt.Parsed
	Pos Pos
}

// Settings maps the file's entries onto the long options of table, in file
// order. An option without an argument takes `yes` (present) or `no`
// (left out, as if not written). It rejects blocks, names that are not a
// long option of table (no abbreviations, unlike the command line),
// options listed in forbid (--config, --help: meaningless in a file), an
// empty value, and a name given twice unless repeatable says it may.
func (f *File) Settings(table []getopt.Option, forbid []string, repeatable func(*getopt.Option) bool) ([]Setting, error) {
	if len(f.Blocks) > 0 {
		b := f.Blocks[0]
		return nil, b.Pos.Errorf("unexpected block <%s>", b.Name)
	}
	seen := make(map[string]Pos)
	var out []Setting
	for _, e := range f.Entries {
		o := findLong(table, e.Name)
		if o == nil || contains(forbid, e.Name) {
			return nil, e.Pos.Errorf("unknown option %q", e.Name)
		}
		if first, dup := seen[e.Name]; dup && (repeatable == nil || !repeatable(o)) {
			return nil, e.Pos.Errorf("%s given twice (first at line %d)", e.Name, first.Line)
		}
		seen[e.Name] = e.Pos
		p := getopt.Parsed{Opt: o}
		switch {
		case !o.HasArg:
			yes, err := ParseBool(e)
			if err != nil {
				return nil, err
			}
			if !yes {
				continue
			}
		case e.Value == "":
			return nil, e.Pos.Errorf("%s needs a value", e.Name)
		default:
			p.Arg = e.Value
		}
		out = append(out, Setting{Parsed: p, Pos: e.Pos})
	}
	return out, nil
}

// ParseBool reads a boolean entry: yes or no (also true/false, on/off,
// 1/0, as admins write them; case-insensitive).
func ParseBool(e Entry) (bool, error) {
	switch strings.ToLower(e.Value) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, e.Pos.Errorf("%s: invalid value %q: want yes or no", e.Name, e.Value)
}

func findLong(table []getopt.Option, name string) *getopt.Option {
	for i := range table {
		if table[i].Long == name {
			return &table[i]
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

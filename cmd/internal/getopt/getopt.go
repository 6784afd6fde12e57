// Package getopt parses command lines the way glibc's getopt(3) and
// getopt_long(3) do, with the same error messages, so that our commands
// answer a mistake exactly as the C programs they replace did.
//
// It is internal to the commands: the message wording (without the
// "<argv0>: " prefix, which each command adds) is part of their
// compatibility promise, not a general-purpose API.
package getopt

import (
	"fmt"
	"strings"
)

// Option describes one command-line option the way getopt_long sees it: a
// short letter, a long name, or both, and whether it takes an argument.
type Option struct {
	Short  byte   // 0 for a long-only option
	Long   string // "" for a short-only option
	HasArg bool   // the option takes a (required) argument
}

// Name is how messages refer to the option: "-t" for one with a short
// letter, else "--cmd-timeout". Callers switch on it, so an option that
// has both spellings ("-h", "--help") reads the same either way.
func (o *Option) Name() string {
	if o.Short != 0 {
		return "-" + string(o.Short)
	}
	return "--" + o.Long
}

// Parsed is one option occurrence, in command-line order.
type Parsed struct {
	Opt *Option // points into the table given to Parse
	Arg string  // the argument; "" when the option takes none
}

// Error is a parse error worded as glibc prints it, without the
// "<argv0>: " prefix, so the user sees the same message the C original
// produced for the same mistake.
type Error struct {
	Msg string // e.g. "invalid option -- 'x'"
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// Short turns a getopt(3) option string such as "i:m:w:dhv" into a table:
// a letter followed by ':' takes an argument. It ignores a leading '+',
// '-' or ':' (glibc's mode characters), which none of our commands use.
func Short(optstring string) []Option {
	optstring = strings.TrimLeft(optstring, "+-:")
	var opts []Option
	for i := 0; i < len(optstring); i++ {
		if optstring[i] == ':' {
			continue
		}
		hasArg := i+1 < len(optstring) && optstring[i+1] == ':'
		opts = append(opts, Option{Short: optstring[i], HasArg: hasArg})
	}
	return opts
}

// Parse parses args (without argv[0]) against table like glibc's getopt
// with the default (permuting) ordering: options and operands may be
// mixed, "--" ends the options, a lone "-" is an operand. Short options
// group ("-ad"), take their argument attached ("-t3600") or as the next
// word ("-t 3600", even when that word starts with '-').
//
// Long options ("--name=value" or "--name value", abbreviated to any
// unique prefix) are recognized only when table has some, as with
// getopt_long; with a short-only table "--foo" is a group of short
// options ("invalid option -- '-'"), as plain getopt(3) reads it.
//
// On error it returns the options parsed before the offending word, so a
// caller can act on them in order as the C originals do (getopt reports
// problems one option at a time: an earlier -v still prints the version).
func Parse(args []string, table []Option) (opts []Parsed, operands []string, err error) {
	long := hasLong(table)
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return opts, append(operands, args[i+1:]...), nil
		case long && strings.HasPrefix(a, "--"):
			o, arg, used, err := parseLong(a[2:], args[i+1:], table)
			if err != nil {
				return opts, operands, err
			}
			i += used
			opts = append(opts, Parsed{Opt: o, Arg: arg})
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				o := findShort(a[j], table)
				if o == nil {
					return opts, operands, &Error{fmt.Sprintf("invalid option -- '%c'", a[j])}
				}
				if !o.HasArg {
					opts = append(opts, Parsed{Opt: o})
					continue
				}
				switch {
				case j+1 < len(a):
					opts = append(opts, Parsed{Opt: o, Arg: a[j+1:]})
				case i+1 < len(args):
					i++
					opts = append(opts, Parsed{Opt: o, Arg: args[i]})
				default:
					return opts, operands, &Error{fmt.Sprintf("option requires an argument -- '%c'", o.Short)}
				}
				break
			}
		default:
			operands = append(operands, a)
		}
	}
	return opts, operands, nil
}

// hasLong reports whether any option of table has a long name.
func hasLong(table []Option) bool {
	for i := range table {
		if table[i].Long != "" {
			return true
		}
	}
	return false
}

// findShort returns the definition of short option c, or nil.
func findShort(c byte, table []Option) *Option {
	for i := range table {
		if table[i].Short != 0 && table[i].Short == c {
			return &table[i]
		}
	}
	return nil
}

// parseLong parses one long option; body is the word without its leading
// "--" and rest the words after it. used is how many of rest it consumed.
func parseLong(body string, rest []string, table []Option) (o *Option, arg string, used int, err error) {
	name, value, hasValue := strings.Cut(body, "=")
	o, err = findLong(name, body, table)
	if err != nil {
		return nil, "", 0, err
	}
	switch {
	case !o.HasArg && hasValue:
		return nil, "", 0, &Error{fmt.Sprintf("option '--%s' doesn't allow an argument", o.Long)}
	case !o.HasArg:
		return o, "", 0, nil
	case hasValue:
		return o, value, 0, nil
	case len(rest) > 0:
		return o, rest[0], 1, nil
	}
	return nil, "", 0, &Error{fmt.Sprintf("option '--%s' requires an argument", o.Long)}
}

// findLong matches name exactly, else as the prefix of exactly one long
// option (getopt_long accepts unambiguous abbreviations). Messages quote
// the whole word (body, with any "=value") as glibc does.
func findLong(name, body string, table []Option) (*Option, error) {
	var matches []*Option
	for i := range table {
		l := table[i].Long
		if l == "" {
			continue
		}
		if l == name {
			return &table[i], nil
		}
		if name != "" && strings.HasPrefix(l, name) {
			matches = append(matches, &table[i])
		}
	}
	switch len(matches) {
	case 0:
		return nil, &Error{fmt.Sprintf("unrecognized option '--%s'", body)}
	case 1:
		return matches[0], nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "option '--%s' is ambiguous; possibilities:", body)
	for _, m := range matches {
		fmt.Fprintf(&b, " '--%s'", m.Long)
	}
	return nil, &Error{b.String()}
}

package main

import (
	"fmt"
	"strings"
)

// optDef describes one command-line option the way getopt_long sees it: a
// short letter, a long name, or both, and whether it takes an argument.
type optDef struct {
	short  byte   // 0 for a long-only option
	long   string // "" for a short-only option
	hasArg bool
}

// name is how messages refer to the option: "-t" or "--cmd-timeout".
func (d *optDef) name() string {
	if d.short != 0 {
		return "-" + string(d.short)
	}
	return "--" + d.long
}

// parsedOpt is one option occurrence, in command-line order.
type parsedOpt struct {
	def *optDef
	arg string // the argument; "" when the option takes none
}

// getoptError is a parse error worded as glibc's getopt_long prints it,
// without the "<argv0>: " prefix, so the user sees the same message the C
// original produced for the same mistake.
type getoptError struct{ msg string }

func (e *getoptError) Error() string { return e.msg }

// getopt parses args (without argv[0]) like glibc's getopt_long with the
// default (permuting) ordering: options and operands may be mixed, "--"
// ends the options, a lone "-" is an operand. Short options group
// ("-ad"), take their argument attached ("-t3600") or as the next word
// ("-t 3600", even when that word starts with '-'). Long options take
// "--name=value" or "--name value" and may be abbreviated to any unique
// prefix. On error it returns the options parsed before the offending
// word, so a caller can act on them in order as the C original does
// (getopt reports problems one option at a time).
func getopt(args []string, defs []optDef) (opts []parsedOpt, operands []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return opts, append(operands, args[i+1:]...), nil
		case strings.HasPrefix(a, "--"):
			d, arg, used, err := parseLong(a[2:], args[i+1:], defs)
			if err != nil {
				return opts, operands, err
			}
			i += used
			opts = append(opts, parsedOpt{def: d, arg: arg})
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				d := findShort(a[j], defs)
				if d == nil {
					return opts, operands, &getoptError{fmt.Sprintf("invalid option -- '%s'", string(a[j]))}
				}
				if !d.hasArg {
					opts = append(opts, parsedOpt{def: d})
					continue
				}
				if j+1 < len(a) {
					opts = append(opts, parsedOpt{def: d, arg: a[j+1:]})
				} else if i+1 < len(args) {
					i++
					opts = append(opts, parsedOpt{def: d, arg: args[i]})
				} else {
					return opts, operands, &getoptError{fmt.Sprintf("option requires an argument -- '%c'", d.short)}
				}
				break
			}
		default:
			operands = append(operands, a)
		}
	}
	return opts, operands, nil
}

// findShort returns the definition of short option c, or nil.
func findShort(c byte, defs []optDef) *optDef {
	for i := range defs {
		if defs[i].short != 0 && defs[i].short == c {
			return &defs[i]
		}
	}
	return nil
}

// parseLong parses one long option; body is the word without its leading
// "--" and rest the words after it. used is how many of rest it consumed.
func parseLong(body string, rest []string, defs []optDef) (d *optDef, arg string, used int, err error) {
	name, value, hasValue := strings.Cut(body, "=")
	d, err = findLong(name, body, defs)
	if err != nil {
		return nil, "", 0, err
	}
	switch {
	case !d.hasArg && hasValue:
		return nil, "", 0, &getoptError{fmt.Sprintf("option '--%s' doesn't allow an argument", d.long)}
	case !d.hasArg:
		return d, "", 0, nil
	case hasValue:
		return d, value, 0, nil
	case len(rest) > 0:
		return d, rest[0], 1, nil
	}
	return nil, "", 0, &getoptError{fmt.Sprintf("option '--%s' requires an argument", d.long)}
}

// findLong matches name exactly, else as the prefix of exactly one long
// option (getopt_long accepts unambiguous abbreviations). Messages quote
// the whole word (body, with any "=value") as glibc does.
func findLong(name, body string, defs []optDef) (*optDef, error) {
	var matches []*optDef
	for i := range defs {
		l := defs[i].long
		if l == "" {
			continue
		}
		if l == name {
			return &defs[i], nil
		}
		if name != "" && strings.HasPrefix(l, name) {
			matches = append(matches, &defs[i])
		}
	}
	switch len(matches) {
	case 0:
		return nil, &getoptError{fmt.Sprintf("unrecognized option '--%s'", body)}
	case 1:
		return matches[0], nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "option '--%s' is ambiguous; possibilities:", body)
	for _, m := range matches {
		fmt.Fprintf(&b, " '--%s'", m.long)
	}
	return nil, &getoptError{b.String()}
}

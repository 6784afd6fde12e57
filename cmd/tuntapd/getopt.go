package main

import (
	"fmt"
	"strings"
)

// option is one short option occurrence, in command-line order.
type option struct {
	c   byte
	arg string // "" for options without an argument
}

// getoptError is a parse error worded as glibc's getopt prints it (without
// its "<argv0>: " prefix), so a mistake reads as it did with the original.
type getoptError struct{ msg string }

func (e *getoptError) Error() string { return e.msg }

// getopt parses args (without argv[0]) against a getopt(3) option string
// such as "i:m:w:dhv", with glibc's default ordering: options and operands
// may be mixed, "--" ends the options, a lone "-" is an operand. Options
// group ("-dv"), take their argument attached ("-itun0") or as the next
// word ("-i tun0", even when it starts with '-').
//
// On an unknown option or a missing argument it returns the options before
// the offending one together with the error, so the caller can act on them
// in order as getopt's callers do (an earlier -v still prints the version).
//
// TODO(lead): cmd/tuninetd has the same parser with long options; fold both
// into one internal package.
func getopt(args []string, optstring string) (opts []option, operands []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return opts, append(operands, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			operands = append(operands, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			k := strings.IndexByte(optstring, c)
			if c == ':' || k < 0 {
				return opts, operands, &getoptError{fmt.Sprintf("invalid option -- '%c'", c)}
			}
			if k+1 >= len(optstring) || optstring[k+1] != ':' {
				opts = append(opts, option{c: c})
				continue
			}
			switch {
			case j+1 < len(a):
				opts = append(opts, option{c: c, arg: a[j+1:]})
			case i+1 < len(args):
				i++
				opts = append(opts, option{c: c, arg: args[i]})
			default:
				return opts, operands, &getoptError{fmt.Sprintf("option requires an argument -- '%c'", c)}
			}
			break
		}
	}
	return opts, operands, nil
}

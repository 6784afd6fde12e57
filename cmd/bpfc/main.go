// Command bpfc compiles a tcpdump filter expression to classic BPF and
// prints it like tcpdump -d, -dd or -ddd, so the output can be diffed
// with tcpdump's.
//
//	bpfc [-y EN10MB|RAW|LINUX_SLL] [-s SNAPLEN] [-O] [--offline] (-d | -dd | -ddd) EXPRESSION...
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/tuninetd/tuninetd/bpfc"
)

const usage = "usage: bpfc [-y EN10MB|RAW|LINUX_SLL] [-s SNAPLEN] [-O] [--offline] (-d | -dd | -ddd) EXPRESSION...\n"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	opt := bpfc.Options{LinkType: bpfc.EN10MB}
	var format bpfc.Format
	i := 0
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bpfc: "+format+"\n", a...)
		return 1
	}
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		switch {
		case a == "-d":
			format = bpfc.Listing
		case a == "-dd":
			format = bpfc.CArray
		case a == "-ddd":
			format = bpfc.Decimal
		case a == "-O":
			opt.NoOptimize = true
		case a == "--offline":
			opt.Target = bpfc.Offline
		case a == "-y" || a == "-s" || strings.HasPrefix(a, "-y") || strings.HasPrefix(a, "-s"):
			val := a[2:]
			if val == "" {
				if i+1 >= len(args) {
					fmt.Fprint(stderr, usage)
					return fail("option %s needs a value", a)
				}
				i++
				val = args[i]
			}
			if a[1] == 'y' {
				lt, err := bpfc.ParseLinkType(val)
				if err != nil {
					return fail("%v", err)
				}
				opt.LinkType = lt
			} else {
				n, err := strconv.ParseUint(val, 0, 32)
				if err != nil {
					return fail("invalid snaplen %q", val)
				}
				opt.Snaplen = uint32(n)
			}
		case a == "-h" || a == "--help":
			fmt.Fprint(stdout, usage)
			return 0
		default:
			fmt.Fprint(stderr, usage)
			return fail("unknown option %s", a)
		}
	}
	if format == 0 {
		fmt.Fprint(stderr, usage)
		return fail("one of -d, -dd or -ddd is required")
	}
	expr := strings.Join(args[i:], " ")
	prog, err := bpfc.Compile(expr, opt)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if be, ok := err.(*bpfc.Error); ok && be.Caret(expr) != "" {
			fmt.Fprintln(stderr, be.Caret(expr))
		}
		return 1
	}
	if err := bpfc.Fprint(stdout, prog, format); err != nil {
		return fail("%v", err)
	}
	return 0
}

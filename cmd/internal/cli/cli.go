// Package cli is what the daemons' command lines share beyond getopt: the
// option table each daemon declares once, and everything derived from it.
// The table is the single source of the parser's getopt table, of the
// long-option section of -h (and through -h of the man pages), and of the
// names a --config file accepts. Options from a --config file are turned
// into the same getopt.Parsed values the command line produces and come
// first, so one value parser per daemon reads both and the command line
// wins.
package cli

import (
	"strings"

	"github.com/tuninetd/tuninetd/cmd/internal/config"
	"github.com/tuninetd/tuninetd/cmd/internal/getopt"
)

// Option is one option of a daemon: its getopt spelling and its -h line.
type Option struct {
	getopt.Option
	// Arg names the argument in -h ("SECONDS"); "" for a flag.
	Arg string
	// Help says what the option does, for -h; it is wrapped there.
	Help string
	// CommandLineOnly marks options that mean nothing in a file
	// (--config, --help, --version): not configuration keys.
	CommandLineOnly bool
	// Repeatable lets a file give the option more than once (each
	// occurrence is one Arg, as on the command line); other options
	// given twice in a file are an error.
	Repeatable bool
}

// The options every daemon has, spelled the same in each.
var (
	// HelpOption is -h, --help.
	HelpOption = Option{Option: getopt.Option{Short: 'h', Long: "help"}, CommandLineOnly: true,
		Help: "print this help"}
	// VersionOption is -v, --version.
	VersionOption = Option{Option: getopt.Option{Short: 'v', Long: "version"}, CommandLineOnly: true,
		Help: "print version"}
	// ConfigOption is --config FILE, which Parse reads.
	ConfigOption = Option{Option: getopt.Option{Long: "config", HasArg: true}, Arg: "FILE", CommandLineOnly: true,
		Help: "read options from FILE first: name = value lines with the long " +
			"names above, flags as name = yes|no, # comment lines; the command " +
			"line overrides them"}
)

// NetnsOption is --netns PATH, spelled the same in every daemon; help
// says what lives in the namespace for this one.
func NetnsOption(help string) Option {
	return Option{Option: getopt.Option{Long: "netns", HasArg: true}, Arg: "PATH", Help: help}
}

// Table is a daemon's options, in the order -h lists them.
type Table []Option

// Getopt returns the table getopt.Parse reads. Its entries point into a
// new slice; Parsed.Opt values compare with Lookup's results.
func (t Table) Getopt() []getopt.Option {
	g := make([]getopt.Option, len(t))
	for i := range t {
		g[i] = t[i].Option
	}
	return g
}

// ConfigKeys returns the names a --config file accepts, in table order.
func (t Table) ConfigKeys() []string {
	var keys []string
	for _, o := range t {
		if o.Long != "" && !o.CommandLineOnly {
			keys = append(keys, o.Long)
		}
	}
	return keys
}

// commandLineOnly returns the long names a file must not use.
func (t Table) commandLineOnly() []string {
	var names []string
	for _, o := range t {
		if o.CommandLineOnly && o.Long != "" {
			names = append(names, o.Long)
		}
	}
	return names
}

// repeatable answers config.File.Settings for g, the table's Getopt().
func (t Table) repeatable(g []getopt.Option) func(*getopt.Option) bool {
	return func(o *getopt.Option) bool {
		for i := range g {
			if &g[i] == o {
				return t[i].Repeatable
			}
		}
		return false
	}
}

// helpWidth is where -h wraps; helpColumn where the descriptions start.
const (
	helpWidth  = 79
	helpColumn = 28
)

// Help returns the long-option section of -h: one entry per option that
// has a long name, "-i, --interface=IFNAME" then its wrapped help.
func (t Table) Help() string {
	var b strings.Builder
	for _, o := range t {
		if o.Long == "" {
			continue
		}
		head := "      --" + o.Long
		if o.Short != 0 {
			head = "  -" + string(o.Short) + ", --" + o.Long
		}
		if o.Arg != "" {
			head += "=" + o.Arg
		}
		b.WriteString(head)
		col := len(head)
		if col+2 > helpColumn {
			b.WriteString("\n")
			col = 0
		}
		wrap(&b, o.Help, col)
	}
	return b.String()
}

// wrap writes text from column col on, starting lines at helpColumn and
// breaking them at helpWidth.
func wrap(b *strings.Builder, text string, col int) {
	line := col
	for i, w := range strings.Fields(text) {
		if i == 0 || line+1+len(w) > helpWidth {
			if i > 0 {
				b.WriteString("\n")
				line = 0
			}
			b.WriteString(strings.Repeat(" ", helpColumn-line))
			line = helpColumn
		} else {
			b.WriteString(" ")
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	b.WriteString("\n")
}

// Arg is one option to apply: from the command line (Pos is zero) or from
// a --config file.
type Arg struct {
	getopt.Parsed
	Pos config.Pos
}

// Name is how a message names the option: as the file spelled it
// ("ttl") for a file's setting, as getopt.Option.Name for the command
// line ("-t", "--cmd-timeout").
func (a Arg) Name() string {
	if a.Pos.File != "" {
		return a.Opt.Long
	}
	return a.Opt.Name()
}

// Place prefixes msg with FILE:LINE for a file's setting.
func (a Arg) Place(msg string) string {
	if a.Pos.File != "" {
		return a.Pos.String() + ": " + msg
	}
	return msg
}

// CommandLine is a parsed command line plus its --config file.
type CommandLine struct {
	// Args are the file's settings in file order, then the command
	// line's options in command-line order, up to a getopt error.
	Args     []Arg
	Operands []string
	// Err is getopt's error, if any, after Args; the caller acts on Args
	// first, as getopt(3) programs do.
	Err error
}

// Parse parses args (without argv[0]) against table. When the options
// before any getopt error name a --config file (the last one counts; the
// table has it as ConfigOption), it is read (config.Read: refused
// when others can write it and we run as root) and its settings come
// first. The error is the file's: unreadable, or FILE:LINE and what is
// wrong there.
func Parse(args []string, table Table) (*CommandLine, error) {
	g := table.Getopt()
	opts, operands, gerr := getopt.Parse(args, g)
	cl := &CommandLine{Operands: operands, Err: gerr}
	path := ""
	for _, p := range opts {
		if p.Opt.Long == ConfigOption.Long {
			path = p.Arg
		}
	}
	if path != "" {
		f, err := config.Read(path, config.Syntax{})
		if err != nil {
			return nil, err
		}
		settings, err := f.Settings(g, table.commandLineOnly(), table.repeatable(g))
		if err != nil {
			return nil, err
		}
		for _, s := range settings {
			cl.Args = append(cl.Args, Arg{Parsed: s.Parsed, Pos: s.Pos})
		}
	}
	for _, p := range opts {
		cl.Args = append(cl.Args, Arg{Parsed: p})
	}
	return cl, nil
}

// Package tportknockd is tportknockd, the port- and TCP-flag-knocking
// daemon of the multi-call binary: the original tportknockd's flags (-c -C
// -i -r -l -d -D -h) plus long options, its configuration format, -C and
// -l (main.go, config.go), and the daemon (run_linux.go).
//
// A packet travels: the kernel filter (knock.NewFilter for the device's
// addresses, compiled by bpfc, attached to an afpacket.Socket) drops
// everything that cannot be a knock; a reader goroutine hands what passes
// to the loop goroutine, which owns the knock.Machine, the socket and the
// filter; the machine's steps are logged and their commands queued to one
// worker that runs them through core's ShellRunner. Link and address
// notifications (linkwatch) make the loop look at the device again:
// re-attach the filter when its addresses changed, re-open the socket
// when it came back. The knock logic itself is package core/knock.
package tportknockd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tuninetd/tuninetd/cmd/internal/cli"
	"github.com/tuninetd/tuninetd/cmd/internal/getopt"
	"github.com/tuninetd/tuninetd/cmd/internal/version"
	"github.com/tuninetd/tuninetd/core/knock"
)

// Version is printed by --version: the multi-call binary's one version.
var Version = version.Version

// Limits of the numeric options.
const (
	maxSeconds = 86400 * 365
	// maxSourcesLimit keeps the table within what a router's memory can
	// hold (about 130 bytes an entry).
	maxSourcesLimit = 1 << 24
	// DefaultCmdTimeout is --cmd-timeout's default, as tuninetd's.
	DefaultCmdTimeout = 300 * time.Second
)

// optionTable is the command line: the original's short options (their
// letters keep their meanings: -d is debug, -D daemon), each with a long
// name, then the long-only options of this version. It is the single
// source of the parser and of the long-option section of -h. There is no
// --config: the knock configuration is the one file (-c).
var optionTable = cli.Table{
	{Option: getopt.Option{Short: 'c', Long: "config-file", HasArg: true}, Arg: "FILE",
		Help: "configuration file with the knock sequences"},
	{Option: getopt.Option{Short: 'C', Long: "check", HasArg: true}, Arg: "FILE",
		Help: "check the configuration and print every sequence; exit 0 if valid, 1 if not"},
	{Option: getopt.Option{Short: 'i', Long: "interface", HasArg: true}, Arg: "IFNAME",
		Help: "interface to listen on"},
	{Option: getopt.Option{Short: 'r', Long: "refresh", HasArg: true}, Arg: "SECONDS",
		Help: "also re-read the device's IP addresses every SECONDS (they are " +
			"followed through netlink notifications anyway)"},
	{Option: getopt.Option{Short: 'l', Long: "list"},
		Help: "list the available network devices"},
	{Option: getopt.Option{Short: 'd', Long: "debug"},
		Help: "print every knock step and the kernel filter expression"},
	{Option: getopt.Option{Short: 'D', Long: "daemon"},
		Help: "daemonize process (log to syslog); start-up errors are still printed here"},
	cli.HelpOption,
	cli.VersionOption,
	{Option: getopt.Option{Long: "wait-iface"},
		Help: "the -i device may be missing at start; wait for it to appear"},
	{Option: getopt.Option{Long: "cmd-timeout", HasArg: true}, Arg: "SECONDS",
		Help: "kill a command (its whole process group) that runs longer than this; " +
			"0 = no limit. Default 300"},
	{Option: getopt.Option{Long: "max-sources", HasArg: true}, Arg: "N",
		Help: "sources in the middle of a sequence that are remembered (per event " +
			"and source); when full the least recently seen is forgotten. Default 65536"},
	cli.NetnsOption("capture on -i and follow its links and addresses (and list " +
		"devices for -l) in the network namespace at PATH (/run/netns/NAME or " +
		"/proc/PID/ns/net) instead of our own. Commands still run in our own " +
		"namespace"),
}

// options is a parsed command line.
type options struct {
	config     string        // -c
	check      string        // -C
	iface      string        // -i
	refresh    time.Duration // -r, 0 = only on address notifications
	list       bool          // -l
	debug      bool          // -d
	daemon     bool          // -D
	waitIface  bool
	cmdTimeout time.Duration
	maxSources int
	netns      string // --netns; "" = our own namespace
}

// exit is a finished run: status and what to print.
type exit struct {
	code           int
	stdout, stderr string
}

// Main runs tportknockd with argv (argv[0] first) and returns the exit
// status.
func Main(argv []string) int {
	return run(argv, os.Stdout, os.Stderr)
}

func run(argv []string, stdout, stderr io.Writer) int {
	prog := "tportknockd"
	full := argv
	if len(argv) > 0 {
		prog = filepath.Base(argv[0])
		argv = argv[1:]
	} else {
		full = []string{prog}
	}
	o, ex := parseCommandLine(prog, argv)
	if ex == nil {
		ex = o.run()
	}
	if ex == nil {
		return serve(o, full, stderr)
	}
	io.WriteString(stdout, ex.stdout)
	io.WriteString(stderr, ex.stderr)
	return ex.code
}

func parseCommandLine(prog string, args []string) (*options, *exit) {
	o := &options{cmdTimeout: DefaultCmdTimeout, maxSources: knock.DefaultMaxSources}
	cl, cerr := cli.Parse(args, optionTable)
	if cerr != nil {
		return nil, &exit{code: 1, stderr: prog + ": " + cerr.Error() + "\n"}
	}
	gerr, operands := cl.Err, cl.Operands
	for _, p := range cl.Args {
		var err error
		switch p.Opt.Name() {
		case "-c":
			o.config = p.Arg
		case "-C":
			o.check = p.Arg
		case "-i":
			o.iface = p.Arg
		case "-r":
			var s int
			s, err = parseInt(p, 1, maxSeconds, "seconds")
			o.refresh = time.Duration(s) * time.Second
		case "-l":
			o.list = true
		case "-d":
			o.debug = true
		case "-D":
			o.daemon = true
		case "-h":
			// As the other daemons of the binary: the usage on stderr,
			// status 1.
			return nil, &exit{code: 1, stderr: usage()}
		case "-v":
			return nil, &exit{code: 0, stdout: "tportknockd " + Version + "\n"}
		case "--wait-iface":
			o.waitIface = true
		case "--cmd-timeout":
			var s int
			s, err = parseInt(p, 0, maxSeconds, "seconds")
			o.cmdTimeout = time.Duration(s) * time.Second
		case "--max-sources":
			o.maxSources, err = parseInt(p, 1, maxSourcesLimit, "sources")
		case "--netns":
			o.netns = p.Arg
			if p.Arg == "" {
				err = fmt.Errorf("%s: empty path", p.Name())
			}
		}
		if err != nil {
			return nil, &exit{code: 1, stderr: prog + ": " + err.Error() + "\n"}
		}
	}
	if gerr != nil {
		return nil, &exit{code: 1, stderr: prog + ": " + gerr.Error() + "\n" + usage()}
	}
	if len(operands) > 0 {
		return nil, &exit{code: 1, stderr: fmt.Sprintf("%s: unexpected argument %q (quote values that contain spaces)\n", prog, operands[0])}
	}
	if o.check == "" && !o.list {
		if o.config == "" {
			return nil, &exit{code: 1, stderr: prog + ": a configuration file must be given with -c\n" + usage()}
		}
		if o.iface == "" {
			return nil, &exit{code: 1, stderr: prog + ": a network device must be given with -i\n" + usage()}
		}
	}
	return o, nil
}

// parseInt reads p's argument as a decimal integer in [lo, hi].
func parseInt(p cli.Arg, lo, hi int, unit string) (int, error) {
	n, err := strconv.ParseInt(p.Arg, 10, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return 0, fmt.Errorf("%s: invalid value %q: want a whole number of %s from %d to %d", p.Opt.Name(), p.Arg, unit, lo, hi)
	}
	return int(n), nil
}

// run does what -C and -l ask for; nil means the daemon is to run.
func (o *options) run() *exit {
	switch {
	case o.check != "":
		evs, err := ReadConfig(o.check)
		if err != nil {
			return &exit{code: 1, stderr: err.Error() + "\n"}
		}
		return &exit{code: 0, stdout: Summary(evs)}
	case o.list:
		out, err := listDevices(o.netns)
		if err != nil {
			return &exit{code: 1, stderr: "tportknockd: " + err.Error() + "\n"}
		}
		return &exit{code: 0, stdout: out}
	}
	return nil // the daemon runs (serve)
}

func usage() string {
	return `tportknockd ` + Version + `

Port and TCP-flag knocking daemon

Usage: tportknockd -c <config> -i <device> [-r <sec>] [-d] [-D] [options]
       tportknockd -C <config>
       tportknockd -l

Options (long options take --name=VALUE or --name VALUE):

` + optionTable.Help() + `
Configuration: one block per knock event,
  <NAME>
   sequence      = tcp|udp:PORT[:FLAGS] ...  (FLAGS: f s r p a u, x, n, i)
   timeout       = seconds for the whole sequence (default 10)
   start_command = command; %IP% is the knocking address
   stop_command  = optional: run command_delay seconds after the start
   command_delay = seconds
  </NAME>

Commands run as /bin/sh -c "<command>" with TPORTKNOCKD_EVENT (start or
stop), TPORTKNOCKD_NAME, TPORTKNOCKD_SRC, TPORTKNOCKD_FAMILY (4 or 6) and
TPORTKNOCKD_IFACE in their environment (see tportknockd(8)).
`
}

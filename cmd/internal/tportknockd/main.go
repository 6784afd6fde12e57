// Package tportknockd is the command line of tportknockd, the port- and
// TCP-flag-knocking daemon: the original tportknockd's flags (-c -C -i -r
// -l -d -D -h) plus long options, its configuration format, and -C and -l.
// The knock logic itself is package core/knock.
package tportknockd

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tuninetd/tuninetd/cmd/internal/getopt"
	"github.com/tuninetd/tuninetd/core/knock"
)

// Version is printed by --version; the multi-call binary sets it from its
// one version string.
var Version = "2.0.0"

// Limits of the numeric options.
const (
	maxSeconds = 86400 * 365
	// maxSourcesLimit keeps the table within what a router's memory can
	// hold (about 100 bytes an entry).
	maxSourcesLimit = 1 << 24
	// DefaultCmdTimeout is --cmd-timeout's default, as tuninetd's.
	DefaultCmdTimeout = 300 * time.Second
)

// table is the command line: the original's short options, then the long
// options of this version.
var table = []getopt.Option{
	{Short: 'c', HasArg: true},
	{Short: 'C', HasArg: true},
	{Short: 'i', HasArg: true},
	{Short: 'r', HasArg: true},
	{Short: 'l'},
	{Short: 'd'},
	{Short: 'D'},
	{Short: 'h', Long: "help"},
	{Long: "version"},
	{Long: "wait-iface"},
	{Long: "cmd-timeout", HasArg: true},
	{Long: "max-sources", HasArg: true},
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
	if len(argv) > 0 {
		prog = filepath.Base(argv[0])
		argv = argv[1:]
	}
	o, ex := parseCommandLine(prog, argv)
	if ex == nil {
		ex = o.run()
	}
	io.WriteString(stdout, ex.stdout)
	io.WriteString(stderr, ex.stderr)
	return ex.code
}

func parseCommandLine(prog string, args []string) (*options, *exit) {
	o := &options{cmdTimeout: DefaultCmdTimeout, maxSources: knock.DefaultMaxSources}
	parsed, operands, gerr := getopt.Parse(args, table)
	for _, p := range parsed {
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
			return nil, &exit{code: 0, stdout: usage()}
		case "--version":
			return nil, &exit{code: 0, stdout: "tportknockd " + Version + "\n"}
		case "--wait-iface":
			o.waitIface = true
		case "--cmd-timeout":
			var s int
			s, err = parseInt(p, 0, maxSeconds, "seconds")
			o.cmdTimeout = time.Duration(s) * time.Second
		case "--max-sources":
			o.maxSources, err = parseInt(p, 1, maxSourcesLimit, "sources")
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
func parseInt(p getopt.Parsed, lo, hi int, unit string) (int, error) {
	n, err := strconv.ParseInt(p.Arg, 10, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return 0, fmt.Errorf("%s: invalid value %q: want a whole number of %s from %d to %d", p.Opt.Name(), p.Arg, unit, lo, hi)
	}
	return int(n), nil
}

func (o *options) run() *exit {
	switch {
	case o.check != "":
		evs, err := ReadConfig(o.check)
		if err != nil {
			return &exit{code: 1, stderr: err.Error() + "\n"}
		}
		return &exit{code: 0, stdout: Summary(evs)}
	case o.list:
		out, err := listDevices()
		if err != nil {
			return &exit{code: 1, stderr: "tportknockd: " + err.Error() + "\n"}
		}
		return &exit{code: 0, stdout: out}
	}
	evs, err := ReadConfig(o.config)
	if err != nil {
		return &exit{code: 1, stderr: err.Error() + "\n"}
	}
	if _, err := knock.NewMachine(evs, knock.Options{MaxSources: o.maxSources}); err != nil {
		return &exit{code: 1, stderr: "tportknockd: " + err.Error() + "\n"}
	}
	var stdout string
	if o.debug {
		addrs, err := deviceAddrs(o.iface)
		if err != nil {
			return &exit{code: 1, stderr: "tportknockd: " + err.Error() + "\n"}
		}
		stdout = "Kernel filter: " + knock.NewFilter(evs, addrs).Expr + "\n"
	}
	// The capture socket, the address follower and the command runner
	// are not wired in yet: say so instead of pretending to listen.
	return &exit{code: 1, stdout: stdout, stderr: "tportknockd: listening is not available in this build yet (configuration is valid)\n"}
}

// deviceAddrs returns the IP addresses of a device, IPv4 and IPv6.
func deviceAddrs(name string) ([]netip.Addr, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", name, err)
	}
	as, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("device %s: addresses: %w", name, err)
	}
	var out []netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, nil
}

// listDevices is -l: one line per network device, its state and its IP
// addresses, in the kernel's index order.
func listDevices() (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("list devices: %w", err)
	}
	var b strings.Builder
	for _, ifi := range ifs {
		state := "down"
		if ifi.Flags&net.FlagUp != 0 {
			state = "up"
		}
		fmt.Fprintf(&b, "%s %s", ifi.Name, state)
		if as, err := ifi.Addrs(); err == nil {
			for _, a := range as {
				b.WriteString(" " + a.String())
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

func usage() string {
	return `tportknockd ` + Version + `: port and TCP-flag knocking daemon
Usage: tportknockd -c <config> -i <device> [options]

-c <config>  configuration file with the knock sequences
-C <config>  check the configuration for typos and syntax errors and print
             all sequences; exit 0 if valid, 1 if not
-i <device>  interface to listen on
-r <sec>     also re-read the device's IP addresses every <sec> seconds
-l           list the available network devices
-d           debug: print every knock step and the kernel filter
-D           daemon mode (log to syslog)
-h           help

Options of this version (long options take --name=VALUE or --name VALUE):

--wait-iface: the -i device may be missing at start; wait for it
--cmd-timeout=SECONDS: kill a command (its whole process group) that runs
    longer than this; 0 = no limit. Default 300
--max-sources=N: sources in the middle of a sequence that are remembered;
    when full the least recently seen is forgotten. Default 65536
--help: same as -h; --version: print the version

Configuration: one block per knock event,
  <NAME>
   sequence      = tcp|udp:PORT[:FLAGS] ...  (FLAGS: f s r p a u, x, n, i)
   timeout       = seconds for the whole sequence (default 10)
   start_command = command; %IP% is the knocking address
   stop_command  = optional: run command_delay seconds after the start
   command_delay = seconds
  </NAME>
`
}

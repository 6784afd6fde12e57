// Package tuntapd is the tuntapd daemon of the multi-call binary: it keeps a tun or tap device attached so that it has
// carrier: a tun/tap device nobody reads drops what is routed to it before
// a capture socket (tuninetd -i) can see it. It reads and discards the
// packets, logging a summary of each in the foreground.
//
// Usage: tuntapd -i <ifname> [-m <iftype>] [-d]
//
// A missing device is created, and deleted again when tuntapd exits; an
// existing one is only attached to. tuntapd needs CAP_NET_ADMIN (or a
// device created for its user with "ip tuntap add ... user <user>").
package tuntapd

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/cmd/internal/cli"
	"github.com/tuninetd/tuninetd/cmd/internal/getopt"
	"github.com/tuninetd/tuninetd/cmd/internal/version"
	"github.com/tuninetd/tuninetd/tuntap"
)

// progname prefixes tuntapd's messages, as in the original.
const progname = "tuntapd"

// optionTable is every option of tuntapd: the original's getopt string
// "i:m:w:dhv", each with a long name, then --config. It is the single
// source of the parser, of the long-option section of -h and of the
// --config keys. There is no --wait-iface: a missing device is created.
var optionTable = cli.Table{
	{Option: getopt.Option{Short: 'i', Long: "interface", HasArg: true}, Arg: "IFNAME",
		Help: "tun/tap interface to hold (created if missing, deleted on exit)"},
	{Option: getopt.Option{Short: 'm', Long: "mode", HasArg: true}, Arg: "tun|tap",
		Help: "device type. Default is tun"},
	{Option: getopt.Option{Short: 'w', Long: "write", HasArg: true}, Arg: "PATH",
		Help: "append the packets read to a pcap savefile"},
	{Option: getopt.Option{Short: 'd', Long: "daemon"},
		Help: "daemonize process; startup errors are still printed here"},
	cli.HelpOption,
	cli.VersionOption,
	cli.NetnsOption("hold (and create) the device in the network namespace at PATH " +
		"(/run/netns/NAME or /proc/PID/ns/net) instead of our own"),
	cli.ConfigOption,
}

// Main runs tuntapd with argv (os.Args) and returns the exit status.
func Main(argv []string) int {
	return run(argv, os.Stderr)
}

// config is what the command line asks for.
type config struct {
	ifname   string
	mode     tuntap.Mode
	daemon   bool
	savefile string // -w; "" = none
	netns    string // --netns; "" = our own namespace
}

// modeFlag is the IFF_TUN / IFF_TAP value the original prints as "mode
// 0x%04x".
func modeFlag(m tuntap.Mode) int {
	if m == tuntap.TAP {
		return unix.IFF_TAP
	}
	return unix.IFF_TUN
}

// usage writes the help text to w.
func usage(w io.Writer) {
	fmt.Fprintf(w, "%s %s\n", progname, version.Version)
	fmt.Fprintf(w, "\nStub for tun/tap device to keep it alive\n")
	fmt.Fprintf(w, "\nUsage: %s -i <ifname> [-m <iftype>] [-d]\n\n", progname)
	fmt.Fprintf(w, "-i <ifname>: tun/tap interface to hold (created if missing, deleted on exit)\n")
	fmt.Fprintf(w, "-m <iftype>: 'tun' or 'tap'. Default is 'tun'\n")
	fmt.Fprintf(w, "-d: daemonize process; startup errors are still printed here\n")
	fmt.Fprintf(w, "-w <path>: append the packets read to a pcap savefile\n\n")
	fmt.Fprintf(w, "-h: print this help\n")
	fmt.Fprintf(w, "-v: print version\n\n")
	fmt.Fprintf(w, "Needs CAP_NET_ADMIN, or a device made for its user: ip tuntap add <ifname> mode tun user <user>\n")
	fmt.Fprintf(w, "\nLong options (--name=VALUE or --name VALUE):\n\n%s", optionTable.Help())
}

// parseArgs reads the command line the way the original does: options act
// in order (-v prints the version and exits 0, -h prints the usage and
// exits 1), then the device and the mode are checked. When it returns
// ok == false the caller exits with status. A --config file's settings
// come first, through the same switch; their errors carry FILE:LINE.
func parseArgs(args []string, stderr io.Writer) (cfg config, status int, ok bool) {
	cfg.mode = tuntap.TUN
	var badMode *cli.Arg // the last -m, when it was not a mode
	cl, cerr := cli.Parse(args, optionTable)
	if cerr != nil {
		fmt.Fprintf(stderr, "%s: %v. Abort\n", progname, cerr)
		return cfg, 1, false
	}
	for _, o := range cl.Args {
		switch o.Opt.Short {
		case 'v':
			fmt.Fprintf(stderr, "%s %s\n", progname, version.Version)
			return cfg, 0, false
		case 'h':
			usage(stderr)
			return cfg, 1, false
		case 'i':
			cfg.ifname = o.Arg
		case 'd':
			cfg.daemon = true
		case 'w':
			cfg.savefile = o.Arg
		case 0:
			if o.Opt.Long == "netns" {
				if o.Arg == "" {
					fmt.Fprintf(stderr, "%s: %s\n", progname, o.Place(o.Name()+": empty path. Abort"))
					return cfg, 1, false
				}
				cfg.netns = o.Arg
			}
		case 'm':
			m, err := tuntap.ParseMode(o.Arg)
			// A later valid -m wins, as in the original.
			badMode = nil
			if err != nil {
				badMode = &o
			} else {
				cfg.mode = m
			}
		}
	}
	if err := cl.Err; err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", progname, err)
		usage(stderr)
		return cfg, 1, false
	}
	if cfg.ifname == "" {
		fmt.Fprintf(stderr, "%s: tun/tap device must be specified. Abort\n", progname)
		usage(stderr)
		return cfg, 1, false
	}
	if badMode != nil {
		fmt.Fprintf(stderr, "%s: %s\n", progname, badMode.Place("device mode must be \"tun\" or \"tap\". Abort"))
		return cfg, 1, false
	}
	if operands := cl.Operands; len(operands) > 0 {
		// The original ignored them; a stray word is more likely a
		// mistake (a forgotten -i) than intent.
		fmt.Fprintf(stderr, "%s: unexpected argument %q. Abort\n", progname, strings.Join(operands, " "))
		return cfg, 1, false
	}
	return cfg, 0, true
}

// run is main without os.Exit, for the tests of the flag handling. argv
// is os.Args: -d starts the daemon with the same argv[0].
func run(argv []string, stderr io.Writer) int {
	if len(argv) == 0 {
		argv = []string{progname}
	}
	cfg, status, ok := parseArgs(argv[1:], stderr)
	if !ok {
		return status
	}
	return start(cfg, argv, stderr)
}

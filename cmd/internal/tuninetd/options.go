package tuninetd

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tuninetd/tuninetd/cmd/internal/cli"
	"github.com/tuninetd/tuninetd/cmd/internal/getopt"
	"github.com/tuninetd/tuninetd/sensor/dnsq"
	"github.com/tuninetd/tuninetd/tuntap"
)

// Defaults for the long options (new in this version).
const (
	// defaultCmdTimeout bounds a start or stop command. Five minutes is far
	// beyond any sane VPN start-up (handshakes, DHCP, route set-up) yet
	// still ends a script that hangs forever.
	defaultCmdTimeout = 300 * time.Second
	// defaultTTL is the original's -t default.
	defaultTTL = 600
	// maxSeconds bounds every seconds value: it is the original's int
	// range, and far inside time.Duration's.
	maxSeconds = math.MaxInt32
)

// optionTable is every option of tuninetd: the original's getopt string
// "i:t:c:f:m:n:w:adhv" (keep the short letters in that order), each with a
// long name, then the long-only options. It is the single source of the
// parser, of the long-option section of -h and of the --config keys.
var optionTable = cli.Table{
	{Option: getopt.Option{Short: 'i', Long: "interface", HasArg: true}, Arg: "IFNAME",
		Help: "network interface to use with pcap"},
	{Option: getopt.Option{Short: 't', Long: "ttl", HasArg: true}, Arg: "SECONDS",
		Help: "seconds of interface idle before 'stop' command will be run. Default 600"},
	{Option: getopt.Option{Short: 'c', Long: "command", HasArg: true}, Arg: "PATH",
		Help: "to executable, will be run with 'start' and 'stop' parameter accordingly"},
	{Option: getopt.Option{Short: 'f', Long: "filter", HasArg: true}, Arg: "FILTER",
		Help: "apply packet filter, similar to tcpdump (-i only)"},
	{Option: getopt.Option{Short: 'm', Long: "hold", HasArg: true}, Arg: "tun|tap",
		Help: "hold the -i device open while in standby (so a tun/tap without its VPN " +
			"has carrier and its traffic is seen); let go of it just before 'start', " +
			"take it again after 'stop'. A missing device is created"},
	{Option: getopt.Option{Short: 'n', Long: "nflog-group", HasArg: true}, Arg: "GROUP",
		Help: "netfilter nflog group ID"},
	{Option: getopt.Option{Short: 'w', Long: "write", HasArg: true}, Arg: "PATH",
		Help: "dump \"start event\" packets to pcap-savefile as well"},
	{Option: getopt.Option{Short: 'a', Long: "ack-only"},
		Help: "use only tcp[ack] packets to zero TTL timer"},
	{Option: getopt.Option{Short: 'd', Long: "daemon"},
		Help: "daemonize process; start-up errors are still printed here"},
	cli.HelpOption,
	cli.VersionOption,
	{Option: getopt.Option{Long: "cmd-timeout", HasArg: true}, Arg: "SECONDS",
		Help: "kill a 'start' or 'stop' command (its whole process group) that runs " +
			"longer than this; 0 = no limit. Default 300"},
	{Option: getopt.Option{Long: "holdoff", HasArg: true}, Arg: "SECONDS",
		Help: "after a 'stop', ignore traffic for this long before another 'start' " +
			"may run. Default 0 (off)"},
	{Option: getopt.Option{Long: "stop-on-exit"},
		Help: "on SIGTERM/SIGINT while up, run 'stop' before exiting"},
	{Option: getopt.Option{Long: "ring-blocks", HasArg: true}, Arg: "N",
		Help: "number of blocks of the capture ring used while up (-i only)"},
	{Option: getopt.Option{Long: "ring-block-size", HasArg: true}, Arg: "BYTES",
		Help: "size of one block of that ring. The defaults are small: only " +
			"activity matters"},
	{Option: getopt.Option{Long: "wait-iface"},
		Help: "when the -i interface does not exist yet, wait for it to appear " +
			"instead of exiting (everything else is still checked first)"},
	cli.NetnsOption("watch -i and -n, hold the -m device and follow link changes in " +
		"the network namespace at PATH (/run/netns/NAME or /proc/PID/ns/net) " +
		"instead of our own. Commands still run in our own namespace; a hook " +
		"can use ip netns exec itself"),
	{Option: getopt.Option{Long: "dns-name", HasArg: true}, Arg: "SUFFIX", Repeatable: true,
		Help: "a DNS query (UDP or TCP port 53, seen by -i or -n) for SUFFIX or a name " +
			"under it starts and keeps up like a packet matching -f; repeat it or give a " +
			"comma list. With -i and no -f only such queries count"},
	{Option: getopt.Option{Long: "dns-never", HasArg: true}, Arg: "SUFFIX", Repeatable: true,
		Help: "names under SUFFIX never count, even under a --dns-name; the longest " +
			"matching suffix decides"},
	cli.ConfigOption,
}

// options is the validated command line.
type options struct {
	iface     string // -i; "" = no capture sensor
	filter    string // -f
	hasFilter bool   // -f given (an empty filter is still reported)
	group     int    // -n; -1 = no NFLOG sensor
	command   string // -c
	ttl       int    // -t, seconds
	ackOnly   bool   // -a
	savefile  string // -w; "" = off
	mode      tuntap.Mode
	hasMode   bool // -m given: hold the device while in standby
	daemon    bool // -d

	cmdTimeout    time.Duration
	holdoff       time.Duration
	stopOnExit    bool
	ringBlocks    int // 0 = the sensor's default
	ringBlockSize int // 0 = the sensor's default
	waitIface     bool
	netns         string      // --netns; "" = our own namespace
	dns           *dnsq.Rules // --dns-name and --dns-never; nil when none
}

// exitStatus tells main to print text to stderr and exit with code
// instead of running.
type exitStatus struct {
	code int
	text string
}

// parseCommandLine turns argv into options, or into what to print and the
// exit code. Like the C original it acts on options in order: -h (or a
// getopt error) prints the usage and exits 1 at that point, -v prints the
// version and exits 0 at that point. Unlike it, bad numbers are errors.
//
// A --config file's settings are applied first, through the same switch;
// their errors start with FILE:LINE.
func parseCommandLine(argv []string, version string) (*options, *exitStatus) {
	prog := "tuninetd"
	if len(argv) > 0 {
		prog = argv[0]
		argv = argv[1:]
	}
	o := &options{
		group:      -1,
		ttl:        defaultTTL,
		mode:       tuntap.TUN,
		cmdTimeout: defaultCmdTimeout,
	}
	cl, cerr := cli.Parse(argv, optionTable)
	if cerr != nil {
		return nil, &exitStatus{1, cerr.Error() + ". Abort\n"}
	}
	var dnsNames, dnsNevers []string
	for _, p := range cl.Args {
		var err error
		switch p.Opt.Name() {
		case "-i":
			o.iface = p.Arg
		case "-t":
			o.ttl, err = parseInt(p, 1, maxSeconds, "seconds")
		case "-c":
			o.command = p.Arg
		case "-f":
			o.filter, o.hasFilter = p.Arg, true
		case "-m":
			o.mode, err = tuntap.ParseMode(p.Arg)
			if err != nil {
				err = fmt.Errorf("%s: invalid device type %q (want tun or tap)", p.Name(), p.Arg)
			}
			o.hasMode = true
		case "-n":
			o.group, err = parseInt(p, 0, math.MaxUint16, "")
		case "-w":
			o.savefile = p.Arg
		case "-a":
			o.ackOnly = true
		case "-d":
			o.daemon = true
		case "-h":
			return nil, &exitStatus{1, usage(version)}
		case "-v":
			return nil, &exitStatus{0, versionLine(version)}
		case "--cmd-timeout":
			var s int
			s, err = parseInt(p, 0, maxSeconds, "seconds")
			o.cmdTimeout = time.Duration(s) * time.Second
		case "--holdoff":
			var s int
			s, err = parseInt(p, 0, maxSeconds, "seconds")
			o.holdoff = time.Duration(s) * time.Second
		case "--stop-on-exit":
			o.stopOnExit = true
		case "--ring-blocks":
			o.ringBlocks, err = parseInt(p, 1, 1024, "blocks")
		case "--ring-block-size":
			o.ringBlockSize, err = parseInt(p, 4096, 1<<30, "bytes")
		case "--wait-iface":
			o.waitIface = true
		case "--netns":
			o.netns = p.Arg
			if p.Arg == "" {
				err = fmt.Errorf("%s: empty path", p.Name())
			}
		case "--dns-name":
			dnsNames = append(dnsNames, p.Arg)
			_, err = dnsq.NewRules([]string{p.Arg}, nil)
		case "--dns-never":
			dnsNevers = append(dnsNevers, p.Arg)
			err = checkNever(p.Arg)
		}
		if err != nil {
			return nil, &exitStatus{1, p.Place(err.Error()) + ". Abort\n"}
		}
	}
	if cl.Err != nil {
		return nil, &exitStatus{1, prog + ": " + cl.Err.Error() + "\n" + usage(version)}
	}
	if operands := cl.Operands; len(operands) > 0 {
		// The original silently ignored them; a stray word is almost always
		// an unquoted argument meant for -c or -f.
		return nil, &exitStatus{1, fmt.Sprintf("Unexpected argument %q (quote -c and -f values that contain spaces). Abort\n", operands[0])}
	}
	if o.iface == "" && o.group < 0 {
		return nil, &exitStatus{1, "Network device or nflog-group must be specified. Abort\n" + usage(version)}
	}
	if strings.TrimSpace(o.command) == "" {
		return nil, &exitStatus{1, "Executable path must be specified. Abort\n" + usage(version)}
	}
	if len(dnsNames) > 0 || len(dnsNevers) > 0 {
		r, err := dnsq.NewRules(dnsNames, dnsNevers)
		if err != nil {
			return nil, &exitStatus{1, err.Error() + ". Abort\n"}
		}
		o.dns = r
	}
	return o, nil
}

// checkNever checks one --dns-never value where it is given (so a file's
// error has its line); whether it has any effect is known only at the end.
func checkNever(v string) error {
	_, err := dnsq.NewRules([]string{v}, nil)
	var se *dnsq.SuffixError
	if errors.As(err, &se) {
		se.Option = "--dns-never"
	}
	return err
}

// parseInt reads p's argument as a decimal integer in [lo, hi]; unit
// ("seconds", or "" for none) words the message.
func parseInt(p cli.Arg, lo, hi int, unit string) (int, error) {
	n, err := strconv.ParseInt(p.Arg, 10, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		if unit != "" {
			unit = " of " + unit
		}
		return 0, fmt.Errorf("%s: invalid value %q: want a whole number%s from %d to %d", p.Name(), p.Arg, unit, lo, hi)
	}
	return int(n), nil
}

// versionLine is what -v prints: the original's shape, "tuninetd 1.5.1".
func versionLine(version string) string {
	return "tuninetd " + version + "\n"
}

// usage is the -h text: the original's, line for line, then our long
// options after its examples.
func usage(version string) string {
	return versionLine(version) + `
Event emitter with pcap and nflog sensors which could be used at the same time

Usage: 	tuninetd -i <ifname> -c <path> [-a] [-d] [-f <filter>] [-n <nflog-group>] [-t <ttl>] [-w <path>]
	tuninetd -n <nflog-group> -c <path> [-a] [-d] [-i <ifname> [-f <filter>]] [-t <ttl>] [-w <path>]


-a: use only tcp[ack] packets to zero TTL timer (see -t)
-c <path>: to executable, will be run with 'start' and 'stop' parameter accordingly
-d: daemonize process
-f <filter>: apply packet filter, similar to tcpdump
-i <ifname>: network interface to use with pcap
-n <nflog-group>: netfilter nflog group ID
-t <ttl>: seconds of interface idle before 'stop' command will be run. Default 600
-w <path>: dump "start event" packets to pcap-savefile as well
-h: print this help
-v: print version


Examples:

# tuninetd -n 1 -c /path/to/executable/toggletunnel.sh
# tuninetd -i tap0 -c /path/to/executable/coolscript.sh
# tuninetd -i tun0 -f "! host 1.2.3.4" -c /path/to/executable/binary -t 3600 -d
# tuninetd -i enp3s0 -f "arp and host 4.3.2.1" -n 1 -c /path/to/executable/launcher.py

Options of this version (long options take --name=VALUE or --name VALUE):

` + optionTable.Help() + `
The command runs as /bin/sh -c "<path> start" (or stop) with TUNINETD_EVENT,
TUNINETD_REASON, TUNINETD_SENSOR, TUNINETD_IFACE, TUNINETD_TTL and, for a
start caused by a packet, TUNINETD_SRC, TUNINETD_DST, TUNINETD_PROTO,
TUNINETD_SRC_PORT, TUNINETD_DST_PORT in its environment (see tuninetd(8)),
and TUNINETD_QNAME when a --dns-name query caused it.

`
}

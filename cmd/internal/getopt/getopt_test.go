package getopt

import (
	"reflect"
	"strings"
	"testing"
)

// tuninetdTable is cmd/tuninetd's option table (its getopt string
// "i:t:c:f:m:n:w:adhv" plus the long options): the tests exercise the
// parser on a table a command really runs with. cmd/tuninetd's
// TestOptionTable keeps its short letters in step with the getopt string.
var tuninetdTable = []Option{
	{Short: 'i', HasArg: true},
	{Short: 't', HasArg: true},
	{Short: 'c', HasArg: true},
	{Short: 'f', HasArg: true},
	{Short: 'm', HasArg: true},
	{Short: 'n', HasArg: true},
	{Short: 'w', HasArg: true},
	{Short: 'a'},
	{Short: 'd'},
	{Short: 'h', Long: "help"},
	{Short: 'v', Long: "version"},
	{Long: "cmd-timeout", HasArg: true},
	{Long: "holdoff", HasArg: true},
	{Long: "stop-on-exit"},
	{Long: "ring-blocks", HasArg: true},
	{Long: "ring-block-size", HasArg: true},
}

// tuntapdOptstring is cmd/tuntapd's getopt(3) string: a short-only table.
const tuntapdOptstring = "i:m:w:dhv"

// render turns parsed options back into one word per option, for
// comparing: "-t=3600", "-a", "--holdoff=5".
func render(opts []Parsed) []string {
	out := []string{}
	for _, p := range opts {
		if p.Opt.HasArg {
			out = append(out, p.Opt.Name()+"="+p.Arg)
		} else {
			out = append(out, p.Opt.Name())
		}
	}
	return out
}

// errText is err's message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestGetopt(t *testing.T) {
	tests := []struct {
		name     string
		args     string // split on '|'
		opts     []string
		operands []string
		err      string
	}{
		{"separate", "-t|3600", []string{"-t=3600"}, nil, ""},
		{"attached", "-t3600", []string{"-t=3600"}, nil, ""},
		{"grouped booleans", "-ad", []string{"-a", "-d"}, nil, ""},
		{"booleans apart", "-d|-a", []string{"-d", "-a"}, nil, ""},
		{"group ending in arg", "-adt|5", []string{"-a", "-d", "-t=5"}, nil, ""},
		{"group with attached arg", "-adt5", []string{"-a", "-d", "-t=5"}, nil, ""},
		{"arg starting with dash", "-c|-x", []string{"-c=-x"}, nil, ""},
		{"arg is double dash", "-f|--", []string{"-f=--"}, nil, ""},
		{"empty arg", "-f|", []string{"-f="}, nil, ""},
		{"arg with spaces", "-c|/usr/bin/vpn wg0", []string{"-c=/usr/bin/vpn wg0"}, nil, ""},
		{"any order", "-c|x|-i|tun0|-t|1", []string{"-c=x", "-i=tun0", "-t=1"}, nil, ""},
		{"double dash ends options", "-a|--|-d|x", []string{"-a"}, []string{"-d", "x"}, ""},
		{"operands permuted", "x|-a|y|-t|3", []string{"-a", "-t=3"}, []string{"x", "y"}, ""},
		{"lone dash is operand", "-|-a", []string{"-a"}, []string{"-"}, ""},
		{"last wins kept in order", "-t|1|-t|2", []string{"-t=1", "-t=2"}, nil, ""},
		{"long equals", "--cmd-timeout=30", []string{"--cmd-timeout=30"}, nil, ""},
		{"long separate", "--cmd-timeout|30", []string{"--cmd-timeout=30"}, nil, ""},
		{"long empty value", "--holdoff=", []string{"--holdoff="}, nil, ""},
		{"long flag", "--stop-on-exit", []string{"--stop-on-exit"}, nil, ""},
		{"long help is -h", "--help", []string{"-h"}, nil, ""},
		{"long abbreviation", "--stop|--cmd=7", []string{"--stop-on-exit", "--cmd-timeout=7"}, nil, ""},
		{"ring options", "--ring-blocks=4|--ring-block-size|65536", []string{"--ring-blocks=4", "--ring-block-size=65536"}, nil, ""},

		{"unknown short", "-a|-x|-d", []string{"-a"}, nil, "invalid option -- 'x'"},
		{"unknown in group", "-axd", []string{"-a"}, nil, "invalid option -- 'x'"},
		{"missing arg", "-a|-t", []string{"-a"}, nil, "option requires an argument -- 't'"},
		{"missing arg in group", "-at", []string{"-a"}, nil, "option requires an argument -- 't'"},
		{"unknown long", "--foo", nil, nil, "unrecognized option '--foo'"},
		{"unknown long with value", "--foo=bar", nil, nil, "unrecognized option '--foo=bar'"},
		{"long flag with value", "--stop-on-exit=1", nil, nil, "option '--stop-on-exit' doesn't allow an argument"},
		{"long missing value", "--holdoff", nil, nil, "option '--holdoff' requires an argument"},
		{"ambiguous long", "--ring-block", nil, nil, "option '--ring-block' is ambiguous; possibilities: '--ring-blocks' '--ring-block-size'"},
		{"bare double dash prefix", "--=1", nil, nil, "unrecognized option '--=1'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, operands, err := Parse(strings.Split(tt.args, "|"), tuninetdTable)
			if got := render(opts); !reflect.DeepEqual(got, append([]string{}, tt.opts...)) {
				t.Errorf("options = %q, want %q", got, tt.opts)
			}
			if !reflect.DeepEqual(operands, tt.operands) {
				t.Errorf("operands = %q, want %q", operands, tt.operands)
			}
			if got := errText(err); got != tt.err {
				t.Errorf("error = %q, want %q", got, tt.err)
			}
		})
	}
}

// TestGetoptShortOnly runs a getopt(3) option string, as cmd/tuntapd
// does: no long options, so "--x" is a group of short ones.
func TestGetoptShortOnly(t *testing.T) {
	// option is one expected occurrence: letter and argument.
	type option struct {
		c   byte
		arg string
	}
	tests := []struct {
		args     []string
		opts     []option
		operands []string
		err      string
	}{
		{args: nil},
		{args: []string{"-i", "tun0"}, opts: []option{{'i', "tun0"}}},
		{args: []string{"-itun0"}, opts: []option{{'i', "tun0"}}},
		{args: []string{"-di", "tun0"}, opts: []option{{'d', ""}, {'i', "tun0"}}},
		{args: []string{"-dmtap", "-i", "-x"}, opts: []option{{'d', ""}, {'m', "tap"}, {'i', "-x"}}},
		{args: []string{"-d", "--", "-i", "tun0"}, opts: []option{{'d', ""}}, operands: []string{"-i", "tun0"}},
		{args: []string{"foo", "-i", "tun0", "-"}, opts: []option{{'i', "tun0"}}, operands: []string{"foo", "-"}},
		{args: []string{"-v", "-x"}, opts: []option{{'v', ""}}, err: "invalid option -- 'x'"},
		{args: []string{"-d:"}, opts: []option{{'d', ""}}, err: "invalid option -- ':'"},
		{args: []string{"-d", "-i"}, opts: []option{{'d', ""}}, err: "option requires an argument -- 'i'"},
		{args: []string{"-dw"}, opts: []option{{'d', ""}}, err: "option requires an argument -- 'w'"},
		{args: []string{"-d", "--help"}, opts: []option{{'d', ""}}, err: "invalid option -- '-'"},
	}
	table := Short(tuntapdOptstring)
	for _, tt := range tests {
		parsed, operands, err := Parse(tt.args, table)
		var opts []option
		for _, p := range parsed {
			opts = append(opts, option{p.Opt.Short, p.Arg})
		}
		if !reflect.DeepEqual(opts, tt.opts) || !reflect.DeepEqual(operands, tt.operands) {
			t.Errorf("Parse(%q) = %v, %q; want %v, %q", tt.args, opts, operands, tt.opts, tt.operands)
		}
		if got := errText(err); got != tt.err {
			t.Errorf("Parse(%q) error %q, want %q", tt.args, got, tt.err)
		}
	}
}

func TestShort(t *testing.T) {
	tests := []struct {
		optstring string
		want      []Option
	}{
		{"", nil},
		{"i:m:w:dhv", []Option{{Short: 'i', HasArg: true}, {Short: 'm', HasArg: true}, {Short: 'w', HasArg: true}, {Short: 'd'}, {Short: 'h'}, {Short: 'v'}}},
		{"+:ab:", []Option{{Short: 'a'}, {Short: 'b', HasArg: true}}},
	}
	for _, tt := range tests {
		if got := Short(tt.optstring); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Short(%q) = %+v, want %+v", tt.optstring, got, tt.want)
		}
	}
}

// canonical spells opts and operands back out the plainest way: "-x",
// "value", "--name=value", then "--" and the operands.
func canonical(opts []Parsed, operands []string) []string {
	var canon []string
	for _, p := range opts {
		if p.Opt.Short != 0 {
			canon = append(canon, "-"+string(p.Opt.Short))
			if p.Opt.HasArg {
				canon = append(canon, p.Arg)
			}
		} else if p.Opt.HasArg {
			canon = append(canon, "--"+p.Opt.Long+"="+p.Arg)
		} else {
			canon = append(canon, "--"+p.Opt.Long)
		}
	}
	return append(append(canon, "--"), operands...)
}

// FuzzGetopt checks that any argument vector parses without panicking
// and that what it parses survives a round trip through its canonical
// spelling ("-x", "value", "--name=value"), with the long-option table
// of cmd/tuninetd and the short-only one of cmd/tuntapd.
func FuzzGetopt(f *testing.F) {
	for _, s := range []string{
		"-i\x00tun0\x00-c\x00/bin/true\x00-t3600",
		"-ad\x00-f\x00! host 1.2.3.4",
		"--cmd-timeout=30\x00--\x00-x",
		"--ring\x00-",
		"-t",
		"--stop-on-exit=\x00--h",
		"-dmtap\x00-itap0\x00-w\x00x.pcap",
	} {
		f.Add(s)
	}
	tables := [][]Option{tuninetdTable, Short(tuntapdOptstring)}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		for _, table := range tables {
			opts, operands, err := Parse(args, table)
			if err != nil {
				if !strings.Contains(err.Error(), "option") {
					t.Fatalf("error %q does not read like getopt's", err)
				}
				continue
			}
			canon := canonical(opts, operands)
			opts2, operands2, err := Parse(canon, table)
			if err != nil {
				t.Fatalf("canonical %q: %v", canon, err)
			}
			if !reflect.DeepEqual(render(opts), render(opts2)) || len(operands) != len(operands2) {
				t.Fatalf("round trip of %q via %q: %q %q != %q %q", args, canon, render(opts), operands, render(opts2), operands2)
			}
			for i := range operands {
				if operands[i] != operands2[i] {
					t.Fatalf("operand %d: %q != %q", i, operands[i], operands2[i])
				}
			}
		}
	})
}

package main

import (
	"reflect"
	"strings"
	"testing"
)

// testDefs is the tuninetd option set: the tests exercise the parser on
// the table it really runs with.
var testDefs = optionDefs

// render turns parsed options back into one word per option, for
// comparing: "-t=3600", "-a", "--holdoff=5".
func render(opts []parsedOpt) []string {
	out := []string{}
	for _, p := range opts {
		if p.def.hasArg {
			out = append(out, p.def.name()+"="+p.arg)
		} else {
			out = append(out, p.def.name())
		}
	}
	return out
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
			opts, operands, err := getopt(strings.Split(tt.args, "|"), testDefs)
			if got := render(opts); !reflect.DeepEqual(got, append([]string{}, tt.opts...)) {
				t.Errorf("options = %q, want %q", got, tt.opts)
			}
			if !reflect.DeepEqual(operands, tt.operands) {
				t.Errorf("operands = %q, want %q", operands, tt.operands)
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.err {
				t.Errorf("error = %q, want %q", got, tt.err)
			}
		})
	}
}

// FuzzGetopt checks that any argument vector parses without panicking
// and that what it parses survives a round trip through its canonical
// spelling ("-x", "value", "--name=value").
func FuzzGetopt(f *testing.F) {
	for _, s := range []string{
		"-i\x00tun0\x00-c\x00/bin/true\x00-t3600",
		"-ad\x00-f\x00! host 1.2.3.4",
		"--cmd-timeout=30\x00--\x00-x",
		"--ring\x00-",
		"-t",
		"--stop-on-exit=\x00--h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		opts, operands, err := getopt(args, testDefs)
		if err != nil {
			if !strings.Contains(err.Error(), "option") {
				t.Fatalf("error %q does not read like getopt's", err)
			}
			return
		}
		var canon []string
		for _, p := range opts {
			if p.def.short != 0 {
				canon = append(canon, "-"+string(p.def.short))
				if p.def.hasArg {
					canon = append(canon, p.arg)
				}
			} else if p.def.hasArg {
				canon = append(canon, "--"+p.def.long+"="+p.arg)
			} else {
				canon = append(canon, "--"+p.def.long)
			}
		}
		canon = append(append(canon, "--"), operands...)
		opts2, operands2, err := getopt(canon, testDefs)
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
	})
}

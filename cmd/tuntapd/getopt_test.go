package main

import (
	"reflect"
	"testing"
)

func TestGetopt(t *testing.T) {
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
	}
	for _, tt := range tests {
		opts, operands, err := getopt(tt.args, optString)
		if !reflect.DeepEqual(opts, tt.opts) || !reflect.DeepEqual(operands, tt.operands) {
			t.Errorf("getopt(%q) = %v, %q; want %v, %q", tt.args, opts, operands, tt.opts, tt.operands)
		}
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.err {
			t.Errorf("getopt(%q) error %q, want %q", tt.args, got, tt.err)
		}
	}
}

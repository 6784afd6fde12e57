package dnsq

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestNewRulesErrors(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		names, nevers []string
		option, value string
		reason        string // substring of the reason
	}{
		{names: []string{""}, option: "--dns-name", value: "", reason: "empty suffix"},
		{names: []string{"a.example,"}, option: "--dns-name", value: "", reason: "empty suffix"},
		{names: []string{"."}, option: "--dns-name", value: ".", reason: "root"},
		{names: []string{".corp.example"}, option: "--dns-name", value: ".corp.example", reason: `write "corp.example"`},
		{names: []string{"*.corp.example"}, option: "--dns-name", value: "*.corp.example", reason: `"corp.example" matches`},
		{names: []string{"a*.corp.example"}, option: "--dns-name", value: "a*.corp.example", reason: "wildcard"},
		{names: []string{"corp..example"}, option: "--dns-name", value: "corp..example", reason: "empty label"},
		{names: []string{"corp.example.."}, option: "--dns-name", value: "corp.example..", reason: "empty label"},
		{names: []string{long + ".example"}, option: "--dns-name", value: long + ".example", reason: "64 octets long, more than 63"},
		{names: []string{strings.Repeat("abc.", 63) + "example"}, option: "--dns-name", reason: "259 octets long, more than 253"},
		{names: []string{"-corp.example"}, option: "--dns-name", value: "-corp.example", reason: "hyphen"},
		{names: []string{"corp-.example"}, option: "--dns-name", value: "corp-.example", reason: "hyphen"},
		{names: []string{"bücher.example"}, option: "--dns-name", value: "bücher.example", reason: "A-labels (xn--"},
		{names: []string{"corp example"}, option: "--dns-name", value: "corp example", reason: `' ' not allowed`},
		{names: []string{"corp/example"}, option: "--dns-name", value: "corp/example", reason: `'/' not allowed`},
		{names: []string{"10.0.0.1"}, option: "--dns-name", value: "10.0.0.1", reason: "all digits"},
		{names: []string{"ok.example"}, nevers: []string{"x..y"}, option: "--dns-never", value: "x..y", reason: "empty label"},
		{nevers: []string{"www.corp.example"}, option: "--dns-never", value: "www.corp.example", reason: "no effect without --dns-name"},
		{names: []string{"corp.example"}, nevers: []string{"CORP.example."}, option: "--dns-never", value: "CORP.example.", reason: "also given to --dns-name"},
		{names: []string{"corp.example", "a.example,corp.example"}, nevers: []string{"x.example,corp.example"}, option: "--dns-never", value: "corp.example", reason: "also given to --dns-name"},
	}
	for _, tt := range tests {
		_, err := NewRules(tt.names, tt.nevers)
		var se *SuffixError
		if !errors.As(err, &se) {
			t.Errorf("NewRules(%q, %q) = %v, want a *SuffixError", tt.names, tt.nevers, err)
			continue
		}
		if se.Option != tt.option || tt.value != "" && se.Suffix != tt.value || !strings.Contains(se.Reason, tt.reason) {
			t.Errorf("NewRules(%q, %q) = %q, want option %s, value %q, reason containing %q",
				tt.names, tt.nevers, err, tt.option, tt.value, tt.reason)
		}
		if !strings.HasPrefix(err.Error(), se.Option+" ") {
			t.Errorf("error %q does not start with the option", err)
		}
	}
}

func TestNewRulesAccepts(t *testing.T) {
	r, err := NewRules(
		[]string{"Corp.Example.", " a.example , b.example", "corp.example", "_tcp.srv.example,xn--bcher-kva.example", strings.Repeat("a", 63) + ".example"},
		[]string{"www.corp.example", "9.example"})
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"corp.example", "a.example", "b.example", "_tcp.srv.example", "xn--bcher-kva.example", strings.Repeat("a", 63) + ".example"}
	if got := r.Names(); !reflect.DeepEqual(got, wantNames) {
		t.Errorf("Names() = %q, want %q", got, wantNames)
	}
	if got, want := r.Nevers(), []string{"www.corp.example", "9.example"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Nevers() = %q, want %q", got, want)
	}
	if r.Empty() {
		t.Error("Empty() with rules")
	}
	// 253 octets is the longest name.
	if _, err := NewRules([]string{strings.Repeat("abc.", 62) + "examp"}, nil); err != nil {
		t.Errorf("253-octet suffix: %v", err)
	}
}

func TestEmpty(t *testing.T) {
	var nilRules *Rules
	none, err := NewRules(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Rules{nilRules, none} {
		if !r.Empty() {
			t.Errorf("%v: Empty() = false", r)
		}
		if _, res := r.Match("corp.example"); res == Matched {
			t.Errorf("%v matches", r)
		}
	}
}

func TestMatch(t *testing.T) {
	r, err := NewRules(
		[]string{"corp.example", "deep.www.corp.example", "_ldap._tcp.dc.example", "xn--bcher-kva.example", "lab"},
		[]string{"www.corp.example", "dc.example", "vpn.lab"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		suffix string
		res    Result
	}{
		{"corp.example", "corp.example", Matched},
		{"git.corp.example", "corp.example", Matched},
		{"GIT.Corp.EXAMPLE", "corp.example", Matched},
		{"git.corp.example.", "corp.example", Matched},
		{"a.b.c.corp.example", "corp.example", Matched},
		{"notcorp.example", "", Unlisted},
		{"corp.example.org", "", Unlisted},
		{"orp.example", "", Unlisted},
		{"example", "", Unlisted},
		{"", "", Unlisted},
		{"www.corp.example", "www.corp.example", Excluded},
		{"a.www.corp.example", "www.corp.example", Excluded},
		{"wwwx.corp.example", "corp.example", Matched},
		{"deep.www.corp.example", "deep.www.corp.example", Matched},
		{"x.deep.www.corp.example", "deep.www.corp.example", Matched},
		{"_ldap._tcp.dc.example", "_ldap._tcp.dc.example", Matched},
		{"_kerberos._tcp.dc.example", "dc.example", Excluded},
		{"www.xn--bcher-kva.example", "xn--bcher-kva.example", Matched},
		{"lab", "lab", Matched},
		{"printer.lab", "lab", Matched},
		{"vpn.lab", "vpn.lab", Excluded},
		{"git.corp.example..", "", BadName},
		{"git..corp.example", "", BadName},
		{".corp.example", "", BadName},
		{"a b.corp.example", "", BadName},
		{"*.corp.example", "", BadName},
		{"bücher.corp.example", "", BadName},
		{strings.Repeat("a.", 127) + "corp.example", "", BadName},
	}
	for _, tt := range tests {
		suffix, res := r.Match(tt.name)
		if suffix != tt.suffix || res != tt.res {
			t.Errorf("Match(%q) = %q, %v; want %q, %v", tt.name, suffix, res, tt.suffix, tt.res)
		}
	}
}

// FuzzMatch checks the suffix lookup against the plain definition: the
// longest rule that equals the name or ends it after a dot decides.
// Its seed corpus is in testdata/fuzz/FuzzMatch.
func FuzzMatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, name, names, nevers string) {
		r, err := NewRules([]string{names}, []string{nevers})
		if err != nil {
			return
		}
		suffix, res := r.Match(name)
		lower := strings.TrimSuffix(strings.ToLower(name), ".")
		if res == BadName {
			if _, ok := formatName(make([]byte, len(lower)), lower); ok && len(lower) <= maxName {
				t.Fatalf("Match(%q) = BadName for a usable name", name)
			}
			return
		}
		var wantSuffix string
		wantRes := Unlisted
		for _, list := range []struct {
			values []string
			res    Result
		}{{r.Names(), Matched}, {r.Nevers(), Excluded}} {
			for _, s := range list.values {
				if (lower == s || strings.HasSuffix(lower, "."+s)) && len(s) > len(wantSuffix) {
					wantSuffix, wantRes = s, list.res
				}
			}
		}
		if suffix != wantSuffix || res != wantRes {
			t.Fatalf("Match(%q) with names %q, nevers %q = %q, %v; want %q, %v",
				name, r.Names(), r.Nevers(), suffix, res, wantSuffix, wantRes)
		}
	})
}

package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tuninetd/tuninetd/cmd/internal/getopt"
)

func TestParse(t *testing.T) {
	text := `# a comment
interface = wg0
  filter =  tcp port 22 and not host 10.0.0.1  
command=/usr/bin/vpn "a # b"

	# indented comment
empty =
`
	f, err := Parse("t.conf", strings.NewReader(text), Syntax{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{"interface", "wg0", Pos{"t.conf", 2}},
		{"filter", "tcp port 22 and not host 10.0.0.1", Pos{"t.conf", 3}},
		{"command", `/usr/bin/vpn "a # b"`, Pos{"t.conf", 4}},
		{"empty", "", Pos{"t.conf", 7}},
	}
	if !reflect.DeepEqual(f.Entries, want) {
		t.Errorf("entries:\n got %+v\nwant %+v", f.Entries, want)
	}
}

func TestParseBlocks(t *testing.T) {
	text := `<SSH>
 sequence      = udp:1234 tcp:543:i    # the knock
 timeout       = 10 # seconds
 start_command = /bin/echo %IP%#not-a-comment
</SSH>
top = 1
<VPN-2.x>
</VPN-2.x>
`
	f, err := Parse("k.conf", strings.NewReader(text), Syntax{Blocks: true, TrailingComments: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Blocks) != 2 || f.Blocks[0].Name != "SSH" || f.Blocks[1].Name != "VPN-2.x" || f.Blocks[1].Pos.Line != 7 {
		t.Fatalf("blocks: %+v", f.Blocks)
	}
	want := []Entry{
		{"sequence", "udp:1234 tcp:543:i", Pos{"k.conf", 2}},
		{"timeout", "10", Pos{"k.conf", 3}},
		{"start_command", "/bin/echo %IP%#not-a-comment", Pos{"k.conf", 4}},
	}
	if !reflect.DeepEqual(f.Blocks[0].Entries, want) {
		t.Errorf("block entries:\n got %+v\nwant %+v", f.Blocks[0].Entries, want)
	}
	if len(f.Entries) != 1 || f.Entries[0].Name != "top" || f.Entries[0].Pos.Line != 6 {
		t.Errorf("top entries: %+v", f.Entries)
	}
}

func TestParseErrors(t *testing.T) {
	blocks := Syntax{Blocks: true}
	for _, tc := range []struct {
		text string
		syn  Syntax
		want string
	}{
		{"a = 1\njunk\n", Syntax{}, `f:2: want name = value, found "junk"`},
		{" = 1\n", Syntax{}, `f:1: bad name "": want name = value`},
		{"two words = 1\n", Syntax{}, `f:1: bad name "two words": want name = value`},
		{"<SSH>\n", Syntax{}, `f:1: unexpected "<SSH>": this file has no <NAME> blocks`},
		{"<SSH>\na = 1\n", blocks, `f:1: block <SSH> is not closed (no </SSH>)`},
		{"</SSH>\n", blocks, `f:1: </SSH> closes no open block`},
		{"<A>\n</B>\n", blocks, `f:2: </B> does not close <A> (opened at line 1)`},
		{"<A>\n<B>\n", blocks, `f:2: <B> opens inside <A> (opened at line 1): blocks do not nest`},
		{"<A>\n</A>\n\n<A>\n</A>\n", blocks, `f:4: duplicate block <A> (first at line 1)`},
		{"<A\n", blocks, `f:1: malformed tag "<A": want <NAME> or </NAME>`},
		{"<a b>\n", blocks, `f:1: malformed tag "<a b>": a block name is letters, digits, '_', '-' or '.'`},
		{"<>\n", blocks, `f:1: malformed tag "<>": a block name is letters, digits, '_', '-' or '.'`},
		{"a = " + strings.Repeat("x", maxLine) + "\n", Syntax{}, "f:1: line longer than 65536 bytes"},
	} {
		_, err := Parse("f", strings.NewReader(tc.text), tc.syn)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q):\n got %v\nwant %s", tc.text, err, tc.want)
		}
	}
}

var table = []getopt.Option{
	{Short: 'i', Long: "interface", HasArg: true},
	{Short: 't', Long: "ttl", HasArg: true},
	{Short: 'd', Long: "daemon"},
	{Short: 'a', Long: "ack-only"},
	{Short: 'h', Long: "help"},
	{Long: "dns-name", HasArg: true},
}

func TestSettings(t *testing.T) {
	text := "interface = wg0\nttl = 60\ndaemon = no\nack-only = YES\ndns-name = a.example\ndns-name = b.example\n"
	f, err := Parse("s.conf", strings.NewReader(text), Syntax{})
	if err != nil {
		t.Fatal(err)
	}
	rep := func(o *getopt.Option) bool { return o.Long == "dns-name" }
	got, err := f.Settings(table, []string{"help"}, rep)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Opt.Name()+"="+s.Arg+"@"+s.Pos.String())
	}
	want := []string{"-i=wg0@s.conf:1", "-t=60@s.conf:2", "-a=@s.conf:4", "--dns-name=a.example@s.conf:5", "--dns-name=b.example@s.conf:6"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("settings:\n got %v\nwant %v", names, want)
	}
}

func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"ttl = 1\nttl = 2\n", `s:2: ttl given twice (first at line 1)`},
		{"colour = red\n", `s:1: unknown option "colour"`},
		{"inter = wg0\n", `s:1: unknown option "inter"`},
		{"help = yes\n", `s:1: unknown option "help"`},
		{"daemon = maybe\n", `s:1: daemon: invalid value "maybe": want yes or no`},
		{"interface =\n", `s:1: interface needs a value`},
		{"dns-name = a\ndns-name = b\n", `s:2: dns-name given twice (first at line 1)`},
	} {
		f, err := Parse("s", strings.NewReader(tc.text), Syntax{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Settings(table, []string{"help"}, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Settings(%q):\n got %v\nwant %s", tc.text, err, tc.want)
		}
	}
	f, _ := Parse("b", strings.NewReader("<X>\n</X>\n"), Syntax{Blocks: true})
	if _, err := f.Settings(table, nil, nil); err == nil || err.Error() != "b:1: unexpected block <X>" {
		t.Errorf("blocks in Settings: %v", err)
	}
}

func TestReadRefusesWritableFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the check applies when running as root")
	}
	p := filepath.Join(t.TempDir(), "t.conf")
	if err := os.WriteFile(p, []byte("ttl = 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(p, Syntax{}); err != nil {
		t.Fatalf("root-owned 0644: %v", err)
	}
	os.Chmod(p, 0o646)
	_, err := Read(p, Syntax{})
	if err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("0646: %v", err)
	}
	os.Chmod(p, 0o664)
	os.Chown(p, 0, 12345)
	_, err = Read(p, Syntax{})
	if err == nil || !strings.Contains(err.Error(), "writable by group 12345") {
		t.Errorf("0664 group 12345: %v", err)
	}
	os.Chmod(p, 0o644)
	os.Chown(p, 12345, 0)
	_, err = Read(p, Syntax{})
	if err == nil || !strings.Contains(err.Error(), "writable by user 12345") {
		t.Errorf("owned by 12345: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("a = 1\n<B>\nc = d # e\n</B>\n")
	f.Add("<A>\n<A>\n")
	f.Fuzz(func(t *testing.T, text string) {
		for _, syn := range []Syntax{{}, {Blocks: true, TrailingComments: true}} {
			file, err := Parse("f", strings.NewReader(text), syn)
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error without a position: %v", err)
				}
				continue
			}
			for _, e := range append(file.Entries, flatten(file.Blocks)...) {
				if e.Name == "" || strings.TrimSpace(e.Value) != e.Value || e.Pos.Line < 1 {
					t.Fatalf("bad entry %+v", e)
				}
			}
		}
	})
}

func flatten(bs []Block) []Entry {
	var out []Entry
	for _, b := range bs {
		out = append(out, b.Entries...)
	}
	return out
}

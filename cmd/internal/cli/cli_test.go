package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tuninetd/tuninetd/cmd/internal/getopt"
)

var testTable = Table{
	{Option: getopt.Option{Short: 'i', Long: "interface", HasArg: true}, Arg: "IFNAME", Help: "interface"},
	{Option: getopt.Option{Short: 'a', Long: "ack-only"}, Help: "a flag"},
	{Option: getopt.Option{Short: 'h', Long: "help"}, CommandLineOnly: true, Help: "print this help"},
	{Option: getopt.Option{Long: "ring-block-size", HasArg: true}, Arg: "BYTES",
		Help: "a long help text that has to be wrapped because it does not fit on one line of a terminal at all"},
	{Option: getopt.Option{Short: 'x', HasArg: true}, Help: "short only: not in the long section"},
	{Option: getopt.Option{Long: "config", HasArg: true}, Arg: "FILE", CommandLineOnly: true, Help: "config"},
	{Option: getopt.Option{Long: "name", HasArg: true}, Arg: "NAME", Repeatable: true, Help: "repeatable"},
}

func TestHelp(t *testing.T) {
	want := "" +
		"  -i, --interface=IFNAME    interface\n" +
		"  -a, --ack-only            a flag\n" +
		"  -h, --help                print this help\n" +
		"      --ring-block-size=BYTES\n" +
		"                            a long help text that has to be wrapped because it\n" +
		"                            does not fit on one line of a terminal at all\n" +
		"      --config=FILE         config\n" +
		"      --name=NAME           repeatable\n"
	if got := testTable.Help(); got != want {
		t.Errorf("Help:\n%s\nwant:\n%s", got, want)
	}
	for _, l := range strings.Split(testTable.Help(), "\n") {
		if len(l) > helpWidth {
			t.Errorf("line longer than %d: %q", helpWidth, l)
		}
	}
}

func TestConfigKeys(t *testing.T) {
	if got, want := testTable.ConfigKeys(), []string{"interface", "ack-only", "ring-block-size", "name"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ConfigKeys %q, want %q", got, want)
	}
}

// write makes a config file only its owner can change.
func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// args renders Args as "name=arg@line" (line 0 for the command line).
func args(cl *CommandLine) []string {
	var s []string
	for _, a := range cl.Args {
		s = append(s, a.Name()+"="+a.Arg+"@"+strings.TrimPrefix(a.Pos.String(), a.Pos.File+":"))
	}
	return s
}

func TestParseConfig(t *testing.T) {
	conf := write(t, "# comment\ninterface = wg0\nack-only = yes\n\nring-block-size = 8192\n")
	cl, err := Parse([]string{"-i", "tun0", "--config", conf, "op"}, testTable)
	if err != nil || cl.Err != nil {
		t.Fatal(err, cl.Err)
	}
	// The file's settings first (named as in the file), then the command line.
	want := []string{"interface=wg0@2", "ack-only=@3", "ring-block-size=8192@5", "-i=tun0@0", "--config=" + conf + "@0"}
	if got := args(cl); !reflect.DeepEqual(got, want) {
		t.Errorf("Args %q\nwant %q", got, want)
	}
	if !reflect.DeepEqual(cl.Operands, []string{"op"}) {
		t.Errorf("Operands %q", cl.Operands)
	}
	if got := cl.Args[0].Place("bad"); got != conf+":2: bad" {
		t.Errorf("Place = %q", got)
	}
	if got := cl.Args[3].Place("bad"); got != "bad" {
		t.Errorf("command-line Place = %q", got)
	}

	// A repeatable option may come more than once, in file order.
	rep := write(t, "name = a\nname = b\n")
	cl, err = Parse([]string{"--config", rep, "--name", "c"}, testTable)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := args(cl), []string{"name=a@1", "name=b@2", "--config=" + rep + "@0", "--name=c@0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("repeated: Args %q\nwant %q", got, want)
	}

	// "no" leaves a flag out; the last --config counts.
	other := write(t, "ack-only = no\n")
	cl, err = Parse([]string{"--config=" + conf, "--config", other}, testTable)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(cl.Args), 2; got != want {
		t.Errorf("Args %q, want only the two --config", args(cl))
	}

	// A getopt error comes after the options before it, file included.
	cl, err = Parse([]string{"--config", other, "-y"}, testTable)
	if err != nil || cl.Err == nil || cl.Err.Error() != "invalid option -- 'y'" {
		t.Errorf("err %v, getopt %v", err, cl.Err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"interface = a\ninterface = b\n", ":2: interface given twice (first at line 1)"},
		{"frobnicate = 1\n", ":1: unknown option \"frobnicate\""},
		{"help = yes\n", ":1: unknown option \"help\""},
		{"config = /etc/x\n", ":1: unknown option \"config\""},
		{"x = 1\n", ":1: unknown option \"x\""}, // short-only options have no file name
		{"inter = wg0\n", ":1: unknown option \"inter\""},
		{"ack-only = maybe\n", ":1: ack-only: invalid value \"maybe\": want yes or no"},
		{"interface =\n", ":1: interface needs a value"},
		{"interface wg0\n", ":1: want name = value"},
	}
	for _, tt := range tests {
		conf := write(t, tt.text)
		_, err := Parse([]string{"--config", conf}, testTable)
		if err == nil || !strings.HasPrefix(err.Error(), conf+tt.want) {
			t.Errorf("%q: error %v, want %s%s...", tt.text, err, conf, tt.want)
		}
	}
	if _, err := Parse([]string{"--config", "/nonexistent/x.conf"}, testTable); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	if os.Geteuid() == 0 {
		conf := write(t, "interface = wg0\n")
		if err := os.Chmod(conf, 0o666); err != nil {
			t.Fatal(err)
		}
		if _, err := Parse([]string{"--config", conf}, testTable); err == nil || !strings.Contains(err.Error(), "writable by others") {
			t.Errorf("world-writable file as root: %v", err)
		}
	}
}

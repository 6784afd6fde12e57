// Package packaging holds the tests of what ships around the binary: the
// OpenWrt package's init script, the Debian package and systemd units,
// `make install`, and the manual pages. They treat the built binary as a
// black box: its -h text is the list of options every one of those must
// cover.
package packaging

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

// root is the repository's top directory (tests run in packaging/).
const root = ".."

var built struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range []string{built.dir, debs.dir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

// goTool returns the go command of the toolchain running the tests, so a
// root shell without Go on PATH still builds with the same one.
func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// makeValue returns what a variable of the Makefile expands to.
func makeValue(t *testing.T, name string) string {
	t.Helper()
	requireTool(t, "make", "make")
	cmd := exec.Command("make", "--no-print-directory", "-s", "-f", "Makefile", "-f", "-", "print-value")
	cmd.Dir = root
	cmd.Stdin = strings.NewReader("print-value:\n\t@echo '$(" + name + ")'\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make: value of %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// linkNames are the names the tuninetd binary answers to besides its own,
// which `make install` and the packages create as links.
func linkNames(t *testing.T) []string {
	t.Helper()
	names := strings.Fields(makeValue(t, "DAEMON_LINKS"))
	if len(names) == 0 {
		t.Fatal("Makefile: DAEMON_LINKS is empty")
	}
	return names
}

// binDir returns a directory holding a freshly built tuninetd and bpfc and
// a symbolic link to tuninetd for each of linkNames, built like `make`.
func binDir(t *testing.T) string {
	t.Helper()
	links := linkNames(t)
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "tuninetd-packaging-")
		if built.err != nil {
			return
		}
		for _, c := range []string{"tuninetd", "bpfc"} {
			cmd := exec.Command(goTool(), "build", "-buildvcs=false", "-trimpath", "-o", filepath.Join(built.dir, c), "./cmd/"+c)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				built.err = fmt.Errorf("go build ./cmd/%s: %v\n%s", c, err, out)
				return
			}
		}
		for _, l := range links {
			if built.err = os.Symlink("tuninetd", filepath.Join(built.dir, l)); built.err != nil {
				return
			}
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir
}

// run runs a program and returns its combined output and exit code; it
// fails the test when the program cannot be started at all.
func run(t *testing.T, dir, prog string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
	return string(out), 0
}

// helpText runs prog -h and returns what it printed (to either stream:
// the daemons print the usage to stderr, bpfc to stdout).
func helpText(t *testing.T, prog string) string {
	t.Helper()
	out, _ := run(t, "", prog, "-h")
	if strings.TrimSpace(out) == "" {
		t.Fatalf("%s -h printed nothing", prog)
	}
	return out
}

// optionToken is an option name in a help text: one or two dashes and a
// letter, at the start of a line or after a blank or an opening bracket,
// so "pcap-savefile" and "start-up" are not options.
var optionToken = regexp.MustCompile(`(?m)(?:^|[\s\[(|,;"'])(--?[A-Za-z][A-Za-z0-9-]*)`)

// notOptions are words of the help texts that look like options and are
// not: the placeholder of "--name=VALUE or --name VALUE".
var notOptions = map[string]bool{"--name": true}

// helpOptions returns every option name the help text mentions, sorted.
func helpOptions(help string) []string {
	seen := map[string]bool{}
	for _, m := range optionToken.FindAllStringSubmatch(help, -1) {
		if !notOptions[m[1]] {
			seen[m[1]] = true
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// longOptions returns the long names (without dashes) among opts.
func longOptions(opts []string) []string {
	var long []string
	for _, o := range opts {
		if strings.HasPrefix(o, "--") {
			long = append(long, strings.TrimPrefix(o, "--"))
		}
	}
	return long
}

// takesValue asks the binary whether --name needs a value: given alone it
// then fails with getopt's "requires an argument" message. Options never
// act before the command line is checked, so the probe does nothing else.
func takesValue(t *testing.T, prog, name string) bool {
	t.Helper()
	out, _ := run(t, "", prog, "--"+name)
	return strings.Contains(out, "option '--"+name+"' requires an argument")
}

// readFile returns a repository file's text.
func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// requireTool returns the path of a program the test needs, skipping when
// it is missing, or failing when CI=true (CI installs it).
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	return sensortest.RequireTool(t, name, pkg)
}

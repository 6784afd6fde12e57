package packaging

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// debArchs are the packages `make deb` builds and the ELF machine and
// qemu-user runner of each.
var debArchs = []debArch{
	{"amd64", elf.EM_X86_64, ""},
	{"arm64", elf.EM_AARCH64, "qemu-aarch64-static"},
	{"armhf", elf.EM_ARM, "qemu-arm-static"},
}

type debArch struct {
	arch    string
	machine elf.Machine
	qemu    string // "" = runs natively on amd64
}

var debs struct {
	once    sync.Once
	dir     string
	version string
	err     error
	skip    string
}

// makeVar reads a `NAME := value` line of the Makefile.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `\s*:?=\s*(\S+)\s*$`).FindStringSubmatch(readFile(t, "Makefile"))
	if m == nil {
		t.Fatalf("Makefile sets no %s", name)
	}
	return m[1]
}

// binaryVersion is the version `make` builds by default.
func binaryVersion(t *testing.T) string {
	t.Helper()
	v := makeValue(t, "VERSION")
	if v == "" {
		t.Fatal("Makefile: VERSION is empty")
	}
	return v
}

// debDir runs `make deb` once into a temporary directory and returns it.
// nfpm is built first, at the Makefile's pinned version, so that a
// machine that cannot fetch it skips (outside CI) instead of failing.
func debDir(t *testing.T) string {
	t.Helper()
	requireTool(t, "make", "make")
	nfpmVersion := makeVar(t, "NFPM_VERSION")
	debs.once.Do(func() {
		debs.version = binaryVersion(t)
		if debs.dir, debs.err = os.MkdirTemp("", "tuninetd-deb-"); debs.err != nil {
			return
		}
		tools := filepath.Join(debs.dir, "tools")
		install := exec.Command(goTool(), "install", "github.com/goreleaser/nfpm/v2/cmd/nfpm@"+nfpmVersion)
		install.Env = append(os.Environ(), "GOBIN="+tools, "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := install.CombinedOutput(); err != nil {
			debs.skip = "cannot build nfpm " + nfpmVersion + ": " + err.Error() + "\n" + string(out)
			return
		}
		mk := exec.Command("make", "--no-print-directory", "deb", "DEBDIR="+debs.dir,
			"NFPM="+filepath.Join(tools, "nfpm"), "GO="+goTool())
		mk.Dir = root
		if out, err := mk.CombinedOutput(); err != nil {
			debs.err = fmt.Errorf("make deb: %v\n%s", err, out)
		}
	})
	if debs.skip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true)", debs.skip)
		}
		t.Skip(debs.skip)
	}
	if debs.err != nil {
		t.Fatal(debs.err)
	}
	return debs.dir
}

func debPath(dir, version, arch string) string {
	return filepath.Join(dir, "tuninetd_"+version+"_"+arch+".deb")
}

// eachDeb builds the packages (once) and runs fn on each as a subtest.
func eachDeb(t *testing.T, fn func(t *testing.T, a debArch, deb string)) {
	t.Helper()
	requireTool(t, "dpkg-deb", "dpkg")
	dir := debDir(t)
	for _, a := range debArchs {
		t.Run(a.arch, func(t *testing.T) { fn(t, a, debPath(dir, debs.version, a.arch)) })
	}
}

// debContents is the file list every package must have, exactly: path,
// then mode and link target as dpkg-deb --contents prints them.
func debContents(t *testing.T) map[string]string {
	c := map[string]string{
		"./etc/tuninetd/":                               "drwxr-xr-x",
		"./etc/tuninetd/example.conf":                   "-rw-r--r--",
		"./usr/lib/systemd/system/tuninetd@.service":    "-rw-r--r--",
		"./usr/lib/systemd/system/tuntapd@.service":     "-rw-r--r--",
		"./usr/lib/systemd/system/tportknockd@.service": "-rw-r--r--",
		"./usr/share/doc/tuninetd/tportknockd.conf":     "-rw-r--r--",
		"./usr/share/man/man8/tportknockd.8.gz":         "-rw-r--r--",
		"./usr/sbin/tuninetd":                           "-rwxr-xr-x",
		"./usr/share/doc/tuninetd/changelog.gz":         "-rw-r--r--",
		"./usr/share/doc/tuninetd/copyright":            "-rw-r--r--",
		"./usr/share/man/man8/tuninetd.8.gz":            "-rw-r--r--",
		"./usr/share/man/man8/tuntapd.8.gz":             "-rw-r--r--",
	}
	for _, l := range linkNames(t) {
		c["./usr/sbin/"+l] = "lrwxr-xr-x -> tuninetd"
	}
	return c
}

func TestDebControl(t *testing.T) {
	eachDeb(t, func(t *testing.T, a debArch, deb string) {
		want := map[string]string{"Package": "tuninetd", "Version": debs.version, "Architecture": a.arch, "Section": "net"}
		for field, w := range want {
			out, code := run(t, "", "dpkg-deb", "--field", deb, field)
			if code != 0 || strings.TrimSpace(out) != w {
				t.Errorf("%s: %s = %q (exit %d), want %q", deb, field, strings.TrimSpace(out), code, w)
			}
		}
		info, code := run(t, "", "dpkg-deb", "--info", deb)
		if code != 0 {
			t.Fatalf("dpkg-deb --info %s: exit %d\n%s", deb, code, info)
		}
		for _, w := range []string{"Maintainer: ", "Description: run a command when traffic starts", "conffiles", "postinst"} {
			if !strings.Contains(info, w) {
				t.Errorf("dpkg-deb --info: no %q in\n%s", w, info)
			}
		}
		conf, _ := run(t, "", "dpkg-deb", "--info", deb, "conffiles")
		if strings.TrimSpace(conf) != "/etc/tuninetd/example.conf" {
			t.Errorf("conffiles = %q, want /etc/tuninetd/example.conf", conf)
		}
	})
}

func TestDebContents(t *testing.T) {
	eachDeb(t, func(t *testing.T, a debArch, deb string) {
		out, code := run(t, "", "dpkg-deb", "--contents", deb)
		if code != 0 {
			t.Fatalf("dpkg-deb --contents: exit %d\n%s", code, out)
		}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			// drwxr-xr-x root/root 0 2026-12-01 19:26 ./etc/ [-> target]
			f := strings.Fields(line)
			if len(f) < 6 {
				t.Fatalf("unexpected line %q", line)
			}
			if f[1] != "root/root" {
				t.Errorf("%s owned by %s", f[5], f[1])
			}
			if strings.HasSuffix(f[5], "/") && f[5] != "./etc/tuninetd/" {
				continue // parent directories
			}
			got[f[5]] = strings.Join(append([]string{f[0]}, f[6:]...), " ")
		}
		want := debContents(t)
		for p, w := range want {
			if got[p] != w {
				t.Errorf("%s: %q, want %q", p, got[p], w)
			}
		}
		for p := range got {
			if _, ok := want[p]; !ok {
				t.Errorf("unexpected file %s", p)
			}
		}
	})
}

// extract unpacks a package into a fresh directory.
func extract(t *testing.T, deb string) string {
	t.Helper()
	dest := t.TempDir()
	if out, code := run(t, "", "dpkg-deb", "-x", deb, dest); code != 0 {
		t.Fatalf("dpkg-deb -x %s: exit %d\n%s", deb, code, out)
	}
	return dest
}

// The extracted binary is a static executable for the package's
// architecture and answers to each of its names with -v and -h; the
// documents in it are the repository's.
func TestDebExtractedRuns(t *testing.T) {
	eachDeb(t, func(t *testing.T, a debArch, deb string) {
		x := extract(t, deb)
		bin := filepath.Join(x, "usr/sbin/tuninetd")
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		if f.Machine != a.machine {
			t.Errorf("%s is for %v, want %v", bin, f.Machine, a.machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", bin)
			}
		}
		f.Close()

		var runner []string
		if a.qemu != "" {
			q, err := exec.LookPath(a.qemu)
			if err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s missing (CI=true): apt-get install qemu-user-static", a.qemu)
				}
				t.Skipf("%s not installed: cannot run the %s binary", a.qemu, a.arch)
			}
			runner = []string{q}
		}
		for _, name := range append([]string{"tuninetd"}, linkNames(t)...) {
			prog := filepath.Join(x, "usr/sbin", name)
			argv := func(arg string) (string, int) {
				return run(t, "", append(runner, prog)[0], append(append(runner, prog)[1:], arg)...)
			}
			out, code := argv("-v")
			if code != 0 || out != name+" "+debs.version+"\n" {
				t.Errorf("%s -v: exit %d, %q; want exit 0, %q", name, code, out, name+" "+debs.version+"\n")
			}
			out, code = argv("-h")
			if code != 1 || !strings.HasPrefix(out, name+" "+debs.version+"\n") || !strings.Contains(out, "Usage:") {
				first, _, _ := strings.Cut(out, "\n")
				t.Errorf("%s -h: exit %d, first line %q; want exit 1 and %s's usage", name, code, first, name)
			}
		}
		for src, dst := range map[string]string{
			"man/tuninetd.8":    "usr/share/man/man8/tuninetd.8.gz",
			"man/tuntapd.8":     "usr/share/man/man8/tuntapd.8.gz",
			"man/tportknockd.8": "usr/share/man/man8/tportknockd.8.gz",
			"CHANGELOG.md":      "usr/share/doc/tuninetd/changelog.gz",
		} {
			if got := gunzip(t, filepath.Join(x, dst)); got != readFile(t, src) {
				t.Errorf("%s differs from %s", dst, src)
			}
		}
		if got, err := os.ReadFile(filepath.Join(x, "usr/share/doc/tuninetd/tportknockd.conf")); err != nil || string(got) != readFile(t, "examples/tportknockd.conf") {
			t.Errorf("usr/share/doc/tuninetd/tportknockd.conf differs from examples/tportknockd.conf (%v)", err)
		}
		copyright, err := os.ReadFile(filepath.Join(x, "usr/share/doc/tuninetd/copyright"))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/", "License: MIT", " Copyright (c) 2018 root4root"} {
			if !bytes.Contains(copyright, []byte(w)) {
				t.Errorf("copyright lacks %q", w)
			}
		}
	})
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(b)
}

// systemd-analyze verify passes on the extracted units, with no warning:
// run against the package's root (so ExecStart and the man pages named in
// Documentation= are the package's), with the host's targets copied in for
// the dependencies every unit has.
func TestDebUnitsVerify(t *testing.T) {
	requireTool(t, "dpkg-deb", "dpkg")
	sa := requireTool(t, "systemd-analyze", "systemd")
	requireTool(t, "man", "man-db")
	x := extract(t, debPath(debDir(t), debs.version, "amd64"))
	units := filepath.Join(x, "usr/lib/systemd/system")
	var hostTargets []string
	for _, d := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if m, _ := filepath.Glob(filepath.Join(d, "*.target")); len(m) > 0 {
			hostTargets = m
			break
		}
	}
	if len(hostTargets) == 0 {
		t.Fatal("no systemd targets on this host to verify against")
	}
	for _, src := range hostTargets {
		b, err := os.ReadFile(src)
		if err != nil {
			continue // dangling alias
		}
		if err := os.WriteFile(filepath.Join(units, filepath.Base(src)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, unit := range []string{"tuninetd@example.service", "tuntapd@tun0.service", "tportknockd@eth0.service"} {
		cmd := exec.Command(sa, "verify", "--root="+x, unit)
		cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(x, "usr/share/man"), "SYSTEMD_LOG_LEVEL=notice")
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) != 0 {
			t.Errorf("systemd-analyze verify --root %s %s: %v\n%s", x, unit, err, out)
		}
	}
}

// unitSettings reads the settings of a repository unit file.
func unitSettings(t *testing.T, rel string) map[string][]string {
	t.Helper()
	return parseUnit(readFile(t, rel))
}

// parseUnit returns a unit file's settings, all sections together.
func parseUnit(text string) map[string][]string {
	s := map[string][]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			s[k] = append(s[k], v)
		}
	}
	return s
}

// The units run the daemons in the foreground, restart them however long
// boot takes, and never send SIGHUP (which means "stop now").
func TestUnitSettings(t *testing.T) {
	for _, u := range []struct{ file, exec, caps string }{
		{"packaging/systemd/tuninetd@.service", "/usr/sbin/tuninetd --config /etc/tuninetd/%i.conf", "CAP_NET_RAW CAP_NET_ADMIN"},
		{"packaging/systemd/tuntapd@.service", "/usr/sbin/tuntapd --interface %i", "CAP_NET_ADMIN"},
		{"packaging/systemd/tportknockd@.service", "/usr/sbin/tportknockd --config-file /etc/tuninetd/tportknockd.conf --interface %i --wait-iface", "CAP_NET_RAW CAP_NET_ADMIN"},
	} {
		s := unitSettings(t, u.file)
		want := map[string]string{
			"ExecStart":             u.exec,
			"Restart":               "on-failure",
			"RestartSec":            "10s",
			"StartLimitIntervalSec": "0",
			"CapabilityBoundingSet": u.caps,
			"NoNewPrivileges":       "yes",
			"Type":                  "exec",
		}
		if !strings.HasPrefix(filepath.Base(u.file), "tuntapd") {
			want["Wants"] = "network-online.target"
			want["After"] = "network-online.target"
		}
		for k, w := range want {
			if got := s[k]; len(got) != 1 || got[0] != w {
				t.Errorf("%s: %s=%q, want %q", u.file, k, got, w)
			}
		}
		for _, k := range []string{"ExecReload", "User", "KillSignal", "SendSIGHUP"} {
			if _, ok := s[k]; ok {
				t.Errorf("%s sets %s", u.file, k)
			}
		}
		for _, a := range strings.Fields(strings.Join(s["ExecStart"], " ")) {
			if a == "-d" || a == "--daemon" {
				t.Errorf("%s: ExecStart daemonizes (%s)", u.file, a)
			}
		}
	}
}

// Every setting the example configuration shows (set or commented out) is
// a long option of tuninetd -h.
func TestExampleConfigNames(t *testing.T) {
	long := map[string]bool{}
	for _, l := range longOptions(helpOptions(helpText(t, filepath.Join(binDir(t), "tuninetd")))) {
		long[l] = true
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^#?([a-z][a-z0-9-]*) = `).FindAllStringSubmatch(readFile(t, "packaging/example.conf"), -1) {
		names = append(names, m[1])
	}
	sort.Strings(names)
	if len(names) < 5 {
		t.Fatalf("packaging/example.conf shows only %v", names)
	}
	for _, n := range names {
		if !long[n] {
			t.Errorf("packaging/example.conf: %q is not a long option of tuninetd -h", n)
		}
	}
}

package packaging

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// make install with PREFIX and DESTDIR puts the package's files under
// DESTDIR, the units pointing at PREFIX, and uninstall removes them again.
func TestMakeInstall(t *testing.T) {
	requireTool(t, "make", "make")
	dest := t.TempDir()
	mk := func(target string) {
		t.Helper()
		cmd := exec.Command("make", "--no-print-directory", target, "DESTDIR="+dest, "PREFIX=/opt/tnd", "GO="+goTool())
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
	}
	mk("install")
	want := []string{
		"etc/tuninetd/example.conf",
		"opt/tnd/lib/systemd/system/tuninetd@.service",
		"opt/tnd/lib/systemd/system/tportknockd@.service",
		"opt/tnd/lib/systemd/system/tuntapd@.service",
		"opt/tnd/sbin/tuninetd",
		"opt/tnd/share/doc/tuninetd/CHANGELOG.md",
		"opt/tnd/share/doc/tuninetd/LICENSE",
		"opt/tnd/share/doc/tuninetd/README.md",
		"opt/tnd/share/doc/tuninetd/tportknockd.conf",
		"opt/tnd/share/man/man8/tportknockd.8",
		"opt/tnd/share/man/man8/tuninetd.8",
		"opt/tnd/share/man/man8/tuntapd.8",
	}
	for _, l := range linkNames(t) {
		want = append(want, "opt/tnd/sbin/"+l)
	}
	sort.Strings(want)
	if got := tree(t, dest); !reflect.DeepEqual(got, want) {
		t.Errorf("installed\n%q\nwant\n%q", got, want)
	}
	for _, l := range linkNames(t) {
		if target, err := os.Readlink(filepath.Join(dest, "opt/tnd/sbin", l)); err != nil || target != "tuninetd" {
			t.Errorf("sbin/%s -> %q (%v), want a link to tuninetd", l, target, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "opt/tnd/sbin/tuninetd")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("sbin/tuninetd: %v %v", fi, err)
	}
	text, err := os.ReadFile(filepath.Join(dest, "opt/tnd/lib/systemd/system/tuninetd@.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := parseUnit(string(text))
	if got := unit["ExecStart"]; len(got) != 1 || got[0] != "/opt/tnd/sbin/tuninetd --config /etc/tuninetd/%i.conf" {
		t.Errorf("installed unit ExecStart=%q", got)
	}
	out, code := run(t, "", filepath.Join(dest, "opt/tnd/sbin/tuninetd"), "-v")
	if code != 0 || !strings.HasPrefix(out, "tuninetd ") {
		t.Errorf("installed tuninetd -v: exit %d, %q", code, out)
	}

	mk("uninstall")
	if got := tree(t, dest); len(got) != 0 {
		t.Errorf("left after uninstall: %q", got)
	}
}

// tree lists the files and links under dir, relative and sorted.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

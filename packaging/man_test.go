package packaging

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// manPages are the manual pages and the program each documents. A
// daemon's -h lists every option it has; bpfc's one usage line leaves out
// --help, which its page documents.
var manPages = []struct {
	page, prog string
	fullHelp   bool
}{
	{"man/tuninetd.8", "tuninetd", true},
	{"man/tuntapd.8", "tuntapd", true},
	{"man/tportknockd.8", "tportknockd", true},
	{"man/bpfc.1", "bpfc", false},
}

// The pages are free of mandoc and groff warnings.
func TestManLint(t *testing.T) {
	mandoc := requireTool(t, "mandoc", "mandoc")
	groff := requireTool(t, "groff", "groff")
	for _, m := range manPages {
		t.Run(filepath.Base(m.page), func(t *testing.T) {
			if out, code := run(t, root, mandoc, "-Tlint", "-Wwarning", m.page); code != 0 || out != "" {
				t.Errorf("mandoc -Tlint -Wwarning %s (exit %d):\n%s", m.page, code, out)
			}
			if out, code := run(t, root, groff, "-ww", "-z", "-man", m.page); code != 0 || out != "" {
				t.Errorf("groff -ww -z -man %s (exit %d):\n%s", m.page, code, out)
			}
		})
	}
}

// roffEscapes are the escapes the pages use inside words: fonts, the
// zero-width \&, and \- for a minus.
var roffEscapes = strings.NewReplacer(`\fB`, "", `\fI`, "", `\fR`, "", `\fP`, "", `\&`, "", `\-`, "-", `\(dq`, `"`)

// Every option name the program's -h prints appears in its page, and
// every long option a daemon's page documents is in its -h.
func TestManCoversHelp(t *testing.T) {
	bin := binDir(t)
	for _, m := range manPages {
		t.Run(filepath.Base(m.page), func(t *testing.T) {
			page := roffEscapes.Replace(readFile(t, m.page))
			opts := helpOptions(helpText(t, filepath.Join(bin, m.prog)))
			if len(opts) == 0 {
				t.Fatalf("%s -h lists no options", m.prog)
			}
			for _, o := range opts {
				re := regexp.MustCompile(`(?:^|[^A-Za-z0-9-])` + regexp.QuoteMeta(o) + `(?:[^A-Za-z0-9-]|$)`)
				if !re.MatchString(page) {
					t.Errorf("%s -h has %s, %s does not", m.prog, o, m.page)
				}
			}
			if !m.fullHelp {
				return
			}
			// And the page documents no long option the program lacks.
			inHelp := map[string]bool{}
			for _, o := range opts {
				inHelp[o] = true
			}
			section := page
			if i := strings.Index(section, ".SH OPTIONS"); i >= 0 {
				section = section[i+len(".SH OPTIONS"):]
				if j := strings.Index(section, "\n.SH "); j >= 0 {
					section = section[:j]
				}
			} else {
				t.Fatalf("%s has no OPTIONS section", m.page)
			}
			for _, o := range regexp.MustCompile(`--[a-z][a-z0-9-]+`).FindAllString(section, -1) {
				if !inHelp[o] {
					t.Errorf("%s documents %s, %s -h does not list it", m.page, o, m.prog)
				}
			}
		})
	}
}

// Each page's SEE ALSO names only pages installed with it or the
// well-known ones of the tools it mentions (the 1.x page named a
// tuntapd(8) that did not exist).
func TestManSeeAlso(t *testing.T) {
	ours := map[string]bool{}
	for _, m := range manPages {
		ours[strings.TrimSuffix(filepath.Base(m.page), filepath.Ext(m.page))+"("+strings.TrimPrefix(filepath.Ext(m.page), ".")+")"] = true
	}
	system := map[string]bool{"tcpdump(8)": true, "pcap-filter(7)": true, "nft(8)": true, "systemd.exec(5)": true, "ip-tuntap(8)": true}
	ref := regexp.MustCompile(`\.BR ([a-z.-]+) \((\d)\)`)
	for _, m := range manPages {
		page := roffEscapes.Replace(readFile(t, m.page))
		i := strings.Index(page, ".SH SEE ALSO")
		if i < 0 {
			t.Errorf("%s has no SEE ALSO", m.page)
			continue
		}
		refs := ref.FindAllStringSubmatch(page[i:], -1)
		if len(refs) == 0 {
			t.Errorf("%s: SEE ALSO names no page", m.page)
		}
		for _, r := range refs {
			name := r[1] + "(" + r[2] + ")"
			if !ours[name] && !system[name] {
				t.Errorf("%s: SEE ALSO names %s, which no package installs", m.page, name)
			}
		}
	}
}

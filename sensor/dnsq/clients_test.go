package dnsq

import (
	"bufio"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/tuninetd/tuninetd/bpfc"
)

// TestRealClients inspects the queries dig and glibc sent on a veth pair,
// with their EDNS options, cookies and TCP handshakes.
func TestRealClients(t *testing.T) {
	f, err := os.Open("testdata/clients.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type frame struct{ summary, hex string }
	var frames []frame
	var summary string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "# ") {
			summary = l[2:]
		} else if l != "" {
			frames = append(frames, frame{summary, l})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	r := testRules(t)
	// The summaries name each query ("A? git.corp.example."); every
	// other frame is a TCP segment without payload.
	want := map[string]Result{
		"git.corp.example": Matched, "corp.example": Matched, "tcp.corp.example": Matched,
		"v6.corp.example": Matched, "tcp6.corp.example": Matched, "noedns.corp.example": Matched,
		"glibc.corp.example": Matched, "notcorp.example": Unlisted, "www.corp.example": Excluded,
	}
	queries := 0
	for _, fr := range frames {
		data, err := hex.DecodeString(fr.hex)
		if err != nil {
			t.Fatalf("%s: %v", fr.summary, err)
		}
		q, res := r.Inspect(pkt(bpfc.EN10MB, data))
		wantRes, wantName, wantType := NotDNS, "", ""
		if before, after, ok := strings.Cut(fr.summary, "? "); ok {
			queries++
			name, _, _ := strings.Cut(after, " ")
			name = strings.ToLower(strings.TrimSuffix(name, "."))
			wantRes = want[name]
			if wantRes == Matched {
				wantName = name
				wantType = before[strings.LastIndexByte(before, ' ')+1:]
				if n, ok := strings.CutPrefix(wantType, "Type"); ok && n == "65" {
					wantType = "HTTPS" // tcpdump has no name for it
				}
			}
		} else if !strings.HasSuffix(fr.summary, "length 0") {
			t.Fatalf("unexpected frame in testdata: %s", fr.summary)
		}
		if res != wantRes || q.Name != wantName || res == Matched && q.TypeName() != wantType {
			t.Errorf("%s: %v %q %s; want %v %q %s", fr.summary, res, q.Name, q.TypeName(), wantRes, wantName, wantType)
		}
	}
	if queries != 11 {
		t.Errorf("%d queries in testdata/clients.txt, want 11", queries)
	}
}

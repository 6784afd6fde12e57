package core

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/sensor"
)

func TestTriggerEnvEveryField(t *testing.T) {
	tr := Trigger{
		Event: "stop", Reason: "idle", Sensor: sensor.NFLOG, Iface: "eth0",
		NFLOGGroup: 65535, HasNFLOGGroup: true, TTL: 30*time.Second + 999*time.Millisecond, HasTTL: true,
		Family: 6, Src: netip.MustParseAddr("::1.2.3.4"), Dst: netip.MustParseAddr("2001:db8::2"),
		Proto: 132, HasProto: true, SrcPort: 1, DstPort: 65535, HasPorts: true,
		Idle: -time.Second, HasIdle: true, QName: "git.corp.example",
	}
	want := []string{
		"X_EVENT=stop", "X_REASON=idle", "X_SENSOR=nflog", "X_TTL=30", "X_IFACE=eth0",
		"X_NFLOG_GROUP=65535", "X_FAMILY=6", "X_SRC=::1.2.3.4", "X_DST=2001:db8::2",
		"X_PROTO=sctp", "X_SRC_PORT=1", "X_DST_PORT=65535", "X_IDLE=0",
		"X_QNAME=git.corp.example",
	}
	if got := tr.Env("X_").Vars(); !slices.Equal(got, want) {
		t.Errorf("Vars\n got %q\nwant %q", got, want)
	}
}

func TestTriggerEnvLeavesOutUnset(t *testing.T) {
	if got := (Trigger{}).Env("TUNINETD_").Vars(); len(got) != 0 {
		t.Errorf("zero Trigger: %q", got)
	}
	// Group 0, port 0 and a zero idle time are values, not absence.
	tr := Trigger{HasNFLOGGroup: true, HasPorts: true, HasIdle: true, Proto: 253, HasProto: true}
	want := []string{"TUNINETD_NFLOG_GROUP=0", "TUNINETD_PROTO=253", "TUNINETD_SRC_PORT=0", "TUNINETD_DST_PORT=0", "TUNINETD_IDLE=0"}
	if got := tr.Env("TUNINETD_").Vars(); !slices.Equal(got, want) {
		t.Errorf("Vars\n got %q\nwant %q", got, want)
	}
}

// TestTriggerEnvKnockDaemon: the variables tportknockd sets, under its
// own prefix.
func TestTriggerEnvKnockDaemon(t *testing.T) {
	tr := Trigger{Event: "ssh", Src: netip.MustParseAddr("192.0.2.7"), Family: 4}
	want := []string{"TPORTKNOCKD_EVENT=ssh", "TPORTKNOCKD_FAMILY=4", "TPORTKNOCKD_SRC=192.0.2.7"}
	if got := tr.Env("TPORTKNOCKD_").Vars(); !slices.Equal(got, want) {
		t.Errorf("Vars\n got %q\nwant %q", got, want)
	}
}

func TestEnvSetReplacesAndDropsNUL(t *testing.T) {
	e := NewEnv("P_")
	e.Set("A", "1")
	e.Set("AB", "2")
	e.Set("A", "3")
	e.Set("BAD", "x\x00y")
	want := []string{"P_A=3", "P_AB=2"}
	if got := e.Vars(); !slices.Equal(got, want) {
		t.Errorf("Vars %q, want %q", got, want)
	}
}

func TestEnvEnvironStripsInheritedPrefixOnly(t *testing.T) {
	base := []string{"PATH=/bin", "TUNINETD_SRC=stale", "TUNINETD_X=", "TUNINETDX=keep", "TPORTKNOCKD_SRC=other"}
	e := NewEnv("TUNINETD_")
	e.Set("SRC", "10.0.0.1")
	want := []string{"PATH=/bin", "TUNINETDX=keep", "TPORTKNOCKD_SRC=other", "TUNINETD_SRC=10.0.0.1"}
	if got := e.Environ(base); !slices.Equal(got, want) {
		t.Errorf("Environ\n got %q\nwant %q", got, want)
	}
	k := NewEnv("TPORTKNOCKD_")
	want = []string{"PATH=/bin", "TUNINETD_SRC=stale", "TUNINETD_X=", "TUNINETDX=keep"}
	if got := k.Environ(base); !slices.Equal(got, want) {
		t.Errorf("knock Environ\n got %q\nwant %q", got, want)
	}
	// The zero Env is the daemon's environment as it is.
	if got := (Env{}).Environ(base); !slices.Equal(got, base) {
		t.Errorf("zero Env: %q", got)
	}
}

// duplicateNames returns the variable names that appear more than once:
// the command would see only one of them, and which is exec's choice.
func duplicateNames(vars []string) []string {
	var dups []string
	seen := map[string]bool{}
	for _, kv := range vars {
		name, _, _ := strings.Cut(kv, "=")
		if seen[name] && !slices.Contains(dups, name) {
			dups = append(dups, name)
		}
		seen[name] = true
	}
	return dups
}

func TestDuplicateNames(t *testing.T) {
	got := duplicateNames([]string{"TUNINETD_IFACE=tun0", "TUNINETD_SRC=1", "TUNINETD_IFACE=tun0", "TUNINETD_IFACE=x"})
	if !slices.Equal(got, []string{"TUNINETD_IFACE"}) {
		t.Errorf("duplicateNames = %q", got)
	}
	if got := duplicateNames([]string{"A=1", "AB=1", "B=A=1"}); got != nil {
		t.Errorf("duplicateNames = %q, want none", got)
	}
}

package main

import (
	"reflect"
	"testing"

	"github.com/tuninetd/tuninetd/cmd/internal/tportknockd"
	"github.com/tuninetd/tuninetd/cmd/internal/tuninetd"
	"github.com/tuninetd/tuninetd/cmd/internal/tuntapd"
)

func TestDaemonFor(t *testing.T) {
	tests := []struct {
		argv []string
		want func([]string) int
	}{
		{[]string{"tuninetd"}, tuninetd.Main},
		{[]string{"/usr/sbin/tuntapd", "-i", "tun0"}, tuntapd.Main},
		{[]string{"./tuntapd"}, tuntapd.Main},
		{[]string{"/usr/sbin/tportknockd", "-c", "k.conf"}, tportknockd.Main},
		{[]string{"/usr/sbin/tuninetd"}, tuninetd.Main},
		{[]string{"tuninetd-linux-mipsle"}, tuninetd.Main}, // renamed copy
		{[]string{"tuntapd.old"}, tuninetd.Main},
		{nil, tuninetd.Main},
	}
	for _, tt := range tests {
		got := daemonFor(tt.argv)
		if reflect.ValueOf(got).Pointer() != reflect.ValueOf(tt.want).Pointer() {
			t.Errorf("daemonFor(%q) is not the expected daemon", tt.argv)
		}
	}
	for name := range daemons {
		if name == "" || name[0] == '.' {
			t.Errorf("bad daemon name %q", name)
		}
	}
}

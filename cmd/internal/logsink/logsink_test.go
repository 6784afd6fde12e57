package logsink

import "testing"

func TestSeverityOf(t *testing.T) {
	tests := []struct {
		msg  string
		want Severity
	}{
		{"Binding to interface tun0", Info},
		{"Warning! -m applies to the pcap sensor (-i) only, ignored", Warning},
		{"NFLOG: warning! No enough nfnlbufsiz...", Warning},
		{"Can't open pcap file for -w: x. Abort", Err},
		{"Abort is not at the end", Info},
	}
	for _, tt := range tests {
		if got := SeverityOf(tt.msg); got != tt.want {
			t.Errorf("SeverityOf(%q) = %d, want %d", tt.msg, got, tt.want)
		}
	}
}

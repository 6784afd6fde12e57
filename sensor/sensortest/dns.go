package sensortest

import "strings"

// DNSQuery returns a DNS query message (ID 0x1234, recursion desired, one
// question of class IN) for name, dotted ASCII without the trailing dot,
// and qtype: what a stub resolver sends, for tests that need DNS bytes
// without a client.
func DNSQuery(name string, qtype uint16) []byte {
	msg := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range strings.Split(name, ".") {
		msg = append(append(msg, byte(len(l))), l...)
	}
	return append(msg, 0, byte(qtype>>8), byte(qtype), 0, 1)
}

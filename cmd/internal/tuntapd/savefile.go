package tuntapd

import "github.com/tuninetd/tuninetd/sensor/savefile"

// openSavefile opens the -w savefile: the same classic pcap file tuninetd
// writes (Ethernet link type; tun packets get a synthesized header).
func openSavefile(path string) (packetWriter, error) {
	return savefile.Open(path)
}

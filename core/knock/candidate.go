package knock

import "github.com/tuninetd/tuninetd/sensor"

// CandidateFrom picks a knock candidate out of a decoded packet: a TCP
// segment with its ports and flags, or a UDP datagram with its ports. ok
// is false for anything else, including a fragment without the transport
// header and a TCP header cut short before its flags.
func CandidateFrom(s sensor.Summary) (c Candidate, ok bool) {
	if s.IPVersion == 0 || !s.HasProto || !s.HasPorts {
		return Candidate{}, false
	}
	c = Candidate{Src: s.Src, Dst: s.Dst, DstPort: s.DstPort}
	switch s.Proto {
	case uint8(TCP):
		if !s.HasTCPFlags {
			return Candidate{}, false
		}
		c.Proto, c.Flags = TCP, Flags(s.TCPFlags)
	case uint8(UDP):
		c.Proto = UDP
	default:
		return Candidate{}, false
	}
	return c, true
}

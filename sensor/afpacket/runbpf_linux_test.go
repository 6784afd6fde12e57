package afpacket

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/tuninetd/tuninetd/bpfc"
)

// TestRunBPFMatchesXNetVM judges runBPF against golang.org/x/net/bpf's VM
// on offline programs bpfc compiles, over frames mutated from real shapes.
func TestRunBPFMatchesXNetVM(t *testing.T) {
	exprs := []string{
		"", "tcp", "udp port 53", "port 53 or port 80", "ip host 10.0.0.1", "net 10.0.0.0/8 and not port 22",
		"ip6", "ip6 and udp dst port 53", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "ip[2:2] > 100",
		"ether host 02:00:00:00:00:01", "arp", "vlan 10", "vlan and udp", "icmp or icmp6", "portrange 1000-2000",
		"len > 60", "ip[0] & 0xf != 5", "tcp[13] & 7 != 0", "ip proto 47", "ip6 host ::1 or ip6 net fe80::/10",
		"udp[8:2] = 0x1234", "ip[6:2] & 0x1fff = 0", "less 100", "greater 1000", "ether broadcast", "ip multicast",
	}
	bases := [][]byte{
		frame(0x0800, ipv4(6, 20)), frame(0x0800, ipv4(17, 12)), frame(0x86dd, ipv6(17, 12)),
		frame(0x86dd, ipv6(6, 20)), frame(0x0806, make([]byte, 28)), vlanFrame(10, 0x0800, ipv4(17, 12)),
		frame(0x0800, ipv4(1, 8)),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, lt := range []bpfc.LinkType{bpfc.EN10MB, bpfc.RAW} {
		for _, e := range exprs {
			raw, err := bpfc.Compile(e, bpfc.Options{LinkType: lt, Target: bpfc.Offline})
			if err != nil {
				continue // not for this link type
			}
			if err := checkOffline(raw); err != nil {
				t.Fatalf("%q on %v: %v", e, lt, err)
			}
			insns, ok := bpf.Disassemble(raw)
			if !ok {
				t.Fatalf("%q: does not disassemble", e)
			}
			vm, err := bpf.NewVM(insns)
			if err != nil {
				t.Fatalf("%q: %v", e, err)
			}
			for i := 0; i < 400; i++ {
				pkt := append([]byte(nil), bases[rng.IntN(len(bases))]...)
				if lt == bpfc.RAW && len(pkt) > 14 {
					pkt = pkt[14:]
				}
				for n := rng.IntN(4); n > 0; n-- {
					pkt[rng.IntN(len(pkt))] = byte(rng.Uint32())
				}
				if rng.IntN(8) == 0 {
					pkt = pkt[:rng.IntN(len(pkt)+1)]
				}
				want, err := vm.Run(pkt)
				if err != nil {
					want = 0
				}
				if got := runBPF(raw, pkt); int(got) != want {
					t.Fatalf("%q on %v, packet %x: runBPF %d, x/net/bpf %d", e, lt, pkt, got, want)
				}
			}
		}
	}
}

func TestCheckOffline(t *testing.T) {
	live, err := bpfc.Compile("vlan 10", bpfc.Options{LinkType: bpfc.EN10MB, Target: bpfc.Live})
	if err != nil {
		t.Fatal(err)
	}
	if checkOffline(live) == nil {
		t.Error("a live program reading VLAN metadata passed")
	}
	for _, prog := range [][]bpf.RawInstruction{
		nil,
		{{Op: 0x15, Jt: 5, Jf: 0, K: 1}, {Op: 0x06, K: 1}},
		{{Op: 0x05, K: 3}, {Op: 0x06, K: 1}},
		{{Op: 0x06, K: 1}, {Op: 0x04, K: 1}},
	} {
		if checkOffline(prog) == nil {
			t.Errorf("%v passed", prog)
		}
	}
}

func frame(etherType uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	copy(b, []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(b[12:], etherType)
	return append(b, payload...)
}

func vlanFrame(vid uint16, etherType uint16, payload []byte) []byte {
	b := frame(0x8100, nil)
	b = binary.BigEndian.AppendUint16(b, vid)
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, payload...)
}

func ipv4(proto byte, l4 int) []byte {
	b := make([]byte, 20+l4+8)
	b[0], b[8], b[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	copy(b[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(b[20:], 4000)
	binary.BigEndian.PutUint16(b[22:], 53)
	if proto == 6 {
		b[32], b[33] = 0x50, 0x02
	}
	return b
}

func ipv6(next byte, l4 int) []byte {
	b := make([]byte, 40+l4+8)
	b[0], b[6], b[7] = 0x60, next, 64
	binary.BigEndian.PutUint16(b[4:], uint16(l4+8))
	b[23], b[39] = 1, 2
	binary.BigEndian.PutUint16(b[40:], 4000)
	binary.BigEndian.PutUint16(b[42:], 53)
	return b
}

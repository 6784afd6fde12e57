package afpacket

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/net/bpf"
)

// alignedBytes returns n bytes of 8-byte-aligned memory, as ring blocks are.
func alignedBytes(n int) []byte {
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), n)
}

type synthPkt struct {
	data    []byte
	origLen int
	sec     uint32
	nsec    uint32
	vlan    uint16 // 0: none
	tpid    uint16 // 0: not valid
	sll     []byte // cooked rings only
}

// writeBlock lays packets out in block the way the kernel does for
// TPACKET_V3 and marks it as handed to user space.
func writeBlock(block []byte, pkts []synthPkt, cooked bool) {
	ne := binary.NativeEndian
	clear(block)
	ne.PutUint32(block[0:], 1) // version
	ne.PutUint32(block[blkStatusOff:], tpStatusUser)
	ne.PutUint32(block[blkNumPktsOff:], uint32(len(pkts)))
	ne.PutUint32(block[blkFirstPktOff:], blkHdrLen)
	off := blkHdrLen
	for i, p := range pkts {
		h := block[off:]
		mac := pktHdrLen
		if cooked {
			mac += sllLen + 12 // sockaddr_ll then alignment, as the kernel pads
			copy(h[pktHdrLen:], p.sll)
		}
		ne.PutUint32(h[pktSecOff:], p.sec)
		ne.PutUint32(h[pktNsecOff:], p.nsec)
		ne.PutUint32(h[pktSnaplenOff:], uint32(len(p.data)))
		ne.PutUint32(h[pktLenOff:], uint32(p.origLen))
		st := uint32(tpStatusUser)
		if p.vlan != 0 {
			st |= tpStatusVLANValid
			ne.PutUint32(h[pktVlanTCIOff:], uint32(p.vlan))
			if p.tpid != 0 {
				st |= tpStatusVLANTPIDOK
				ne.PutUint16(h[pktVlanTPIDOff:], p.tpid)
			}
		}
		ne.PutUint32(h[pktStatusOff:], st)
		ne.PutUint16(h[pktMacOff:], uint16(mac))
		copy(h[mac:], p.data)
		next := (mac + len(p.data) + 15) &^ 15
		if i == len(pkts)-1 {
			next = 0
		}
		ne.PutUint32(h[pktNextOff:], uint32(next))
		off += next
	}
	ne.PutUint32(block[blkLenOff:], uint32(off+pktHdrLen+64))
}

func TestLastPacket(t *testing.T) {
	block := alignedBytes(4096)
	pkts := []synthPkt{
		{data: []byte("first packet"), origLen: 100, sec: 10, nsec: 1},
		{data: []byte("second"), origLen: 6, sec: 11, nsec: 2},
		{data: []byte("third, tagged"), origLen: 1500, sec: 12, nsec: 3, vlan: 0x2005, tpid: 0x88a8},
	}
	writeBlock(block, pkts, false)
	p, n, ok := lastPacket(block, false)
	if !ok || n != 3 {
		t.Fatalf("lastPacket: ok=%v n=%d", ok, n)
	}
	if string(p.Data) != "third, tagged" || p.Len != 1500 || p.Snaplen != 13 ||
		p.Time.Unix() != 12 || p.Time.Nanosecond() != 3 || p.VLANTCI != 0x2005 || p.VLANTPID != 0x88a8 ||
		p.Status&tpStatusVLANValid == 0 {
		t.Fatalf("lastPacket = %+v", p)
	}
	// Without a valid TPID the field is ignored.
	pkts[2].tpid = 0
	writeBlock(block, pkts, false)
	if p, _, _ = lastPacket(block, false); p.VLANTPID != 0 || p.VLANTCI != 0x2005 {
		t.Fatalf("tpid not valid: %+v", p)
	}
}

func TestLastPacketCooked(t *testing.T) {
	block := alignedBytes(4096)
	sll := make([]byte, sllLen)
	ne := binary.NativeEndian
	copy(sll[sllProtocolOff:], []byte{0x08, 0x00})
	ne.PutUint16(sll[sllHatypeOff:], 512) // ARPHRD_PPP
	sll[sllPkttypeOff] = 4                // PACKET_OUTGOING
	sll[sllHalenOff] = 0
	writeBlock(block, []synthPkt{{data: []byte{0x45, 0, 0, 20}, origLen: 20, sll: sll}}, true)
	p, n, ok := lastPacket(block, true)
	if !ok || n != 1 || len(p.SLL) != sllLen {
		t.Fatalf("lastPacket cooked: ok=%v n=%d %+v", ok, n, p)
	}
	h := cookedHeader(p.SLL)
	want := []byte{0, 4, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00}
	if !bytes.Equal(h[:], want) {
		t.Fatalf("cooked header = %x, want %x", h, want)
	}
}

func TestLastPacketCorrupt(t *testing.T) {
	block := alignedBytes(512)
	writeBlock(block, []synthPkt{{data: []byte("ok"), origLen: 2}, {data: []byte("x"), origLen: 1}}, false)
	ne := binary.NativeEndian
	// A next offset that points out of the block ends the walk.
	ne.PutUint32(block[blkHdrLen+pktNextOff:], 1<<20)
	p, n, ok := lastPacket(block, false)
	if !ok || n != 1 || string(p.Data) != "ok" {
		t.Fatalf("corrupt next offset: ok=%v n=%d %q", ok, n, p.Data)
	}
	// A snaplen past the end is rejected.
	ne.PutUint32(block[blkHdrLen+pktSnaplenOff:], 1<<20)
	if _, n, ok = lastPacket(block, false); ok || n != 0 {
		t.Fatalf("corrupt snaplen accepted")
	}
	if _, _, ok = lastPacket(block[:10], false); ok {
		t.Fatalf("short block accepted")
	}
}

func TestUserBlocksAndRelease(t *testing.T) {
	const bs, nb = 256, 4
	mem := alignedBytes(bs * nb)
	blk := func(i int) []byte { return mem[i*bs : (i+1)*bs] }
	one := []synthPkt{{data: []byte("p"), origLen: 1}}
	writeBlock(blk(2), one, false)
	writeBlock(blk(3), one, false)
	writeBlock(blk(0), one, false)
	if n := userBlocks(mem, bs, nb, 2); n != 3 {
		t.Fatalf("userBlocks from 2 = %d, want 3 (2, 3, wrap to 0)", n)
	}
	if n := userBlocks(mem, bs, nb, 1); n != 0 {
		t.Fatalf("userBlocks from a kernel block = %d, want 0", n)
	}
	releaseBlock(blk(2))
	if blockStatus(blk(2)) != tpStatusKernel || userBlocks(mem, bs, nb, 2) != 0 {
		t.Fatalf("release did not hand the block back")
	}
	for i := 0; i < nb; i++ {
		writeBlock(blk(i), one, false)
	}
	if n := userBlocks(mem, bs, nb, 1); n != nb {
		t.Fatalf("full ring: userBlocks = %d, want %d", n, nb)
	}
}

func TestFixCooked(t *testing.T) {
	// "outbound and ip and udp" style loads for LINUX_SLL.
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 2},      // pkttype
		bpf.LoadAbsolute{Off: 14, Size: 2},     // protocol
		bpf.LoadAbsolute{Off: 16 + 9, Size: 1}, // ip proto
		bpf.LoadMemShift{Off: 16},
		bpf.LoadIndirect{Off: 16 + 2, Size: 2},
		bpf.LoadExtension{Num: bpf.ExtVLANTag},
		bpf.RetConstant{Val: 8192},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := fixCooked(prog)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint32{0xfffff000 + 4, 0xfffff000 + 0, 9, 0, 2, 0xfffff000 + 44, 8192}
	for i, ins := range got {
		if ins.K != want[i] {
			t.Errorf("insn %d: k = %#x, want %#x", i, ins.K, want[i])
		}
	}
	if prog[0].K != 0 {
		t.Errorf("fixCooked modified its input")
	}
	if _, err := fixCooked([]bpf.RawInstruction{{Op: 0x20, K: 6}}); err == nil {
		t.Errorf("load of the cooked link-layer address accepted")
	}
}

func FuzzLastPacket(f *testing.F) {
	block := alignedBytes(512)
	writeBlock(block, []synthPkt{{data: []byte("seed"), origLen: 4}, {data: []byte("two"), origLen: 3, vlan: 5}}, false)
	f.Add(append([]byte(nil), block...), false)
	f.Add(append([]byte(nil), block...), true)
	f.Fuzz(func(t *testing.T, b []byte, cooked bool) {
		p, _, ok := lastPacket(b, cooked)
		if ok && len(p.Data) != p.Snaplen {
			t.Fatalf("Data length %d != snaplen %d", len(p.Data), p.Snaplen)
		}
		if cooked {
			cookedHeader(p.SLL)
		}
	})
}

package afpacket

import (
	"encoding/binary"
	"sync/atomic"
	"time"
	"unsafe"
)

// TPACKET_V3 memory layout (linux/if_packet.h). The ring is a sequence of
// blocks; each starts with a tpacket_block_desc whose block_status says who
// owns it, followed by packets chained by tp_next_offset. All fields are in
// host byte order.
const (
	// struct tpacket_block_desc with tpacket_hdr_v1.
	blkStatusOff   = 8
	blkNumPktsOff  = 12
	blkFirstPktOff = 16
	blkLenOff      = 20
	blkHdrLen      = 48

	// struct tpacket3_hdr.
	pktNextOff     = 0
	pktSecOff      = 4
	pktNsecOff     = 8
	pktSnaplenOff  = 12
	pktLenOff      = 16
	pktStatusOff   = 20
	pktMacOff      = 24
	pktVlanTCIOff  = 32
	pktVlanTPIDOff = 36
	pktHdrLen      = 48 // also TPACKET_ALIGN(sizeof(tpacket3_hdr)): sockaddr_ll follows here

	// sockaddr_ll, as the kernel places it after the header.
	sllProtocolOff = 2
	sllHatypeOff   = 8
	sllPkttypeOff  = 10
	sllHalenOff    = 11
	sllAddrOff     = 12
	sllLen         = 20

	tpStatusKernel     = 0
	tpStatusUser       = 1
	tpStatusVLANValid  = 0x10
	tpStatusVLANTPIDOK = 0x40

	// cookedHdrLen is the LINUX_SLL pseudo header's length.
	cookedHdrLen = 16
)

// ringPacket is one packet read out of a ring block: header fields and the
// captured bytes, still pointing into the block.
type ringPacket struct {
	Time     time.Time
	Snaplen  int
	Len      int
	Status   uint32
	VLANTCI  uint16
	VLANTPID uint16
	Data     []byte // block memory: copy before the block is released
	// Link-layer address info for cooked (SOCK_DGRAM) rings.
	SLL []byte
}

// blockStatus reads a block's owner word atomically: the kernel hands a
// block over by storing it, and the load orders our reads of the block's
// contents after that store. b must be 4-byte aligned (ring memory is
// page-aligned and blocks are page multiples).
func blockStatus(b []byte) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&b[blkStatusOff])))
}

// releaseBlock gives a block back to the kernel.
func releaseBlock(b []byte) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&b[blkStatusOff])), tpStatusKernel)
}

// userBlocks counts the blocks the kernel has handed to user space, in ring
// order from cursor: the kernel fills blocks in order, so the run stops at
// the first block it still owns.
func userBlocks(ring []byte, blockSize, blocks, cursor int) int {
	n := 0
	for n < blocks {
		i := (cursor + n) % blocks
		if blockStatus(ring[i*blockSize:(i+1)*blockSize])&tpStatusUser == 0 {
			break
		}
		n++
	}
	return n
}

// lastPacket walks a user-owned block and returns its newest packet and the
// number of packets it holds.
func lastPacket(block []byte, cooked bool) (p ringPacket, n int, ok bool) {
	n = eachPacket(block, cooked, func(rp ringPacket) { p, ok = rp, true })
	return p, n, ok
}

// eachPacket calls fn for every packet of a user-owned block, oldest
// first, and returns how many there were. Every offset is checked against
// the block, so a corrupt block ends the walk rather than panicking.
func eachPacket(block []byte, cooked bool, fn func(ringPacket)) (n int) {
	if len(block) < blkHdrLen {
		return 0
	}
	ne := binary.NativeEndian
	num := int(ne.Uint32(block[blkNumPktsOff:]))
	off := int(ne.Uint32(block[blkFirstPktOff:]))
	end := int(ne.Uint32(block[blkLenOff:]))
	if end <= 0 || end > len(block) {
		end = len(block)
	}
	for i := 0; i < num; i++ {
		if off < blkHdrLen || off+pktHdrLen > end {
			return n
		}
		h := block[off:]
		mac := int(ne.Uint16(h[pktMacOff:]))
		snap := int(ne.Uint32(h[pktSnaplenOff:]))
		if mac < pktHdrLen || snap < 0 || off+mac+snap > end {
			return n
		}
		p := ringPacket{
			Time:    time.Unix(int64(ne.Uint32(h[pktSecOff:])), int64(ne.Uint32(h[pktNsecOff:]))),
			Snaplen: snap,
			Len:     int(ne.Uint32(h[pktLenOff:])),
			Status:  ne.Uint32(h[pktStatusOff:]),
			Data:    h[mac : mac+snap : mac+snap],
			SLL:     nil,
		}
		if p.Status&tpStatusVLANValid != 0 {
			p.VLANTCI = uint16(ne.Uint32(h[pktVlanTCIOff:]))
			if p.Status&tpStatusVLANTPIDOK != 0 {
				p.VLANTPID = ne.Uint16(h[pktVlanTPIDOff:])
			}
		}
		if cooked && mac >= pktHdrLen+sllLen {
			p.SLL = h[pktHdrLen : pktHdrLen+sllLen]
		}
		n++
		fn(p)
		next := int(ne.Uint32(h[pktNextOff:]))
		if next == 0 {
			break
		}
		off += next
	}
	return n
}

// cookedHeader builds the 16-byte LINUX_SLL pseudo header (big-endian
// fields) from a sockaddr_ll as the kernel lays it out in host order, with
// the protocol already in network order.
func cookedHeader(sll []byte) [cookedHdrLen]byte {
	var h [cookedHdrLen]byte
	if len(sll) < sllLen {
		return h
	}
	ne := binary.NativeEndian
	binary.BigEndian.PutUint16(h[0:], uint16(sll[sllPkttypeOff]))
	binary.BigEndian.PutUint16(h[2:], ne.Uint16(sll[sllHatypeOff:]))
	halen := int(sll[sllHalenOff])
	if halen > 8 {
		halen = 8
	}
	binary.BigEndian.PutUint16(h[4:], uint16(sll[sllHalenOff]))
	copy(h[6:6+halen], sll[sllAddrOff:])
	copy(h[14:16], sll[sllProtocolOff:sllProtocolOff+2])
	return h
}

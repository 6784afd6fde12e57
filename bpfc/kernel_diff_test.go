//go:build linux

package bpfc_test

import (
	"fmt"
	"math/rand"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/bpfc/internal/bpfvm"
	"github.com/tuninetd/tuninetd/bpfc/internal/fixture"
)

// attach asks the running kernel's classic-BPF checker about prog by
// attaching it to a UDP socket (SO_ATTACH_FILTER needs no privilege).
func attach(prog []bpf.RawInstruction) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if len(prog) == 0 {
		return fmt.Errorf("empty program")
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return fmt.Errorf("SO_ATTACH_FILTER: %w", err)
	}
	return nil
}

// TestKernelAcceptsOurPrograms attaches every live-target program bpfc
// compiles from the corpus to a socket: the kernel's checker, not only our
// interpreter's Validate, must accept them. libpcap's programs go through
// the same check, which shows why protochain is a known gap (its backward
// jump is refused), and Validate must agree with the kernel on all of them.
func TestKernelAcceptsOurPrograms(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("SO_ATTACH_FILTER through qemu-user is not what we are testing")
	}
	exprs, err := fixture.ReadCorpus(filepath.Join(fixtureDir, "corpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := attach([]bpf.RawInstruction{{Op: 0x06, K: 1}}); err != nil {
		t.Skipf("cannot attach socket filters here: %v", err)
	}
	for _, v := range fixture.Variants() {
		if !v.Live {
			continue
		}
		f, err := fixture.Read(fixtureDir, v)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range f.Results {
			if r.Err != "" {
				continue
			}
			kerr := attach(r.Prog)
			verr := bpfvm.Validate(r.Prog)
			if (kerr == nil) != (verr == nil) {
				t.Errorf("%s libpcap %q: kernel says %v, bpfvm.Validate says %v", v, r.Expr, kerr, verr)
			}
			if kerr != nil && !strings.Contains(r.Expr, "protochain") {
				t.Errorf("%s libpcap %q: kernel refuses libpcap's program: %v", v, r.Expr, kerr)
			}
		}
		for _, e := range exprs {
			prog, err := bpfc.Compile(e, options(v))
			if err != nil {
				continue
			}
			if err := attach(prog); err != nil {
				t.Errorf("%s %q: kernel refuses our program: %v\n%s", v, e, err, listing(prog))
			}
		}
	}
}

// TestValidateMatchesKernel compares bpfvm.Validate with the running
// kernel's checker on random programs, valid and invalid, so "Validate
// passes" can stand in for "the kernel loads it" where no kernel is at hand.
func TestValidateMatchesKernel(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("SO_ATTACH_FILTER through qemu-user is not what we are testing")
	}
	if err := attach([]bpf.RawInstruction{{Op: 0x06, K: 1}}); err != nil {
		t.Skipf("cannot attach socket filters here: %v", err)
	}
	r := rand.New(rand.NewSource(3))
	ops := []uint16{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0c, 0x0e, 0x14, 0x15, 0x16, 0x1c, 0x1d, 0x20, 0x24,
		0x25, 0x28, 0x2c, 0x30, 0x34, 0x35, 0x38, 0x3c, 0x3d, 0x40, 0x44, 0x45, 0x48, 0x4c, 0x4d, 0x50, 0x54, 0x5c, 0x60,
		0x61, 0x64, 0x6c, 0x74, 0x7c, 0x80, 0x81, 0x84, 0x87, 0x8c, 0x94, 0x9c, 0xa4, 0xac, 0xb1, 0xb0, 0xc4, 0x0d}
	ks := func() uint32 {
		switch r.Intn(8) {
		case 0:
			return 0
		case 1:
			return uint32(28 + r.Intn(8))
		case 2:
			return bpfvm.SKFADOff + uint32(r.Intn(70))
		case 3:
			return r.Uint32()
		}
		return uint32(r.Intn(20))
	}
	n := 6000
	if testing.Short() {
		n = 1500
	}
	valid := 0
	for i := 0; i < n; i++ {
		prog := make([]bpf.RawInstruction, 1+r.Intn(10))
		for j := range prog {
			prog[j] = bpf.RawInstruction{Op: ops[r.Intn(len(ops))], Jt: uint8(r.Intn(4)), Jf: uint8(r.Intn(4)), K: ks()}
		}
		if r.Intn(3) > 0 {
			prog[len(prog)-1] = bpf.RawInstruction{Op: 0x06, K: 1}
		}
		kerr, verr := attach(prog), bpfvm.Validate(prog)
		if (kerr == nil) != (verr == nil) {
			t.Errorf("program %s: kernel %v, Validate %v", fixture.FormatProg(prog), kerr, verr)
		}
		if kerr == nil {
			valid++
		}
	}
	t.Logf("%d of %d random programs valid", valid, n)
}

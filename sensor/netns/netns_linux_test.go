package netns_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/sensor/netns"
	"github.com/tuninetd/tuninetd/sensor/sensortest"
)

func TestOpenRejects(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, c := range []struct {
		path string
		want error
	}{
		{"/nonexistent/ns", os.ErrNotExist},
		{file, netns.ErrNotNetns},
		{"/proc/self/ns/uts", netns.ErrNotNetns},
		{"/proc/self/ns/mnt", netns.ErrNotNetns},
		{"/proc", netns.ErrNotNetns},
	} {
		n, err := netns.Open(c.path)
		if !errors.Is(err, c.want) {
			t.Errorf("Open(%s) = %v, %v; want an error wrapping %v", c.path, n, err, c.want)
		}
	}
}

// threadNetns is the namespace of the calling thread, as readlink shows it.
func threadNetns(t *testing.T) string {
	l, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestDo: fn runs in the namespace and a socket it makes stays there; no
// thread of the process is left in the namespace, however many calls run
// at once; a nil NS and the caller's own namespace run fn in place.
func TestDo(t *testing.T) {
	sensortest.RequireNetns(t)
	ns := sensortest.NewNamespace(t)
	n, err := netns.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	own, _ := os.Readlink("/proc/self/ns/net")
	// The bind mount is the nsfs file itself: its inode names it.
	var st unix.Stat_t
	if err := unix.Stat("/run/netns/"+ns.Name, &st); err != nil {
		t.Fatal(err)
	}
	want := "net:[" + strconv.FormatUint(uint64(st.Ino), 10) + "]"

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- n.Do(func() error {
				if got, _ := os.Readlink("/proc/thread-self/ns/net"); got != want {
					return errors.New("fn ran in " + got + ", want " + want)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		l, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net")
		if err == nil && l != own {
			t.Errorf("thread %s left in %s", task.Name(), l)
		}
	}

	// A socket made in Do stays in the namespace: an interface only the
	// namespace has is found through it afterwards.
	ns.AddVeth("tndx0", "", "tndx1", "")
	var fd int
	if err := n.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifr, _ := unix.NewIfreq("tndx0")
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		t.Errorf("socket made in Do does not see the namespace's interface: %v", err)
	}

	var nilNS *netns.NS
	ran := false
	nilNS.Do(func() error { ran = true; return nil })
	if !ran {
		t.Error("nil NS: fn did not run")
	}
	cur, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if err := cur.Do(func() error {
		if threadNetns(t) != own {
			return errors.New("Current().Do ran elsewhere")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestWatchRemoved: "ip netns del" is reported once; the namespace still
// works through the open NS.
func TestWatchRemoved(t *testing.T) {
	sensortest.RequireNetns(t)
	name := "tnd-test-w" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	n, err := netns.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	removed := make(chan struct{}, 2)
	stop, err := n.WatchRemoved(func() { removed <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// Other names in the directory do not count.
	other := name + "x"
	exec.Command("ip", "netns", "add", other).Run()
	exec.Command("ip", "netns", "del", other).Run()
	select {
	case <-removed:
		t.Fatal("reported for another namespace's name")
	case <-time.After(200 * time.Millisecond):
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	select {
	case <-removed:
	case <-time.After(30 * time.Second):
		t.Fatal("deletion not reported")
	}
	if err := n.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}); err != nil {
		t.Errorf("namespace unusable after its name was deleted: %v", err)
	}
}

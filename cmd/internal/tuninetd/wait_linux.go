package tuninetd

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/core"
	"github.com/tuninetd/tuninetd/sensor/linkwatch"
	"github.com/tuninetd/tuninetd/sensor/netns"
)

// interfaceExists reports whether the network interface name exists in
// the network namespace ns (nil: ours). A failure to look is reported as
// existing, so that opening the sensor names the real problem.
func interfaceExists(ns *netns.NS, name string) bool {
	// The ioctl looks the name up in the socket's namespace.
	fd := -1
	ns.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if fd < 0 {
		return true
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return true // a name the kernel cannot hold: let the sensor say so
	}
	return !errors.Is(unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr), unix.ENODEV)
}

// waitInterface waits for the -i interface to appear (--wait-iface),
// answering signals meanwhile: SIGUSR1 reports the configuration and that
// we wait, SIGHUP has nothing to stop, SIGTERM and SIGINT end the wait.
// It returns true once the interface exists, false when a signal asks us
// to exit (status 0: nothing ran), or an error when we cannot watch. It
// listens to link notifications, so it costs nothing while nothing
// changes; a subscription that breaks is made again.
func waitInterface(o *options, ns *netns.NS, logger core.Logger, sigs <-chan os.Signal) (bool, error) {
	for {
		w, err := waitLinkOnce(o, ns, logger, sigs)
		switch w {
		case linkAppeared:
			logger.Printf("Interface %s appeared", o.iface)
			return true, nil
		case exitSignal:
			return false, nil
		case cannotWatch:
			return false, err
		}
		logger.Printf("Warning! Link notifications for %s: %v; subscribing again", o.iface, err)
		// A socket that fails at once again must not spin; signals
		// wait in their channel meanwhile.
		time.Sleep(resubscribeDelay)
	}
}

// resubscribeDelay spaces link subscriptions after one broke (ENOBUFS
// after a burst of link changes, typically).
const resubscribeDelay = time.Second

// waitEnd is how one link subscription ended.
type waitEnd int

const (
	linkAppeared waitEnd = iota
	exitSignal           // SIGTERM or SIGINT
	cannotWatch          // no subscription: waiting is impossible
	broken               // the subscription failed: subscribe again
)

// waitLinkOnce runs one link subscription (listing the existing links
// first, so an interface created before it is not missed) until the
// interface appears, a signal ends the wait, or the subscription fails.
func waitLinkOnce(o *options, ns *netns.NS, logger core.Logger, sigs <-chan os.Signal) (waitEnd, error) {
	updates := make(chan linkwatch.Update, 16)
	done := make(chan struct{})
	failed := make(chan error, 1)
	err := ns.Do(func() error {
		return linkwatch.Subscribe(linkwatch.Config{ListExisting: true, Failed: func(err error) { failed <- err }}, updates, done)
	})
	if err != nil {
		return cannotWatch, fmt.Errorf("Can't wait for interface %s: %v. Abort", o.iface, err)
	}
	defer func() {
		close(done)
		for range updates {
		}
	}()
	for {
		select {
		case u, ok := <-updates:
			if !ok {
				select {
				case err = <-failed:
				default:
					err = errors.New("subscription ended")
				}
				return broken, err
			}
			if u.Name == o.iface && !u.Deleted {
				return linkAppeared, nil
			}
		case s := <-sigs:
			switch s {
			case syscall.SIGUSR1:
				logger.Printf("SIGUSR1 caught:")
				for _, l := range reportLines(o) {
					logger.Printf("%s", l)
				}
				logger.Printf("- current status: waiting for interface %s (--wait-iface)", o.iface)
			case syscall.SIGHUP:
				logger.Printf("Warning! Tuninetd is already in standby mode")
			case syscall.SIGTERM, syscall.SIGINT:
				logger.Printf("%s caught while waiting for interface %s, exiting", sigName(s), o.iface)
				return exitSignal, nil
			}
		}
	}
}

// sigName is the signal's name as our messages write it.
func sigName(s os.Signal) string {
	if s == syscall.SIGINT {
		return "SIGINT"
	}
	return "SIGTERM"
}

//go:build unix

package core

import (
	"os"
	"syscall"
)

// classify maps a delivered signal to what the loop does with it.
func classify(s os.Signal) sigAction {
	switch s {
	case syscall.SIGHUP:
		return sigStandby
	case syscall.SIGUSR1:
		return sigReport
	case syscall.SIGTERM, os.Interrupt:
		return sigExit
	}
	return sigIgnore
}

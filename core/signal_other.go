//go:build !unix

package core

import "os"

// classify maps a delivered signal to what the loop does with it. Without
// SIGHUP and SIGUSR1 only interrupt means anything.
func classify(s os.Signal) sigAction {
	if s == os.Interrupt || s == os.Kill {
		return sigExit
	}
	return sigIgnore
}

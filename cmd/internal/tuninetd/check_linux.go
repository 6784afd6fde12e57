package tuninetd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tuninetd/tuninetd/cmd/internal/config"
)

// shellWords are /bin/sh builtins and keywords that may start a -c string
// and are not files in PATH.
var shellWords = map[string]bool{
	".": true, ":": true, "!": true, "{": true, "alias": true, "bg": true,
	"break": true, "cd": true, "command": true, "continue": true,
	"eval": true, "exec": true, "exit": true, "export": true, "false": true,
	"fg": true, "for": true, "getopts": true, "hash": true, "if": true,
	"jobs": true, "kill": true, "local": true, "printf": true, "pwd": true,
	"read": true, "readonly": true, "return": true, "set": true,
	"shift": true, "test": true, "[": true, "times": true, "trap": true,
	"true": true, "type": true, "ulimit": true, "umask": true,
	"unalias": true, "unset": true, "until": true, "wait": true,
	"while": true, "echo": true, "case": true,
}

// checkCommand checks, before daemonizing, that -c can run: the command
// line is a shell string ("<path> start" is given to /bin/sh -c), so only
// its first word is checked, and only when it is plainly a program name.
// A word with a '/' must be an executable regular file; a bare word must
// be a shell builtin or found in PATH (the daemon's PATH is the one
// /bin/sh will search). Words with shell syntax ($VAR, quotes, globs,
// assignments) are left to the shell.
func checkCommand(command string) error {
	fields := strings.Fields(command)
	if len(fields) == 0 {
		return errors.New("Executable path must be specified. Abort")
	}
	word := fields[0]
	if strings.ContainsAny(word, "$`'\"\\~*?[]{}();&|<>=#") || shellWords[word] {
		return nil
	}
	if !strings.Contains(word, "/") {
		if _, err := exec.LookPath(word); err != nil {
			return fmt.Errorf("Executable %q (-c) not found in PATH. Abort", word)
		}
		return nil
	}
	fi, err := os.Stat(word)
	switch {
	case err != nil:
		return fmt.Errorf("Executable path is not usable: %v. Abort", err)
	case fi.IsDir():
		return fmt.Errorf("Executable path %s is a directory. Abort", word)
	case unix.Access(word, unix.X_OK) != nil:
		return fmt.Errorf("Executable path %s is not executable (check its mode and mount options). Abort", word)
	}
	return nil
}

// commandWritableBy says who besides root can change the program -c
// names, when we run as root and it is a path ("" otherwise): a root
// daemon that runs a file anyone can edit is a hole. The original did not
// check, so it is a warning, not an error.
func commandWritableBy(command string) string {
	fields := strings.Fields(command)
	if os.Geteuid() != 0 || len(fields) == 0 || !strings.Contains(fields[0], "/") {
		return ""
	}
	fi, err := os.Stat(fields[0])
	if err != nil {
		return ""
	}
	return config.WritableByOthers(fi)
}

// Package daemon implements our commands' -d: Go cannot fork, so the
// process re-executes itself (/proc/self/exe, the same argv) detached — a
// new session, stdio on /dev/null — and waits for the child to report
// that start-up worked or why it failed. Unlike the C originals' fork,
// the parent can then print a start-up error and exit 1 instead of leaving
// it in syslog only.
//
// The parent calls Start; the program, early, calls Child to learn whether
// it is the re-executed daemon, and reports through what Child returns.
// Both sides are the same binary, so the report's format is private.
//
// The implementation is Linux-only (daemon_linux.go), as our commands are.
package daemon

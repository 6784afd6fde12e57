package sensortest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Log collects a sensor's Logf lines (Config.Logf = log.Logf) for tests to
// look at while the sensor runs. The zero value is ready to use.
type Log struct {
	mu    sync.Mutex
	lines []string
}

// Logf records one line, without surrounding space.
func (l *Log) Logf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// Lines returns a copy of the lines so far.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// Len returns the number of lines so far: a mark for Wait.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// Count returns how many lines contain substr.
func (l *Log) Count(substr string) int {
	n := 0
	for _, s := range l.Lines() {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// String returns the lines joined by newlines, for failure messages.
func (l *Log) String() string { return strings.Join(l.Lines(), "\n") }

// Wait waits up to Patience until a line containing want is logged at or after
// line mark (a Len), and returns the line count just past it.
func (l *Log) Wait(t testing.TB, mark int, want string) int {
	t.Helper()
	deadline := time.Now().Add(Patience)
	for {
		lines := l.Lines()
		for i := mark; i < len(lines); i++ {
			if strings.Contains(lines[i], want) {
				return i + 1
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q; log:\n%s", want, strings.Join(lines, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

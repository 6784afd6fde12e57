//go:build !linux

package netns

import "errors"

// NS is a network namespace; there are none outside Linux.
type NS struct{}

// Open fails: network namespaces are Linux's.
func Open(path string) (*NS, error) {
	return nil, errors.New("network namespaces need Linux")
}

// Close does nothing.
func (n *NS) Close() error { return nil }

// Do runs fn: without namespaces there is only the caller's.
func (n *NS) Do(fn func() error) error { return fn() }

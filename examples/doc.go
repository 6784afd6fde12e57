// Package examples holds the recipes of this directory (shell scripts) and
// the tests that run each of them for real, tuninetd included, between two
// network namespaces.
package examples

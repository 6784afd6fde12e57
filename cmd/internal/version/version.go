// Package version holds the one version string every daemon of the
// multi-call binary prints for -v.
package version

// Version is the release; release builds override it with
// -ldflags "-X github.com/tuninetd/tuninetd/cmd/internal/version.Version=...".
var Version = "2.0.0"

//go:build !unix

package config

import "io/fs"

// WritableByOthers reports "others" for a world-writable file; other
// systems have no owner ids to compare.
func WritableByOthers(fi fs.FileInfo) string {
	if fi.Mode().Perm()&0o002 != 0 {
		return "others"
	}
	return ""
}

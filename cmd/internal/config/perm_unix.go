//go:build unix

package config

import (
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// WritableByOthers says who other than root and us can change the file fi
// describes: "others" (world-writable), "group N" (group-writable by a
// group other than root's), "user N" (owned by another user, who can
// chmod it), or "" when nobody else can. The daemons refuse such a
// configuration file and warn about such a command when running as root.
func WritableByOthers(fi fs.FileInfo) string {
	mode := fi.Mode().Perm()
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case mode&0o002 != 0:
		return "others"
	case !ok:
		return ""
	case mode&0o020 != 0 && st.Gid != 0:
		return "group " + strconv.FormatUint(uint64(st.Gid), 10)
	case st.Uid != 0 && int(st.Uid) != os.Geteuid():
		return "user " + strconv.FormatUint(uint64(st.Uid), 10)
	}
	return ""
}

package local

import (
	"io/fs"
	"syscall"
)

// fileID returns the inode number and status-change time (ns) of fi, or
// zeros when the platform does not report them.
func fileID(fi fs.FileInfo) (ino uint64, ctime int64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino, st.Ctimespec.Nano()
	}
	return 0, 0
}

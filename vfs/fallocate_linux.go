package vfs

import (
	"os"
	"syscall"
)

const fallocKeepSize = 1

func fallocate(f *os.File, mode uint32, off, length int64) error {
	if mode&^fallocKeepSize != 0 {
		return syscall.EOPNOTSUPP
	}
	return syscall.Fallocate(int(f.Fd()), mode, off, length)
}

//go:build !linux

package vfs

import (
	"os"
	"syscall"
)

func fallocate(f *os.File, mode uint32, off, length int64) error { return syscall.ENOTSUP }

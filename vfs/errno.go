package vfs

import (
	"context"
	"errors"
	"io/fs"
	"syscall"

	"github.com/ferry-fs/ferry/cache"
)

// Errno maps any error from the core to the errno the kernel sees. It is
// the one place where that mapping lives; both adapters call it.
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var en syscall.Errno
	switch {
	case cache.IsNoSpace(err):
		return syscall.ENOSPC
	case errors.Is(err, errOffline):
		// Whatever the network said (ECONNREFUSED, say), a read of a
		// file the remote cannot deliver is an I/O error.
		return syscall.EIO
	case errors.As(err, &en):
		return en
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, fs.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR
	}
	return syscall.EIO
}

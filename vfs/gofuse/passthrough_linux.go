package gofuse

import (
	"os"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

func registerBacking(srv *fuse.Server, f *os.File) (int32, syscall.Errno) {
	return srv.RegisterBackingFd(&fuse.BackingMap{Fd: int32(f.Fd())})
}

func unregisterBacking(srv *fuse.Server, id int32) { srv.UnregisterBackingFd(id) }

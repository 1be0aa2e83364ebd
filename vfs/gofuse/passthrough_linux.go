package gofuse

import (
	"os"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// killPrivV2: the file system clears setuid, setgid and security.capability
// itself; the kernel marks the mount SB_NOSEC and stops sending a GETXATTR
// of security.capability before each write to a file.
const killPrivV2 = fuse.CAP_HANDLE_KILLPRIV_V2

func registerBacking(srv *fuse.Server, f *os.File) (int32, syscall.Errno) {
	return srv.RegisterBackingFd(&fuse.BackingMap{Fd: int32(f.Fd())})
}

func unregisterBacking(srv *fuse.Server, id int32) { srv.UnregisterBackingFd(id) }

package gofuse

import (
	"os"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// killPrivV2 is a Linux capability.
const killPrivV2 = 0

// macOS has no FUSE passthrough: all I/O goes through ferry.
func registerBacking(*fuse.Server, *os.File) (int32, syscall.Errno) { return 0, syscall.ENOTSUP }

func unregisterBacking(*fuse.Server, int32) {}

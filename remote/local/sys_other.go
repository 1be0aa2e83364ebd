//go:build !linux && !darwin

package local

import (
	"io/fs"
	"os"
	"time"
)

// Without extended attributes, recorded hashes are not kept: Entry.Hash is
// always empty. Without a portable inode or ctime, versions rely on mtime and
// size alone, and the UTIME_OMIT/AT_SYMLINK_NOFOLLOW and directory fsync
// calls are skipped.

func readStamp(*os.File) []byte { return nil }

func writeStamp(*os.File, []byte) (bool, error) { return false, nil }

func lchtimes(*os.Root, string, time.Time) error { return nil }

func syncDir(*os.Root) error { return nil }

func fileID(fs.FileInfo) (ino uint64, ctime int64) { return 0, 0 }

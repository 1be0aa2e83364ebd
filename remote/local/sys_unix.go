//go:build linux || darwin

package local

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// hashAttr is the extended attribute that records ferry's hash of a file.
const hashAttr = "user.ferry.blake3"

// readStamp returns the hash stamp stored on f, or nil if there is none or
// the filesystem keeps no extended attributes.
func readStamp(f *os.File) []byte {
	buf := make([]byte, 256)
	n := -1
	c, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	c.Control(func(fd uintptr) {
		n, err = unix.Fgetxattr(int(fd), hashAttr, buf)
	})
	if err != nil || n < 0 {
		return nil
	}
	return buf[:n]
}

// writeStamp stores stamp on f. It reports false, without error, when the
// filesystem does not support extended attributes: the hash is a hint.
func writeStamp(f *os.File, stamp []byte) (bool, error) {
	c, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	if cerr := c.Control(func(fd uintptr) {
		err = unix.Fsetxattr(int(fd), hashAttr, stamp, 0)
	}); cerr != nil {
		return false, cerr
	}
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		return false, nil
	}
	return err == nil, err
}

// lchtimes sets the modification time of name in dir without following it
// when it is a symlink. The access time is set to the same value: darwin has
// no UTIME_OMIT in x/sys, and a link's access time carries nothing.
func lchtimes(dir *os.Root, name string, mtime time.Time) error {
	d, err := dir.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	c, err := d.SyscallConn()
	if err != nil {
		return err
	}
	t := unix.NsecToTimespec(mtime.UnixNano())
	ts := []unix.Timespec{t, t}
	if cerr := c.Control(func(fd uintptr) {
		err = unix.UtimesNanoAt(int(fd), name, ts, unix.AT_SYMLINK_NOFOLLOW)
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return &os.PathError{Op: "utimensat", Path: name, Err: err}
	}
	return nil
}

// syncDir flushes dir's entries to disk, so a rename or remove that has
// returned survives a crash.
func syncDir(dir *os.Root) error {
	d, err := dir.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

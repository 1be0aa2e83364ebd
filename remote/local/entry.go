package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/ferry-fs/ferry/remote"
)

// version derives the opaque version token of a file from its metadata.
// A Put renames a new inode over the target, and the status-change time
// moves on every write, rename and metadata change, so two versions with the
// same size and mtime still differ.
func version(fi fs.FileInfo) string {
	ino, ctime := fileID(fi)
	return fmt.Sprintf("%x-%x-%x-%x", fi.ModTime().UnixNano(), fi.Size(), ino, ctime)
}

// sameInode reports whether versions a and b are of one file unchanged but
// for its status-change time, which a rename moves on: the same mtime,
// size and inode.
func sameInode(a, b string) bool {
	return a[:max(strings.LastIndexByte(a, '-'), 0)] == b[:max(strings.LastIndexByte(b, '-'), 0)]
}

// entryOf describes the file at remote path p. Hash and Link are filled in
// by the caller, which has the directory open.
func entryOf(p string, fi fs.FileInfo) remote.Entry {
	e := remote.Entry{
		Path:    p,
		ModTime: fi.ModTime(),
		Mode:    fi.Mode() & (fs.ModePerm | fs.ModeDir | fs.ModeSymlink),
		Version: version(fi),
	}
	switch {
	case fi.IsDir():
		e.Dir = true
	case fi.Mode().IsRegular():
		e.Size = fi.Size()
	}
	return e
}

// supported reports whether fi is a kind of file the remote tree holds:
// regular files, directories and symlinks. Pipes, sockets and devices in the
// folder are not ferry's and are left alone.
func supported(fi fs.FileInfo) bool {
	return fi.Mode().IsRegular() || fi.IsDir() || fi.Mode()&fs.ModeSymlink != 0
}

// describe builds the full entry for name in dir: its hash when one is
// recorded and still matches the file, its target when it is a symlink.
func describe(dir *os.Root, p, name string, fi fs.FileInfo) (remote.Entry, error) {
	e := entryOf(p, fi)
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := dir.Readlink(name)
		if err != nil {
			return remote.Entry{}, err
		}
		e.Link = link
	case fi.Mode().IsRegular():
		e.Hash = storedHash(dir, name, fi)
	}
	return e, nil
}

// storedHash returns the hash recorded on the regular file name, or "".
// A file that cannot be opened simply has no hash: the hash is a hint.
func storedHash(dir *os.Root, name string, fi fs.FileInfo) string {
	f, err := dir.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	return hashOf(f, fi)
}

// hashOf returns the hash recorded on the open file f, if its stamp still
// matches fi.
func hashOf(f *os.File, fi fs.FileInfo) string {
	b := readStamp(f)
	if b == nil {
		return ""
	}
	return parseStamp(string(b), fi)
}

// A stamp is the extended attribute value "<hash> <size> <mtime ns>". The
// size and mtime pin the hash to the content it was computed for: a file
// edited in place behind ferry's back keeps its attributes, and must not
// keep claiming the old hash.
func stamp(hash string, fi fs.FileInfo) []byte {
	return fmt.Appendf(nil, "%s %d %d", hash, fi.Size(), fi.ModTime().UnixNano())
}

// parseStamp returns the hash in s if s is a well-formed stamp for fi.
func parseStamp(s string, fi fs.FileInfo) string {
	f := strings.Fields(s)
	if len(f) != 3 || checkHash(f[0]) != nil {
		return ""
	}
	size, err1 := strconv.ParseInt(f[1], 10, 64)
	mtime, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || size != fi.Size() || mtime != fi.ModTime().UnixNano() {
		return ""
	}
	return f[0]
}

// checkHash accepts the hex encoding of a hash.
func checkHash(h string) error {
	if len(h) == 0 || len(h) > 128 {
		return fmt.Errorf("hash of %d characters", len(h))
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return errors.New("hash is not lower-case hex")
		}
	}
	return nil
}

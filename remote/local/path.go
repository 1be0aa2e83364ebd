package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"
)

// tempPrefix starts the name of every temp file a write stages. Callers may
// not use names with this prefix: List hides them and Rmdir deletes stale ones.
const tempPrefix = ".ferry-tmp-"

// maxSegment is the longest file name, in bytes, most filesystems accept.
const maxSegment = 255

// ferryDir is the top-level name of ferry's private area (remote.Area).
// The tree methods neither show nor accept it.
const ferryDir = ".ferry"

// checkPath reports why p is not a valid remote path, or nil. The root ""
// is valid only when allowRoot is set.
func checkPath(p string, allowRoot bool) error {
	if p == "" {
		if allowRoot {
			return nil
		}
		return errors.New("empty path")
	}
	if err := checkSegments(p); err != nil {
		return err
	}
	if first, _, _ := strings.Cut(p, "/"); first == ferryDir {
		return fmt.Errorf("the top-level name %q is reserved", ferryDir)
	}
	return nil
}

// checkSegments reports why the non-empty p is not a clean relative
// slash-separated path of names ferry can use, or nil.
func checkSegments(p string) error {
	switch {
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("path contains NUL")
	case p[0] == '/' || filepath.IsAbs(p) || filepath.VolumeName(p) != "":
		return errors.New("path is absolute")
	case filepath.Separator != '/' && strings.ContainsRune(p, filepath.Separator):
		return fmt.Errorf("path contains %q", filepath.Separator)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if err := checkName(seg); err != nil {
			return fmt.Errorf("path %w", err)
		}
	}
	return nil
}

// checkName reports why name cannot be one segment of a path, or nil.
// Names that are not UTF-8 are refused like on S3: the journal and the
// change log carry paths as text.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("has an empty segment")
	case name == "." || name == "..":
		return fmt.Errorf("has a %q segment", name)
	case len(name) > maxSegment:
		return fmt.Errorf("segment is %d bytes, longer than %d", len(name), maxSegment)
	case strings.IndexByte(name, 0) >= 0:
		return errors.New("contains NUL")
	case !utf8.ValidString(name):
		return errors.New("is not valid UTF-8")
	case strings.HasPrefix(name, tempPrefix):
		return fmt.Errorf("has a name starting with %q, reserved for temp files", tempPrefix)
	}
	return nil
}

// split returns the parent directory and last segment of a valid path. The
// root splits into "" and ".", so that methods of the opened parent address
// the root directory itself.
func split(p string) (dir, base string) {
	if p == "" {
		return "", "."
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// join returns the path of the child name of dir.
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// openDir opens the directory dir below the folder, one segment at a time.
// With create, missing directories are made (mode 0755). A segment that is a
// symlink fails with an error wrapping remote.ErrPermanent; one that is a
// file fails with ENOTDIR and a missing one with ENOENT, for the caller to
// classify. os.Root keeps every step inside the folder even if the tree is
// changed concurrently; the Lstat checks only decide which error to report.
func (l *Local) openDir(op, p, dir string, create bool) (*os.Root, error) {
	cur, err := l.openRoot(op, p)
	if err != nil || dir == "" {
		return cur, err
	}
	for seg := range strings.SplitSeq(dir, "/") {
		next, err := openChild(cur, seg, create)
		cur.Close()
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

// openChild opens the directory name in parent, creating it if asked.
func openChild(parent *os.Root, name string, create bool) (*os.Root, error) {
	fi, err := parent.Lstat(name)
	if create && errors.Is(err, fs.ErrNotExist) {
		err = parent.Mkdir(name, 0o755)
		if err == nil || errors.Is(err, fs.ErrExist) {
			fi, err = parent.Lstat(name)
		}
	}
	switch {
	case err != nil:
		return nil, err
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, errSymlinkParent
	case !fi.IsDir():
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ENOTDIR}
	}
	return parent.OpenRoot(name)
}

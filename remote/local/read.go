package local

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/ferry-fs/ferry/remote"
)

// listBatch is how many directory entries List reads per call to ReadDir.
const listBatch = 256

// Stat returns the entry at p. The root "" is a directory. Pipes, sockets
// and devices fail with an error wrapping remote.ErrPermanent.
func (l *Local) Stat(ctx context.Context, p string) (remote.Entry, error) {
	const op = "stat"
	if err := start(ctx, op, p, true); err != nil {
		return remote.Entry{}, err
	}
	dir, base := split(p)
	parent, err := l.openDir(op, p, dir, false)
	if err != nil {
		return remote.Entry{}, fail(op, p, err, reading)
	}
	defer parent.Close()
	fi, err := parent.Lstat(base)
	if err != nil {
		return remote.Entry{}, fail(op, p, err, reading)
	}
	if !supported(fi) {
		return remote.Entry{}, invalid(op, p, errors.New("not a regular file, directory or symlink"))
	}
	e, err := describe(parent, p, base, fi)
	return e, fail(op, p, err, reading)
}

// List calls fn for each immediate child of dir. Temp files of writes in
// progress and files of unsupported kinds are skipped. A dir that is missing,
// or is a file, yields remote.ErrNotFound; a symlink yields
// remote.ErrPermanent.
func (l *Local) List(ctx context.Context, dir string, fn func(remote.Entry) error) error {
	const op = "list"
	if err := start(ctx, op, dir, true); err != nil {
		return err
	}
	d, err := l.openDir(op, dir, dir, false)
	if err != nil {
		return fail(op, dir, err, reading)
	}
	defer d.Close()
	return readDir(ctx, op, dir, d, func(name string) error {
		e, ok, err := l.child(d, dir, name)
		if err != nil {
			return fail(op, join(dir, name), err, reading)
		}
		if !ok {
			return nil
		}
		return fn(e)
	})
}

// child describes the entry name of the directory d at remote path dir. It
// reports false for names List hides and for files removed since ReadDir.
func (l *Local) child(d *os.Root, dir, name string) (remote.Entry, bool, error) {
	if !l.shown(dir, name) {
		return remote.Entry{}, false, nil
	}
	fi, err := d.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return remote.Entry{}, false, nil
	}
	if err != nil {
		return remote.Entry{}, false, err
	}
	if !supported(fi) {
		return remote.Entry{}, false, nil
	}
	e, err := describe(d, join(dir, name), name, fi)
	if errors.Is(err, fs.ErrNotExist) {
		return remote.Entry{}, false, nil
	}
	return e, err == nil, err
}

// shown reports whether List shows the name in dir, recording names ferry
// cannot represent as skipped. Temp files and the area are ferry's own.
func (l *Local) shown(dir, name string) bool {
	switch {
	case dir == "" && name == ferryDir, strings.HasPrefix(name, tempPrefix):
		return false
	case checkName(name) != nil:
		l.skip(join(dir, name))
		return false
	}
	return true
}

// Get opens the regular file at p for reading length bytes from off
// (length < 0: to the end). An offset at or past the end yields no bytes.
// The reader keeps the version that was current when Get was called, even if
// the file is replaced while it is read. A version other than the current
// one yields remote.ErrPrecondition.
func (l *Local) Get(ctx context.Context, p string, off, length int64, ver string) (io.ReadCloser, error) {
	const op = "get"
	if err := start(ctx, op, p, false); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, invalid(op, p, errors.New("negative offset"))
	}
	dir, base := split(p)
	parent, err := l.openDir(op, p, dir, false)
	if err != nil {
		return nil, fail(op, p, err, reading)
	}
	defer parent.Close()
	fi, err := parent.Lstat(base)
	if err != nil {
		return nil, fail(op, p, err, reading)
	}
	if !fi.Mode().IsRegular() {
		return nil, invalid(op, p, errors.New("not a regular file"))
	}
	f, err := parent.Open(base)
	if err != nil {
		return nil, fail(op, p, err, reading)
	}
	if err := sameFile(f, fi); err != nil {
		f.Close()
		return nil, fail(op, p, err, reading)
	}
	if ver != "" && ver != version(fi) {
		f.Close()
		return nil, precondition(op, p, "the file changed")
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, fail(op, p, err, reading)
	}
	if length < 0 {
		return f, nil
	}
	return &rangeReader{Reader: io.LimitReader(f, length), Closer: f}, nil
}

// rangeReader reads a range of a file and closes the file.
type rangeReader struct {
	io.Reader
	io.Closer
}

// errReplaced is a transient failure: the file changed between the checks
// and the open, and a retry sees the new state.
var errReplaced = errors.New("replaced while being opened")

// sameFile checks that the open f is the file Lstat described as fi, and not
// something swapped in since (os.Root would follow a symlink put there).
func sameFile(f *os.File, fi fs.FileInfo) error {
	got, err := f.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(got, fi) {
		return errReplaced
	}
	return nil
}

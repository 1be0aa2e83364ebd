package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// Delete removes the file or symlink at p. A missing p, or one below a
// missing directory, is not an error, with or without cond.IfMatch: a retry
// of a delete that succeeded must succeed. A directory is refused with
// remote.ErrPermanent (use Rmdir).
//
// With cond.IfMatch, the file is not removed but moved into the area, as
// trash/<YYYY-MM-DD>/<p> (see trash), like on S3: a conditional delete is
// ferry deleting what it believes is its own, and a mistake must be
// recoverable with RestoreArea.
func (l *Local) Delete(ctx context.Context, p string, cond remote.Cond) error {
	const op = "delete"
	if err := start(ctx, op, p, false); err != nil {
		return err
	}
	dir, base := split(p)
	parent, err := l.openDir(op, p, dir, false)
	if err = fail(op, p, err, reading); errors.Is(err, remote.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	defer parent.Close()

	l.mu.Lock()
	defer l.mu.Unlock()
	fi, err := parent.Lstat(base)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fail(op, p, err, writing)
	case fi.IsDir():
		return invalid(op, p, errors.New("is a directory"))
	case cond.IfMatch != "" && version(fi) != cond.IfMatch:
		return precondition(op, p, "version is "+version(fi)+", not "+cond.IfMatch)
	case cond.IfMatch != "":
		if err := l.trash(op, p, time.Now()); err != nil {
			return err
		}
		return fail(op, p, syncDir(parent), writing)
	}
	if err := parent.Remove(base); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(op, p, err, writing)
	}
	return fail(op, p, syncDir(parent), writing)
}

// Rename moves the file, symlink or directory tree at from to to, creating
// the parents of to. It replaces a file or symlink at to, and an empty
// directory when from is a directory. A non-empty directory at to fails
// with remote.ErrPermanent. If from is missing but to exists, an earlier
// call is taken to have completed and Rename returns nil.
func (l *Local) Rename(ctx context.Context, from, to string) error {
	return l.rename(ctx, from, to, "", remote.Cond{})
}

// RenameIf implements remote.Conditional.
func (l *Local) RenameIf(ctx context.Context, from, to, ifMatch string, dst remote.Cond) error {
	return l.rename(ctx, from, to, ifMatch, dst)
}

func (l *Local) rename(ctx context.Context, from, to, want string, dst remote.Cond) error {
	const op = "rename"
	if err := start(ctx, op, from, false); err != nil {
		return err
	}
	if err := start(ctx, op, to, false); err != nil {
		return err
	}
	if strings.HasPrefix(to, from+"/") {
		return invalid(op, from, errors.New("cannot move a directory into itself: "+to))
	}
	top, err := l.openRoot(op, from)
	if err != nil {
		return err
	}
	defer top.Close()
	dir, base := split(to)

	l.mu.Lock()
	defer l.mu.Unlock()
	sfi, err := l.lstat(op, from)
	if errors.Is(err, fs.ErrNotExist) {
		if tfi, terr := l.lstat(op, to); terr == nil {
			if want != "" && !sameInode(version(tfi), want) {
				// Not the file the move was pinned to: from was deleted,
				// not moved, and what is at to is another file.
				return precondition(op, from, "does not exist")
			}
			return nil // an earlier call completed the move
		}
		return notFound(op, from)
	}
	if err != nil {
		return fail(op, from, err, reading)
	}
	if want != "" && version(sfi) != want {
		return precondition(op, from, "version is "+version(sfi)+", not "+want)
	}
	if dst != (remote.Cond{}) {
		tfi, err := l.lstat(op, to)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if dst.IfMatch != "" {
				return precondition(op, to, "does not exist")
			}
		case err != nil:
			return fail(op, to, err, reading)
		case dst.IfNoneMatch:
			return precondition(op, to, "exists")
		case version(tfi) != dst.IfMatch:
			return precondition(op, to, "version is "+version(tfi)+", not "+dst.IfMatch)
		}
	}
	if to == from {
		return nil
	}
	parent, err := l.openDir(op, to, dir, true)
	if err != nil {
		return fail(op, to, err, writing)
	}
	defer parent.Close()
	if tfi, err := parent.Lstat(base); err == nil && tfi.IsDir() {
		if !sfi.IsDir() {
			return invalid(op, to, errors.New("is a directory"))
		}
		// os.Rename refuses to replace a directory; POSIX rename replaces
		// an empty one. Remove it first: a retry after a crash in between
		// finds from still present and to gone, and completes the move.
		if err := parent.Remove(base); err != nil {
			return fail(op, to, err, writing)
		}
	}
	// Both parents have just been checked to contain no symlinks, and top
	// keeps the move inside the folder whatever changes concurrently.
	if err := top.Rename(from, to); err != nil {
		return fail(op, from, err, writing)
	}
	// On journaling filesystems (ext4, XFS) one rename is one transaction,
	// so syncing either directory makes both sides of the move durable.
	return fail(op, to, syncDir(parent), writing)
}

// lstat describes the entry at p without following it, returning
// fs.ErrNotExist also when a parent is missing or is a file.
func (l *Local) lstat(op, p string) (fs.FileInfo, error) {
	dir, base := split(p)
	d, err := l.openDir(op, p, dir, false)
	if err == nil {
		defer d.Close()
		var fi fs.FileInfo
		if fi, err = d.Lstat(base); err == nil {
			return fi, nil
		}
	}
	if errors.Is(fail(op, p, err, reading), remote.ErrNotFound) {
		return nil, fs.ErrNotExist
	}
	return nil, err
}

// Mkdir creates the directory p and its missing parents (mode 0755), then
// gives p meta's mtime and permission bits where set. An existing directory
// is fine; a file or symlink in the way is remote.ErrPermanent.
func (l *Local) Mkdir(ctx context.Context, p string, meta remote.Meta) error {
	const op = "mkdir"
	if err := start(ctx, op, p, true); err != nil {
		return err
	}
	d, err := l.openDir(op, p, p, true)
	if err != nil {
		return fail(op, p, err, writing)
	}
	if err := d.Close(); err != nil || p == "" || (meta.ModTime.IsZero() && meta.Mode.Perm() == 0) {
		return err
	}
	return l.setMeta(ctx, p, meta, "")
}

// Rmdir removes the empty directory p. A missing p is not an error. Temp
// files left in it by a crashed write (unchanged for a minute) are removed
// first; anything else in it makes Rmdir fail with remote.ErrPermanent and
// leaves the directory alone.
func (l *Local) Rmdir(ctx context.Context, p string) error {
	const op = "rmdir"
	if err := start(ctx, op, p, false); err != nil {
		return err
	}
	dir, base := split(p)
	parent, err := l.openDir(op, p, dir, false)
	if err = fail(op, p, err, reading); errors.Is(err, remote.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	defer parent.Close()
	fi, err := parent.Lstat(base)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fail(op, p, err, writing)
	case !fi.IsDir():
		return invalid(op, p, errors.New("not a directory"))
	}
	if err := l.removeStaleTemps(parent, base); err != nil {
		return fail(op, p, err, writing)
	}
	err = parent.Remove(base)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(op, p, err, writing)
	}
	return fail(op, p, syncDir(parent), writing)
}

// removeStaleTemps removes the temp files in parent/name that have not
// changed for l.staleAfter. A write in progress keeps touching its temp file
// (the status-change time moves with every write and with the final chmod
// and chtimes), so only an abandoned one ages.
func (l *Local) removeStaleTemps(parent *os.Root, name string) error {
	d, err := parent.OpenRoot(name)
	if err != nil {
		return err
	}
	defer d.Close()
	f, err := d.Open(".")
	if err != nil {
		return err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, n := range names {
		if !strings.HasPrefix(n, tempPrefix) {
			continue
		}
		fi, err := d.Lstat(n)
		if err != nil {
			continue // gone already
		}
		if now.Sub(changed(fi)) >= l.staleAfter {
			if err := d.Remove(n); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// changed returns when fi last changed: its status-change time where the
// platform reports one, else its modification time.
func changed(fi fs.FileInfo) time.Time {
	if _, ctime := fileID(fi); ctime != 0 {
		return time.Unix(0, ctime)
	}
	return fi.ModTime()
}

// SetMeta sets the permission bits (unless meta.Mode has none) and the
// modification time (unless zero) of the file or directory at p, or the
// modification time of the symlink at p. A recorded hash is kept. A missing
// p is remote.ErrNotFound.
func (l *Local) SetMeta(ctx context.Context, p string, meta remote.Meta) error {
	return l.setMeta(ctx, p, meta, "")
}

// SetMetaIf implements remote.Conditional.
func (l *Local) SetMetaIf(ctx context.Context, p string, meta remote.Meta, ifMatch string) error {
	return l.setMeta(ctx, p, meta, ifMatch)
}

func (l *Local) setMeta(ctx context.Context, p string, meta remote.Meta, want string) error {
	const op = "setmeta"
	if err := start(ctx, op, p, true); err != nil {
		return err
	}
	dir, base := split(p)
	parent, err := l.openDir(op, p, dir, false)
	if err != nil {
		return fail(op, p, err, reading)
	}
	defer parent.Close()

	l.mu.Lock()
	defer l.mu.Unlock()
	fi, err := parent.Lstat(base)
	if err != nil {
		if want != "" && errors.Is(err, fs.ErrNotExist) {
			return precondition(op, p, "does not exist")
		}
		return fail(op, p, err, reading)
	}
	if want != "" && version(fi) != want {
		return precondition(op, p, "version is "+version(fi)+", not "+want)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if meta.ModTime.IsZero() {
			return nil
		}
		return fail(op, p, lchtimes(parent, base, meta.ModTime), writing)
	}
	hash := ""
	if fi.Mode().IsRegular() {
		hash = storedHash(parent, base, fi)
	}
	if perm := meta.Mode.Perm(); perm != 0 && perm != fi.Mode().Perm() {
		if err := parent.Chmod(base, perm); err != nil {
			return fail(op, p, err, writing)
		}
	}
	if !meta.ModTime.IsZero() {
		if err := parent.Chtimes(base, time.Time{}, meta.ModTime); err != nil {
			return fail(op, p, err, writing)
		}
	}
	if hash != "" {
		return fail(op, p, restamp(parent, base, hash), writing)
	}
	return nil
}

// restamp records hash again on the unchanged content of name, whose
// modification time has moved.
func restamp(dir *os.Root, name, hash string) error {
	f, err := dir.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = writeStamp(f, stamp(hash, fi))
	return err
}

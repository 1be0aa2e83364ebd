package local

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// defaultPerm is the mode of a file put without permission bits.
const defaultPerm fs.FileMode = 0o644

// Put stores size bytes from r as the file at p (size < 0: everything up to
// EOF). Bytes r holds beyond size are not read. A reader that ends early or
// fails abandons the put; its error is returned wrapped and unclassified, so
// the caller decides whether to retry. meta.Mode's permission bits (0644 when
// zero) and meta.ModTime (now when zero) are applied; meta.Hash (lower-case
// hex) is recorded in an extended attribute when the filesystem has them.
// With meta.Link set, a symlink is stored instead and r is not read.
//
// Missing parent directories are created before the content is staged and
// stay if the put then fails; the file itself is never partly written.
func (l *Local) Put(ctx context.Context, p string, r io.Reader, size int64, meta remote.Meta, cond remote.Cond) (remote.Entry, error) {
	const op = "put"
	if err := start(ctx, op, p, false); err != nil {
		return remote.Entry{}, err
	}
	if meta.Hash != "" && meta.Link == "" {
		if err := checkHash(meta.Hash); err != nil {
			return remote.Entry{}, invalid(op, p, err)
		}
	}
	dir, base := split(p)
	// With IfMatch the file must exist, so its directory must too: do not
	// create directories for a put that is bound to fail.
	create := cond.IfMatch == ""
	parent, err := l.openDir(op, p, dir, create)
	if err != nil {
		if !create && errors.Is(fail(op, p, err, reading), remote.ErrNotFound) {
			return remote.Entry{}, precondition(op, p, "does not exist")
		}
		return remote.Entry{}, fail(op, p, err, writing)
	}
	defer parent.Close()

	var s staged
	if meta.Link != "" {
		s, err = stageLink(parent, meta.Link, meta.ModTime)
	} else {
		perm := meta.Mode.Perm()
		if perm == 0 {
			perm = defaultPerm
		}
		src := &source{ctx: ctx, r: r}
		s, err = stageFile(parent, src, size, perm, meta.ModTime, meta.Hash)
		if src.err != nil {
			if err == nil {
				// The source failed with its last bytes: io.CopyN has
				// no error to report, but the content is not good.
				parent.Remove(s.name)
			}
			return remote.Entry{}, fmt.Errorf("%s %q: read source: %w", op, p, src.err)
		}
	}
	if err != nil {
		return remote.Entry{}, fail(op, p, err, writing)
	}
	return l.commit(ctx, op, p, parent, s, base, cond)
}

// Copy duplicates the file or symlink at from as to, keeping its mode,
// modification time and recorded hash.
func (l *Local) Copy(ctx context.Context, from, to string) (remote.Entry, error) {
	const op = "copy"
	if err := start(ctx, op, from, false); err != nil {
		return remote.Entry{}, err
	}
	if err := start(ctx, op, to, false); err != nil {
		return remote.Entry{}, err
	}
	sdir, sbase := split(from)
	sparent, err := l.openDir(op, from, sdir, false)
	if err != nil {
		return remote.Entry{}, fail(op, from, err, reading)
	}
	defer sparent.Close()
	fi, err := sparent.Lstat(sbase)
	if err != nil {
		return remote.Entry{}, fail(op, from, err, reading)
	}
	isLink := fi.Mode()&fs.ModeSymlink != 0
	if !isLink && !fi.Mode().IsRegular() {
		return remote.Entry{}, invalid(op, from, errors.New("not a regular file or symlink"))
	}
	dir, base := split(to)
	parent, err := l.openDir(op, to, dir, true)
	if err != nil {
		return remote.Entry{}, fail(op, to, err, writing)
	}
	defer parent.Close()

	var s staged
	if isLink {
		link, err := sparent.Readlink(sbase)
		if err != nil {
			return remote.Entry{}, fail(op, from, err, reading)
		}
		s, err = stageLink(parent, link, fi.ModTime())
		if err != nil {
			return remote.Entry{}, fail(op, to, err, writing)
		}
	} else {
		f, err := sparent.Open(sbase)
		if err != nil {
			return remote.Entry{}, fail(op, from, err, reading)
		}
		defer f.Close()
		if err := sameFile(f, fi); err != nil {
			return remote.Entry{}, fail(op, from, err, reading)
		}
		src := &source{ctx: ctx, r: f}
		s, err = stageFile(parent, src, fi.Size(), fi.Mode().Perm(), fi.ModTime(), hashOf(f, fi))
		if src.err != nil {
			return remote.Entry{}, fail(op, from, src.err, reading)
		}
		if err != nil {
			return remote.Entry{}, fail(op, to, err, writing)
		}
	}
	return l.commit(ctx, op, to, parent, s, base, remote.Cond{})
}

// staged is a temp file, complete and synced, waiting to be renamed over
// its target.
type staged struct {
	name string // in the target's directory
	hash string // the hash recorded on it, if any
	link string // the symlink target, if it is a symlink
}

// commit renames s over base in parent if cond holds, and describes the
// result. On any failure the temp file is removed and the target is left as
// it was.
func (l *Local) commit(ctx context.Context, op, p string, parent *os.Root, s staged, base string, cond remote.Cond) (remote.Entry, error) {
	if err := l.replace(ctx, op, p, parent, s, base, cond); err != nil {
		parent.Remove(s.name)
		return remote.Entry{}, err
	}
	// Outside l.mu, so that concurrent puts share the filesystem's commits.
	if err := syncDir(parent); err != nil {
		return remote.Entry{}, fail(op, p, err, writing)
	}
	fi, err := parent.Lstat(base)
	if err != nil {
		return remote.Entry{}, fail(op, p, err, writing)
	}
	e := entryOf(p, fi)
	e.Hash, e.Link = s.hash, s.link
	return e, nil
}

// replace checks cond and renames s over base, atomically with respect to
// the other writers of this process.
func (l *Local) replace(ctx context.Context, op, p string, parent *os.Root, s staged, base string, cond remote.Cond) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkTarget(op, p, parent, base, cond); err != nil {
		return err
	}
	err := parent.Rename(s.name, base)
	if errors.Is(err, fs.ErrNotExist) {
		// Only the temp file can be missing: another process took it
		// for stale. Nothing changed; a retry stages a new one.
		err = errors.New("temp file removed before rename")
	}
	return fail(op, p, err, writing)
}

// checkTarget returns an error if base in parent may not be replaced: it is
// a directory, or cond does not hold (ErrPrecondition). The caller holds l.mu.
func checkTarget(op, p string, parent *os.Root, base string, cond remote.Cond) error {
	fi, err := parent.Lstat(base)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if cond.IfMatch != "" {
			return precondition(op, p, "does not exist")
		}
		return nil
	case err != nil:
		return fail(op, p, err, writing)
	case cond.IfNoneMatch:
		return precondition(op, p, "already exists")
	case cond.IfMatch != "" && version(fi) != cond.IfMatch:
		return precondition(op, p, "version is "+version(fi)+", not "+cond.IfMatch)
	case fi.IsDir():
		return invalid(op, p, errors.New("is a directory"))
	}
	return nil
}

// stageFile writes size bytes of src to a new temp file in dir with the given
// permissions, modification time (unless zero) and hash (unless empty), and
// syncs it. On failure nothing is left behind.
func stageFile(dir *os.Root, src io.Reader, size int64, perm fs.FileMode, mtime time.Time, hash string) (s staged, err error) {
	name := tempName()
	f, err := dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return staged{}, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			dir.Remove(name)
			s = staged{}
		}
	}()
	s.name = name
	if size < 0 {
		_, err = io.Copy(f, src)
	} else if _, err = io.CopyN(f, src, size); errors.Is(err, io.EOF) {
		err = fmt.Errorf("source ended before %d bytes: %w", size, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return staged{}, err
	}
	if err := f.Chmod(perm); err != nil {
		return staged{}, err
	}
	if !mtime.IsZero() {
		if err := dir.Chtimes(name, time.Time{}, mtime); err != nil {
			return staged{}, err
		}
	}
	if hash != "" {
		fi, err := f.Stat()
		if err != nil {
			return staged{}, err
		}
		ok, err := writeStamp(f, stamp(hash, fi))
		if err != nil {
			return staged{}, err
		}
		if ok {
			s.hash = hash
		}
	}
	return s, f.Sync()
}

// stageLink creates a temp symlink to target in dir.
func stageLink(dir *os.Root, target string, mtime time.Time) (staged, error) {
	s := staged{name: tempName(), link: target}
	if err := dir.Symlink(target, s.name); err != nil {
		return staged{}, err
	}
	if !mtime.IsZero() {
		if err := lchtimes(dir, s.name, mtime); err != nil {
			dir.Remove(s.name)
			return staged{}, err
		}
	}
	return s, nil
}

// tempName returns a fresh, unguessable temp file name.
func tempName() string {
	return tempPrefix + rand.Text()
}

// source reads a Put's content, stopping when ctx is cancelled, and keeps
// the error it returned so that it is not mistaken for a write failure.
type source struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (s *source) Read(b []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		s.err = err
		return 0, err
	}
	n, err := s.r.Read(b)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

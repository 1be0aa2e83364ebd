package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-fs/ferry/remote"
)

// Rename moves the file, symlink or directory tree at from to to. S3 has no
// rename: each object is copied on the server, then deleted (the delete
// pinned with If-Match to the version copied, where the server supports
// it). A directory's objects move in parallel. A file replaces a file or
// symlink at to, but not a directory; a directory is merged into a
// directory at to (S3 cannot tell that apart from a half-done move), and
// refuses a file there.
//
// The parent of from stays, with a marker if it would be left empty.
//
// Interrupted, a move leaves each object at from or at to, never lost;
// calling Rename again moves what is left, and finds the move done when
// from is gone and to exists.
func (r *Remote) Rename(ctx context.Context, from, to string) error {
	const op = "rename"
	if err := r.start(ctx, op, from, false); err != nil {
		return err
	}
	if err := r.start(ctx, op, to, false); err != nil {
		return err
	}
	if strings.HasPrefix(to, from+"/") {
		return invalid(op, r.key(from), errors.New("cannot move a directory into itself: "+to))
	}
	for try := 1; ; try++ {
		err := r.rename(ctx, op, from, to, "", remote.Cond{})
		if !errors.Is(err, remote.ErrPrecondition) || try == setMetaTries {
			return err
		}
	}
}

// RenameIf implements remote.Conditional for files. A condition on the
// destination, which MinIO ignores on CopyObject, makes the copy a read and
// a conditional put, or a multipart copy for a large file (see copyIf).
func (r *Remote) RenameIf(ctx context.Context, from, to, ifMatch string, dst remote.Cond) error {
	const op = "rename"
	if err := r.start(ctx, op, from, false); err != nil {
		return err
	}
	if err := r.start(ctx, op, to, false); err != nil {
		return err
	}
	if _, err := r.head(ctx, op, r.key(from)); errors.Is(err, remote.ErrNotFound) {
		// An earlier call completed the move only if to holds the version
		// moved: anything else there is what the move was to replace, or
		// someone else's, and from was deleted, not moved.
		if e, terr := r.Stat(ctx, to); terr == nil && !e.Dir && trimETag(e.Version) == trimETag(ifMatch) {
			// It may have stopped between its tombstone and its delete.
			return r.clearTombstone(ctx, op, r.key(from), ifMatch)
		}
		return precondition(op, r.key(from), "does not exist")
	} else if err != nil {
		return err
	}
	// The copy is pinned to ifMatch: a write in between fails it.
	return r.rename(ctx, op, from, to, ifMatch, dst)
}

// rename makes one attempt at Rename. A source object that changed while
// being moved fails it with remote.ErrPrecondition.
// A non-empty pin moves a file only if it still has that version.
func (r *Remote) rename(ctx context.Context, op, from, to, pin string, dst remote.Cond) error {
	src, err := r.Stat(ctx, from)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		if e, terr := r.Stat(ctx, to); terr == nil && (pin == "" || trimETag(e.Version) == trimETag(pin)) {
			return nil // an earlier call completed the move
		} else if terr != nil && !errors.Is(terr, remote.ErrNotFound) {
			return terr
		}
		return notFound(op, r.key(from))
	case err != nil:
		return err
	case from == to:
		return nil
	case src.Dir:
		return r.renameDir(ctx, op, from, to)
	}
	if _, isDir, err := r.statDir(ctx, op, to); err != nil {
		return err
	} else if isDir {
		return invalid(op, r.key(to), errors.New("is a directory"))
	}
	_, err = r.copyFile(ctx, op, from, to, true, pin, dst)
	return err
}

// renameDir moves every object below from/ to the same place below to/.
// Each copy is pinned to the version listed, and each source is deleted
// only if it still is that version (deleteVersion): a file written on
// another device while the directory moves fails the attempt, and the next
// one moves the new version, so it ends up in the renamed directory.
func (r *Remote) renameDir(ctx context.Context, op, from, to string) error {
	fk, tk := r.dirKey(from), r.dirKey(to)
	for _, k := range []string{r.key(to), r.linkKey(to)} {
		if _, err := r.head(ctx, op, k); err == nil {
			return invalid(op, k, errors.New("a file is in the way of a directory"))
		} else if !errors.Is(err, remote.ErrNotFound) {
			return err
		}
	}
	objs, err := r.listAll(ctx, op, fk)
	if err != nil {
		return err
	}
	if _, err := r.keepParent(ctx, op, from); err != nil {
		return err
	}
	for _, o := range objs {
		if n := len(tk) + len(o.key) - len(fk); n > maxKeyLen {
			return invalid(op, o.key, fmt.Errorf("moved, its key would be %d bytes, longer than S3's %d", n, maxKeyLen))
		}
	}
	return parallel(ctx, listConcurrency, len(objs), func(ctx context.Context, i int) error {
		o := objs[i]
		file := !strings.HasSuffix(o.key, "/") && !strings.HasSuffix(o.key, linkSuffix)
		if file {
			// A tombstone, left by a delete (or an earlier attempt) that
			// stopped before its last request, is not moved but removed.
			if tomb, err := r.clearStale(ctx, op, o); tomb || err != nil {
				return err
			}
		}
		_, err := r.copyObject(ctx, op, o.key, tk+o.key[len(fk):], object{size: o.size, etag: o.etag}, nil, o.etag)
		if errors.Is(err, remote.ErrNotFound) {
			return nil // moved meanwhile
		}
		if err != nil {
			return err
		}
		// Only the version copied: one written since fails the rename
		// (ErrPrecondition), and Rename's next attempt moves it too.
		return r.deleteVersion(ctx, op, o.key, o.etag, file)
	})
}

package s3

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ferry-fs/ferry/remote"
)

// describeBatch is how many children List describes (HEAD requests, in
// parallel) before handing them to fn.
const describeBatch = 1000

// child is one name in a listed directory and the keys that claim it.
type child struct {
	fileKey string // the object of a regular file, or ""
	linkKey string // the object of a symlink (name.rclonelink), or ""
	dir     bool   // a key prefix name/ (with or without a marker)
}

// List calls fn for each immediate child of dir, in name order. It pages
// through ListObjectsV2 with the delimiter "/" and then reads each file's
// metadata with HEAD (the listing carries no user metadata), so that
// entries have the recorded mtime, mode and hash. A dir with no key under
// it yields remote.ErrNotFound.
//
// Keys the mount cannot represent are skipped, logged once and reported by
// Skipped: names that are empty, "." or "..", longer than 255 bytes, or hold
// NUL or invalid UTF-8; a file or symlink next to a directory of the same
// name (the directory wins); a symlink next to a file of the same name (the
// file wins, as in Stat).
func (r *Remote) List(ctx context.Context, dir string, fn func(remote.Entry) error) error {
	const op = "list"
	if err := r.start(ctx, op, dir, true); err != nil {
		return err
	}
	kids, found, err := r.children(ctx, op, dir)
	if err != nil {
		return err
	}
	if !found && dir != "" {
		return notFound(op, r.dirKey(dir))
	}
	names := make([]string, 0, len(kids))
	for name := range kids {
		names = append(names, name)
	}
	sort.Strings(names)
	for len(names) > 0 {
		batch := names[:min(len(names), describeBatch)]
		names = names[len(batch):]
		entries := make([]remote.Entry, len(batch))
		ok := make([]bool, len(batch))
		err := parallel(ctx, listConcurrency, len(batch), func(ctx context.Context, i int) error {
			var err error
			entries[i], ok[i], err = r.childEntry(ctx, op, join(dir, batch[i]), kids[batch[i]])
			return err
		})
		if err != nil {
			return err
		}
		for i, e := range entries {
			if !ok[i] {
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// childEntry returns the entry for the child at p. It reports false for a
// child deleted since the listing, or whose symlink is unreadable.
func (r *Remote) childEntry(ctx context.Context, op, p string, k *child) (remote.Entry, bool, error) {
	switch {
	case k.dir:
		return dirEntry(p, nil), true, nil
	case k.fileKey != "":
		o, err := r.head(ctx, op, k.fileKey)
		if errors.Is(err, remote.ErrNotFound) {
			return remote.Entry{}, false, nil
		}
		return fileEntry(p, o), err == nil, err
	}
	return r.linkChild(ctx, op, p, k.linkKey)
}

// linkChild reads the listed symlink object key for the entry at p. It
// reports false for a symlink deleted since the listing, and for one whose
// target cannot be read, which it records as skipped.
func (r *Remote) linkChild(ctx context.Context, op, p, key string) (remote.Entry, bool, error) {
	o, target, err := r.readLink(ctx, op, key)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		return remote.Entry{}, false, nil
	case errors.Is(err, remote.ErrPermanent):
		r.skip(key, describe(err))
		return remote.Entry{}, false, nil
	}
	return linkEntry(p, o, target), err == nil, err
}

// children pages through the keys directly below dir and sorts them into
// children by name, skipping the keys the mount cannot represent. found
// reports whether there was any key below dir at all.
func (r *Remote) children(ctx context.Context, op, dir string) (kids map[string]*child, found bool, err error) {
	dk := r.dirKey(dir)
	kids = map[string]*child{}
	get := func(name string) *child {
		k := kids[name]
		if k == nil {
			k = &child{}
			kids[name] = k
		}
		return k
	}
	var token *string
	for {
		pg, err := r.listPage(ctx, op, dk, "/", 0, token)
		if err != nil {
			return nil, false, err
		}
		for _, o := range pg.objects {
			found = true
			rest := o.key[len(dk):]
			if rest == "" {
				continue // the directory's own marker
			}
			name, isLink := strings.CutSuffix(rest, linkSuffix)
			if err := checkChild(dir, name); err != nil {
				r.skip(o.key, err.Error())
				continue
			}
			if isLink {
				get(name).linkKey = o.key
			} else {
				get(name).fileKey = o.key
			}
		}
		for _, cp := range pg.prefixes {
			found = true
			name := strings.TrimSuffix(cp[len(dk):], "/")
			if dir == "" && name == ferryDir {
				continue // ferry's own
			}
			if err := checkName(name); err != nil {
				r.skip(cp, "name "+err.Error())
				continue
			}
			get(name).dir = true
		}
		if token = pg.next; token == nil {
			break
		}
	}
	for _, k := range kids {
		if k.dir && k.fileKey != "" {
			r.skip(k.fileKey, whyDirWins)
			k.fileKey = ""
		}
		if (k.dir || k.fileKey != "") && k.linkKey != "" {
			r.skip(k.linkKey, whyLinkLoses)
			k.linkKey = ""
		}
	}
	return kids, found, nil
}

// Why a key loses a collision: the directory wins over a file or symlink of
// the same name, and a file over a symlink, as in Stat.
const (
	whyDirWins   = "a directory of the same name exists"
	whyLinkLoses = "a file or directory of the same name exists"
)

// checkChild reports why name, listed in dir, cannot be shown, or nil.
func checkChild(dir, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("name %w", err)
	}
	if dir == "" && name == ferryDir {
		return fmt.Errorf("the top-level name %q is reserved", ferryDir)
	}
	return nil
}

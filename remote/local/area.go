package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// The area is the directory ".ferry" of the folder: the area object name is
// the file .ferry/<name>. Its directories are made as needed and removed
// again when a DeleteArea or RestoreArea empties them.

// putAreaTries bounds how often PutArea writes again into a directory that
// a concurrent DeleteArea removed as empty just after PutArea made it.
const putAreaTries = 3

// areaStart validates the area name and checks ctx, and returns the path of
// the object below the folder.
func areaStart(ctx context.Context, op, name string) (string, error) {
	p := ferryDir + "/" + name
	if name == "" {
		return "", invalid(op, p, errors.New("empty area name"))
	}
	if err := checkSegments(name); err != nil {
		return "", invalid(op, p, err)
	}
	return p, ctx.Err()
}

// PutArea implements remote.Area: a temp file, synced and renamed over the
// object, like Put.
func (l *Local) PutArea(ctx context.Context, name string, data []byte) error {
	const op = "putarea"
	p, err := areaStart(ctx, op, name)
	if err != nil {
		return err
	}
	for try := 1; ; try++ {
		err := l.putArea(ctx, op, p, data)
		if err == nil || try == putAreaTries || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
}

func (l *Local) putArea(ctx context.Context, op, p string, data []byte) error {
	dir, base := split(p)
	parent, err := l.openDir(op, p, dir, true)
	if err != nil {
		return fail(op, p, err, writing)
	}
	defer parent.Close()
	s, err := stageFile(parent, bytes.NewReader(data), int64(len(data)), defaultPerm, time.Time{}, "")
	if err != nil {
		return fail(op, p, err, writing)
	}
	_, err = l.commit(ctx, op, p, parent, s, base, remote.Cond{})
	return err
}

// GetArea implements remote.Area. A symlink in the area (a trashed one)
// reads as its target, as on S3.
func (l *Local) GetArea(ctx context.Context, name string) ([]byte, error) {
	const op = "getarea"
	p, err := areaStart(ctx, op, name)
	if err != nil {
		return nil, err
	}
	dir, base := split(p)
	parent, err := l.openDir(op, p, dir, false)
	if err != nil {
		return nil, fail(op, p, err, reading)
	}
	defer parent.Close()
	fi, err := parent.Lstat(base)
	switch {
	case err != nil:
		return nil, fail(op, p, err, reading)
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := parent.Readlink(base)
		return []byte(link), fail(op, p, err, reading)
	case !fi.Mode().IsRegular():
		return nil, notFound(op, p)
	}
	f, err := parent.Open(base)
	if err != nil {
		return nil, fail(op, p, err, reading)
	}
	defer f.Close()
	if err := sameFile(f, fi); err != nil {
		return nil, fail(op, p, err, reading)
	}
	b, err := io.ReadAll(f)
	return b, fail(op, p, err, reading)
}

// DeleteArea implements remote.Area. Directories it leaves empty are
// removed, up to the top-level one ("log", "trash").
func (l *Local) DeleteArea(ctx context.Context, name string) error {
	const op = "deletearea"
	p, err := areaStart(ctx, op, name)
	if err != nil {
		return err
	}
	top, err := l.openRoot(op, p)
	if err != nil {
		return err
	}
	defer top.Close()
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
	}
	if err := parent.Remove(base); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(op, p, err, writing)
	}
	pruneArea(top, name)
	return fail(op, p, syncDir(parent), writing)
}

// pruneArea removes the directories of the area object name that are now
// empty, deepest first, stopping at the first that is not and at the
// top-level one. It is tidying: failures are ignored. The caller holds l.mu,
// which keeps trash moves out of a directory being removed; a PutArea that
// loses its directory writes again.
func pruneArea(top *os.Root, name string) {
	for dir, _ := split(name); strings.Contains(dir, "/"); dir, _ = split(dir) {
		p := ferryDir + "/" + dir
		if fi, err := top.Lstat(p); err != nil || !fi.IsDir() || top.Remove(p) != nil {
			return
		}
	}
}

// ListArea implements remote.Area: it walks the directory of the area the
// prefix names (all of it for a prefix without a slash), sorts the names
// and calls fn for those that match. ModTime is when the object entered the
// area: the status-change time where the platform has one, which a trash
// move sets while it keeps the file's own modification time.
func (l *Local) ListArea(ctx context.Context, prefix, startAfter string, limit int, fn func(remote.AreaObject) error) error {
	const op = "listarea"
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = prefix[:i]
		if dir == "" || checkSegments(dir) != nil {
			return nil // no area object has such a name
		}
	}
	objs, err := l.areaObjects(ctx, op, dir)
	if err != nil {
		return err
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Name < objs[j].Name })
	n := 0
	for _, o := range objs {
		if !strings.HasPrefix(o.Name, prefix) || o.Name <= startAfter {
			continue
		}
		if err := fn(o); err != nil {
			return err
		}
		if n++; limit > 0 && n >= limit {
			return nil
		}
	}
	return nil
}

// areaObjects returns the files and symlinks of the area below its
// directory dir ("" for all of it), unsorted. Temp files are left out.
func (l *Local) areaObjects(ctx context.Context, op, dir string) ([]remote.AreaObject, error) {
	var objs []remote.AreaObject
	top := ferryDir
	if dir != "" {
		top += "/" + dir
	}
	err := l.walkTree(ctx, op, top, func(d *os.Root, dir, name string) (bool, error) {
		if checkName(name) != nil {
			return false, nil // temp files, and names ferry never writes
		}
		fi, err := d.Lstat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return false, nil
		case err != nil:
			return false, fail(op, join(dir, name), err, reading)
		case fi.IsDir():
			return true, nil
		case fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0:
			objs = append(objs, remote.AreaObject{
				Name:    strings.TrimPrefix(join(dir, name), ferryDir+"/"),
				Size:    fi.Size(),
				ModTime: changed(fi),
			})
		}
		return false, nil
	})
	if errors.Is(err, remote.ErrNotFound) {
		return nil, nil // no area yet, or nothing under dir
	}
	return objs, err
}

// RestoreArea implements remote.Area with one rename, which keeps the
// content, modification time, mode and recorded hash: checked and made
// under l.mu, so it never replaces what another of this Local's callers
// put at p. Missing parents of p are created.
func (l *Local) RestoreArea(ctx context.Context, name, p string) (remote.Entry, error) {
	const op = "restore"
	if err := start(ctx, op, p, false); err != nil {
		return remote.Entry{}, err
	}
	src, err := areaStart(ctx, op, name)
	if err != nil {
		return remote.Entry{}, err
	}
	top, err := l.openRoot(op, p)
	if err != nil {
		return remote.Entry{}, err
	}
	defer top.Close()
	sdir, _ := split(src)
	sparent, err := l.openDir(op, src, sdir, false)
	if err != nil {
		return remote.Entry{}, fail(op, src, err, reading)
	}
	defer sparent.Close()
	dir, base := split(p)
	parent, err := l.openDir(op, p, dir, true)
	if err != nil {
		return remote.Entry{}, fail(op, p, err, writing)
	}
	defer parent.Close()
	if err := l.restore(op, top, src, p, sparent, parent); err != nil {
		return remote.Entry{}, err
	}
	fi, err := parent.Lstat(base)
	if err != nil {
		return remote.Entry{}, fail(op, p, err, reading)
	}
	e, err := describe(parent, p, base, fi)
	return e, fail(op, p, err, reading)
}

// restore moves src (in its opened parent directory sparent) to p (in
// parent) unless something is at p, and tidies the area.
func (l *Local) restore(op string, top *os.Root, src, p string, sparent, parent *os.Root) error {
	_, sbase := split(src)
	_, base := split(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	fi, err := sparent.Lstat(sbase)
	switch {
	case err != nil:
		return fail(op, src, err, reading)
	case !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0:
		return notFound(op, src)
	}
	switch _, err := parent.Lstat(base); {
	case err == nil:
		return precondition(op, p, "something exists at the path")
	case !errors.Is(err, fs.ErrNotExist):
		return fail(op, p, err, writing)
	}
	// Both parents have just been checked to contain no symlinks, and top
	// keeps the move inside the folder whatever changes concurrently.
	if err := top.Rename(src, p); err != nil {
		return fail(op, p, err, writing)
	}
	pruneArea(top, strings.TrimPrefix(src, ferryDir+"/"))
	return fail(op, p, syncDir(parent), writing)
}

package s3

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"path"
	"slices"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// Mkdir writes the marker "p/" of the directory p, carrying meta, so that
// p exists even while empty: one request after the check that no file is
// at p. Parents need no marker: the marker's key implies them. A file at p
// is remote.ErrPermanent. The root needs nothing.
//
// The check is skipped inside a directory this Remote made a moment ago,
// which nobody else has had the time to fill: a tree being copied in
// (an untar) costs one request a directory, not two.
func (r *Remote) Mkdir(ctx context.Context, p string, meta remote.Meta) error {
	const op = "mkdir"
	if err := r.start(ctx, op, p, true); err != nil || p == "" {
		return err
	}
	r.mu.Lock()
	fresh := r.made.has(path.Dir(p), time.Now())
	r.mu.Unlock()
	if !fresh {
		if _, err := r.head(ctx, op, r.key(p)); err == nil {
			return invalid(op, r.key(p), errors.New("a file is in the way"))
		} else if !errors.Is(err, remote.ErrNotFound) {
			return err
		}
	}
	if _, err := r.putObject(ctx, op, r.dirKey(p), nil, userMeta(meta, sIFDIR), remote.Cond{}); err != nil {
		return err
	}
	r.mu.Lock()
	r.made.add(p, time.Now())
	r.mu.Unlock()
	return nil
}

// dirInTheWay reports a directory at p as remote.ErrPrecondition: a put of
// a new file (If-None-Match) writes only where nothing is, and S3 would
// store its key beside the keys below p/, a pair no tree can show. It asks
// with one listing, unless p's parent is a directory this Remote made
// moments ago (as Mkdir does): nobody else has filled that one yet.
func (r *Remote) dirInTheWay(ctx context.Context, op, p string) error {
	r.mu.Lock()
	fresh := r.made.has(path.Dir(p), time.Now())
	r.mu.Unlock()
	if fresh {
		return nil
	}
	_, ok, err := r.statDir(ctx, op, p)
	if err != nil {
		return err
	}
	if ok {
		return precondition(op, r.key(p), "a directory is there")
	}
	return nil
}

// freshDir: how long a directory Mkdir made counts as one nobody else has
// filled yet.
const freshDir = 10 * time.Second

// recentDirs remembers the directories made within freshDir.
type recentDirs struct {
	at     map[string]time.Time
	pruned time.Time
}

func (d *recentDirs) has(p string, now time.Time) bool {
	t, ok := d.at[p]
	return ok && now.Sub(t) < freshDir
}

func (d *recentDirs) add(p string, now time.Time) {
	if d.at == nil {
		d.at = map[string]time.Time{}
	}
	if now.Sub(d.pruned) > freshDir {
		d.pruned = now
		for q, t := range d.at {
			if now.Sub(t) >= freshDir {
				delete(d.at, q)
			}
		}
	}
	d.at[p] = now
}

// Rmdir removes the marker of the directory p if nothing else is below it,
// leaving a marker for the parent if p was all it held.
// A missing p is not an error; a p with other keys below it (even keys List
// skips) is left alone and yields remote.ErrPermanent; so is a file. The
// tombstone of a delete that stopped does not count, once it is of age
// (see clearStale).
func (r *Remote) Rmdir(ctx context.Context, p string) error {
	const op = "rmdir"
	if err := r.start(ctx, op, p, false); err != nil {
		return err
	}
	dk := r.dirKey(p)
	var pg page
	for cleared := 0; ; cleared++ {
		var err error
		if pg, err = r.listPage(ctx, op, dk, "", 2, nil); err != nil {
			return err
		}
		i := slices.IndexFunc(pg.objects, func(o listed) bool { return o.key != dk })
		if i < 0 {
			break
		}
		tomb, err := r.clearStale(ctx, op, pg.objects[i])
		if err != nil {
			return err
		}
		if !tomb || cleared == maxCleared {
			return invalid(op, dk, errors.New("directory not empty"))
		}
	}
	if len(pg.objects) == 0 {
		if _, err := r.head(ctx, op, r.key(p)); err == nil {
			return invalid(op, r.key(p), errors.New("not a directory"))
		} else if !errors.Is(err, remote.ErrNotFound) {
			return err
		}
		return nil
	}
	if _, err := r.keepParent(ctx, op, p); err != nil {
		return err
	}
	return r.deleteKey(ctx, op, dk, "")
}

// setMetaTries bounds how often SetMeta rereads an object that changed
// while its metadata was being rewritten.
const setMetaTries = 3

// SetMeta rewrites the metadata of the file, symlink or directory marker at
// p with a copy of the object onto itself (MetadataDirective REPLACE),
// changing the mtime (unless zero) and the mode (unless it has no
// permission bits) and keeping the rest: hash, owner, content type. The copy
// is pinned to the version just read, so a concurrent write is never undone.
// A directory without a marker gets one carrying the metadata. With
// fs.ModeDir in meta.Mode, p is taken to be a directory and its marker is
// written with meta in one request. A missing p
// is remote.ErrNotFound.
func (r *Remote) SetMeta(ctx context.Context, p string, meta remote.Meta) error {
	const op = "setmeta"
	if err := r.start(ctx, op, p, true); err != nil || p == "" {
		return err
	}
	if meta.Mode&fs.ModeDir != 0 {
		// A directory's metadata is all its marker holds: writing the
		// marker anew is one request, and gives a marker to a directory
		// that had none.
		_, err := r.putObject(ctx, op, r.dirKey(p), nil, userMeta(meta, sIFDIR), remote.Cond{})
		return err
	}
	for try := 1; ; try++ {
		err := r.setMeta(ctx, op, p, meta, "")
		if !errors.Is(err, remote.ErrPrecondition) || try == setMetaTries {
			return err
		}
	}
}

// SetMetaIf implements remote.Conditional: the copy that replaces the
// metadata is pinned to the caller's ETag.
func (r *Remote) SetMetaIf(ctx context.Context, p string, meta remote.Meta, ifMatch string) error {
	const op = "setmeta"
	if err := r.start(ctx, op, p, false); err != nil {
		return err
	}
	return r.setMeta(ctx, op, p, meta, ifMatch)
}

// setMeta replaces the metadata of p's object. want, when set, is the ETag
// the object must have.
func (r *Remote) setMeta(ctx context.Context, op, p string, meta remote.Meta, want string) error {
	for _, c := range []struct {
		key string
		typ uint32
	}{{r.key(p), sIFREG}, {r.linkKey(p), sIFLNK}, {r.dirKey(p), sIFDIR}} {
		o, err := r.head(ctx, op, c.key)
		if errors.Is(err, remote.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if want != "" && trimETag(o.etag) != trimETag(want) {
			return precondition(op, c.key, "version is "+o.etag+", not "+want)
		}
		md := maps.Clone(o.meta)
		if md == nil {
			md = map[string]string{}
		}
		if !meta.ModTime.IsZero() {
			md[metaMtime] = formatMtime(meta.ModTime)
		}
		if meta.Mode.Perm() != 0 {
			md[metaMode] = formatMode(meta.Mode, c.typ)
		}
		_, err = r.copyObject(ctx, op, c.key, c.key, o, md, o.etag)
		return err
	}
	if want != "" {
		// Pinned to a version of a file that is gone: remote.Conditional
		// says ErrPrecondition, as Put does with IfMatch.
		return precondition(op, r.key(p), "does not exist")
	}
	// A directory without a marker: give it one.
	if _, ok, err := r.statDir(ctx, op, p); err != nil || !ok {
		if err == nil {
			err = notFound(op, r.key(p))
		}
		return err
	}
	m := remote.Meta{ModTime: meta.ModTime, Mode: meta.Mode}
	if m.ModTime.IsZero() {
		m.ModTime = time.Now()
	}
	_, err := r.putObject(ctx, op, r.dirKey(p), nil, userMeta(m, sIFDIR), remote.Cond{IfNoneMatch: true})
	return err // a marker made meanwhile: ErrPrecondition, and SetMeta tries again
}

// Delete removes the file or symlink at p. A missing p is not an error,
// with or without cond.IfMatch: a retry of a delete that succeeded must
// succeed. Directories are not touched (use Rmdir). Like unlink on a
// filesystem, removing the last entry of a directory leaves the directory:
// it gets a marker first.
//
// S3-compatible servers do not all honour If-Match on DELETE (MinIO ignores
// it), so with cond.IfMatch the object is first copied to
// .ferry/trash/<YYYY-MM-DD>/<path> with x-amz-copy-source-if-match, which
// every server checks: a different version fails with remote.ErrPrecondition
// and nothing is deleted. (A symlink lands there under its path too, not its
// object's key; RestoreArea brings either back.) A file is then overwritten
// with a tombstone, with If-Match (which every server honours on PUT), and
// the tombstone deleted. So a version that someone writes between
// the copy and the delete is never deleted unseen: their conditional write
// fails while the tombstone stands, and they try again once it is gone, or
// once it is old enough to be a stopped delete's (see tombstone.go).
// The delete carries If-Match too, for servers that honour it.
func (r *Remote) Delete(ctx context.Context, p string, cond remote.Cond) error {
	const op = "delete"
	if err := r.start(ctx, op, p, false); err != nil {
		return err
	}
	if cond.IfMatch == "" {
		if exists, err := r.keepParent(ctx, op, p); err != nil || !exists {
			return err
		}
		if err := r.deleteKey(ctx, op, r.key(p), ""); err != nil {
			return err
		}
		return r.deleteKey(ctx, op, r.linkKey(p), "")
	}
	for _, c := range []struct {
		key  string
		link bool
	}{{r.key(p), false}, {r.linkKey(p), true}} {
		err := r.trash(ctx, op, p, c.key, cond.IfMatch, c.link)
		if errors.Is(err, remote.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if _, err := r.keepParent(ctx, op, p); err != nil {
			return err
		}
		return r.deleteVersion(ctx, op, c.key, cond.IfMatch, !c.link) // changed since the copy: ErrPrecondition
	}
	// A retry after a crash between the tombstone and its delete.
	if o, err := r.headAny(ctx, op, r.key(p)); err == nil && o.meta[metaTombstone] != "" {
		if _, err := r.keepParent(ctx, op, p); err != nil {
			return err
		}
		return r.clearTombstone(ctx, op, r.key(p), cond.IfMatch)
	}
	return nil
}

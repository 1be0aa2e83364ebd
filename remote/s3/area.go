package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferry-fs/ferry/remote"
)

// areaPage is the most keys ListObjectsV2 returns in one response.
const areaPage = 1000

// areaBase returns the key prefix of ferry's private area.
func (r *Remote) areaBase() string { return r.prefix + ferryDir + "/" }

// areaKey returns the key of the area object name, or an error wrapping
// remote.ErrPermanent when name is not a clean relative path or is too long.
func (r *Remote) areaKey(op, name string) (string, error) {
	key := r.areaBase() + name
	if name == "" {
		return "", invalid(op, key, errors.New("empty area name"))
	}
	if err := checkSegments(name); err != nil {
		return "", invalid(op, key, err)
	}
	if len(key) > maxKeyLen {
		return "", invalid(op, key, fmt.Errorf("key of %d bytes is longer than S3's %d", len(key), maxKeyLen))
	}
	return key, nil
}

// PutArea implements remote.Area with one PutObject.
func (r *Remote) PutArea(ctx context.Context, name string, data []byte) error {
	const op = "putarea"
	key, err := r.areaKey(op, name)
	if err != nil {
		return err
	}
	_, err = r.putObject(ctx, op, key, data, nil, remote.Cond{})
	return err
}

// GetArea implements remote.Area with one GetObject.
func (r *Remote) GetArea(ctx context.Context, name string) ([]byte, error) {
	const op = "getarea"
	key, err := r.areaKey(op, name)
	if err != nil {
		return nil, err
	}
	g, err := r.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &r.bucket, Key: &key})
	if err != nil {
		return nil, fail(ctx, op, key, err)
	}
	defer g.Body.Close()
	b, err := io.ReadAll(g.Body)
	if err != nil {
		return nil, fail(ctx, op, key, err)
	}
	return b, nil
}

// DeleteArea implements remote.Area with one DeleteObject.
func (r *Remote) DeleteArea(ctx context.Context, name string) error {
	const op = "deletearea"
	key, err := r.areaKey(op, name)
	if err != nil {
		return err
	}
	return r.deleteKey(ctx, op, key, "")
}

// ListArea implements remote.Area with ListObjectsV2 from StartAfter, up to
// 1000 keys a request: an idle poll of the change log is one request. Keys
// in the area that are not clean names (which ferry never writes) are
// skipped and reported by Skipped; directory markers silently.
func (r *Remote) ListArea(ctx context.Context, prefix, startAfter string, limit int, fn func(remote.AreaObject) error) error {
	const op = "listarea"
	if err := ctx.Err(); err != nil {
		return err
	}
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 && (i == 0 || checkSegments(prefix[:i]) != nil) {
		return nil // no area object has such a name, and servers refuse some such keys
	}
	base := r.areaBase()
	q := query{prefix: base + prefix}
	if startAfter > prefix {
		// Every name with the prefix sorts after the prefix itself, so a
		// startAfter that does not sort after it excludes nothing more
		// than the name equal to it, checked below.
		q.startAfter = base + startAfter
	}
	n := 0
	for {
		if limit > 0 {
			q.max = int32(min(limit-n, areaPage))
		}
		pg, err := r.list(ctx, op, q)
		if err != nil {
			return err
		}
		for _, o := range pg.objects {
			name := o.key[len(base):]
			if name <= startAfter || !r.areaName(o.key, name) {
				continue
			}
			if err := fn(remote.AreaObject{Name: name, Size: o.size, ModTime: o.lastMod}); err != nil {
				return err
			}
			if n++; limit > 0 && n >= limit {
				return nil
			}
		}
		if q.token = pg.next; q.token == nil {
			return nil
		}
	}
}

// areaName reports whether the listed area key, named name, is an area
// object, recording it as skipped when it is not.
func (r *Remote) areaName(key, name string) bool {
	if name == "" || strings.HasSuffix(name, "/") {
		return false // a directory marker another tool made
	}
	if err := checkSegments(name); err != nil {
		r.skip(key, "area name "+err.Error())
		return false
	}
	return true
}

// RestoreArea implements remote.Area: the area object is copied on the
// server (keeping its metadata) to p, or to p's symlink object when it is
// a trashed symlink, and then deleted. Before the copy, HEAD requests and a
// listing check that nothing is at p; the copy itself carries
// If-None-Match, which servers that support it check atomically. A copy
// that landed before an interruption is recognised by its ETag, so a retry
// completes the restore.
func (r *Remote) RestoreArea(ctx context.Context, name, p string) (remote.Entry, error) {
	const op = "restore"
	if err := r.start(ctx, op, p, false); err != nil {
		return remote.Entry{}, err
	}
	src, err := r.areaKey(op, name)
	if err != nil {
		return remote.Entry{}, err
	}
	o, err := r.head(ctx, op, src)
	if err != nil {
		return remote.Entry{}, err
	}
	dst, target := r.key(p), ""
	if isLinkObject(name, o) {
		if dst = r.linkKey(p); dst == "" {
			return remote.Entry{}, invalid(op, r.key(p), fmt.Errorf("name too long for a symlink object (%s suffix)", linkSuffix))
		}
		if o, target, err = r.readLink(ctx, op, src); err != nil {
			return remote.Entry{}, err
		}
	}
	done, err := r.vacant(ctx, op, p, dst, o)
	if err != nil {
		return remote.Entry{}, err
	}
	etag := o.etag
	if !done {
		if etag, err = r.copyIf(ctx, op, src, dst, o, nil, o.etag, remote.Cond{IfNoneMatch: true}); err != nil {
			return remote.Entry{}, err
		}
	}
	// Pinned: a same-day delete of the same path may have replaced src.
	if err := r.deleteKey(ctx, op, src, o.etag); err != nil {
		return remote.Entry{}, err
	}
	if etag != "" {
		o.etag = etag
	}
	return entryOf(p, o, target), nil
}

// isLinkObject reports whether the area object name, described by o, is a
// trashed symlink: its recorded mode says so (trash sets it), or its name
// keeps the symlink suffix.
func isLinkObject(name string, o object) bool {
	return modeType(o.meta[metaMode]) == sIFLNK || strings.HasSuffix(name, linkSuffix)
}

// vacant checks that nothing is at p: no file, no symlink, no directory.
// It reports true when dst already holds the very object o, copied there
// by an earlier, interrupted restore.
func (r *Remote) vacant(ctx context.Context, op, p, dst string, o object) (bool, error) {
	for _, key := range []string{r.key(p), r.linkKey(p)} {
		h, err := r.head(ctx, op, key)
		switch {
		case errors.Is(err, remote.ErrNotFound):
			continue
		case err != nil:
			return false, err
		case key == dst && h.size == o.size && trimETag(h.etag) == trimETag(o.etag):
			return true, nil
		}
		return false, precondition(op, key, "something exists at the path")
	}
	pg, err := r.listPage(ctx, op, r.dirKey(p), "", 1, nil)
	if err != nil {
		return false, err
	}
	if len(pg.objects) > 0 {
		return false, precondition(op, r.dirKey(p), "a directory exists at the path")
	}
	return false, nil
}

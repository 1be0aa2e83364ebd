package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferry-fs/ferry/remote"
)

// maxLinkLen is the longest symlink target read back (Linux's PATH_MAX).
const maxLinkLen = 4096

// Stat returns the entry at p: the file (HEAD p), else the symlink (GET
// p.rclonelink), else the directory (its marker or any key under p/). The
// root "" is always a directory.
func (r *Remote) Stat(ctx context.Context, p string) (remote.Entry, error) {
	const op = "stat"
	if err := r.start(ctx, op, p, true); err != nil {
		return remote.Entry{}, err
	}
	if p == "" {
		return dirEntry("", nil), nil
	}
	o, err := r.head(ctx, op, r.key(p))
	if err == nil {
		return fileEntry(p, o), nil
	}
	if !errors.Is(err, remote.ErrNotFound) {
		return remote.Entry{}, err
	}
	o, target, err := r.readLink(ctx, op, r.linkKey(p))
	if err == nil {
		return linkEntry(p, o, target), nil
	}
	if !errors.Is(err, remote.ErrNotFound) {
		return remote.Entry{}, err
	}
	e, ok, err := r.statDir(ctx, op, p)
	switch {
	case err != nil:
		return remote.Entry{}, err
	case !ok:
		return remote.Entry{}, notFound(op, r.key(p))
	}
	return e, nil
}

// head returns what HEAD says about key.
func (r *Remote) head(ctx context.Context, op, key string) (object, error) {
	o, err := r.headAny(ctx, op, key)
	if err == nil && o.meta[metaTombstone] != "" {
		return object{}, notFound(op, key) // being deleted
	}
	return o, err
}

// headAny is head that also finds a delete's tombstone.
func (r *Remote) headAny(ctx context.Context, op, key string) (object, error) {
	if key == "" {
		return object{}, notFound(op, key)
	}
	h, err := r.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &r.bucket, Key: &key})
	if err != nil {
		return object{}, fail(ctx, op, key, err)
	}
	return objectOfHead(h), nil
}

// readLink reads the symlink object key: its metadata and target.
func (r *Remote) readLink(ctx context.Context, op, key string) (object, string, error) {
	if key == "" {
		return object{}, "", notFound(op, key)
	}
	g, err := r.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &r.bucket, Key: &key})
	if err != nil {
		return object{}, "", fail(ctx, op, key, err)
	}
	defer g.Body.Close()
	b, err := io.ReadAll(io.LimitReader(g.Body, maxLinkLen+1))
	if err != nil {
		return object{}, "", fail(ctx, op, key, err)
	}
	if len(b) > maxLinkLen || len(b) == 0 || bytes.IndexByte(b, 0) >= 0 {
		return object{}, "", invalid(op, key, fmt.Errorf("not a symlink target: %d bytes", len(b)))
	}
	return objectOfGet(g), string(b), nil
}

// statDir reports whether the directory p exists: a marker or any key
// below it. With a marker, the entry carries the marker's metadata.
func (r *Remote) statDir(ctx context.Context, op, p string) (remote.Entry, bool, error) {
	dk := r.dirKey(p)
	pg, err := r.listPage(ctx, op, dk, "", 1, nil)
	if err != nil {
		return remote.Entry{}, false, err
	}
	if len(pg.objects) == 0 {
		return remote.Entry{}, false, nil
	}
	if pg.objects[0].key != dk {
		return dirEntry(p, nil), true, nil
	}
	m, err := r.head(ctx, op, dk)
	if errors.Is(err, remote.ErrNotFound) {
		// The marker went away since the listing: a race with Rmdir,
		// which either side may win.
		return dirEntry(p, nil), true, nil
	}
	if err != nil {
		return remote.Entry{}, false, err
	}
	return dirEntry(p, &m), true, nil
}

// Get opens the file at p for reading length bytes from off (length < 0:
// to the end), with one ranged GET. An offset at or past the end yields no
// bytes. The reader streams the version current when Get was called; a
// version other than that one (an ETag) yields remote.ErrPrecondition.
func (r *Remote) Get(ctx context.Context, p string, off, length int64, version string) (io.ReadCloser, error) {
	const op = "get"
	if err := r.start(ctx, op, p, false); err != nil {
		return nil, err
	}
	key := r.key(p)
	if off < 0 {
		return nil, invalid(op, key, errors.New("negative offset"))
	}
	if length == 0 {
		o, err := r.head(ctx, op, key)
		if err != nil {
			return nil, err
		}
		if version != "" && o.etag != version {
			return nil, precondition(op, key, "the object changed")
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	in := &s3.GetObjectInput{Bucket: &r.bucket, Key: &key}
	if version != "" {
		in.IfMatch = &version
	}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	g, err := r.client.GetObject(ctx, in)
	if err != nil {
		if apiCode(err) == "InvalidRange" || httpStatus(err) == 416 {
			// The object exists and off is at or past its end.
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return nil, fail(ctx, op, key, err)
	}
	if objectOfGet(g).meta[metaTombstone] != "" {
		g.Body.Close()
		return nil, notFound(op, key) // being deleted
	}
	return g.Body, nil
}

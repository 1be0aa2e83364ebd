package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ferry-fs/ferry/remote"
)

// copyObject copies the object src, described by o, to dst on the server
// and returns the new ETag. md nil keeps the metadata; otherwise it
// replaces it, keeping o's content type and other headers. A non-empty pin
// makes the copy fail with remote.ErrPrecondition unless src is still that
// version. Objects larger than Config.CopyCutoff are copied in parts.
func (r *Remote) copyObject(ctx context.Context, op, src, dst string, o object, md map[string]string, pin string) (string, error) {
	return r.copyIf(ctx, op, src, dst, o, md, pin, remote.Cond{})
}

// copyIf is copyObject with a condition on the destination, sent as
// If-Match / If-None-Match on the request that makes the copy visible.
// Servers that ignore it on CopyObject (MinIO) check it on a put and on
// the completion of a multipart upload, so with a condition a small object
// is read and put (copyByPut), a larger one copied in parts.
func (r *Remote) copyIf(ctx context.Context, op, src, dst string, o object, md map[string]string, pin string, cond remote.Cond) (string, error) {
	if cond != (remote.Cond{}) && o.size <= smallCopy {
		return r.copyByPut(ctx, op, src, dst, md, pin, cond)
	}
	if o.size > r.cfg.CopyCutoff || cond != (remote.Cond{}) {
		return r.copyParts(ctx, op, src, dst, o, md, pin, cond)
	}
	in := &s3.CopyObjectInput{Bucket: &r.bucket, Key: &dst, CopySource: r.copySource(src)}
	in.IfMatch, in.IfNoneMatch = condHeaders(cond)
	if pin != "" {
		in.CopySourceIfMatch = aws.String(pin)
	}
	if md != nil {
		in.MetadataDirective = types.MetadataDirectiveReplace
		in.Metadata = md
		h := o.header
		in.ContentType, in.CacheControl, in.ContentEncoding = h.contentType, h.cacheControl, h.contentEncoding
		in.ContentDisposition, in.ContentLanguage = h.contentDisposition, h.contentLanguage
	}
	in.StorageClass, in.ServerSideEncryption, in.SSEKMSKeyId = r.storage(o.header)
	out, err := r.client.CopyObject(ctx, in)
	if err != nil {
		return "", fail(ctx, op, src, err)
	}
	if out.CopyObjectResult == nil {
		return "", nil
	}
	return deref(out.CopyObjectResult.ETag), nil
}

// smallCopy: a conditional copy of an object up to this size is a read
// and a conditional put of its bytes. Unlike a multipart copy, that keeps
// its ETag (the MD5 of the bytes, for objects put whole), which later
// server-side copies keep too, so the version this device knows stays true.
const smallCopy = 4 * MiB

// copyByPut copies the small object src to dst with a read pinned to pin
// (when set) and a put carrying cond. md nil keeps the metadata.
func (r *Remote) copyByPut(ctx context.Context, op, src, dst string, md map[string]string, pin string, cond remote.Cond) (string, error) {
	in := &s3.GetObjectInput{Bucket: &r.bucket, Key: &src}
	if pin != "" {
		in.IfMatch = aws.String(pin)
	}
	g, err := r.client.GetObject(ctx, in)
	if err != nil {
		return "", fail(ctx, op, src, err)
	}
	body, err := io.ReadAll(io.LimitReader(g.Body, smallCopy+1))
	g.Body.Close()
	if err != nil {
		return "", fail(ctx, op, src, err)
	}
	if len(body) > smallCopy {
		return "", precondition(op, src, "grew while being copied")
	}
	got := objectOfGet(g)
	if md == nil {
		md = got.meta
	}
	return r.putWith(ctx, op, dst, body, md, got.header, cond)
}

// copyParts copies a large object with UploadPartCopy, every part pinned
// to the same source version; cond applies to the completion.
func (r *Remote) copyParts(ctx context.Context, op, src, dst string, o object, md map[string]string, pin string, cond remote.Cond) (string, error) {
	if !o.full || pin == "" {
		// Listed, not read: fetch the metadata and version to copy.
		h, err := r.head(ctx, op, src)
		if err != nil {
			return "", err
		}
		if pin != "" && trimETag(h.etag) != trimETag(pin) {
			return "", precondition(op, src, "version is "+h.etag+", not "+pin)
		}
		o, pin = h, h.etag
	}
	if md == nil {
		md = o.meta
	}
	partSize := min(max(r.cfg.CopyCutoff, minPartSize), maxCopyPart)
	partSize = max(partSize, (o.size+maxParts-1)/maxParts)
	n := int((o.size + partSize - 1) / partSize)
	up, err := r.createUpload(ctx, op, dst, md, &o.header)
	if err != nil {
		return "", err
	}
	parts := make([]types.CompletedPart, n)
	err = parallel(ctx, r.cfg.Concurrency, n, func(ctx context.Context, i int) error {
		first := int64(i) * partSize
		last := min(first+partSize, o.size) - 1
		out, err := r.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: &r.bucket, Key: &dst, UploadId: &up, PartNumber: aws.Int32(int32(i + 1)),
			CopySource: r.copySource(src), CopySourceIfMatch: aws.String(pin),
			CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
		})
		if err != nil {
			return fail(ctx, op, src, err)
		}
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
		return nil
	})
	if err != nil {
		r.abort(ctx, dst, up)
		return "", err
	}
	etag, err := r.completeUpload(ctx, op, dst, up, parts, cond)
	if err != nil {
		r.abort(ctx, dst, up)
	}
	return etag, err
}

// storage returns the storage class and encryption of a new object: the
// configured ones, else those of the object it copies (S3 would otherwise
// give the copy the bucket's defaults).
func (r *Remote) storage(h headers) (types.StorageClass, types.ServerSideEncryption, *string) {
	class, sse, key := h.storageClass, h.sse, h.kmsKeyID
	if r.cfg.StorageClass != "" {
		class = types.StorageClass(r.cfg.StorageClass)
	}
	if r.cfg.SSE != "" {
		sse, key = types.ServerSideEncryption(r.cfg.SSE), nil
	}
	if sse != types.ServerSideEncryptionAwsKms && sse != types.ServerSideEncryptionAwsKmsDsse {
		key = nil
	}
	return class, sse, key
}

// copySource renders bucket/key for x-amz-copy-source, percent-encoding
// everything but unreserved characters and slashes: servers disagree about
// '+' and other reserved characters left bare.
func (r *Remote) copySource(key string) *string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString(r.bucket)
	b.WriteByte('/')
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return aws.String(b.String())
}

// trimETag drops the quotes around an ETag, which servers include or not.
func trimETag(s string) string { return strings.Trim(s, `"`) }

// trash copies key, the object of the file (or, with link, the symlink)
// at p, if it is still version etag, to the area object trashName(p),
// keeping its metadata. A symlink's copy is named like a file and records
// the symlink type in its mode, so that RestoreArea knows it.
func (r *Remote) trash(ctx context.Context, op, p, key, etag string, link bool) error {
	// The size decides between CopyObject and a multipart copy; a missing
	// or changed object fails the pinned copy either way.
	o, err := r.head(ctx, op, key)
	if err != nil {
		return err
	}
	var md map[string]string
	if link {
		md = maps.Clone(o.meta)
		if md == nil {
			md = map[string]string{}
		}
		md[metaMode] = formatMode(parseMode(md[metaMode])|0o777, sIFLNK)
	}
	_, err = r.copyObject(ctx, op, key, r.areaBase()+r.trashName(p, time.Now()), o, md, etag)
	return err
}

// trashName returns the area name under which a conditional delete at now
// keeps p: trash/<YYYY-MM-DD UTC>/<p>, or, when that key would be too
// long, trash/<YYYY-MM-DD>/long/<sha256 of p>.
func (r *Remote) trashName(p string, now time.Time) string {
	day := "trash/" + now.UTC().Format("2006-01-02") + "/"
	if len(r.areaBase())+len(day)+len(p) > maxKeyLen {
		sum := sha256.Sum256([]byte(p))
		return day + "long/" + hex.EncodeToString(sum[:])
	}
	return day + p
}

// Copy duplicates the file or symlink at from as to on the server, keeping
// its metadata, and removes what was at to (a symlink replaces a file and
// the reverse). Directories are not copied: from must be a file or symlink.
func (r *Remote) Copy(ctx context.Context, from, to string) (remote.Entry, error) {
	const op = "copy"
	if err := r.start(ctx, op, from, false); err != nil {
		return remote.Entry{}, err
	}
	if err := r.start(ctx, op, to, false); err != nil {
		return remote.Entry{}, err
	}
	for try := 1; ; try++ {
		e, err := r.copyFile(ctx, op, from, to, false, "", remote.Cond{})
		if !errors.Is(err, remote.ErrPrecondition) || try == setMetaTries {
			return e, err
		}
	}
}

// copyFile copies the file or symlink from to to, if it has version pin
// (when set) and what is at to meets cond, and with move deletes from
// afterwards (pinned to the version copied). A source changed midway fails
// with remote.ErrPrecondition, for the caller to try again; so does one
// other than pin, and a destination that does not meet cond.
func (r *Remote) copyFile(ctx context.Context, op, from, to string, move bool, pin string, cond remote.Cond) (remote.Entry, error) {
	src, dst, other := r.key(from), r.key(to), r.linkKey(to)
	o, err := r.head(ctx, op, src)
	var target string
	if errors.Is(err, remote.ErrNotFound) {
		src, dst, other = r.linkKey(from), r.linkKey(to), r.key(to)
		o, target, err = r.readLink(ctx, op, src)
	}
	if err != nil {
		return remote.Entry{}, err
	}
	if pin != "" && trimETag(o.etag) != trimETag(pin) {
		return remote.Entry{}, precondition(op, src, "version is "+o.etag+", not "+pin)
	}
	switch {
	case dst == "":
		return remote.Entry{}, invalid(op, r.key(to), fmt.Errorf("name too long for a symlink object (%s suffix)", linkSuffix))
	case src == dst:
		return entryOf(to, o, target), nil
	}
	etag, err := r.copyIf(ctx, op, src, dst, o, nil, o.etag, cond)
	if err != nil {
		return remote.Entry{}, err
	}
	if err := r.deleteKey(ctx, op, other, ""); err != nil {
		return remote.Entry{}, err
	}
	if move {
		if _, err := r.keepParent(ctx, op, from); err != nil {
			return remote.Entry{}, err
		}
		if err := r.deleteVersion(ctx, op, src, o.etag, target == ""); err != nil {
			if errors.Is(err, remote.ErrPrecondition) && etag != "" {
				// Written since the copy: the move did not happen, and its
				// copy at to goes, unless someone has replaced it too.
				rerr := r.deleteVersion(ctx, op, dst, etag, target == "")
				if rerr != nil && !errors.Is(rerr, remote.ErrPrecondition) && !errors.Is(rerr, remote.ErrNotFound) {
					return remote.Entry{}, fmt.Errorf("take back the copy at %s after %s changed: %w", to, from, rerr)
				}
			}
			return remote.Entry{}, err
		}
	}
	if etag != "" {
		o.etag = etag
	}
	return entryOf(to, o, target), nil
}

// deleteVersion deletes key only if it is still version etag. MinIO
// ignores If-Match on DELETE, so a file (not a symlink's object) is first
// overwritten with a tombstone carrying If-Match, which every server
// honours on PUT: a version someone else has written fails with
// remote.ErrPrecondition instead of being deleted unseen, and one they
// write while the tombstone stands fails their write (see tombstone.go).
// Delete and the end of a rename use it.
func (r *Remote) deleteVersion(ctx context.Context, op, key, etag string, file bool) error {
	if !file || etag == "" {
		return r.deleteKey(ctx, op, key, etag)
	}
	tomb, born, err := r.putTombstone(ctx, op, key, etag, etag)
	if err != nil {
		return err
	}
	return r.deleteTombstone(ctx, op, key, tomb, born)
}

// entryOf describes the file or (with a target) symlink at p stored as o.
func entryOf(p string, o object, target string) remote.Entry {
	if target != "" {
		return linkEntry(p, o, target)
	}
	return fileEntry(p, o)
}

// sortParts orders completed parts by number, as CompleteMultipartUpload
// requires.
func sortParts(parts []types.CompletedPart) {
	sort.Slice(parts, func(i, j int) bool { return deref(parts[i].PartNumber) < deref(parts[j].PartNumber) })
}

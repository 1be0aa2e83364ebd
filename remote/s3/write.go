package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/ferry-fs/ferry/remote"
)

// Put stores size bytes from src as the object at p (size < 0: everything
// up to EOF), with one PutObject below Config.UploadCutoff and a multipart
// upload from there. Both are atomic: the object appears when the request
// or the upload completes. A reader that ends early or fails abandons the
// put (a multipart upload is aborted) and its error is returned wrapped and
// unclassified. cond becomes If-None-Match: * or If-Match: <etag> on the
// request that makes the object visible.
//
// With meta.Link set, the symlink object p.rclonelink is stored instead,
// src is not read, and cond applies to that object; IfNoneMatch also
// requires that no file exists at p. A file put at p removes a symlink at p
// afterwards and a symlink removes the file, so readers see the old entry
// or the new one.
func (r *Remote) Put(ctx context.Context, p string, src io.Reader, size int64, meta remote.Meta, cond remote.Cond) (remote.Entry, error) {
	const op = "put"
	if err := r.start(ctx, op, p, false); err != nil {
		return remote.Entry{}, err
	}
	if meta.Link != "" {
		return r.putLink(ctx, op, p, meta, cond)
	}
	key := r.key(p)
	if meta.Hash != "" {
		if err := checkHash(meta.Hash); err != nil {
			return remote.Entry{}, invalid(op, key, err)
		}
	}
	if cond.IfNoneMatch {
		if err := r.dirInTheWay(ctx, op, p); err != nil {
			return remote.Entry{}, err
		}
	}
	md := userMeta(meta, sIFREG)
	s := &source{ctx: ctx, r: src}
	var (
		etag string
		n    int64
		err  error
	)
	if size >= 0 && size < r.cfg.UploadCutoff {
		buf := make([]byte, size)
		if _, err := io.ReadFull(s, buf); err != nil {
			return remote.Entry{}, readError(ctx, op, key, size, err)
		}
		etag, err = r.putObject(ctx, op, key, buf, md, cond)
		if swapped, ok, serr := r.replaceKind(ctx, op, key, r.linkKey(p), buf, md, cond, err); ok {
			etag, err = swapped, serr
		}
		n = size
	} else {
		// A large file put over a symlink with If-Match fails: its
		// source is spent. The caller keeps both, as for a conflict.
		etag, n, err = r.putParts(ctx, op, key, s, size, md, cond)
	}
	if err != nil {
		return remote.Entry{}, err
	}
	// An unconditional put replaces whatever is at p, a symlink too. A
	// conditional one removes only the version it names (replaceKind): a
	// symlink someone else made meanwhile is theirs.
	if cond == (remote.Cond{}) {
		if err := r.deleteKey(ctx, op, r.linkKey(p), ""); err != nil {
			return remote.Entry{}, err
		}
	}
	return fileEntry(p, object{size: n, etag: etag, meta: md}), nil
}

// putLink stores the symlink object of p and removes the file at p.
func (r *Remote) putLink(ctx context.Context, op, p string, meta remote.Meta, cond remote.Cond) (remote.Entry, error) {
	key := r.linkKey(p)
	if key == "" {
		return remote.Entry{}, invalid(op, r.key(p), fmt.Errorf("name too long for a symlink object (%s suffix)", linkSuffix))
	}
	if len(meta.Link) > maxLinkLen || strings.IndexByte(meta.Link, 0) >= 0 {
		return remote.Entry{}, invalid(op, key, errors.New("symlink target is too long or holds NUL"))
	}
	if cond.IfNoneMatch {
		if _, err := r.head(ctx, op, r.key(p)); err == nil {
			return remote.Entry{}, precondition(op, r.key(p), "a file exists")
		} else if !errors.Is(err, remote.ErrNotFound) {
			return remote.Entry{}, err
		}
	}
	md := userMeta(meta, sIFLNK)
	body := []byte(meta.Link)
	etag, err := r.putObject(ctx, op, key, body, md, cond)
	if swapped, ok, serr := r.replaceKind(ctx, op, key, r.key(p), body, md, cond, err); ok {
		etag, err = swapped, serr
	}
	if err != nil {
		return remote.Entry{}, err
	}
	if cond == (remote.Cond{}) {
		if err := r.deleteKey(ctx, op, r.key(p), ""); err != nil {
			return remote.Entry{}, err
		}
	}
	return linkEntry(p, object{etag: etag, meta: md}, meta.Link), nil
}

// replaceKind finishes a put with If-Match that failed because the version
// it names is the other kind's: the file and the symlink object of a name
// are two keys (p and p.rclonelink), and a symlink renamed over a file (ln
// -sf), or a file over a symlink, names the replaced one's version. Then
// body goes to key where nothing is, and the replaced version at other is
// removed, on its condition, so that readers see the old entry or the new
// one. ok is false, and the failure stands, when the put was no such swap.
//
// A retry after a failure between the two steps finds its own object at
// key (see putOwn). If the replaced version changed
// meanwhile, the new object is removed again and ErrPrecondition returned:
// both sides changed the name, and the caller keeps both.
func (r *Remote) replaceKind(ctx context.Context, op, key, other string, body []byte, md map[string]string, cond remote.Cond, failed error) (etag string, ok bool, err error) {
	if cond.IfMatch == "" || !(errors.Is(failed, remote.ErrPrecondition) || errors.Is(failed, remote.ErrNotFound)) {
		return "", false, nil
	}
	o, err := r.head(ctx, op, other)
	if errors.Is(err, remote.ErrNotFound) || (err == nil && trimETag(o.etag) != trimETag(cond.IfMatch)) {
		return "", false, nil
	}
	if err != nil {
		return "", true, err
	}
	etag, err = r.putOwn(ctx, op, key, body, md, remote.Cond{IfNoneMatch: true})
	if err != nil {
		return "", true, err
	}
	file := strings.HasSuffix(key, linkSuffix) // a symlink replaces a file
	if err := r.deleteVersion(ctx, op, other, cond.IfMatch, file); err != nil {
		if errors.Is(err, remote.ErrPrecondition) {
			if derr := r.deleteVersion(ctx, op, key, etag, !file); derr != nil {
				return "", true, derr
			}
		}
		return "", true, err
	}
	return etag, true, nil
}

// putOwn is putObject of body, which is unique to this put (random bytes,
// or a replacement that a retry sends again), and takes a refused
// condition for success when the object at key is body: the client sends
// a request again when its answer is lost (a connection reset), or an
// earlier attempt landed, and the second fails its condition on the
// first. Its ETag, the MD5 of body, tells.
func (r *Remote) putOwn(ctx context.Context, op, key string, body []byte, md map[string]string, cond remote.Cond) (string, error) {
	etag, err := r.putObject(ctx, op, key, body, md, cond)
	if errors.Is(err, remote.ErrPrecondition) {
		sum := md5.Sum(body)
		if o, herr := r.headAny(ctx, op, key); herr == nil && trimETag(o.etag) == hex.EncodeToString(sum[:]) {
			return o.etag, nil
		}
	}
	return etag, err
}

// putObject stores body as key with one request and returns its ETag.
func (r *Remote) putObject(ctx context.Context, op, key string, body []byte, md map[string]string, cond remote.Cond) (string, error) {
	return r.putWith(ctx, op, key, body, md, headers{contentType: contentType(key)}, cond)
}

// putWith is putObject with the content headers (and storage class and
// encryption, unless configured) of h, those of an object it copies.
func (r *Remote) putWith(ctx context.Context, op, key string, body []byte, md map[string]string, h headers, cond remote.Cond) (string, error) {
	in := &s3.PutObjectInput{
		Bucket: &r.bucket, Key: &key, Metadata: md,
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ContentMD5: contentMD5(body),
		ContentType: h.contentType, CacheControl: h.cacheControl, ContentEncoding: h.contentEncoding,
		ContentDisposition: h.contentDisposition, ContentLanguage: h.contentLanguage,
	}
	in.StorageClass, in.ServerSideEncryption, in.SSEKMSKeyId = r.storage(h)
	in.IfMatch, in.IfNoneMatch = condHeaders(cond)
	out, err := r.client.PutObject(ctx, in, md5Signed, no200Errors)
	if err != nil {
		err = condFail(ctx, op, key, err, cond)
		if over, ok := r.takeOver(ctx, op, key, cond, err); ok {
			return r.putWith(ctx, op, key, body, md, h, over)
		}
		return "", err
	}
	if deref(out.ETag) == "" {
		// Every S3 answers a PUT with the new version's ETag. Without
		// one, later conditional writes would go out unconditional.
		return "", &opError{op: op, key: key, err: errors.New("the server accepted the upload without an ETag")}
	}
	return deref(out.ETag), nil
}

// condHeaders returns the If-Match and If-None-Match values for cond.
func condHeaders(cond remote.Cond) (ifMatch, ifNoneMatch *string) {
	if cond.IfMatch != "" {
		ifMatch = aws.String(cond.IfMatch)
	}
	if cond.IfNoneMatch {
		ifNoneMatch = aws.String("*")
	}
	return ifMatch, ifNoneMatch
}

// condFail classifies the failure of a conditional write: with If-Match, a
// missing object (which some servers report as 404) fails the condition.
func condFail(ctx context.Context, op, key string, err error, cond remote.Cond) error {
	err = fail(ctx, op, key, err)
	if cond.IfMatch != "" && errors.Is(err, remote.ErrNotFound) {
		return precondition(op, key, "does not exist")
	}
	return err
}

// contentType guesses the MIME type of key from its extension, as rclone
// does, so that objects serve well over HTTP; nil leaves it to the server.
func contentType(key string) *string {
	if t := mime.TypeByExtension(path.Ext(key)); t != "" && !strings.HasSuffix(key, "/") {
		return aws.String(t)
	}
	return nil
}

// md5Signed is the option of the requests that carry a body with its
// Content-MD5: the signature covers that header, and through it the body,
// so the body is not hashed a second time for the signature
// (UNSIGNED-PAYLOAD, which the SDK uses over HTTPS anyway). Over plain HTTP
// this saves a SHA-256 of every byte on both ends.
func md5Signed(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// no200Errors drops the SDK's look for an error document in a 200 answer
// to PutObject, which S3 never sends there (only to copies and the end of
// a multipart upload): parsing every empty body took an XML decoder per
// upload.
func no200Errors(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		st.Deserialize.Remove("S3:ProcessResponseFor200Error") // gone in a later SDK: nothing to drop
		return nil
	})
}

func contentMD5(b []byte) *string {
	sum := md5.Sum(b)
	return aws.String(base64.StdEncoding.EncodeToString(sum[:]))
}

// deleteKey removes key; a missing key is fine. With ifMatch, a server that
// supports conditional deletes refuses to remove another version.
func (r *Remote) deleteKey(ctx context.Context, op, key, ifMatch string, opts ...func(*s3.Options)) error {
	if key == "" {
		return nil
	}
	in := &s3.DeleteObjectInput{Bucket: &r.bucket, Key: &key}
	if ifMatch != "" {
		in.IfMatch = aws.String(ifMatch)
	}
	_, err := r.client.DeleteObject(ctx, in, opts...)
	if err = fail(ctx, op, key, err); errors.Is(err, remote.ErrNotFound) {
		return nil
	}
	return err
}

// readError reports a source that failed or ended before size bytes.
func readError(ctx context.Context, op, key string, size int64, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("source ended before %d bytes: %w", size, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("%s %q: read source: %w", op, key, err)
}

// source reads a Put's content and stops when ctx is cancelled.
type source struct {
	ctx context.Context
	r   io.Reader
}

func (s *source) Read(b []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	return s.r.Read(b)
}

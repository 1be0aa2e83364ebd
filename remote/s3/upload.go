package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ferry-fs/ferry/remote"
)

// abortTimeout bounds the cleanup of a failed upload, which runs even when
// the caller's context is cancelled.
const abortTimeout = 30 * time.Second

// partSize returns the part size for size bytes (size < 0: unknown): the
// configured one, grown to keep within S3's 10,000 parts.
func (r *Remote) partSize(size int64) int64 {
	ps := r.cfg.PartSize
	if need := (size + maxParts - 1) / maxParts; need > ps {
		ps = (need + MiB - 1) / MiB * MiB
	}
	return ps
}

// putParts uploads the content of src (size bytes, or up to EOF when size
// < 0) as key with a multipart upload: it reads parts one after the other
// and uploads up to Config.Concurrency of them at once, then completes the
// upload under cond. Any failure aborts the upload, so nothing is left
// behind. Content that turns out to fit one part is put with one request.
func (r *Remote) putParts(ctx context.Context, op, key string, src io.Reader, size int64, md map[string]string, cond remote.Cond) (string, int64, error) {
	ps := r.partSize(size)
	if size > maxObject {
		return "", 0, invalid(op, key, fmt.Errorf("%d bytes is more than S3 takes in one object", size))
	}
	first := make([]byte, ps)
	n, err := readPart(src, first, size)
	if err != nil {
		return "", 0, readError(ctx, op, key, size, err)
	}
	if n < ps || size == ps {
		// Unknown size, and it all fit in one part.
		etag, err := r.putObject(ctx, op, key, first[:n], md, cond)
		return etag, n, err
	}
	if err := r.checkCond(ctx, op, key, cond); err != nil {
		return "", 0, err
	}
	up, err := r.createUpload(ctx, op, key, md, nil)
	if err != nil {
		return "", 0, err
	}
	etag, total, err := r.uploadStream(ctx, op, key, up, src, size, ps, first[:n], cond)
	if err != nil {
		r.abort(ctx, key, up)
		return "", 0, err
	}
	return etag, total, nil
}

// uploadStream uploads the parts of an upload created by putParts, the
// first of which is already read, and completes it.
func (r *Remote) uploadStream(ctx context.Context, op, key, up string, src io.Reader, size, ps int64, first []byte, cond remote.Cond) (string, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex // guards parts and upErr
		parts []types.CompletedPart
		upErr error
		wg    sync.WaitGroup
	)
	free := make(chan []byte, r.cfg.Concurrency) // buffers not in flight
	for range r.cfg.Concurrency - 1 {
		free <- make([]byte, ps)
	}
	send := func(num int32, buf []byte, n int64) {
		wg.Go(func() {
			etag, err := r.uploadPart(ctx, op, key, up, num, buf[:n])
			mu.Lock()
			switch {
			case err == nil:
				parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: aws.String(etag)})
			case upErr == nil:
				upErr = err
				cancel()
			}
			mu.Unlock()
			free <- buf[:cap(buf)]
		})
	}
	total := int64(len(first))
	send(1, first, total)
	var readErr error
	for num := int32(2); size < 0 || total < size; num++ {
		if num > maxParts {
			readErr = fmt.Errorf("more than %d parts of %d bytes", maxParts, ps)
			break
		}
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
		}
		if buf == nil || ctx.Err() != nil {
			break
		}
		n, err := readPart(src, buf, size-total)
		if err != nil {
			readErr = err
			break
		}
		if n == 0 { // EOF of content of unknown size
			free <- buf
			break
		}
		total += n
		send(num, buf, n)
		if n < ps {
			break
		}
	}
	wg.Wait()
	switch {
	case readErr != nil:
		return "", 0, readError(ctx, op, key, size, readErr)
	case upErr != nil:
		return "", 0, upErr
	case ctx.Err() != nil:
		return "", 0, ctx.Err()
	}
	etag, err := r.completeUpload(ctx, op, key, up, parts, cond)
	return etag, total, err
}

// readPart fills buf from src with up to left bytes (left < 0: unknown) and
// returns how many it read. Only a source of known size may not end early.
func readPart(src io.Reader, buf []byte, left int64) (int64, error) {
	if left >= 0 && left < int64(len(buf)) {
		buf = buf[:left]
	}
	n, err := io.ReadFull(src, buf)
	if left < 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		err = nil
	}
	return int64(n), err
}

// checkCond fails fast, before a long upload, when cond already does not
// hold. The server checks it again, atomically, when the upload completes.
func (r *Remote) checkCond(ctx context.Context, op, key string, cond remote.Cond) error {
	if cond == (remote.Cond{}) {
		return nil
	}
	o, err := r.head(ctx, op, key)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		if cond.IfMatch != "" {
			return precondition(op, key, "does not exist")
		}
		return nil
	case err != nil:
		return err
	case cond.IfNoneMatch:
		return precondition(op, key, "already exists")
	case cond.IfMatch != "" && trimETag(o.etag) != trimETag(cond.IfMatch):
		return precondition(op, key, "version is "+o.etag+", not "+cond.IfMatch)
	}
	return nil
}

// createUpload starts a multipart upload of key and returns its id. h, when
// set, carries the headers of an object being copied.
func (r *Remote) createUpload(ctx context.Context, op, key string, md map[string]string, h *headers) (string, error) {
	in := &s3.CreateMultipartUploadInput{Bucket: &r.bucket, Key: &key, Metadata: md, ContentType: contentType(key)}
	if h != nil {
		in.ContentType, in.CacheControl, in.ContentEncoding = h.contentType, h.cacheControl, h.contentEncoding
		in.ContentDisposition, in.ContentLanguage = h.contentDisposition, h.contentLanguage
	} else {
		h = &headers{}
	}
	in.StorageClass, in.ServerSideEncryption, in.SSEKMSKeyId = r.storage(*h)
	out, err := r.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", fail(ctx, op, key, err)
	}
	return deref(out.UploadId), nil
}

// uploadPart uploads one part, with its MD5 for the server to check, and
// returns its ETag.
func (r *Remote) uploadPart(ctx context.Context, op, key, up string, num int32, b []byte) (string, error) {
	out, err := r.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &r.bucket, Key: &key, UploadId: &up, PartNumber: aws.Int32(num),
		Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))), ContentMD5: contentMD5(b),
	}, md5Signed)
	if err != nil {
		return "", fail(ctx, op, key, err)
	}
	return deref(out.ETag), nil
}

// completeUpload makes the upload visible as key if cond holds.
func (r *Remote) completeUpload(ctx context.Context, op, key, up string, parts []types.CompletedPart, cond remote.Cond) (string, error) {
	sortParts(parts)
	in := &s3.CompleteMultipartUploadInput{
		Bucket: &r.bucket, Key: &key, UploadId: &up,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	in.IfMatch, in.IfNoneMatch = condHeaders(cond)
	out, err := r.client.CompleteMultipartUpload(ctx, in)
	if err != nil {
		err = condFail(ctx, op, key, err, cond)
		if over, ok := r.takeOver(ctx, op, key, cond, err); ok {
			return r.completeUpload(ctx, op, key, up, parts, over)
		}
		return "", err
	}
	return deref(out.ETag), nil
}

// abort discards the upload up of key, even if ctx is cancelled. A failure
// leaves parts for CleanupUploads (or the bucket's lifecycle rules).
func (r *Remote) abort(ctx context.Context, key, up string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	if _, err := r.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: &r.bucket, Key: &key, UploadId: &up}); err != nil && apiCode(err) != "NoSuchUpload" {
		r.log.Warn("s3: cannot abort an upload; CleanupUploads will retry", "bucket", r.bucket, "key", key, "err", describe(err))
	}
}

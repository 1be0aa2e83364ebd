package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ferry-fs/ferry/remote"
)

// PutResumable implements remote.Resumable with an S3 multipart upload
// whose id and completed parts are the remote.UploadState. A saved state is
// checked against ListParts before use: parts the server does not confirm
// are uploaded again, and an upload the server no longer knows starts over.
// Content below Config.UploadCutoff, and symlinks, go through Put.
func (r *Remote) PutResumable(ctx context.Context, p string, ra io.ReaderAt, size int64, meta remote.Meta, cond remote.Cond,
	st *remote.UploadState, save func(remote.UploadState) error) (remote.Entry, error) {
	const op = "put"
	if err := r.start(ctx, op, p, false); err != nil {
		return remote.Entry{}, err
	}
	key := r.key(p)
	if size < 0 {
		return remote.Entry{}, invalid(op, key, errors.New("a resumable upload needs the size"))
	}
	if meta.Link != "" || size < r.cfg.UploadCutoff {
		return r.Put(ctx, p, io.NewSectionReader(ra, 0, size), size, meta, cond)
	}
	if meta.Hash != "" {
		if err := checkHash(meta.Hash); err != nil {
			return remote.Entry{}, invalid(op, key, err)
		}
	}
	if size > maxObject {
		return remote.Entry{}, invalid(op, key, fmt.Errorf("%d bytes is more than S3 takes in one object", size))
	}
	if err := r.checkCond(ctx, op, key, cond); err != nil {
		return remote.Entry{}, err
	}
	if cond.IfNoneMatch {
		if err := r.dirInTheWay(ctx, op, p); err != nil {
			return remote.Entry{}, err
		}
	}
	md := userMeta(meta, sIFREG)
	for try := 1; ; try++ {
		state, err := r.resume(ctx, op, key, size, md, st, save)
		if err != nil {
			return remote.Entry{}, err
		}
		etag, err := r.uploadResumable(ctx, op, key, ra, size, state, cond, save)
		if apiCode(err) == "NoSuchUpload" && try == 1 {
			st = nil // aborted under our feet: start over, once
			continue
		}
		if err != nil {
			return remote.Entry{}, err
		}
		if err := r.deleteKey(ctx, op, r.linkKey(p), ""); err != nil {
			return remote.Entry{}, err
		}
		return fileEntry(p, object{size: size, etag: etag, meta: md}), nil
	}
}

// resume returns the state to continue from: st with the parts the server
// confirms, or a new upload, saved before any part is sent.
func (r *Remote) resume(ctx context.Context, op, key string, size int64, md map[string]string,
	st *remote.UploadState, save func(remote.UploadState) error) (remote.UploadState, error) {
	if st != nil && st.UploadID != "" {
		ps := st.PartSize
		if ps < minPartSize || ps > maxPutSize || (size+ps-1)/ps > maxParts {
			r.abort(ctx, key, st.UploadID) // not a state for this content
		} else {
			have, err := r.listParts(ctx, op, key, st.UploadID)
			switch {
			case err == nil:
				keep := remote.UploadState{UploadID: st.UploadID, PartSize: ps}
				for _, p := range st.Parts {
					got, ok := have[p.Number]
					if ok && trimETag(got.etag) == trimETag(p.ETag) && got.size == p.Size && p.Size == partLen(size, ps, p.Number) {
						keep.Parts = append(keep.Parts, p)
					}
				}
				return keep, nil
			case apiCode(err) != "NoSuchUpload" && httpStatus(err) != 404:
				return remote.UploadState{}, err
			}
		}
	}
	up, err := r.createUpload(ctx, op, key, md, nil)
	if err != nil {
		return remote.UploadState{}, err
	}
	state := remote.UploadState{UploadID: up, PartSize: r.partSize(size)}
	if err := save(state); err != nil {
		r.abort(ctx, key, up) // nobody knows of it
		return remote.UploadState{}, fmt.Errorf("%s %q: save upload state: %w", op, key, err)
	}
	return state, nil
}

// partLen returns the length of part num of size bytes in parts of ps.
func partLen(size, ps int64, num int32) int64 {
	off := int64(num-1) * ps
	if off < 0 || off >= size {
		return -1
	}
	return min(ps, size-off)
}

// partInfo is what ListParts says about a part.
type partInfo struct {
	etag string
	size int64
}

// listParts returns the parts the server holds for the upload up.
func (r *Remote) listParts(ctx context.Context, op, key, up string) (map[int32]partInfo, error) {
	have := map[int32]partInfo{}
	in := &s3.ListPartsInput{Bucket: &r.bucket, Key: &key, UploadId: &up}
	for {
		out, err := r.client.ListParts(ctx, in)
		if err != nil {
			return nil, fail(ctx, op, key, err)
		}
		for _, p := range out.Parts {
			have[deref(p.PartNumber)] = partInfo{etag: deref(p.ETag), size: deref(p.Size)}
		}
		if !deref(out.IsTruncated) || out.NextPartNumberMarker == nil {
			return have, nil
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
}

// uploadResumable uploads the parts state lacks, saving the state after
// each, and completes the upload under cond. A failed condition aborts it;
// any other failure leaves it for a resume.
func (r *Remote) uploadResumable(ctx context.Context, op, key string, ra io.ReaderAt, size int64,
	state remote.UploadState, cond remote.Cond, save func(remote.UploadState) error) (string, error) {
	ps := state.PartSize
	done := map[int32]bool{}
	for _, p := range state.Parts {
		done[p.Number] = true
	}
	var todo []int32
	for num := int32(1); int64(num-1)*ps < size; num++ {
		if !done[num] {
			todo = append(todo, num)
		}
	}
	var mu sync.Mutex // guards state and serialises save
	err := parallel(ctx, r.cfg.Concurrency, len(todo), func(ctx context.Context, i int) error {
		num := todo[i]
		n := partLen(size, ps, num)
		buf := make([]byte, n)
		if _, err := io.ReadFull(io.NewSectionReader(ra, int64(num-1)*ps, n), buf); err != nil {
			return readError(ctx, op, key, size, err)
		}
		etag, err := r.uploadPart(ctx, op, key, state.UploadID, num, buf)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		state.Parts = append(state.Parts, remote.Part{Number: num, ETag: etag, Size: n})
		snap := state
		snap.Parts = slices.Clone(state.Parts)
		if err := save(snap); err != nil {
			return fmt.Errorf("%s %q: save upload state: %w", op, key, err)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", err
	}
	parts := make([]types.CompletedPart, len(state.Parts))
	for i, p := range state.Parts {
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
	}
	etag, err := r.completeUpload(ctx, op, key, state.UploadID, parts, cond)
	if errors.Is(err, remote.ErrPrecondition) {
		r.abort(ctx, key, state.UploadID)
	}
	return etag, err
}

// AbortUpload implements remote.Resumable: it discards the parts of the
// upload uploadID of p. An unknown upload is not an error.
func (r *Remote) AbortUpload(ctx context.Context, p, uploadID string) error {
	const op = "abort upload"
	if err := r.start(ctx, op, p, false); err != nil {
		return err
	}
	key := r.key(p)
	_, err := r.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: &r.bucket, Key: &key, UploadId: &uploadID})
	if err != nil && (apiCode(err) == "NoSuchUpload" || httpStatus(err) == 404) {
		return nil
	}
	return fail(ctx, op, key, err)
}

// CleanupUploads implements remote.UploadCleaner: it aborts the multipart
// uploads below the prefix started more than olderThan ago. It lists all
// the bucket's uploads and filters them itself: MinIO takes the Prefix of
// ListMultipartUploads for an exact key.
func (r *Remote) CleanupUploads(ctx context.Context, olderThan time.Duration) (int, error) {
	const op = "cleanup uploads"
	cutoff := time.Now().Add(-olderThan)
	in := &s3.ListMultipartUploadsInput{Bucket: &r.bucket, EncodingType: types.EncodingTypeUrl}
	aborted := 0
	for {
		out, err := r.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return aborted, fail(ctx, op, r.prefix, err)
		}
		for _, u := range out.Uploads {
			if u.Initiated != nil && u.Initiated.After(cutoff) {
				continue
			}
			key, ok := r.decodeKey(deref(u.Key), "", out.EncodingType == types.EncodingTypeUrl)
			if !ok || !strings.HasPrefix(key, r.prefix) {
				continue
			}
			_, err := r.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: &r.bucket, Key: &key, UploadId: u.UploadId})
			if err != nil && apiCode(err) != "NoSuchUpload" {
				return aborted, fail(ctx, op, key, err)
			}
			aborted++
		}
		if !deref(out.IsTruncated) {
			return aborted, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

package remote

import (
	"context"
	"io"
	"time"
)

// Resumable is implemented by backends that upload large files in parts and
// can continue an upload that was interrupted, by a crash or a cancelled
// context, from the last part the server confirmed. Callers check for it
// with a type assertion and fall back to Remote.Put.
type Resumable interface {
	// PutResumable stores size bytes of r as the file at path, like Put,
	// uploading parts concurrently (r must allow concurrent ReadAt).
	//
	// st is the state saved by an earlier, interrupted call for the same
	// path and the same content, or nil to start afresh. save is called
	// with a new state once the upload has been created and after every
	// completed part; the caller persists it (in its journal) and passes
	// it back after a crash. save may be called concurrently with the
	// upload of other parts but never twice at once. An error from save
	// stops the upload and is returned; the parts stay on the server.
	//
	// A resumed upload whose id the server no longer knows (aborted, or
	// cleaned up as stale) starts over without error; so does a state that
	// does not fit size. A cancelled context returns ctx.Err() and leaves
	// the uploaded parts for a later resume: nothing is visible at path
	// until the upload completes. The caller calls AbortUpload when it
	// gives up on the content, so the parts do not linger.
	//
	// cond is checked when the upload completes: a mismatch returns
	// ErrPrecondition, aborts the upload and changes nothing at path.
	// Content small enough for the backend to store with one request (below
	// its multipart threshold) goes through Put, without state.
	PutResumable(ctx context.Context, path string, r io.ReaderAt, size int64, meta Meta, cond Cond,
		st *UploadState, save func(UploadState) error) (Entry, error)

	// AbortUpload discards the parts of the upload uploadID for path.
	// Idempotent: an unknown or already finished upload is not an error.
	AbortUpload(ctx context.Context, path, uploadID string) error
}

// UploadCleaner is implemented by backends whose interrupted uploads keep
// using storage until they are aborted.
type UploadCleaner interface {
	// CleanupUploads aborts the unfinished uploads below the remote root
	// that were started more than olderThan ago, and reports how many it
	// aborted. Run it at mount, with an age longer than any upload that may
	// still be resumed.
	CleanupUploads(ctx context.Context, olderThan time.Duration) (int, error)
}

// UploadState is the progress of a resumable upload: enough to continue it
// after a crash. It is JSON-serialisable so that it can be kept in a journal.
type UploadState struct {
	UploadID string `json:"upload_id"`
	PartSize int64  `json:"part_size"` // every part but the last has this size
	Parts    []Part `json:"parts"`     // completed parts, in completion order
}

// Part is one completed part of a resumable upload.
type Part struct {
	Number int32  `json:"number"` // 1-based; part n starts at (n-1)*PartSize
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
}

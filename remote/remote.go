// Package remote defines the contract between ferry and the place files are
// synced to: a plain folder, an S3 bucket, or anything else that stores one
// object per file under a slash-separated path.
package remote

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// Errors every backend reports. Classify with errors.Is, never by message.
var (
	// ErrNotFound: the path does not exist. Permanent for that call.
	ErrNotFound = errors.New("not found")
	// ErrPrecondition: a conditional write or delete found a different
	// version than the caller expected. Someone else changed the object.
	// Permanent: retrying the same call fails the same way.
	ErrPrecondition = errors.New("precondition failed: remote object changed")
	// ErrPermanent marks any other error that no retry can fix: access
	// denied, a missing bucket, an invalid or too-long key, a path whose
	// parent is a file. Backends wrap it together with the cause:
	//   fmt.Errorf("%w: %w", remote.ErrPermanent, err)
	ErrPermanent = errors.New("permanent")
)

// IsPermanent reports whether retrying err cannot succeed. Everything not
// marked permanent (timeouts, 5xx, throttling, refused connections, a full
// disk on the remote side) is transient and worth retrying with backoff.
func IsPermanent(err error) bool {
	return errors.Is(err, ErrPermanent) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrPrecondition)
}

// Entry describes one file or directory on the remote.
type Entry struct {
	Path    string    // slash-separated, relative to the remote root, no leading slash
	Dir     bool      // a directory (or, on S3, a key prefix or a "dir/" marker)
	Size    int64     // content length; 0 for directories
	ModTime time.Time // the file's modification time as ferry or rclone recorded it
	Mode    os.FileMode
	Link    string // symlink target, for symlinks
	// Version identifies this exact version of the content: the ETag on S3,
	// a stat-derived token on a local folder. Opaque; compare for equality.
	Version string
	Hash    string // blake3 hex of the content, when recorded by ferry
}

// Meta is what ferry stores beside the content of a file.
type Meta struct {
	ModTime time.Time
	// Mode holds the permission bits, plus os.ModeSymlink for links. In
	// SetMeta, os.ModeDir says that the path is a directory, which saves
	// backends the requests to find out.
	Mode     os.FileMode
	UID, GID uint32
	Hash     string // blake3 hex of the content
	Link     string // symlink target; when set the content is ignored
}

// Cond makes a write conditional on the version currently at the path.
// The zero value writes unconditionally.
type Cond struct {
	IfMatch     string // write only if the current version equals this
	IfNoneMatch bool   // write only if nothing exists at the path
}

// Remote is a tree of files addressed by slash-separated paths.
//
// Contract shared by all methods:
//   - Paths are relative, clean, slash-separated, never "." or "..", no leading slash.
//     The root directory is "".
//   - A cancelled context aborts the call and returns ctx.Err(); the remote is
//     left as if the call had not been made or had completed (never half-written).
//   - Errors are classified with IsPermanent; all other errors may be retried.
//   - Every method is safe for concurrent use.
type Remote interface {
	// Stat returns the entry at path, or ErrNotFound. Read-only, retry-safe.
	Stat(ctx context.Context, path string) (Entry, error)

	// List calls fn for each immediate child of dir, in no particular order,
	// paging through the backend as needed. A missing dir yields ErrNotFound.
	// An error from fn stops the listing and is returned. Retry-safe, but a
	// retried List may call fn again for children it already reported.
	List(ctx context.Context, dir string, fn func(Entry) error) error

	// Get opens the content of a file at offset off for length bytes
	// (length < 0: to the end). With a version, a file whose current
	// version differs yields ErrPrecondition, so a reader never mixes the
	// size it knows with another version's bytes. Read-only, retry-safe.
	Get(ctx context.Context, path string, off, length int64, version string) (io.ReadCloser, error)

	// Put stores size bytes from r as the file at path, creating missing
	// parent directories. Atomic: readers see the old content or the new,
	// never a part. If r returns an error the put is abandoned and nothing
	// changes. Idempotent: putting the same content twice leaves one file.
	// With a Cond, a mismatch returns ErrPrecondition and changes nothing.
	Put(ctx context.Context, path string, r io.Reader, size int64, meta Meta, cond Cond) (Entry, error)

	// SetMeta updates the modification time and mode of an existing file or
	// directory without touching its content. Idempotent.
	SetMeta(ctx context.Context, path string, meta Meta) error

	// Delete removes the file at path. Idempotent: a missing path is not an
	// error. With cond.IfMatch, a different current version returns
	// ErrPrecondition and deletes nothing.
	Delete(ctx context.Context, path string, cond Cond) error

	// Copy duplicates the file at from to to, overwriting to. Idempotent.
	Copy(ctx context.Context, from, to string) (Entry, error)

	// Rename moves a file or a whole directory tree from from to to,
	// creating missing parents of to and replacing a file at to.
	// A missing from returns ErrNotFound. After an interruption, calling
	// Rename again completes the move: nothing is lost and no duplicate
	// remains.
	Rename(ctx context.Context, from, to string) error

	// Mkdir creates the directory path and any missing parents, and gives
	// path the modification time and permission bits of meta (when zero:
	// now and 0755). Idempotent: an existing directory just gets meta.
	Mkdir(ctx context.Context, path string, meta Meta) error

	// Rmdir removes the empty directory path. Idempotent: a missing path is
	// not an error. A directory that is not empty is left alone and yields
	// an error wrapping ErrPermanent.
	Rmdir(ctx context.Context, path string) error
}

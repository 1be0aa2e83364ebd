package remote

import (
	"context"
	"time"
)

// The interfaces below are what two-way sync needs beyond Remote. Backends
// implement them as optional extensions; a backend without them syncs one
// way only.

// AreaObject is one object in the private area of a remote.
type AreaObject struct {
	Name    string // relative to the area, e.g. "log/00001732…-laptop-0000000001.json"
	Size    int64
	ModTime time.Time // when it was stored
}

// Area is ferry's private corner of a remote: the objects under the
// top-level name ".ferry". The change log (".ferry/log/") and the recycle bin
// (".ferry/trash/<YYYY-MM-DD>/<path>") live there. List, Walk, Stat and the
// rest of Remote never show or accept that name; Area is the only way in.
//
// Names are slash-separated, relative to the area, clean, never empty.
type Area interface {
	// PutArea stores data as the area object name, replacing it. Atomic.
	PutArea(ctx context.Context, name string, data []byte) error
	// GetArea returns the content of the area object name, or ErrNotFound.
	GetArea(ctx context.Context, name string) ([]byte, error)
	// ListArea calls fn for the area objects whose names start with prefix
	// and sort after startAfter ("" for all), in ascending byte order,
	// stopping after limit objects (limit 0: no limit). On S3 this is
	// ListObjectsV2 with StartAfter, one request per 1000 names, so that an
	// idle poll of the change log costs one request however long it is.
	ListArea(ctx context.Context, prefix, startAfter string, limit int, fn func(AreaObject) error) error
	// DeleteArea removes the area object name. A missing name is fine.
	DeleteArea(ctx context.Context, name string) error
	// RestoreArea copies the area object name (a trashed file, with its
	// metadata) to path in the tree, creating missing parents, then deletes
	// it from the area. It never overwrites: something at path returns
	// ErrPrecondition. It returns the restored entry.
	RestoreArea(ctx context.Context, name, path string) (Entry, error)
}

// Walker lists a whole tree in one pass, for the first mount of a remote
// and for reconciliation listings.
type Walker interface {
	// Walk calls fn for every file, symlink and directory in the tree,
	// a directory always before anything below it. It reads the listing
	// page by page (1000 keys per request on S3) and never fetches objects
	// one by one, except the targets of symlinks. Entries carry Path, Dir,
	// Size, Version and Link; ModTime is the recorded mtime where the
	// listing has it, else the time the object was stored; Mode and Hash
	// may be zero. Keys that cannot be a path (see Skipped) are left out,
	// and so is the area. An error from fn stops the walk and is returned.
	Walk(ctx context.Context, fn func(Entry) error) error
}

// Skipper reports the keys a backend left out of listings because they
// cannot be a path in the mount: "..", ".", empty segments, NUL bytes, a
// leading "/", names over 255 bytes, invalid UTF-8, and the losing key of
// a collision such as "a/b" beside "a/b/c".
type Skipper interface {
	Skipped() []string
}

// Changes is one batch of what a Watcher saw.
type Changes struct {
	// Paths changed in the tree: files written, made or removed, and
	// directories made or removed. Relative, slash-separated.
	Paths []string
	// Log: something was added to the change log in the area.
	Log bool
	// Lost: the watcher missed events (its queue overflowed, a directory
	// could not be watched); only a full listing can tell what changed.
	Lost bool
	// Started: the watch is in place, from now on nothing is missed. The
	// first batch, alone.
	Started bool
}

// Watcher is a remote that reports changes as they happen, so that they
// need no polling: a local folder, watched by the operating system.
type Watcher interface {
	// Watch calls fn with each batch of changes, one call at a time, until
	// ctx ends (it then returns nil). It returns an error at once if the
	// remote cannot be watched; the caller polls instead.
	Watch(ctx context.Context, fn func(Changes)) error
}

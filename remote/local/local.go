// Package local implements remote.Remote on a plain folder: a mounted NAS,
// a USB disk, or a directory that another tool syncs onward.
//
// Every path is resolved one segment at a time below the folder through
// os.Root, so nothing (not even a symlink planted in the folder) can make an
// operation touch a file outside it. A symlink stored in the folder is a leaf:
// paths that would traverse it are rejected with remote.ErrPermanent.
//
// Writes go to a hidden ".ferry-tmp-*" file in the target's directory, are
// fsynced, and are renamed over the target, so readers see the old content or
// the new, never a part. Those temp files never appear in List and cannot be
// addressed by callers.
//
// The top-level directory ".ferry" is ferry's private area (remote.Area):
// the change log and the trash, where conditional deletes move what they
// remove. The tree methods neither show nor accept it.
package local

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

var (
	_ remote.Remote      = (*Local)(nil)
	_ remote.Conditional = (*Local)(nil)
	_ remote.Area        = (*Local)(nil)
	_ remote.Walker      = (*Local)(nil)
	_ remote.Skipper     = (*Local)(nil)
)

// staleTempAge is how long a temp file must go unchanged before Rmdir treats
// it as left behind by a crashed Put and removes it.
const staleTempAge = time.Minute

// Local is a remote.Remote stored in a folder on a local or mounted
// filesystem. It is safe for concurrent use.
type Local struct {
	root       string        // absolute, cleaned path of the folder
	staleAfter time.Duration // age at which Rmdir removes leftover temp files

	// mu is held across every change to an existing name (rename over it,
	// remove it, change its metadata) and the checks that guard the change,
	// so that a Cond is checked atomically with the write it guards among
	// this Local's callers. It is never held while copying content.
	mu sync.Mutex

	skipMu  sync.Mutex          // guards skipped
	skipped map[string]struct{} // names List and Walk left out
}

// New returns a Local rooted at the directory root, which must exist.
func New(root string) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("remote folder %s: %w", root, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case os.IsNotExist(err):
		return nil, fmt.Errorf("remote folder %s: no such directory", abs)
	case err != nil:
		return nil, fmt.Errorf("remote folder %s: %w", abs, causeOf(err))
	case !fi.IsDir():
		return nil, fmt.Errorf("remote folder %s: not a directory", abs)
	}
	return &Local{root: abs, staleAfter: staleTempAge, skipped: map[string]struct{}{}}, nil
}

// Root returns the absolute path of the folder.
func (l *Local) Root() string { return l.root }

// openRoot opens the folder itself. A folder that has vanished since New (an
// unmounted disk) is permanent, like a missing bucket.
func (l *Local) openRoot(op, p string) (*os.Root, error) {
	r, err := os.OpenRoot(l.root)
	if err != nil {
		return nil, &opError{op: op, path: p, class: remote.ErrPermanent,
			err: fmt.Errorf("remote folder %s: %w", l.root, causeOf(err))}
	}
	return r, nil
}

// start validates p and checks ctx, the preamble of every method.
func start(ctx context.Context, op, p string, allowRoot bool) error {
	if err := checkPath(p, allowRoot); err != nil {
		return invalid(op, p, err)
	}
	return ctx.Err()
}

// skip records the path of a name List or Walk leaves out because ferry
// cannot represent it.
func (l *Local) skip(p string) {
	l.skipMu.Lock()
	defer l.skipMu.Unlock()
	l.skipped[p] = struct{}{}
}

// Skipped implements remote.Skipper: the paths, relative to the folder,
// that List and Walk have left out so far because their names cannot be a
// path in the mount (not UTF-8, over 255 bytes), sorted. Temp files of
// writes in progress, the area, and pipes, sockets and devices are left out
// too, but are not reported.
func (l *Local) Skipped() []string {
	l.skipMu.Lock()
	defer l.skipMu.Unlock()
	return slices.Sorted(maps.Keys(l.skipped))
}

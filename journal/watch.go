package journal

import (
	"context"
	"errors"
	"path"
	"slices"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// watchSetup bounds how long a mount waits for its watch to be in place.
const watchSetup = 10 * time.Second

// watchLoop applies what the remote's watcher reports as it happens: a
// write to the change log makes the poller poll now, and any other path is
// compared with the remote like a rescan would, for just that path. The
// poller keeps its interval all the same: a folder on a network share
// hears nothing of what other machines write to it.
func (u *Uploader) watchLoop(w remote.Watcher, synced bool, ready chan<- struct{}) {
	defer u.wg.Done()
	err := w.Watch(u.ctx, func(c remote.Changes) {
		if c.Started {
			u.watching.Store(true)
			close(ready)
			ready = nil
			// A cache that was mounted before missed what changed
			// while it was not; a new one imports the remote instead.
			if synced {
				u.rescan()
			}
			return
		}
		if c.Log {
			u.Kick()
		}
		if c.Lost {
			u.log.Warn("the watcher missed changes; listing the whole remote")
			u.rescan()
			return
		}
		if len(c.Paths) > 0 {
			if err := u.syncPaths(u.ctx, c.Paths); err != nil && u.ctx.Err() == nil {
				u.log.Warn("apply watched changes", "err", err)
			}
		}
	})
	u.watching.Store(false)
	if ready != nil {
		close(ready)
	}
	if err != nil && u.ctx.Err() == nil {
		u.log.Info("not watching the remote; polling it", "err", err)
		u.Kick()
	}
}

// syncPaths brings the remote's state of paths into the mount. A path
// with uploads of its own waiting is left to them: their conditional
// writes find out about anyone else's change.
func (u *Uploader) syncPaths(ctx context.Context, paths []string) error {
	start := time.Now()
	slices.Sort(paths)
	var changes []Change
	var known []string // the remote paths of files ferry knows, read once if needed
	busy := u.touched(start, nil)
	for _, p := range paths {
		if busy(p) {
			continue // most likely the echo of this device's own uploads
		}
		e, err := u.remote.Stat(ctx, p)
		switch {
		case errors.Is(err, remote.ErrNotFound):
			_, dir, ok := u.cfg.Tree.NodeAt(p)
			if !ok {
				continue
			}
			if !dir {
				changes = append(changes, Change{Op: changeDelete, Path: p})
				continue
			}
			if known == nil {
				known = u.uploadedPaths()
			}
			for _, q := range known {
				if isBelow(q, p) {
					changes = append(changes, Change{Op: changeDelete, Path: q})
				}
			}
			changes = append(changes, Change{Op: changeRmdir, Path: p, Dir: true})
		case err != nil:
			return err
		case e.Dir:
			if _, ok := u.pullChange(e); ok {
				// New here: list all of it, since what was put inside
				// before it was watched made no events.
				if err := u.listNew(ctx, e, &changes, nil); err != nil {
					return err
				}
			}
		default:
			if c, ok := u.pullChange(e); ok {
				changes = append(changes, c)
			}
		}
	}
	if len(changes) == 0 {
		return nil
	}
	u.pollMu.Lock()
	defer u.pollMu.Unlock()
	return u.applyListed(changes, start)
}

// noteDone records that action a finished now. Callers hold mu.
func (u *Uploader) noteDone(a *action) {
	now := time.Now()
	if u.done == nil {
		u.done = map[string]time.Time{}
	}
	if len(u.done) > 10000 && now.Sub(u.donePruned) > time.Minute {
		// At most once a minute: a sweep of a large map after every
		// upload of a big tree was quadratic, and found nothing to drop.
		u.donePruned = now
		for p, t := range u.done {
			if now.Sub(t) > time.Hour {
				delete(u.done, p)
			}
		}
	}
	u.done[a.path] = now
	if a.to != "" {
		u.done[a.to] = now
	}
}

// touched returns a test of whether an upload action waiting, running or
// finished since t concerns a path, a directory above it or anything below
// it. What the remote showed of such a path may be this device's own work
// in progress: the actions, being conditional, see anyone else's change.
// The action except does not count.
func (u *Uploader) touched(since time.Time, except *action) func(p string) bool {
	exact, above := map[string]bool{}, map[string]bool{}
	add := func(x string) {
		if x == "" {
			return
		}
		exact[x] = true
		for d := path.Dir(x); d != "." && d != "/"; d = path.Dir(d) {
			above[d] = true
		}
	}
	u.mu.Lock()
	for _, a := range u.plan.acts {
		if a != nil && a != except {
			add(a.path)
			add(a.to)
		}
	}
	for p, t := range u.done {
		if !t.Before(since) {
			add(p)
		}
	}
	u.mu.Unlock()
	return func(p string) bool {
		if exact[p] || above[p] {
			return true
		}
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if exact[d] {
				return true
			}
		}
		return false
	}
}

// untouched drops the changes to paths that this device's own uploads
// touched since t.
func (u *Uploader) untouched(changes []Change, since time.Time, except *action) []Change {
	busy := u.touched(since, except)
	return slices.DeleteFunc(changes, func(c Change) bool {
		return busy(c.Path) || (c.To != "" && busy(c.To))
	})
}

// pullChange is the change that makes the mount show the remote entry e:
// a mkdir where the mount has no directory, a put where it shows another
// version of a file and has no upload of its own waiting. ok is false
// when the mount shows e already.
func (u *Uploader) pullChange(e remote.Entry) (c Change, ok bool) {
	id, dir, found := u.cfg.Tree.NodeAt(e.Path)
	if e.Dir {
		if found && dir {
			return Change{}, false
		}
		return Change{Op: changeMkdir, Path: e.Path, Dir: true, MTime: e.ModTime, Mode: uint32(e.Mode.Perm())}, true
	}
	if found && !dir {
		if up, known := u.loadUploaded(id); known && up.Version == e.Version {
			return Change{}, false
		}
		if u.pendingFor(id) {
			return Change{}, false
		}
	}
	return Change{Op: changePut, Path: e.Path, Version: e.Version, Size: e.Size,
		MTime: e.ModTime, Mode: uint32(e.Mode.Perm()), Hash: e.Hash, Link: e.Link}, true
}

// listNew adds the changes that bring the new directory d, and all that
// is below it, into the mount. With seen, it records every path listed.
func (u *Uploader) listNew(ctx context.Context, d remote.Entry, changes *[]Change, seen map[string]bool) error {
	if c, ok := u.pullChange(d); ok {
		*changes = append(*changes, c)
	}
	var dirs []remote.Entry
	err := u.remote.List(ctx, d.Path, func(e remote.Entry) error {
		if seen != nil {
			seen[e.Path] = true
		}
		if e.Dir {
			dirs = append(dirs, e)
		} else if c, ok := u.pullChange(e); ok {
			*changes = append(*changes, c)
		}
		return nil
	})
	if errors.Is(err, remote.ErrNotFound) {
		return nil // gone again meanwhile
	}
	if err != nil {
		return err
	}
	for _, sub := range dirs {
		if err := u.listNew(ctx, sub, changes, seen); err != nil {
			return err
		}
	}
	return nil
}

package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/ferry-fs/ferry/remote"
)

var _ remote.Watcher = (*Local)(nil)

const (
	watchQuiet = 100 * time.Millisecond // a batch ends after this long without events
	watchMax   = time.Second            // or after this long in all
)

// Watch implements remote.Watcher with the operating system's file
// watcher (inotify, kqueue, ReadDirectoryChangesW) on every directory of
// the folder and on the change log. Temp files of writes under way and the
// rest of the area are not reported.
func (l *Local) Watch(ctx context.Context, fn func(remote.Changes)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := l.watchTree(w, l.root); err != nil {
		return err
	}
	fn(remote.Changes{Started: true})
	var batch remote.Changes
	seen := map[string]bool{}
	var quiet, limit <-chan time.Time
	flush := func() {
		if len(batch.Paths) > 0 || batch.Log || batch.Lost {
			fn(batch)
		}
		batch, seen, quiet, limit = remote.Changes{}, map[string]bool{}, nil, nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			l.watchEvent(w, ev, &batch, seen)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			_ = err // an overflow or a lost watch: a full listing will tell
			batch.Lost = true
		case <-quiet:
			flush()
			continue
		case <-limit:
			flush()
			continue
		}
		quiet = time.After(watchQuiet)
		if limit == nil {
			limit = time.After(watchMax)
		}
	}
}

// watchEvent adds what ev says to batch.
func (l *Local) watchEvent(w *fsnotify.Watcher, ev fsnotify.Event, batch *remote.Changes, seen map[string]bool) {
	rel, err := filepath.Rel(l.root, ev.Name)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return
	}
	rel = filepath.ToSlash(rel)
	if strings.HasPrefix(filepath.Base(rel), tempPrefix) {
		return
	}
	if rel == ferryDir || strings.HasPrefix(rel, ferryDir+"/") {
		if rel == ferryDir || rel == ferryDir+"/log" {
			if ev.Has(fsnotify.Create) && l.watchTree(w, ev.Name) != nil {
				batch.Lost = true
			}
		}
		if strings.HasPrefix(rel, ferryDir+"/log/") {
			batch.Log = true
		}
		return
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() && l.watchTree(w, ev.Name) != nil {
			batch.Lost = true
		}
	}
	if ev.Op == fsnotify.Chmod {
		// Chmod events also come for atime and xattr changes. A mode
		// change that matters comes with the version's ctime, which the
		// next write or listing sees.
		return
	}
	if !seen[rel] {
		seen[rel] = true
		batch.Paths = append(batch.Paths, rel)
	}
}

// watchTree watches dir and every directory below it, except the area
// beyond its change log.
func (l *Local) watchTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != dir {
				return nil // removed while being walked
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(l.root, p)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, ferryDir+"/") && rel != ferryDir+"/log" {
			return filepath.SkipDir
		}
		if err := w.Add(p); err != nil {
			return err
		}
		return nil
	})
}

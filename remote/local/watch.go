package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
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
// watcher (inotify on Linux, ReadDirectoryChangesW on Windows) on every
// directory of the folder and on the change log. Temp files of writes under
// way and the rest of the area are not reported. On macOS the folder is
// not watched: kqueue would hold a descriptor for every file.
func (l *Local) Watch(ctx context.Context, fn func(remote.Changes)) error {
	if runtime.GOOS == "darwin" {
		return errors.New("folders are not watched on macOS")
	}
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
	var failed error // a directory that could not be watched
	seen := map[string]bool{}
	var due <-chan time.Time // the batch ends: quiet for watchQuiet, or watchMax since it began
	var began time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if err := l.watchEvent(w, ev, &batch, seen); err != nil && failed == nil {
				// Out of watches or descriptors: stop watching (the
				// caller polls) rather than rescan at every event.
				failed = err
				batch.Lost = true
			}
		case _, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow or a lost watch: what it was does not matter,
			// a full listing will tell what changed.
			batch.Lost = true
		case <-due:
			if len(batch.Paths) > 0 || batch.Log || batch.Lost {
				fn(batch)
			}
			if failed != nil {
				return failed
			}
			batch, seen, due = remote.Changes{}, map[string]bool{}, nil
			continue
		}
		if due == nil {
			began = time.Now()
		}
		due = time.After(min(watchQuiet, watchMax-time.Since(began)))
	}
}

// watchEvent adds what ev says to batch. An error is a directory that
// could not be watched.
func (l *Local) watchEvent(w *fsnotify.Watcher, ev fsnotify.Event, batch *remote.Changes, seen map[string]bool) error {
	rel, err := filepath.Rel(l.root, ev.Name)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil
	}
	rel = filepath.ToSlash(rel)
	if strings.HasPrefix(path.Base(rel), tempPrefix) {
		return nil
	}
	if rel == ferryDir || strings.HasPrefix(rel, ferryDir+"/") {
		if strings.HasPrefix(rel, ferryDir+"/log/") {
			batch.Log = true
		}
		if (rel == ferryDir || rel == ferryDir+"/log") && ev.Has(fsnotify.Create) {
			return l.watchTree(w, ev.Name)
		}
		return nil
	}
	if ev.Op == fsnotify.Chmod {
		// Chmod events also come for atime and xattr changes. A mode
		// change that matters comes with the version's ctime, which the
		// next write or listing sees.
		return nil
	}
	if !seen[rel] {
		seen[rel] = true
		batch.Paths = append(batch.Paths, rel)
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			return l.watchTree(w, ev.Name)
		}
	}
	return nil
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

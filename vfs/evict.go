package vfs

import (
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-fs/ferry/cache"
)

// The content cache is bounded: past its limit, the content of clean,
// unpinned files that nobody has open is dropped, least recently used
// first, and downloaded again on the next open. Pinned files are always
// kept; dirty content, or content whose upload is pending, never goes.

// CacheLimit configures the bound on cached content.
type CacheLimit struct {
	MaxBytes int64 // 0: no limit
	// Clean reports whether the remote holds node id's content as it is
	// here, so that dropping it loses nothing. The uploader answers.
	Clean func(id uint64) bool
}

// SetCacheLimit sets the bound on cached content.
func (fs *FS) SetCacheLimit(l CacheLimit) {
	fs.mu.Lock()
	fs.limit = l
	fs.mu.Unlock()
}

// cached is one file whose content is in the cache.
type cached struct {
	id   uint64
	size int64
	used int64 // when last opened, or its mtime
}

// Evict drops content until the cache is at 90% of its limit, or it runs
// out of content it may drop. It returns the bytes freed.
func (fs *FS) Evict() (int64, error) {
	fs.mu.Lock()
	limit, grown, last := fs.limit, fs.grown, fs.scanned
	fs.mu.Unlock()
	if limit.MaxBytes <= 0 || limit.Clean == nil {
		return 0, nil
	}
	if last.ok && last.grown == grown && last.total <= limit.MaxBytes {
		return 0, nil // nothing can have grown since the last look
	}
	files, total, err := fs.cachedFiles()
	if err == nil {
		fs.mu.Lock()
		fs.scanned.ok, fs.scanned.grown, fs.scanned.total = true, grown, total
		fs.mu.Unlock()
	}
	if err != nil || total <= limit.MaxBytes {
		return 0, err
	}
	slices.SortFunc(files, func(a, b cached) int { return int(min(max(a.used-b.used, -1), 1)) })
	target := limit.MaxBytes / 10 * 9
	var freed int64
	for _, c := range files {
		if total-freed <= target {
			break
		}
		n, err := fs.dropContent(c.id, false, limit.Clean)
		if err != nil {
			return freed, err
		}
		freed += n
	}
	if freed > 0 {
		fs.log.Info("evicted cached content", "bytes", freed, "limit", limit.MaxBytes)
	}
	return freed, nil
}

// cachedFiles lists the files with content in the cache that are not
// pinned, and the bytes all cached content takes.
func (fs *FS) cachedFiles() ([]cached, int64, error) {
	if err := fs.store.Fold(); err != nil {
		return nil, 0, err
	}
	var files []cached
	var total int64
	err := fs.store.ForEachNode(func(cn *cache.Node) error {
		if cn.Kind != cache.File || cn.Absent {
			return nil
		}
		total += cn.Size
		if !cn.Pinned {
			files = append(files, cached{id: cn.ID, size: cn.Size, used: cn.Mtime})
		}
		return nil
	})
	fs.mu.Lock()
	for i, c := range files {
		if t, ok := fs.used[c.id]; ok {
			files[i].used = t
		}
	}
	fs.mu.Unlock()
	return files, total, err
}

// dropContent makes node id's content absent if nobody has it open, it is
// not dirty, not pinned (unless unpinning) and clean says the remote has
// it. It returns the bytes freed.
func (fs *FS) dropContent(id uint64, unpinning bool, clean func(uint64) bool) (int64, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if errors.Is(err, syscall.ENOENT) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if n.Kind != cache.File || n.Absent || n.unlinked || n.opens > 0 || n.writers > 0 || n.dirty ||
		n.fetching != nil || (n.Pinned && !unpinning) || !clean(id) {
		return 0, nil
	}
	nn := n.Node
	nn.Absent = true
	b := new(cache.Batch)
	b.PutNode(&nn)
	if err := fs.store.Commit(b); err != nil {
		return 0, err
	}
	n.Node = nn
	n.gen++
	if err := fs.store.RemoveContent(id); err != nil && !errors.Is(err, os.ErrNotExist) {
		fs.log.Warn("remove evicted content", "node", id, "err", err)
	}
	fs.note(notice{id: id})
	return n.Size, nil
}

// touch records that node id was just used. Callers hold mu.
func (fs *FS) touch(id uint64) {
	fs.used[id] = time.Now().UnixNano()
}

// Pin marks the files at and below path p to be kept on this device, and
// downloads the content of those that are not cached. It returns how many
// files it pinned.
func (fs *FS) Pin(p string) (int, error) {
	ids, err := fs.setPinned(p, true)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		// lockContent, not ensureContent alone: a download that a remote
		// change made stale is dropped, and the new version fetched.
		if err := fs.lockContent(id, true); err != nil {
			return 0, err
		}
		fs.mu.Unlock()
	}
	return len(ids), nil
}

// Unpin clears the pin of the files at and below p and frees the content
// of those the remote holds as they are here. It returns the bytes freed.
func (fs *FS) Unpin(p string) (int64, error) {
	ids, err := fs.setPinned(p, false)
	if err != nil {
		return 0, err
	}
	fs.mu.Lock()
	clean := fs.limit.Clean
	fs.mu.Unlock()
	if clean == nil {
		return 0, nil
	}
	var freed int64
	for _, id := range ids {
		n, err := fs.dropContent(id, true, clean)
		if err != nil {
			return freed, err
		}
		freed += n
	}
	return freed, nil
}

// setPinned sets the pin of the files at and below p.
func (fs *FS) setPinned(p string, pin bool) ([]uint64, error) {
	if err := fs.listPath(p); err != nil {
		return nil, err
	}
	if _, _, ok := fs.NodeAt(p); !ok {
		return nil, syscall.ENOENT
	}
	if err := fs.listAll(p); err != nil {
		return nil, err
	}
	ids := fs.NodesUnder(p)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	b := new(cache.Batch)
	var files []*node
	for _, id := range ids {
		n, err := fs.get(id)
		if err != nil || n.Kind != cache.File {
			continue
		}
		nn := n.Node
		nn.Pinned = pin
		b.PutNode(&nn)
		files = append(files, n)
	}
	if err := fs.store.Commit(b); err != nil {
		return nil, err
	}
	out := make([]uint64, 0, len(files))
	for _, n := range files {
		n.Pinned = pin
		out = append(out, n.ID)
	}
	return out, nil
}

// listAll lists every directory at and below p that the import has not
// listed yet.
func (fs *FS) listAll(p string) error {
	queue := []string{p}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		id, isDir, ok := fs.NodeAt(dir)
		if !ok || !isDir {
			continue
		}
		if _, err := fs.ensureListed(id); err != nil {
			return err
		}
		fs.mu.Lock()
		if d, err := fs.dir(id); err == nil {
			for name, cid := range d.children {
				if c, err := fs.get(cid); err == nil && c.isDir() {
					queue = append(queue, joinPath(dir, name))
				}
			}
		}
		fs.mu.Unlock()
	}
	return nil
}

// listPath lists the directories on the way to p that the import has not
// listed yet, so that p can be found.
func (fs *FS) listPath(p string) error {
	dir := ""
	for {
		id, isDir, ok := fs.NodeAt(dir)
		if !ok || !isDir {
			return nil
		}
		if _, err := fs.ensureListed(id); err != nil {
			return err
		}
		if dir == p {
			return nil
		}
		rest := strings.TrimPrefix(p, dir)
		rest = strings.TrimPrefix(rest, "/")
		name, _, _ := strings.Cut(rest, "/")
		dir = joinPath(dir, name)
	}
}

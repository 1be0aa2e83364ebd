package vfs

import (
	"os"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	bolt "go.etcd.io/bbolt"
)

// recover repairs what a crash left: content of files unlinked while open
// is deleted, and files that were being written get their size from the
// content on disk and a write op, so the remote converges to what the
// mount shows.
func (fs *FS) recover() error {
	var dirty, orphans, spares []uint64
	err := fs.store.View(func(tx *bolt.Tx) error {
		c := cache.BucketOf(tx, cache.Meta).Cursor()
		for _, pfx := range []string{"dirty/", "orphan/", "spare/"} {
			for k, _ := c.Seek([]byte(pfx)); k != nil && len(k) == len(pfx)+8 && string(k[:len(pfx)]) == pfx; k, _ = c.Next() {
				id := cache.KeyValue(k[len(pfx):])
				switch pfx {
				case "dirty/":
					dirty = append(dirty, id)
				case "orphan/":
					orphans = append(orphans, id)
				default:
					spares = append(spares, id)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.dropSpares(spares); err != nil {
		return err
	}
	for _, id := range orphans {
		if err := fs.store.RemoveContent(id); err != nil {
			return err
		}
		b := new(cache.Batch)
		b.Delete(cache.Meta, orphanKey(id))
		if err := fs.store.Commit(b); err != nil {
			return err
		}
	}
	for _, id := range dirty {
		b := new(cache.Batch)
		b.Delete(cache.Meta, dirtyKey(id))
		n, err := fs.live(id)
		if err != nil {
			if err := fs.store.Commit(b); err != nil {
				return err
			}
			continue
		}
		if st, err := os.Stat(fs.store.ContentPath(id)); err == nil {
			n.Size = st.Size()
			n.Mtime = max(n.Mtime, st.ModTime().UnixNano())
		}
		if err := fs.ensureLoadedPath(n); err != nil {
			return err
		}
		b.PutNode(&n.Node)
		if err := fs.commit(b, fs.newOp(journal.Write, &n.Node, fs.path(n), "")); err != nil {
			return err
		}
		fs.log.Info("recovered a file that was being written at the crash", "path", fs.path(n))
	}
	return nil
}

// ensureLoadedPath loads n's ancestors so fs.path(n) is complete.
func (fs *FS) ensureLoadedPath(n *node) error {
	for cur := n; cur.ID != cache.RootID; {
		p, err := fs.get(cur.Parent)
		if err != nil {
			return err
		}
		cur = p
	}
	return nil
}

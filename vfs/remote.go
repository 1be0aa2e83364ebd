package vfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/remote"
)

// Fetcher downloads the remote copy of a file whose content is not cached.
// The uploader implements it: it knows where on the remote a node's
// content is.
type Fetcher interface {
	Fetch(ctx context.Context, id uint64, dst *os.File) error
}

// SetFetcher attaches f; until then absent content reads fail with EIO.
func (fs *FS) SetFetcher(f Fetcher) {
	fs.mu.Lock()
	fs.fetcher = f
	fs.mu.Unlock()
}

// ensureContent downloads node id's content if it is only on the remote.
// Concurrent callers wait for the same download. It never holds mu while
// the network is used.
func (fs *FS) ensureContent(id uint64) error {
	for {
		fs.mu.Lock()
		n, err := fs.get(id)
		if err != nil || n.Kind != cache.File || !n.Absent {
			fs.mu.Unlock()
			return err
		}
		if ch := n.fetching; ch != nil {
			fs.mu.Unlock()
			<-ch
			continue
		}
		f := fs.fetcher
		if f == nil {
			fs.mu.Unlock()
			return fmt.Errorf("%w: content not cached and no remote attached", errOffline)
		}
		ch := make(chan struct{})
		n.fetching = ch
		fs.mu.Unlock()

		err = fs.download(f, n.ID)

		fs.mu.Lock()
		n.fetching = nil
		close(ch)
		if err == nil {
			nn := n.Node
			nn.Absent = false
			b := new(cache.Batch)
			b.PutNode(&nn)
			if err = fs.store.Commit(b); err == nil {
				n.Node = nn
			}
		}
		fs.mu.Unlock()
		if err != nil {
			fs.log.Error("download", "node", id, "err", err)
		}
		return err
	}
}

var errOffline = errors.New("remote unavailable")

// download fetches the content of id into its content file, atomically.
func (fs *FS) download(f Fetcher, id uint64) error {
	final := fs.store.ContentPath(id)
	tmp := final + ".part"
	if err := os.MkdirAll(path.Dir(final), 0o700); err != nil {
		return err
	}
	dst, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	err = f.Fetch(ctx, id, dst)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Import fills a new cache with the tree of the remote: metadata only, the
// content of files stays on the remote until they are opened. seen is
// called for every file imported, so that the uploader knows the version
// it starts from. Once an import has completed it does nothing; an import
// that was interrupted (a crash, an error) continues where it stopped,
// skipping what is already there.
func (fs *FS) Import(ctx context.Context, r remote.Remote, seen func(id uint64, e remote.Entry)) (int, error) {
	if fs.store.GetUint(metaKeyImported) != 0 {
		return 0, nil
	}
	count, err := fs.importDir(ctx, r, cache.RootID, "", seen)
	if err != nil {
		return count, err
	}
	b := new(cache.Batch)
	b.SetUint(metaKeyImported, 1)
	if err := fs.store.Commit(b); err != nil {
		return count, err
	}
	return count, fs.store.Fold() // GetUint reads what is folded
}

const metaKeyImported = "imported"

func (fs *FS) importDir(ctx context.Context, r remote.Remote, parent uint64, dir string, seen func(uint64, remote.Entry)) (int, error) {
	var entries []remote.Entry
	if err := r.List(ctx, dir, func(e remote.Entry) error {
		entries = append(entries, e)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("list %q: %w", dir, err)
	}
	fs.mu.Lock()
	p, err := fs.dir(parent)
	if err != nil {
		fs.mu.Unlock()
		return 0, err
	}
	b := new(cache.Batch)
	var dirs []*node
	var files []*node
	var fileEntries []remote.Entry
	for _, e := range entries {
		name := path.Base(e.Path)
		if len(name) > NameMax {
			continue
		}
		if id, exists := p.children[name]; exists {
			// Imported before an interruption: descend into directories.
			if c, err := fs.get(id); err == nil && c.isDir() && e.Dir {
				dirs = append(dirs, c)
			}
			continue
		}
		mt := e.ModTime.UnixNano()
		if e.ModTime.IsZero() {
			mt = time.Now().UnixNano()
		}
		n := &node{Node: cache.Node{ID: fs.newID(b), Parent: parent, Name: name, UID: fs.cfg.UID, GID: fs.cfg.GID,
			Mode: uint32(e.Mode.Perm()), Atime: mt, Mtime: mt, Ctime: mt}}
		switch {
		case e.Dir:
			n.Kind, n.children = cache.Dir, map[string]uint64{}
			if n.Mode == 0 {
				n.Mode = 0o755
			}
			dirs = append(dirs, n)
		case e.Link != "":
			n.Kind, n.Link, n.Size = cache.Symlink, e.Link, int64(len(e.Link))
			n.Mode = 0o777
		default:
			n.Kind, n.Size, n.Absent = cache.File, e.Size, true
			if n.Mode == 0 {
				n.Mode = 0o644
			}
			files = append(files, n)
			fileEntries = append(fileEntries, e)
		}
		b.PutNode(&n.Node)
		b.PutDirent(parent, name, n.ID)
		p.children[name] = n.ID
		fs.nodes[n.ID] = n
	}
	err = fs.store.Commit(b)
	fs.mu.Unlock()
	if err != nil {
		return 0, err
	}
	for i, n := range files {
		seen(n.ID, fileEntries[i])
	}
	count := len(entries)
	for _, d := range dirs {
		c, err := fs.importDir(ctx, r, d.ID, joinPath(dir, d.Name), seen)
		count += c
		if err != nil {
			return count, err
		}
	}
	return count, nil
}

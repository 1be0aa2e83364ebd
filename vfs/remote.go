package vfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"syscall"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/remote"
)

// Fetcher downloads the remote copy of a file whose content is not cached.
// The uploader implements it: it knows where on the remote a node's
// content is.
type Fetcher interface {
	Fetch(ctx context.Context, id uint64, dst *os.File) error
	// Gone tells that the mount dropped file id, clean and never
	// downloaded, because a fetch found it gone from the remote.
	Gone(id uint64)
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
	for try := 1; ; try++ {
		fs.mu.Lock()
		n, err := fs.get(id)
		if err != nil || n.Kind != cache.File || !n.Absent || n.stale {
			fs.mu.Unlock()
			return err // a removed node's open fails without it: see staleOpen
		}
		if ch := n.fetching; ch != nil {
			s := n.stream
			if s != nil && !s.use() { // the stream goes on while anyone waits for it
				s = nil
			}
			fs.mu.Unlock()
			<-ch
			if s != nil {
				s.release()
			}
			continue
		}
		f := fs.fetcher
		if f == nil {
			fs.mu.Unlock()
			return fmt.Errorf("%w: content not cached and no remote attached", errOffline)
		}
		ch := make(chan struct{})
		n.fetching = ch
		gen := n.gen
		fs.mu.Unlock()

		tmp, err := fs.download(f, id)

		fs.mu.Lock()
		if n.fetching == ch {
			n.fetching = nil
		}
		close(ch)
		// Only a node still waiting for this content gets it: it may have
		// been truncated or written here, or changed on the remote.
		if err == nil && n.gen == gen && n.Absent && !n.unlinked {
			err = fs.keepDownload(n, tmp)
		}
		os.Remove(tmp)
		fs.mu.Unlock()
		if errors.Is(err, remote.ErrNotFound) {
			// Deleted on the remote, and the poller has not told us yet.
			fs.log.Info("a file was deleted on the remote before it was downloaded", "node", id)
			fs.removeGone(id)
			return syscall.ENOENT
		}
		if errors.Is(err, remote.ErrPrecondition) {
			// The mount shows the newer version now. Fetch that, unless
			// it came as a new node (this one is open): then the kernel
			// has to look the name up again.
			fs.mu.Lock()
			gone := n.unlinked
			fs.mu.Unlock()
			if !gone && try < 3 {
				continue
			}
			return syscall.ESTALE
		}
		if err != nil {
			fs.fetchFailed(id, err)
			return fmt.Errorf("%w: %w", errOffline, err)
		}
		return nil
	}
}

// fetchFailed logs, and keeps for FetchError, why the content of node id
// could not be downloaded.
func (fs *FS) fetchFailed(id uint64, err error) {
	fs.log.Warn("cannot download: reads of this file fail until the remote answers", "node", id, "err", err)
	fs.mu.Lock()
	fs.fetchErr, fs.fetchErrAt = err.Error(), time.Now()
	fs.mu.Unlock()
}

// FetchError returns why the last download of content from the remote
// failed, and when: what reads of files not cached here hit (EIO) while
// the remote cannot be reached. It is empty once a download has landed
// since.
func (fs *FS) FetchError() (string, time.Time) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.fetchErr, fs.fetchErrAt
}

// lockContent locks mu, once node id's content is cached when need is set
// (see ensureContent), and returns with mu held unless it fails. A remote
// change applied while the content downloaded, or just after, makes the
// node absent again (the download was of the version it replaced): a
// handle opened on it then would read an empty file, and its writes would
// go to a file the uploader takes for the remote's copy, to be lost. The
// node's current version is fetched instead.
func (fs *FS) lockContent(id uint64, need bool) error {
	for try := 1; ; try++ {
		if need {
			if err := fs.ensureContent(id); err != nil {
				return err
			}
		}
		fs.mu.Lock()
		n, err := fs.get(id)
		if !need || err != nil || n.Kind != cache.File || !n.Absent || n.stale {
			return nil // the caller looks at n, and at err, itself
		}
		fs.mu.Unlock()
		if try == 3 {
			return syscall.ESTALE // changing on the remote all along: look again
		}
	}
}

// keepDownload makes the downloaded file tmp the cached content of n.
// Callers hold mu and have checked that n still waits for exactly it.
func (fs *FS) keepDownload(n *node, tmp string) error {
	if err := os.Rename(tmp, fs.store.ContentPath(n.ID)); err != nil {
		return err
	}
	nn := n.Node
	nn.Absent = false
	b := new(cache.Batch)
	b.PutNode(&nn)
	if err := fs.store.Commit(b); err != nil {
		return err
	}
	n.Node = nn
	fs.grown++
	fs.fetchErr, fs.fetchErrAt = "", time.Time{} // the remote answers again
	return nil
}

// removeGone takes the clean, absent file id out of the tree: its content
// is gone from the remote. The fetcher hears of it (Gone).
func (fs *FS) removeGone(id uint64) {
	fs.mu.Lock()
	f, gone := fs.fetcher, fs.dropGone(id)
	fs.mu.Unlock()
	if gone && f != nil {
		f.Gone(id)
	}
}

// dropGone is removeGone's part under mu: it reports whether it took the
// file out.
func (fs *FS) dropGone(id uint64) bool {
	n, err := fs.get(id)
	if err != nil || n.unlinked || !n.Absent || n.dirty {
		return false
	}
	p, err := fs.dir(n.Parent)
	if err != nil || p.children[n.Name] != id {
		return false
	}
	b := new(cache.Batch)
	b.DeleteDirent(p.ID, n.Name)
	fs.dropNode(n, b)
	if err := fs.store.Commit(b); err != nil {
		// It keeps showing; the next read finds it gone again and retries.
		fs.log.Error("drop a file gone from the remote", "path", fs.path(n), "err", err)
		return false
	}
	delete(p.children, n.Name)
	fs.removed(n, time.Now().UnixNano())
	fs.note(notice{parent: p.ID, name: n.Name})
	return true
}

var errOffline = errors.New("remote unavailable")

// download fetches the content of id into a partial content file of its
// own (another download of id may run, for a newer version) and returns
// its name; the caller moves it into place, see ensureContent.
func (fs *FS) download(f Fetcher, id uint64) (string, error) {
	final := fs.store.ContentPath(id)
	if err := os.MkdirAll(path.Dir(final), 0o700); err != nil {
		return "", err
	}
	dst, err := os.CreateTemp(path.Dir(final), path.Base(final)+".part-*")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	err = f.Fetch(ctx, id, dst)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst.Name())
	}
	return dst.Name(), err
}

// Import fills a new cache with the tree of the remote: metadata only, the
// content of files stays on the remote until they are opened. Directories
// are listed one at a time, the root first, and a directory that someone
// looks up or reads before the import reaches it is listed right then (see
// ensureListed), so the mount is usable while the import runs. seen is
// called for every file imported, so that the uploader knows the version it
// starts from. Once an import has completed it does nothing; an import that
// was interrupted (a crash, an error) continues where it stopped.
func (fs *FS) Import(ctx context.Context, r remote.Remote, seen func(id uint64, e remote.Entry)) (int, error) {
	if fs.store.GetUint(metaKeyImported) != 0 {
		return 0, nil
	}
	if err := fs.startImport(r, seen); err != nil {
		return 0, err
	}
	count := 0
	queue := []uint64{cache.RootID}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return count, err
		}
		id := queue[0]
		queue = queue[1:]
		n, err := fs.ensureListed(id)
		count += n
		fs.imported.Add(int64(n))
		if err != nil {
			return count, err
		}
		fs.mu.Lock()
		if d, err := fs.dir(id); err == nil {
			for _, cid := range d.children {
				if c, err := fs.get(cid); err == nil && c.isDir() {
					queue = append(queue, cid)
				}
			}
		}
		fs.mu.Unlock()
	}
	b := new(cache.Batch)
	b.SetUint(metaKeyImported, 1)
	if err := fs.store.Commit(b); err != nil {
		return count, err
	}
	return count, fs.store.Fold() // GetUint reads what is folded
}

const (
	metaKeyImported      = "imported"
	metaKeyImportStarted = "import-started"
)

// lister lists the directories the import has not reached yet.
type lister struct {
	r    remote.Remote
	seen func(uint64, remote.Entry)
}

// ImportState reports how many entries the import of this run added so
// far, and whether the cache holds the whole tree of the remote.
func (fs *FS) ImportState() (entries int64, done bool) {
	return fs.imported.Load(), fs.store.GetUint(metaKeyImported) != 0
}

// StartImport attaches the remote that directories not listed yet are
// listed from and, for a new cache, marks the root as not listed yet. Import
// calls it; a mount calls it first so that the tree is usable at once.
func (fs *FS) StartImport(r remote.Remote, seen func(uint64, remote.Entry)) error {
	if fs.store.GetUint(metaKeyImported) != 0 {
		return nil
	}
	return fs.startImport(r, seen)
}

func (fs *FS) startImport(r remote.Remote, seen func(uint64, remote.Entry)) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.list = &lister{r: r, seen: seen}
	if fs.store.GetUint(metaKeyImportStarted) != 0 {
		return nil
	}
	root, err := fs.get(cache.RootID)
	if err != nil {
		return err
	}
	nn := root.Node
	nn.Unlisted = true
	b := new(cache.Batch)
	b.PutNode(&nn)
	b.SetUint(metaKeyImportStarted, 1)
	if err := fs.store.Commit(b); err != nil {
		return err
	}
	root.Node = nn
	return fs.store.Fold()
}

// listTimeout bounds the listing of one directory.
const listTimeout = 5 * time.Minute

// ensureListed lists directory id on the remote if the import has not yet,
// adding the entries it does not have, and returns how many it added.
// Concurrent callers wait for the same listing. It never holds mu while
// the network is used.
func (fs *FS) ensureListed(id uint64) (int, error) {
	for {
		fs.mu.Lock()
		n, err := fs.get(id)
		if err != nil || !n.isDir() || !n.Unlisted {
			fs.mu.Unlock()
			return 0, err
		}
		if ch := n.listing; ch != nil {
			fs.mu.Unlock()
			<-ch
			continue
		}
		l := fs.list
		if l == nil {
			fs.mu.Unlock()
			return 0, fmt.Errorf("%w: directory not listed yet and no remote attached", errOffline)
		}
		ch := make(chan struct{})
		n.listing = ch
		dir := fs.path(n)
		fs.mu.Unlock()

		// Entries go into the DB a page at a time, so a directory of a
		// million objects is never held whole; the directory counts as
		// listed after the last page. A listing cut short is done again,
		// and adds only what it lacks.
		var entries []remote.Entry
		count := 0
		add := func(last bool) error {
			fs.mu.Lock()
			files, fileEntries, err := fs.addListed(n, entries, last)
			fs.mu.Unlock()
			for i, f := range files {
				l.seen(f.ID, fileEntries[i])
			}
			count += len(entries)
			entries = entries[:0]
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
		err = l.r.List(ctx, dir, func(e remote.Entry) error {
			entries = append(entries, e)
			if len(entries) == listPage {
				return add(false)
			}
			return nil
		})
		cancel()
		if err == nil {
			err = add(true)
		}

		fs.mu.Lock()
		n.listing = nil
		close(ch)
		fs.mu.Unlock()
		if err != nil {
			fs.log.Warn("list remote directory", "dir", dir, "err", err)
			return count, fmt.Errorf("%w: list %q: %w", errOffline, dir, err)
		}
		return count, nil
	}
}

// listPage: how many listed entries go into the DB at once.
const listPage = 1000

// addListed adds the listed entries that p does not have yet, new
// directories unlisted, and marks p listed when last. Callers hold mu.
func (fs *FS) addListed(p *node, entries []remote.Entry, last bool) (files []*node, fileEntries []remote.Entry, err error) {
	if _, err := fs.dir(p.ID); err != nil {
		return nil, nil, err
	}
	b := new(cache.Batch)
	var added []*node
	for _, e := range entries {
		name := path.Base(e.Path)
		if len(name) > NameMax {
			continue
		}
		if _, exists := p.children[name]; exists {
			continue
		}
		mt := e.ModTime.UnixNano()
		if e.ModTime.IsZero() {
			mt = time.Now().UnixNano()
		}
		n := &node{Node: cache.Node{ID: fs.newID(b), Parent: p.ID, Name: name, UID: fs.cfg.UID, GID: fs.cfg.GID,
			Mode: uint32(e.Mode.Perm()), Atime: mt, Mtime: mt, Ctime: mt}}
		switch {
		case e.Dir:
			n.Kind, n.children, n.Unlisted = cache.Dir, map[string]uint64{}, true
			if n.Mode == 0 {
				n.Mode = 0o755
			}
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
		b.PutDirent(p.ID, name, n.ID)
		added = append(added, n)
	}
	pn := p.Node
	if last {
		pn.Unlisted = false
		b.PutNode(&pn)
	}
	if err := fs.store.Commit(b); err != nil {
		return nil, nil, err
	}
	p.Node = pn
	for _, n := range added {
		p.children[n.Name] = n.ID
		fs.nodes[n.ID] = n
		fs.note(notice{parent: p.ID, name: n.Name})
	}
	return files, fileEntries, nil
}

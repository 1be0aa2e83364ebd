// Package vfs is ferry's filesystem core: the inode table, open handles and
// every operation, independent of any FUSE library. Adapters (vfs/gofuse,
// vfs/cgofuse) translate kernel requests into calls on FS and map errors
// with Errno.
//
// Each mutation updates the in-memory tree, the metadata database and the
// journal together: the adapter's call returns after one write-ahead-log
// append (cache.Store.Commit), never after a database fsync.
package vfs

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
)

// POSIX file type bits, as carried in Attr.Mode.
const (
	ModeType    = 0o170000
	ModeDir     = 0o040000
	ModeRegular = 0o100000
	ModeSymlink = 0o120000
	ModePerm    = 0o7777
)

// NameMax is the longest name a directory entry may have.
const NameMax = 255

// Attr is what stat(2) shows of a node.
type Attr struct {
	Ino                 uint64
	Mode                uint32 // type and permission bits
	Nlink               uint32
	UID, GID            uint32
	Size                int64
	Blocks              int64 // 512-byte units
	Atime, Mtime, Ctime int64 // ns since the epoch
}

// Config configures a filesystem.
type Config struct {
	Store   *cache.Store
	Journal *journal.Journal
	Log     *slog.Logger
	// MaxPathLen is the longest path the remote can store, in bytes; creating
	// a longer one fails with ENAMETOOLONG. 0: no limit. DirOverhead and
	// LinkOverhead are what the remote adds to the path of a directory
	// ("dir/" markers) or a symlink (".rclonelink" objects).
	MaxPathLen                int
	DirOverhead, LinkOverhead int
	ReadOnly                  bool
	// UID and GID own the root directory when the cache is new.
	UID, GID uint32
}

// node is a loaded node. All fields are guarded by FS.mu.
type node struct {
	cache.Node
	children map[string]uint64 // directories: nil until loaded
	lookups  uint64            // kernel references (lookup count)
	opens    int               // open file handles
	writers  int               // open handles that may write
	// contentMtime is the content file's mtime when last looked at: writes
	// that bypass the core (kernel passthrough) show up as a change of it.
	contentMtime int64
	file         *os.File // content, shared by the open handles
	gen          uint64   // bumped by every content change
	dirty        bool     // content changed since the last journaled write
	unlinked     bool     // no longer in the tree; freed at last close and forget
	// stale: unlinked by a remote change. The kernel may still hold its
	// name for a moment and open it by that name: see Open.
	stale    bool
	fetching chan struct{} // closed when a download of the content ends
	listing  chan struct{} // closed when a listing of the directory ends
	stream   *stream       // the content arriving from the remote, see stream.go
}

func (n *node) isDir() bool { return n.Kind == cache.Dir }

// FS is the filesystem core.
type FS struct {
	store *cache.Store
	j     *journal.Journal
	log   *slog.Logger
	cfg   Config

	// mu guards the node table, the handle table and every node. Content
	// I/O happens outside it. Never held while calling into the kernel.
	mu      sync.Mutex
	nodes   map[uint64]*node
	nextID  uint64
	handles map[uint64]*handle
	nextFH  uint64
	spares  []spare // ready content files, see spare.go
	fetcher Fetcher // downloads absent content, see remote.go
	list    *lister // lists directories the import has not reached, see remote.go

	imported atomic.Int64 // entries the import added this run

	limit CacheLimit // the bound on cached content, see evict.go
	// grown counts the changes that may have added cached content, and
	// scanned what Evict last found: an idle mount need not look again.
	grown   uint64
	scanned struct {
		ok    bool
		grown uint64
		total int64
	}
	used map[uint64]int64 // when files were last opened this run
	// streamLinger: how long a download started by reads goes on after
	// the last of them closed (see stream.go).
	streamLinger time.Duration
	// fetchErr: why the last download from the remote failed, and when;
	// cleared by the next one that lands (see FetchError).
	fetchErr   string
	fetchErrAt time.Time

	refill     chan struct{}
	stop       chan struct{}
	fillerDone chan struct{}

	// Kernel notifications, see sync.go. noteMu guards the fields from
	// notes to noteSent.
	noteMu    sync.Mutex
	notes     []notice
	notifier  Notifier
	queued    uint64        // notices queued so far
	sent      uint64        // notices delivered (or dropped) so far
	noteSent  chan struct{} // closed, and replaced, at each delivery
	noteWake  chan struct{}
	notesDone chan struct{}
}

const metaKeyNextID = "next-node-id"

// New opens the filesystem stored in cfg.Store, creating the root of a new
// cache and repairing what a crash left behind.
func New(cfg Config) (*FS, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	fs := &FS{store: cfg.Store, j: cfg.Journal, log: cfg.Log, cfg: cfg,
		nodes: map[uint64]*node{}, handles: map[uint64]*handle{}, used: map[uint64]int64{},
		refill: make(chan struct{}, 1), stop: make(chan struct{}), fillerDone: make(chan struct{}),
		noteWake: make(chan struct{}, 1), notesDone: make(chan struct{}), noteSent: make(chan struct{}),
		streamLinger: streamLinger}
	fs.nextID = max(fs.store.GetUint(metaKeyNextID), cache.RootID)
	root, ok, err := fs.store.LoadNode(cache.RootID)
	if err != nil {
		return nil, err
	}
	if !ok {
		now := time.Now().UnixNano()
		root = &cache.Node{ID: cache.RootID, Kind: cache.Dir, Mode: 0o755, UID: cfg.UID, GID: cfg.GID,
			Atime: now, Mtime: now, Ctime: now}
		b := new(cache.Batch)
		b.PutNode(root)
		b.SetUint(metaKeyNextID, fs.nextID)
		if err := fs.store.Commit(b); err != nil {
			return nil, err
		}
	}
	fs.nodes[cache.RootID] = &node{Node: *root, lookups: 1}
	if err := fs.recover(); err != nil {
		return nil, fmt.Errorf("recover cache: %w", err)
	}
	go fs.fillSpares()
	go fs.sendNotes()
	fs.refill <- struct{}{}
	return fs, nil
}

// get returns the loaded node id. Callers hold mu.
func (fs *FS) get(id uint64) (*node, error) {
	if n := fs.nodes[id]; n != nil {
		return n, nil
	}
	cn, ok, err := fs.store.LoadNode(id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	n := &node{Node: *cn}
	fs.nodes[id] = n
	return n, nil
}

// dir returns the loaded directory id with its children. Callers hold mu.
func (fs *FS) dir(id uint64) (*node, error) {
	n, err := fs.get(id)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, syscall.ENOTDIR
	}
	if n.children == nil {
		if n.children, err = fs.store.LoadChildren(id); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// child returns the entry name of directory parent. Callers hold mu.
func (fs *FS) child(parent *node, name string) (*node, error) {
	id, ok := parent.children[name]
	if !ok {
		return nil, syscall.ENOENT
	}
	return fs.get(id)
}

// path returns the slash-separated path of n from the root ("" for the root).
func (fs *FS) path(n *node) string {
	if n.ID == cache.RootID {
		return ""
	}
	var parts []string
	for cur := n; cur.ID != cache.RootID; {
		parts = append(parts, cur.Name)
		p := fs.nodes[cur.Parent]
		if p == nil {
			break // unlinked: its last known name
		}
		cur = p
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// checkName validates a new entry name in parent for a node of kind and
// returns its path.
func (fs *FS) checkName(parent *node, name string, kind cache.Kind) (string, error) {
	if len(name) > NameMax {
		return "", syscall.ENAMETOOLONG
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return "", syscall.EINVAL
	}
	p := joinPath(fs.path(parent), name)
	limit := fs.cfg.MaxPathLen
	switch kind {
	case cache.Dir:
		limit -= fs.cfg.DirOverhead
	case cache.Symlink:
		limit -= fs.cfg.LinkOverhead
	}
	if fs.cfg.MaxPathLen > 0 && len(p) > limit {
		return "", syscall.ENAMETOOLONG
	}
	return p, nil
}

func (fs *FS) writable() error {
	if fs.cfg.ReadOnly {
		return syscall.EROFS
	}
	return nil
}

func (fs *FS) newID(b *cache.Batch) uint64 {
	fs.nextID++
	b.SetUint(metaKeyNextID, fs.nextID)
	return fs.nextID
}

func (n *node) attr() Attr {
	a := Attr{Ino: n.ID, Nlink: 1, UID: n.UID, GID: n.GID, Size: n.Size,
		Atime: n.Atime, Mtime: n.Mtime, Ctime: n.Ctime, Mode: n.Mode & ModePerm}
	switch n.Kind {
	case cache.Dir:
		a.Mode |= ModeDir
		a.Nlink = 2
		a.Size = 4096
	case cache.Symlink:
		a.Mode |= ModeSymlink
		a.Size = int64(len(n.Link))
	default:
		a.Mode |= ModeRegular
	}
	if n.unlinked {
		a.Nlink = 0
	}
	a.Blocks = (a.Size + 511) / 512
	return a
}

// commit records b and publishes its ops. Callers hold mu, so that journal
// order is commit order.
func (fs *FS) commit(b *cache.Batch, ops ...*journal.Op) error {
	for _, op := range ops {
		fs.j.Add(b, op)
	}
	if err := fs.store.Commit(b); err != nil {
		fs.log.Error("record change", "err", err)
		return err
	}
	fs.j.Publish(ops...)
	return nil
}

// GetAttr returns the attributes of node id.
func (fs *FS) GetAttr(id uint64) (Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return Attr{}, err
	}
	fs.syncFromContent(n)
	return n.attr(), nil
}

// Lookup finds name in directory parent and takes a kernel reference on it.
func (fs *FS) Lookup(parent uint64, name string) (Attr, error) {
	if len(name) > NameMax {
		return Attr{}, syscall.ENAMETOOLONG
	}
	if _, err := fs.ensureListed(parent); err != nil {
		return Attr{}, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	p, err := fs.dir(parent)
	if err != nil {
		return Attr{}, err
	}
	n, err := fs.child(p, name)
	if err != nil {
		return Attr{}, err
	}
	n.lookups++
	return n.attr(), nil
}

// Forget drops count kernel references on node id.
func (fs *FS) Forget(id, count uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := fs.nodes[id]
	if n == nil {
		return
	}
	n.lookups -= min(count, n.lookups)
	fs.release(n)
}

// release frees an unlinked node once nothing refers to it. Callers hold mu.
func (fs *FS) release(n *node) {
	if !n.unlinked || n.lookups > 0 || n.opens > 0 {
		return
	}
	delete(fs.nodes, n.ID)
	if n.Kind == cache.File {
		if err := fs.store.RemoveContent(n.ID); err != nil {
			fs.log.Warn("remove content", "node", n.ID, "err", err)
		}
		b := new(cache.Batch)
		b.Delete(cache.Meta, orphanKey(n.ID))
		if err := fs.store.Commit(b); err != nil {
			// Harmless: the next start finds the mark and the content gone.
			fs.log.Warn("clear orphan mark", "node", n.ID, "err", err)
		}
	}
}

// StatFS is what statfs(2) reports: the space of the cache disk.
type StatFS struct {
	Blocks, Bfree, Bavail, Files, Ffree uint64
	Bsize, Frsize, NameLen              uint32
}

// Statfs reports the space of the cache disk.
func (fs *FS) Statfs() (StatFS, error) {
	st, err := statfs(fs.store.Dir())
	st.NameLen = NameMax
	return st, err
}

// Path returns the path of node id inside the mount, for logs and tests.
func (fs *FS) Path(id uint64) (string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return "", err
	}
	return fs.path(n), nil
}

// Close closes every open content file. The store stays open.
func (fs *FS) Close() {
	close(fs.stop)
	<-fs.fillerDone
	<-fs.notesDone
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, s := range fs.spares {
		s.f.Close() // recorded as spare: the next start removes them
	}
	fs.spares = nil
	for _, n := range fs.nodes {
		if n.file != nil {
			n.file.Close()
			n.file = nil
		}
	}
}

// SyncJournal makes every change so far durable (fsync of a directory).
func (fs *FS) SyncJournal() error { return fs.store.Sync() }

// Resolve returns the attributes of the node at a slash-separated path from
// the root ("" or "/" is the root), for path-based adapters (cgofuse, whose
// callbacks name files by path). It takes no kernel reference.
func (fs *FS) Resolve(p string) (Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(cache.RootID)
	if err != nil {
		return Attr{}, err
	}
	for _, name := range strings.Split(p, "/") {
		if name == "" {
			continue
		}
		if len(name) > NameMax {
			return Attr{}, syscall.ENAMETOOLONG
		}
		d, err := fs.dir(n.ID)
		if err != nil {
			return Attr{}, err
		}
		if n, err = fs.child(d, name); err != nil {
			return Attr{}, err
		}
	}
	fs.syncFromContent(n)
	return n.attr(), nil
}

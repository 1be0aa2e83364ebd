package vfs

import (
	"errors"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// This file applies changes that come from the remote (the poller, a
// reconciliation listing, conflict handling). They update the tree and the
// database like local changes do, but they are not journaled: the remote
// has them already. The kernel is told, so that cached entries and pages go.

// Notifier tells the kernel that what it cached of an entry or an inode is
// stale. The FUSE adapter implements it. FS calls it from a goroutine of
// its own, never while holding its lock: the kernel may call back into the
// filesystem before a notification returns.
type Notifier interface {
	InvalEntry(parent uint64, name string)
	InvalInode(id uint64)
}

type notice struct {
	parent uint64 // 0: an inode notice for id
	id     uint64
	name   string
}

// SetNotifier attaches the kernel notifier.
func (fs *FS) SetNotifier(n Notifier) {
	fs.noteMu.Lock()
	fs.notifier = n
	fs.noteMu.Unlock()
}

// note queues a kernel notification. Callers may hold mu.
func (fs *FS) note(nt notice) {
	fs.noteMu.Lock()
	fs.notes = append(fs.notes, nt)
	fs.queued++
	fs.noteMu.Unlock()
	select {
	case fs.noteWake <- struct{}{}:
	default:
	}
}

// sendNotes delivers queued notifications until stop closes.
func (fs *FS) sendNotes() {
	defer close(fs.notesDone)
	for {
		select {
		case <-fs.stop:
			return
		case <-fs.noteWake:
		}
		fs.noteMu.Lock()
		notes, n := fs.notes, fs.notifier
		fs.notes = nil
		fs.noteMu.Unlock()
		for _, nt := range notes {
			switch {
			case n == nil:
			case nt.parent == 0:
				n.InvalInode(nt.id)
			default:
				n.InvalEntry(nt.parent, nt.name)
			}
		}
		fs.noteMu.Lock()
		fs.sent += uint64(len(notes))
		close(fs.noteSent)
		fs.noteSent = make(chan struct{})
		fs.noteMu.Unlock()
	}
}

// noteWait bounds how long a change from the remote waits for the kernel
// to hear of it.
const noteWait = 200 * time.Millisecond

// Settle waits (at most noteWait) until the kernel has been told of every
// change queued so far. The poller calls it after each batch of remote
// changes, so that the kernel's cache does not show the old state of a
// path for long after the tree has moved on: someone who reads a file just
// changed remotely and then saves it must not overwrite what they did not
// see. Never call it from a FUSE operation.
func (fs *FS) Settle() {
	deadline := time.NewTimer(noteWait)
	defer deadline.Stop()
	fs.noteMu.Lock()
	target := fs.queued
	for fs.sent < target {
		ch := fs.noteSent
		fs.noteMu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return
		case <-fs.stop:
			return
		}
		fs.noteMu.Lock()
	}
	fs.noteMu.Unlock()
}

// importing reports whether the first import of the remote is still under
// way: a directory that a remote change makes meanwhile may hold more than
// the change says, so it is listed like the import's own.
func (fs *FS) importing() bool {
	return fs.store.GetUint(metaKeyImported) == 0
}

// ErrKind: the remote has a different kind of entry (file, directory,
// symlink) at a path than the mount.
var ErrKind = journal.ErrKind

// busy reports whether n is a file with changes not journaled yet, which
// a remote change must not replace. Callers hold mu.
func (n *node) busy() bool {
	return n.Kind == cache.File && (n.dirty || n.writers > 0)
}

// NodeAt returns the node at the slash-separated path p ("" is the root).
func (fs *FS) NodeAt(p string) (id uint64, dir, ok bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.walk(p)
	if err != nil {
		return 0, false, false
	}
	return n.ID, n.isDir(), true
}

// walk resolves p. Callers hold mu.
func (fs *FS) walk(p string) (*node, error) {
	n, err := fs.get(cache.RootID)
	if err != nil || p == "" {
		return n, err
	}
	for name := range strings.SplitSeq(p, "/") {
		d, err := fs.dir(n.ID)
		if err != nil {
			return nil, err
		}
		if n, err = fs.child(d, name); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// NodesUnder returns the ids of the node at p and everything below it.
func (fs *FS) NodesUnder(p string) []uint64 {
	ids, _ := fs.under(p)
	return ids
}

// FilesUnder counts the files and symlinks below p.
func (fs *FS) FilesUnder(p string) int {
	_, files := fs.under(p)
	return files
}

// under returns the ids of the node at p and everything below it, and how
// many of them are not directories.
func (fs *FS) under(p string) (ids []uint64, files int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.walk(p)
	if err != nil {
		return nil, 0
	}
	var visit func(n *node)
	visit = func(n *node) {
		ids = append(ids, n.ID)
		if !n.isDir() {
			files++
			return
		}
		d, err := fs.dir(n.ID)
		if err != nil {
			return
		}
		for _, id := range d.children {
			if c, err := fs.get(id); err == nil {
				visit(c)
			}
		}
	}
	visit(n)
	return ids, files
}

// ensureDirs makes the directories of p's parents that are missing and
// returns the parent of p. Callers hold mu.
func (fs *FS) ensureDirs(p string, b *cache.Batch, made *[]*node) (*node, error) {
	cur, err := fs.dir(cache.RootID)
	if err != nil {
		return nil, err
	}
	dir := path.Dir(p)
	if dir == "." {
		return cur, nil
	}
	for name := range strings.SplitSeq(dir, "/") {
		if id, ok := cur.children[name]; ok {
			c, err := fs.get(id)
			if err != nil {
				return nil, err
			}
			if !c.isDir() {
				return nil, ErrKind
			}
			if cur, err = fs.dir(id); err != nil {
				return nil, err
			}
			continue
		}
		now := time.Now().UnixNano()
		n := &node{Node: cache.Node{ID: fs.newID(b), Parent: cur.ID, Name: name, Kind: cache.Dir, Mode: 0o755,
			UID: fs.cfg.UID, GID: fs.cfg.GID, Atime: now, Mtime: now, Ctime: now, Unlisted: fs.importing()},
			children: map[string]uint64{}}
		fs.install(cur, n, b)
		*made = append(*made, n)
		cur = n
	}
	return cur, nil
}

// install adds the new node n to p in memory and in b. Callers hold mu.
func (fs *FS) install(p, n *node, b *cache.Batch) {
	b.PutNode(&n.Node)
	b.PutDirent(p.ID, n.Name, n.ID)
	p.children[n.Name] = n.ID
	fs.nodes[n.ID] = n
	fs.note(notice{parent: p.ID, name: n.Name})
}

// ApplyEntry makes the node at e.Path what the remote entry e describes,
// creating missing parent directories, and returns its id. A file's
// content becomes absent (downloaded on the next open). An existing node
// keeps its id, unless it is a file that is open, or a file where e is a
// symlink or the other way round: then it is detached like an unlinked
// file, so open handles keep reading what they opened, and a new node
// takes its place. A directory where e is none, or the other way round, is
// ErrKind, and a file open for writing journal.ErrLocalChanges. The caller
// makes sure a node it replaces has nothing pending in the journal.
func (fs *FS) ApplyEntry(e remote.Entry) (uint64, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if e.Path == "" {
		return cache.RootID, nil
	}
	b := new(cache.Batch)
	var made []*node
	p, err := fs.ensureDirs(e.Path, b, &made)
	if err != nil {
		return 0, err
	}
	name := path.Base(e.Path)
	if len(name) > NameMax {
		return 0, syscall.ENAMETOOLONG
	}
	kind := cache.File
	switch {
	case e.Dir:
		kind = cache.Dir
	case e.Link != "":
		kind = cache.Symlink
	}
	mt := e.ModTime.UnixNano()
	if e.ModTime.IsZero() {
		mt = time.Now().UnixNano()
	}
	var n *node
	if id, ok := p.children[name]; ok {
		if n, err = fs.get(id); err != nil {
			return 0, err
		}
		if n.Kind != kind && (n.isDir() || kind == cache.Dir) {
			return 0, ErrKind
		}
		if n.busy() {
			return 0, journal.ErrLocalChanges
		}
		// A file that became a symlink, or a symlink a file (ln -sf
		// there), is a new node; so is a file that is open, whose handles
		// keep reading what they opened.
		if n.Kind != kind || kind == cache.File && n.opens > 0 {
			now := time.Now().UnixNano()
			b.DeleteDirent(p.ID, name)
			fs.dropNode(n, b)
			delete(p.children, name)
			fs.removed(n, now)
			n = nil
		}
	}
	if n == nil {
		n = &node{Node: cache.Node{ID: fs.newID(b), Parent: p.ID, Name: name, Kind: kind, Mode: 0o644,
			UID: fs.cfg.UID, GID: fs.cfg.GID, Atime: mt, Ctime: mt}}
		if kind == cache.Dir {
			n.Mode, n.children, n.Unlisted = 0o755, map[string]uint64{}, fs.importing()
		}
		fs.install(p, n, b)
	} else {
		fs.note(notice{id: n.ID})
	}
	nn := n.Node
	nn.Mtime, nn.Ctime = mt, time.Now().UnixNano()
	if perm := uint32(e.Mode.Perm()); perm != 0 {
		nn.Mode = perm | nn.Mode&^0o777
	}
	switch kind {
	case cache.File:
		nn.Size, nn.Absent = e.Size, true
		if err := fs.store.RemoveContent(n.ID); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		b.Delete(cache.Meta, dirtyKey(n.ID))
		n.gen++
		n.dirty = false
		n.stream, n.fetching = nil, nil // a download under way fetches the old version
	case cache.Symlink:
		nn.Link, nn.Size, nn.Mode = e.Link, int64(len(e.Link)), 0o777
	}
	b.PutNode(&nn)
	if err := fs.store.Commit(b); err != nil {
		return 0, err
	}
	n.Node = nn
	return n.ID, nil
}

// ApplyMeta gives file id, whose content is the remote entry e's, e's
// modification time and permissions: a metadata change (touch, chmod)
// made on another device. A file with changes not journaled yet is
// journal.ErrLocalChanges.
func (fs *FS) ApplyMeta(id uint64, e remote.Entry) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return err
	}
	if n.busy() {
		return journal.ErrLocalChanges
	}
	nn := n.Node
	if !e.ModTime.IsZero() {
		nn.Mtime = e.ModTime.UnixNano()
	}
	if perm := uint32(e.Mode.Perm()); perm != 0 && n.Kind == cache.File {
		nn.Mode = perm | nn.Mode&^0o777
	}
	if nn.Mtime == n.Mtime && nn.Mode == n.Mode {
		return nil
	}
	nn.Ctime = time.Now().UnixNano()
	b := new(cache.Batch)
	b.PutNode(&nn)
	if err := fs.store.Commit(b); err != nil {
		return err
	}
	n.Node = nn
	fs.note(notice{id: n.ID})
	return nil
}

// RemoveAt removes the node at p, and for a directory everything below it,
// as a change that came from the remote, if it is node id (0: whichever
// node is there): a file made at p since the caller looked is another one.
// Open files keep their content until closed. A missing p is not an error.
func (fs *FS) RemoveAt(p string, id uint64) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.walk(p)
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) || n == nil || n.ID == cache.RootID || id != 0 && n.ID != id {
		return nil
	}
	if err != nil {
		return err
	}
	parent, err := fs.dir(n.Parent)
	if err != nil {
		return err
	}
	b := new(cache.Batch)
	var gone []*node
	var drop func(n *node) error
	drop = func(n *node) error {
		if n.busy() {
			return journal.ErrLocalChanges
		}
		if n.isDir() {
			d, err := fs.dir(n.ID)
			if err != nil {
				return err
			}
			for name, id := range d.children {
				c, err := fs.get(id)
				if err != nil {
					return err
				}
				if err := drop(c); err != nil {
					return err
				}
				b.DeleteDirent(n.ID, name)
			}
		}
		fs.dropNode(n, b)
		gone = append(gone, n)
		return nil
	}
	if err := drop(n); err != nil {
		return err
	}
	b.DeleteDirent(parent.ID, n.Name)
	if err := fs.store.Commit(b); err != nil {
		return err
	}
	delete(parent.children, n.Name)
	now := time.Now().UnixNano()
	for _, g := range gone {
		if g.isDir() {
			clear(g.children)
		}
		fs.removed(g, now)
	}
	fs.note(notice{parent: parent.ID, name: n.Name})
	return nil
}

// MoveAt moves the node at from to to, as a change that came from the
// remote, replacing what is at to and creating its missing parents.
func (fs *FS) MoveAt(from, to string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.walk(from)
	if err != nil {
		return err
	}
	if n.ID == cache.RootID || to == from || strings.HasPrefix(to, from+"/") {
		return syscall.EINVAL
	}
	op, err := fs.dir(n.Parent)
	if err != nil {
		return err
	}
	if t, err := fs.walk(to); err == nil && t.busy() {
		return journal.ErrLocalChanges
	}
	b := new(cache.Batch)
	var made []*node
	np, err := fs.ensureDirs(to, b, &made)
	if err != nil {
		return err
	}
	name := path.Base(to)
	now := time.Now().UnixNano()
	var t *node
	if id, ok := np.children[name]; ok {
		if t, err = fs.get(id); err != nil {
			return err
		}
		if t.isDir() {
			if _, err := fs.dir(t.ID); err != nil {
				return err
			}
			if len(t.children) > 0 {
				return syscall.ENOTEMPTY
			}
		}
		fs.dropNode(t, b)
	}
	nn := n.Node
	nn.Parent, nn.Name, nn.Ctime = np.ID, name, now
	b.DeleteDirent(op.ID, n.Name)
	b.PutDirent(np.ID, name, n.ID)
	b.PutNode(&nn)
	if err := fs.store.Commit(b); err != nil {
		return err
	}
	delete(op.children, n.Name)
	fs.note(notice{parent: op.ID, name: n.Name})
	np.children[name] = n.ID
	fs.note(notice{parent: np.ID, name: name})
	n.Node = nn
	if t != nil {
		fs.removed(t, now)
	}
	return nil
}

// ConflictCopy renames node id to name+suffix (before the extension of a
// file) in the same directory, choosing a free name, and journals it as a
// new entry so that it is uploaded like any new file: a file as a create,
// a directory as a rename of the directory. It returns the new path.
func (fs *FS) ConflictCopy(id uint64, suffix string) (string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return "", err
	}
	if n.unlinked || n.ID == cache.RootID {
		return "", syscall.ENOENT
	}
	p, err := fs.dir(n.Parent)
	if err != nil {
		return "", err
	}
	oldPath := fs.path(n)
	name, free := journal.FreeConflictName(n.Name, suffix, n.isDir(), func(name string) bool {
		_, taken := p.children[name]
		return taken
	})
	if !free {
		return "", syscall.EEXIST
	}
	newPath, err := fs.checkName(p, name, n.Kind)
	if err != nil {
		return "", err
	}
	now := time.Now().UnixNano()
	b := new(cache.Batch)
	nn := n.Node
	nn.Name, nn.Ctime = name, now
	b.DeleteDirent(p.ID, n.Name)
	b.PutDirent(p.ID, name, n.ID)
	b.PutNode(&nn)
	var op *journal.Op
	switch n.Kind {
	case cache.Dir:
		op = fs.newOp(journal.Rename, &nn, oldPath, newPath)
	case cache.Symlink:
		op = fs.newOp(journal.Symlink, &nn, newPath, "")
	default:
		op = fs.newOp(journal.Create, &nn, newPath, "")
	}
	if err := fs.commit(b, op); err != nil {
		return "", err
	}
	delete(p.children, n.Name)
	fs.note(notice{parent: p.ID, name: n.Name})
	p.children[name] = n.ID
	fs.note(notice{parent: p.ID, name: name})
	n.Node = nn
	return newPath, nil
}

// ConflictName is journal.ConflictName, for the adapters and tests.
func ConflictName(name, suffix string, dir bool) string {
	return journal.ConflictName(name, suffix, dir)
}

// Republish journals node id anew at its current path. With from "", as
// created, so that it is uploaded again as a new file: the backup mode's
// answer to a file deleted on the remote. Otherwise as renamed from from,
// so that what the remote has at from moves to where the node is: the
// answer to a file a remote directory move left behind.
func (fs *FS) Republish(id uint64, from string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return err
	}
	if from != "" {
		if n.unlinked {
			return nil
		}
		return fs.commit(new(cache.Batch), fs.newOp(journal.Rename, &n.Node, from, fs.path(n)))
	}
	if n.unlinked || n.Kind != cache.File || n.Absent {
		return nil // gone, or its content only ever was on the remote
	}
	return fs.commit(new(cache.Batch), fs.newOp(journal.Create, &n.Node, fs.path(n), ""))
}

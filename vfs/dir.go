package vfs

import (
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
)

// Caller is who makes a request; new nodes belong to them.
type Caller struct{ UID, GID uint32 }

// DirEntry is one entry of a directory listing.
type DirEntry struct {
	Name string
	Ino  uint64
	Mode uint32 // type bits only
	Off  uint64 // offset of the entry after this one
}

const (
	sISGID = 0o2000
	sISVTX = 0o1000
)

func (fs *FS) newOp(kind journal.Kind, n *cache.Node, path, path2 string) *journal.Op {
	return &journal.Op{Kind: kind, Node: n.ID, Dir: n.Kind == cache.Dir, Path: path, Path2: path2, Size: n.Size}
}

// prepareNew validates name in parent and returns a new node owned by c.
// Callers hold mu.
// id 0 allocates a new id.
func (fs *FS) prepareNew(parentID uint64, name string, kind cache.Kind, mode uint32, c Caller, b *cache.Batch, id uint64) (*node, *node, string, error) {
	if err := fs.writable(); err != nil {
		return nil, nil, "", err
	}
	p, err := fs.dir(parentID)
	if err != nil {
		return nil, nil, "", err
	}
	if p.unlinked {
		return nil, nil, "", syscall.ENOENT
	}
	path, err := fs.checkName(p, name, kind)
	if err != nil {
		return nil, nil, "", err
	}
	if _, ok := p.children[name]; ok {
		return nil, nil, "", syscall.EEXIST
	}
	now := time.Now().UnixNano()
	if id == 0 {
		id = fs.newID(b)
	}
	n := &node{Node: cache.Node{ID: id, Parent: p.ID, Name: name, Kind: kind, Mode: mode & ModePerm,
		UID: c.UID, GID: c.GID, Atime: now, Mtime: now, Ctime: now}}
	if p.Mode&sISGID != 0 {
		n.GID = p.GID
		if kind == cache.Dir {
			n.Mode |= sISGID
		}
	}
	return p, n, path, nil
}

// link commits a new node n into p and installs it. Callers hold mu.
func (fs *FS) link(p, n *node, b *cache.Batch, op *journal.Op) error {
	pn := p.Node
	pn.Mtime, pn.Ctime = n.Mtime, n.Mtime
	b.PutNode(&n.Node)
	b.PutDirent(p.ID, n.Name, n.ID)
	b.PutNode(&pn)
	if err := fs.commit(b, op); err != nil {
		return err
	}
	p.Node = pn
	p.children[n.Name] = n.ID
	fs.nodes[n.ID] = n
	n.lookups++
	return nil
}

// Mkdir creates directory name in parent.
func (fs *FS) Mkdir(parent uint64, name string, mode uint32, c Caller) (Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	b := new(cache.Batch)
	p, n, path, err := fs.prepareNew(parent, name, cache.Dir, mode, c, b, 0)
	if err != nil {
		return Attr{}, err
	}
	n.children = map[string]uint64{}
	if err := fs.link(p, n, b, fs.newOp(journal.Mkdir, &n.Node, path, "")); err != nil {
		return Attr{}, err
	}
	return n.attr(), nil
}

// Symlink creates name in parent pointing to target.
func (fs *FS) Symlink(parent uint64, name, target string, c Caller) (Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	b := new(cache.Batch)
	p, n, path, err := fs.prepareNew(parent, name, cache.Symlink, 0o777, c, b, 0)
	if err != nil {
		return Attr{}, err
	}
	n.Link, n.Size = target, int64(len(target))
	if err := fs.link(p, n, b, fs.newOp(journal.Symlink, &n.Node, path, "")); err != nil {
		return Attr{}, err
	}
	return n.attr(), nil
}

// Readlink returns the target of symlink id.
func (fs *FS) Readlink(id uint64) (string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return "", err
	}
	if n.Kind != cache.Symlink {
		return "", syscall.EINVAL
	}
	return n.Link, nil
}

// Unlink removes the non-directory name from parent.
func (fs *FS) Unlink(parent uint64, name string) error {
	return fs.remove(parent, name, false)
}

// Rmdir removes the empty directory name from parent.
func (fs *FS) Rmdir(parent uint64, name string) error {
	return fs.remove(parent, name, true)
}

func (fs *FS) remove(parent uint64, name string, wantDir bool) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.writable(); err != nil {
		return err
	}
	p, err := fs.dir(parent)
	if err != nil {
		return err
	}
	n, err := fs.child(p, name)
	if err != nil {
		return err
	}
	kind := journal.Unlink
	if wantDir {
		kind = journal.Rmdir
		if !n.isDir() {
			return syscall.ENOTDIR
		}
		if _, err := fs.dir(n.ID); err != nil {
			return err
		}
		if len(n.children) > 0 {
			return syscall.ENOTEMPTY
		}
	} else if n.isDir() {
		return syscall.EISDIR
	}
	op := fs.newOp(kind, &n.Node, fs.path(n), "")
	b := new(cache.Batch)
	now := time.Now().UnixNano()
	pn := p.Node
	pn.Mtime, pn.Ctime = now, now
	b.PutNode(&pn)
	b.DeleteDirent(p.ID, name)
	fs.dropNode(n, b)
	if err := fs.commit(b, op); err != nil {
		return err
	}
	p.Node = pn
	delete(p.children, name)
	fs.unlinked(n, now)
	return nil
}

// dropNode records the removal of n from the tree in b. A file that is
// still open keeps its content until the last close; the orphan mark lets
// the next start clean it up after a crash.
func (fs *FS) dropNode(n *node, b *cache.Batch) {
	b.DeleteNode(n.ID)
	b.Delete(cache.Meta, dirtyKey(n.ID))
	if n.Kind == cache.File && n.opens > 0 {
		b.Put(cache.Meta, orphanKey(n.ID), nil)
	}
}

// unlinked updates memory after dropNode's batch committed.
func (fs *FS) unlinked(n *node, now int64) {
	n.unlinked = true
	n.Ctime = now
	n.dirty = false
	fs.release(n)
}

// removed is unlinked for a node a remote change took out of the tree.
func (fs *FS) removed(n *node, now int64) {
	n.stale = true
	fs.unlinked(n, now)
}

// staleOpen is the error of an open of n when a remote change removed it
// after the kernel looked its name up: ESTALE makes the kernel look the
// name up again and retry, so that the open finds what the tree holds now
// (nothing, or a new file with O_CREAT) rather than writes going to a file
// no longer in the tree. Callers hold mu.
func staleOpen(n *node) error {
	if n.stale {
		return syscall.ESTALE
	}
	return nil
}

// Rename flags, as in renameat2(2).
const (
	RenameNoReplace = 1
	RenameExchange  = 2
)

// Rename moves oldName in oldParent to newName in newParent.
func (fs *FS) Rename(oldParent uint64, oldName string, newParent uint64, newName string, flags uint32) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.writable(); err != nil {
		return err
	}
	if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
		return syscall.EINVAL
	}
	op, err := fs.dir(oldParent)
	if err != nil {
		return err
	}
	np, err := fs.dir(newParent)
	if err != nil {
		return err
	}
	n, err := fs.child(op, oldName)
	if err != nil {
		return err
	}
	newPath, err := fs.checkName(np, newName, n.Kind)
	if err != nil {
		return err
	}
	if n.isDir() {
		for cur := np; ; cur = fs.nodes[cur.Parent] {
			if cur == n {
				return syscall.EINVAL // into its own subtree
			}
			if cur == nil || cur.ID == cache.RootID {
				break
			}
		}
	}
	var t *node
	if id, ok := np.children[newName]; ok {
		if t, err = fs.get(id); err != nil {
			return err
		}
	}
	if t == n {
		return nil
	}
	switch {
	case flags&RenameNoReplace != 0 && t != nil:
		return syscall.EEXIST
	case flags&RenameExchange != 0:
		if t == nil {
			return syscall.ENOENT
		}
		if t.isDir() {
			for cur := op; cur != nil && cur.ID != cache.RootID; cur = fs.nodes[cur.Parent] {
				if cur == t {
					return syscall.EINVAL
				}
			}
		}
		return fs.exchange(op, n, np, t, newPath)
	case t != nil && n.isDir():
		if !t.isDir() {
			return syscall.ENOTDIR
		}
		if _, err := fs.dir(t.ID); err != nil {
			return err
		}
		if len(t.children) > 0 {
			return syscall.ENOTEMPTY
		}
	case t != nil && t.isDir():
		return syscall.EISDIR
	}
	oldPath := fs.path(n)
	now := time.Now().UnixNano()
	b := new(cache.Batch)
	nn := n.Node
	nn.Parent, nn.Name, nn.Ctime = np.ID, newName, now
	opn, npn := op.Node, np.Node
	opn.Mtime, opn.Ctime = now, now
	npn.Mtime, npn.Ctime = now, now
	b.DeleteDirent(op.ID, oldName)
	b.PutDirent(np.ID, newName, n.ID)
	b.PutNode(&nn)
	if op == np {
		b.PutNode(&opn)
	} else {
		b.PutNode(&opn)
		b.PutNode(&npn)
	}
	if t != nil {
		fs.dropNode(t, b)
	}
	rop := fs.newOp(journal.Rename, &n.Node, oldPath, newPath)
	rop.Replaced = t != nil
	if err := fs.commit(b, rop); err != nil {
		return err
	}
	delete(op.children, oldName)
	np.children[newName] = n.ID
	n.Node = nn
	if op == np {
		op.Node = opn
	} else {
		op.Node, np.Node = opn, npn
	}
	if t != nil {
		fs.unlinked(t, now)
	}
	return nil
}

// exchange swaps n (in op) and t (in np). The journal records it as three
// renames through a temporary name, which is how a remote without an atomic
// exchange carries it out.
func (fs *FS) exchange(op, n, np, t *node, tPath string) error {
	nPath := fs.path(n)
	tmp := joinPath(fs.path(op), fmt.Sprintf(".ferry-exchange-%d", n.ID))
	now := time.Now().UnixNano()
	nn, tn := n.Node, t.Node
	nn.Parent, nn.Name, nn.Ctime = t.Parent, t.Name, now
	tn.Parent, tn.Name, tn.Ctime = n.Parent, n.Name, now
	b := new(cache.Batch)
	b.PutDirent(nn.Parent, nn.Name, n.ID)
	b.PutDirent(tn.Parent, tn.Name, t.ID)
	b.PutNode(&nn)
	b.PutNode(&tn)
	ops := []*journal.Op{
		fs.newOp(journal.Rename, &n.Node, nPath, tmp),
		fs.newOp(journal.Rename, &t.Node, tPath, nPath),
		fs.newOp(journal.Rename, &n.Node, tmp, tPath),
	}
	if err := fs.commit(b, ops...); err != nil {
		return err
	}
	n.Node, t.Node = nn, tn
	np.children[nn.Name] = n.ID
	op.children[tn.Name] = t.ID
	return nil
}

// OpenDir snapshots directory id for reading: entries added or removed
// while it is read neither repeat nor vanish from the listing.
func (fs *FS) OpenDir(id uint64) (uint64, error) {
	if _, err := fs.ensureListed(id); err != nil {
		return 0, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, err := fs.dir(id)
	if err != nil {
		return 0, err
	}
	names := make([]string, 0, len(d.children))
	for name := range d.children {
		names = append(names, name)
	}
	slices.Sort(names)
	ents := make([]DirEntry, 0, len(names)+2)
	ents = append(ents, DirEntry{Name: ".", Ino: d.ID, Mode: ModeDir}, DirEntry{Name: "..", Ino: max(d.Parent, cache.RootID), Mode: ModeDir})
	for _, name := range names {
		cid := d.children[name]
		c, err := fs.get(cid)
		if err != nil {
			return 0, err
		}
		ents = append(ents, DirEntry{Name: name, Ino: cid, Mode: c.attr().Mode & ModeType})
	}
	for i := range ents {
		ents[i].Off = uint64(i + 1)
	}
	return fs.newHandle(&handle{node: d, entries: ents}), nil
}

// ReadDir returns the entries of directory handle fh from offset off on.
func (fs *FS) ReadDir(fh, off uint64) ([]DirEntry, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h := fs.handles[fh]
	if h == nil || h.entries == nil {
		return nil, syscall.EBADF
	}
	if off >= uint64(len(h.entries)) {
		return nil, nil
	}
	return h.entries[off:], nil
}

// ReleaseDir closes directory handle fh.
func (fs *FS) ReleaseDir(fh uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(fs.handles, fh)
}

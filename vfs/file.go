package vfs

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// handle is an open file or directory. Guarded by FS.mu.
type handle struct {
	node    *node
	stream  *stream    // reads wait for the content as it arrives
	flags   uint32     // open(2) flags
	write   bool       // opened for writing
	entries []DirEntry // directories: the snapshot being read
}

func (fs *FS) newHandle(h *handle) uint64 {
	fs.nextFH++
	fs.handles[fs.nextFH] = h
	return fs.nextFH
}

func (fs *FS) handle(fh uint64) (*handle, error) {
	h := fs.handles[fh]
	if h == nil || h.node == nil {
		return nil, syscall.EBADF
	}
	return h, nil
}

func dirtyKey(id uint64) []byte  { return append([]byte("dirty/"), cache.Key(id)...) }
func orphanKey(id uint64) []byte { return append([]byte("orphan/"), cache.Key(id)...) }

// Create creates and opens the regular file name in parent.
func (fs *FS) Create(parent uint64, name string, flags, mode uint32, c Caller) (Attr, uint64, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	b := new(cache.Batch)
	id, f, spared := fs.takeSpare(b)
	p, n, path, err := fs.prepareNew(parent, name, cache.File, mode, c, b, id)
	if err != nil {
		if spared {
			fs.spares = append(fs.spares, spare{id: id, f: f})
		}
		return Attr{}, 0, err
	}
	if !spared {
		if f, err = fs.store.CreateContent(n.ID); err != nil {
			return Attr{}, 0, err
		}
	}
	// New content is dirty until its first close records a write.
	b.Put(cache.Meta, dirtyKey(n.ID), nil)
	if err := fs.link(p, n, b, fs.newOp(journal.Create, &n.Node, path, "")); err != nil {
		f.Close()
		fs.store.RemoveContent(n.ID)
		return Attr{}, 0, err
	}
	n.file, n.opens, n.dirty = f, 1, true
	n.contentMtime = fileMtime(f)
	h := &handle{node: n, flags: flags}
	fs.startWriter(h)
	return n.attr(), fs.newHandle(h), nil
}

// Open opens node id. O_TRUNC truncates.
func (fs *FS) Open(id uint64, flags uint32) (uint64, error) {
	if fh, ok, err := fs.openStreaming(id, flags); ok || err != nil {
		return fh, err
	}
	if err := fs.lockContent(id, flags&syscall.O_TRUNC == 0); err == syscall.ENOENT {
		return 0, syscall.ESTALE // gone from the remote: see staleOpen
	} else if err != nil {
		return 0, err
	}
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return 0, err
	}
	if err := staleOpen(n); err != nil {
		return 0, err
	}
	if n.isDir() {
		return 0, syscall.EISDIR
	}
	if n.Kind != cache.File {
		return 0, syscall.ELOOP
	}
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if write || flags&syscall.O_TRUNC != 0 {
		if err := fs.writable(); err != nil {
			return 0, err
		}
	}
	if n.file == nil {
		f, err := fs.store.OpenContent(id, true)
		if err != nil {
			return 0, err
		}
		n.file = f
		n.contentMtime = fileMtime(f)
	}
	if write {
		if err := fs.markDirty(n); err != nil {
			fs.closeIfUnused(n)
			return 0, err
		}
	}
	if flags&syscall.O_TRUNC != 0 && (n.Size > 0 || n.Absent) {
		if err := fs.truncate(n, 0); err != nil {
			fs.closeIfUnused(n)
			return 0, err
		}
		n.Absent = false // nothing of the remote copy is needed
	}
	n.opens++
	fs.touch(n.ID)
	h := &handle{node: n, flags: flags}
	if write {
		fs.startWriter(h)
	}
	return fs.newHandle(h), nil
}

// openStreaming opens a file whose content is only on the remote for
// reading through a stream (see stream.go), if it is one. It returns once
// the remote has answered, so that a file that changed there since the
// mount last heard is never read with the old size: the mount takes the
// new version, and ESTALE makes the kernel look the name up again and
// retry the open.
func (fs *FS) openStreaming(id uint64, flags uint32) (uint64, bool, error) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return 0, false, nil
	}
	fs.mu.Lock()
	var n *node
	var s *stream
	for {
		var err error
		n, err = fs.get(id)
		if err == nil {
			err = staleOpen(n)
		}
		if err != nil || n.Kind != cache.File || !n.Absent {
			fs.mu.Unlock()
			return 0, false, err
		}
		if s = fs.startStream(n); s == nil {
			fs.mu.Unlock()
			return 0, false, nil
		}
		if s.use() {
			break
		}
		// A download stopping as nobody read it: a new one starts once it ends.
		ch := n.fetching
		fs.mu.Unlock()
		<-ch
		fs.mu.Lock()
	}
	n.opens++
	fs.touch(n.ID)
	fh := fs.newHandle(&handle{node: n, flags: flags, stream: s})
	fs.mu.Unlock()
	switch err := s.waitStart(openWait); {
	case errors.Is(err, remote.ErrPrecondition):
		fs.Release(fh)
		return 0, true, syscall.ESTALE
	case errors.Is(err, remote.ErrNotFound):
		fs.Release(fh)
		return 0, true, syscall.ESTALE // runStream took the name out
	}
	return fh, true, nil
}

// startWriter notes a handle that may write. While any is open the content
// can change without the core seeing the writes (kernel passthrough), so
// uploads of the node are held back and attributes are read from the
// content file. Callers hold mu.
func (fs *FS) startWriter(h *handle) {
	h.write = true
	h.node.writers++
	h.node.gen++
	fs.grown++
}

// syncFromContent picks up size and mtime changes that writes made to the
// content file without going through Write. Callers hold mu.
func (fs *FS) syncFromContent(n *node) {
	if n.writers == 0 || n.file == nil {
		return
	}
	st, err := n.file.Stat()
	if err != nil {
		return
	}
	mt := st.ModTime().UnixNano()
	if st.Size() == n.Size && mt == n.contentMtime {
		return
	}
	if mt != n.contentMtime {
		n.Mtime, n.Ctime = mt, max(n.Ctime, mt)
		n.contentMtime = mt
	}
	n.Size = st.Size()
	n.gen++
	fs.grown++
	killPriv(&n.Node)
}

func fileMtime(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return st.ModTime().UnixNano()
}

// ContentFile returns the content file behind file handle fh, for an
// adapter that lets the kernel read and write it directly (passthrough).
func (fs *FS) ContentFile(fh uint64) *os.File {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h := fs.handles[fh]
	if h == nil || h.node == nil || h.stream != nil {
		return nil // a streaming read goes through the core
	}
	return h.node.file
}

func (fs *FS) closeIfUnused(n *node) {
	if n.opens == 0 && n.file != nil {
		n.file.Close()
		n.file = nil
	}
}

// truncate sets the content size of n and marks it dirty. Callers hold mu
// and have n.file open.
func (fs *FS) truncate(n *node, size int64) error {
	if err := fs.markDirty(n); err != nil {
		return err
	}
	if err := n.file.Truncate(size); err != nil {
		return err
	}
	n.contentMtime = fileMtime(n.file)
	now := time.Now().UnixNano()
	n.Size, n.Mtime, n.Ctime = size, now, now
	n.gen++
	fs.grown++
	killPriv(&n.Node)
	return nil
}

const (
	sISUID  = 0o4000
	sIXGRP  = 0o010
	setPriv = sISUID | sISGID
)

// killPriv clears setuid, and setgid on group-executable files, as a write,
// truncate or chown must (the mount negotiates FUSE_HANDLE_KILLPRIV).
func killPriv(n *cache.Node) {
	if n.Kind != cache.File || n.Mode&setPriv == 0 {
		return
	}
	n.Mode &^= sISUID
	if n.Mode&sIXGRP != 0 {
		n.Mode &^= sISGID
	}
}

// markDirty records that n's content is about to change, so a crash before
// the next close still journals it. Callers hold mu.
func (fs *FS) markDirty(n *node) error {
	if n.dirty || n.unlinked {
		return nil
	}
	b := new(cache.Batch)
	b.Put(cache.Meta, dirtyKey(n.ID), nil)
	if err := fs.store.Commit(b); err != nil {
		return err
	}
	n.dirty = true
	return nil
}

// Read reads from file handle fh at off into buf.
func (fs *FS) Read(fh uint64, buf []byte, off int64) (int, error) {
	fs.mu.Lock()
	h, err := fs.handle(fh)
	if err != nil {
		fs.mu.Unlock()
		return 0, err
	}
	n := h.node
	id, f, size := n.ID, n.file, n.Size // n.Node is rewritten whole under mu
	if n.Atime <= n.Mtime || n.Atime <= n.Ctime {
		n.Atime = time.Now().UnixNano() // relatime: persisted with the next change
	}
	fs.mu.Unlock()
	if h.stream != nil {
		return h.stream.readAt(fs, id, buf, off)
	}
	if off >= size {
		return 0, nil
	}
	if int64(len(buf)) > size-off {
		buf = buf[:size-off]
	}
	nr, err := f.ReadAt(buf, off)
	if errors.Is(err, io.EOF) {
		// The content file is shorter than the size (a sparse tail): zeros.
		clear(buf[nr:])
		return len(buf), nil
	}
	return nr, err
}

// Write writes data at off through file handle fh.
func (fs *FS) Write(fh uint64, data []byte, off int64) (int, error) {
	fs.mu.Lock()
	h, err := fs.handle(fh)
	if err != nil {
		fs.mu.Unlock()
		return 0, err
	}
	n := h.node
	if h.flags&syscall.O_APPEND != 0 {
		off = n.Size
	}
	killPriv(&n.Node)
	if err := fs.markDirty(n); err != nil {
		fs.mu.Unlock()
		return 0, err
	}
	f := n.file
	fs.mu.Unlock()
	nw, err := f.WriteAt(data, off)
	fs.mu.Lock()
	if end := off + int64(nw); end > n.Size {
		n.Size = end
	}
	now := time.Now().UnixNano()
	n.Mtime, n.Ctime = now, now
	n.gen++
	fs.grown++
	fs.mu.Unlock()
	return nw, err
}

// recordWrite journals the content changes of n since the last record.
// Callers hold mu.
// writersAfter is how many handles that may write stay open: while any
// does, writes can still come (unseen, with passthrough), so the content
// stays dirty and the crash-recovery mark stays.
func (fs *FS) recordWrite(n *node, writersAfter int) error {
	fs.syncFromContent(n)
	if !n.dirty || n.unlinked {
		return nil
	}
	keep := writersAfter > 0
	b := new(cache.Batch)
	b.PutNode(&n.Node)
	if !keep {
		b.Delete(cache.Meta, dirtyKey(n.ID))
	}
	if err := fs.commit(b, fs.newOp(journal.Write, &n.Node, fs.path(n), "")); err != nil {
		return err
	}
	n.dirty = keep
	return nil
}

// Flush is called at every close(2) of fh: the write is journaled now, so
// it survives a crash of this process from here on.
func (fs *FS) Flush(fh uint64) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, err := fs.handle(fh)
	if err != nil {
		return err
	}
	return fs.recordWrite(h.node, h.node.writers)
}

// Fsync returns once fh's content and its journal entry are on disk.
func (fs *FS) Fsync(fh uint64) error {
	fs.mu.Lock()
	h, err := fs.handle(fh)
	if err != nil {
		fs.mu.Unlock()
		return err
	}
	err = fs.recordWrite(h.node, h.node.writers)
	f := h.node.file
	fs.mu.Unlock()
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return fs.store.Sync()
}

// Release closes fh.
func (fs *FS) Release(fh uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, err := fs.handle(fh)
	if err != nil {
		return
	}
	delete(fs.handles, fh)
	if h.stream != nil {
		h.stream.release()
	}
	n := h.node
	after := n.writers
	if h.write {
		after--
	}
	if err := fs.recordWrite(n, after); err != nil {
		fs.log.Error("journal write at close", "path", fs.path(n), "err", err)
	}
	if h.write {
		n.writers--
	}
	n.opens--
	fs.closeIfUnused(n)
	fs.release(n)
}

// SetAttr changes what in says of node id. Size changes use handle fh
// when it is not 0 (ftruncate).
type SetAttr struct {
	Mode         *uint32
	UID, GID     *uint32
	Size         *int64
	Atime, Mtime *int64 // ns since the epoch
}

// SetAttr applies in to node id and returns the new attributes.
func (fs *FS) SetAttr(id uint64, in SetAttr) (Attr, error) {
	if err := fs.lockContent(id, in.Size != nil && *in.Size > 0); err != nil {
		return Attr{}, err
	}
	defer fs.mu.Unlock()
	if err := fs.writable(); err != nil {
		return Attr{}, err
	}
	n, err := fs.get(id)
	if err != nil {
		return Attr{}, err
	}
	fs.syncFromContent(n)
	kind := journal.Setattr
	if in.Size != nil {
		if n.Kind != cache.File {
			return Attr{}, syscall.EISDIR
		}
		if *in.Size < 0 {
			return Attr{}, syscall.EINVAL
		}
		opened := n.file == nil
		if opened {
			if n.file, err = fs.store.OpenContent(id, true); err != nil {
				return Attr{}, err
			}
		}
		err := fs.truncate(n, *in.Size)
		if opened {
			fs.closeIfUnused(n)
		}
		if err != nil {
			return Attr{}, err
		}
		if *in.Size == 0 {
			n.Absent = false // nothing of the remote copy is needed (as open's O_TRUNC)
		}
		kind = journal.Truncate
	}
	nn := n.Node
	if in.UID != nil || in.GID != nil {
		killPriv(&nn) // chown(2) does, even to the same owner
	}
	if in.Mode != nil {
		nn.Mode = *in.Mode & ModePerm
	}
	if in.UID != nil {
		nn.UID = *in.UID
	}
	if in.GID != nil {
		nn.GID = *in.GID
	}
	if in.Atime != nil {
		nn.Atime = *in.Atime
	}
	if in.Mtime != nil {
		nn.Mtime = *in.Mtime
	}
	nn.Ctime = time.Now().UnixNano()
	if n.unlinked {
		n.Node = nn
		return n.attr(), nil
	}
	b := new(cache.Batch)
	b.PutNode(&nn)
	op := fs.newOp(kind, &nn, fs.path(n), "")
	if kind == journal.Truncate && n.opens == 0 {
		// The truncate is journaled now; the content is clean again unless
		// open: writes after it must still be recovered after a crash.
		b.Delete(cache.Meta, dirtyKey(n.ID))
	}
	if err := fs.commit(b, op); err != nil {
		return Attr{}, err
	}
	n.Node = nn
	if kind == journal.Truncate && n.opens == 0 {
		n.dirty = false
	}
	return n.attr(), nil
}

// Fallocate reserves space in fh's content (mode 0 or FALLOC_FL_KEEP_SIZE).
func (fs *FS) Fallocate(fh uint64, mode uint32, off, length int64) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, err := fs.handle(fh)
	if err != nil {
		return err
	}
	n := h.node
	if err := fs.markDirty(n); err != nil {
		return err
	}
	if err := fallocate(n.file, mode, off, length); err != nil {
		return err
	}
	if mode == 0 && off+length > n.Size {
		n.Size = off + length
		now := time.Now().UnixNano()
		n.Mtime, n.Ctime = now, now
		n.gen++
		fs.grown++
	}
	return nil
}

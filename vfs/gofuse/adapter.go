//go:build linux || darwin

// Package gofuse binds the vfs core to the kernel through
// github.com/hanwen/go-fuse/v2's raw API: node ids are vfs node ids and
// file handles are vfs handle ids, so every method is a direct translation.
package gofuse

import (
	"sync"
	"syscall"
	"time"

	"github.com/ferry-fs/ferry/vfs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Adapter implements fuse.RawFileSystem on top of a vfs.FS.
type Adapter struct {
	fuse.RawFileSystem // ENOSYS for what ferry does not support
	fs                 *vfs.FS
	timeout            time.Duration
	srv                *fuse.Server

	// mu guards the passthrough state below. It is taken after no vfs lock.
	mu          sync.Mutex
	passthrough bool                // the kernel reads and writes content files directly
	backing     map[uint64]*backing // node id -> its registered content file
	fhNode      map[uint64]uint64   // file handle -> node id, for handles using a backing file
}

// backing is a content file registered with the kernel for passthrough.
// The kernel allows one backing file per inode, shared by its handles.
type backing struct {
	id   int32
	refs int
}

var _ fuse.RawFileSystem = (*Adapter)(nil)

// New returns an adapter for fs. timeout is how long the kernel may cache
// entries and attributes.
func New(fs *vfs.FS, timeout time.Duration, passthrough bool) *Adapter {
	return &Adapter{RawFileSystem: fuse.NewDefaultRawFileSystem(), fs: fs, timeout: timeout,
		passthrough: passthrough, backing: map[uint64]*backing{}, fhNode: map[uint64]uint64{}}
}

// Init keeps the server for registering backing files.
func (ad *Adapter) Init(s *fuse.Server) { ad.srv = s }

// usePassthrough lets the kernel do the reads and writes of handle fh on
// node directly on its content file, bypassing this process. It needs
// CAP_SYS_ADMIN; without it the first attempt turns passthrough off.
func (ad *Adapter) usePassthrough(node, fh uint64, out *fuse.OpenOut) {
	ad.mu.Lock()
	defer ad.mu.Unlock()
	if !ad.passthrough || ad.srv == nil {
		return
	}
	b := ad.backing[node]
	if b == nil {
		f := ad.fs.ContentFile(fh)
		if f == nil {
			// A streaming read: served by the core, around the page
			// cache. The kernel refuses (EIO) a passthrough open of a
			// file that a cached handle has open, and the other way
			// round; a direct-I/O handle is neither.
			out.OpenFlags |= fuse.FOPEN_DIRECT_IO
			out.OpenFlags &^= fuse.FOPEN_KEEP_CACHE
			return
		}
		id, errno := registerBacking(ad.srv, f)
		if errno != 0 {
			ad.passthrough = false
			return
		}
		b = &backing{id: id}
		ad.backing[node] = b
	}
	b.refs++
	ad.fhNode[fh] = node
	out.BackingID = b.id
	out.OpenFlags |= fuse.FOPEN_PASSTHROUGH
	out.OpenFlags &^= fuse.FOPEN_KEEP_CACHE
}

func (ad *Adapter) releasePassthrough(fh uint64) {
	ad.mu.Lock()
	defer ad.mu.Unlock()
	node, ok := ad.fhNode[fh]
	if !ok {
		return
	}
	delete(ad.fhNode, fh)
	b := ad.backing[node]
	if b.refs--; b.refs == 0 {
		unregisterBacking(ad.srv, b.id)
		delete(ad.backing, node)
	}
}

func status(err error) fuse.Status { return fuse.Status(vfs.Errno(err)) }

func caller(h *fuse.InHeader) vfs.Caller { return vfs.Caller{UID: h.Uid, GID: h.Gid} }

func fill(out *fuse.Attr, a vfs.Attr) {
	out.Ino = a.Ino
	out.Size = uint64(a.Size)
	out.Blocks = uint64(a.Blocks)
	out.Atime, out.Atimensec = uint64(a.Atime/1e9), uint32(a.Atime%1e9)
	out.Mtime, out.Mtimensec = uint64(a.Mtime/1e9), uint32(a.Mtime%1e9)
	out.Ctime, out.Ctimensec = uint64(a.Ctime/1e9), uint32(a.Ctime%1e9)
	out.Mode = a.Mode
	out.Nlink = a.Nlink
	out.Uid, out.Gid = a.UID, a.GID
	out.Blksize = 4096
}

func (ad *Adapter) entry(out *fuse.EntryOut, a vfs.Attr) {
	out.NodeId = a.Ino
	out.Generation = 1
	out.SetEntryTimeout(ad.timeout)
	out.SetAttrTimeout(ad.timeout)
	fill(&out.Attr, a)
}

func (ad *Adapter) String() string { return "ferry" }

func (ad *Adapter) Lookup(_ <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	a, err := ad.fs.Lookup(h.NodeId, name)
	if vfs.Errno(err) == syscall.ENOENT {
		// A negative entry: the kernel remembers the name is free, and
		// drops that when ferry creates it.
		out.NodeId = 0
		out.SetEntryTimeout(ad.timeout)
		return fuse.OK
	}
	if err != nil {
		return status(err)
	}
	ad.entry(out, a)
	return fuse.OK
}

func (ad *Adapter) Forget(id, n uint64) { ad.fs.Forget(id, n) }

func (ad *Adapter) GetAttr(_ <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	a, err := ad.fs.GetAttr(in.NodeId)
	if err != nil {
		return status(err)
	}
	out.SetTimeout(ad.timeout)
	fill(&out.Attr, a)
	return fuse.OK
}

func (ad *Adapter) SetAttr(_ <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	var sa vfs.SetAttr
	now := time.Now().UnixNano()
	if in.Valid&fuse.FATTR_MODE != 0 {
		sa.Mode = &in.Mode
	}
	if in.Valid&fuse.FATTR_UID != 0 {
		sa.UID = &in.Uid
	}
	if in.Valid&fuse.FATTR_GID != 0 {
		sa.GID = &in.Gid
	}
	if in.Valid&fuse.FATTR_SIZE != 0 {
		size := int64(in.Size)
		sa.Size = &size
	}
	if in.Valid&fuse.FATTR_ATIME_NOW != 0 {
		sa.Atime = &now
	} else if in.Valid&fuse.FATTR_ATIME != 0 {
		t := int64(in.Atime)*1e9 + int64(in.Atimensec)
		sa.Atime = &t
	}
	if in.Valid&fuse.FATTR_MTIME_NOW != 0 {
		sa.Mtime = &now
	} else if in.Valid&fuse.FATTR_MTIME != 0 {
		t := int64(in.Mtime)*1e9 + int64(in.Mtimensec)
		sa.Mtime = &t
	}
	a, err := ad.fs.SetAttr(in.NodeId, sa)
	if err != nil {
		return status(err)
	}
	out.SetTimeout(ad.timeout)
	fill(&out.Attr, a)
	return fuse.OK
}

func (ad *Adapter) Mknod(_ <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	if in.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return fuse.Status(syscall.EPERM) // device nodes, FIFOs and sockets are not supported
	}
	a, fh, err := ad.fs.Create(in.NodeId, name, syscall.O_WRONLY, in.Mode, caller(&in.InHeader))
	if err != nil {
		return status(err)
	}
	ad.fs.Release(fh)
	ad.entry(out, a)
	return fuse.OK
}

func (ad *Adapter) Mkdir(_ <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	a, err := ad.fs.Mkdir(in.NodeId, name, in.Mode, caller(&in.InHeader))
	if err != nil {
		return status(err)
	}
	ad.entry(out, a)
	return fuse.OK
}

func (ad *Adapter) Unlink(_ <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return status(ad.fs.Unlink(h.NodeId, name))
}

func (ad *Adapter) Rmdir(_ <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return status(ad.fs.Rmdir(h.NodeId, name))
}

func (ad *Adapter) Rename(_ <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	return status(ad.fs.Rename(in.NodeId, oldName, in.Newdir, newName, in.Flags))
}

// Link: hard links are not supported (a cloud folder has no such thing).
func (ad *Adapter) Link(_ <-chan struct{}, _ *fuse.LinkIn, _ string, _ *fuse.EntryOut) fuse.Status {
	return fuse.Status(syscall.EPERM)
}

func (ad *Adapter) Symlink(_ <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	a, err := ad.fs.Symlink(h.NodeId, name, target, caller(h))
	if err != nil {
		return status(err)
	}
	ad.entry(out, a)
	return fuse.OK
}

func (ad *Adapter) Readlink(_ <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	t, err := ad.fs.Readlink(h.NodeId)
	if err != nil {
		return nil, status(err)
	}
	return []byte(t), fuse.OK
}

func (ad *Adapter) Access(_ <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	_, err := ad.fs.GetAttr(in.NodeId) // permissions: the kernel's default_permissions
	return status(err)
}

func (ad *Adapter) GetXAttr(_ <-chan struct{}, h *fuse.InHeader, name string, dest []byte) (uint32, fuse.Status) {
	v, err := ad.fs.GetXattr(h.NodeId, name)
	if err != nil {
		return 0, status(err)
	}
	if len(dest) == 0 {
		return uint32(len(v)), fuse.OK
	}
	if len(dest) < len(v) {
		return uint32(len(v)), fuse.ERANGE
	}
	return uint32(copy(dest, v)), fuse.OK
}

func (ad *Adapter) ListXAttr(_ <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	names, err := ad.fs.ListXattr(h.NodeId)
	if err != nil {
		return 0, status(err)
	}
	var buf []byte
	for _, n := range names {
		buf = append(append(buf, n...), 0)
	}
	if len(dest) == 0 {
		return uint32(len(buf)), fuse.OK
	}
	if len(dest) < len(buf) {
		return uint32(len(buf)), fuse.ERANGE
	}
	return uint32(copy(dest, buf)), fuse.OK
}

func (ad *Adapter) SetXAttr(_ <-chan struct{}, in *fuse.SetXAttrIn, name string, data []byte) fuse.Status {
	return status(ad.fs.SetXattr(in.NodeId, name, data, in.Flags))
}

func (ad *Adapter) RemoveXAttr(_ <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return status(ad.fs.RemoveXattr(h.NodeId, name))
}

func (ad *Adapter) Create(_ <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	a, fh, err := ad.fs.Create(in.NodeId, name, in.Flags, in.Mode, caller(&in.InHeader))
	if err != nil {
		return status(err)
	}
	ad.entry(&out.EntryOut, a)
	out.Fh = fh
	// The create journaled the new file, so a close need not wait on a
	// FLUSH: the write is journaled at RELEASE, and a crash before then
	// is repaired from the file's dirty mark. tar saves a round trip a file.
	out.OpenFlags = fuse.FOPEN_KEEP_CACHE | fuse.FOPEN_NOFLUSH
	ad.usePassthrough(a.Ino, fh, &out.OpenOut)
	return fuse.OK
}

func (ad *Adapter) Open(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	fh, err := ad.fs.Open(in.NodeId, in.Flags)
	if err != nil {
		return status(err)
	}
	out.Fh = fh
	out.OpenFlags = fuse.FOPEN_KEEP_CACHE
	if in.Flags&syscall.O_ACCMODE == syscall.O_RDONLY {
		// Nothing to record at the close of a reader. A writer's close
		// still journals its write before close(2) returns, so a
		// `ferry flush` run next includes it.
		out.OpenFlags |= fuse.FOPEN_NOFLUSH
	}
	ad.usePassthrough(in.NodeId, fh, out)
	return fuse.OK
}

func (ad *Adapter) Read(_ <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	n, err := ad.fs.Read(in.Fh, buf[:min(len(buf), int(in.Size))], int64(in.Offset))
	if err != nil {
		return nil, status(err)
	}
	return fuse.ReadResultData(buf[:n]), fuse.OK
}

func (ad *Adapter) Write(_ <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	n, err := ad.fs.Write(in.Fh, data, int64(in.Offset))
	if err != nil {
		return uint32(n), status(err)
	}
	return uint32(n), fuse.OK
}

func (ad *Adapter) Flush(_ <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	return status(ad.fs.Flush(in.Fh))
}

func (ad *Adapter) Fsync(_ <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	return status(ad.fs.Fsync(in.Fh))
}

func (ad *Adapter) Release(_ <-chan struct{}, in *fuse.ReleaseIn) {
	ad.releasePassthrough(in.Fh)
	ad.fs.Release(in.Fh)
}

func (ad *Adapter) Fallocate(_ <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	return status(ad.fs.Fallocate(in.Fh, in.Mode, int64(in.Offset), int64(in.Length)))
}

func (ad *Adapter) OpenDir(_ <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	fh, err := ad.fs.OpenDir(in.NodeId)
	if err != nil {
		return status(err)
	}
	out.Fh = fh
	return fuse.OK
}

func (ad *Adapter) ReadDir(_ <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	ents, err := ad.fs.ReadDir(in.Fh, in.Offset)
	if err != nil {
		return status(err)
	}
	for _, e := range ents {
		if !out.AddDirEntry(fuse.DirEntry{Name: e.Name, Ino: e.Ino, Mode: e.Mode, Off: e.Off}) {
			break
		}
	}
	return fuse.OK
}

func (ad *Adapter) ReadDirPlus(_ <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	ents, err := ad.fs.ReadDir(in.Fh, in.Offset)
	if err != nil {
		return status(err)
	}
	for _, e := range ents {
		eo := out.AddDirLookupEntry(fuse.DirEntry{Name: e.Name, Ino: e.Ino, Mode: e.Mode, Off: e.Off})
		if eo == nil {
			break
		}
		if e.Name == "." || e.Name == ".." {
			continue // the kernel ignores their entry data
		}
		a, err := ad.fs.Lookup(in.NodeId, e.Name)
		if err != nil {
			continue // removed since the listing began: a zero entry is ignored
		}
		ad.entry(eo, a)
	}
	return fuse.OK
}

func (ad *Adapter) ReleaseDir(in *fuse.ReleaseIn) { ad.fs.ReleaseDir(in.Fh) }

func (ad *Adapter) FsyncDir(_ <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	return status(ad.fs.SyncJournal())
}

func (ad *Adapter) StatFs(_ <-chan struct{}, _ *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	st, err := ad.fs.Statfs()
	if err != nil {
		return status(err)
	}
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
	out.Files, out.Ffree = st.Files, st.Ffree
	out.Bsize, out.Frsize, out.NameLen = st.Bsize, st.Frsize, st.NameLen
	return fuse.OK
}

//go:build linux || darwin

package gofuse

import (
	"time"

	"github.com/ferry-fs/ferry/vfs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Options for Mount.
type Options struct {
	FsName     string // shown as the source in mount(8) and df(1)
	ReadOnly   bool
	AllowOther bool
	Timeout    time.Duration // kernel entry/attr cache time
	Debug      bool
	// Passthrough lets the kernel read and write cached content directly
	// (Linux 6.9+, needs root); off, or where unavailable, I/O goes through ferry.
	Passthrough bool
}

// Mount serves fs at mountpoint and returns once the kernel has
// initialised the mount. Call Wait on the result to block until unmount.
func Mount(fs *vfs.FS, mountpoint string, o Options) (*fuse.Server, error) {
	opts := &fuse.MountOptions{
		FsName:        o.FsName,
		Name:          "ferry",
		AllowOther:    o.AllowOther,
		MaxWrite:      1 << 20,
		MaxReadAhead:  1 << 20,
		MaxBackground: 64,
		DirectMount:   true,
		Debug:         o.Debug,
		Options:       []string{"default_permissions"},
		// The core clears setuid/setgid itself on write, truncate and
		// chown, which spares the kernel a GETATTR before each chown.
		// It stores no security.capability, so on Linux (killPrivV2) the
		// kernel need not ask for one before every write either.
		// With ATOMIC_O_TRUNC the kernel passes O_TRUNC to open instead of
		// a truncate after it, so truncating a file that is only on the
		// remote never downloads it first. DIRECT_IO_ALLOW_MMAP lets a
		// program map a file that is still streaming from the remote
		// (those handles are direct I/O, see usePassthrough).
		ExtraCapabilities: fuse.CAP_HANDLE_KILLPRIV | killPrivV2 | fuse.CAP_ATOMIC_O_TRUNC | fuse.CAP_DIRECT_IO_ALLOW_MMAP,
	}
	if o.ReadOnly {
		opts.Options = append(opts.Options, "ro")
	}
	srv, err := fuse.NewServer(New(fs, o.Timeout, o.Passthrough), mountpoint, opts)
	if err != nil {
		return nil, err
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		srv.Unmount()
		return nil, err
	}
	fs.SetNotifier(notifier{srv})
	return srv, nil
}

// notifier passes the core's invalidations to the kernel. A kernel that
// does not know the entry or inode answers ENOENT, which is fine.
type notifier struct{ srv *fuse.Server }

func (n notifier) InvalEntry(parent uint64, name string) { n.srv.EntryNotify(parent, name) }
func (n notifier) InvalInode(id uint64)                  { n.srv.InodeNotify(id, 0, 0) }

package vfs

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// refusing is a remote whose first put of one path runs a hook, then
// fails as a lost connection would, without landing.
type refusing struct {
	*local.Local
	path string
	hook func()
	done atomic.Bool
}

func (r *refusing) Put(ctx context.Context, p string, rd io.Reader, size int64, m remote.Meta, c remote.Cond) (remote.Entry, error) {
	if p == r.path && r.done.CompareAndSwap(false, true) {
		r.hook()
		return remote.Entry{}, errors.New("connection refused")
	}
	return r.Local.Put(ctx, p, rd, size, m, c)
}

// TestRenameAfterRefusedUploadKeepsTheirs: a new file's upload is refused
// (offline), and meanwhile the file is renamed here onto another name and
// deleted, while another device writes both names. The refused upload
// leaves only a pending record, with no version: the rename must not take
// that for a version this device uploaded. It took the keep-both branch of
// renameOntoTaken and deleted the old name with an empty, so unconditional,
// precondition: their file there was lost everywhere.
func TestRenameAfterRefusedUploadKeepsTheirs(t *testing.T) {
	ctx := context.Background()
	l, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rem := &refusing{Local: l, path: "a.txt"}
	fs, up := newSynced(t, rem, journal.Config{Transfers: 1, WriteBack: time.Hour, Device: "devB"})
	for _, name := range []string{"a.txt", "c.txt"} {
		_, fh, err := fs.Create(cache.RootID, name, syscall.O_WRONLY, 0o644, Caller{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Write(fh, []byte("mine "+name), 0); err != nil {
			t.Fatal(err)
		}
		fs.Flush(fh)
		fs.Release(fh)
	}
	meta := remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o644}
	rem.hook = func() {
		// Here, while the upload is under way: a.txt → c.txt (replacing
		// it, so the move stays an action of its own), then deleted.
		if err := fs.Rename(cache.RootID, "a.txt", cache.RootID, "c.txt", 0); err != nil {
			t.Error(err)
		}
		if err := fs.Unlink(cache.RootID, "c.txt"); err != nil {
			t.Error(err)
		}
		// There: both names written.
		for _, p := range []string{"a.txt", "c.txt"} {
			if _, err := l.Put(ctx, p, strings.NewReader("theirs "+p), int64(len("theirs "+p)), meta, remote.Cond{IfNoneMatch: true}); err != nil {
				t.Error(err)
			}
		}
	}
	for range 3 {
		flushAll(t, up)
	}
	if !rem.done.Load() {
		t.Fatal("the upload of a.txt was never tried")
	}
	for _, p := range []string{"a.txt", "c.txt"} {
		rc, err := l.Get(ctx, p, 0, -1, "")
		if err != nil {
			t.Errorf("%s: %v (their file is lost)", p, err)
			continue
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "theirs "+p {
			t.Errorf("%s holds %q, want theirs", p, b)
		}
	}
}

// TestSameRenameThereThenNewFileKeepsBoth: a file is renamed here onto a
// name it replaces, and another device makes the same rename first, then
// writes a new file at the old name. The new name holds this file's
// content already, and the old name a version that is not its own: the
// rename must leave both. It moved their new file over this one ("renamed
// their newer version"), since the new name's version was let through as
// this file's own, and this file's content was lost everywhere.
func TestSameRenameThereThenNewFileKeepsBoth(t *testing.T) {
	r := newRemoteOnly(t)
	// d/c.txt with its hash recorded, as ferry uploads it.
	meta := remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o644, Hash: strings.Repeat("ab", 32)}
	e, err := r.l.Put(context.Background(), "d/c.txt", strings.NewReader(r.ours), int64(len(r.ours)), meta, remote.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.up.ApplyChange(change("put", e)); err != nil {
		t.Fatal(err)
	}
	// Here: d/c.txt → b.txt, replacing it.
	if err := r.fs.Rename(r.did, "c.txt", cache.RootID, "b.txt", 0); err != nil {
		t.Fatal(err)
	}
	// There, before this goes up: the same rename, then a new d/c.txt.
	if err := r.l.Rename(context.Background(), "d/c.txt", "b.txt"); err != nil {
		t.Fatal(err)
	}
	r.put(t, "d/c.txt", "new there", remote.Cond{IfNoneMatch: true})
	r.flush(t)
	r.check(t, []string{r.ours, "new there"}, map[string]string{"b.txt": r.ours, "d/c.txt": "new there"})
}

package vfs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// TestRenamedBackAfterRemoteReplacedAndDeleted: a file whose content is
// only on the remote is renamed here onto a name that another device
// takes meanwhile, and back, while that device replaces the version it
// knew at its name and deletes it. Nothing of it is left to keep: the
// flush must neither fail (the S3 remote's metadata update of the vanished
// file failed permanently) nor leave an unreadable file behind.
func TestRenamedBackAfterRemoteReplacedAndDeleted(t *testing.T) {
	t.Run("precondition", func(t *testing.T) { testRenamedBackAfterRemoteReplacedAndDeleted(t, false) })
	// As the S3 remote answered: the metadata update of a missing file
	// was ErrNotFound, which failed the rename permanently.
	t.Run("not found", func(t *testing.T) { testRenamedBackAfterRemoteReplacedAndDeleted(t, true) })
}

// missingMeta answers a metadata update of a missing file with
// remote.ErrNotFound, even pinned to a version.
type missingMeta struct{ *stallStat }

func (m missingMeta) SetMetaIf(ctx context.Context, p string, meta remote.Meta, v string) error {
	if _, err := m.Local.Stat(ctx, p); errors.Is(err, remote.ErrNotFound) {
		return fmt.Errorf("setmeta %q: %w", p, err)
	}
	return m.Local.SetMetaIf(ctx, p, meta, v)
}

func testRenamedBackAfterRemoteReplacedAndDeleted(t *testing.T, notFound bool) {
	ctx := context.Background()
	l, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	meta := remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o644}
	dmeta := remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o755}
	putRemote := func(p, data string, cond remote.Cond) remote.Entry {
		t.Helper()
		e, err := l.Put(ctx, p, strings.NewReader(data), int64(len(data)), meta, cond)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, d := range []string{"d", "d/f"} {
		if err := l.Mkdir(ctx, d, dmeta); err != nil {
			t.Fatal(err)
		}
	}
	e1 := putRemote("d/e.txt", strings.Repeat("a", 26), remote.Cond{IfNoneMatch: true})

	rem := &stallStat{Local: l}
	var r remote.Remote = rem
	if notFound {
		r = missingMeta{rem}
	}
	fs, up := newSynced(t, r, journal.Config{Device: "devB"})
	for _, c := range []journal.Change{{Op: "mkdir", Path: "d", Dir: true}, {Op: "mkdir", Path: "d/f", Dir: true}, change("put", e1)} {
		if err := up.ApplyChange(c); err != nil {
			t.Fatal(err)
		}
	}
	did, _, _ := fs.NodeAt("d")
	fid, _, _ := fs.NodeAt("d/f")

	// Here: away, and, while that move runs (offline), back, and a new
	// file of this device's at the name.
	entered := make(chan struct{})
	rem.mu.Lock()
	rem.path, rem.entered, rem.release = "d/f/g.txt", entered, make(chan struct{})
	rem.mu.Unlock()
	if err := fs.Rename(did, "e.txt", fid, "g.txt", 0); err != nil {
		t.Fatal(err)
	}
	<-entered
	if err := fs.Rename(fid, "g.txt", did, "e.txt", 0); err != nil {
		t.Fatal(err)
	}
	ours := strings.Repeat("o", 28)
	_, fh, err := fs.Create(fid, "g.txt", syscall.O_RDWR, 0o644, Caller{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Write(fh, []byte(ours), 0); err != nil {
		t.Fatal(err)
	}
	fs.Release(fh)

	// There: their own g.txt, and a rename onto e.txt, then its delete.
	theirs := strings.Repeat("T", 28)
	eg := putRemote("d/f/g.txt", theirs, remote.Cond{IfNoneMatch: true})
	ea := putRemote("a.txt", strings.Repeat("b", 27), remote.Cond{IfNoneMatch: true})
	if err := l.RenameIf(ctx, "a.txt", "d/e.txt", ea.Version, remote.Cond{IfMatch: e1.Version}); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx, "d/e.txt", remote.Cond{}); err != nil {
		t.Fatal(err)
	}
	// The poller: their g.txt (ours becomes a conflict copy), the delete
	// of the version the rename put at e.txt (this device's file stays:
	// its own upload decides).
	if err := up.ApplyChange(change("put", eg)); err != nil {
		t.Fatal(err)
	}
	if err := up.ApplyChange(journal.Change{Op: "delete", Path: "d/e.txt", Version: ea.Version}); err != nil {
		t.Fatal(err)
	}

	close(rem.release)
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if failed, err := up.Flush(fctx); err != nil || len(failed) > 0 {
		for _, op := range failed {
			t.Errorf("failed: %+v", *op)
		}
		t.Fatalf("flush: %v", err)
	}
	if id, _, ok := fs.NodeAt("d/e.txt"); ok {
		fh, err := fs.Open(id, syscall.O_RDONLY)
		if err == nil {
			buf := make([]byte, 100)
			_, err = fs.Read(fh, buf, 0)
			fs.Release(fh)
		}
		t.Errorf("d/e.txt, gone from the remote before it was downloaded here, is still shown (read: %v)", err)
	}
	if _, err := l.Stat(ctx, "d/e.txt"); err == nil {
		t.Errorf("d/e.txt is back on the remote")
	}
}

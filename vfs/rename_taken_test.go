package vfs

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// stallStat stalls the first Stat of path once armed, like a proxy that
// is down.
type stallStat struct {
	*local.Local
	gate
}

func (s *stallStat) Stat(ctx context.Context, p string) (remote.Entry, error) {
	s.wait(p)
	return s.Local.Stat(ctx, p)
}

func change(op string, e remote.Entry) journal.Change {
	return journal.Change{Op: op, Path: e.Path, Dir: e.Dir, Version: e.Version, Size: e.Size, MTime: e.ModTime,
		Mode: uint32(e.Mode.Perm()), Hash: e.Hash}
}

// TestRenameOntoTakenShowsWhatMoved: a file whose content is only on the
// remote is renamed here onto a name that another device takes meanwhile,
// and the poller applies their file while the rename runs. The rename
// moves this file to a conflict name; the conflict copy must show the
// version the rename moved there, and read, not keep the size of theirs
// (a read of it failed with EIO).
func TestRenameOntoTakenShowsWhatMoved(t *testing.T) {
	ctx := context.Background()
	l, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rem := &stallStat{Local: l}
	ours, theirs := strings.Repeat("b", 27), strings.Repeat("A", 28)
	if err := l.Mkdir(ctx, "d", remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	eb := putTheirs(t, l, "b.txt", ours, remote.Cond{IfNoneMatch: true})

	fs, up := newSynced(t, rem, journal.Config{Device: "devB"})
	if err := up.ApplyChange(journal.Change{Op: "mkdir", Path: "d", Dir: true}); err != nil {
		t.Fatal(err)
	}
	if err := up.ApplyChange(change("put", eb)); err != nil {
		t.Fatal(err)
	}
	did, _, _ := fs.NodeAt("d")

	entered := make(chan struct{})
	rem.mu.Lock()
	rem.path, rem.entered, rem.release = "d/e.txt", entered, make(chan struct{})
	rem.mu.Unlock()
	if err := fs.Rename(cache.RootID, "b.txt", did, "e.txt", 0); err != nil {
		t.Fatal(err)
	}
	<-entered // the move has loaded its record and asks about d/e.txt
	ea := putTheirs(t, l, "d/e.txt", theirs, remote.Cond{IfNoneMatch: true})
	if err := up.ApplyChange(change("put", ea)); err != nil { // the poller
		t.Fatal(err)
	}
	close(rem.release)
	flushAll(t, up)

	fs.mu.Lock()
	d, _ := fs.dir(did)
	kids := map[string]uint64{}
	for n, id := range d.children {
		kids[n] = id
	}
	fs.mu.Unlock()
	want := map[string]string{"e.txt": theirs}
	for name, id := range kids {
		fh, err := fs.Open(id, syscall.O_RDONLY)
		if err != nil {
			t.Fatalf("open d/%s: %v", name, err)
		}
		buf := make([]byte, 100)
		n, err := fs.Read(fh, buf, 0)
		fs.Release(fh)
		if err != nil {
			t.Errorf("read d/%s: %v (errno %v)", name, err, Errno(err))
			continue
		}
		if name != "e.txt" {
			want[name] = ours // the conflict copy
		}
		if got := string(buf[:n]); got != want[name] {
			t.Errorf("d/%s reads %q, want %q", name, got, want[name])
		}
	}
	if len(kids) != 2 {
		t.Errorf("d holds %v, want e.txt and one conflict copy", kids)
	}
}

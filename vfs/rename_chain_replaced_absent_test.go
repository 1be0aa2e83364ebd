package vfs

import (
	"context"
	"testing"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestRenameOnOfUndownloadedReplacedThere: the other device's a.txt, never
// downloaded here, is renamed here to c.txt and, while that rename runs,
// on to b.txt; meanwhile the other device writes a.txt again and makes a
// c.txt. The first rename leaves both names as the remote has them. The
// second, with no version of its own at c.txt to move, went to move the
// one it knew at a.txt, which is gone: the remote refused it, for good,
// and a flush failed with the rename in conflict. Nothing of that version
// is left anywhere: b.txt goes.
func TestRenameOnOfUndownloadedReplacedThere(t *testing.T) {
	ctx := context.Background()
	l, _ := newLocal(t)
	rem := &stallStat{Local: l}
	old := putTheirs(t, l, "a.txt", "their old a", remote.Cond{IfNoneMatch: true})
	fs, up := newSynced(t, rem, journal.Config{Device: "devB"})
	if err := up.ApplyChange(change("put", old)); err != nil {
		t.Fatal(err)
	}

	entered := make(chan struct{})
	rem.mu.Lock()
	rem.path, rem.entered, rem.release = "c.txt", entered, make(chan struct{})
	rem.mu.Unlock()
	renameHere(t, fs, "a.txt", "c.txt")
	<-entered // the move asks about c.txt
	renameHere(t, fs, "c.txt", "b.txt")
	putTheirs(t, l, "a.txt", "their new a", remote.Cond{IfMatch: old.Version})
	putTheirs(t, l, "c.txt", "their c", remote.Cond{IfNoneMatch: true})
	close(rem.release)
	flushAll(t, up)

	readAt(t, fs, l, "a.txt", "their new a")
	readAt(t, fs, l, "c.txt", "their c")
	if id, _, ok := fs.NodeAt("b.txt"); ok {
		t.Errorf("b.txt (node %d) shows, though the version renamed there is gone", id)
	}
	if _, err := l.Stat(ctx, "b.txt"); err == nil {
		t.Errorf("b.txt is on the remote")
	}
}

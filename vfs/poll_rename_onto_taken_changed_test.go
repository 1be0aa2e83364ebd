package vfs

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
)

// TestPollRenameOntoTakenChangedSince: device A renames g.txt onto c.txt,
// which B has meanwhile made on the remote, and writes to it after the
// rename. The rename keeps both: A's file goes up as a conflict copy, and
// the version it had at g.txt is deleted there, as the rename meant. That
// delete was not logged: B, which had g.txt, showed it for good (only a
// rescan took it away).
func TestPollRenameOntoTakenChangedSince(t *testing.T) {
	ctx := context.Background()
	l, root := newLocal(t)
	fsA, upA := newSynced(t, l, journal.Config{Device: "devA", DeviceID: "a1", WriteBack: time.Hour})
	fsB, upB := newSynced(t, l, journal.Config{Device: "devB", DeviceID: "b1"})
	upA.StartPolling(journal.PollConfig{Interval: time.Hour})
	upB.StartPolling(journal.PollConfig{Interval: time.Hour})

	ra := &rig{fs: fsA}
	ra.writeFile(t, cache.RootID, "g.txt", "A's g")
	flushAll(t, upA)
	if err := upB.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	readAt(t, fsB, l, "g.txt", "A's g") // downloaded on B
	(&rig{fs: fsB}).writeFile(t, cache.RootID, "c.txt", "B's c")
	flushAll(t, upB)

	// A, which has not heard of B's c.txt, renames g.txt onto it, then
	// changes it.
	renameHere(t, fsA, "g.txt", "c.txt")
	id, _, _ := fsA.NodeAt("c.txt")
	fh, err := fsA.Open(id, 1) // O_WRONLY
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fsA.Write(fh, []byte("A's g, changed"), 0); err != nil {
		t.Fatal(err)
	}
	if err := fsA.Flush(fh); err != nil {
		t.Fatal(err)
	}
	fsA.Release(fh)
	flushAll(t, upA)
	if _, err := l.Stat(ctx, "g.txt"); err == nil {
		t.Fatal("g.txt is still on the remote")
	}
	aside := conflictIn(t, root, "c")

	if err := upB.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	flushAll(t, upB)
	if id, _, ok := fsB.NodeAt("g.txt"); ok {
		t.Errorf("g.txt (node %d) still shows on B, though A's rename took it away", id)
	}
	readAt(t, fsB, l, aside, "A's g, changed")
	readAt(t, fsB, l, "c.txt", "B's c")
}

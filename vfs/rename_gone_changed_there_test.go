package vfs

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestRenameGoneHereChangedThere: g.txt, uploaded, is renamed here to
// e.txt, and that file is then replaced here by another rename and
// deleted, before the rename goes up; meanwhile the other device writes
// g.txt again. The rename found g.txt changed and moved their version to
// e.txt (moveConflict), as for a file still here, whose rename their edit
// follows. Nothing here follows any more: the move took the other
// device's file from under it to a name this device had deleted (in the
// model test, crossing that device's own rename of it, which this device
// then applied and showed the file nowhere). Their version stays where
// they wrote it.
func TestRenameGoneHereChangedThere(t *testing.T) {
	ctx := context.Background()
	l, _ := newLocal(t)
	fs, up := newPolling(t, l, journal.Config{Device: "devB", DeviceID: "b1", WriteBack: time.Hour})
	(&rig{fs: fs}).writeFile(t, cache.RootID, "g.txt", "mine")
	flushAll(t, up)
	mine, err := l.Stat(ctx, "g.txt")
	if err != nil {
		t.Fatal(err)
	}
	renameHere(t, fs, "g.txt", "e.txt")
	(&rig{fs: fs}).writeFile(t, cache.RootID, "x.txt", "mine x")
	renameHere(t, fs, "x.txt", "e.txt")
	if err := fs.Unlink(cache.RootID, "e.txt"); err != nil {
		t.Fatal(err)
	}

	theirs := putTheirs(t, l, "g.txt", "theirs", remote.Cond{IfMatch: mine.Version})
	flushAll(t, up)
	pollTheirs(t, l, up, change("put", theirs))

	if e, err := l.Stat(ctx, "e.txt"); err == nil {
		t.Errorf("e.txt is on the remote (%+v), though this device deleted it", e)
	}
	readAt(t, fs, l, "g.txt", "theirs")
}

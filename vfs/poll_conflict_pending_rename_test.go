package vfs

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestPollConflictDropsPendingRename: c.txt, uploaded, is renamed here to
// e.txt, where another device puts a file before the rename goes up. The
// poll finds both sides changed e.txt: this file steps aside as a
// conflict copy, which goes up as a new file, and its waiting actions are
// dropped, the rename among them. That rename was what took the version
// at c.txt away on the remote: it stayed there for good, and other
// devices showed a c.txt this one no longer has.
func TestPollConflictDropsPendingRename(t *testing.T) {
	ctx := context.Background()
	l, root := newLocal(t)
	fs, up := newPolling(t, l, journal.Config{Device: "devB", DeviceID: "b1", WriteBack: time.Hour})
	(&rig{fs: fs}).writeFile(t, cache.RootID, "c.txt", "mine")
	flushAll(t, up)
	renameHere(t, fs, "c.txt", "e.txt")

	put := putTheirs(t, l, "e.txt", "theirs", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, change("put", put))
	flushAll(t, up)

	if _, err := l.Stat(ctx, "c.txt"); err == nil {
		t.Errorf("c.txt is still on the remote, though this device renamed it away")
	}
	readAt(t, fs, l, "e.txt", "theirs")
	readAt(t, fs, l, conflictIn(t, root, "e"), "mine")
}

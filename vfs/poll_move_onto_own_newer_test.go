package vfs

import (
	"context"
	"testing"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestPollMoveOntoOwnNewerFile: another device puts a.txt, moves it onto
// e.txt and deletes it there; then this device, which missed all that
// (offline), makes e.txt and uploads it. Its first poll then reads the
// other device's entries. The move, old news at e.txt, took this device's
// e.txt away (a plain delete of whatever showed at the new name), and the
// delete then the moved file: the mount showed no e.txt, while the remote
// kept this device's upload there, and only a rescan brought it back.
func TestPollMoveOntoOwnNewerFile(t *testing.T) {
	ctx := context.Background()
	l, _ := newLocal(t)
	fs, up := newPolling(t, l, journal.Config{Device: "devB", DeviceID: "b1"})

	// The other device: a.txt, moved onto e.txt, deleted there.
	put := putTheirs(t, l, "a.txt", "theirs", remote.Cond{IfNoneMatch: true})
	mv := moveTheirs(t, l, "a.txt", "e.txt", put.Version)
	if err := l.Delete(ctx, "e.txt", remote.Cond{IfMatch: mv.Version}); err != nil {
		t.Fatal(err)
	}
	del := journal.Change{Op: "delete", Path: "e.txt", Version: mv.Version}

	// This device makes e.txt, and it goes up before the poll.
	(&rig{fs: fs}).writeFile(t, cache.RootID, "e.txt", "mine")
	flushAll(t, up)

	pollTheirs(t, l, up, change("put", put), mv, del)
	flushAll(t, up)

	if id, _, ok := fs.NodeAt("a.txt"); ok {
		t.Errorf("a.txt (node %d) shows, though the other device moved it away", id)
	}
	if _, err := l.Stat(ctx, "e.txt"); err != nil {
		t.Fatalf("e.txt is gone from the remote: %v", err)
	}
	readAt(t, fs, l, "e.txt", "mine")
}

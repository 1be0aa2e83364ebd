package vfs

import (
	"context"
	"testing"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestPollOldDeleteThenMoveOfUndownloaded: this device shows g.txt, never
// downloaded, as the other device's newer version. A poll then brings an
// older delete there (of the version before) and the move of that newer
// version to h.txt. The delete, of another version, found g.txt gone from
// the remote (moved) and took it for a newer version that a delete took
// with it: it forgot the file's record to upload it again, which it cannot
// (nothing of it is here). The move then took that record-less file to
// h.txt, where its first read found no remote copy to fetch and removed
// it: the mount lost h.txt, which the remote and the other device have.
func TestPollOldDeleteThenMoveOfUndownloaded(t *testing.T) {
	ctx := context.Background()
	l, _ := newLocal(t)
	fs, up := newPolling(t, l, journal.Config{Device: "devB", DeviceID: "b1"})

	// The other device replaces g.txt; this device learns of the newer
	// version first (in the model test, from the remote itself, when an
	// upload of its own there conflicted).
	old := putTheirs(t, l, "g.txt", "old", remote.Cond{IfNoneMatch: true})
	if err := l.Delete(ctx, "g.txt", remote.Cond{IfMatch: old.Version}); err != nil {
		t.Fatal(err)
	}
	theirs := putTheirs(t, l, "g.txt", "theirs", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, change("put", theirs))
	if _, _, ok := fs.NodeAt("g.txt"); !ok {
		t.Fatal("g.txt does not show")
	}

	// Then they move it to h.txt; the poll reads the older delete too.
	mv := moveTheirs(t, l, "g.txt", "h.txt", theirs.Version)
	mv.Was = "" // the entry names no version moved: the poll matches it by path
	pollTheirs(t, l, up, journal.Change{Op: "delete", Path: "g.txt", Version: old.Version}, mv)
	flushAll(t, up)

	if id, _, ok := fs.NodeAt("g.txt"); ok {
		t.Errorf("g.txt (node %d) still shows, though the other device moved it away", id)
	}
	if _, err := l.Stat(ctx, "g.txt"); err == nil {
		t.Errorf("g.txt is back on the remote")
	}
	readAt(t, fs, l, "h.txt", "theirs")
}

package vfs

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestReadFollowsAMoveNotPolledYet: the other device moves a directory
// holding a file this device never downloaded, and this device opens the
// file at its old path before a poll tells it of the move. The download
// found nothing there and took the file for deleted on the remote: it
// removed it, and the poll then moved the directory without it (git, or a
// walk of the tree, read it at just that moment in a real mount). A poll
// now tells where it went, and the read gets its content from there.
func TestReadFollowsAMoveNotPolledYet(t *testing.T) {
	ctx := context.Background()
	l, _ := newLocal(t)
	fs, up := newSynced(t, l, journal.Config{Device: "devB", DeviceID: "b1"})
	up.StartPolling(journal.PollConfig{Interval: time.Hour})

	e := putTheirs(t, l, "d/f.txt", "theirs", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, journal.Change{Op: "mkdir", Path: "d", Dir: true}, change("put", e))
	id, _, ok := fs.NodeAt("d/f.txt")
	if !ok || !absent(t, fs, id) {
		t.Fatal("d/f.txt does not show as not downloaded")
	}

	if err := l.Rename(ctx, "d", "e"); err != nil {
		t.Fatal(err)
	}
	logTheirs(t, l, journal.Change{Op: "move", Path: "d", To: "e", Dir: true})

	readAt(t, fs, l, "d/f.txt", "theirs") // open by the node the kernel looked up
	if _, _, ok := fs.NodeAt("d/f.txt"); ok {
		t.Error("d/f.txt still shows after the poll of the move")
	}
	if nid, _, ok := fs.NodeAt("e/f.txt"); !ok || nid != id {
		t.Errorf("e/f.txt is node %d (shows: %v), want the node read, %d", nid, ok, id)
	}
}

package vfs

import (
	"context"
	"testing"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestPollPutThenMoveOfOwnFile: this device uploads b.txt; another device
// replaces it (a put conditional on this device's version), then moves it
// to g.txt, and logs both in one log object. The poll rechecks the put,
// since this device's own upload touched b.txt lately, and finds b.txt
// gone: it dropped the put. The move's Was, the version the put logged,
// then did not match this device's own older version at b.txt, which
// stayed for good (only a rescan took it away).
func TestPollPutThenMoveOfOwnFile(t *testing.T) { pollPutThenTake(t, false) }

// TestPollPutThenDeleteOfOwnFile: the same, with a delete in place of the
// move. The delete, of another version than this device's, kept its own
// and uploaded it again, bringing back a content the other device
// knowingly replaced.
func TestPollPutThenDeleteOfOwnFile(t *testing.T) { pollPutThenTake(t, true) }

func pollPutThenTake(t *testing.T, del bool) {
	ctx := context.Background()
	l, _ := newLocal(t)
	fs, up := newPolling(t, l, journal.Config{Device: "devB", DeviceID: "b1"})
	(&rig{fs: fs}).writeFile(t, cache.RootID, "b.txt", "mine")
	flushAll(t, up)
	mine, err := l.Stat(ctx, "b.txt")
	if err != nil {
		t.Fatal(err)
	}

	// The other device: replaces b.txt, then moves it to g.txt.
	theirs := "theirs, replacing mine"
	put := putTheirs(t, l, "b.txt", theirs, remote.Cond{IfMatch: mine.Version})
	var then journal.Change
	if del {
		if err := l.Delete(ctx, "b.txt", remote.Cond{IfMatch: put.Version}); err != nil {
			t.Fatal(err)
		}
		then = journal.Change{Op: "delete", Path: "b.txt", Version: put.Version}
	} else {
		if err := l.RenameIf(ctx, "b.txt", "g.txt", put.Version, remote.Cond{IfNoneMatch: true}); err != nil {
			t.Fatal(err)
		}
		moved, err := l.Stat(ctx, "g.txt")
		if err != nil {
			t.Fatal(err)
		}
		then = change("move", moved)
		then.Path, then.To, then.Was = "b.txt", "g.txt", put.Version
	}
	pollTheirs(t, l, up, change("put", put), then)
	flushAll(t, up)
	if id, _, ok := fs.NodeAt("b.txt"); ok {
		t.Errorf("b.txt (node %d) still shows, though the other device replaced it and took it away", id)
	}
	if _, err := l.Stat(ctx, "b.txt"); err == nil {
		t.Errorf("b.txt is back on the remote")
	}
	if del {
		return
	}
	readAt(t, fs, l, "g.txt", theirs)
}

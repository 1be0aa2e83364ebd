package vfs

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// TestPollDeleteAtRenamedKeepsRecord: c.txt, uploaded, is renamed here onto
// e.txt, which shows the other device's file. Before the rename goes up,
// that device deletes its e.txt and puts another one there, and the poll
// brings both. The delete, of the version the rename replaced, forgot the
// record of the renamed file, which still names c.txt: the put then made
// the file step aside as a conflict copy without taking the version at
// c.txt away, as the dropped rename would have. It stayed on the remote
// for good, and other devices showed a c.txt this one no longer has.
func TestPollDeleteAtRenamedKeepsRecord(t *testing.T) {
	ctx := context.Background()
	l, root, fs, up, old := renamedOntoTheirs(t)

	if err := l.Delete(ctx, "e.txt", remote.Cond{IfMatch: old.Version}); err != nil {
		t.Fatal(err)
	}
	put := putTheirs(t, l, "e.txt", "their new e", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, journal.Change{Op: "delete", Path: "e.txt", Version: old.Version}, change("put", put))
	flushAll(t, up)

	if _, err := l.Stat(ctx, "c.txt"); err == nil {
		t.Errorf("c.txt is still on the remote, though this device renamed it away")
	}
	readAt(t, fs, l, "e.txt", "their new e")
	readAt(t, fs, l, conflictIn(t, root, "e"), "mine")
}

// renamedOntoTheirs sets up the tests of a rename waiting to go up: the
// other device's e.txt (their version old) shows here, and this device's
// c.txt, uploaded, is renamed onto it; the rename waits (write-back of an
// hour).
func renamedOntoTheirs(t *testing.T) (l *local.Local, root string, fs *FS, up *journal.Uploader, old remote.Entry) {
	t.Helper()
	l, root = newLocal(t)
	fs, up = newPolling(t, l, journal.Config{Device: "devB", DeviceID: "b1", WriteBack: time.Hour})
	old = putTheirs(t, l, "e.txt", "their e", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, change("put", old))
	(&rig{fs: fs}).writeFile(t, cache.RootID, "c.txt", "mine")
	flushAll(t, up)
	renameHere(t, fs, "c.txt", "e.txt")
	return l, root, fs, up, old
}

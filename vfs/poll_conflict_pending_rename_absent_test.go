package vfs

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestPollConflictKeepsUndownloadedRenamed: the other device's c.txt,
// never downloaded here, is renamed here to a.txt, where that device puts
// a file before the rename goes up. Nothing of c.txt is here to keep as a
// conflict copy: the rename is dropped, and the version at c.txt, the
// only copy of that content, must stay on the remote.
func TestPollConflictKeepsUndownloadedRenamed(t *testing.T) {
	ctx := context.Background()
	l, _ := newLocal(t)
	fs, up := newPolling(t, l, journal.Config{Device: "devB", DeviceID: "b1", WriteBack: time.Hour})
	c := putTheirs(t, l, "c.txt", "their c", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, change("put", c))
	renameHere(t, fs, "c.txt", "a.txt")
	a := putTheirs(t, l, "a.txt", "their a", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, change("put", a))
	flushAll(t, up)

	rc, err := l.Get(ctx, "c.txt", 0, -1, "")
	if err != nil {
		t.Fatalf("c.txt, the only copy of its content, is gone from the remote: %v", err)
	}
	rc.Close()
	readAt(t, fs, l, "a.txt", "their a")
}

package vfs

import (
	"testing"
	"time"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestPollConflictShowsUndownloadedAtOldName: the other device's c.txt,
// never downloaded here, is renamed here onto e.txt, which that device
// writes again before the rename goes up. Nothing of c.txt is here to
// keep as a conflict copy, so the rename is dropped and c.txt stays on the
// remote, the only copy of its content. This device showed it nowhere:
// the remote and the other device had a c.txt that this one did not, and
// no change log entry would ever bring it back.
func TestPollConflictShowsUndownloadedAtOldName(t *testing.T) {
	l, _ := newLocal(t)
	fs, up := newPolling(t, l, journal.Config{Device: "devB", DeviceID: "b1", WriteBack: time.Hour})
	c := putTheirs(t, l, "c.txt", "their c", remote.Cond{IfNoneMatch: true})
	old := putTheirs(t, l, "e.txt", "their old e", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, change("put", c), change("put", old))
	renameHere(t, fs, "c.txt", "e.txt")

	e := putTheirs(t, l, "e.txt", "their new e", remote.Cond{IfMatch: old.Version})
	pollTheirs(t, l, up, change("put", e))
	flushAll(t, up)

	readAt(t, fs, l, "e.txt", "their new e")
	readAt(t, fs, l, "c.txt", "their c")
}

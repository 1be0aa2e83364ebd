package vfs

import (
	"os"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestPollMoveOntoRenamedUndownloaded: the other device's c.txt, never
// downloaded here, is renamed here onto e.txt; before that goes up, the
// other device moves its x.txt onto e.txt. The poll stepped the renamed
// file aside as a conflict copy, journaled as new: with no content here
// to upload, the copy never went up, and this device alone showed it,
// until a read found nothing to fetch. It goes instead, and c.txt shows
// again, as the remote has it.
func TestPollMoveOntoRenamedUndownloaded(t *testing.T) {
	l, root := newLocal(t)
	fs, up := newPolling(t, l, journal.Config{Device: "devB", DeviceID: "b1", WriteBack: time.Hour})
	c := putTheirs(t, l, "c.txt", "their c", remote.Cond{IfNoneMatch: true})
	x := putTheirs(t, l, "x.txt", "their x", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, change("put", c), change("put", x))
	renameHere(t, fs, "c.txt", "e.txt")

	mv := moveTheirs(t, l, "x.txt", "e.txt", x.Version)
	pollTheirs(t, l, up, mv)
	flushAll(t, up)

	readAt(t, fs, l, "e.txt", "their x")
	readAt(t, fs, l, "c.txt", "their c")
	fs.mu.Lock()
	d, _ := fs.dir(cache.RootID)
	var names []string
	for n := range d.children {
		names = append(names, n)
	}
	fs.mu.Unlock()
	if len(names) != 2 {
		ents, _ := os.ReadDir(root)
		t.Errorf("shows %v, want c.txt and e.txt, as the remote has them: %v", names, ents)
	}
}

package vfs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestRenameReplacedHereOntoTaken: a.txt, uploaded, is renamed here to
// c.txt, and b.txt, made here, is renamed over it, before either goes up;
// another device makes a c.txt meanwhile. b.txt steps aside as a conflict
// copy. The rename of a.txt, whose file is gone here (replaced), found
// c.txt taken and moved a.txt's version to a conflict name of its own:
// the remote and other devices showed a file this device never did, and
// no change log entry would ever bring it here. Only a.txt's version
// goes now, as the rename meant.
func TestRenameReplacedHereOntoTaken(t *testing.T) {
	ctx := context.Background()
	l, root := newLocal(t)
	fs, up := newPolling(t, l, journal.Config{Device: "devB", DeviceID: "b1", WriteBack: time.Hour})
	(&rig{fs: fs}).writeFile(t, cache.RootID, "a.txt", "mine a")
	flushAll(t, up)
	renameHere(t, fs, "a.txt", "c.txt")
	(&rig{fs: fs}).writeFile(t, cache.RootID, "b.txt", "mine b")
	renameHere(t, fs, "b.txt", "c.txt")

	c := putTheirs(t, l, "c.txt", "their c", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, change("put", c))
	flushAll(t, up)

	if _, err := l.Stat(ctx, "a.txt"); err == nil {
		t.Errorf("a.txt is still on the remote, though this device renamed it away")
	}
	readAt(t, fs, l, "c.txt", "their c")
	// Every file on the remote shows here: "mine b" as a conflict copy,
	// and nothing else.
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if _, _, ok := fs.NodeAt(e.Name()); !ok {
			b, _ := os.ReadFile(filepath.Join(root, e.Name()))
			t.Errorf("%s, holding %q, is on the remote but does not show here", e.Name(), b)
		}
	}
	if len(ents) != 3 { // c.txt, its conflict copy and the change log
		t.Errorf("the remote holds %v, want c.txt and one conflict copy", ents)
	}
}

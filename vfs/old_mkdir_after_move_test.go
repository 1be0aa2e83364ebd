package vfs

import (
	"context"
	"os"
	"testing"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// holdRename holds the first Rename of the armed path until released.
type holdRename struct {
	*local.Local
	g gate
}

// Watch hides the folder's watcher (see unwatched).
func (*holdRename) Watch() {}

func (h *holdRename) Rename(ctx context.Context, from, to string) error {
	h.g.wait(from)
	return h.Local.Rename(ctx, from, to)
}

// TestOldMkdirAfterLocalMove: this device renames d to e, and a poll then
// reads the other device's mkdir of d, logged before the rename (the log
// is read again over a safety window, and a device that mounted just then
// saw d in its first listing). The mkdir made d here again, empty, which
// the remote did not have once the rename went up: the devices disagreed
// for good. Whether the rename is still on its way (held here) or has
// gone up, the old mkdir is left out.
func TestOldMkdirAfterLocalMove(t *testing.T) {
	for _, upload := range []string{"pending", "done"} {
		t.Run(upload, func(t *testing.T) {
			ctx := context.Background()
			l, _ := newLocal(t)
			rem := &holdRename{Local: l}
			fs, up := newPolling(t, rem, journal.Config{Device: "devB", DeviceID: "b1"})
			if err := l.Mkdir(ctx, "d", remote.Meta{Mode: os.ModeDir | 0o755}); err != nil {
				t.Fatal(err)
			}
			mkdir := journal.Change{Op: "mkdir", Path: "d", Dir: true}
			pollTheirs(t, l, up, mkdir)

			release := make(chan struct{})
			if upload == "pending" {
				_, release = rem.g.arm("d")
			}
			renameHere(t, fs, "d", "e")
			if upload == "done" {
				flushAll(t, up)
			}
			pollTheirs(t, l, up, mkdir)
			close(release)
			flushAll(t, up)
			if _, _, ok := fs.NodeAt("d"); ok {
				t.Error("d is back here")
			}
			if _, _, ok := fs.NodeAt("e"); !ok {
				t.Error("e does not show")
			}
			if _, err := l.Stat(ctx, "d"); err == nil {
				t.Error("d is on the remote")
			}
		})
	}
}

// TestPutIntoDirectoryMovingAway: this device renames d to e, and before
// the rename goes up, a poll brings another device's new file d/new.txt.
// The put made d again here, with d/new.txt in it, and the rename then
// took d/new.txt to e on the remote: the mount showed the file twice,
// once where the remote had nothing. The put is left to the rename, which
// shows what it moved.
func TestPutIntoDirectoryMovingAway(t *testing.T) {
	l, _ := newLocal(t)
	rem := &holdRename{Local: l}
	fs, up := newPolling(t, rem, journal.Config{Device: "devB", DeviceID: "b1"})
	e := putTheirs(t, l, "d/f.txt", "f", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, journal.Change{Op: "mkdir", Path: "d", Dir: true}, change("put", e))

	_, release := rem.g.arm("d")
	renameHere(t, fs, "d", "e")
	n := putTheirs(t, l, "d/new.txt", "new", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, change("put", n))
	close(release)
	flushAll(t, up)

	if _, _, ok := fs.NodeAt("d"); ok {
		t.Error("d is back here")
	}
	readAt(t, fs, l, "e/new.txt", "new")
	readAt(t, fs, l, "e/f.txt", "f")
}
